package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"

	"github.com/icws/icws/bench"
)

// runBench is `icws bench <scenario> [flags]`: it measures the gateway (fanout, upstream, idle)
// and the baseline broadcast server, printing a progress line on stderr and a summary table (or
// JSON) on stdout. `icws bench serve ROLE` is internal: the bench starts its replica, gateway,
// baseline and attacker processes that way.
func runBench(ctx context.Context, args []string, stdout io.Writer) error {
	if len(args) > 0 && args[0] == "serve" {
		return bench.Serve(ctx, args[1:], os.Stdin, stdout)
	}
	fs := flag.NewFlagSet("icws bench", flag.ContinueOnError)
	fs.SetOutput(os.Stderr)
	var (
		o       bench.Options
		clients = fs.String("clients", "", "comma-separated client counts, one run each (default: fanout and baseline 100,1000,5000; upstream 100,1000; failover, outage, restart 100; soak 1000)")
		verify  = fs.String("verify", string(bench.VerifyFull), "how the load clients check messages: full (each client verifies everything) or shared-cache (certificates verified once for all clients)")
		asJSON  = fs.Bool("json", false, "print the report as JSON")
		quiet   = fs.Bool("quiet", false, "no progress line")
	)
	fs.IntVar(&o.Messages, "messages", 0, "fanout, baseline: broadcasts each client receives (default: 20000/clients, within 5..200); failover: default 1000")
	fs.Float64Var(&o.Rate, "rate", 0, "fanout, baseline: broadcasts per second (default: as fast as the window allows); upstream: messages per second per client (default 0.5); soak: broadcasts per second to every client (default 1)")
	fs.IntVar(&o.Window, "window", 0, "fanout, baseline: most broadcasts in flight (default: 5000/clients, within 2..64)")
	fs.DurationVar(&o.Duration, "duration", 0, "upstream: how long the clients send (default 15s); soak: how long the soak runs (default 10m)")
	fs.Float64Var(&o.AbuseScale, "abuse-scale", 0, "abuse: shrink the attacks by this factor in (0, 1) (default: the full 1000 scans, 2000 handshakes, 100 slowloris, 100 oversized and 100 text frames, 20000 pings)")
	fs.DurationVar(&o.SendEvery, "send-every", 0, "soak: how often each client sends (default 5s)")
	fs.DurationVar(&o.SampleEvery, "sample-every", 0, "soak: how often the gateway's RSS, goroutines and the interval's p99 are sampled (default 1m)")
	fs.IntVar(&o.Size, "size", bench.DefaultSize, "application payload in bytes")
	fs.BoolVar(&o.SingleFrames, "single-frames", false, "load clients ask for one S6 frame per message, not S9 batched frames (docs/PROTOCOL.md §13)")
	fs.IntVar(&o.Conns, "conns", bench.DefaultConns, "idle: connections to open")
	fs.DurationVar(&o.Hold, "hold", bench.DefaultHold, "idle: how long to hold them open")
	fs.IntVar(&o.Sources, "sources", 0, "loopback source addresses 127.0.0.1, .2, … (default: one per 10000 connections)")
	fs.IntVar(&o.Dialers, "dialers", bench.DefaultDialers, "connections opened at once")
	fs.BoolVar(&o.Channel, "channel", false, "fanout: also fan out through a certified channel (the canister publishes each message once; the gateway polls the channel once), beside the per-client run and the baseline")
	fs.StringVar(&o.Centrifugo, "centrifugo", "", "fanout: also broadcast through the Centrifugo v6 binary at this path, started on loopback (docs/BENCHMARKS.md: build it apart)")
	fs.BoolVar(&o.NoBaseline, "no-baseline", false, "fanout: skip the baseline runs and the ratios")
	fs.DurationVar(&o.Outage, "outage", bench.DefaultOutage, "outage: how long the replica stays stopped")
	fs.BoolVar(&o.Graceful, "graceful", false, "failover: SIGTERM gateway A (1001, ws_close), restart it, then SIGTERM B (a rolling restart) instead of kill -9 A")
	fs.DurationVar(&o.HeartbeatInterval, "heartbeat", 0, "the load canister's heartbeat interval (default 30s; relay: 2s)")
	fs.IntVar(&o.Trials, "trials", 0, "relay: runs of each malicious relay (default 3)")
	fs.DurationVar(&o.RoundTime, "round-time", 0, "replica: time between rounds (default 0: a round as soon as work is queued; 1s imitates mainnet)")
	fs.DurationVar(&o.PollInterval, "poll-interval", 0, "gateway: wait between polls of a canister whose last batch was not full (default: the gateway's, 100ms)")
	fs.IntVar(&o.SendQueue, "send-queue", 0, "gateway and baseline: messages queued per client (default: the gateway's, 256)")
	fs.StringVar(&o.ProfileDir, "profile", "", "directory for CPU profiles of the gateway, the replica and the load over each measurement")
	fs.DurationVar(&o.RunTimeout, "timeout", 0, "bound of each run (one client count; default 110s; idle: 110s + 10ms per connection; soak: --duration + 3m)")
	fs.Usage = func() {
		out := fs.Output()
		fmt.Fprintln(out, "Usage: icws bench <scenario> [flags]")
		fmt.Fprintln(out, "\nMeasure the gateway on this machine; every figure is checked against a baseline in the same run.")
		fmt.Fprintln(out, "\nScenarios:")
		fmt.Fprintln(out, "  fanout    C clients; the canister broadcasts to all of them: messages/s, latency, gateway CPU and RSS,")
		fmt.Fprintln(out, "            and the same fan-out through the baseline server (ratio gateway/baseline)")
		fmt.Fprintln(out, "  upstream  C clients each sending at --rate: messages/s accepted by the canister, latency to on-message")
		fmt.Fprintln(out, "  idle      --conns connections held open: gateway RSS per connection, time to open them")
		fmt.Fprintln(out, "  baseline  the fan-out through a bare gorilla/websocket broadcast server, no IC")
		fmt.Fprintln(out, "  failover  C clients receive --messages broadcasts through gateway A (B second); A is killed (kill -9) mid-stream,")
		fmt.Fprintln(out, "            or with --graceful stopped (SIGTERM), restarted, then B stopped: lost, duplicated, time to recover")
		fmt.Fprintln(out, "  outage    the same stream; the replica is stopped (SIGSTOP) for --outage, then continued: lost, duplicated, recovery")
		fmt.Fprintln(out, "  restart   the same stream; the replica is killed (kill -9) and restarted from its --state-dir: lost, duplicated, recovery")
		fmt.Fprintln(out, "  soak      C clients for --duration through one gateway, each sending every --send-every and receiving --rate")
		fmt.Fprintln(out, "            broadcasts/s: lost, duplicated, out of order, gateway RSS and goroutines per --sample-every, p99 per interval")
		fmt.Fprintln(out, "  abuse     a good client's round trips, quiet and while the gateway is port-scanned, sent abandoned handshakes,")
		fmt.Fprintln(out, "            slowloris, oversized and text frames and a ping flood: p50/p99 ratio, gateway RSS before/peak/after")
		fmt.Fprintln(out, "  relay     a Go client through malicious relays (silent from the start, withhold the sixth reply then silent,")
		fmt.Fprintln(out, "            swallow a client message) and an honest one: time to detection, and its ratio to the heartbeat interval")
		fmt.Fprintln(out, "\nFlags:")
		fs.PrintDefaults()
	}
	if len(args) == 0 || strings.HasPrefix(args[0], "-") {
		if err := fs.Parse(args); err != nil {
			return err
		}
		fs.Usage()
		return errors.New("missing scenario (fanout, upstream, idle, baseline, failover, outage, restart, soak, abuse or relay)")
	}
	scenario := args[0]
	if err := fs.Parse(args[1:]); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("unexpected arguments %q", fs.Args())
	}
	known := false
	for _, s := range bench.Scenarios() {
		known = known || s == scenario
	}
	if !known {
		return fmt.Errorf("unknown scenario %q (want fanout, upstream, idle, baseline, failover, outage, restart, soak, abuse or relay)", scenario)
	}
	for _, s := range strings.Split(*clients, ",") {
		if s = strings.TrimSpace(s); s == "" {
			continue
		}
		n, err := strconv.Atoi(strings.ReplaceAll(s, "_", ""))
		if err != nil || n <= 0 {
			return fmt.Errorf("--clients: %q is not a positive number", s)
		}
		o.Clients = append(o.Clients, n)
	}
	mode, err := bench.ParseVerifyMode(*verify)
	if err != nil {
		return err
	}
	o.Verify = mode
	if o.Launcher, err = bench.SelfLauncher("bench", "serve"); err != nil {
		return err
	}
	if !*quiet {
		o.Progress = os.Stderr
		if scenario != bench.ScenarioBaseline {
			fmt.Fprintf(os.Stderr, "verify mode: %s\n", mode.Describe())
		}
	}
	r, err := bench.Run(ctx, scenario, o)
	if err != nil {
		return err
	}
	if *asJSON {
		return r.WriteJSON(stdout)
	}
	return r.WriteTable(stdout)
}
