package bench

import (
	"context"
	"fmt"
	"time"
)

// filesReserved is how many file descriptors the bench keeps for other uses than the load
// clients' sockets (agents, pipes, profiles).
const filesReserved = 256

// runIdle opens o.Conns connections through the gateway, holds them for o.Hold and measures the
// gateway's memory per connection and the time to open them.
func runIdle(ctx context.Context, o *Options, p *progress) (*IdleResult, error) {
	n := o.Conns
	// The bench raises its own limit (and so the gateway's, which inherits it) as far as it may.
	if limit := raiseFileLimitTo(uint64(n + filesReserved)); limit > 0 && uint64(n+filesReserved) > limit {
		return nil, fmt.Errorf("bench: idle: %d connections need %d open files, the limit is %d and the bench may not raise it (raise `ulimit -Hn`, run as root, or lower --conns)", n, n+filesReserved, limit)
	}
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	ctx, cancelT := context.WithTimeout(ctx, o.RunTimeout)
	defer cancelT()
	e, err := startIC(ctx, o)
	if err != nil {
		return nil, err
	}
	nsrc := o.sources(n)
	src := newSources(nsrc)
	dial, err := e.dialer(o, src, 0, false)
	if err != nil {
		return nil, err
	}
	f := newFleet(n, cancel)
	defer func() {
		cancel(nil)
		e.stop()
		f.close()
	}()
	start := time.Now()
	p.set(func() string {
		return fmt.Sprintf("idle: open %d/%d | %.0fs", f.opened.Load(), n, time.Since(start).Seconds())
	})

	empty, err := e.gateway.usage()
	if err != nil {
		return nil, err
	}
	emptyStats, err := e.gateway.command(ctx, "stats")
	if err != nil {
		return nil, err
	}
	stopProfiles, err := startProfiles(ctx, o, "idle", e.gateway, e.replica)
	if err != nil {
		return nil, err
	}
	before, err := snapshot(e.gateway, e.replica)
	if err != nil {
		return nil, err
	}
	// After the welcome, a client reads until the end of the run: nothing comes, but reading
	// answers the gateway's pings.
	read := func(ctx context.Context, i int, c loadClient) error {
		payload, _, err := c.recv(ctx)
		if err != nil {
			return err
		}
		return fmt.Errorf("unexpected message %q", payload)
	}
	openStart := time.Now()
	if err := f.open(ctx, o.Dialers, dial, read); err != nil {
		stopProfiles()
		return nil, fmt.Errorf("bench: idle, %d connections: %w", n, err)
	}
	openTime := time.Since(openStart)
	opened, err := snapshot(e.gateway, e.replica)
	if err != nil {
		return nil, err
	}
	p.set(func() string {
		return fmt.Sprintf("idle: %d open, holding %v | %.0fs", n, o.Hold, time.Since(start).Seconds())
	})
	if err := sleepCtx(ctx, o.Hold); err != nil {
		stopProfiles()
		return nil, fmt.Errorf("bench: idle, %d connections: %w", n, err)
	}
	held, err := snapshot(e.gateway, e.replica)
	if err != nil {
		return nil, err
	}
	if err := stopProfiles(); err != nil {
		return nil, err
	}
	openStats, err := e.gateway.command(ctx, "stats")
	if err != nil {
		return nil, err
	}
	if got := f.opened.Load(); got != int64(n) {
		return nil, fmt.Errorf("bench: idle: %d of %d connections opened", got, n)
	}
	gwOpenCPU := opened.server.CPU - before.server.CPU
	return &IdleResult{
		Conns:               n,
		Sources:             nsrc,
		OpenSeconds:         round(openTime.Seconds(), 2),
		OpenPerSecond:       round(float64(n)/openTime.Seconds(), 0),
		OpenLatency:         percentiles(f.openLatency),
		HoldSeconds:         o.Hold.Seconds(),
		GatewayRSSEmpty:     mib(empty.RSS),
		GatewayRSSOpen:      mib(held.server.RSS),
		RSSPerConn:          round(float64(held.server.RSS-empty.RSS)/1024/float64(n), 1),
		HeapPerConn:         round((float64(openStats.HeapInuse)-float64(emptyStats.HeapInuse))/1024/float64(n), 1),
		GoroutinesPerConn:   round(float64(openStats.Goroutines-emptyStats.Goroutines)/float64(n), 2),
		GatewayCPUOpen:      round(gwOpenCPU.Seconds(), 2),
		GatewayCPUHold:      round((held.server.CPU - opened.server.CPU).Seconds(), 2),
		ReplicaCPUOpen:      round((opened.replica.CPU - before.replica.CPU).Seconds(), 2),
		GatewayCPUPerOpenMS: round(float64(gwOpenCPU)/1e6/float64(n), 2),
	}, nil
}
