package gateway

import (
	"context"
	"crypto/ed25519"
	"fmt"
	"log/slog"
	"net/http"
	"runtime"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/gorilla/websocket"

	"github.com/icws/icws/ic/principal"
	"github.com/icws/icws/protocol"
)

// End-to-end tests: real WebSockets on loopback, the in-process replica with the echo and chat
// canisters, the real agent. Nothing is mocked.

const readWait = 20 * time.Second

// openClient registers a client of canister, connects it through gw and waits for the open.
func openClient(t testing.TB, ic *testIC, gw *testGW, canister principal.Principal) *testClient {
	t.Helper()
	c := register(t, ic.agent(t), canister)
	c.connect(gw.url)
	t.Cleanup(func() { c.ws.Close() })
	return c
}

// waitOpen waits until n clients of g are open.
func waitOpen(t testing.TB, g *Gateway, n int64) {
	t.Helper()
	waitFor(t, fmt.Sprintf("%d open clients", n), func() bool { return g.m.clients.get() == n })
}

func TestEchoManyClients(t *testing.T) {
	ic := startIC(t)
	gw := startGateway(t, ic, Config{})
	const clients, perClient = 20, 5
	cs := make([]*testClient, clients)
	for i := range cs {
		cs[i] = openClient(t, ic, gw, ic.echo)
	}
	waitOpen(t, gw.Gateway, clients)
	var wg sync.WaitGroup
	errs := make(chan error, clients)
	for i, c := range cs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for j := 0; j < perClient; j++ {
				want := fmt.Sprintf("client %d message %d", i, j)
				if err := c.sendText(want); err != nil {
					errs <- err
					return
				}
				if err := c.expect(want); err != nil {
					errs <- fmt.Errorf("client %d: %w", i, err)
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	for _, c := range cs {
		c.ws.WriteControl(websocket.CloseMessage, websocket.FormatCloseMessage(1000, "bye"), time.Now().Add(time.Second))
		if code, _ := c.closeCode(readWait); code != 1000 {
			t.Errorf("close answered with %d", code)
		}
	}
	waitFor(t, "ws_close for every client", func() bool { return wsCloses(gw.Gateway) == clients })
	if s := stats(t, ic.agent(t), ic.echo); s.OpenClients != s.DetachedClients {
		// The gateway's ws_close detaches a client (its session waits for a reconnection).
		t.Errorf("the canister still has %d attached clients", s.OpenClients-s.DetachedClients)
	}
	if n := gw.m.pollers.get(); n != 0 {
		waitFor(t, "poller stopped", func() bool { return gw.m.pollers.get() == 0 })
	}
}

// TestManyDapps serves clients of two canisters through one gateway at once: one poller each.
func TestManyDapps(t *testing.T) {
	ic := startIC(t)
	gw := startGateway(t, ic, Config{})
	var wg sync.WaitGroup
	for i := 0; i < 8; i++ {
		canister, want := ic.echo, fmt.Sprintf("echo %d", i)
		if i%2 == 1 {
			canister, want = ic.chat, fmt.Sprintf("chat %d", i)
		}
		c := openClient(t, ic, gw, canister)
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := c.sendText(want); err != nil {
				t.Error(err)
				return
			}
			if err := c.expect(want); err != nil {
				t.Error(err)
			}
		}()
	}
	wg.Wait()
	if n := gw.m.pollers.get(); n != 2 {
		t.Errorf("pollers = %d, want 2 (one per canister)", n)
	}
}

// TestTwoGatewaysOneCanister runs chat clients through two gateways: a message posted through
// one reaches the clients of both, and each gateway sees only its own keys.
func TestTwoGatewaysOneCanister(t *testing.T) {
	ic := startIC(t)
	gw1, gw2 := startGateway(t, ic, Config{}), startGateway(t, ic, Config{})
	if gw1.Principal() == gw2.Principal() {
		t.Fatal("two gateways share a principal")
	}
	var cs []*testClient
	for i := 0; i < 6; i++ {
		gw := gw1
		if i%2 == 1 {
			gw = gw2
		}
		cs = append(cs, openClient(t, ic, gw, ic.chat))
	}
	waitOpen(t, gw1.Gateway, 3)
	waitOpen(t, gw2.Gateway, 3)
	drainGreetings(t, cs)
	if err := cs[1].sendText("hello from gateway 2"); err != nil {
		t.Fatal(err)
	}
	for i, c := range cs {
		got, err := c.readText(readWait)
		if err != nil || !strings.Contains(got, "hello from gateway 2") {
			t.Fatalf("client %d: %q, %v", i, got, err)
		}
	}
	for _, g := range []*testGW{gw1, gw2} {
		if g.m.pollRefused.get() != 0 || g.m.messagesUnroutable.get() != 0 {
			t.Errorf("gateway refused %d batches, had %d unroutable messages", g.m.pollRefused.get(), g.m.messagesUnroutable.get())
		}
	}
}

// drainGreetings reads what the canister sends on open, if anything, so that later reads see the
// test's messages: it posts a marker through the first client and reads up to it everywhere. The
// clients must all be open (see waitOpen), or the chat canister does not send them the marker.
func drainGreetings(t testing.TB, cs []*testClient) {
	t.Helper()
	if err := cs[0].sendText("marker"); err != nil {
		t.Fatal(err)
	}
	for i, c := range cs {
		for {
			got, err := c.readText(readWait)
			if err != nil {
				t.Fatalf("client %d: %v", i, err)
			}
			if strings.Contains(got, "marker") {
				break
			}
		}
	}
}

// TestBadFirstMessages sends every kind of bad first frame and checks the close code.
func TestBadFirstMessages(t *testing.T) {
	ic := startIC(t)
	gw := startGateway(t, ic, Config{MaxMessageBytes: 4096})
	a := ic.agent(t)
	good := register(t, a, ic.echo)
	other := register(t, a, ic.echo)
	_, strangerKey, _ := ed25519.GenerateKey(nil)
	s1 := protocol.FirstMessage{CanisterID: ic.echo.String(), ClientID: good.id}
	signed := func(key ed25519.PrivateKey, m protocol.FirstMessage) []byte { return protocol.SignFirstMessage(key, m) }
	wrongSigBytes := protocol.SignedFirstMessage{FirstMessage: s1.Marshal(), Sig: ed25519.Sign(good.key, []byte("something else"))}.Marshal()
	shortSig := protocol.SignedFirstMessage{FirstMessage: s1.Marshal(), Sig: []byte{1, 2, 3}}.Marshal()
	noCanister := principal.CanisterID(999)
	tests := []struct {
		name  string
		typ   int
		frame []byte
		code  int
	}{
		{"text frame", websocket.TextMessage, []byte("hello"), 4000},
		{"empty binary frame", websocket.BinaryMessage, nil, 4000},
		{"garbage", websocket.BinaryMessage, []byte("\x00\x01garbage"), 4000},
		{"truncated CBOR", websocket.BinaryMessage, signed(good.key, s1)[:20], 4000},
		{"trailing bytes", websocket.BinaryMessage, append(signed(good.key, s1), 0), 4000},
		{"S1 without signature", websocket.BinaryMessage, s1.Marshal(), 4000},
		{"a client message instead", websocket.BinaryMessage, protocol.SignClientMessage(good.key, &protocol.WebsocketMessage{ClientID: good.id}), 4000},
		{"canister id not a principal", websocket.BinaryMessage, signed(good.key, protocol.FirstMessage{CanisterID: "not-a-principal", ClientID: good.id}), 4000},
		{"signed by a stranger", websocket.BinaryMessage, signed(strangerKey, s1), 4000},
		{"signed by another client", websocket.BinaryMessage, signed(other.key, s1), 4000},
		{"signature over other bytes", websocket.BinaryMessage, wrongSigBytes, 4000},
		{"short signature", websocket.BinaryMessage, shortSig, 4000},
		{"unknown client id", websocket.BinaryMessage, signed(good.key, protocol.FirstMessage{CanisterID: ic.echo.String(), ClientID: 1 << 40}), 4001},
		{"registered at another canister", websocket.BinaryMessage, signed(good.key, protocol.FirstMessage{CanisterID: ic.chat.String(), ClientID: good.id}), 4001},
		{"unknown canister", websocket.BinaryMessage, signed(good.key, protocol.FirstMessage{CanisterID: noCanister.String(), ClientID: good.id}), 4002},
		{"oversized", websocket.BinaryMessage, make([]byte, 5000), 1009},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := &testClient{t: t}
			if err := c.dial(gw.url); err != nil {
				t.Fatal(err)
			}
			defer c.ws.Close()
			if err := c.ws.WriteMessage(tt.typ, tt.frame); err != nil {
				t.Fatal(err)
			}
			code, reason := c.closeCode(readWait)
			if code != tt.code {
				t.Fatalf("close %d %q, want %d", code, reason, tt.code)
			}
			if reason == "" {
				t.Error("no reason given")
			}
		})
	}
	// A connection that sends nothing: TestHandshakeTimeoutSynctest.
	if n := gw.m.results[methodOpen][resultTrue].get() + gw.m.results[methodOpen][resultFalse].get(); n != 0 {
		t.Errorf("%d ws_open calls answered for bad first messages; a local check should have refused them", n)
	}
	// None of that harmed the gateway: the good client still opens and talks.
	good.connect(gw.url)
	defer good.ws.Close()
	if err := good.sendText("still here"); err != nil {
		t.Fatal(err)
	}
	if err := good.expect("still here"); err != nil {
		t.Fatalf("after the bad clients: %v", err)
	}
	waitFor(t, "connections closed", func() bool { return gw.m.connections.get() == 1 })
}

