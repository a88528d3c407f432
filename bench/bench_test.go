package bench

import (
	"bytes"
	"context"
	"encoding/json"
	"math"
	"os"
	"os/exec"
	"os/signal"
	"strings"
	"syscall"
	"testing"
	"time"
)

// serveEnv makes the test binary run Serve instead of the tests: the server processes of the
// smoke tests are the test binary itself.
const serveEnv = "ICWS_BENCH_TEST_SERVE"

func TestMain(m *testing.M) {
	if os.Getenv(serveEnv) == "1" {
		ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
		err := Serve(ctx, os.Args[1:], os.Stdin, os.Stdout)
		stop()
		if err != nil {
			os.Stderr.WriteString(err.Error() + "\n")
			os.Exit(1)
		}
		os.Exit(0)
	}
	os.Exit(m.Run())
}

func testLauncher(args ...string) *exec.Cmd {
	cmd := exec.Command(os.Args[0], args...)
	cmd.Env = append(os.Environ(), serveEnv+"=1")
	return cmd
}

func runScenario(t *testing.T, scenario string, o Options) *Report {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	o.Launcher = testLauncher
	o.RunTimeout = 60 * time.Second
	var progress bytes.Buffer
	o.Progress = &progress
	r, err := Run(ctx, scenario, o)
	if err != nil {
		t.Fatalf("%s: %v\nprogress:\n%s", scenario, err, progress.String())
	}
	var table, js bytes.Buffer
	if err := r.WriteTable(&table); err != nil {
		t.Fatal(err)
	}
	if err := r.WriteJSON(&js); err != nil {
		t.Fatal(err)
	}
	var back Report
	if err := json.Unmarshal(js.Bytes(), &back); err != nil || back.Scenario != scenario {
		t.Fatalf("the JSON report does not read back: %v\n%s", err, js.String())
	}
	t.Logf("%s", table.String())
	return r
}

// checkFanout checks that a fan-out run delivered and verified every message.
func checkFanout(t *testing.T, f *FanoutResult, server string, clients, broadcasts int) {
	t.Helper()
	if f == nil {
		t.Fatalf("no %s run", server)
	}
	if f.Server != server || f.Clients != clients || f.Broadcasts != broadcasts {
		t.Errorf("%s run: server %q, %d clients, %d broadcasts; want %q, %d, %d", server, f.Server, f.Clients, f.Broadcasts, server, clients, broadcasts)
	}
	if want := int64(clients * broadcasts); f.Delivered != want {
		t.Errorf("%s run: %d messages delivered and verified, want %d", server, f.Delivered, want)
	}
	if f.Calls < 1 || f.PerSecond <= 0 || f.Latency.P50 <= 0 || f.Latency.P99 < f.Latency.P50 || f.ServerRSS <= 0 {
		t.Errorf("%s run: implausible figures %+v", server, f)
	}
}

func TestFanoutSmoke(t *testing.T) {
	for _, mode := range []VerifyMode{VerifyFull, VerifySharedCache} {
		t.Run(string(mode), func(t *testing.T) {
			r := runScenario(t, ScenarioFanout, Options{Clients: []int{3}, Messages: 7, Window: 2, Size: 40, Verify: mode})
			if r.Verify != mode || !strings.HasPrefix(r.VerifyDetail, string(mode)) {
				t.Errorf("report verify mode %q (%q), want %q", r.Verify, r.VerifyDetail, mode)
			}
			if len(r.Fanout) != 1 {
				t.Fatalf("%d fanout rows, want 1", len(r.Fanout))
			}
			row := r.Fanout[0]
			checkFanout(t, row.Gateway, "gateway", 3, 7)
			checkFanout(t, row.Baseline, "baseline", 3, 7)
			// The ratio is a timing: only its presence, sign and agreement with the figures it
			// comes from are asserted, never its size.
			if row.Ratio == nil {
				t.Fatal("no ratio gateway/baseline")
			}
			want := row.Gateway.PerSecond / row.Baseline.PerSecond
			if got := row.Ratio.Throughput; got <= 0 || math.Abs(got-want) > want/100 {
				t.Errorf("throughput ratio %v, want %.4g (%v / %v msg/s) to three digits", got, want, row.Gateway.PerSecond, row.Baseline.PerSecond)
			}
			t.Logf("throughput gateway/baseline %v (%v / %v msg/s)", row.Ratio.Throughput, row.Gateway.PerSecond, row.Baseline.PerSecond)
			if g := row.Gateway; g.Polls == 0 || g.Rounds == 0 || g.FrameBytes <= 40 {
				t.Errorf("gateway metrics missing: %d polls, %d rounds, %v bytes per frame", g.Polls, g.Rounds, g.FrameBytes)
			}
		})
	}
}

