package client_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"testing/synctest"
	"time"

	ws "github.com/gorilla/websocket"

	"github.com/icws/icws/agent"
	"github.com/icws/icws/client"
	"github.com/icws/icws/internal/relay"
	"github.com/icws/icws/internal/testenv"
)

// The tests of this file run the client in a synctest bubble, in front of a real replica and
// gateway (outside the bubble, in real time): the client reaches the gateway through a relay in
// the bubble over in-memory pipes (internal/testenv.PipeListener), so that once the relay falls silent every goroutine of the
// bubble is durably blocked and the fake clock jumps to the client's heartbeat timeout at once.

// bubbleClock is the real time in a synctest bubble: the real time at which the bubble started
// plus the bubble's fake time since then, so that the replica's certificates and timestamps are
// checked against a clock that moves with the bubble's.
type bubbleClock struct {
	real, fake time.Time
}

func (c *bubbleClock) Now() time.Time { return c.real.Add(time.Since(c.fake)) }

// TestSilentGatewaySynctest puts relays that fall silent (keeping the socket open) between the
// client and a real gateway of the echo canister (heartbeats every 30 s): one withholds every
// canister frame from the start, one passes the replies to five messages and withholds the sixth
// and everything after it. Recv must fail with Withheld exactly HeartbeatTimeout after the last
// certified message (or after the open), in the bubble's fake time; a negative HeartbeatTimeout
// never fails.
func TestSilentGatewaySynctest(t *testing.T) {
	const timeout = 75 * time.Second
	// The echo canister's application messages: "ping" at the open, then "m0 ping" … "m4 ping";
	// "m5 ping" is withheld.
	withholdSixth := func() relay.Policy { return relay.WithholdAfter(6) }
	const open, beats = "of opening the connection", "although the canister sends heartbeats"
	tests := []struct {
		name string
		pass func() relay.Policy // nil: silent from the start
		fast bool                // the fastecho canister (heartbeats every second, no "ping" at open), not echo
		// sends are the messages sent, one at a time, each reply received before the next (the
		// last reply is withheld).
		sends   int
		timeout time.Duration // Config.HeartbeatTimeout
		detail  string        // in the Withheld error; "" means Recv must not fail
	}{
		{"silent from the start", nil, false, 0, 0, open},
		{"silent from the start, 60 s", nil, false, 0, 60 * time.Second, open},
		{"withhold the sixth then silent", withholdSixth, false, 6, 0, beats},
		{"withhold the sixth then silent, 60 s", withholdSixth, false, 6, 60 * time.Second, beats},
		{"silent after the first heartbeat", relay.SilentAfterHeartbeat, true, 0, 3 * time.Second, beats},
		{"silent from the start, no timeout", nil, false, 0, -1, ""},
	}
	e := newEnv(t)
	gw := e.gateway(t)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			canister := e.echo
			if tt.fast {
				canister = e.fastEcho
			}
			clk := &bubbleClock{real: time.Now()}
			a, err := agent.New(agent.Config{URL: e.rep.URL(), RootKey: e.rep.RootKey(), Clock: clk.Now})
			if err != nil {
				t.Fatal(err)
			}
			synctest.Test(t, func(t *testing.T) {
				clk.fake = time.Now()
				l := testenv.NewPipeListener()
				rl := &relay.Relay{Target: gw, Policy: relay.SilentFromStart}
				if tt.pass != nil {
					rl.Policy = tt.pass
				}
				srv := &http.Server{Handler: rl}
				served := make(chan struct{})
				go func() {
					defer close(served)
					_ = srv.Serve(l)
				}()
				defer func() {
					_ = srv.Close()
					<-served
					rl.Wait()
				}()
				ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
				defer cancel()
				cfg := client.Config{
					Gateway: "ws://relay.test/", Canister: canister, Agent: a, Clock: clk.Now,
					Dialer:           &ws.Dialer{NetDialContext: l.Dial, HandshakeTimeout: 10 * time.Second},
					HeartbeatTimeout: tt.timeout,
				}
				c, err := client.Dial(ctx, cfg)
				a.CloseIdleConnections() // an idle HTTP connection's reader would keep the bubble awake
				if err != nil {
					t.Fatal(err)
				}
				defer c.Close("test over")
				opened := time.Now()
				last := int64(-1)
				if tt.pass != nil && !tt.fast {
					recvText(t, ctx, c, "ping", &last)
				}
				var lastSend time.Time
				for i := range tt.sends {
					lastSend = time.Now()
					if err := c.Send(ctx, text(fmt.Sprintf("m%d", i))); err != nil {
						t.Fatal(err)
					}
					if i < tt.sends-1 {
						recvText(t, ctx, c, fmt.Sprintf("m%d ping", i), &last)
					}
				}
				want := tt.timeout
				if want == 0 {
					want = timeout
				}
				if tt.detail == "" {
					rctx, rcancel := context.WithTimeout(ctx, 5*time.Minute)
					defer rcancel()
					if m, err := c.Recv(rctx); !errors.Is(err, context.DeadlineExceeded) {
						t.Fatalf("Recv with a negative HeartbeatTimeout: %v (message %x), want the context's end", err, m.Payload)
					}
					return
				}
				ve := recvErr(t, ctx, c, client.Withheld)
				// The silence counts from the last frame passed, or from the open.
				from := opened
				if p := rl.LastPassed(); !p.IsZero() {
					from = p
				}
				took := time.Since(from)
				if tt.sends > 0 {
					t.Logf("detected %v after the last send", time.Since(lastSend))
				}
				t.Logf("detected %v after the last frame passed or the open: %v", took, ve)
				if took < want || took > want+time.Second {
					t.Fatalf("Withheld %v after the last frame passed or the open, want %v", took, want)
				}
				if !strings.Contains(ve.Detail, tt.detail) || !strings.Contains(ve.Detail, "relay.test") {
					t.Fatalf("withheld error %q does not say why (want %q and the gateway)", ve, tt.detail)
				}
				if err := c.Send(ctx, text("more")); !errors.Is(err, ve) {
					t.Fatalf("Send after Withheld: %v", err)
				}
			})
		})
	}
}