// TestDisconnects covers clients that leave before and during the handshake, and after it.
func TestDisconnects(t *testing.T) {
	ic := startIC(t)
	gw := startGateway(t, ic, Config{})
	a := ic.agent(t)

	// Before the handshake: dial, then drop the TCP connection.
	for i := 0; i < 5; i++ {
		c := &testClient{t: t}
		if err := c.dial(gw.url); err != nil {
			t.Fatal(err)
		}
		c.ws.Close()
	}
	// During the handshake: send the first message and drop at once, before ws_open returns.
	for i := 0; i < 5; i++ {
		c := register(t, a, ic.echo)
		c.connect(gw.url)
		c.ws.Close()
	}
	// After: open, then drop without a Close frame.
	after := openClient(t, ic, gw, ic.echo)
	if err := after.sendText("x"); err != nil {
		t.Fatal(err)
	}
	if err := after.expect("x"); err != nil {
		t.Fatal(err)
	}
	after.ws.Close()
	waitFor(t, "every connection ended", func() bool { return gw.m.connections.get() == 0 })
	// Every client that reached ws_open is closed in the canister, whatever ws_open answered.
	waitFor(t, "ws_close for the opened clients", func() bool {
		return gw.m.results[methodClose][resultTrue].get()+gw.m.results[methodClose][resultReject].get() == gw.m.results[methodOpen][resultTrue].get()
	})
	if s := stats(t, a, ic.echo); s.OpenClients != s.DetachedClients {
		// The gateway's ws_close detaches a client (its session waits for a reconnection).
		t.Errorf("the canister still has %d attached clients", s.OpenClients-s.DetachedClients)
	}
	if got := gw.m.closes[len(gw.m.closeCodes)].get(); got != 0 {
		t.Errorf("%d connections ended with an unexpected code", got)
	}
}

