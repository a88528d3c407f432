package bench

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"sync/atomic"
	"time"

	"github.com/icws/icws/bench/canister"
	"github.com/icws/icws/client"
)

// fanoutTarget is what a fan-out run sends through: the gateway in front of the load canister,
// or the baseline server.
type fanoutTarget struct {
	name      string // "gateway" or "baseline"
	server    *server
	replica   *server // nil for the baseline
	env       *icEnv  // nil for the baseline
	dial      dialFunc
	broadcast func(ctx context.Context, count, size int) (first, clients uint64, err error)
	maxCount  int // most broadcasts per call
	stop      func()
	// ready, if set, waits until every open client can receive the broadcasts (the channel
	// mode: until each has its subscription confirmed).
	ready func(ctx context.Context, clients []loadClient) error
}

// gatewayTarget starts a replica and a gateway; clients open through the gateway.
func gatewayTarget(ctx context.Context, o *Options, clients int) (*fanoutTarget, error) {
	e, err := startIC(ctx, o)
	if err != nil {
		return nil, err
	}
	src := newSources(o.sources(clients))
	readBuffer := o.window(clients) + 16
	dial, err := e.dialer(o, src, readBuffer, false)
	if err != nil {
		return nil, err
	}
	return &fanoutTarget{
		name:      "gateway",
		server:    e.gateway,
		replica:   e.replica,
		env:       e,
		dial:      dial,
		broadcast: e.broadcast,
		maxCount:  max(1, canister.MaxCount/clients),
		stop:      e.stop,
	}, nil
}

// channelTarget starts a replica and a gateway; clients open through the gateway with the Go SDK
// and subscribe to the canister's certified channel, to which each broadcast is published once.
func channelTarget(ctx context.Context, o *Options, clients int) (*fanoutTarget, error) {
	e, err := startIC(ctx, o)
	if err != nil {
		return nil, err
	}
	src := newSources(o.sources(clients))
	readBuffer := o.window(clients) + 16
	var cache *client.SharedCache // VerifySharedCache: lean clients, as in the per-client run
	if o.Verify == VerifySharedCache {
		cache = client.NewSharedCache(e.canister, 0)
	}
	return &fanoutTarget{
		name:    "channel",
		server:  e.gateway,
		replica: e.replica,
		env:     e,
		dial: func(ctx context.Context, _ int) (loadClient, error) {
			var c interface {
				loadClient
				subscribe(ctx context.Context, channel string) error
			}
			var err error
			if cache != nil {
				c, err = dialLean(ctx, e, src.dialer(), cache, !o.SingleFrames, false)
			} else {
				c, err = dialSDK(ctx, e, src.dialer(), readBuffer, !o.SingleFrames)
			}
			if err != nil {
				return nil, err
			}
			if err := c.subscribe(ctx, canister.Channel); err != nil {
				c.close()
				return nil, fmt.Errorf("subscribe to channel %q: %w", canister.Channel, err)
			}
			return c, nil
		},
		broadcast: e.publish,
		maxCount:  canister.MaxPublish,
		stop:      e.stop,
		ready:     waitSubscribed,
	}, nil
}

// waitSubscribed waits until every client's subscription to the bench's channel is confirmed:
// messages published before a client's confirmation are not its to receive.
func waitSubscribed(ctx context.Context, clients []loadClient) error {
	t := time.NewTicker(20 * time.Millisecond)
	defer t.Stop()
	for i := 0; i < len(clients); {
		if c, ok := clients[i].(interface{ subscribedTo(string) bool }); !ok {
			return fmt.Errorf("bench: client %d of the channel run is a %T, which cannot subscribe", i, clients[i])
		} else if c.subscribedTo(canister.Channel) {
			i++
			continue
		}
		select {
		case <-t.C:
		case <-ctx.Done():
			return fmt.Errorf("bench: waiting for client %d's subscription to channel %q: %w", i, canister.Channel, context.Cause(ctx))
		}
	}
	return nil
}

// baselineTarget starts the baseline server.
func baselineTarget(ctx context.Context, o *Options, clients int) (*fanoutTarget, error) {
	args := []string{}
	if o.SendQueue > 0 {
		args = append(args, "--send-queue", fmt.Sprint(o.SendQueue))
	}
	s, err := startServer(ctx, o.Launcher, RoleBaseline, args...)
	if err != nil {
		return nil, err
	}
	src := newSources(o.sources(clients))
	wsURL := "ws" + s.info.URL[len("http"):]
	hc := &http.Client{Timeout: 30 * time.Second}
	return &fanoutTarget{
		name:   "baseline",
		server: s,
		dial: func(ctx context.Context, _ int) (loadClient, error) {
			return dialBare(ctx, wsURL, src.dialer())
		},
		broadcast: func(ctx context.Context, count, size int) (uint64, uint64, error) {
			req, err := http.NewRequestWithContext(ctx, http.MethodPost, fmt.Sprintf("%s/broadcast?count=%d&size=%d", s.info.URL, count, size), nil)
			if err != nil {
				return 0, 0, err
			}
			res, err := hc.Do(req)
			if err != nil {
				return 0, 0, fmt.Errorf("bench: baseline broadcast: %w", err)
			}
			defer res.Body.Close()
			var r broadcastReply
			if err := json.NewDecoder(res.Body).Decode(&r); err != nil || res.StatusCode != http.StatusOK {
				return 0, 0, fmt.Errorf("bench: baseline broadcast: status %s (%v)", res.Status, err)
			}
			return r.First, uint64(r.Clients), nil
		},
		maxCount: 1 << 20,
		stop: func() {
			hc.CloseIdleConnections()
			s.kill()
		},
	}, nil
}

