package bench

import (
	"bufio"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gorilla/websocket"

	"github.com/icws/icws/bench/canister"
	"github.com/icws/icws/protocol"
)

// Defaults of the abuse scenario.
const (
	DefaultAbuseScans      = 1000  // TCP connect + close
	DefaultAbuseHandshakes = 2000  // WebSocket upgrades then nothing (half of them half a frame)
	DefaultAbuseSlowloris  = 100   // request headers trickled a byte at a time
	DefaultAbuseFrames     = 100   // oversized frames, and as many text frames
	DefaultAbusePings      = 20000 // pings on one connection as fast as it takes them
	// abuseQuietTrips is the good client's round trips before the attacks.
	abuseQuietTrips = 100
	// abusePeriod is the time from the start of one of the good client's round trips to the start
	// of the next (longer if a trip takes longer): half the protocol's rate, so that its Send
	// never waits for the client's rate-limit bucket (protocol.MessageRate a second, client/pacing.go)
	// and the round trip measures the gateway, not the client's pacing. A good client paced at
	// 20 ms gaps sent ~38 frames a second: its bucket emptied after ~33 trips and every trip after
	// waited ~25 ms in Send for a token, which looked like a slow gateway under attack.
	abusePeriod = 2 * time.Second / protocol.MessageRate
	// abuseCloseWait bounds the wait for the gateway to close an attacking connection: its
	// handshake timeout (10s) and the HTTP server's header timeout (10s), with slack.
	abuseCloseWait = 25 * time.Second
	// abuseSettle bounds the wait, after the attacks, for the gateway's goroutines and heap to
	// come back to their baseline.
	abuseSettle = 30 * time.Second
	// slowlorisGap is the pause between the bytes of a slowloris header.
	slowlorisGap = 500 * time.Millisecond
)

// AbuseResult is one abuse run: a good client's round trips through the gateway, quiet and
// while the gateway is attacked, the gateway's memory and goroutines before, at the peak and
// after, and what became of each attack.
type AbuseResult struct {
	// Quiet and UnderAbuse are the good client's round trips (echo through the canister), one
	// started every abusePeriod; RatioP50 and RatioP99 are UnderAbuse's over Quiet's (goal ≤ 2).
	Quiet      Latency `json:"quiet"`
	UnderAbuse Latency `json:"under_abuse"`
	// QuietSend and UnderAbuseSend are the part of each round trip spent in the client's Send
	// (until its writer wrote the frame): a Send that waits for the client's rate limit shows
	// here, not as gateway latency.
	QuietSend      Latency `json:"quiet_send"`
	UnderAbuseSend Latency `json:"under_abuse_send"`
	// QuietCalls and UnderAbuseCalls are the gateway's own timing of its IC calls over each phase
	// (from its metrics): where a round trip's time goes inside the gateway.
	QuietCalls      CallTimes `json:"quiet_calls"`
	UnderAbuseCalls CallTimes `json:"under_abuse_calls"`
	QuietTrips      int       `json:"quiet_trips"`
	AbuseTrips      int       `json:"abuse_trips"`
	RatioP50        float64   `json:"ratio_p50"`
	RatioP99        float64   `json:"ratio_p99"`
	// Lost and Duplicated count the good client's echoes that never came back or came twice.
	Lost       int64 `json:"lost"`
	Duplicated int64 `json:"duplicated"`
	// The gateway's RSS before the attacks, at their peak (sampled every 100 ms, and its VmHWM)
	// and after they ended and the gateway settled; likewise its goroutines (sampled every
	// second) and heap (after a GC).
	RSSBefore float64 `json:"rss_before_mib"`
	RSSPeak   float64 `json:"rss_peak_mib"`
	RSSAfter  float64 `json:"rss_after_mib"`
	// RSSAfterFree is the RSS after the gateway returned its free memory to the OS
	// (debug.FreeOSMemory), after RSSAfter was measured: RSSAfter minus it is freed heap the
	// runtime kept, not live memory.
	RSSAfterFree     float64 `json:"rss_after_free_mib"`
	HeapBefore       float64 `json:"heap_before_mib"`
	HeapAfter        float64 `json:"heap_after_mib"`
	GoroutinesBefore int     `json:"goroutines_before"`
	GoroutinesPeak   int     `json:"goroutines_peak"`
	GoroutinesAfter  int     `json:"goroutines_after"`
	// SettleSeconds is how long after the attacks the goroutines and heap took to come back
	// within bounds (goroutines ≤ before + 16, heap ≤ 2 × before + 1 MiB); Settled says whether
	// they did within 30 s.
	SettleSeconds float64 `json:"settle_s"`
	Settled       bool    `json:"settled"`
	// Attacks are the attacks and their outcomes.
	Attacks []AttackResult `json:"attacks"`
	Seconds float64        `json:"seconds"` // from the first attack to the last one's end
}