// TestBadMessagesAfterOpen checks that frames that are malformed, misaddressed or refused by the
// canister are counted, and that a client that keeps sending them is closed.
func TestBadMessagesAfterOpen(t *testing.T) {
	ic := startIC(t)
	gw := startGateway(t, ic, Config{MaxBadMessages: 4})
	c := openClient(t, ic, gw, ic.echo)
	waitOpen(t, gw.Gateway, 1)
	_, stranger, _ := ed25519.GenerateKey(nil)
	frames := []struct {
		typ  int
		data []byte
	}{
		{websocket.TextMessage, []byte("text")},
		{websocket.BinaryMessage, []byte("garbage")},
		{websocket.BinaryMessage, protocol.SignClientMessage(c.key, &protocol.WebsocketMessage{ClientID: c.id + 1, SequenceNum: 0})},
		// Well-formed but signed by another key: the canister answers false.
		{websocket.BinaryMessage, protocol.SignClientMessage(stranger, &protocol.WebsocketMessage{ClientID: c.id, SequenceNum: 0})},
	}
	for _, f := range frames {
		if err := c.ws.WriteMessage(f.typ, f.data); err != nil {
			t.Fatal(err)
		}
	}
	code, reason := c.closeCode(readWait)
	if code != 4006 {
		t.Fatalf("close %d %q, want 4006", code, reason)
	}
	if gw.m.badMessages.get() != 4 || gw.m.results[methodMessage][resultFalse].get() != 1 {
		t.Errorf("bad messages %d, ws_message false %d", gw.m.badMessages.get(), gw.m.results[methodMessage][resultFalse].get())
	}
	waitFor(t, "ws_close", func() bool { return wsCloses(gw.Gateway) == 1 })
}

