package client_test

import (
	"context"
	"errors"
	"fmt"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/icws/icws/client"
	"github.com/icws/icws/internal/relay"
	"github.com/icws/icws/replica"
)

// TestAckBound puts a relay (internal/relay, on loopback) between the client and a real gateway
// of the fastecho canister (heartbeats every second) and checks the acknowledgement bound
// (Config.AckTimeout, by default 2/5 of HeartbeatTimeout): a swallowed client message is
// reported within twice the heartbeat interval (plus the heartbeat's delivery), a negative bound
// reports nothing, and an honest relay under a burst of sends, whose messages queue at the
// gateway for longer than the bound, is never reported.
func TestAckBound(t *testing.T) {
	const interval = time.Second // fastecho's heartbeat interval
	// delivery is the allowance for the detecting heartbeat's way from the canister's queue to
	// the client (the gateway's polling, the relay, the checks) on a loaded machine.
	const delivery = 750 * time.Millisecond
	tests := []struct {
		name    string
		policy  func() relay.Policy
		slow    bool          // a replica of its own whose rounds start every 300 ms, so that each ws_message call takes that long
		ackTO   time.Duration // Config.AckTimeout; 0 is the default
		burst   int           // messages sent at once by 4 senders, each echo received
		swallow bool          // the third message is dropped and must be reported
	}{
		{"swallowed third message", func() relay.Policy { return relay.SwallowClientMessage(2) }, false, 0, 0, true},
		{"swallowed, explicit bound", func() relay.Policy { return relay.SwallowClientMessage(2) }, false, 500 * time.Millisecond, 0, true},
		{"swallowed, no bound", func() relay.Policy { return relay.SwallowClientMessage(2) }, false, -1, 0, false},
		// 48 messages in the window of 16 at 300 ms a call: the last of a window waits ~5 s
		// at the gateway, far beyond the bound of 800 ms, and must not be taken for swallowed.
		{"honest under a burst, slow calls", nil, true, 0, 48, false},
	}
	e := newEnv(t)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := e
			if tt.slow {
				e = slowEnv(t, 300*time.Millisecond)
			}
			gw := e.strictGateway(t)
			rl := &relay.Relay{Target: gw, Policy: tt.policy, DrainSilenced: true}
			srv := httptest.NewServer(rl)
			defer func() {
				srv.CloseClientConnections()
				srv.Close()
				rl.Wait()
			}()
			ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
			defer cancel()
			cfg := e.config(e.fastEcho, "ws"+strings.TrimPrefix(srv.URL, "http"))
			cfg.HeartbeatTimeout = 2 * interval
			cfg.AckTimeout = tt.ackTO
			c, err := client.Dial(ctx, cfg)
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close("test over")
			if tt.burst > 0 {
				honestBurst(t, ctx, c, tt.burst)
				// Then quiet: heartbeats only, for more than twice the heartbeat timeout.
				qctx, qcancel := context.WithTimeout(ctx, 5*interval)
				defer qcancel()
				if m, err := c.Recv(qctx); !errors.Is(err, context.DeadlineExceeded) {
					t.Fatalf("Recv after the burst: %v (message %x), want nothing", err, m.Payload)
				}
				return
			}
			last := int64(-1)
			for i := range 3 {
				if err := c.Send(ctx, text(fmt.Sprintf("m%d", i))); err != nil {
					t.Fatal(err)
				}
				if i < 2 {
					recvText(t, ctx, c, fmt.Sprintf("m%d", i), &last)
				}
			}
			if !tt.swallow {
				// Heartbeats keep coming (so HeartbeatTimeout never runs out) and nothing
				// checks their acknowledgements: Recv waits.
				qctx, qcancel := context.WithTimeout(ctx, 4*interval)
				defer qcancel()
				if m, err := c.Recv(qctx); !errors.Is(err, context.DeadlineExceeded) {
					t.Fatalf("Recv with a negative AckTimeout: %v (message %x), want nothing", err, m.Payload)
				}
				return
			}
			ve := recvErr(t, ctx, c, client.Withheld)
			dropped := rl.FirstWithheld()
			if dropped.IsZero() {
				t.Fatal("the relay dropped nothing")
			}
			took := time.Since(dropped)
			t.Logf("detected %v after the relay dropped the message: %v", took, ve)
			if !strings.Contains(ve.Detail, "swallowed") || !strings.Contains(ve.Detail, "acknowledges client messages up to") {
				t.Fatalf("withheld error %q does not say why", ve)
			}
			if took > 2*interval+delivery {
				t.Fatalf("swallowed message reported %v after it was dropped, want within 2 × %v (+ %v delivery)", took, interval, delivery)
			}
		})
	}
}

// honestBurst sends n messages from 4 goroutines at once and receives their n echoes: Recv must
// not report anything.
func honestBurst(t *testing.T, ctx context.Context, c *client.Conn, n int) {
	t.Helper()
	const senders = 4
	var wg sync.WaitGroup
	errs := make(chan error, senders)
	for s := range senders {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := s; i < n; i += senders {
				if err := c.Send(ctx, text(fmt.Sprintf("b%d", i))); err != nil {
					errs <- fmt.Errorf("send b%d: %w", i, err)
					return
				}
			}
		}()
	}
	seen := make(map[string]bool, n)
	for len(seen) < n {
		m, err := c.Recv(ctx)
		if err != nil {
			t.Fatalf("after %d of %d echoes: %v", len(seen), n, err)
		}
		txt := textOf(t, m.Payload)
		if seen[txt] {
			t.Fatalf("echo %q twice", txt)
		}
		seen[txt] = true
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
}

// slowEnv is an env with only the fastecho canister, on a replica of its own whose rounds start
// every round (replica.Config.RoundTime): every update call takes at least that long.
func slowEnv(t *testing.T, round time.Duration) *env {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	rep, err := replica.Start(ctx, replica.Config{
		Addr:      "127.0.0.1:0",
		RoundTime: round,
		Canisters: []replica.CanisterSpec{{Name: "fastecho", New: newFastEcho}},
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = rep.Close() })
	e := &env{rep: rep}
	var ok bool
	if e.fastEcho, ok = rep.CanisterID("fastecho"); !ok {
		t.Fatal("no fastecho canister")
	}
	return e
}
