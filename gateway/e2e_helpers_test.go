package gateway

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/sha256"
	"errors"
	"fmt"
	"github.com/icws/icws/canisters/chat"
	"github.com/icws/icws/canisters/echo"
	"github.com/icws/icws/internal/wasmtest"
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/icws/icws/agent"
	"github.com/icws/icws/ic/certificate"
	"github.com/icws/icws/ic/hashtree"
	"github.com/icws/icws/ic/identity"
	"github.com/icws/icws/ic/principal"
	"github.com/icws/icws/protocol"
	"github.com/icws/icws/replica"
)

// testIC is the in-process replica with the echo and chat canisters, served on a loopback port.
// (A test of an outage runs in a synctest bubble instead: see bubble.)
type testIC struct {
	t    testing.TB
	rep  *replica.Replica
	addr string
	echo principal.Principal
	chat principal.Principal
	// http is the HTTP client of every agent the test makes, so that idle connections can be
	// closed before goroutines are counted.
	http *http.Client

	mu  sync.Mutex
	srv *http.Server
}

// startIC starts a replica with the echo and chat canisters as the IC Wasm modules icws build
// makes of them.
func startIC(t testing.TB) *testIC {
	t.Helper()
	return startICWith(t, []replica.CanisterSpec{{Name: "echo", Wasm: wasmtest.Build(t, wasmtest.Echo).Wasm}, {Name: "chat", Wasm: wasmtest.Build(t, wasmtest.Chat).Wasm}})
}

// startNativeIC hosts the canisters as Go values instead, for tests that measure this process's
// heap, which a Wasm canister's linear memory (it grows, never shrinks) would swell.
func startNativeIC(t testing.TB) *testIC {
	t.Helper()
	return startICWith(t, []replica.CanisterSpec{{Name: "echo", New: echo.New}, {Name: "chat", New: chat.New}})
}

func startICWith(t testing.TB, canisters []replica.CanisterSpec) *testIC {
	t.Helper()
	rep, err := replica.New(replica.Config{
		WasmCacheDir: wasmtest.CacheDir(),
		Canisters:    canisters,
		Logger:       testLogger(t),
	})
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		rep.Close()
		t.Fatal(err)
	}
	ic := &testIC{t: t, rep: rep, addr: ln.Addr().String(), http: &http.Client{Transport: http.DefaultTransport.(*http.Transport).Clone()}}
	ic.echo, _ = rep.CanisterID("echo")
	ic.chat, _ = rep.CanisterID("chat")
	ic.serve(ln)
	t.Cleanup(func() {
		ic.down()
		rep.Close()
		ic.http.CloseIdleConnections()
	})
	return ic
}

func (ic *testIC) url() string { return "http://" + ic.addr }

func (ic *testIC) serve(ln net.Listener) {
	srv := &http.Server{Handler: ic.rep.Handler(), ReadHeaderTimeout: 10 * time.Second}
	ic.mu.Lock()
	ic.srv = srv
	ic.mu.Unlock()
	go srv.Serve(ln)
}

// down closes the replica's listener and connections: calls now fail as on a network outage.
func (ic *testIC) down() {
	ic.mu.Lock()
	defer ic.mu.Unlock()
	if ic.srv != nil {
		ic.srv.Close()
		ic.srv = nil
	}
}

// agent returns an agent of a fresh Ed25519 identity, as a dapp's user would have.
func (ic *testIC) agent(t testing.TB) *agent.Agent {
	t.Helper()
	id, err := identity.GenerateEd25519()
	if err != nil {
		t.Fatal(err)
	}
	return ic.agentOf(t, id)
}

func (ic *testIC) agentOf(t testing.TB, id identity.Identity) *agent.Agent {
	t.Helper()
	a, err := agent.New(agent.Config{URL: ic.url(), Identity: id, RootKey: ic.rep.RootKey(), HTTPClient: ic.http})
	if err != nil {
		t.Fatal(err)
	}
	return a
}

// testGW is a gateway served on a loopback port.
type testGW struct {
	*Gateway
	url string // ws://127.0.0.1:port
	srv *http.Server
}

func startGateway(t testing.TB, ic *testIC, cfg Config) *testGW {
	t.Helper()
	return startGatewayOn(t, ic, cfg, net.ListenConfig{})
}

// startGatewayOn is startGateway with a ListenConfig of the test's, for socket options.
func startGatewayOn(t testing.TB, ic *testIC, cfg Config, lc net.ListenConfig) *testGW {
	t.Helper()
	id, err := identity.GenerateEd25519()
	if err != nil {
		t.Fatal(err)
	}
	return startGatewayWithAgent(t, ic.agentOf(t, id), cfg, lc)
}