// TestFanoutChannelSmoke runs the fan-out through a certified channel beside the per-client run
// and the baseline: every client receives every published message, verified and in order, with
// the SDK's clients (full) and with the lean clients' shared cache.
func TestFanoutChannelSmoke(t *testing.T) {
	for _, verify := range []VerifyMode{VerifyFull, VerifySharedCache} {
		t.Run(string(verify), func(t *testing.T) { testFanoutChannelSmoke(t, verify) })
	}
}

func testFanoutChannelSmoke(t *testing.T, verify VerifyMode) {
	r := runScenario(t, ScenarioFanout, Options{Clients: []int{3}, Messages: 9, Window: 4, Size: 40, Channel: true, Verify: verify})
	if len(r.Fanout) != 1 {
		t.Fatalf("%d fanout rows, want 1", len(r.Fanout))
	}
	row := r.Fanout[0]
	checkFanout(t, row.Gateway, "gateway", 3, 9)
	checkFanout(t, row.Channel, "channel", 3, 9)
	checkFanout(t, row.Baseline, "baseline", 3, 9)
	if row.Ratio == nil || row.ChannelRatio == nil {
		t.Fatalf("ratios %v, %v; want both", row.Ratio, row.ChannelRatio)
	}
	want := row.Channel.PerSecond / row.Baseline.PerSecond
	if got := row.ChannelRatio.Throughput; got <= 0 || math.Abs(got-want) > want/100 {
		t.Errorf("channel throughput ratio %v, want %.4g to three digits", got, want)
	}
	if g := row.Channel; g.Polls == 0 || g.Rounds == 0 {
		t.Errorf("channel run's gateway metrics missing: %d polls, %d rounds", g.Polls, g.Rounds)
	}
	// Two goal lines (throughput, latency) per gateway mode, each with a verdict.
	if len(row.Goals) != 4 {
		t.Fatalf("goals %q, want 4", row.Goals)
	}
	for _, g := range row.Goals {
		if !strings.Contains(g, "goal") || !(strings.HasSuffix(g, ": met)") || strings.HasSuffix(g, ": NOT met)")) {
			t.Errorf("goal line %q has no goal and verdict", g)
		}
	}
}

func TestFanoutAtRate(t *testing.T) {
	r := runScenario(t, ScenarioFanout, Options{Clients: []int{2}, Messages: 6, Rate: 20, NoBaseline: true})
	if r.Fanout[0].Baseline != nil || r.Fanout[0].Ratio != nil {
		t.Error("NoBaseline ran the baseline")
	}
	g := r.Fanout[0].Gateway
	checkFanout(t, g, "gateway", 2, 6)
	// 6 broadcasts at 20/s: the last one is due 250ms after the first.
	if g.Seconds < 0.25 {
		t.Errorf("6 broadcasts at 20/s took %vs", g.Seconds)
	}
}

func TestBaselineSmoke(t *testing.T) {
	r := runScenario(t, ScenarioBaseline, Options{Clients: []int{4, 2}, Messages: 5})
	if r.Verify != "" || len(r.Fanout) != 2 {
		t.Fatalf("baseline report: verify %q, %d rows", r.Verify, len(r.Fanout))
	}
	checkFanout(t, r.Fanout[0].Baseline, "baseline", 4, 5)
	checkFanout(t, r.Fanout[1].Baseline, "baseline", 2, 5)
	if r.Fanout[0].Gateway != nil {
		t.Error("the baseline scenario ran the gateway")
	}
}

// TestUpstreamSmoke sends 40 messages per client, more than the window of
// protocol.MaxPendingFrames: a client that does not pace by the canister's acknowledgements
// (the lean client of shared-cache before it opted in) overruns the gateway's backlog when the
// calls are slow, and one that waits for acknowledgements it never asked for stalls.
func TestUpstreamSmoke(t *testing.T) {
	for _, mode := range []VerifyMode{VerifyFull, VerifySharedCache} {
		t.Run(string(mode), func(t *testing.T) {
			r := runScenario(t, ScenarioUpstream, Options{Clients: []int{3}, Rate: 20, Duration: 2 * time.Second, Verify: mode})
			if len(r.Upstream) != 1 {
				t.Fatalf("%d upstream rows", len(r.Upstream))
			}
			u := r.Upstream[0]
			if u.Sent != 120 || u.Accepted != 120 {
				t.Errorf("sent %d, accepted %d; want 120 each (3 clients × 20/s × 2 s)", u.Sent, u.Accepted)
			}
			if u.Latency.P50 <= 0 || u.Rounds == 0 || u.CallMillis <= 0 {
				t.Errorf("implausible figures %+v", u)
			}
		})
	}
}

