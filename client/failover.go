package client

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"time"
)

// Defaults of Failover.
const (
	// DefaultFailoverAttempts is how many reconnections Recv tries in a row, without a message
	// of ours coming through, before it gives up and returns the error.
	DefaultFailoverAttempts = 8
	// DefaultFailoverBackoff is the wait before the first reconnection; each next one doubles it.
	DefaultFailoverBackoff = 100 * time.Millisecond
	// DefaultFailoverMaxBackoff caps the wait between reconnections.
	DefaultFailoverMaxBackoff = 5 * time.Second
)

// Failover is the policy of Recv's automatic reconnection (Config.Failover). When Recv fails
// with an error that reconnecting cures, it waits a backoff, moves the connection to the next
// gateway of Config.Gateways (after the last, back to the first) with Reconnect, and goes on
// receiving: the session, its sequence numbers and its queue carry over, so the caller sees no
// gap and no repeat, only the moves it is told of through OnReconnect.
//
// Errors that reconnecting cures: a *CloseError whose code says reconnect (CloseError.Reconnect:
// a gateway shutting down, 1001; a dropped connection, 1006; 4003, 4004, 4005, 4007, 1011); a
// socket broken by a failed write; the kinds Gap, Withheld and Stale (the gateway lost, withheld
// or delayed messages that another gateway delivers). Only with Forged set: Tampered,
// BadCertificate and Malformed, which say the gateway forged a frame.
//
// Never retried, returned by Recv as without a policy: the "stop" close codes (4001 ws_open
// refused, 4008 session ended, 1000, 1009, 4000, 4002, 4006), *CanisterClosedError, Future (the
// local clock is off, and would be off through any gateway), the forgeries unless Forged is
// set, ErrClosed and the end of Recv's context. Non-fatal errors (Foreign, Replay) are returned
// as ever, and Recv may simply be called again.
type Failover struct {
	// Attempts is how many reconnections in a row Recv tries before it returns the error that
	// started them, wrapped in a *FailoverError; default DefaultFailoverAttempts. The count
	// starts again once a message of ours has come through the new gateway.
	Attempts int
	// Backoff is the wait before the first attempt, doubled for each next one up to MaxBackoff
	// (defaults DefaultFailoverBackoff, DefaultFailoverMaxBackoff). Each wait is drawn at random
	// between half of it and all of it, so that the clients of a gateway that went away do not
	// all arrive at the next one at the same instant.
	Backoff    time.Duration
	MaxBackoff time.Duration
	// Forged also fails over after a forged frame (Tampered, BadCertificate, Malformed): the
	// gateway in use is hostile and another one delivers the genuine messages. Each such move is
	// reported to OnReconnect with the VerifyError as its Cause. Unset, Recv returns those
	// errors and the caller decides (Reconnect, or Close).
	Forged bool
	// OnReconnect, if set, is told of every attempt, successful or not, on Recv's goroutine
	// before Recv goes on; it must not call Recv. Nil reports nothing (Config.Logger still logs
	// each move at level Info).
	OnReconnect func(Move)
}

// Move is one reconnection attempt of the failover policy.
type Move struct {
	// Attempt counts the attempts since the last message of ours arrived: 1, 2, …
	Attempt int
	// From is the gateway whose connection failed; To the one tried.
	From, To string
	// Cause is the error of Recv that made the client move.
	Cause error
	// Backoff is how long the client waited before the attempt.
	Backoff time.Duration
	// Err is nil when the new socket is open and the first message written (a refusal by the
	// gateway or the canister is then Recv's next error), or why the attempt failed.
	Err error
}

// FailoverError is Recv's error when the failover policy gave up: Attempts reconnections in a
// row failed, or the gateway moved to or the canister refused the move with an error that is not
// cured by reconnecting (4001 ws_open refused, when the session ended meanwhile). It wraps the
// connection's last error (errors.As finds the *CloseError or *VerifyError); the next Recv
// starts a new series of attempts.
type FailoverError struct {
	// Attempts is the number of reconnections tried.
	Attempts int
	// Last is the failure of the last attempt (nil if the last socket opened and then failed).
	Last error
	// Err is the connection's last error: that of the socket in use.
	Err error
}

// Error implements error.
func (e *FailoverError) Error() string {
	s := fmt.Sprintf("client: failover gave up after %d attempts", e.Attempts)
	if e.Last != nil {
		s += " (last: " + e.Last.Error() + ")"
	}
	return s + ": " + e.Err.Error()
}

// Unwrap returns the connection's last error.
func (e *FailoverError) Unwrap() error { return e.Err }

