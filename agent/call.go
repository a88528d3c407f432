package agent

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/icws/icws/ic/candid"
	"github.com/icws/icws/ic/cbor"
	"github.com/icws/icws/ic/certificate"
	"github.com/icws/icws/ic/envelope"
	"github.com/icws/icws/ic/hashtree"
	"github.com/icws/icws/ic/leb128"
	"github.com/icws/icws/ic/principal"
	"github.com/icws/icws/ic/requestid"
)

// Statuses of a request in /request_status/<id>/status.
const (
	statusReceived   = "received"
	statusProcessing = "processing"
	statusReplied    = "replied"
	statusRejected   = "rejected"
	statusDone       = "done"
)

// expiredPollGrace is how long after a call's ingress expiry the agent keeps retrying transient
// polling failures.
const expiredPollGrace = time.Minute

// CallRaw makes an update call of method on canister with the Candid-encoded arg and returns the
// Candid-encoded reply. It uses the synchronous /api/v3 call endpoint; if the replica does not
// have it (404), the asynchronous /api/v2 one; if the answer is not ready (202), it polls the
// call's status with read_state, waiting PollInterval at first, then longer, up to
// MaxPollInterval. ctx bounds the whole call, polling included.
//
// The reply is read from a certificate verified for canister (as the effective canister id). A
// reject is returned as *RejectError; a certificate that fails verification as an error wrapping
// ErrUntrusted.
func (a *Agent) CallRaw(ctx context.Context, canister principal.Principal, method string, arg []byte) ([]byte, error) {
	t, err := a.getTrust(ctx)
	if err != nil {
		return nil, err
	}
	ecid := canister
	if canister == principal.Management() {
		ecid = ManagementTarget(arg)
	}
	// Like withClockSync, but a call is signed anew (with a new nonce) only if the IC refused its
	// submission: once accepted, it may run, and must not be sent twice.
	for attempt := 0; ; attempt++ {
		gen := a.skewGen.Load()
		req, err := a.sign(requestCall, canister, method, arg, nil)
		if err != nil {
			return nil, err
		}
		reply, accepted, err := a.submit(ctx, t, ecid, req)
		he, refused := isExpiryRefusal(err)
		if accepted || !refused || attempt > 0 {
			return reply, err
		}
		if serr := a.syncClock(ctx, t, endpoint{id: ecid}, he, gen); serr != nil {
			return nil, fmt.Errorf("%w (measuring the IC's time to correct the local clock failed: %w)", err, serr)
		}
	}
}

// submit sends a signed call and waits for its outcome. accepted reports whether the IC took the
// call (answered 200 or 202), after which the call must not be submitted again.
func (a *Agent) submit(ctx context.Context, t *trust, ecid principal.Principal, req signed) (reply []byte, accepted bool, err error) {
	if !a.noV3.Load() {
		res, err := a.post(ctx, canisterPath("v3", ecid, "call"), req.body)
		var he *HTTPError
		switch {
		case errors.As(err, &he) && he.StatusCode == http.StatusNotFound:
			a.noV3.Store(true)
			a.log.DebugContext(ctx, "agent: the replica has no /api/v3 call endpoint; using /api/v2", "url", a.base)
		case err != nil:
			return nil, false, err
		case res.status == http.StatusOK:
			reply, final, err := a.syncAnswer(t, ecid, req.id, res)
			if !final {
				reply, err = a.poll(ctx, t, ecid, req)
			}
			return reply, true, err
		case res.status == http.StatusAccepted:
			reply, err := a.poll(ctx, t, ecid, req)
			return reply, true, err
		default:
			return nil, false, newHTTPError(res.url, res.status, res.body)
		}
	}
	res, err := a.post(ctx, canisterPath("v2", ecid, "call"), req.body)
	if err != nil {
		return nil, false, err
	}
	switch res.status {
	case http.StatusAccepted:
		reply, err := a.poll(ctx, t, ecid, req)
		return reply, true, err
	case http.StatusOK:
		var rr envelope.RejectResponse
		if err := cbor.Unmarshal(res.body, &rr); err != nil {
			return nil, true, invalidf("call answer of %s: %w", res.url, err)
		}
		if rr.RejectCode == 0 {
			return nil, true, invalidf("call answer of %s: 200 without a reject code", res.url)
		}
		return nil, true, &RejectError{Code: rr.RejectCode, Message: rr.RejectMessage, ErrorCode: rr.ErrorCode, RequestID: req.id}
	default:
		return nil, false, newHTTPError(res.url, res.status, res.body)
	}
}

// syncAnswer reads the 200 answer of a /api/v3 call. final is false when the certificate shows
// the call still running, so the caller must poll.
func (a *Agent) syncAnswer(t *trust, ecid principal.Principal, id requestid.ID, res response) (reply []byte, final bool, err error) {
	cr, err := envelope.DecodeCallResponse(res.body)
	if err != nil {
		return nil, true, invalidf("call answer of %s: %w", res.url, err)
	}
	switch cr.Status {
	case envelope.StatusReplied:
		cert, err := t.verifier.Verify(cr.Certificate, ecid)
		if err != nil {
			return nil, true, a.untrusted(t, "the call's certificate", err)
		}
		reply, pending, err := readRequestStatus(cert, id)
		return reply, !pending, err
	case envelope.StatusNonReplicatedRejection:
		if cr.RejectCode == 0 {
			return nil, true, invalidf("call answer of %s: %q without a reject code", res.url, cr.Status)
		}
		return nil, true, &RejectError{Code: cr.RejectCode, Message: cr.RejectMessage, ErrorCode: cr.ErrorCode, RequestID: id}
	default:
		return nil, true, invalidf("call answer of %s: unknown status %q", res.url, cr.Status)
	}
}

