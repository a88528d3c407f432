package bench

import (
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/icws/icws/bench/canister"
)

// Scenarios.
const (
	ScenarioFanout   = "fanout"
	ScenarioUpstream = "upstream"
	ScenarioIdle     = "idle"
	ScenarioBaseline = "baseline"
	ScenarioFailover = "failover"
	ScenarioOutage   = "outage"
	ScenarioRestart  = "restart"
	ScenarioSoak     = "soak"
	ScenarioAbuse    = "abuse"
	ScenarioRelay    = "relay"
)

// Scenarios lists the scenarios in the order `icws bench` documents them.
func Scenarios() []string {
	return []string{ScenarioFanout, ScenarioUpstream, ScenarioIdle, ScenarioBaseline, ScenarioFailover, ScenarioOutage, ScenarioRestart, ScenarioSoak, ScenarioAbuse, ScenarioRelay}
}

// Defaults of Options, chosen so that each scenario runs in well under two minutes on a 2-core
// machine.
const (
	DefaultSize         = 64
	DefaultUpstreamRate = 0.5
	DefaultDuration     = 15 * time.Second
	DefaultConns        = 10000
	DefaultHold         = 5 * time.Second
	DefaultDialers      = 32
	DefaultRunTimeout   = 110 * time.Second
	DefaultOutage       = 30 * time.Second
	// DefaultWindowMessages is the most messages in flight (sent, not yet at every client) in a
	// fan-out run, as broadcasts: DefaultWindowMessages / clients, within [2, 64]. It stays
	// under the gateway's queue per client (256) and the canister's queue (canister.MaxQueue).
	// A larger window adds latency (Little's law) and little throughput.
	DefaultWindowMessages = 5000
	// DefaultFanoutMessages is the number of messages a fan-out run delivers in all, as
	// broadcasts: DefaultFanoutMessages / clients, within [5, 200].
	DefaultFanoutMessages = 20000
)

// DefaultClients returns the client counts a scenario runs with by default.
func DefaultClients(scenario string) []int {
	switch scenario {
	case ScenarioUpstream:
		return []int{100, 1000}
	case ScenarioFailover, ScenarioOutage, ScenarioRestart:
		return []int{DefaultFailoverClients}
	case ScenarioSoak:
		return []int{DefaultSoakClients}
	}
	return []int{100, 1000, 5000}
}

// Options configures Run. Zero fields take the defaults above.
type Options struct {
	// Launcher starts the server processes (replica, gateway, baseline server); required. See
	// SelfLauncher.
	Launcher Launcher
	// Clients are the client counts, one run each (fanout, upstream, baseline); default
	// DefaultClients.
	Clients []int
	// Messages is the number of broadcasts every client receives in a fan-out run, default
	// DefaultFanoutMessages / clients, within [5, 200]; in a failover run, default
	// DefaultFailoverMessages.
	Messages int
	// Graceful makes the failover scenario stop gateway A with SIGTERM (1001 and ws_close for
	// every client), restart it, and then stop B: a rolling restart. Without it, A is killed
	// (SIGKILL) mid-stream.
	Graceful bool
	// Outage is how long the outage scenario keeps the replica stopped (SIGSTOP); default
	// DefaultOutage.
	Outage time.Duration
	// stateDir is the replica's state dir (the restart scenario's).
	stateDir string
	// Rate is, for fanout and baseline, the broadcasts per second (0: as fast as the window
	// allows); for upstream, the messages per second each client sends (default
	// DefaultUpstreamRate).
	Rate float64
	// Window is the most broadcasts in flight in a fan-out run; default from
	// DefaultWindowMessages.
	Window int
	// Duration is how long the upstream clients send; default DefaultDuration (soak:
	// DefaultSoakDuration).
	Duration time.Duration
	// SendEvery is how often each soak client sends; default DefaultSoakSendEvery.
	SendEvery time.Duration
	// AbuseScale, in (0, 1), shrinks the abuse scenario's attacks (connections, pings) by that
	// factor, for a short run; 0 or 1: the full attacks.
	AbuseScale float64
	// SampleEvery is how often the soak samples the gateway; default DefaultSoakSampleEvery.
	SampleEvery time.Duration
	// Size is the application payload in bytes; default DefaultSize.
	Size int
	// Verify is how the load clients check messages; default VerifyFull.
	Verify VerifyMode
	// SingleFrames makes the load clients ask for one S6 frame per message instead of S9
	// batched frames (docs/PROTOCOL.md §13), for comparison.
	SingleFrames bool
	// Conns is the number of connections of the idle scenario; default DefaultConns.
	Conns int
	// Hold is how long the idle scenario keeps its connections open; default DefaultHold.
	Hold time.Duration
	// Sources is the number of loopback source addresses (127.0.0.1, .2, …); default one per
	// 10,000 connections.
	Sources int
	// Dialers is the number of connections opened at once; default DefaultDialers.
	Dialers int
	// Channel adds, to each client count of the fanout scenario, a run through a certified
	// channel (docs/PROTOCOL.md §12): the canister publishes each message once to a channel
	// every client subscribes to, and the gateway polls the channel once and fans it out. Its
	// clients verify as Verify says: the Go SDK's, or the lean clients with the shared cache
	// (certificate and witness once per frame for all; hash, channel, seq and time per message).
	Channel bool
	// Centrifugo, if set, is the path of a Centrifugo binary (v6): each client count of the
	// fanout scenario also runs through it, started by the bench on loopback (bench/centrifugo.go).
	Centrifugo string
	// NoBaseline skips the baseline runs of the fanout scenario (and its ratios).
	NoBaseline bool
	// HeartbeatInterval is the load canister's heartbeat interval; default
	// canister.HeartbeatInterval (relay: DefaultRelayHeartbeat).
	HeartbeatInterval time.Duration
	// Trials is how many times the relay scenario runs each relay; default DefaultRelayTrials.
	Trials int
	// RoundTime is the replica's time between rounds (replica.Config.RoundTime); 0 runs a round
	// as soon as work is queued, 1s imitates mainnet.
	RoundTime time.Duration
	// PollInterval and SendQueue set the gateway's Config.PollInterval and Config.SendQueueSize
	// (0: the gateway's defaults).
	PollInterval time.Duration
	SendQueue    int
	// ProfileDir, if set, receives CPU profiles of the gateway and the replica (and of the bench
	// process itself, the load) over each measurement: <scenario>-<clients>-<part>.pprof.
	ProfileDir string
	// RunTimeout bounds each run (one client count); default DefaultRunTimeout.
	RunTimeout time.Duration
	// Progress receives a progress line while a scenario runs; nil for none.
	Progress io.Writer
}

