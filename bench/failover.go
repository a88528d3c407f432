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

// FailoverResult is one run of the failover scenario: clients receiving a stream through
// gateway A, with gateway B as their second gateway, while A is killed (or, Graceful, stopped,
// restarted, and then B stopped).
type FailoverResult struct {
	Clients  int  `json:"clients"`  // clients receiving the stream
	Messages int  `json:"messages"` // broadcasts each client must receive
	Graceful bool `json:"graceful"` // SIGTERM (1001, ws_close for each client), not kill -9
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
	// RestartSeconds is how long the gateway took to start again on its address (0: not
	// restarted).
	RestartSeconds float64 `json:"restart_s,omitempty"`
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
	moved    atomic.Int32 // moves after which a message came through the new gateway
	attempts atomic.Int64
	failed   atomic.Int64

	// Owned by the reader until it returns.
	seen       []uint8
	got, dups  int64
	ooo        int64
	recoveries []time.Duration
	reconnects []time.Duration
	lat        []time.Duration
	err        error
}

// failoverFault is a fault to inject once every client has received `at` broadcasts.
type failoverFault struct {
	name    string
	gateway string // "A" or "B"
	sig     os.Signal
	restart bool // start the gateway again on its address afterwards
	// afterRecovery makes the fault wait until every client recovered from the one before.
	afterRecovery bool
	at            int
}

// runFailover runs one failover run with the given number of clients.
func runFailover(ctx context.Context, o *Options, p *progress, clients int) (res *FailoverResult, err error) {
	if o.Verify != VerifyFull {
		return nil, fmt.Errorf("bench: failover: the clients fail over with the Go SDK's policy; use --verify %s", VerifyFull)
	}
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	ctx, cancelT := context.WithTimeout(ctx, o.RunTimeout)
	defer cancelT()
	e, err := startIC(ctx, o)
	if err != nil {
		return nil, err
	}
	gateways := map[string]*server{"A": e.gateway}
	var started []*server // gateways started here, ended at the end of the run
	defer func() {
		for _, s := range started {
			s.kill()
		}
		e.stop()
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
	faults := []failoverFault{{name: "kill -9 gateway A", gateway: "A", sig: syscall.SIGKILL, at: m / 2}}
	if o.Graceful {
		faults = []failoverFault{
			{name: "SIGTERM gateway A, restart it", gateway: "A", sig: syscall.SIGTERM, restart: true, at: m / 3},
			{name: "SIGTERM gateway B", gateway: "B", sig: syscall.SIGTERM, afterRecovery: true, at: 2 * m / 3},
		}
	}

	cs := make([]atomic.Pointer[foClient], clients)
	var (
		faultAt   atomic.Int64 // Unix ns of the latest fault
		delivered atomic.Int64
		wake      = make(chan struct{}, 1)
		src       = newSources(o.sources(clients))
	)
	dial := func(ctx context.Context, i int) (loadClient, error) {
		fc := &foClient{seen: make([]uint8, m)}
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
				fc.reconnects = append(fc.reconnects, time.Since(time.Unix(0, faultAt.Load())))
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
				fc.recoveries = append(fc.recoveries, time.Since(time.Unix(0, faultAt.Load())))
				fc.moved.Add(1)
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
			if fc := cs[i].Load(); fc != nil && !fc.ended.Load() && int(fc.moved.Load()) < k {
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
		return fmt.Sprintf("failover C=%d: %s | sent %d/%d, every client at %d | delivered %d/%d | %.0fs",
			clients, phase.Load(), sent.Load(), m, low(), delivered.Load(), int64(m)*int64(clients), time.Since(start).Seconds())
	})
	rctx, stopReaders := context.WithCancel(ctx)
	defer func() {
		stopReaders()
		f.close()
	}()
	if err := f.open(rctx, o.Dialers, dial, read); err != nil {
		return nil, fmt.Errorf("bench: failover, %d clients: %w", clients, err)
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
		srv := gateways[ft.gateway]
		results[k] = FaultResult{Fault: ft.name, AtBroadcast: low()}
		faultAt.Store(time.Now().UnixNano())
		took, err := srv.terminate(ft.sig)
		if err != nil {
			return err
		}
		results[k].ExitMillis = ms(took)
		if ft.restart {
			t0 := time.Now()
			ns, err := e.startGateway(ctx, o, strings.TrimPrefix(urls[ft.gateway], "ws://"))
			if err != nil {
				return fmt.Errorf("restart gateway %s: %w", ft.gateway, err)
			}
			started = append(started, ns)
			gateways[ft.gateway] = ns
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
				return nil, fmt.Errorf("bench: failover, %d clients: %w", clients, causeOr(ctx, err))
			}
			next++
			continue
		}
		if s == m {
			if err := waitUntil(ctx, wake, func() bool { return low() >= faults[next].at }); err != nil {
				return nil, fmt.Errorf("bench: failover, %d clients: %w", clients, causeOr(ctx, err))
			}
			continue
		}
		due := func() bool { return s-low() < window || next < len(faults) && low() >= faults[next].at }
		if err := waitUntil(ctx, wake, due); err != nil {
			return nil, fmt.Errorf("bench: failover, %d clients: %w", clients, causeOr(ctx, err))
		}
		if s-low() >= window {
			continue // a fault is due first
		}
		n := min(window-(s-low()), m-s, max(1, canister.MaxCount/clients))
		first, got, err := e.broadcast(ctx, n, o.Size)
		if err != nil {
			return nil, fmt.Errorf("bench: failover, %d clients: %w", clients, causeOr(ctx, err))
		}
		if first != uint64(s) || got != uint64(clients) {
			return nil, fmt.Errorf("bench: failover: broadcast %d went out as %d to %d clients, want %d", s, first, got, clients)
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
		return nil, fmt.Errorf("bench: failover, %d clients: %w", clients, causeOr(ctx, err))
	}
	stopReaders()
	f.readWG.Wait()

	res = &FailoverResult{Clients: clients, Messages: m, Graceful: o.Graceful, Faults: results, Seconds: round(elapsed.Seconds(), 2)}
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
		for k, d := range fc.recoveries {
			if k < len(recov) {
				recov[k] = append(recov[k], d)
			}
		}
		for k, d := range fc.reconnects {
			if k < len(recon) {
				recon[k] = append(recon[k], d)
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