func TestIdleSmoke(t *testing.T) {
	r := runScenario(t, ScenarioIdle, Options{Conns: 12, Hold: 100 * time.Millisecond, Sources: 3, Verify: VerifySharedCache})
	i := r.Idle
	if i == nil || i.Conns != 12 || i.Sources != 3 {
		t.Fatalf("idle report %+v", i)
	}
	if i.OpenSeconds <= 0 || i.OpenLatency.P50 <= 0 || i.GatewayRSSOpen <= 0 {
		t.Errorf("implausible figures %+v", i)
	}
}

func TestOptions(t *testing.T) {
	if _, err := Run(context.Background(), ScenarioFanout, Options{}); err == nil {
		t.Error("Run without a launcher succeeded")
	}
	for _, o := range []Options{
		{Launcher: testLauncher, Size: 8},
		{Launcher: testLauncher, Clients: []int{0}},
		{Launcher: testLauncher, Verify: "some"},
		{Launcher: testLauncher, Rate: -1},
	} {
		if _, err := o.withDefaults(ScenarioFanout); err == nil {
			t.Errorf("options %+v accepted", o)
		}
	}
	if _, err := Run(context.Background(), "sideways", Options{Launcher: testLauncher}); err == nil {
		t.Error("an unknown scenario ran")
	}
	if _, err := Run(context.Background(), ScenarioUpstream, Options{Launcher: testLauncher, Rate: 1, Duration: 500 * time.Millisecond}); err == nil {
		t.Error("an upstream run of less than one message per client ran")
	}
	o, err := Options{Launcher: testLauncher}.withDefaults(ScenarioUpstream)
	if err != nil || o.Rate != DefaultUpstreamRate || len(o.Clients) != 2 {
		t.Errorf("upstream defaults: %+v, %v", o, err)
	}
	for _, tc := range []struct{ clients, messages, window int }{
		{1, 200, 64}, {100, 200, 50}, {1000, 20, 5}, {5000, 5, 2}, {100000, 5, 2},
	} {
		if m, w := o.messages(tc.clients), o.window(tc.clients); m != tc.messages || w != tc.window {
			t.Errorf("%d clients: %d messages, window %d; want %d, %d", tc.clients, m, w, tc.messages, tc.window)
		}
	}
	if n := o.sources(25000); n != 3 {
		t.Errorf("25000 connections from %d addresses, want 3", n)
	}
}

func TestPercentiles(t *testing.T) {
	var d []time.Duration
	for i := 100; i >= 1; i-- {
		d = append(d, time.Duration(i)*time.Millisecond)
	}
	got := percentiles(d)
	if got != (Latency{P50: 50, P95: 95, P99: 99, Max: 100}) {
		t.Errorf("percentiles of 1..100ms = %+v", got)
	}
	if (percentiles(nil) != Latency{}) {
		t.Error("percentiles of nothing are not zero")
	}
}

func TestReadUsage(t *testing.T) {
	u, err := readUsage(os.Getpid())
	if err != nil {
		t.Fatal(err)
	}
	if u.RSS == 0 || u.PeakRSS < u.RSS {
		t.Errorf("usage of this process: %+v", u)
	}
	if _, err := readUsage(-1); err == nil {
		t.Error("usage of pid -1")
	}
}

func TestServeRefusals(t *testing.T) {
	ctx := context.Background()
	for _, args := range [][]string{nil, {"juggler"}, {RoleGateway}, {RoleReplica, "--owner", "not a principal"}} {
		if err := Serve(ctx, args, strings.NewReader(""), &bytes.Buffer{}); err == nil {
			t.Errorf("Serve(%q) succeeded", args)
		}
	}
}

func TestServeControl(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	s, err := startServer(ctx, testLauncher, RoleBaseline)
	if err != nil {
		t.Fatal(err)
	}
	defer s.stop()
	if r, err := s.command(ctx, "stats"); err != nil || r.Goroutines == 0 || r.HeapInuse == 0 {
		t.Errorf("stats: %+v, %v", r, err)
	}
	for _, bad := range []string{"metrics", "stop-profile", "dance"} {
		if _, err := s.command(ctx, bad); err == nil {
			t.Errorf("command %q succeeded on the baseline server", bad)
		}
	}
	path := t.TempDir() + "/cpu.pprof"
	if _, err := s.command(ctx, "profile "+path); err != nil {
		t.Fatal(err)
	}
	if _, err := s.command(ctx, "stop-profile"); err != nil {
		t.Fatal(err)
	}
	if st, err := os.Stat(path); err != nil || st.Size() == 0 {
		t.Errorf("profile %s: %v", path, err)
	}
	if u, err := s.usage(); err != nil || u.RSS == 0 {
		t.Errorf("usage: %+v, %v", u, err)
	}
	s.stop()
	select {
	case <-s.waited:
	default:
		t.Error("the process outlived stop")
	}
}

