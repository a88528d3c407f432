package bench

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"

	"github.com/icws/icws/bench/canister"
	"github.com/icws/icws/client"
)

// Defaults of the soak scenario.
const (
	// DefaultSoakClients is the soak's client count.
	DefaultSoakClients = 1000
	// DefaultSoakDuration is how long the soak runs.
	DefaultSoakDuration = 10 * time.Minute
	// DefaultSoakSendEvery is how often each soak client sends a message.
	DefaultSoakSendEvery = 5 * time.Second
	// DefaultSoakRate is the room's traffic: broadcasts per second to every client.
	DefaultSoakRate = 1.0
	// DefaultSoakSampleEvery is how often the soak samples the gateway (RSS, goroutines) and
	// closes a latency interval.
	DefaultSoakSampleEvery = time.Minute
	// soakGrowthBound is the growth of the gateway's heap over the soak's second half, last
	// sample over the reference, above which the soak reports growth (beyond soakHeapSlack MiB);
	// goroutines may grow by soakGoroutineSlack.
	soakGrowthBound    = 1.10
	soakHeapSlack      = 1.0
	soakGoroutineSlack = 16
)

// SoakResult is one soak run: C clients through one gateway for a while, each sending every
// SendEvery and receiving the room's traffic (Rate broadcasts per second to every client).
type SoakResult struct {
	Clients   int     `json:"clients"`
	Seconds   float64 `json:"seconds"`      // how long the clients sent and received
	SendEvery float64 `json:"send_every_s"` // each client's interval between sends
	Rate      float64 `json:"rate"`         // broadcasts per second to every client, offered
	// BroadcastRate is the broadcasts per second achieved: one broadcast call at a time, the
	// next one due Rate later or, when a call takes longer, at once.
	BroadcastRate float64 `json:"broadcast_rate"`
	// Broadcasts is the number of broadcasts sent; Delivered the messages the clients got
	// (repeats included); Lost, Duplicated and OutOfOrder count broadcasts a client never got,
	// got more than once, or got after a later one (goal 0 each).
	Broadcasts int64 `json:"broadcasts"`
	Delivered  int64 `json:"delivered"`
	Lost       int64 `json:"lost"`
	Duplicated int64 `json:"duplicated"`
	OutOfOrder int64 `json:"out_of_order"`
	// Sent is the client messages sent, Accepted those the canister ran; UpstreamLost and
	// UpstreamDuplicated the difference either way (goal 0 each).
	Sent               int64 `json:"sent"`
	Accepted           int64 `json:"accepted"`
	UpstreamLost       int64 `json:"upstream_lost"`
	UpstreamDuplicated int64 `json:"upstream_duplicated"`
	// Latency is from the canister's queue to the verified receipt, over the whole run.
	Latency Latency `json:"latency"`
	// Samples are the gateway's figures at the start and after each interval.
	Samples []SoakSample `json:"samples"`
	// RSSSlope is the least-squares slope of the gateway's RSS over the second half of the run
	// (the first half is warm-up; see growth), MiB per minute; RSSGrowth the last sample's RSS
	// over the second half's first; GoroutineGrowth the goroutines gained over the second half.
	// NoGrowth says whether the second half stays within the bounds of docs/RELIABILITY.md (heap
	// after GC ≤ 1.10 × its first + 1 MiB, goroutines ≤ its first + 16).
	RSSSlope        float64 `json:"rss_slope_mib_per_min"`
	RSSGrowth       float64 `json:"rss_growth"`
	GoroutineGrowth int     `json:"goroutine_growth"`
	NoGrowth        bool    `json:"no_growth"`
}

// SoakSample is the gateway at one moment of a soak, and the latency of the interval before it.
type SoakSample struct {
	At         float64 `json:"at_s"`       // seconds since the clients started sending
	RSS        float64 `json:"rss_mib"`    // the gateway's resident memory
	HeapInuse  float64 `json:"heap_mib"`   // its Go heap in use after a collection
	Goroutines int     `json:"goroutines"` // its goroutines
	Delivered  int64   `json:"delivered"`  // messages delivered in the interval
	// P99 is the 99th percentile latency of the interval's messages (0 for the first sample).
	P99 float64 `json:"p99_ms"`
}

// soakClient is one client's bookkeeping, owned by its reader.
type soakClient struct {
	seen       []bool
	got, dups  int64
	ooo        int64
	last       int64
	distinctOK atomic.Int64
}