// TestReplayedMessageRefused checks that a replayed frame (same sequence number) is refused by
// the canister and counted, while the connection goes on.
func TestReplayedMessageRefused(t *testing.T) {
	ic := startIC(t)
	gw := startGateway(t, ic, Config{})
	c := openClient(t, ic, gw, ic.echo)
	if err := c.sendText("once"); err != nil {
		t.Fatal(err)
	}
	if err := c.expect("once"); err != nil {
		t.Fatal(err)
	}
	c.outSeq--
	if err := c.sendText("once"); err != nil { // the same sequence number again
		t.Fatal(err)
	}
	if err := c.sendText("twice"); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the replay refused", func() bool { return gw.m.results[methodMessage][resultFalse].get() == 1 })
	_ = c
}

func TestRateAndSizeLimits(t *testing.T) {
	ic := startIC(t)
	t.Run("rate", func(t *testing.T) {
		gw := startGateway(t, ic, Config{MessageRate: 1, MessageBurst: 2})
		c := openClient(t, ic, gw, ic.echo)
		for i := 0; i < 10; i++ {
			if err := c.sendText("flood"); err != nil {
				break
			}
		}
		if code, reason := c.closeCode(readWait); code != 4004 {
			t.Fatalf("close %d %q, want 4004", code, reason)
		}
	})
	t.Run("size", func(t *testing.T) {
		gw := startGateway(t, ic, Config{MaxMessageBytes: 1024})
		c := openClient(t, ic, gw, ic.echo)
		waitOpen(t, gw.Gateway, 1)
		if err := c.send(make([]byte, 2048)); err != nil {
			t.Fatal(err)
		}
		if code, reason := c.closeCode(readWait); code != 1009 {
			t.Fatalf("close %d %q, want 1009", code, reason)
		}
		waitFor(t, "ws_close", func() bool { return wsCloses(gw.Gateway) == 1 })
	})
}