// CallTimes is the gateway's IC calls over a phase of the abuse run, from its metrics
// (icws_gateway_ic_call_duration_seconds): how many of each and their mean duration.
type CallTimes struct {
	// Messages and MessageMs are the ws_message calls (an update call: the replica's round and
	// its certificate) and their mean.
	Messages  int     `json:"ws_message_calls"`
	MessageMs float64 `json:"ws_message_mean_ms"`
	// Polls and PollMs are the ws_get_messages queries (empty ones too) and their mean.
	Polls  int     `json:"ws_get_messages_calls"`
	PollMs float64 `json:"ws_get_messages_mean_ms"`
}

// callCounters reads the gateway's count and total seconds of its ws_message and ws_get_messages
// calls.
func callCounters(ctx context.Context, gw *server) ([4]float64, error) {
	m, err := gatewayMetrics(ctx, gw)
	if err != nil {
		return [4]float64{}, err
	}
	const h = "icws_gateway_ic_call_duration_seconds"
	return [4]float64{
		m[h+`_count{method="ws_message"}`], m[h+`_sum{method="ws_message"}`],
		m[h+`_count{method="ws_get_messages"}`], m[h+`_sum{method="ws_get_messages"}`],
	}, nil
}

// callTimes is the calls between two readings of callCounters.
func callTimes(before, after [4]float64) CallTimes {
	mean := func(n, sum float64) float64 {
		if n <= 0 {
			return 0
		}
		return round(sum/n*1000, 2)
	}
	dm, dp := after[0]-before[0], after[2]-before[2]
	return CallTimes{Messages: int(dm), MessageMs: mean(dm, after[1]-before[1]), Polls: int(dp), PollMs: mean(dp, after[3]-before[3])}
}

// pacer starts the good client's round trips at most one every period: next returns when the
// trip after one that started at start may start, given that it ended at end. A slow trip delays
// the next one; the pacer never catches up with a burst.
type pacer struct{ period time.Duration }

func (p pacer) next(start, end time.Time) time.Time {
	if next := start.Add(p.period); next.After(end) {
		return next
	}
	return end
}

// AttackResult is what became of one attack's connections.
type AttackResult struct {
	Attack string `json:"attack"`
	Conns  int    `json:"conns"` // connections the attack made
	// Failed is the connections that could not be made (refused, upgrade failed).
	Failed int `json:"failed"`
	// Outcomes counts how the gateway ended the connections: "close 1009", "close 4003",
	// "EOF" (TCP closed without a close frame), "HTTP 400", "open" (still open at the bound)…
	Outcomes map[string]int `json:"outcomes"`
	// Closed is from the attack's last write to the gateway's close, per connection.
	Closed  Latency `json:"closed"`
	Seconds float64 `json:"seconds"` // the whole attack
	// Note says more, such as the pongs a ping flood got.
	Note string `json:"note,omitempty"`
	// RoundTrips and RoundTrip are the good client's round trips that started while this attack
	// ran: which attack slows it.
	RoundTrips int     `json:"good_round_trips"`
	RoundTrip  Latency `json:"good_round_trip"`
}

// outcomes collects the ends of an attack's connections.
type outcomes struct {
	mu     sync.Mutex
	counts map[string]int
	closed []time.Duration
	failed int
}

func (o *outcomes) add(what string, after time.Duration) {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.counts == nil {
		o.counts = map[string]int{}
	}
	o.counts[what]++
	if what != "open" {
		o.closed = append(o.closed, after)
	}
}

func (o *outcomes) fail() {
	o.mu.Lock()
	o.failed++
	o.mu.Unlock()
}

