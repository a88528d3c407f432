package gateway

import (
	"context"
	"errors"
	"math/rand/v2"
	"net/http"
	"strings"
	"time"

	"github.com/icws/icws/agent"
	"github.com/icws/icws/ic/certificate"
	"github.com/icws/icws/ic/envelope"
	"github.com/icws/icws/ic/principal"
	"github.com/icws/icws/protocol"
	"github.com/icws/icws/protocol/omnia"
)

// canisterAPI is what the gateway needs from the IC: the ws_* methods of the canisters it serves,
// called with the gateway's identity. agentAPI is the real one; the poller's unit tests use a fake.
// Rejects are returned as *agent.RejectError.
type canisterAPI interface {
	getClientKey(ctx context.Context, canister principal.Principal, clientID uint64) ([]byte, error)
	open(ctx context.Context, canister principal.Principal, firstMessage, sig []byte) (bool, error)
	message(ctx context.Context, canister principal.Principal, frame []byte) (bool, error)
	close(ctx context.Context, canister principal.Principal, clientID uint64) error
	getMessages(ctx context.Context, canister principal.Principal, nonce uint64) (*protocol.CertMessages, error)
}

// agentAPI calls canisters through an agent.
type agentAPI struct{ a *agent.Agent }

func (x agentAPI) getClientKey(ctx context.Context, canister principal.Principal, clientID uint64) ([]byte, error) {
	var key []byte
	err := x.a.Query(ctx, canister, protocol.MethodGetClientKey, clientID, &key)
	return key, err
}

func (x agentAPI) open(ctx context.Context, canister principal.Principal, firstMessage, sig []byte) (bool, error) {
	var ok bool
	err := x.a.Call(ctx, canister, protocol.MethodOpen, agent.Args{firstMessage, sig}, &ok)
	return ok, err
}

func (x agentAPI) message(ctx context.Context, canister principal.Principal, frame []byte) (bool, error) {
	var ok bool
	err := x.a.Call(ctx, canister, protocol.MethodMessage, frame, &ok)
	return ok, err
}

func (x agentAPI) close(ctx context.Context, canister principal.Principal, clientID uint64) error {
	return x.a.Call(ctx, canister, protocol.MethodClose, clientID)
}

func (x agentAPI) getMessages(ctx context.Context, canister principal.Principal, nonce uint64) (*protocol.CertMessages, error) {
	res := new(protocol.CertMessages)
	budget := uint64(protocol.PollBytes) // a sized poll (docs/PROTOCOL.md §13.3)
	if err := x.a.Query(ctx, canister, protocol.MethodGetMessages, agent.Args{nonce, &budget}, res); err != nil {
		return nil, err
	}
	return res, nil
}

// rejectOf returns the reject in err, if any.
func rejectOf(err error) (*agent.RejectError, bool) {
	var re *agent.RejectError
	if errors.As(err, &re) {
		return re, true
	}
	return nil, false
}

// answered reports whether an IC call that failed with err was answered by the IC (a reject, or
// an Err result of the canister) rather than lost in transport.
func answered(err error) bool {
	if _, ok := rejectOf(err); ok {
		return true
	}
	var ce *omnia.CanisterError
	return errors.As(err, &ce)
}

// retryable reports whether an IC call that failed with err may succeed if made again: transport
// failures, timeouts, overload, refused (unverifiable) answers and transient rejects. Other rejects
// are the canister's or the IC's final word; a canceled context means the gateway gave up.
func retryable(err error) bool {
	if re, ok := rejectOf(err); ok {
		return re.Code == envelope.SysTransient
	}
	var ce *omnia.CanisterError
	if errors.As(err, &ce) {
		return false // the canister's Err result: its final word
	}
	return !errors.Is(err, context.Canceled)
}

// unknownCanister reports whether err says the canister does not exist (or is not hosted where
// the IC said it would be): a DESTINATION_INVALID reject, an HTTP "not found" from a boundary
// node, or an answer the agent refused because the canister lies outside the answering subnet's
// canister ranges (what a local replica does for an id it does not host).
func unknownCanister(err error) bool {
	if re, ok := rejectOf(err); ok {
		return re.Code == envelope.DestinationInvalid
	}
	if errors.Is(err, certificate.ErrNotAuthorized) {
		return true
	}
	var he *agent.HTTPError
	if errors.As(err, &he) && (he.StatusCode == http.StatusNotFound || he.StatusCode == http.StatusBadRequest) {
		body := strings.ToLower(he.Body)
		return strings.Contains(body, "not found") || strings.Contains(body, "does not exist")
	}
	return false
}

// outcome is how one IC call ended, for endCall.
type outcome int

const (
	outTrue   outcome = iota // answered: true, or done
	outFalse                 // answered false, or the canister's Err result
	outReject                // the IC or the canister refused the call: a final answer
	outRetry                 // failed (transport, timeout, transient reject): the call is made again
	outFailed                // failed in transport, and given up
)

// outcomeOf classifies a call that ended with err by the rules every call shares: nil is
// outTrue; an answer of the IC (a reject, the canister's Err result, "no such canister") is
// outReject; anything else is outFailed. Call sites refine it: a false answer, a retry.
func outcomeOf(err error) outcome {
	switch {
	case err == nil:
		return outTrue
	case answered(err) || unknownCanister(err):
		return outReject
	}
	return outFailed
}

// endCall is the bookkeeping of every IC call the gateway makes, in one place: the call's latency
// since start under method; its result in the method's family (hasResults: true, false, reject,
// error for a call given up) or, for outRetry, a retry; and readiness: an answered call marks the
// IC up, a failed or retried one marks it down with err.
func (g *Gateway) endCall(method icMethod, start time.Time, o outcome, err error) {
	g.m.icCalls[method].observe(g.cfg.Clock().Sub(start))
	var r callResult
	switch o {
	case outTrue:
		r = resultTrue
	case outFalse:
		r = resultFalse
	case outReject:
		r = resultReject
	case outRetry:
		g.m.retries[method].inc()
		g.icDown(err)
		return
	default:
		r = resultError
	}
	if hasResults(method) {
		g.m.results[method][r].inc()
	}
	if r == resultError {
		g.icDown(err)
	} else {
		g.icUp()
	}
}

// backoff is an exponential backoff with full jitter between min and max.
type backoff struct {
	min, max time.Duration
	n        int
}

// next returns the next wait: a random duration in [d/2, d] where d doubles each time from min up
// to max.
func (b *backoff) next() time.Duration {
	d := b.min << min(b.n, 20)
	if d > b.max || d <= 0 {
		d = b.max
	} else {
		b.n++
	}
	return d/2 + rand.N(d/2+1)
}

func (b *backoff) reset() { b.n = 0 }

// sleepCtx waits for d or until ctx is done; it reports whether the full wait elapsed.
func sleepCtx(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
}