// TestOrigins runs a gateway of each kind of allow-list: a page of another origin is accepted as
// a WebSocket and closed at once with 4009 and a reason naming its origin and the flag, and the
// refusal is logged at warn level; a page of the gateway's own origin, a program (no Origin) and,
// with '*', any page go on to the handshake (where a malformed first message gets 4000).
func TestOrigins(t *testing.T) {
	ic := startIC(t)
	const foreign = "http://127.0.0.1:5173"
	for _, tc := range []struct {
		name    string
		allowed []string
		refused []string // origins closed with 4009; "self" is the gateway's own
		passed  []string
	}{
		{"empty", nil, []string{foreign, "null", "https://127.0.0.1:5174"}, []string{"", "self"}},
		{"list", []string{foreign}, []string{"http://localhost:5173", "http://127.0.0.1:5174"}, []string{foreign, "", "self"}},
		{"star", []string{"*"}, nil, []string{foreign, "null", "", "self"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			logs := &recordingHandler{}
			gw := startGateway(t, ic, Config{AllowedOrigins: tc.allowed, Logger: slog.New(logs)})
			self := "http://" + strings.TrimPrefix(gw.url, "ws://")
			dial := func(origin string) *testClient {
				if origin == "self" {
					origin = self
				}
				h := http.Header{}
				if origin != "" {
					h.Set("Origin", origin)
				}
				ws, resp, err := websocket.DefaultDialer.Dial(gw.url, h)
				if err != nil {
					t.Fatalf("Origin %q: %v (%v): want an upgrade", origin, err, resp)
				}
				t.Cleanup(func() { ws.Close() })
				return &testClient{t: t, ws: ws}
			}
			for _, o := range tc.refused {
				code, reason := dial(o).closeCode(readWait)
				if code != int(protocol.CloseOriginNotAllowed) || reason != originRefusal(o) ||
					!strings.Contains(reason, "origin "+o+" is not allowed") || !strings.Contains(reason, "--allowed-origins") {
					t.Errorf("Origin %q: closed with %d %q, want 4009 naming the origin and --allowed-origins", o, code, reason)
				}
				rec, ok := logs.find("origin", o)
				if !ok || rec.Level != slog.LevelWarn || !strings.HasPrefix(rec.attrs["remote"], "127.0.0.1:") {
					t.Errorf("Origin %q: refusal logged as %+v (found %v), want warn with origin and remote", o, rec, ok)
				}
			}
			for _, o := range tc.passed {
				c := dial(o)
				if err := c.ws.WriteMessage(websocket.BinaryMessage, []byte("not a first message")); err != nil {
					t.Fatal(err)
				}
				if code, reason := c.closeCode(readWait); code != int(protocol.CloseBadFirstMessage) {
					t.Errorf("Origin %q: closed with %d %q, want 4000 (it passed the origin check)", o, code, reason)
				}
			}
			if n := gw.m.refused[refusedOrigin].get(); n != uint64(len(tc.refused)) {
				t.Errorf("refused origins counted %d, want %d", n, len(tc.refused))
			}
			// A connection's close code is counted when it ends, after the client read the frame.
			closes := gw.m.closeCounter(protocol.CloseOriginNotAllowed)
			waitFor(t, "every 4009 counted", func() bool { return closes.get() >= uint64(len(tc.refused)) })
			if n := closes.get(); n != uint64(len(tc.refused)) {
				t.Errorf("closes with 4009 counted %d, want %d", n, len(tc.refused))
			}
		})
	}
}

// recordingHandler is a slog.Handler that keeps the records it is given, with their attributes
// as text.
type recordingHandler struct {
	mu   sync.Mutex
	recs []loggedRecord
}

type loggedRecord struct {
	Level slog.Level
	Msg   string
	attrs map[string]string
}

func (h *recordingHandler) Enabled(context.Context, slog.Level) bool { return true }

func (h *recordingHandler) Handle(_ context.Context, r slog.Record) error {
	rec := loggedRecord{Level: r.Level, Msg: r.Message, attrs: map[string]string{}}
	r.Attrs(func(a slog.Attr) bool {
		rec.attrs[a.Key] = a.Value.String()
		return true
	})
	h.mu.Lock()
	defer h.mu.Unlock()
	h.recs = append(h.recs, rec)
	return nil
}

func (h *recordingHandler) WithAttrs([]slog.Attr) slog.Handler { return h }
func (h *recordingHandler) WithGroup(string) slog.Handler      { return h }

// find returns the first record whose attribute key is value.
func (h *recordingHandler) find(key, value string) (loggedRecord, bool) {
	h.mu.Lock()
	defer h.mu.Unlock()
	for _, r := range h.recs {
		if r.attrs[key] == value {
			return r, true
		}
	}
	return loggedRecord{}, false
}