func (o *outcomes) result(name string, conns int, took time.Duration, note string) AttackResult {
	o.mu.Lock()
	defer o.mu.Unlock()
	return AttackResult{Attack: name, Conns: conns, Failed: o.failed, Outcomes: o.counts, Closed: percentiles(o.closed), Seconds: round(took.Seconds(), 2), Note: note}
}

// wsEnd reads ws until the gateway ends it (or abuseCloseWait passes) and says how: the close
// code, "EOF", or "open".
func wsEnd(ws *websocket.Conn) string {
	_ = ws.SetReadDeadline(time.Now().Add(abuseCloseWait))
	for {
		_, _, err := ws.ReadMessage()
		if err == nil {
			continue
		}
		var ce *websocket.CloseError
		var ne net.Error
		switch {
		case errors.As(err, &ce):
			return fmt.Sprintf("close %d", ce.Code)
		case errors.As(err, &ne) && ne.Timeout():
			return "open"
		}
		return "EOF"
	}
}

// tcpEnd reads c until the gateway closes it (or abuseCloseWait passes) and says how: the
// status line of an HTTP answer, "EOF", or "open".
func tcpEnd(c net.Conn, bound time.Time) string {
	_ = c.SetReadDeadline(bound)
	r := bufio.NewReader(c)
	line, err := r.ReadString('\n')
	if strings.HasPrefix(line, "HTTP/") {
		f := strings.Fields(line)
		if len(f) >= 2 {
			return "HTTP " + f[1]
		}
	}
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		return "open"
	}
	return "EOF"
}

// abuseCounts are the sizes of the attacks.
type abuseCounts struct{ scans, handshakes, slowloris, frames, pings int }

func (o *Options) abuseCounts() abuseCounts {
	n := abuseCounts{DefaultAbuseScans, DefaultAbuseHandshakes, DefaultAbuseSlowloris, DefaultAbuseFrames, DefaultAbusePings}
	if s := o.AbuseScale; s > 0 && s < 1 {
		scale := func(v int) int { return max(1, int(float64(v)*s)) }
		n = abuseCounts{scale(n.scans), scale(n.handshakes), scale(n.slowloris), scale(n.frames), scale(n.pings)}
	}
	return n
}

