package agent

import (
	"context"
	"errors"
	"fmt"
	"net/http"

	"github.com/icws/icws/ic/cbor"
	"github.com/icws/icws/ic/envelope"
	"github.com/icws/icws/ic/principal"
	"github.com/icws/icws/ic/requestid"
)

// ErrOutcomeUnknown is returned by SubmitSigned when the IC accepted a call but did not give its
// outcome in the answer (an /api/v2 endpoint, or an /api/v3 call that took longer than the
// replica waits). Someone else's call cannot be polled: the IC answers read_state of a request's
// status only to the request's sender.
var ErrOutcomeUnknown = errors.New("agent: the IC accepted the call; its outcome is not known")

// SubmitSigned submits a call envelope signed by someone else (a relayed client request) to the
// call endpoint of canister, unchanged, and returns the Candid reply when the IC gives it at once.
// body is the CBOR envelope; id is its request id (envelope.Decode computes both). It uses
// /api/v3 (synchronous), falling back to /api/v2 when the replica has no v3 endpoint.
//
// The outcomes: the reply (nil error); a *RejectError (the canister or the IC refused the call);
// an error wrapping ErrOutcomeUnknown (accepted; it may run); an *HTTPError (the IC refused the
// request before accepting it, for instance a bad signature: 4xx, never run); or a transport error
// (unknown whether it was accepted). The call is never resubmitted: the caller decides. The reply
// is read from a certificate verified for canister, as CallRaw does.
func (a *Agent) SubmitSigned(ctx context.Context, canister principal.Principal, id requestid.ID, body []byte) ([]byte, error) {
	t, err := a.getTrust(ctx)
	if err != nil {
		return nil, err
	}
	if !a.noV3.Load() {
		res, err := a.post(ctx, canisterPath("v3", canister, "call"), body)
		var he *HTTPError
		switch {
		case errors.As(err, &he) && he.StatusCode == http.StatusNotFound:
			a.noV3.Store(true)
		case err != nil:
			return nil, err
		case res.status == http.StatusOK:
			reply, final, err := a.syncAnswer(t, canister, id, res)
			if !final {
				return nil, fmt.Errorf("%w (request %s is still running)", ErrOutcomeUnknown, id)
			}
			return reply, err
		case res.status == http.StatusAccepted:
			return nil, fmt.Errorf("%w (request %s)", ErrOutcomeUnknown, id)
		default:
			return nil, newHTTPError(res.url, res.status, res.body)
		}
	}
	res, err := a.post(ctx, canisterPath("v2", canister, "call"), body)
	if err != nil {
		return nil, err
	}
	switch res.status {
	case http.StatusAccepted:
		return nil, fmt.Errorf("%w (request %s; /api/v2 does not wait)", ErrOutcomeUnknown, id)
	case http.StatusOK:
		var rr envelope.RejectResponse
		if err := cbor.Unmarshal(res.body, &rr); err != nil || rr.RejectCode == 0 {
			return nil, invalidf("call answer of %s: a 200 that is not a reject", res.url)
		}
		return nil, &RejectError{Code: rr.RejectCode, Message: rr.RejectMessage, ErrorCode: rr.ErrorCode, RequestID: id}
	default:
		return nil, newHTTPError(res.url, res.status, res.body)
	}
}
