package bench

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync/atomic"
	"time"

	"github.com/icws/icws/bench/canister"
	"github.com/icws/icws/client"
	"github.com/icws/icws/internal/relay"
)

// Defaults of the relay scenario.
const (
	// DefaultRelayHeartbeat is the load canister's heartbeat interval in the relay scenario:
	// short, so that a run takes seconds.
	DefaultRelayHeartbeat = 2 * time.Second
	// DefaultRelayTrials is how many times each relay runs.
	DefaultRelayTrials = 3
	// relayBoundFactor is the client's bounds in the relay scenario, in heartbeat intervals:
	// Config.HeartbeatTimeout and Config.MaxMessageAge. Config.AckTimeout is its default, 2/5 of
	// HeartbeatTimeout.
	relayBoundFactor = 2
	// relayWithheldAfter is how many echo replies the withholding relay passes before it
	// withholds the next one and everything after it.
	relayWithheldAfter = 5
	// relaySwallowed is the index of the client message the swallowing relay drops.
	relaySwallowed = 2
)

// The relays of the relay scenario, and the honest one that checks the bounds are not too tight.
const (
	RelaySilent   = "silent"
	RelayWithhold = "withhold"
	RelaySwallow  = "swallow"
	RelayHonest   = "honest"
)

// RelayResult is one relay of the relay scenario, over its trials: how soon a Go client
// (client.Conn) through it noticed what it did.
type RelayResult struct {
	// Relay is RelaySilent (drops every canister frame from the start, keeps the socket),
	// RelayWithhold (passes five echo replies, withholds the sixth and everything after it,
	// heartbeats too), RelaySwallow (drops the client's third message) or RelayHonest (passes
	// everything: nothing may be detected within three times the client's bound).
	Relay string `json:"relay"`
	// Trials is how many times it ran; Detected how many times the client reported Withheld.
	Trials   int `json:"trials"`
	Detected int `json:"detected"`
	// From says where the detection time starts.
	From string `json:"from"`
	// Detection is the time from From to the client's Withheld error, per trial, milliseconds;
	// Ratio the slowest over the heartbeat interval (goal ≤ 2).
	Detection []float64 `json:"detection_ms,omitempty"`
	Ratio     float64   `json:"ratio_to_heartbeat,omitempty"`
	// Detail is the client's error of the last trial.
	Detail string `json:"detail,omitempty"`
}

// RelayReport is the relay scenario: the bounds it ran with and one result per relay.
type RelayReport struct {
	// HeartbeatMs is the load canister's heartbeat interval; HeartbeatTimeoutMs and
	// MaxMessageAgeMs the client's bounds (Config.HeartbeatTimeout, Config.MaxMessageAge);
	// AckTimeoutMs its acknowledgement bound (Config.AckTimeout, the default).
	HeartbeatMs        float64       `json:"heartbeat_ms"`
	HeartbeatTimeoutMs float64       `json:"heartbeat_timeout_ms"`
	MaxMessageAgeMs    float64       `json:"max_message_age_ms"`
	AckTimeoutMs       float64       `json:"ack_timeout_ms"`
	Relays             []RelayResult `json:"relays"`
}

// runRelay runs the relay scenario: a replica with the load canister (heartbeats every
// o.HeartbeatInterval), a gateway, and misbehaving relays (internal/relay) on loopback between
// it and one Go client at a time.
func runRelay(ctx context.Context, o *Options, p *progress) (*RelayReport, error) {
	if o.Verify != VerifyFull {
		return nil, fmt.Errorf("bench: relay: the client is the Go SDK's; use --verify %s", VerifyFull)
	}
	run, err := startRun(ctx, o)
	if err != nil {
		return nil, err
	}
	defer run.stop()
	ctx, e := run.ctx, run.e
	hb := o.HeartbeatInterval
	bound := relayBoundFactor * hb
	rep := &RelayReport{HeartbeatMs: ms(hb), HeartbeatTimeoutMs: ms(bound), MaxMessageAgeMs: ms(bound), AckTimeoutMs: ms(bound * 2 / 5)}
	var current atomic.Value // the trial running, for the progress line
	current.Store("starting")
	start := time.Now()
	p.set(func() string { return fmt.Sprintf("relay: %s | %.0fs", current.Load(), time.Since(start).Seconds()) })
	for _, name := range []string{RelaySilent, RelayWithhold, RelaySwallow, RelayHonest} {
		trials := o.Trials
		if name == RelayHonest {
			trials = 1 // it runs for 3 × the bound
		}
		res := RelayResult{Relay: name, Trials: trials, From: relayFrom(name)}
		for i := range trials {
			current.Store(fmt.Sprintf("%s %d/%d", name, i+1, trials))
			took, detail, err := relayTrial(ctx, e, o, name, bound)
			if err != nil {
				return nil, fmt.Errorf("bench: relay %s, trial %d: %w", name, i+1, err)
			}
			if detail != "" {
				res.Detected++
				res.Detection = append(res.Detection, round(ms(took), 1))
				res.Detail = detail
			}
		}
		if len(res.Detection) > 0 {
			res.Ratio = round(slices.Max(res.Detection)/ms(hb), 2)
		}
		rep.Relays = append(rep.Relays, res)
	}
	return rep, nil
}