// runAbuse runs the abuse scenario.
func runAbuse(ctx context.Context, o *Options, p *progress) (*AbuseResult, error) {
	n := o.abuseCounts()
	if limit := raiseFileLimit(); limit > 0 && uint64(n.handshakes+n.slowloris+2*n.frames+filesReserved+64) > limit {
		return nil, fmt.Errorf("bench: abuse: %d connections at once need more open files than the limit %d (raise `ulimit -Hn`)", n.handshakes+n.slowloris+2*n.frames, limit)
	}
	run, err := startRun(ctx, o)
	if err != nil {
		return nil, err
	}
	defer run.stop()
	ctx, cancel, e := run.ctx, run.cancel, run.e
	src := newSources(1)
	good, err := dialSDK(ctx, e, src.dialer(), 0, false)
	if err != nil {
		return nil, fmt.Errorf("bench: abuse: the good client: %w", err)
	}
	defer good.close()
	if p, _, err := good.recv(ctx); err != nil {
		return nil, fmt.Errorf("bench: abuse: the good client's welcome: %w", err)
	} else if k, _, _ := canister.ParsePayload(p); k != canister.Welcome {
		return nil, fmt.Errorf("bench: abuse: the good client's first message is %q, want the welcome", p)
	}
	phase := atomic.Value{}
	phase.Store("quiet round trips")
	start := time.Now()
	p.set(func() string { return fmt.Sprintf("abuse: %s | %.0fs", phase.Load(), time.Since(start).Seconds()) })

	// The good client's reader: Recv runs all the time, as it must for the acknowledgements
	// that let Send go on (client.Conn.Send).
	echoes := make(chan uint64, 64)
	readErr := make(chan error, 1)
	go func() {
		for {
			got, _, err := good.recv(ctx)
			if err != nil {
				readErr <- err
				return
			}
			k, m, err := canister.ParsePayload(got)
			if err != nil || k != canister.Echo {
				readErr <- fmt.Errorf("got %q (%v), want an echo", got, err)
				return
			}
			echoes <- m
		}
	}()
	var seq uint64
	var lost, dups int64
	var sendTook time.Duration // the last trip's time in Send
	pace := pacer{abusePeriod}
	nextTrip := time.Now()
	// trip waits for its start (pace) and makes one round trip.
	trip := func() (time.Duration, error) {
		if err := sleepCtx(ctx, time.Until(nextTrip)); err != nil {
			return 0, err
		}
		seq++
		payload := canister.AppendPayload(nil, canister.Echo, seq, o.Size)
		t0 := time.Now()
		defer func() { nextTrip = pace.next(t0, time.Now()) }()
		if err := good.send(ctx, payload); err != nil {
			return 0, err
		}
		sendTook = time.Since(t0)
		t := time.NewTimer(30 * time.Second)
		defer t.Stop()
		for {
			select {
			case m := <-echoes:
				if m == seq {
					return time.Since(t0), nil
				}
				if m < seq {
					dups++
					continue
				}
				return 0, fmt.Errorf("got echo %d, want %d", m, seq)
			case err := <-readErr:
				lost++
				return 0, fmt.Errorf("echo %d: %w", seq, err)
			case <-t.C:
				lost++
				return 0, fmt.Errorf("echo %d did not come back within 30 s", seq)
			case <-ctx.Done():
				return 0, context.Cause(ctx)
			}
		}
	}
	calls0, err := callCounters(ctx, e.gateway)
	if err != nil {
		return nil, err
	}
	// With --profile: CPU profiles of the gateway, the replica and the bench over each phase
	// (abuse-quiet-*.pprof, abuse-attacks-*.pprof).
	stopProfiles, err := startProfiles(ctx, o, "abuse-quiet", e.gateway, e.replica)
	if err != nil {
		return nil, err
	}
	var quiet, quietSend []time.Duration
	for range abuseQuietTrips {
		d, err := trip()
		if err != nil {
			return nil, fmt.Errorf("bench: abuse: quiet round trip %d: %w", seq, err)
		}
		quiet, quietSend = append(quiet, d), append(quietSend, sendTook)
	}
	if err := stopProfiles(); err != nil {
		return nil, err
	}
	calls1, err := callCounters(ctx, e.gateway)
	if err != nil {
		return nil, err
	}
	before, err := e.gateway.usage()
	if err != nil {
		return nil, err
	}
	st0, err := e.gateway.command(ctx, "stats")
	if err != nil {
		return nil, err
	}
	res := &AbuseResult{Quiet: percentiles(quiet), QuietSend: percentiles(quietSend), QuietCalls: callTimes(calls0, calls1), QuietTrips: len(quiet), RSSBefore: mib(before.RSS), HeapBefore: mib(st0.HeapInuse), GoroutinesBefore: st0.Goroutines}

	// The attacks, one after the other, while the good client goes on and the gateway is
	// sampled.
	// sampled. The attacker is a process of its own: in the good client's process, its bursts of
	// dials (~5,000 connections a second) queued the good client's goroutines behind its own.
	att, err := startServer(ctx, o.Launcher, RoleAttacker)
	if err != nil {
		return nil, fmt.Errorf("bench: abuse: the attacker: %w", err)
	}
	defer att.stop()
	if stopProfiles, err = startProfiles(ctx, o, "abuse-attacks", e.gateway, e.replica, att); err != nil {
		return nil, err
	}
	attacksDone := make(chan struct{})
	var attackErr error
	go func() {
		defer close(attacksDone)
		for i, a := range abuseAttacks() {
			if ctx.Err() != nil {
				attackErr = context.Cause(ctx)
				return
			}
			phase.Store(a.name)
			r, err := att.commandWithin(ctx, fmt.Sprintf("attack %d %d %s", i, a.n(n), e.gateway.info.URL), abuseAttackTimeout)
			if err == nil && r.Attack == nil {
				err = errors.New("the attacker answered without a result")
			}
			if err != nil {
				attackErr = fmt.Errorf("%s: %w", a.name, err)
				return
			}
			res.Attacks = append(res.Attacks, *r.Attack)
		}
	}()
	attackStart := time.Now()
	var under, underSend []time.Duration
	byAttack := map[string][]time.Duration{} // the trips in under, by the attack that ran
	peak, peakG := before.RSS, st0.Goroutines
	lastSample, lastStats := time.Time{}, time.Now()
	for running := true; running; {
		select {
		case <-attacksDone:
			running = false
			continue
		default:
		}
		if time.Since(lastSample) >= 100*time.Millisecond {
			lastSample = time.Now()
			if u, err := e.gateway.usage(); err == nil {
				peak = max(peak, u.RSS)
			}
		}
		if time.Since(lastStats) >= time.Second { // a GC in the gateway: once a second
			lastStats = time.Now()
			if st, err := e.gateway.command(ctx, "stats"); err == nil {
				peakG = max(peakG, st.Goroutines)
			}
		}
		during := phase.Load().(string)
		d, err := trip()
		if err != nil {
			cancel(err)
			<-attacksDone
			return nil, fmt.Errorf("bench: abuse: round trip under abuse: %w", err)
		}
		under, underSend = append(under, d), append(underSend, sendTook)
		byAttack[during] = append(byAttack[during], d)
	}
	if err := stopProfiles(); err != nil {
		return nil, err
	}
	if attackErr != nil {
		return nil, fmt.Errorf("bench: abuse: %w", attackErr)
	}
	res.Seconds = round(time.Since(attackStart).Seconds(), 1)
	for i := range res.Attacks {
		a := &res.Attacks[i]
		a.RoundTrips, a.RoundTrip = len(byAttack[a.Attack]), percentiles(byAttack[a.Attack])
	}
	res.UnderAbuse, res.UnderAbuseSend, res.AbuseTrips = percentiles(under), percentiles(underSend), len(under)
	if calls2, err := callCounters(ctx, e.gateway); err == nil {
		res.UnderAbuseCalls = callTimes(calls1, calls2)
	}
	res.RatioP50, res.RatioP99 = ratio(res.UnderAbuse.P50, res.Quiet.P50), ratio(res.UnderAbuse.P99, res.Quiet.P99)
	if u, err := e.gateway.usage(); err == nil {
		peak = max(peak, u.RSS)
	}

	phase.Store("settling")
	settleStart := time.Now()
	var st reply
	for {
		if st, err = e.gateway.command(ctx, "stats"); err != nil {
			return nil, err
		}
		peakG = max(peakG, st.Goroutines)
		if st.Goroutines <= st0.Goroutines+16 && st.HeapInuse <= 2*st0.HeapInuse+1<<20 {
			res.Settled = true
			break
		}
		if time.Since(settleStart) > abuseSettle {
			break
		}
		if err := sleepCtx(ctx, 500*time.Millisecond); err != nil {
			return nil, err
		}
	}
	res.SettleSeconds = round(time.Since(settleStart).Seconds(), 1)
	after, err := e.gateway.usage()
	if err != nil {
		return nil, err
	}
	// A last round trip: the gateway still serves.
	if _, err := trip(); err != nil {
		return nil, fmt.Errorf("bench: abuse: round trip after the attacks: %w", err)
	}
	// What of the RSS left is memory the Go runtime freed but has not returned to the OS yet
	// (its scavenger does so over minutes): return it now and measure again.
	if _, err := e.gateway.command(ctx, "free-os-memory"); err != nil {
		return nil, err
	}
	freed, err := e.gateway.usage()
	if err != nil {
		return nil, err
	}
	res.RSSAfterFree = mib(freed.RSS)
	res.RSSPeak, res.RSSAfter = mib(max(peak, after.PeakRSS)), mib(after.RSS)
	res.HeapAfter, res.GoroutinesAfter, res.GoroutinesPeak = mib(st.HeapInuse), st.Goroutines, peakG
	res.Lost, res.Duplicated = lost, dups
	return res, nil
}

