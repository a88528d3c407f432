package bench

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strings"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/icws/icws/bench/canister"
	"github.com/icws/icws/client"
)

// Defaults of the failover scenario.
const (
	// DefaultFailoverMessages is the number of broadcasts each client receives.
	DefaultFailoverMessages = 1000
	// DefaultFailoverClients is the default client count.
	DefaultFailoverClients = 100
	// failoverSettle is how long the bench waits, once every broadcast is sent, for a delivery
	// before it counts what has not arrived as lost.
	failoverSettle = 10 * time.Second
)

// FailoverResult is one run of a fault scenario (failover, outage, restart): clients receiving a
// stream through gateway A, with gateway B as their second gateway, while A is killed (or,
// Graceful, stopped, restarted, and then B stopped), or the replica is stopped for a while, or
// killed and restarted from its state dir.
type FailoverResult struct {
	// Scenario is the fault scenario.
	Scenario string `json:"scenario"`
	Clients  int    `json:"clients"`  // clients receiving the stream
	Messages int    `json:"messages"` // broadcasts each client must receive
	Graceful bool   `json:"graceful"` // SIGTERM (1001, ws_close for each client), not kill -9
	// Delivered is the number of messages the application got (repeats included); Lost the
	// broadcasts a client never got, Duplicated those it got more than once, OutOfOrder those
	// that came after a later one; the goal of each is 0.
	Delivered  int64 `json:"delivered"`
	Lost       int64 `json:"lost"`
	Duplicated int64 `json:"duplicated"`
	OutOfOrder int64 `json:"out_of_order"`
	// FailedClients is the number of clients whose Recv failed for good; FirstError the first
	// such failure.
	FailedClients int    `json:"failed_clients"`
	FirstError    string `json:"first_error,omitempty"`
	// Attempts and FailedAttempts count the reconnections of the clients' failover policy.
	Attempts       int64 `json:"reconnect_attempts"`
	FailedAttempts int64 `json:"failed_attempts"`
	// Faults are the faults injected, in order.
	Faults []FaultResult `json:"faults"`
	// Latency is from the canister's queue to the verified receipt, over every message.
	Latency Latency `json:"latency"`
	Seconds float64 `json:"seconds"` // from the first broadcast to the last delivery
}

// FaultResult is one fault of a run and how the clients recovered from it.
type FaultResult struct {
	// Fault says what was done, such as "kill -9 gateway A".
	Fault string `json:"fault"`
	// AtBroadcast is how many broadcasts every client had received when it struck.
	AtBroadcast int `json:"at_broadcast"`
	// ExitMillis is how long the process took to exit after the signal.
	ExitMillis float64 `json:"exit_ms"`
	// RestartSeconds is how long the process took to start again on its address (0: not
	// restarted); PausedSeconds how long it was stopped (SIGSTOP) before SIGCONT.
	RestartSeconds float64 `json:"restart_s,omitempty"`
	PausedSeconds  float64 `json:"paused_s,omitempty"`
	// PollErrors is how many polls gateway A retried with backoff from the fault to the end of
	// the run (its icws_gateway_poll_errors_total), for faults of the replica.
	PollErrors float64 `json:"gateway_poll_errors,omitempty"`
	// Recovered is the number of clients that received a message through their new gateway.
	Recovered int `json:"recovered"`
	// Reconnect is, per client, the time from the fault to its new socket being open (its first
	// message written); Recovery the time from the fault to the first message the application
	// got through the new gateway, which comes after the gateway has passed on again what the
	// client had already received (see docs/RELIABILITY.md).
	Reconnect Latency `json:"reconnect"`
	Recovery  Latency `json:"recovery"`
}

// foClient is one client of a failover run.
type foClient struct {
	conn     *client.Conn
	high     atomic.Int64 // 1 + the highest broadcast number received
	distinct atomic.Int64 // broadcasts received at least once
	ended    atomic.Bool  // the reader returned (every broadcast received, or failed)
	attempts atomic.Int64
	failed   atomic.Int64
	// recovery[k] and reconnect[k] are the client's times for fault k, ns (0: none yet).
	recovery, reconnect []atomic.Int64

	// Owned by the reader until it returns.
	seen      []uint8
	got, dups int64
	ooo       int64
	lat       []time.Duration
	err       error
}

// note records d as the client's time of fault k in times, unless it has one.
func note(times []atomic.Int64, k int, d time.Duration) {
	if k >= 0 && k < len(times) {
		times[k].CompareAndSwap(0, max(int64(d), 1))
	}
}

// failoverFault is a fault to inject once every client has received `at` broadcasts.
type failoverFault struct {
	name   string
	target string // "A", "B" (the gateways) or "replica"
	sig    os.Signal
	// pause is how long a SIGSTOP lasts before SIGCONT.
	pause   time.Duration
	restart bool // start the process again on its address afterwards
	// afterRecovery makes the fault wait until every client recovered from the one before.
	afterRecovery bool
	at            int
}