// runFanout runs one fan-out: it opens the clients, then sends broadcasts, as fast as the window
// allows or at o.Rate, until every client has received and verified every one of them, in order.
func runFanout(ctx context.Context, o *Options, p *progress, kind string, clients int) (res *FanoutResult, err error) {
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	ctx, cancelT := context.WithTimeout(ctx, o.RunTimeout)
	defer cancelT()
	var t *fanoutTarget
	switch kind {
	case "baseline":
		t, err = baselineTarget(ctx, o, clients)
	case "channel":
		t, err = channelTarget(ctx, o, clients)
	case "centrifugo":
		t, err = centrifugoTarget(ctx, o, clients)
	default:
		t, err = gatewayTarget(ctx, o, clients)
	}
	if err != nil {
		return nil, err
	}

	m, window := o.messages(clients), o.window(clients)
	var (
		counts    = make([]atomic.Int32, m)
		completed atomic.Int64 // broadcasts every client has
		delivered atomic.Int64
		wake      = make(chan struct{}, 1)
		lat       = make([][]time.Duration, clients)
	)
	read := func(ctx context.Context, i int, c loadClient) error {
		lat[i] = make([]time.Duration, 0, m)
		for k := 0; k < m; k++ {
			payload, delay, err := c.recv(ctx)
			if err != nil {
				return fmt.Errorf("broadcast %d: %w", k, err)
			}
			pk, n, err := canister.ParsePayload(payload)
			if err != nil || pk != canister.Broadcast || n != uint64(k) {
				return fmt.Errorf("got payload %q %d (%v), want broadcast %d", pk, n, err, k)
			}
			lat[i] = append(lat[i], delay)
			delivered.Add(1)
			if counts[k].Add(1) == int32(clients) {
				completed.Add(1)
				select {
				case wake <- struct{}{}:
				default:
				}
			}
		}
		return nil
	}
	var (
		sending atomic.Bool
		sent    atomic.Int64
		f       = newFleet(clients, cancel)
	)
	start := time.Now()
	p.set(func() string {
		if !sending.Load() {
			return fmt.Sprintf("fanout %s C=%d: opening %d/%d | %.0fs", t.name, clients, f.opened.Load(), clients, time.Since(start).Seconds())
		}
		return fmt.Sprintf("fanout %s C=%d: broadcasts sent %d/%d, at every client %d | delivered %d/%d | %.0fs",
			t.name, clients, sent.Load(), m, completed.Load(), delivered.Load(), int64(m)*int64(clients), time.Since(start).Seconds())
	})
	openStart := time.Now()
	defer func() {
		cancel(nil)
		t.stop()
		f.close()
	}()
	err = f.open(ctx, o.Dialers, t.dial, read)
	if err != nil {
		return nil, fmt.Errorf("bench: fanout %s, %d clients: %w", t.name, clients, err)
	}
	openTime := time.Since(openStart)
	if t.ready != nil {
		if err := t.ready(ctx, f.clients); err != nil {
			return nil, fmt.Errorf("bench: fanout %s, %d clients: %w", t.name, clients, causeOr(ctx, err))
		}
	}
	sending.Store(true)

	profiled := t.server
	if t.name == "centrifugo" {
		profiled = nil // not a process of ours that takes commands
	}
	stopProfiles, err := startProfiles(ctx, o, fmt.Sprintf("fanout-%s-%d", t.name, clients), profiled, t.replica)
	if err != nil {
		return nil, err
	}
	before, err := snapshot(t.server, t.replica)
	if err != nil {
		return nil, err
	}
	var metricsBefore map[string]float64
	var h0 uint64
	if t.env != nil {
		if metricsBefore, err = gatewayMetrics(ctx, t.server); err != nil {
			return nil, err
		}
		if h0, err = t.env.height(ctx); err != nil {
			return nil, err
		}
	}
	measure := time.Now()
	calls, err := drive(ctx, o, t, clients, m, window, &sent, &completed, wake)
	if err == nil {
		err = waitUntil(ctx, wake, func() bool { return completed.Load() == int64(m) })
	}
	elapsed := time.Since(measure)
	after, uerr := snapshot(t.server, t.replica)
	if perr := stopProfiles(); err == nil {
		err = perr
	}
	if err == nil {
		err = uerr
	}
	if err != nil {
		return nil, fmt.Errorf("bench: fanout %s, %d clients: %w", t.name, clients, causeOr(ctx, err))
	}

	var all []time.Duration
	for _, l := range lat {
		all = append(all, l...)
	}
	n := delivered.Load()
	res = &FanoutResult{
		Server:        t.name,
		Clients:       clients,
		Broadcasts:    m,
		Window:        window,
		Calls:         calls,
		Delivered:     n,
		Seconds:       round(elapsed.Seconds(), 2),
		PerSecond:     round(float64(n)/elapsed.Seconds(), 0),
		Latency:       percentiles(all),
		OpenSeconds:   round(openTime.Seconds(), 2),
		ServerCPU:     round((after.server.CPU - before.server.CPU).Seconds(), 2),
		LoadCPU:       round((after.load.CPU - before.load.CPU).Seconds(), 2),
		ServerRSS:     mib(after.server.RSS),
		ServerPeakRSS: mib(after.server.PeakRSS),
	}
	if t.env != nil {
		res.ReplicaCPU = round((after.replica.CPU - before.replica.CPU).Seconds(), 2)
		m, err := gatewayMetrics(ctx, t.server)
		if err != nil {
			return nil, err
		}
		h1, err := t.env.height(ctx)
		if err != nil {
			return nil, err
		}
		res.Rounds = h1 - h0
		d := func(k string) float64 { return m[k] - metricsBefore[k] }
		polls := d("icws_gateway_polls_total")
		res.Polls = int(polls)
		res.PollMillis = round(1000*d("icws_gateway_poll_duration_seconds_sum")/max(polls, 1), 2)
		res.MessagesPerPoll = round(d("icws_gateway_messages_polled_total")/max(polls, 1), 1)
		res.FrameBytes = round(d("icws_gateway_bytes_out_total")/max(d("icws_gateway_frames_out_total"), 1), 0)
	}
	res.ServerCPUPerMessage = round(float64(after.server.CPU-before.server.CPU)/1e3/float64(n), 1)
	if n != int64(m)*int64(clients) {
		return nil, fmt.Errorf("bench: fanout %s, %d clients: %d messages delivered, want %d", t.name, clients, n, int64(m)*int64(clients))
	}
	return res, nil
}