// runSoak runs one soak run with the given number of clients.
func runSoak(ctx context.Context, o *Options, p *progress, clients int) (*SoakResult, error) {
	if o.Verify != VerifyFull {
		return nil, fmt.Errorf("bench: soak: the clients are the Go SDK's; use --verify %s", VerifyFull)
	}
	every, sampleEvery, rate := o.SendEvery, o.SampleEvery, o.Rate
	if every <= 0 {
		every = DefaultSoakSendEvery
	}
	if sampleEvery <= 0 {
		sampleEvery = DefaultSoakSampleEvery
	}
	if rate <= 0 {
		rate = DefaultSoakRate
	}
	if limit := raiseFileLimit(); limit > 0 && uint64(clients+filesReserved) > limit {
		return nil, fmt.Errorf("bench: soak: %d clients need %d open files, the limit is %d (raise `ulimit -Hn` or lower --clients)", clients, clients+filesReserved, limit)
	}
	run, dial, err := startFleetRun(ctx, o, clients, 0)
	if err != nil {
		return nil, err
	}
	defer run.stop()
	ctx, cancel, e, f := run.ctx, run.cancel, run.e, run.f

	var (
		mu        sync.Mutex
		interval  []time.Duration // the current interval's latencies
		all       []time.Duration
		delivered atomic.Int64
		sent      atomic.Int64
		bcast     atomic.Int64
		phase     atomic.Value
	)
	phase.Store("opening")
	cs := make([]*soakClient, clients)
	for i := range cs {
		cs[i] = &soakClient{last: -1}
	}
	start := time.Now()
	p.set(func() string {
		return fmt.Sprintf("soak C=%d: %s | open %d | broadcasts %d, delivered %d, sent %d | %.0fs",
			clients, phase.Load(), f.opened.Load(), bcast.Load(), delivered.Load(), sent.Load(), time.Since(start).Seconds())
	})
	read := func(ctx context.Context, i int, c loadClient) error {
		sc := cs[i]
		for {
			payload, delay, err := c.recv(ctx)
			if err != nil {
				if ctx.Err() != nil || errors.Is(err, client.ErrClosed) {
					return nil
				}
				return err
			}
			kind, n, err := canister.ParsePayload(payload)
			if err != nil || kind != canister.Broadcast || n > 1<<30 {
				return fmt.Errorf("got payload %q %d (%v), want a broadcast", kind, n, err)
			}
			for uint64(len(sc.seen)) <= n {
				sc.seen = append(sc.seen, false)
			}
			sc.got++
			if sc.seen[n] {
				sc.dups++
			} else {
				sc.seen[n] = true
				sc.distinctOK.Add(1)
			}
			if int64(n) < sc.last {
				sc.ooo++
			}
			sc.last = max(sc.last, int64(n))
			delivered.Add(1)
			mu.Lock()
			interval = append(interval, delay)
			mu.Unlock()
		}
	}
	if err := f.open(ctx, o.Dialers, dial, read); err != nil {
		return nil, fmt.Errorf("bench: soak, %d clients: %w", clients, err)
	}

	sample := func(at time.Duration) (SoakSample, error) {
		u, err := e.gateway.usage()
		if err != nil {
			return SoakSample{}, err
		}
		st, err := e.gateway.command(ctx, "stats")
		if err != nil {
			return SoakSample{}, err
		}
		mu.Lock()
		lat := interval
		interval = nil
		all = append(all, lat...)
		mu.Unlock()
		if o.ProfileDir != "" { // the gateway's goroutines by stack, to tell a leak from warm-up
			path, err := filepath.Abs(filepath.Join(o.ProfileDir, fmt.Sprintf("soak-goroutines-%04.0fs.txt", at.Seconds())))
			if err == nil {
				err = os.MkdirAll(o.ProfileDir, 0o755)
			}
			if err == nil {
				_, err = e.gateway.command(ctx, "goroutines "+path)
			}
			if err != nil {
				return SoakSample{}, fmt.Errorf("bench: soak: the gateway's goroutine profile: %w", err)
			}
		}
		s := SoakSample{At: round(at.Seconds(), 1), RSS: mib(u.RSS), HeapInuse: mib(st.HeapInuse), Goroutines: st.Goroutines, Delivered: int64(len(lat))}
		if len(lat) > 0 {
			s.P99 = percentiles(lat).P99
		}
		return s, nil
	}
	first, err := sample(0)
	if err != nil {
		return nil, err
	}
	res := &SoakResult{Clients: clients, SendEvery: every.Seconds(), Rate: rate, Samples: []SoakSample{first}}

	phase.Store("soaking")
	measure := time.Now()
	end := measure.Add(o.Duration)
	var wg sync.WaitGroup
	// The clients' sends, spread evenly over the interval.
	for i, c := range f.clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			next := measure.Add(every * time.Duration(i) / time.Duration(clients))
			buf := make([]byte, 0, o.Size)
			for k := 0; next.Before(end); k++ {
				if err := sleepCtx(ctx, time.Until(next)); err != nil {
					return
				}
				buf = canister.AppendPayload(buf[:0], canister.Upstream, uint64(time.Now().UnixNano()), o.Size)
				if err := c.send(ctx, buf); err != nil {
					f.fail(fmt.Errorf("client %d: send %d: %w", i, k, err))
					return
				}
				sent.Add(1)
				next = next.Add(every)
			}
		}()
	}
	// The room's traffic.
	wg.Add(1)
	go func() {
		defer wg.Done()
		gap := time.Duration(float64(time.Second) / rate)
		next := measure
		for s := int64(0); next.Before(end) && time.Now().Before(end); s++ {
			if err := sleepCtx(ctx, time.Until(next)); err != nil {
				return
			}
			first, got, err := e.broadcast(ctx, 1, o.Size)
			if err != nil {
				f.fail(err)
				return
			}
			if first != uint64(s) || got != uint64(clients) {
				f.fail(fmt.Errorf("broadcast %d went out as %d to %d clients, want %d", s, first, got, clients))
				return
			}
			bcast.Store(s + 1)
			next = next.Add(gap)
		}
	}()
	for at := sampleEvery; ; at += sampleEvery {
		due := measure.Add(at)
		if due.After(end) {
			due = end
		}
		if err := sleepCtx(ctx, time.Until(due)); err != nil {
			wg.Wait()
			return nil, fmt.Errorf("bench: soak, %d clients: %w", clients, causeOr(ctx, err))
		}
		if !due.Before(end) {
			break
		}
		s, err := sample(time.Since(measure))
		if err != nil {
			return nil, err
		}
		res.Samples = append(res.Samples, s)
	}
	wg.Wait()
	if err := context.Cause(ctx); err != nil {
		return nil, fmt.Errorf("bench: soak, %d clients: %w", clients, err)
	}
	res.Seconds = round(time.Since(measure).Seconds(), 1)
	res.BroadcastRate = round(float64(bcast.Load())/time.Since(measure).Seconds(), 2)

	// Drain: every broadcast at every client, every message sent accepted, or nothing new for
	// failoverSettle.
	phase.Store("settling")
	m := bcast.Load()
	distinct := func() int64 {
		var n int64
		for _, sc := range cs {
			n += sc.distinctOK.Load()
		}
		return n
	}
	var accepted uint64
	lastCount, lastAt := int64(-1), time.Now()
	for {
		if accepted, err = e.acceptedCount(ctx); err != nil {
			return nil, err
		}
		d := distinct()
		if d == m*int64(clients) && int64(accepted) >= sent.Load() {
			break
		}
		if n := d + int64(accepted); n != lastCount {
			lastCount, lastAt = n, time.Now()
		} else if time.Since(lastAt) > failoverSettle {
			break
		}
		if err := sleepCtx(ctx, 50*time.Millisecond); err != nil {
			return nil, fmt.Errorf("bench: soak, %d clients: %w", clients, causeOr(ctx, err))
		}
	}
	last, err := sample(time.Since(measure))
	if err != nil {
		return nil, err
	}
	res.Samples = append(res.Samples, last)
	cancel(nil)
	f.readWG.Wait()

	res.Broadcasts, res.Sent, res.Accepted = m, sent.Load(), int64(accepted)
	res.UpstreamLost, res.UpstreamDuplicated = max(0, res.Sent-res.Accepted), max(0, res.Accepted-res.Sent)
	for _, sc := range cs {
		res.Delivered += sc.got
		res.Duplicated += sc.dups
		res.OutOfOrder += sc.ooo
		res.Lost += m - sc.distinctOK.Load()
	}
	res.Latency = percentiles(all)
	res.RSSSlope, res.RSSGrowth, res.GoroutineGrowth, res.NoGrowth = growth(res.Samples)
	return res, nil
}

