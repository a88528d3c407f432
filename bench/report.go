package bench

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"
)

// Report is the outcome of one scenario.
type Report struct {
	// Scenario is the scenario's name; Verify the clients' verify mode (none for the baseline).
	Scenario string     `json:"scenario"`
	Verify   VerifyMode `json:"verify,omitempty"`
	// VerifyDetail says what the verify mode checks.
	VerifyDetail string `json:"verify_detail,omitempty"`
	// Machine is where it ran; Settings the options that apply to all its runs.
	Machine  Machine  `json:"machine"`
	Settings Settings `json:"settings"`
	// Fanout holds the fanout and baseline runs, one per client count.
	Fanout []FanoutRow `json:"fanout,omitempty"`
	// Upstream holds the upstream runs, one per client count.
	Upstream []UpstreamResult `json:"upstream,omitempty"`
	// Idle is the idle run.
	Idle *IdleResult `json:"idle,omitempty"`
	// Failover holds the failover runs, one per client count.
	Failover []FailoverResult `json:"failover,omitempty"`
	// Soak holds the soak runs, one per client count.
	Soak []SoakResult `json:"soak,omitempty"`
	// Abuse is the abuse run.
	Abuse *AbuseResult `json:"abuse,omitempty"`
	// Relay is the relay run: the malicious relays' time to detection.
	Relay *RelayReport `json:"relay,omitempty"`
	// Seconds is how long the whole scenario took.
	Seconds float64 `json:"seconds"`
}

// Machine describes where the figures were measured.
type Machine struct {
	CPU       string `json:"cpu"`        // the model name in /proc/cpuinfo
	CPUs      int    `json:"cpus"`       // runtime.NumCPU
	MemoryMiB uint64 `json:"memory_mib"` // MemTotal
	Kernel    string `json:"kernel"`     // the kernel release
	Go        string `json:"go"`         // the Go version the bench was built with
	FileLimit uint64 `json:"file_limit"` // RLIMIT_NOFILE after raising it to the hard limit
	// LoadAverage is the 1-minute load average when the scenario started: other work on the
	// machine skews the figures.
	LoadAverage float64 `json:"load_average"`
}

// Settings are the options a scenario ran with.
type Settings struct {
	Size         int     `json:"size"`                            // payload bytes
	Rate         float64 `json:"rate,omitempty"`                  // Options.Rate
	Duration     float64 `json:"duration_s,omitempty"`            // upstream sending time, seconds
	RoundTime    string  `json:"replica_round_time,omitempty"`    // Options.RoundTime if set
	PollInterval string  `json:"gateway_poll_interval,omitempty"` // Options.PollInterval if set
	SendQueue    int     `json:"gateway_send_queue,omitempty"`    // Options.SendQueue if set
	Outage       string  `json:"replica_outage,omitempty"`        // Options.Outage (outage)
}

// Latency is a latency distribution in milliseconds.
type Latency struct {
	P50 float64 `json:"p50_ms"` // median
	P95 float64 `json:"p95_ms"` // 95th percentile (nearest rank)
	P99 float64 `json:"p99_ms"` // 99th percentile (nearest rank)
	Max float64 `json:"max_ms"` // the slowest
}

// FanoutRow is one client count of the fanout scenario: the gateway's run, the baseline's run
// and their ratios (either run may be missing).
type FanoutRow struct {
	Clients  int           `json:"clients"`            // the client count of both runs
	Gateway  *FanoutResult `json:"gateway,omitempty"`  // through the gateway
	Baseline *FanoutResult `json:"baseline,omitempty"` // through the baseline server
	Ratio    *Ratio        `json:"ratio,omitempty"`    // gateway / baseline, if both ran
	// Channel is the run through a certified channel (Options.Channel), ChannelRatio its ratios
	// to the baseline.
	Channel      *FanoutResult `json:"channel,omitempty"`
	ChannelRatio *Ratio        `json:"channel_ratio,omitempty"`
	// Centrifugo is the run through Centrifugo (Options.Centrifugo), a second bare baseline.
	Centrifugo *FanoutResult `json:"centrifugo,omitempty"`
	// Goals are issue 15's goals beside the figures, each with its verdict.
	Goals []string `json:"goals,omitempty"`
}