func TestConnectionCapsAndOrigins(t *testing.T) {
	ic := startIC(t)
	gw := startGateway(t, ic, Config{MaxConnections: 3, MaxConnectionsPerIP: 2, AllowedOrigins: []string{"http://localhost:5173"}})
	dial := func(origin string) (*websocket.Conn, int) {
		h := http.Header{}
		if origin != "" {
			h.Set("Origin", origin)
		}
		ws, resp, err := websocket.DefaultDialer.Dial(gw.url, h)
		if err != nil {
			if resp == nil {
				t.Fatal(err)
			}
			return nil, resp.StatusCode
		}
		t.Cleanup(func() { ws.Close() })
		return ws, 101
	}
	if ws, status := dial("https://evil.example"); status != 101 {
		t.Errorf("a foreign origin got %d, want 101 and a close with 4009", status)
	} else if code, _ := (&testClient{t: t, ws: ws}).closeCode(readWait); code != int(protocol.CloseOriginNotAllowed) {
		t.Errorf("a foreign origin was closed with %d, want 4009", code)
	}
	if _, status := dial("http://localhost:5173"); status != 101 {
		t.Errorf("the allowed origin got %d", status)
	}
	if _, status := dial(""); status != 101 {
		t.Errorf("a program without Origin got %d", status)
	}
	if _, status := dial(""); status != http.StatusServiceUnavailable {
		t.Errorf("a third connection from one address got %d", status)
	}
	if gw.m.refused[refusedMaxPerIP].get() != 1 || gw.m.refused[refusedOrigin].get() != 1 {
		t.Errorf("refusals: per IP %d, origin %d", gw.m.refused[refusedMaxPerIP].get(), gw.m.refused[refusedOrigin].get())
	}

	capped := startGateway(t, ic, Config{MaxConnections: 2, MaxConnectionsPerIP: -1})
	var held []*websocket.Conn
	for i := 0; i < 3; i++ {
		ws, resp, err := websocket.DefaultDialer.Dial(capped.url, nil)
		if err != nil {
			if i < 2 || resp == nil || resp.StatusCode != http.StatusServiceUnavailable {
				t.Fatalf("connection %d: %v", i, err)
			}
			continue
		}
		if i == 2 {
			t.Fatal("a third connection passed the global cap of 2")
		}
		held = append(held, ws)
	}
	// The gateway counts a connection just after the upgrade, which the client may see first:
	// wait for both to be counted, so that 1 below means a slot was freed.
	waitFor(t, "both connections counted", func() bool { return capped.m.connections.get() == 2 })
	held[0].Close()
	waitFor(t, "a slot freed", func() bool { return capped.m.connections.get() == 1 })
	ws, _, err := websocket.DefaultDialer.Dial(capped.url, nil)
	if err != nil {
		t.Fatalf("after a slot was freed: %v", err)
	}
	ws.Close()
	held[1].Close()
}

// The keep-alive (a client that stops answering pings is cut off and ws_close called) is
// TestKeepaliveSynctest.

// TestOwnerCloseEndsSession checks the canister-side close: the client's owner calls ws_close,
// the canister queues its close notice, and the gateway delivers it and closes with 4008.
func TestOwnerCloseEndsSession(t *testing.T) {
	ic := startIC(t)
	gw := startGateway(t, ic, Config{})
	owner := ic.agent(t)
	c := register(t, owner, ic.echo)
	c.connect(gw.url)
	defer c.ws.Close()
	waitOpen(t, gw.Gateway, 1)
	ctx, cancel := context.WithTimeout(context.Background(), readWait)
	defer cancel()
	if err := owner.Call(ctx, ic.echo, protocol.MethodClose, c.id); err != nil {
		t.Fatal(err)
	}
	var notice protocol.WebsocketMessage
	for {
		m, err := c.read(readWait)
		if err != nil {
			t.Fatalf("no close notice: %v", err)
		}
		if m.Service && m.Close != "" {
			notice = m
			break
		}
	}
	code, reason := c.closeCode(readWait)
	if code != 4008 || !reasonHas(reason, notice.Close) {
		t.Fatalf("close %d %q after notice %q, want 4008", code, reason, notice.Close)
	}
}

// TestReconnectReplaces checks that a client connecting again through the same gateway replaces
// its old connection, which is closed with 4008 and does not close the new session.
func TestReconnectReplaces(t *testing.T) {
	ic := startIC(t)
	gw := startGateway(t, ic, Config{})
	c := openClient(t, ic, gw, ic.echo)
	waitOpen(t, gw.Gateway, 1)
	old := c.ws
	c.connect(gw.url) // same key, same client id
	if code, _ := (&testClient{t: t, ws: old}).closeCode(readWait); code != 4008 {
		t.Fatalf("old connection closed with %d, want 4008", code)
	}
	// The session goes on: the canister keeps the client's sequence numbers and sends again what
	// the client has not acknowledged (the old connection may have missed it), which the client
	// skips as it had it.
	c.skipReplays = true
	if err := c.sendText("after reconnect"); err != nil {
		t.Fatal(err)
	}
	if err := c.expect("after reconnect"); err != nil {
		t.Fatal(err)
	}
	if wsCloses(gw.Gateway) != 0 {
		t.Fatal("the replaced connection called ws_close")
	}
}