// abuseAttack is one of the abuse scenario's attacks: its name, how it runs (against the gateway
// at host, or url for WebSocket upgrades, with n connections or pings) and its size.
type abuseAttack struct {
	name string
	run  func(ctx context.Context, host, url string, n int) AttackResult
	n    func(abuseCounts) int
}

// abuseAttacks are the attacks in the order the scenario runs them; the attacker's "attack"
// command names one by its index.
func abuseAttacks() []abuseAttack {
	return []abuseAttack{
		{"port scan (TCP connect, close)", attackScan, func(n abuseCounts) int { return n.scans }},
		{"abandoned handshakes (upgrade, then nothing or half a frame)", attackHandshakes, func(n abuseCounts) int { return n.handshakes }},
		{"slowloris (request headers a byte every 500 ms)", attackSlowloris, func(n abuseCounts) int { return n.slowloris }},
		{"oversized frames (header of a 3 MiB frame)", attackOversized, func(n abuseCounts) int { return n.frames }},
		{"text frames", attackText, func(n abuseCounts) int { return n.frames }},
		{"ping flood (one connection)", attackPings, func(n abuseCounts) int { return n.pings }},
	}
}

// abuseAttackTimeout bounds one attack command: the longest, the abandoned handshakes, waits up
// to abuseCloseWait for each batch of 64 connections the gateway does not close.
const abuseAttackTimeout = (DefaultAbuseHandshakes/64 + 2) * abuseCloseWait

