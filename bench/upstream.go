package bench

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/icws/icws/bench/canister"
)

// upstreamDrain bounds the wait, after the clients stop sending, for the canister to have run
// every message they sent.
const upstreamDrain = 30 * time.Second

// runUpstream runs one upstream run: clients each send o.Rate messages per second for
// o.Duration through the gateway; the canister records each message's latency.
func runUpstream(ctx context.Context, o *Options, p *progress, clients int) (*UpstreamResult, error) {
	per := int(o.Duration.Seconds() * o.Rate) // messages per client
	if per < 1 {
		return nil, fmt.Errorf("bench: upstream: %v at %g messages per second is less than one message per client", o.Duration, o.Rate)
	}
	run, dial, err := startFleetRun(ctx, o, clients, 0)
	if err != nil {
		return nil, err
	}
	defer run.stop()
	ctx, e, f := run.ctx, run.e, run.f
	var (
		sending  atomic.Bool
		sent     atomic.Int64
		accepted atomic.Uint64
	)
	start := time.Now()
	p.set(func() string {
		if !sending.Load() {
			return fmt.Sprintf("upstream C=%d: opening %d/%d | %.0fs", clients, f.opened.Load(), clients, time.Since(start).Seconds())
		}
		return fmt.Sprintf("upstream C=%d at %g msg/s each: sent %d, accepted %d | %.0fs", clients, o.Rate, sent.Load(), accepted.Load(), time.Since(start).Seconds())
	})
	// After the welcome nothing is due; a message would be a failure.
	read := func(ctx context.Context, i int, c loadClient) error {
		payload, _, err := c.recv(ctx)
		if err != nil {
			return err
		}
		return fmt.Errorf("unexpected message %q", payload)
	}
	openStart := time.Now()
	if err := f.open(ctx, o.Dialers, dial, read); err != nil {
		return nil, fmt.Errorf("bench: upstream, %d clients: %w", clients, err)
	}
	openTime := time.Since(openStart)
	sending.Store(true)

	stopProfiles, err := startProfiles(ctx, o, fmt.Sprintf("upstream-%d", clients), e.gateway, e.replica)
	if err != nil {
		return nil, err
	}
	before, err := snapshot(e.gateway, e.replica)
	if err != nil {
		return nil, err
	}
	m0, err := gatewayMetrics(ctx, e.gateway)
	if err != nil {
		return nil, err
	}
	h0, err := e.height(ctx)
	if err != nil {
		return nil, err
	}
	measure := time.Now()
	interval := time.Duration(float64(time.Second) / o.Rate)
	var wg sync.WaitGroup
	for i, c := range f.clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			// Spread the clients' sends evenly over the interval.
			next := measure.Add(interval * time.Duration(i) / time.Duration(clients))
			buf := make([]byte, 0, o.Size)
			for k := 0; k < per; k++ {
				if err := sleepCtx(ctx, time.Until(next)); err != nil {
					return
				}
				buf = canister.AppendPayload(buf[:0], canister.Upstream, uint64(time.Now().UnixNano()), o.Size)
				if err := c.send(ctx, buf); err != nil {
					f.fail(fmt.Errorf("client %d: send %d: %w", i, k, err))
					return
				}
				sent.Add(1)
				next = next.Add(interval)
			}
		}()
	}
	poll := func() error {
		n, err := e.acceptedCount(ctx)
		if err == nil {
			accepted.Store(n)
		}
		return err
	}
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	tick := time.NewTicker(250 * time.Millisecond)
	defer tick.Stop()
	for waiting := true; waiting; {
		select {
		case <-done:
			waiting = false
		case <-tick.C:
			if err := poll(); err != nil {
				return nil, err
			}
		case <-ctx.Done():
			return nil, fmt.Errorf("bench: upstream, %d clients: %w", clients, context.Cause(ctx))
		}
	}
	total := uint64(sent.Load())
	deadline := time.Now().Add(upstreamDrain)
	for accepted.Load() < total {
		if time.Now().After(deadline) {
			return nil, fmt.Errorf("bench: upstream, %d clients: the canister accepted %d of %d messages within %v", clients, accepted.Load(), total, upstreamDrain)
		}
		if err := sleepCtx(ctx, 20*time.Millisecond); err != nil {
			return nil, fmt.Errorf("bench: upstream, %d clients: %w", clients, err)
		}
		if err := poll(); err != nil {
			return nil, err
		}
	}
	elapsed := time.Since(measure)
	after, uerr := snapshot(e.gateway, e.replica)
	if err := stopProfiles(); err != nil {
		return nil, err
	}
	if uerr != nil {
		return nil, uerr
	}
	h1, err := e.height(ctx)
	if err != nil {
		return nil, err
	}
	m1, err := gatewayMetrics(ctx, e.gateway)
	if err != nil {
		return nil, err
	}
	samples, n, err := e.latencies(ctx, 0)
	if err != nil {
		return nil, err
	}
	if n != total || uint64(len(samples)) != total {
		return nil, fmt.Errorf("bench: upstream, %d clients: %d messages sent, the canister accepted %d (%d samples)", clients, total, n, len(samples))
	}
	lat := make([]time.Duration, len(samples))
	for i, us := range samples {
		lat[i] = time.Duration(us) * time.Microsecond
	}
	gwCPU := after.server.CPU - before.server.CPU
	return &UpstreamResult{
		Clients:              clients,
		Rate:                 o.Rate,
		Offered:              round(float64(clients)*o.Rate, 0),
		Sent:                 int64(total),
		Accepted:             n,
		Seconds:              round(elapsed.Seconds(), 2),
		PerSecond:            round(float64(n)/elapsed.Seconds(), 0),
		Latency:              percentiles(lat),
		OpenSeconds:          round(openTime.Seconds(), 2),
		GatewayCPU:           round(gwCPU.Seconds(), 2),
		ReplicaCPU:           round((after.replica.CPU - before.replica.CPU).Seconds(), 2),
		LoadCPU:              round((after.load.CPU - before.load.CPU).Seconds(), 2),
		GatewayCPUPerMessage: round(float64(gwCPU)/1e3/float64(max(n, 1)), 0),
		GatewayRSS:           mib(after.server.RSS),
		Rounds:               h1 - h0,
		CallsPerRound:        round(float64(n)/float64(max(h1-h0, 1)), 2),
		CallMillis: round(1000*(m1[`icws_gateway_ic_call_duration_seconds_sum{method="ws_message"}`]-m0[`icws_gateway_ic_call_duration_seconds_sum{method="ws_message"}`])/
			max(m1[`icws_gateway_ic_call_duration_seconds_count{method="ws_message"}`]-m0[`icws_gateway_ic_call_duration_seconds_count{method="ws_message"}`], 1), 2),
	}, nil
}