// startGatewayWithAgent serves a gateway whose IC calls go through a.
func startGatewayWithAgent(t testing.TB, a *agent.Agent, cfg Config, lcs ...net.ListenConfig) *testGW {
	t.Helper()
	var lc net.ListenConfig
	if len(lcs) > 0 {
		lc = lcs[0]
	}
	cfg.Agent = a
	if cfg.Logger == nil {
		cfg.Logger = testLogger(t)
	}
	g, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	ln, err := lc.Listen(context.Background(), "tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: g.Handler(), ReadHeaderTimeout: 10 * time.Second}
	go srv.Serve(ln)
	tg := &testGW{Gateway: g, url: "ws://" + ln.Addr().String(), srv: srv}
	t.Cleanup(func() {
		srv.Close()
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		defer cancel()
		g.Shutdown(ctx)
		checkOnePoller(t, g)
	})
	return tg
}

// testClient is a minimal client of the protocol for tests: it registers a key, opens, sends
// signed messages and reads frames, checking the frame's key, sequence number and the hash
// tree's leaf against the certificate's certified data (full verification, BLS included, is the
// client SDK's job).
type testClient struct {
	t        testing.TB
	key      ed25519.PrivateKey
	id       uint64
	canister principal.Principal
	ws       *websocket.Conn
	outSeq   uint64 // next sequence number to send
	inSeq    uint64 // next sequence number expected
	// gaps counts messages skipped by the canister (dropped from an overflowing queue before
	// the gateway fetched them); only clients with tolerateGaps accept them.
	gaps         uint64
	tolerateGaps bool
	// skipReplays makes the client skip messages it already had, as icws clients do after a
	// reconnection (the canister sends what the client has not acknowledged again).
	skipReplays bool
	replays     uint64
}

// register makes a client key and registers it with ws_register.
func register(t testing.TB, a *agent.Agent, canister principal.Principal) *testClient {
	t.Helper()
	c, err := registerE(a, canister)
	if err != nil {
		t.Fatal(err)
	}
	c.t = t
	return c
}

// registerE is register for goroutines other than the test's.
func registerE(a *agent.Agent, canister principal.Principal) (*testClient, error) {
	pub, priv, err := ed25519.GenerateKey(nil)
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	var id uint64
	if err := a.Call(ctx, canister, protocol.MethodRegister, []byte(pub), &id); err != nil {
		return nil, fmt.Errorf("ws_register: %w", err)
	}
	return &testClient{key: priv, id: id, canister: canister}, nil
}

// dial opens a WebSocket to the gateway without sending anything.
func (c *testClient) dial(url string) error {
	return c.dialWith(url, &net.Dialer{})
}

// dialWith is dial with a net.Dialer of the test's, for socket options.
func (c *testClient) dialWith(url string, nd *net.Dialer) error {
	d := websocket.Dialer{HandshakeTimeout: 10 * time.Second, NetDialContext: nd.DialContext}
	ws, resp, err := d.Dial(url, nil)
	if err != nil {
		if resp != nil {
			return fmt.Errorf("dial: %w (HTTP %d)", err, resp.StatusCode)
		}
		return fmt.Errorf("dial: %w", err)
	}
	c.ws = ws
	return nil
}

// firstMessage is the client's signed first message (S2).
func (c *testClient) firstMessage() []byte {
	return protocol.SignFirstMessage(c.key, protocol.FirstMessage{CanisterID: c.canister.String(), ClientID: c.id})
}

// connect dials and sends the first message; the open completes with the canister's first
// message (for echo and chat, their greeting).
func (c *testClient) connect(url string) {
	c.t.Helper()
	if err := c.dial(url); err != nil {
		c.t.Fatal(err)
	}
	if err := c.ws.WriteMessage(websocket.BinaryMessage, c.firstMessage()); err != nil {
		c.t.Fatal(err)
	}
}

// send sends an application payload as the next signed message (S5).
func (c *testClient) send(payload []byte) error {
	m := &protocol.WebsocketMessage{ClientID: c.id, SequenceNum: c.outSeq, Timestamp: uint64(time.Now().UnixNano()), Message: payload}
	c.outSeq++
	return c.ws.WriteMessage(websocket.BinaryMessage, protocol.SignClientMessage(c.key, m))
}

// goodbye sends the client's signed close service message: the canister ends the session at once.
func (c *testClient) goodbye() error {
	m := &protocol.WebsocketMessage{ClientID: c.id, SequenceNum: c.outSeq, Timestamp: uint64(time.Now().UnixNano()), Service: true, Close: "bye"}
	c.outSeq++
	return c.ws.WriteMessage(websocket.BinaryMessage, protocol.SignClientMessage(c.key, m))
}

func (c *testClient) sendText(text string) error {
	return c.send(protocol.AppMessage{Text: text}.Marshal())
}

// read reads the next frame and checks it; it returns the canister's message (S4).
func (c *testClient) read(timeout time.Duration) (protocol.WebsocketMessage, error) {
	c.ws.SetReadDeadline(time.Now().Add(timeout))
	typ, data, err := c.ws.ReadMessage()
	if err != nil {
		return protocol.WebsocketMessage{}, err
	}
	if typ != websocket.BinaryMessage {
		return protocol.WebsocketMessage{}, fmt.Errorf("a frame of type %d", typ)
	}
	return c.check(data)
}

func (c *testClient) check(data []byte) (protocol.WebsocketMessage, error) {
	f, err := protocol.DecodeCertMessage(data)
	if err != nil {
		return protocol.WebsocketMessage{}, err
	}
	m, err := protocol.DecodeWebsocketMessage(f.Val)
	if err != nil {
		return m, err
	}
	if m.ClientID != c.id {
		return m, fmt.Errorf("message for client %d, I am %d", m.ClientID, c.id)
	}
	if err := c.checkSeq(m.SequenceNum); err != nil {
		return m, err
	}
	tree, err := hashtree.Unmarshal(f.Tree)
	if err != nil {
		return m, fmt.Errorf("tree: %w", err)
	}
	sum := sha256.Sum256(f.Val)
	if r := hashtree.Lookup(tree, []byte("websocket"), []byte(f.Key)); r.Status != hashtree.Found || !bytes.Equal(r.Value, sum[:]) {
		return m, fmt.Errorf("the tree does not hold SHA-256(val) under %q (%v)", f.Key, r.Status)
	}
	cert, err := certificate.Parse(f.Cert)
	if err != nil {
		return m, fmt.Errorf("certificate: %w", err)
	}
	root := hashtree.Digest(tree)
	if r := cert.Lookup([]byte("canister"), c.canister.Bytes(), []byte("certified_data")); r.Status != hashtree.Found || !bytes.Equal(r.Value, root[:]) {
		return m, errors.New("the certificate's certified data is not the tree's root")
	}
	return m, nil
}

// checkSeq checks a received sequence number and moves on.
func (c *testClient) checkSeq(seq uint64) error {
	if seq < c.inSeq && c.skipReplays {
		c.replays++
		return errReplay
	}
	if seq > c.inSeq && c.tolerateGaps {
		c.gaps += seq - c.inSeq
		c.inSeq = seq
	}
	if seq != c.inSeq {
		return fmt.Errorf("sequence number %d, expected %d", seq, c.inSeq)
	}
	c.inSeq++
	return nil
}

// readApp reads frames until an application message (skipping service messages) and returns its
// payload.
func (c *testClient) readApp(timeout time.Duration) (protocol.WebsocketMessage, error) {
	deadline := time.Now().Add(timeout)
	for {
		m, err := c.read(time.Until(deadline))
		if errors.Is(err, errReplay) {
			continue
		}
		if err != nil || !m.Service {
			return m, err
		}
	}
}

// errReplay is checkSeq's error for a message the client already had, when it skips those.
var errReplay = errors.New("a message already received")

// readText reads application messages until one that has a text (echo's replies, chat's
// messages; chat's join and leave events are skipped) and returns the text.
func (c *testClient) readText(timeout time.Duration) (string, error) {
	deadline := time.Now().Add(timeout)
	for {
		m, err := c.readApp(time.Until(deadline))
		if err != nil {
			return "", err
		}
		if am, err := protocol.DecodeAppMessage(m.Message); err == nil {
			return am.Text, nil
		}
	}
}

// expect reads application messages until one whose text contains want (skipping what the
// canister sends on its own, such as echo's "ping" on open or chat's join events).
func (c *testClient) expect(want string) error {
	deadline := time.Now().Add(readWait)
	for {
		got, err := c.readText(time.Until(deadline))
		if err != nil {
			return fmt.Errorf("waiting for %q: %w", want, err)
		}
		if strings.Contains(got, want) {
			return nil
		}
	}
}

// closeCode reads until the connection closes and returns the close code and reason.
func (c *testClient) closeCode(timeout time.Duration) (int, string) {
	c.t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		c.ws.SetReadDeadline(deadline)
		_, _, err := c.ws.ReadMessage()
		if err == nil {
			continue
		}
		var ce *websocket.CloseError
		if errors.As(err, &ce) {
			return ce.Code, ce.Text
		}
		c.t.Fatalf("connection ended without a Close frame: %v", err)
	}
}

// wsCloses returns the number of ws_close calls of g that succeeded.
func wsCloses(g *Gateway) uint64 { return g.m.results[methodClose][resultTrue].get() }

// stats reads the canister library's counters.
func stats(t testing.TB, a *agent.Agent, canister principal.Principal) protocol.Stats {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var s protocol.Stats
	if err := a.Query(ctx, canister, protocol.MethodStats, nil, &s); err != nil {
		t.Fatalf("ws_stats: %v", err)
	}
	return s
}

// reasonHas reports whether a close reason contains s, for readable test failures.
func reasonHas(reason, s string) bool { return strings.Contains(reason, s) }