// runAttackCommand runs the attacker's "attack I N URL": attack I of abuseAttacks, of size N,
// against the gateway at URL (ws://, on loopback).
func runAttackCommand(ctx context.Context, arg string) (*AttackResult, error) {
	f := strings.Fields(arg)
	if len(f) != 3 {
		return nil, fmt.Errorf("attack %q: want \"attack INDEX SIZE ws://HOST:PORT/...\"", arg)
	}
	attacks := abuseAttacks()
	i, err := strconv.Atoi(f[0])
	if err != nil || i < 0 || i >= len(attacks) {
		return nil, fmt.Errorf("attack %q: the index %q is not one of 0 to %d", arg, f[0], len(attacks)-1)
	}
	n, err := strconv.Atoi(f[1])
	if err != nil || n < 1 || n > 10*DefaultAbusePings {
		return nil, fmt.Errorf("attack %q: the size %q is not a count from 1 to %d", arg, f[1], 10*DefaultAbusePings)
	}
	url := f[2]
	host, ok := strings.CutPrefix(url, "ws://")
	if !ok {
		return nil, fmt.Errorf("attack %q: the gateway URL %q does not start with ws://", arg, url)
	}
	host, _, _ = strings.Cut(host, "/")
	if err := checkLoopback(host); err != nil {
		return nil, fmt.Errorf("attack %q: the attacker attacks loopback only: %w", arg, err)
	}
	r := attacks[i].run(ctx, host, url, n)
	return &r, nil
}

// concurrently runs f(i) for i in [0, n), at most 64 at a time.
func concurrently(n int, f func(i int)) {
	var wg sync.WaitGroup
	sem := make(chan struct{}, 64)
	for i := range n {
		sem <- struct{}{}
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			f(i)
		}()
	}
	wg.Wait()
}

// attackScan connects and closes at once, n times.
func attackScan(ctx context.Context, host, _ string, n int) AttackResult {
	var out outcomes
	t0 := time.Now()
	var d net.Dialer
	concurrently(n, func(int) {
		c, err := d.DialContext(ctx, "tcp", host)
		if err != nil {
			out.fail()
			return
		}
		c.Close()
		out.add("closed by the scanner", 0)
	})
	return out.result("port scan (TCP connect, close)", n, time.Since(t0), "")
}

// upgrade opens a WebSocket connection to the gateway and sends nothing.
func upgrade(ctx context.Context, url string) (*websocket.Conn, error) {
	d := websocket.Dialer{HandshakeTimeout: 10 * time.Second}
	ws, resp, err := d.DialContext(ctx, url, nil)
	if resp != nil && resp.Body != nil {
		resp.Body.Close()
	}
	return ws, err
}

// attackHandshakes upgrades n connections; the odd ones then send half a frame header. It waits
// for the gateway to close each.
func attackHandshakes(ctx context.Context, _, url string, n int) AttackResult {
	var out outcomes
	t0 := time.Now()
	conns := make([]*websocket.Conn, n)
	at := make([]time.Time, n)
	concurrently(n, func(i int) {
		ws, err := upgrade(ctx, url)
		if err != nil {
			out.fail()
			return
		}
		if i%2 == 1 {
			// A masked binary frame of 100 bytes: the header and two of the four mask bytes.
			_, _ = ws.NetConn().Write([]byte{0x82, 0x80 | 100, 1, 2})
		}
		conns[i], at[i] = ws, time.Now()
	})
	concurrently(n, func(i int) {
		if ws := conns[i]; ws != nil {
			out.add(wsEnd(ws), time.Since(at[i]))
			ws.Close()
		}
	})
	return out.result("abandoned handshakes (upgrade, then nothing or half a frame)", n, time.Since(t0), "")
}