// faultsOf returns the faults of a scenario for a stream of m broadcasts.
func faultsOf(scenario string, o *Options, m int) []failoverFault {
	switch {
	case scenario == ScenarioOutage:
		return []failoverFault{{name: fmt.Sprintf("SIGSTOP replica %v, SIGCONT", o.Outage), target: "replica", sig: sigStop, pause: o.Outage, at: m / 2}}
	case scenario == ScenarioRestart:
		return []failoverFault{{name: "kill -9 replica, restart from --state-dir", target: "replica", sig: syscall.SIGKILL, restart: true, at: m / 2}}
	case o.Graceful:
		return []failoverFault{
			{name: "SIGTERM gateway A, restart it", target: "A", sig: syscall.SIGTERM, restart: true, at: m / 3},
			{name: "SIGTERM gateway B", target: "B", sig: syscall.SIGTERM, afterRecovery: true, at: 2 * m / 3},
		}
	}
	return []failoverFault{{name: "kill -9 gateway A", target: "A", sig: syscall.SIGKILL, at: m / 2}}
}

// runFailover runs one run of a fault scenario (failover, outage, restart) with the given
// number of clients.
func runFailover(ctx context.Context, o *Options, p *progress, scenario string, clients int) (res *FailoverResult, err error) {
	if o.Verify != VerifyFull {
		return nil, fmt.Errorf("bench: %s: the clients fail over with the Go SDK's policy; use --verify %s", scenario, VerifyFull)
	}
	oo := *o
	o = &oo
	if scenario == ScenarioRestart {
		dir, err := os.MkdirTemp("", "icws-bench-state-")
		if err != nil {
			return nil, err
		}
		defer os.RemoveAll(dir)
		o.stateDir = dir
	}
	run, err := startRun(ctx, o)
	if err != nil {
		return nil, err
	}
	ctx, cancel, e := run.ctx, run.cancel, run.e
	gateways := map[string]*server{"A": e.gateway}
	var started []*server // gateways started here, ended at the end of the run
	defer func() {
		for _, s := range started {
			s.kill()
		}
		run.stop()
	}()
	b, err := e.startGateway(ctx, o, "")
	if err != nil {
		return nil, err
	}
	started = append(started, b)
	gateways["B"] = b
	urls := map[string]string{"A": e.gateway.info.URL, "B": b.info.URL}

	m := o.Messages
	if m == 0 {
		m = DefaultFailoverMessages
	}
	window := max(1, min(o.window(clients), m/4))
	faults := faultsOf(scenario, o, m)

	cs := make([]atomic.Pointer[foClient], clients)
	var (
		faultAt   atomic.Int64 // Unix ns of the latest fault (of its end, for the replica's)
		faultIdx  atomic.Int32 // the latest gateway fault's index, -1 before the first
		resumed   atomic.Int32 // 1 + the index of the latest replica fault that ended, 0 before
		delivered atomic.Int64
		wake      = make(chan struct{}, 1)
		src       = newSources(o.sources(clients))
	)
	faultIdx.Store(-1)
	dial := func(ctx context.Context, i int) (loadClient, error) {
		fc := &foClient{seen: make([]uint8, m), recovery: make([]atomic.Int64, len(faults)), reconnect: make([]atomic.Int64, len(faults))}
		c, err := client.Dial(ctx, client.Config{
			Gateways:   []string{urls["A"], urls["B"]},
			Canister:   e.canister,
			Agent:      e.users,
			Dialer:     src.dialer(),
			ReadBuffer: window + 16,
			// The bench canister sends no heartbeats (bench/canister), so its silence means nothing.
			HeartbeatTimeout: -1,
			Failover: &client.Failover{OnReconnect: func(mv client.Move) { // on the reader's goroutine
				fc.attempts.Add(1)
				if mv.Err != nil {
					fc.failed.Add(1)
					return
				}
				note(fc.reconnect, int(faultIdx.Load()), time.Since(time.Unix(0, faultAt.Load())))
			}},
		})
		if err != nil {
			return nil, err
		}
		fc.conn = c
		cs[i].Store(fc)
		return &sdkClient{c: c}, nil
	}
	read := func(ctx context.Context, i int, lc loadClient) error {
		fc := cs[i].Load()
		defer fc.ended.Store(true)
		gw, last := fc.conn.Gateway(), int64(-1)
		for fc.distinct.Load() < int64(m) {
			payload, delay, err := lc.recv(ctx)
			if err != nil {
				if ctx.Err() == nil {
					fc.err = err
				}
				return nil
			}
			kind, n, err := canister.ParsePayload(payload)
			if err != nil || kind != canister.Broadcast || n >= uint64(m) {
				fc.err = fmt.Errorf("got payload %q %d (%v), want a broadcast below %d", kind, n, err, m)
				return nil
			}
			if g := fc.conn.Gateway(); g != gw {
				gw = g
				note(fc.recovery, int(faultIdx.Load()), time.Since(time.Unix(0, faultAt.Load())))
			}
			if k := int(resumed.Load()); k > 0 {
				note(fc.recovery, k-1, time.Since(time.Unix(0, faultAt.Load())))
			}
			fc.got++
			if fc.seen[n] == 0 {
				fc.distinct.Add(1)
			} else {
				fc.dups++
			}
			fc.seen[n] = min(fc.seen[n], 254) + 1
			if int64(n) < last {
				fc.ooo++
			}
			last = max(last, int64(n))
			fc.high.Store(last + 1)
			fc.lat = append(fc.lat, delay)
			delivered.Add(1)
			select {
			case wake <- struct{}{}:
			default:
			}
		}
		return nil
	}
	// low is the broadcasts every client still receiving has reached.
	low := func() int {
		lo := m
		for i := range cs {
			if fc := cs[i].Load(); fc != nil && !fc.ended.Load() {
				lo = min(lo, int(fc.high.Load()))
			}
		}
		return lo
	}
	recovered := func(k int) bool {
		for i := range cs {
			if fc := cs[i].Load(); fc != nil && !fc.ended.Load() && fc.recovery[k-1].Load() == 0 {
				return false
			}
		}
		return true
	}

	var sent atomic.Int64
	phase := atomic.Value{}
	phase.Store("opening")
	start := time.Now()
	f := newFleet(clients, cancel)
	p.set(func() string {
		return fmt.Sprintf("%s C=%d: %s | sent %d/%d, every client at %d | delivered %d/%d | %.0fs",
			scenario, clients, phase.Load(), sent.Load(), m, low(), delivered.Load(), int64(m)*int64(clients), time.Since(start).Seconds())
	})
	rctx, stopReaders := context.WithCancel(ctx)
	defer func() {
		stopReaders()
		f.close()
	}()
	if err := f.open(rctx, o.Dialers, dial, read); err != nil {
		return nil, fmt.Errorf("bench: %s, %d clients: %w", scenario, clients, err)
	}

	results := make([]FaultResult, len(faults))
	inject := func(k int) error {
		ft := faults[k]
		if ft.afterRecovery {
			phase.Store(fmt.Sprintf("waiting for every client to recover from fault %d", k))
			if err := waitUntil(ctx, wake, func() bool { return recovered(k) }); err != nil {
				return fmt.Errorf("waiting for the clients to recover from %q: %w", faults[k-1].name, err)
			}
		}
		phase.Store(ft.name)
		results[k] = FaultResult{Fault: ft.name, AtBroadcast: low()}
		if ft.target == "replica" {
			return injectReplica(ctx, o, e, ft, &results[k], func() {
				faultAt.Store(time.Now().UnixNano())
				resumed.Store(int32(k + 1))
			})
		}
		srv := gateways[ft.target]
		faultAt.Store(time.Now().UnixNano())
		faultIdx.Store(int32(k))
		took, err := srv.terminate(ft.sig)
		if err != nil {
			return err
		}
		results[k].ExitMillis = ms(took)
		if ft.restart {
			t0 := time.Now()
			ns, err := e.startGateway(ctx, o, strings.TrimPrefix(urls[ft.target], "ws://"))
			if err != nil {
				return fmt.Errorf("restart gateway %s: %w", ft.target, err)
			}
			started = append(started, ns)
			gateways[ft.target] = ns
			results[k].RestartSeconds = round(time.Since(t0).Seconds(), 2)
		}
		phase.Store("streaming after " + ft.name)
		return nil
	}

	phase.Store("streaming")
	measure := time.Now()
	next := 0
	for s := 0; s < m || next < len(faults); {
		if next < len(faults) && low() >= faults[next].at {
			if err := inject(next); err != nil {
				return nil, fmt.Errorf("bench: %s, %d clients: %w", scenario, clients, causeOr(ctx, err))
			}
			next++
			continue
		}
		if s == m {
			if err := waitUntil(ctx, wake, func() bool { return low() >= faults[next].at }); err != nil {
				return nil, fmt.Errorf("bench: %s, %d clients: %w", scenario, clients, causeOr(ctx, err))
			}
			continue
		}
		// The stream stops at the next fault's broadcast until the fault is injected, so that
		// every client still has broadcasts to receive through its new gateway after it.
		upTo := m
		if next < len(faults) {
			upTo = faults[next].at
		}
		sendable := func() bool { return s-low() < window && s < upTo }
		due := func() bool { return sendable() || next < len(faults) && low() >= faults[next].at }
		if err := waitUntil(ctx, wake, due); err != nil {
			return nil, fmt.Errorf("bench: %s, %d clients: %w", scenario, clients, causeOr(ctx, err))
		}
		if !sendable() {
			continue // a fault is due first
		}
		n := min(window-(s-low()), upTo-s, max(1, canister.MaxCount/clients))
		first, got, err := e.broadcast(ctx, n, o.Size)
		if err != nil {
			return nil, fmt.Errorf("bench: %s, %d clients: %w", scenario, clients, causeOr(ctx, err))
		}
		if first != uint64(s) || got != uint64(clients) {
			return nil, fmt.Errorf("bench: %s: broadcast %d went out as %d to %d clients, want %d", scenario, s, first, got, clients)
		}
		s += n
		sent.Store(int64(s))
	}

	// Every broadcast is sent and every fault injected: wait until every client has everything,
	// or nothing arrives for failoverSettle.
	phase.Store("settling")
	lastCount, lastAt := delivered.Load(), time.Now()
	err = waitUntil(ctx, wake, func() bool {
		if low() >= m {
			return true
		}
		if n := delivered.Load(); n != lastCount {
			lastCount, lastAt = n, time.Now()
		}
		return time.Since(lastAt) > failoverSettle
	})
	elapsed := time.Since(measure)
	if err != nil {
		return nil, fmt.Errorf("bench: %s, %d clients: %w", scenario, clients, causeOr(ctx, err))
	}
	for k, ft := range faults {
		if ft.target == "replica" {
			after, err := gatewayMetrics(ctx, e.gateway)
			if err != nil {
				return nil, err
			}
			results[k].PollErrors += after["icws_gateway_poll_errors_total"]
		}
	}
	stopReaders()
	f.readWG.Wait()

	res = &FailoverResult{Scenario: scenario, Clients: clients, Messages: m, Graceful: o.Graceful && scenario == ScenarioFailover, Faults: results, Seconds: round(elapsed.Seconds(), 2)}
	var all []time.Duration
	recov := make([][]time.Duration, len(faults))
	recon := make([][]time.Duration, len(faults))
	for i := range cs {
		fc := cs[i].Load()
		if fc == nil {
			continue
		}
		res.Delivered += fc.got
		res.Duplicated += fc.dups
		res.OutOfOrder += fc.ooo
		res.Lost += int64(m) - fc.distinct.Load()
		res.Attempts += fc.attempts.Load()
		res.FailedAttempts += fc.failed.Load()
		if fc.err != nil && !errors.Is(fc.err, client.ErrClosed) {
			res.FailedClients++
			if res.FirstError == "" {
				res.FirstError = fc.err.Error()
			}
		}
		for k := range faults {
			if d := fc.recovery[k].Load(); d > 0 {
				recov[k] = append(recov[k], time.Duration(d))
			}
			if d := fc.reconnect[k].Load(); d > 0 {
				recon[k] = append(recon[k], time.Duration(d))
			}
		}
		all = append(all, fc.lat...)
	}
	for k := range res.Faults {
		res.Faults[k].Recovered = len(recov[k])
		res.Faults[k].Recovery = percentiles(recov[k])
		res.Faults[k].Reconnect = percentiles(recon[k])
	}
	res.Latency = percentiles(all)
	return res, nil
}