// TestReplicaDownAndBack cuts the replica's network while clients are connected: the poller and
// ws_message retry, /readyz reports it, and everything resumes when the replica is back. It runs
// in a synctest bubble (see bubble): the outage is the in-memory transport refusing requests.
func TestReplicaDownAndBack(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		b := startBubble(t, Config{PollInterval: 20 * time.Millisecond})
		gw := b.gw
		c := b.open(t, b.echo)
		if err := c.sendText("before"); err != nil {
			t.Fatal(err)
		}
		if err := c.expect("before"); err != nil {
			t.Fatal(err)
		}
		leaving := b.open(t, b.echo)
		if err := leaving.expect("ping"); err != nil {
			t.Fatal(err)
		}
		newcomer := register(t, b.agent(t), b.echo)

		b.ic.SetDown(true)
		if err := c.sendText("during"); err != nil {
			t.Fatal(err)
		}
		leaving.ws.Close() // its ws_close fails now and is retried
		if err := b.dial(newcomer); err != nil {
			t.Fatal(err)
		}
		defer newcomer.ws.Close()
		if err := newcomer.ws.WriteMessage(websocket.BinaryMessage, newcomer.firstMessage()); err != nil {
			t.Fatal(err)
		}
		if code, reason := newcomer.closeCode(readWait); code != 4007 {
			t.Errorf("a client opening during the outage got %d %q, want 4007", code, reason)
		}
		waitFor(t, "poll errors", func() bool { return gw.m.pollErrors.get() >= icFailThreshold })
		waitFor(t, "not ready", func() bool { return readyStatus(gw) == 503 })
		waitFor(t, "ws_close retried", func() bool { return gw.m.retries[methodClose].get() > 0 })

		b.ic.SetDown(false)
		if err := c.expect("during"); err != nil {
			t.Fatalf("after the outage: %v", err)
		}
		waitFor(t, "the retried ws_close done", func() bool { return wsCloses(gw) == 1 })
		waitFor(t, "ready again", func() bool { return readyStatus(gw) == 200 })
		if gw.m.pollers.get() != 1 {
			t.Fatalf("pollers = %d", gw.m.pollers.get())
		}
		newcomer.ws.Close()
		if err := b.dial(newcomer); err != nil {
			t.Fatal(err)
		}
		defer newcomer.ws.Close()
		if err := newcomer.ws.WriteMessage(websocket.BinaryMessage, newcomer.firstMessage()); err != nil {
			t.Fatal(err)
		}
		if err := newcomer.expect("ping"); err != nil {
			t.Fatalf("a client opening after the outage: %v", err)
		}
	})
}

func readyStatus(g *Gateway) int {
	rec := newRecorder()
	g.serveReady(rec, nil)
	return rec.status
}

// TestShutdownClosesEveryClient checks graceful shutdown: every client gets 1001, ws_close is
// called for each, new connections are refused.
func TestShutdownClosesEveryClient(t *testing.T) {
	ic := startIC(t)
	gw := startGateway(t, ic, Config{})
	const n = 10
	var cs []*testClient
	for i := 0; i < n; i++ {
		cs = append(cs, openClient(t, ic, gw, ic.echo))
	}
	waitOpen(t, gw.Gateway, n)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := gw.Shutdown(ctx); err != nil {
		t.Fatal(err)
	}
	if got := wsCloses(gw.Gateway); got != n {
		t.Errorf("ws_close called %d times, want %d", got, n)
	}
	for _, c := range cs {
		if code, _ := c.closeCode(readWait); code != 1001 {
			t.Errorf("client closed with %d, want 1001", code)
		}
	}
	if s := stats(t, ic.agent(t), ic.echo); s.OpenClients != s.DetachedClients {
		// The gateway's ws_close detaches a client (its session waits for a reconnection).
		t.Errorf("the canister still has %d attached clients", s.OpenClients-s.DetachedClients)
	}
	if _, resp, err := websocket.DefaultDialer.Dial(gw.url, nil); err == nil || resp == nil || resp.StatusCode != http.StatusServiceUnavailable {
		t.Errorf("a connection after shutdown: %v", err)
	}
}