// withDefaults returns p with its zero fields set, or an error naming a setting that cannot work.
func (p Failover) withDefaults() (Failover, error) {
	if p.Attempts < 0 || p.Backoff < 0 || p.MaxBackoff < 0 {
		return p, errors.New("negative Config.Failover.Attempts, Backoff or MaxBackoff")
	}
	if p.Attempts == 0 {
		p.Attempts = DefaultFailoverAttempts
	}
	if p.Backoff == 0 {
		p.Backoff = DefaultFailoverBackoff
	}
	if p.MaxBackoff == 0 {
		p.MaxBackoff = max(DefaultFailoverMaxBackoff, p.Backoff)
	}
	if p.MaxBackoff < p.Backoff {
		return p, fmt.Errorf("Config.Failover.MaxBackoff %v is below Backoff %v", p.MaxBackoff, p.Backoff)
	}
	return p, nil
}

// backoff is the wait before attempt n (1, 2, …): Backoff·2^(n-1), at most MaxBackoff, scaled by
// r in [0, 1) to lie in [half, whole).
func (p *Failover) backoff(n int, r float64) time.Duration {
	b := p.Backoff
	for i := 1; i < n && b < p.MaxBackoff; i++ {
		b *= 2
	}
	b = min(b, p.MaxBackoff)
	return b/2 + time.Duration(r*float64(b-b/2))
}

// cures reports whether reconnecting can cure err, an error of Recv (see Failover).
func (p *Failover) cures(err error) bool {
	var (
		ve *VerifyError
		ce *CloseError
		cc *CanisterClosedError
	)
	switch {
	case errors.Is(err, ErrClosed), errors.As(err, &cc), errors.Is(err, errSwitched):
		return false
	case errors.As(err, &ve):
		switch ve.Kind {
		case Gap, Withheld, Stale:
			return true
		case Tampered, BadCertificate, Malformed:
			return p.Forged
		}
		return false
	case errors.As(err, &ce):
		return ce.Reconnect()
	}
	return true // a socket broken by a failed write
}

// nextGateway is the gateway after cur in the list (the first if cur is the last or unknown).
func nextGateway(list []string, cur string) string {
	for i, g := range list {
		if g == cur {
			return list[(i+1)%len(list)]
		}
	}
	return list[0]
}

// failOver makes one attempt of the policy after Recv's error cause: it waits the backoff and
// reconnects to the next gateway. It returns a non-nil error when Recv must return instead (the
// policy gave up, Recv's context ended, or the Conn closed). The caller holds readMu.
func (c *Conn) failOver(ctx context.Context, cause error) error {
	p := c.cfg.Failover
	if c.foAttempts >= p.Attempts {
		err := &FailoverError{Attempts: c.foAttempts, Last: c.foLast, Err: cause}
		c.endFailover()
		return err
	}
	c.foAttempts++
	c.failing.Store(true)
	wait := p.backoff(c.foAttempts, rand.Float64())
	t := time.NewTimer(wait)
	select {
	case <-t.C:
	case <-ctx.Done():
		t.Stop()
		return ctx.Err()
	case <-c.done:
		t.Stop()
		return ErrClosed
	}
	from := c.Gateway()
	after := from
	if c.foTried != "" {
		after = c.foTried // the last attempt failed: on to the gateway after the one it tried
	}
	to := nextGateway(c.gateways, after)
	c.foTried = to
	err := c.Reconnect(ctx, to)
	c.foLast = err
	c.log.Info("client: failover", "client", c.clientID, "attempt", c.foAttempts, "from", from, "to", to, "cause", cause, "err", err)
	if p.OnReconnect != nil {
		p.OnReconnect(Move{Attempt: c.foAttempts, From: from, To: to, Cause: cause, Backoff: wait, Err: err})
	}
	if errors.Is(err, ErrClosed) {
		return ErrClosed
	}
	if err != nil && ctx.Err() != nil {
		return ctx.Err()
	}
	return nil
}

// endFailover ends a series of attempts: the count starts again, and Sends that wait for the
// move go on (and fail if the socket is still broken). The caller holds readMu.
func (c *Conn) endFailover() {
	c.foAttempts, c.foLast, c.foTried = 0, nil, ""
	if c.failing.Swap(false) {
		c.notifyMoved()
	}
}

// notifyMoved wakes the Sends that wait for the connection to move.
func (c *Conn) notifyMoved() {
	c.mu.Lock()
	close(c.moved)
	c.moved = make(chan struct{})
	c.mu.Unlock()
}

// awaitMove waits, for a Send on the broken socket s, until a failover in progress has moved the
// connection or given up. It reports false at once when no failover is in progress.
func (c *Conn) awaitMove(ctx context.Context, s *socket) (bool, error) {
	c.mu.Lock()
	moved, cur := c.moved, c.cur
	c.mu.Unlock()
	if !c.failing.Load() || cur != s {
		return cur != s, nil
	}
	select {
	case <-moved:
		return true, nil
	case <-ctx.Done():
		return false, ctx.Err()
	case <-c.done:
		return false, ErrClosed
	}
}