// relayFrom says where a relay's detection time starts.
func relayFrom(name string) string {
	switch name {
	case RelaySilent:
		return "the socket's open"
	case RelayWithhold:
		return "the relay withholding the sixth reply"
	case RelaySwallow:
		return "the relay dropping the client's message"
	}
	return ""
}

// relayPolicy is the relay's policy. The load canister's application messages to a client are
// its welcome, then the echo of each of the client's messages.
func relayPolicy(name string) func() relay.Policy {
	switch name {
	case RelaySilent:
		return relay.SilentFromStart
	case RelayWithhold:
		return func() relay.Policy { return relay.WithholdAfter(1 + relayWithheldAfter) }
	case RelaySwallow:
		return func() relay.Policy { return relay.SwallowClientMessage(relaySwallowed) }
	}
	return nil
}

// relayTrial runs one client through a new relay of the given kind, and returns how soon it
// reported Withheld (from relayFrom) and the error's detail; "" when it reported nothing (only
// the honest relay may, after 3 × bound). Any other error of the client fails the trial.
func relayTrial(ctx context.Context, e *icEnv, o *Options, name string, bound time.Duration) (time.Duration, string, error) {
	rl := &relay.Relay{Target: e.gatewayURL, Policy: relayPolicy(name), DrainSilenced: true}
	url, stop, err := serveHTTP(ctx, "127.0.0.1:0", rl, slog.New(slog.DiscardHandler))
	if err != nil {
		return 0, "", err
	}
	defer func() {
		stop()
		rl.Wait() // the client's socket is closed first
	}()
	tctx, cancel := context.WithTimeout(ctx, 10*bound+30*time.Second)
	defer cancel()
	c, err := client.Dial(tctx, client.Config{
		Gateway: "ws" + strings.TrimPrefix(url, "http"), Canister: e.canister, Agent: e.users,
		HeartbeatTimeout: bound, MaxMessageAge: bound,
	})
	if err != nil {
		return 0, "", fmt.Errorf("open through the relay: %w", err)
	}
	defer c.Close("bench done")
	opened := time.Now()
	recv := func(ctx context.Context, want byte, n uint64) error {
		m, err := c.Recv(ctx)
		if err != nil {
			return err
		}
		kind, got, err := canister.ParsePayload(m.Payload)
		if err != nil || kind != want || (kind == canister.Echo && got != n) {
			return fmt.Errorf("got payload %q %d (%v), want %q %d", kind, got, err, want, n)
		}
		return nil
	}
	echo := func(n int) error {
		return c.Send(tctx, canister.AppendPayload(nil, canister.Echo, uint64(n), o.Size))
	}
	var failed error
	switch name {
	case RelaySilent:
		failed = recv(tctx, canister.Welcome, 0)
	case RelayWithhold, RelaySwallow, RelayHonest:
		if failed = recv(tctx, canister.Welcome, 0); failed != nil {
			break
		}
		sends := relayWithheldAfter + 1
		if name == RelaySwallow {
			sends = relaySwallowed + 1
		}
		for i := range sends {
			if failed = echo(i); failed != nil {
				break
			}
			if i == sends-1 && name != RelayHonest {
				failed = recv(tctx, canister.Echo, uint64(i)) // withheld or swallowed: no reply
				break
			}
			if failed = recv(tctx, canister.Echo, uint64(i)); failed != nil {
				break
			}
		}
		if name == RelayHonest && failed == nil {
			// Nothing more to receive but heartbeats, which Recv skips: it must not fail.
			hctx, hcancel := context.WithTimeout(tctx, 3*bound)
			_, failed = c.Recv(hctx)
			hcancel()
			if errors.Is(failed, context.DeadlineExceeded) && tctx.Err() == nil {
				return 0, "", nil
			}
		}
	}
	var ve *client.VerifyError
	if !errors.As(failed, &ve) || ve.Kind != client.Withheld {
		return 0, "", fmt.Errorf("the client reported %v, want a %s error", failed, client.Withheld)
	}
	if name == RelayHonest {
		return 0, "", fmt.Errorf("the client reported %v through an honest relay: the bound %v is too tight", failed, bound)
	}
	from := opened
	if name != RelaySilent {
		if from = rl.FirstWithheld(); from.IsZero() {
			return 0, "", fmt.Errorf("the client reported %v but the relay withheld nothing", failed)
		}
	}
	return time.Since(from), ve.Detail, nil
}