// growth says how the gateway grew in the second half of the soak: from the first sample at or
// after half the last one's time to the last. The first half is warm-up: the gateway's HTTP
// connections to the replica grow under load up to the agent's idle pool (512 per host, two
// goroutines each) and its heap with them, then stay (docs/RELIABILITY.md, "Soak"); a leak grows
// in the second half too. It returns the least-squares slope of the RSS (MiB per minute) and the
// last RSS over the reference sample's, both over the second half, the goroutines gained and
// whether the run stayed within the bounds: the Go heap after a collection (what a leak holds;
// RSS also keeps memory the runtime has not returned to the OS) at most soakGrowthBound × the
// reference's plus soakHeapSlack, and the goroutines at most soakGoroutineSlack more.
func growth(s []SoakSample) (slope, rss float64, goroutines int, ok bool) {
	if len(s) < 2 {
		return 0, 1, 0, true
	}
	half := s[len(s)-1].At / 2
	from := len(s) - 2 // at least two samples
	for i, v := range s[:len(s)-1] {
		if v.At >= half {
			from = min(from, i)
			break
		}
	}
	s = s[from:]
	var n, sx, sy, sxx, sxy float64
	for _, v := range s {
		x := v.At / 60
		n++
		sx += x
		sy += v.RSS
		sxx += x * x
		sxy += x * v.RSS
	}
	if d := n*sxx - sx*sx; d > 0 {
		slope = (n*sxy - sx*sy) / d
	}
	first, last := s[0], s[len(s)-1]
	rss = ratio(last.RSS, first.RSS)
	goroutines = last.Goroutines - first.Goroutines
	heapOK := last.HeapInuse <= soakGrowthBound*first.HeapInuse+soakHeapSlack
	return round(slope, 2), rss, goroutines, heapOK && goroutines <= soakGoroutineSlack
}