// attackSlowloris sends n requests whose headers never end, a byte every slowlorisGap.
func attackSlowloris(ctx context.Context, host, _ string, n int) AttackResult {
	var out outcomes
	t0 := time.Now()
	var d net.Dialer
	var wg sync.WaitGroup
	for range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c, err := d.DialContext(ctx, "tcp", host)
			if err != nil {
				out.fail()
				return
			}
			defer c.Close()
			start := time.Now()
			bound := start.Add(abuseCloseWait)
			ended := make(chan string, 1)
			go func() { ended <- tcpEnd(c, bound) }()
			head := "GET / HTTP/1.1\r\nHost: " + host + "\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nX-Slow: " + strings.Repeat("a", 200)
			for i := 0; i < len(head); i++ {
				if _, err := c.Write([]byte{head[i]}); err != nil {
					break
				}
				t := time.NewTimer(slowlorisGap)
				select {
				case what := <-ended:
					t.Stop()
					out.add(what, time.Since(start))
					return
				case <-t.C:
				case <-ctx.Done():
					t.Stop()
					return
				}
			}
			out.add(<-ended, time.Since(start))
		}()
	}
	wg.Wait()
	return out.result("slowloris (request headers a byte every 500 ms)", n, time.Since(t0), "closed: from the first byte")
}

// attackOversized upgrades n connections and sends on each the header of a 3 MiB binary frame
// (above the gateway's 2 MiB limit).
func attackOversized(ctx context.Context, _, url string, n int) AttackResult {
	var out outcomes
	t0 := time.Now()
	concurrently(n, func(int) {
		ws, err := upgrade(ctx, url)
		if err != nil {
			out.fail()
			return
		}
		defer ws.Close()
		h := []byte{0x82, 0x80 | 127}
		h = binary.BigEndian.AppendUint64(h, 3<<20)
		h = append(h, 1, 2, 3, 4)
		h = append(h, make([]byte, 4096)...)
		start := time.Now()
		if _, err := ws.NetConn().Write(h); err != nil {
			out.fail()
			return
		}
		out.add(wsEnd(ws), time.Since(start))
	})
	return out.result("oversized frames (header of a 3 MiB frame)", n, time.Since(t0), "")
}

// attackText upgrades n connections and sends a text frame on each.
func attackText(ctx context.Context, _, url string, n int) AttackResult {
	var out outcomes
	t0 := time.Now()
	concurrently(n, func(int) {
		ws, err := upgrade(ctx, url)
		if err != nil {
			out.fail()
			return
		}
		defer ws.Close()
		start := time.Now()
		if err := ws.WriteMessage(websocket.TextMessage, []byte(`{"hello":"gateway"}`)); err != nil {
			out.fail()
			return
		}
		out.add(wsEnd(ws), time.Since(start))
	})
	return out.result("text frames", n, time.Since(t0), "")
}

// attackPings upgrades one connection and writes n pings on it as fast as it takes them.
func attackPings(ctx context.Context, _, url string, n int) AttackResult {
	var out outcomes
	t0 := time.Now()
	ws, err := upgrade(ctx, url)
	if err != nil {
		out.fail()
		return out.result("ping flood (one connection)", 1, time.Since(t0), "")
	}
	defer ws.Close()
	var pongs atomic.Int64
	ws.SetPongHandler(func(string) error { pongs.Add(1); return nil })
	ended := make(chan string, 1)
	go func() { ended <- wsEnd(ws) }()
	sent := 0
	for ; sent < n && ctx.Err() == nil; sent++ {
		if err := ws.WriteControl(websocket.PingMessage, []byte("flood"), time.Now().Add(5*time.Second)); err != nil {
			break
		}
	}
	last := time.Now()
	// The flood is over: the connection is now an abandoned handshake, which the gateway closes.
	out.add(<-ended, time.Since(last))
	return out.result("ping flood (one connection)", 1, time.Since(t0), fmt.Sprintf("%d pings written in %.2f s, %d pongs back", sent, last.Sub(t0).Seconds(), pongs.Load()))
}