// TestNoLeaks opens and closes a hundred connections and checks that no goroutine and no memory
// is left behind.
func TestNoLeaks(t *testing.T) {
	ic := startNativeIC(t)
	gw := startGateway(t, ic, Config{})
	a := ic.agent(t)
	cycle := func(n int) {
		var wg sync.WaitGroup
		for i := 0; i < n; i++ {
			c := register(t, a, ic.echo)
			wg.Add(1)
			go func() {
				defer wg.Done()
				c.connect(gw.url)
				if err := c.sendText("hi"); err != nil {
					t.Error(err)
				}
				if err := c.expect("hi"); err != nil {
					t.Error(err)
				}
				c.ws.Close()
			}()
		}
		wg.Wait()
		waitFor(t, "all closed", func() bool {
			return gw.m.connections.get() == 0 && gw.m.pollers.get() == 0 && wsCloses(gw.Gateway) == gw.m.results[methodOpen][resultTrue].get()
		})
	}
	cycle(5) // warm up pools and caches
	ic.http.CloseIdleConnections()
	base := runtime.NumGoroutine()
	var before runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	cycle(100)
	ic.http.CloseIdleConnections()
	deadline := time.Now().Add(20 * time.Second)
	for runtime.NumGoroutine() > base {
		if time.Now().After(deadline) {
			buf := make([]byte, 1<<20)
			t.Fatalf("%d goroutines, %d before:\n%s", runtime.NumGoroutine(), base, buf[:runtime.Stack(buf, true)])
		}
		time.Sleep(5 * time.Millisecond)
	}
	var after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&after)
	if grew := int64(after.HeapInuse) - int64(before.HeapInuse); grew > 4<<20 {
		t.Errorf("heap in use grew by %d bytes over 100 connections", grew)
	}
	gw.mu.Lock()
	conns := len(gw.conns)
	gw.mu.Unlock()
	if total, addrs := gw.limiter.counts(); conns != 0 || total != 0 || addrs != 0 {
		t.Errorf("left behind: %d conns, %d slots, %d addresses", conns, total, addrs)
	}
}

// recorder is a minimal http.ResponseWriter.
type recorder struct {
	h      http.Header
	status int
}

func newRecorder() *recorder                    { return &recorder{h: http.Header{}, status: 200} }
func (r *recorder) Header() http.Header         { return r.h }
func (r *recorder) Write(b []byte) (int, error) { return len(b), nil }
func (r *recorder) WriteHeader(s int)           { r.status = s }

// TestClosedClientLeavesHoles checks that the poller takes batches with holes: a client that
// closes before the gateway fetched its messages has them deleted from the middle of the
// gateway's queue, between other clients' messages.
func TestClosedClientLeavesHoles(t *testing.T) {
	ic := startIC(t)
	// This gateway polls only when a call through it succeeds (or every hour).
	gw := startGateway(t, ic, Config{PollInterval: time.Hour})
	other := startGateway(t, ic, Config{})
	a, b := openClient(t, ic, gw, ic.chat), openClient(t, ic, gw, ic.chat)
	waitOpen(t, gw.Gateway, 2)
	drainGreetings(t, []*testClient{a, b})
	c := openClient(t, ic, other, ic.chat)
	// Posts through the other gateway queue messages for a and b, interleaved, in gw's queue.
	for i := 0; i < 3; i++ {
		if err := c.sendText(fmt.Sprintf("x%d", i)); err != nil {
			t.Fatal(err)
		}
		if err := c.expect(fmt.Sprintf("x%d", i)); err != nil {
			t.Fatal(err)
		}
	}
	// a says goodbye (ending its session, so its messages go) and leaves.
	if err := a.goodbye(); err != nil {
		t.Fatal(err)
	}
	a.ws.Close()
	waitFor(t, "a closed", func() bool { return wsCloses(gw.Gateway)+gw.m.results[methodClose][resultReject].get() == 1 })
	// b's call makes gw poll: the batch skips a's deleted messages.
	if err := b.sendText("y"); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"x0", "x1", "x2", "y"} {
		if err := b.expect(want); err != nil {
			t.Fatal(err)
		}
	}
	if gw.m.pollRefused.get() != 0 || gw.m.pollGaps.get() == 0 {
		t.Errorf("refused %d batches, %d with gaps; want 0 and some", gw.m.pollRefused.get(), gw.m.pollGaps.get())
	}
}