// FanoutResult is one fan-out run through the gateway or the baseline server.
type FanoutResult struct {
	Server     string `json:"server"`     // "gateway", "channel" or "baseline"
	Clients    int    `json:"clients"`    // clients open during the run
	Broadcasts int    `json:"broadcasts"` // messages each client received
	Window     int    `json:"window"`     // broadcasts in flight at most
	Calls      int    `json:"calls"`      // broadcast calls made
	// Delivered is the number of messages delivered and verified: Clients × Broadcasts.
	Delivered int64   `json:"delivered"`
	Seconds   float64 `json:"seconds"`    // from the first broadcast call to the last delivery
	PerSecond float64 `json:"per_second"` // Delivered / Seconds
	Latency   Latency `json:"latency"`    // from the sender's queue to the verified receipt
	// OpenSeconds is the time to open every client (until each has its welcome message).
	OpenSeconds float64 `json:"open_seconds"`
	// CPU seconds over the measurement: the server (gateway or baseline), the replica, the
	// bench process (load clients and driver).
	ServerCPU  float64 `json:"server_cpu_s"`
	ReplicaCPU float64 `json:"replica_cpu_s,omitempty"`
	LoadCPU    float64 `json:"load_cpu_s"`
	// ServerCPUPerMessage is ServerCPU per delivered message, in microseconds.
	ServerCPUPerMessage float64 `json:"server_cpu_us_per_msg"`
	// ServerRSS and ServerPeakRSS are the server's resident memory at the end and at most, MiB.
	ServerRSS     float64 `json:"server_rss_mib"`
	ServerPeakRSS float64 `json:"server_peak_rss_mib"`
	// Rounds is the number of replica rounds over the measurement (gateway runs only).
	Rounds uint64 `json:"rounds,omitempty"`
	// The gateway's polls over the measurement (from its metrics): how many, their mean
	// duration, messages per poll, and the mean frame size written to a client.
	Polls           int     `json:"polls,omitempty"`
	PollMillis      float64 `json:"poll_ms,omitempty"`
	MessagesPerPoll float64 `json:"messages_per_poll,omitempty"`
	FrameBytes      float64 `json:"frame_bytes,omitempty"`
}

// Ratio compares the gateway with the baseline: gateway figure / baseline figure.
type Ratio struct {
	Throughput    float64 `json:"throughput"`      // messages per second
	LatencyP50    float64 `json:"latency_p50"`     // median latency
	LatencyP99    float64 `json:"latency_p99"`     // 99th percentile latency
	CPUPerMessage float64 `json:"cpu_per_message"` // server CPU per delivered message
}

// UpstreamResult is one upstream run.
type UpstreamResult struct {
	Clients int     `json:"clients"` // clients sending
	Rate    float64 `json:"rate"`    // messages per second per client
	Offered float64 `json:"offered"` // Clients × Rate
	Sent    int64   `json:"sent"`    // messages the clients sent
	// Accepted is the number of messages the canister's on-message ran for; all of Sent.
	Accepted  uint64  `json:"accepted"`
	Seconds   float64 `json:"seconds"`    // from the first send to the last acceptance
	PerSecond float64 `json:"per_second"` // Accepted / Seconds
	// Latency is from the client's send to the start of the round that ran the message.
	Latency     Latency `json:"latency"`
	OpenSeconds float64 `json:"open_seconds"` // the time to open the clients
	// CPU seconds over the measurement: gateway, replica, bench process.
	GatewayCPU float64 `json:"gateway_cpu_s"`
	ReplicaCPU float64 `json:"replica_cpu_s"`
	LoadCPU    float64 `json:"load_cpu_s"`
	// GatewayCPUPerMessage is GatewayCPU per accepted message, in microseconds.
	GatewayCPUPerMessage float64 `json:"gateway_cpu_us_per_msg"`
	GatewayRSS           float64 `json:"gateway_rss_mib"` // at the end, MiB
	// Rounds is the number of replica rounds over the measurement; CallsPerRound the accepted
	// messages per round.
	Rounds        uint64  `json:"rounds"`
	CallsPerRound float64 `json:"calls_per_round"`
	// CallMillis is the mean duration of the gateway's ws_message calls (from its metrics).
	CallMillis float64 `json:"ws_message_ms"`
}