// poll reads the call's status with read_state until it is final, ctx ends, or the IC's time
// passes the call's expiry without a status for it.
func (a *Agent) poll(ctx context.Context, t *trust, ecid principal.Principal, req signed) ([]byte, error) {
	paths := [][][]byte{{[]byte("request_status"), req.id[:]}}
	delay := a.pollInterval
	for {
		if err := sleep(ctx, delay); err != nil {
			return nil, fmt.Errorf("agent: waiting for call %s: %w", req.id, err)
		}
		delay = min(delay*3/2, a.maxPoll)
		cert, err := a.readState(ctx, t, t.verifier, endpoint{id: ecid}, paths)
		if err != nil {
			if a.transient(err) && a.now().Before(time.Unix(0, int64(req.expiry)).Add(expiredPollGrace)) {
				a.log.DebugContext(ctx, "agent: polling failed, retrying", "request_id", req.id.String(), "err", err)
				continue
			}
			return nil, fmt.Errorf("agent: polling the status of call %s: %w", req.id, err)
		}
		reply, pending, err := readRequestStatus(cert, req.id)
		if !pending {
			return reply, err
		}
		if r := cert.Lookup([]byte("request_status"), req.id[:], []byte("status")); r.Status != hashtree.Found {
			if icTime, terr := cert.Time(); terr == nil && uint64(icTime.UnixNano()) > req.expiry {
				return nil, fmt.Errorf("%w: request %s, ingress expiry %s", ErrCallExpired, req.id,
					time.Unix(0, int64(req.expiry)).UTC().Format(time.RFC3339))
			}
		}
	}
}

// transient reports whether a failed request may succeed if repeated: a transport error or an
// HTTP answer such as 503, but not a context error, a refused certificate or a reject.
func (a *Agent) transient(err error) bool {
	if isContextErr(err) || errors.Is(err, ErrUntrusted) || errors.Is(err, ErrInvalidResponse) {
		return false
	}
	var he *HTTPError
	if errors.As(err, &he) {
		return he.Temporary()
	}
	var re *RejectError
	return !errors.As(err, &re)
}

// readRequestStatus reads /request_status/<id> from a verified certificate. pending is true when
// the call has no final status yet (absent, unknown, received or processing).
func readRequestStatus(cert *certificate.Certificate, id requestid.ID) (reply []byte, pending bool, err error) {
	rs := []byte("request_status")
	st := cert.Lookup(rs, id[:], []byte("status"))
	switch st.Status {
	case hashtree.Found:
	case hashtree.Absent, hashtree.Unknown:
		return nil, true, nil
	default:
		return nil, false, invalidf("request status of %s: /request_status/<id>/status is not a value", id)
	}
	switch string(st.Value) {
	case statusReceived, statusProcessing:
		return nil, true, nil
	case statusReplied:
		r := cert.Lookup(rs, id[:], []byte("reply"))
		if r.Status != hashtree.Found {
			return nil, false, invalidf("request %s is replied but its reply is %s", id, r.Status)
		}
		return append([]byte(nil), r.Value...), false, nil
	case statusRejected:
		code := cert.Lookup(rs, id[:], []byte("reject_code"))
		msg := cert.Lookup(rs, id[:], []byte("reject_message"))
		if code.Status != hashtree.Found || msg.Status != hashtree.Found {
			return nil, false, invalidf("request %s is rejected but its reject code is %s and message %s", id, code.Status, msg.Status)
		}
		c, n, err := leb128.Uint(code.Value)
		if err != nil || n != len(code.Value) {
			return nil, false, invalidf("request %s: reject code %x is not a LEB128 number", id, code.Value)
		}
		re := &RejectError{Code: envelope.RejectCode(c), Message: string(msg.Value), Certified: true, RequestID: id}
		switch ec := cert.Lookup(rs, id[:], []byte("error_code")); ec.Status {
		case hashtree.Found:
			re.ErrorCode = string(ec.Value)
		case hashtree.Absent, hashtree.Unknown:
		default:
			return nil, false, invalidf("request %s: error code is not a value", id)
		}
		return nil, false, re
	case statusDone:
		return nil, false, fmt.Errorf("%w (request %s)", ErrRequestDone, id)
	default:
		return nil, false, invalidf("request %s has the unknown status %q", id, st.Value)
	}
}

// mgmtTarget holds the fields of a management canister argument that name its target.
type mgmtTarget struct {
	CanisterID     *principal.Principal `candid:"canister_id"`
	TargetCanister *principal.Principal `candid:"target_canister"`
	SpecifiedID    *principal.Principal `candid:"specified_id"`
}

// ManagementTarget returns the effective canister id of a call to the management canister with
// the Candid argument arg, as DFINITY's agents compute it: the argument's
// target_canister (install_chunked_code), canister_id, or specified_id
// (provisional_create_canister_with_cycles), else the management canister itself.
func ManagementTarget(arg []byte) principal.Principal {
	var m mgmtTarget
	if err := candid.Unmarshal(arg, &m); err != nil {
		return principal.Management()
	}
	switch {
	case m.TargetCanister != nil:
		return *m.TargetCanister
	case m.CanisterID != nil:
		return *m.CanisterID
	case m.SpecifiedID != nil:
		return *m.SpecifiedID
	}
	return principal.Management()
}