// withDefaults returns o with its defaults, or an error naming a bad setting.
func (o Options) withDefaults(scenario string) (Options, error) {
	if o.Launcher == nil {
		return o, errors.New("bench: Options.Launcher is required")
	}
	if len(o.Clients) == 0 {
		o.Clients = DefaultClients(scenario)
	}
	for _, c := range o.Clients {
		if c <= 0 {
			return o, fmt.Errorf("bench: client count %d", c)
		}
	}
	if o.Size == 0 {
		o.Size = DefaultSize
	}
	if o.Size < baselineHeader || o.Size > canister.MaxSize {
		return o, fmt.Errorf("bench: size %d bytes, want %d to %d", o.Size, baselineHeader, canister.MaxSize)
	}
	if o.Verify == "" {
		o.Verify = VerifyFull
	}
	if _, err := ParseVerifyMode(string(o.Verify)); err != nil {
		return o, err
	}
	if o.Outage == 0 {
		o.Outage = DefaultOutage
	}
	if o.Rate < 0 || o.Outage < 0 || o.Messages < 0 || o.Window < 0 || o.Duration < 0 || o.SendEvery < 0 || o.AbuseScale < 0 || o.SampleEvery < 0 || o.RoundTime < 0 || o.HeartbeatInterval < 0 || o.Trials < 0 || o.Conns < 0 || o.Hold < 0 || o.Sources < 0 || o.Dialers < 0 {
		return o, errors.New("bench: negative option")
	}
	if scenario == ScenarioUpstream && o.Rate == 0 {
		o.Rate = DefaultUpstreamRate
	}
	if scenario == ScenarioRelay && o.HeartbeatInterval == 0 {
		o.HeartbeatInterval = DefaultRelayHeartbeat
	}
	if o.Trials == 0 {
		o.Trials = DefaultRelayTrials
	}
	if o.Duration == 0 && scenario == ScenarioSoak {
		o.Duration = DefaultSoakDuration
	}
	if o.Duration == 0 {
		o.Duration = DefaultDuration
	}
	if o.Conns == 0 {
		o.Conns = DefaultConns
	}
	if o.Hold == 0 {
		o.Hold = DefaultHold
	}
	if o.Dialers == 0 {
		o.Dialers = DefaultDialers
	}
	if o.RunTimeout == 0 && scenario == ScenarioSoak {
		o.RunTimeout = o.Duration + 3*time.Minute
	}
	if o.RunTimeout == 0 && scenario == ScenarioIdle {
		// Opening is bound by the IC's ws_open calls: a few hundred per second here.
		o.RunTimeout = DefaultRunTimeout + time.Duration(o.Conns)*10*time.Millisecond
	}
	if o.RunTimeout == 0 {
		o.RunTimeout = DefaultRunTimeout
	}
	return o, nil
}

// messages is the number of broadcasts of a fan-out run with c clients.
func (o *Options) messages(c int) int {
	if o.Messages > 0 {
		return o.Messages
	}
	return min(max(DefaultFanoutMessages/c, 5), 200)
}

// window is the most broadcasts in flight in a fan-out run with c clients.
func (o *Options) window(c int) int {
	if o.Window > 0 {
		return o.Window
	}
	return min(max(DefaultWindowMessages/c, 2), 64)
}

// sources is the number of source addresses for n connections.
func (o *Options) sources(n int) int {
	if o.Sources > 0 {
		return o.Sources
	}
	return (n + connsPerSource - 1) / connsPerSource
}