// injectReplica injects fault ft on e's replica: SIGSTOP for ft.pause then SIGCONT, or a signal
// that ends it and a restart on its address and state dir. resume is called when the replica
// is back. It records in r how long each step took and, at the end of the run (PollErrors), how
// many polls gateway A retried.
func injectReplica(ctx context.Context, o *Options, e *icEnv, ft failoverFault, r *FaultResult, resume func()) error {
	before, err := gatewayMetrics(ctx, e.gateway)
	if err != nil {
		return err
	}
	r.PollErrors = -before["icws_gateway_poll_errors_total"]
	if ft.pause > 0 {
		if err := e.replica.cmd.Process.Signal(ft.sig); err != nil {
			return fmt.Errorf("bench: signal the replica (pid %d): %w", e.replica.pid, err)
		}
		t0 := time.Now()
		err := sleepCtx(ctx, ft.pause)
		if cerr := e.replica.cmd.Process.Signal(sigCont); err == nil && cerr != nil {
			err = fmt.Errorf("bench: SIGCONT the replica (pid %d): %w", e.replica.pid, cerr)
		}
		r.PausedSeconds = round(time.Since(t0).Seconds(), 2)
		if err != nil {
			return err
		}
		resume()
		return nil
	}
	took, err := e.replica.terminate(ft.sig)
	if err != nil {
		return err
	}
	r.ExitMillis = ms(took)
	t0 := time.Now()
	if err := e.restartReplica(ctx, o); err != nil {
		return err
	}
	r.RestartSeconds = round(time.Since(t0).Seconds(), 2)
	resume()
	return nil
}
