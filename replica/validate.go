package replica

import (
	"errors"
	"math"
	"net/http"
	"time"

	"github.com/icws/icws/ic/envelope"
	"github.com/icws/icws/ic/principal"
)

// parseFailure words a body that is not a valid request of the endpoint's type, after the
// DFINITY replica.
var parseFailure = map[string]string{
	envelope.RequestTypeCall:      "Could not parse body as call message: ",
	envelope.RequestTypeQuery:     "Could not parse body as query message: ",
	envelope.RequestTypeReadState: "Could not parse body as read request: ",
}

// decodeRequest decodes and authenticates a request body for an endpoint that takes requests of
// type want, with ecid the principal in the URL. The checks and their answers:
//
//   - not a valid envelope, or another request type: 400;
//   - canister_id differs from the URL's effective canister id (call, query; the management
//     canister excepted): 400;
//   - an update whose argument and method name exceed MaxIngressSize: 413;
//   - ingress_expiry outside [now, now+5m30s] (anonymous read_state excepted), or an expired
//     delegation: 400 "Invalid request expiry: ...";
//   - a bad signature, a sender that is not the key's self-authenticating principal, a missing
//     or superfluous signature, a bad delegation chain, a canister outside the delegation
//     targets: 403 "Failed to authenticate request 0x<id> due to: ...".
//
// readRequest reads what every POST endpoint starts with: the principal in the URL (what names
// it in errors), the body within the size limit, and the envelope, decoded and checked as a
// request of type want for that principal.
func (r *Replica) readRequest(w http.ResponseWriter, req *http.Request, what, want string) (principal.Principal, *envelope.Request, *httpError) {
	ecid, herr := pathPrincipal(req, what)
	if herr != nil {
		return principal.Principal{}, nil, herr
	}
	body, herr := readBody(w, req)
	if herr != nil {
		return principal.Principal{}, nil, herr
	}
	rq, herr := r.decodeRequest(body, want, ecid)
	if herr != nil {
		return principal.Principal{}, nil, herr
	}
	return ecid, rq, nil
}

func (r *Replica) decodeRequest(body []byte, want string, ecid principal.Principal) (*envelope.Request, *httpError) {
	req, err := envelope.Decode(body)
	if err != nil {
		return nil, errorf(http.StatusBadRequest, "%s%v", parseFailure[want], err)
	}
	c := &req.Content
	if c.RequestType != want {
		return nil, errorf(http.StatusBadRequest, "%srequest_type is %q, this endpoint takes %q", parseFailure[want], c.RequestType, want)
	}
	if want != envelope.RequestTypeReadState && c.CanisterID != principal.Management() && c.CanisterID != ecid {
		return nil, errorf(http.StatusBadRequest, "Specified CanisterId %s does not match effective canister id in URL %s", c.CanisterID, ecid)
	}
	if want == envelope.RequestTypeCall {
		if size := len(c.Arg) + len(c.MethodName); size > MaxIngressSize {
			return nil, errorf(http.StatusRequestEntityTooLarge, "Request 0x%s is too large. Message byte size %d is larger than the max allowed %d.", req.ID, size, MaxIngressSize)
		}
	}
	now := r.clock()
	if want == envelope.RequestTypeReadState && req.IsAnonymous() && req.SenderPubKey == nil {
		// The interface spec lets anonymous read_state requests through whatever their expiry:
		// they can only read public data, and agent-js reads /time anonymously to learn how far
		// its clock is off. Checking at the request's own expiry skips the window check only.
		now = time.Unix(0, int64(min(c.IngressExpiry, math.MaxInt64)))
	}
	if err := req.Verify(now); err != nil {
		if _, ok := errors.AsType[*envelope.ExpiryError](err); ok {
			return nil, errorf(http.StatusBadRequest, "%s", err.Error())
		}
		return nil, errorf(http.StatusForbidden, "%s", err.Error())
	}
	return req, nil
}