// IdleResult is the idle run.
type IdleResult struct {
	Conns   int `json:"conns"`   // connections opened and held
	Sources int `json:"sources"` // loopback source addresses used
	// OpenSeconds is the time to open them all; OpenPerSecond the rate.
	OpenSeconds   float64 `json:"open_seconds"`
	OpenPerSecond float64 `json:"open_per_second"`
	// OpenLatency is the time one connection took to open (dial to welcome message).
	OpenLatency Latency `json:"open_latency"`
	HoldSeconds float64 `json:"hold_seconds"` // how long they were held
	// Gateway memory: RSS before any client, with every connection open (after the hold), and
	// the difference per connection; the Go heap in use likewise; goroutines per connection.
	GatewayRSSEmpty   float64 `json:"gateway_rss_empty_mib"`
	GatewayRSSOpen    float64 `json:"gateway_rss_open_mib"`
	RSSPerConn        float64 `json:"rss_per_conn_kib"`
	HeapPerConn       float64 `json:"heap_per_conn_kib"`
	GoroutinesPerConn float64 `json:"goroutines_per_conn"`
	// CPU seconds: the gateway's while opening and while holding, the replica's while opening,
	// and the gateway's per open in milliseconds.
	GatewayCPUOpen      float64 `json:"gateway_cpu_open_s"`
	GatewayCPUHold      float64 `json:"gateway_cpu_hold_s"`
	ReplicaCPUOpen      float64 `json:"replica_cpu_open_s"`
	GatewayCPUPerOpenMS float64 `json:"gateway_cpu_ms_per_open"`
}

// machine describes this machine.
func machine() Machine {
	m := Machine{CPUs: runtime.NumCPU(), Go: runtime.Version(), FileLimit: raiseFileLimit()}
	if f, err := os.Open("/proc/cpuinfo"); err == nil {
		sc := bufio.NewScanner(f)
		for sc.Scan() {
			if k, v, ok := strings.Cut(sc.Text(), ":"); ok && strings.TrimSpace(k) == "model name" {
				m.CPU = strings.TrimSpace(v)
				break
			}
		}
		f.Close()
	}
	if b, err := os.ReadFile("/proc/meminfo"); err == nil {
		var kb uint64
		if _, err := fmt.Sscanf(string(b), "MemTotal: %d kB", &kb); err == nil {
			m.MemoryMiB = kb >> 10
		}
	}
	if b, err := os.ReadFile("/proc/loadavg"); err == nil {
		_, _ = fmt.Sscanf(string(b), "%f", &m.LoadAverage)
	}
	if b, err := os.ReadFile("/proc/sys/kernel/osrelease"); err == nil {
		m.Kernel = "Linux " + strings.TrimSpace(string(b))
	}
	return m
}

// percentiles summarizes durations (it sorts them).
func percentiles(d []time.Duration) Latency {
	if len(d) == 0 {
		return Latency{}
	}
	slices.Sort(d)
	at := func(p float64) float64 {
		i := int(p*float64(len(d))+0.5) - 1 // nearest rank
		return ms(d[min(max(i, 0), len(d)-1)])
	}
	return Latency{P50: at(0.50), P95: at(0.95), P99: at(0.99), Max: ms(d[len(d)-1])}
}

func ms(d time.Duration) float64 { return round(float64(d)/1e6, 2) }

func mib(b uint64) float64 { return round(float64(b)/(1<<20), 1) }

// round rounds v to the given decimals.
func round(v float64, decimals int) float64 {
	p := 1.0
	for range decimals {
		p *= 10
	}
	if v < 0 {
		return -float64(int64(-v*p+0.5)) / p
	}
	return float64(int64(v*p+0.5)) / p
}

// ratio returns a/b to three significant digits, or 0 if b is 0. Significant digits, not
// decimals: a throughput ratio of 0.0049 (a poll-bound gateway against the bare baseline) must not
// read as 0.
func ratio(a, b float64) float64 {
	if b == 0 {
		return 0
	}
	r, err := strconv.ParseFloat(strconv.FormatFloat(a/b, 'g', 3, 64), 64)
	if err != nil {
		return a / b
	}
	return r
}

// WriteJSON writes the report as indented JSON.
func (r *Report) WriteJSON(w io.Writer) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(r)
}

