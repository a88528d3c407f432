package gateway

import (
	"context"
	"net/http"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/icws/icws/agent"
	"github.com/icws/icws/canisters/chat"
	"github.com/icws/icws/canisters/echo"
	"github.com/icws/icws/ic/identity"
	"github.com/icws/icws/ic/principal"
	"github.com/icws/icws/internal/testenv"
	"github.com/icws/icws/replica"
)

// bubble is the whole system inside a testing/synctest bubble: a real replica (the echo and chat
// canisters as Go values) reached through an in-memory HTTP transport, a gateway served on an
// in-memory listener, and test clients dialing it over net.Pipe. No socket is real, so once
// every goroutine waits (on a pipe, a channel, a timer) the bubble's fake clock jumps to the next
// timer: a test of a 50 s keep-alive takes milliseconds and measures the 50 s exactly.
type bubble struct {
	t    testing.TB
	rep  *replica.Replica
	ic   *testenv.HandlerTransport // the IC's network; SetDown(true) is an outage
	echo principal.Principal
	chat principal.Principal
	gw   *Gateway
	l    *testenv.PipeListener
}

// startBubble starts the system with the gateway's cfg; call it inside synctest.Test. The
// cleanups it registers (run in the bubble) stop every goroutine it started.
func startBubble(t testing.TB, cfg Config) *bubble {
	t.Helper()
	return startBubbleWith(t, cfg, nil)
}

// startBubbleWith is startBubble with the gateway's HTTP transport to the replica passed
// through wrap (if not nil), for tests that hold or change its IC calls.
func startBubbleWith(t testing.TB, cfg Config, wrap func(http.RoundTripper) http.RoundTripper) *bubble {
	t.Helper()
	rep, err := replica.New(replica.Config{
		Canisters: []replica.CanisterSpec{{Name: "echo", New: echo.New}, {Name: "chat", New: chat.New}},
		Logger:    testLogger(t),
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { rep.Close() })
	b := &bubble{t: t, rep: rep, ic: &testenv.HandlerTransport{Handler: rep.Handler()}, l: testenv.NewPipeListener()}
	b.echo, _ = rep.CanisterID("echo")
	b.chat, _ = rep.CanisterID("chat")
	id, err := identity.GenerateEd25519()
	if err != nil {
		t.Fatal(err)
	}
	var rt http.RoundTripper = b.ic
	if wrap != nil {
		rt = wrap(rt)
	}
	ga, err := agent.New(agent.Config{URL: "http://replica.test", Identity: id, RootKey: rep.RootKey(), HTTPClient: &http.Client{Transport: rt}})
	if err != nil {
		t.Fatal(err)
	}
	cfg.Agent = ga
	if cfg.Logger == nil {
		cfg.Logger = testLogger(t)
	}
	g, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	b.gw = g
	srv := &http.Server{Handler: g.Handler(), ReadHeaderTimeout: 10 * time.Second}
	served := make(chan struct{})
	go func() {
		defer close(served)
		_ = srv.Serve(b.l)
	}()
	t.Cleanup(func() {
		_ = srv.Close()
		<-served
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		defer cancel()
		_ = g.Shutdown(ctx)
		checkOnePoller(t, g)
	})
	return b
}

// agent returns an agent of a fresh Ed25519 identity, as a dapp's user would have.
func (b *bubble) agent(t testing.TB) *agent.Agent {
	t.Helper()
	id, err := identity.GenerateEd25519()
	if err != nil {
		t.Fatal(err)
	}
	return b.agentOf(t, id)
}

func (b *bubble) agentOf(t testing.TB, id identity.Identity) *agent.Agent {
	t.Helper()
	a, err := agent.New(agent.Config{URL: "http://replica.test", Identity: id, RootKey: b.rep.RootKey(), HTTPClient: &http.Client{Transport: b.ic}})
	if err != nil {
		t.Fatal(err)
	}
	return a
}

// dial opens c's WebSocket to the gateway over a pipe, sending nothing.
func (b *bubble) dial(c *testClient) error {
	d := websocket.Dialer{HandshakeTimeout: 10 * time.Second, NetDialContext: b.l.Dial}
	ws, _, err := d.Dial("ws://gateway.test/", nil)
	if err != nil {
		return err
	}
	c.ws = ws
	return nil
}

// open registers a client of canister, dials and sends its first message; the socket is closed
// at the test's end.
func (b *bubble) open(t testing.TB, canister principal.Principal) *testClient {
	t.Helper()
	c := register(t, b.agent(t), canister)
	if err := b.dial(c); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.ws.Close() })
	if err := c.ws.WriteMessage(websocket.BinaryMessage, c.firstMessage()); err != nil {
		t.Fatal(err)
	}
	return c
}