// drive sends the m broadcasts, keeping at most window of them in flight (sent, not yet received
// by every client), and at o.Rate per second if set. It returns the number of calls.
func drive(ctx context.Context, o *Options, t *fanoutTarget, clients, m, window int, sent, completed *atomic.Int64, wake chan struct{}) (calls int, err error) {
	start := time.Now()
	for s := 0; s < m; {
		if err := waitUntil(ctx, wake, func() bool { return s-int(completed.Load()) < window }); err != nil {
			return calls, err
		}
		n := min(window-(s-int(completed.Load())), m-s, t.maxCount)
		if o.Rate > 0 {
			due := int(o.Rate*time.Since(start).Seconds()) + 1 - s
			if due <= 0 {
				next := start.Add(time.Duration(float64(s) / o.Rate * float64(time.Second)))
				if err := sleepCtx(ctx, time.Until(next)); err != nil {
					return calls, err
				}
				continue
			}
			n = min(n, due)
		}
		first, got, err := t.broadcast(ctx, n, o.Size)
		if err != nil {
			return calls, err
		}
		if first != uint64(s) || got != uint64(clients) {
			return calls, fmt.Errorf("broadcast %d went out as %d to %d clients, want %d", s, first, got, clients)
		}
		calls++
		s += n
		sent.Store(int64(s))
	}
	return calls, nil
}

// waitUntil waits until cond holds, checking it at each wake-up (and every 50ms).
func waitUntil(ctx context.Context, wake chan struct{}, cond func() bool) error {
	t := time.NewTicker(50 * time.Millisecond)
	defer t.Stop()
	for !cond() {
		select {
		case <-wake:
		case <-t.C:
		case <-ctx.Done():
			return context.Cause(ctx)
		}
	}
	return nil
}

func sleepCtx(ctx context.Context, d time.Duration) error {
	if d <= 0 {
		return nil
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return context.Cause(ctx)
	}
}

// causeOr prefers the run's first failure (a client's) to the error it caused elsewhere.
func causeOr(ctx context.Context, err error) error {
	if c := context.Cause(ctx); c != nil && c != context.Canceled && c != context.DeadlineExceeded {
		return c
	}
	return err
}

// usages is a snapshot of the processes' CPU time and memory.
type usages struct{ server, replica, load procUsage }

func snapshot(srv, rep *server) (usages, error) {
	var u usages
	var err error
	if u.server, err = srv.usage(); err != nil {
		return u, err
	}
	if rep != nil {
		if u.replica, err = rep.usage(); err != nil {
			return u, err
		}
	}
	u.load, err = readUsage(os.Getpid())
	return u, err
}