// WriteTable writes the report as text tables.
func (r *Report) WriteTable(w io.Writer) error {
	bw := bufio.NewWriter(w)
	fmt.Fprintf(bw, "icws bench %s — %s, %d CPUs, %d MiB, %s, %s, load average %.2f at start\n",
		r.Scenario, r.Machine.CPU, r.Machine.CPUs, r.Machine.MemoryMiB, r.Machine.Kernel, r.Machine.Go, r.Machine.LoadAverage)
	if r.Verify != "" {
		fmt.Fprintf(bw, "verify mode: %s\n", r.Verify.Describe())
	}
	fmt.Fprintf(bw, "payload %d bytes", r.Settings.Size)
	if r.Settings.Rate > 0 {
		unit := "broadcasts/s"
		if r.Scenario == ScenarioUpstream {
			unit = "msg/s per client"
		}
		fmt.Fprintf(bw, ", rate %g %s", r.Settings.Rate, unit)
	}
	fmt.Fprintln(bw)
	tw := tabwriter.NewWriter(bw, 0, 0, 2, ' ', tabwriter.AlignRight)
	var goals []string // issue 15's goals, printed under the tables
	switch {
	case len(r.Fanout) > 0:
		fmt.Fprintln(tw, "clients\tserver\tmsgs\tmsg/s\tp50 ms\tp95 ms\tp99 ms\tserver CPU s\tµs CPU/msg\treplica CPU s\tload CPU s\tserver RSS MiB\topen s\t")
		for _, row := range r.Fanout {
			for _, f := range []*FanoutResult{row.Gateway, row.Channel, row.Baseline, row.Centrifugo} {
				if f == nil {
					continue
				}
				rep := "-"
				if f.Server == "gateway" || f.Server == "channel" {
					rep = fmt.Sprintf("%.2f", f.ReplicaCPU)
				}
				fmt.Fprintf(tw, "%d\t%s\t%d\t%.0f\t%.1f\t%.1f\t%.1f\t%.2f\t%.1f\t%s\t%.2f\t%.1f\t%.1f\t\n",
					f.Clients, f.Server, f.Delivered, f.PerSecond, f.Latency.P50, f.Latency.P95, f.Latency.P99,
					f.ServerCPU, f.ServerCPUPerMessage, rep, f.LoadCPU, f.ServerRSS, f.OpenSeconds)
			}
			if row.Ratio != nil {
				fmt.Fprintf(tw, "%d\tgateway/baseline\t\t%.3g×\t%.1f×\t\t%.1f×\t\t%.1f×\t\t\t\t\t\n",
					row.Clients, row.Ratio.Throughput, row.Ratio.LatencyP50, row.Ratio.LatencyP99, row.Ratio.CPUPerMessage)
			}
			if r := row.ChannelRatio; r != nil {
				fmt.Fprintf(tw, "%d\tchannel/baseline\t\t%.3g×\t%.1f×\t\t%.1f×\t\t%.1f×\t\t\t\t\t\n",
					row.Clients, r.Throughput, r.LatencyP50, r.LatencyP99, r.CPUPerMessage)
			}
		}
		for _, row := range r.Fanout {
			goals = append(goals, row.Goals...)
		}
	case len(r.Upstream) > 0:
		fmt.Fprintln(tw, "clients\toffered msg/s\taccepted\tmsg/s\tp50 ms\tp95 ms\tp99 ms\tgateway CPU s\tµs CPU/msg\treplica CPU s\tload CPU s\tgateway RSS MiB\topen s\t")
		for _, u := range r.Upstream {
			fmt.Fprintf(tw, "%d\t%.0f\t%d\t%.0f\t%.1f\t%.1f\t%.1f\t%.2f\t%.0f\t%.2f\t%.2f\t%.1f\t%.1f\t\n",
				u.Clients, u.Offered, u.Accepted, u.PerSecond, u.Latency.P50, u.Latency.P95, u.Latency.P99,
				u.GatewayCPU, u.GatewayCPUPerMessage, u.ReplicaCPU, u.LoadCPU, u.GatewayRSS, u.OpenSeconds)
		}
	case r.Idle != nil:
		i := r.Idle
		fmt.Fprintln(tw, "conns\tsources\topen s\topen/s\topen p50 ms\topen p99 ms\tRSS empty MiB\tRSS open MiB\tRSS/conn KiB\theap/conn KiB\tgoroutines/conn\tgateway CPU ms/open\thold CPU s\t")
		fmt.Fprintf(tw, "%d\t%d\t%.1f\t%.0f\t%.1f\t%.1f\t%.1f\t%.1f\t%.1f\t%.1f\t%.2f\t%.2f\t%.2f\t\n",
			i.Conns, i.Sources, i.OpenSeconds, i.OpenPerSecond, i.OpenLatency.P50, i.OpenLatency.P99,
			i.GatewayRSSEmpty, i.GatewayRSSOpen, i.RSSPerConn, i.HeapPerConn, i.GoroutinesPerConn, i.GatewayCPUPerOpenMS, i.GatewayCPUHold)
		goals = append(goals, idleGoal(i))
	}
	if len(r.Failover) > 0 {
		fmt.Fprintln(tw, "clients\tmessages\tmode\tdelivered\tlost\tduplicated\tout of order\tfailed clients\tattempts\tfailed attempts\tp50 ms\tp99 ms\tseconds\t")
		for _, f := range r.Failover {
			mode := f.Scenario
			switch {
			case f.Graceful:
				mode = "graceful"
			case f.Scenario == ScenarioFailover:
				mode = "kill -9"
			}
			fmt.Fprintf(tw, "%d\t%d\t%s\t%d\t%d\t%d\t%d\t%d\t%d\t%d\t%.1f\t%.1f\t%.1f\t\n", f.Clients, f.Messages, mode, f.Delivered,
				f.Lost, f.Duplicated, f.OutOfOrder, f.FailedClients, f.Attempts, f.FailedAttempts, f.Latency.P50, f.Latency.P99, f.Seconds)
		}
		fmt.Fprintln(tw, "\nfault\tat broadcast\texit ms\tpaused s\trestart s\tpoll errors\trecovered\treconnect p50 ms\treconnect p99 ms\trecovery p50 ms\trecovery p99 ms\trecovery max ms\t")
		for _, f := range r.Failover {
			for _, ft := range f.Faults {
				fmt.Fprintf(tw, "%s\t%d\t%.0f\t%.2f\t%.2f\t%.0f\t%d/%d\t%.0f\t%.0f\t%.0f\t%.0f\t%.0f\t\n", ft.Fault, ft.AtBroadcast, ft.ExitMillis, ft.PausedSeconds, ft.RestartSeconds, ft.PollErrors,
					ft.Recovered, f.Clients, ft.Reconnect.P50, ft.Reconnect.P99, ft.Recovery.P50, ft.Recovery.P99, ft.Recovery.Max)
			}
			if f.FirstError != "" {
				fmt.Fprintf(tw, "first failure: %s\t\n", f.FirstError)
			}
		}
	}
	for _, s := range r.Soak {
		fmt.Fprintln(tw, "clients\tseconds\tsend every s\tbroadcasts/s offered\tachieved\tbroadcasts\tdelivered\tlost\tduplicated\tout of order\tsent\taccepted\tupstream lost\tupstream dup\tp50 ms\tp99 ms\t")
		fmt.Fprintf(tw, "%d\t%.0f\t%g\t%g\t%.2f\t%d\t%d\t%d\t%d\t%d\t%d\t%d\t%d\t%d\t%.1f\t%.1f\t\n", s.Clients, s.Seconds, s.SendEvery, s.Rate, s.BroadcastRate, s.Broadcasts,
			s.Delivered, s.Lost, s.Duplicated, s.OutOfOrder, s.Sent, s.Accepted, s.UpstreamLost, s.UpstreamDuplicated, s.Latency.P50, s.Latency.P99)
		fmt.Fprintln(tw, "\nat s\tgateway RSS MiB\theap MiB\tgoroutines\tdelivered in interval\tinterval p99 ms\t")
		for _, v := range s.Samples {
			fmt.Fprintf(tw, "%.0f\t%.1f\t%.1f\t%d\t%d\t%.1f\t\n", v.At, v.RSS, v.HeapInuse, v.Goroutines, v.Delivered, v.P99)
		}
		verdict := "no growth"
		if !s.NoGrowth {
			verdict = "GROWTH"
		}
		fmt.Fprintf(tw, "%s over the second half: RSS last/first %.2f×, slope %.2f MiB/min; goroutines %+d\t\n", verdict, s.RSSGrowth, s.RSSSlope, s.GoroutineGrowth)
	}
	if rr := r.Relay; rr != nil {
		fmt.Fprintf(tw, "heartbeat %.0f ms; client HeartbeatTimeout %.0f ms, MaxMessageAge %.0f ms, AckTimeout %.0f ms\t\n", rr.HeartbeatMs, rr.HeartbeatTimeoutMs, rr.MaxMessageAgeMs, rr.AckTimeoutMs)
		fmt.Fprintln(tw, "relay\tdetected\tfrom\tdetection ms\tslowest / heartbeat\t")
		for _, x := range rr.Relays {
			fmt.Fprintf(tw, "%s\t%d/%d\t%s\t%v\t%.2f\t\n", x.Relay, x.Detected, x.Trials, x.From, x.Detection, x.Ratio)
		}
	}
	if a := r.Abuse; a != nil {
		fmt.Fprintln(tw, "good client\tround trips\tp50 ms\tp99 ms\tmax ms\t")
		fmt.Fprintf(tw, "quiet\t%d\t%.1f\t%.1f\t%.1f\t\n", a.QuietTrips, a.Quiet.P50, a.Quiet.P99, a.Quiet.Max)
		fmt.Fprintf(tw, "under abuse\t%d\t%.1f\t%.1f\t%.1f\t\n", a.AbuseTrips, a.UnderAbuse.P50, a.UnderAbuse.P99, a.UnderAbuse.Max)
		fmt.Fprintf(tw, "ratio\t\t%.2f×\t%.2f×\t\t\n", a.RatioP50, a.RatioP99)
		fmt.Fprintf(tw, "in Send, quiet\t\t%.1f\t%.1f\t%.1f\t\n", a.QuietSend.P50, a.QuietSend.P99, a.QuietSend.Max)
		fmt.Fprintf(tw, "in Send, under abuse\t\t%.1f\t%.1f\t%.1f\t\n", a.UnderAbuseSend.P50, a.UnderAbuseSend.P99, a.UnderAbuseSend.Max)
		fmt.Fprintf(tw, "gateway's calls, quiet\tws_message %d × %.2f ms, ws_get_messages %d × %.2f ms (means)\t\t\t\t\n", a.QuietCalls.Messages, a.QuietCalls.MessageMs, a.QuietCalls.Polls, a.QuietCalls.PollMs)
		fmt.Fprintf(tw, "gateway's calls, under abuse\tws_message %d × %.2f ms, ws_get_messages %d × %.2f ms (means)\t\t\t\t\n", a.UnderAbuseCalls.Messages, a.UnderAbuseCalls.MessageMs, a.UnderAbuseCalls.Polls, a.UnderAbuseCalls.PollMs)
		fmt.Fprintf(tw, "lost %d, duplicated %d\t\t\t\t\t\n", a.Lost, a.Duplicated)
		fmt.Fprintln(tw, "\ngateway\tbefore\tpeak\tafter\t")
		fmt.Fprintf(tw, "RSS MiB\t%.1f\t%.1f\t%.1f (%.1f once the free heap is returned to the OS)\t\n", a.RSSBefore, a.RSSPeak, a.RSSAfter, a.RSSAfterFree)
		fmt.Fprintf(tw, "heap MiB\t%.1f\t\t%.1f\t\n", a.HeapBefore, a.HeapAfter)
		fmt.Fprintf(tw, "goroutines\t%d\t%d\t%d\t\n", a.GoroutinesBefore, a.GoroutinesPeak, a.GoroutinesAfter)
		fmt.Fprintf(tw, "settled %v in %.1f s\t\t\t\t\n", a.Settled, a.SettleSeconds)
		fmt.Fprintln(tw, "\nattack\tconns\tfailed\toutcomes\tclosed p50 ms\tclosed p99 ms\tseconds\tgood trips\tgood p50 ms\tgood p99 ms\tnote\t")
		for _, at := range a.Attacks {
			keys := make([]string, 0, len(at.Outcomes))
			for k := range at.Outcomes {
				keys = append(keys, k)
			}
			slices.Sort(keys)
			var oc []string
			for _, k := range keys {
				oc = append(oc, fmt.Sprintf("%s ×%d", k, at.Outcomes[k]))
			}
			fmt.Fprintf(tw, "%s\t%d\t%d\t%s\t%.0f\t%.0f\t%.1f\t%d\t%.1f\t%.1f\t%s\t\n", at.Attack, at.Conns, at.Failed, strings.Join(oc, ", "), at.Closed.P50, at.Closed.P99, at.Seconds, at.RoundTrips, at.RoundTrip.P50, at.RoundTrip.P99, at.Note)
		}
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	for _, g := range goals {
		fmt.Fprintf(bw, "goal: %s\n", g)
	}
	fmt.Fprintf(bw, "took %.1f s\n", r.Seconds)
	return bw.Flush()
}