// checkFailover checks that every client got every broadcast once, in order, and recovered from
// every fault.
func checkFailover(t *testing.T, r *Report, clients, messages, faults int) {
	t.Helper()
	if len(r.Failover) != 1 {
		t.Fatalf("%d failover rows, want 1", len(r.Failover))
	}
	f := r.Failover[0]
	t.Logf("%+v", f)
	if f.Lost != 0 || f.Duplicated != 0 || f.OutOfOrder != 0 || f.FailedClients != 0 {
		t.Errorf("lost %d, duplicated %d, out of order %d, failed clients %d (%s); want 0 each", f.Lost, f.Duplicated, f.OutOfOrder, f.FailedClients, f.FirstError)
	}
	if want := int64(clients * messages); f.Delivered != want {
		t.Errorf("%d messages delivered, want %d", f.Delivered, want)
	}
	if len(f.Faults) != faults {
		t.Fatalf("%d faults, want %d", len(f.Faults), faults)
	}
	moves := f.Scenario == ScenarioFailover // the clients change gateways
	for _, ft := range f.Faults {
		if moves && (ft.Reconnect.P50 <= 0 || ft.Reconnect.P50 > ft.Recovery.P50) {
			t.Errorf("fault %q: reconnect %+v, recovery %+v", ft.Fault, ft.Reconnect, ft.Recovery)
		}
		if ft.Recovered != clients || ft.Recovery.P50 <= 0 || ft.Recovery.P99 < ft.Recovery.P50 || ft.AtBroadcast <= 0 || ft.AtBroadcast >= messages {
			t.Errorf("fault %q: %d of %d clients recovered, recovery %+v, at broadcast %d of %d", ft.Fault, ft.Recovered, clients, ft.Recovery, ft.AtBroadcast, messages)
		}
	}
	if moves && f.Attempts < int64(clients*faults) {
		t.Errorf("%d reconnection attempts for %d clients and %d faults", f.Attempts, clients, faults)
	}
}

// TestFailoverSmoke kills gateway A (SIGKILL, by its pid) while 4 clients receive a stream of 40
// broadcasts; they must fail over to B with nothing lost or repeated.
func TestFailoverSmoke(t *testing.T) {
	r := runScenario(t, ScenarioFailover, Options{Clients: []int{4}, Messages: 40})
	checkFailover(t, r, 4, 40, 1)
}

// TestFailoverGracefulSmoke is the rolling restart: A stops gracefully (1001, ws_close for
// every client), restarts on its address, then B stops; the clients go to B and back to A.
func TestFailoverGracefulSmoke(t *testing.T) {
	r := runScenario(t, ScenarioFailover, Options{Clients: []int{4}, Messages: 40, Graceful: true})
	checkFailover(t, r, 4, 40, 2)
}

// TestOutageSmoke stops the replica (SIGSTOP) for 2 s mid-stream: the gateway's polls wait (or
// are retried) and the stream goes on once the replica continues; nothing is lost or repeated.
func TestOutageSmoke(t *testing.T) {
	r := runScenario(t, ScenarioOutage, Options{Clients: []int{4}, Messages: 40, Outage: 2 * time.Second})
	checkFailover(t, r, 4, 40, 1)
	if ft := r.Failover[0].Faults[0]; ft.PausedSeconds < 2 || ft.Recovery.P50 <= 0 {
		t.Errorf("paused %vs, recovery %+v; want at least 2 s and a recovery", ft.PausedSeconds, ft.Recovery)
	}
}

// TestRestartSmoke kills the replica (SIGKILL) mid-stream and restarts it from its state dir:
// canister, clients and queues survive, and the stream goes on with nothing lost or repeated.
func TestRestartSmoke(t *testing.T) {
	r := runScenario(t, ScenarioRestart, Options{Clients: []int{4}, Messages: 40})
	checkFailover(t, r, 4, 40, 1)
	if ft := r.Failover[0].Faults[0]; ft.RestartSeconds <= 0 {
		t.Errorf("restart took %vs", ft.RestartSeconds)
	}
}
