package bench

import (
	"context"
)

// benchRun is the setup every fault, soak, upstream, abuse and relay run shares: its context,
// bounded by Options.RunTimeout and ended with a cause when a client fails, and its IC (the
// replica and gateway processes, the bench's identity, the canister id: icEnv).
type benchRun struct {
	ctx context.Context
	// cancel ends the run with a cause (a failed client: newFleet's fail).
	cancel  context.CancelCauseFunc
	timeout context.CancelFunc
	e       *icEnv
	// f is the run's load clients (startFleetRun), closed by stop after the processes end.
	f *fleet
}

// startRun starts a run: its context and its replica and gateway processes (startIC). The
// caller must call stop.
func startRun(ctx context.Context, o *Options) (*benchRun, error) {
	ctx, cancel := context.WithCancelCause(ctx)
	ctx, timeout := context.WithTimeout(ctx, o.RunTimeout)
	e, err := startIC(ctx, o)
	if err != nil {
		timeout()
		cancel(nil)
		return nil, err
	}
	return &benchRun{ctx: ctx, cancel: cancel, timeout: timeout, e: e}, nil
}

// startFleetRun starts a run (startRun) with a fleet of n load clients, and returns how they
// dial in o's verify mode from the loopback sources n clients need (readBuffer as
// icEnv.dialer's). The caller must call stop, which closes the clients too.
func startFleetRun(ctx context.Context, o *Options, n, readBuffer int) (*benchRun, dialFunc, error) {
	r, err := startRun(ctx, o)
	if err != nil {
		return nil, nil, err
	}
	dial, err := r.e.dialer(o, newSources(o.sources(n)), readBuffer, true)
	if err != nil {
		r.stop()
		return nil, nil, err
	}
	r.f = newFleet(n, r.cancel)
	return r, dial, nil
}

// stop ends the run's context, its processes, then its load clients.
func (r *benchRun) stop() {
	r.cancel(nil)
	r.e.stop()
	if r.f != nil {
		r.f.close()
	}
	r.timeout()
}
