package gateway

import (
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/icws/icws/agent"
	"github.com/icws/icws/canisters/omniaecho"
	"github.com/icws/icws/ic/candid"
	"github.com/icws/icws/ic/envelope"
	"github.com/icws/icws/ic/identity"
	"github.com/icws/icws/ic/principal"
	"github.com/icws/icws/protocol"
	"github.com/icws/icws/protocol/omnia"
)

// omniaClient is a Go client of the Omnia protocol for tests: it signs its calls with its own
// identity (secp256k1, as ic-websocket-js does by default) and speaks to the gateway's /omnia
// endpoint.
type omniaClient struct {
	t        testing.TB
	id       identity.Identity
	canister principal.Principal
	nonce    uint64
	ws       *websocket.Conn
	gateway  principal.Principal // from the handshake
}

func newOmniaClient(t testing.TB, canister principal.Principal) *omniaClient {
	t.Helper()
	id, err := identity.GenerateSecp256k1()
	if err != nil {
		t.Fatal(err)
	}
	var b [8]byte
	rand.Read(b[:])
	n := uint64(b[0]) | uint64(b[1])<<8 | uint64(b[2])<<16 | uint64(b[3])<<24 | uint64(b[4])<<32 | uint64(b[5])<<40 | uint64(b[6])<<48 | uint64(b[7]&0x7f)<<56
	return &omniaClient{t: t, id: id, canister: canister, nonce: n}
}

// dial opens the WebSocket and reads the handshake, checking its bytes.
func (c *omniaClient) dial(gw *testGW) { c.dialWith(gw, &net.Dialer{}) }

// dialWith is dial with a net.Dialer of the test's, for socket options.
func (c *omniaClient) dialWith(gw *testGW, nd *net.Dialer) {
	c.t.Helper()
	d := websocket.Dialer{HandshakeTimeout: 10 * time.Second, NetDialContext: nd.DialContext}
	ws, _, err := d.Dial(gw.url+"/omnia", nil)
	if err != nil {
		c.t.Fatalf("dial: %v", err)
	}
	c.t.Cleanup(func() { ws.Close() })
	c.ws = ws
	ws.SetReadDeadline(time.Now().Add(20 * time.Second))
	typ, hs, err := ws.ReadMessage()
	if err != nil {
		c.t.Fatalf("reading the handshake: %v", err)
	}
	if want := omnia.Handshake(gw.Principal()); typ != websocket.BinaryMessage || !bytes.Equal(hs, want) {
		c.t.Fatalf("handshake = %d %x, want binary %x", typ, hs, want)
	}
	if c.gateway, err = omnia.DecodeHandshake(hs); err != nil {
		c.t.Fatal(err)
	}
}

// call returns the client frame of a call of method with arg, signed by the client.
func (c *omniaClient) call(canister principal.Principal, method string, arg []byte) []byte {
	c.t.Helper()
	nonce := make([]byte, 16)
	rand.Read(nonce)
	env, err := envelope.Sign(c.id, envelope.Content{
		RequestType:   envelope.RequestTypeCall,
		Sender:        c.id.Sender(),
		Nonce:         nonce,
		IngressExpiry: uint64(time.Now().Add(4 * time.Minute).UnixNano()),
		CanisterID:    canister,
		MethodName:    method,
		Arg:           arg,
	})
	if err != nil {
		c.t.Fatal(err)
	}
	body, err := env.Marshal()
	if err != nil {
		c.t.Fatal(err)
	}
	return omnia.AppendClientFrame(nil, body)
}

// openFrame is the client's ws_open frame naming gateway.
func (c *omniaClient) openFrame(gateway principal.Principal) []byte {
	return c.call(c.canister, omniaOpen, omnia.EncodeOpenArgs(omnia.OpenArgs{ClientNonce: c.nonce, GatewayPrincipal: gateway}))
}

func (c *omniaClient) send(frame []byte) {
	c.t.Helper()
	if err := c.ws.WriteMessage(websocket.BinaryMessage, frame); err != nil {
		c.t.Fatalf("write: %v", err)
	}
}

// closed reads until the gateway closes the connection and returns the Close frame's code and
// reason.
func (c *omniaClient) closed() (int, string) {
	c.t.Helper()
	c.ws.SetReadDeadline(time.Now().Add(30 * time.Second))
	for {
		_, _, err := c.ws.ReadMessage()
		var ce *websocket.CloseError
		if errors.As(err, &ce) {
			return ce.Code, ce.Text
		}
		if err != nil {
			c.t.Fatalf("read: %v, want a Close frame", err)
		}
	}
}

// The Omnia endpoint's refusals of a first frame, each with its close code and a reason that says
// what was wrong, against the real replica (its canisters speak the seed protocol, so a relayed
// ws_open reaches the IC and is refused by the canister).
func TestOmniaOpenRefused(t *testing.T) {
	ic := startNativeIC(t)
	gw := startGateway(t, ic, Config{})
	other := principal.MustDecode("aaaaa-aa")
	tests := []struct {
		name     string
		frame    func(c *omniaClient) []byte
		text     bool
		code     protocol.CloseCode
		inReason string
	}{
		{"text frame", func(*omniaClient) []byte { return []byte("hello") }, true, protocol.CloseBadFirstMessage, "text frame"},
		{"not CBOR", func(*omniaClient) []byte { return []byte{0xff, 0x00} }, false, protocol.CloseBadFirstMessage, "malformed frame"},
		{"a seed S2", func(*omniaClient) []byte {
			return protocol.SignedFirstMessage{FirstMessage: []byte{1}, Sig: []byte{2}}.Marshal()
		}, false, protocol.CloseBadFirstMessage, "no \"envelope\""},
		{"ws_message first", func(c *omniaClient) []byte { return c.call(c.canister, omniaMessage, []byte("DIDL\x00\x00")) }, false, protocol.CloseBadFirstMessage, "open with a call of ws_open"},
		{"bad open args", func(c *omniaClient) []byte { return c.call(c.canister, omniaOpen, []byte("DIDL\x00\x00")) }, false, protocol.CloseBadFirstMessage, "CanisterWsOpenArguments"},
		{"another gateway", func(c *omniaClient) []byte { return c.openFrame(other) }, false, protocol.CloseBadFirstMessage, "names gateway aaaaa-aa"},
		{"seed canister", func(c *omniaClient) []byte { return c.openFrame(c.gateway) }, false, protocol.CloseOpenRefused, "ws_open rejected"},
		{"no such canister", func(c *omniaClient) []byte {
			c.canister = principal.CanisterID(4242)
			return c.openFrame(c.gateway)
		}, false, protocol.CloseUnknownCanister, "no canister"},
		{"bad signature", func(c *omniaClient) []byte {
			f := c.openFrame(c.gateway)
			f[len(f)-1] ^= 1 // the last byte of sender_sig
			return f
		}, false, protocol.CloseOpenRefused, "the IC refused the ws_open call (HTTP 4"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := newOmniaClient(t, ic.echo)
			c.dial(gw)
			if tt.text {
				c.ws.WriteMessage(websocket.TextMessage, tt.frame(c))
			} else {
				c.send(tt.frame(c))
			}
			code, reason := c.closed()
			t.Logf("closed with %d %q", code, reason)
			if code != int(tt.code) || !strings.Contains(reason, tt.inReason) {
				t.Fatalf("closed with %d %q, want %d with %q", code, reason, tt.code, tt.inReason)
			}
		})
	}
}

// A seed client at the seed endpoint is untouched by the Omnia endpoint, and a seed first message
// sent to the Omnia endpoint is refused there (the protocols are chosen by endpoint, never by
// guessing).
func TestOmniaEndpointsApart(t *testing.T) {
	ic := startNativeIC(t)
	gw := startGateway(t, ic, Config{})
	a := ic.agent(t)
	c := register(t, a, ic.echo)
	c.connect(gw.url + "/")
	if err := c.sendText("ping"); err != nil {
		t.Fatal(err)
	}
	if err := c.expect("ping"); err != nil {
		t.Fatal(err)
	}

	s := register(t, a, ic.echo)
	if err := s.dial(gw.url + "/omnia"); err != nil {
		t.Fatal(err)
	}
	s.ws.ReadMessage() // the Omnia handshake
	if err := s.ws.WriteMessage(websocket.BinaryMessage, s.firstMessage()); err != nil {
		t.Fatal(err)
	}
	if code, reason := s.closeCode(20 * time.Second); code != int(protocol.CloseBadFirstMessage) || !strings.Contains(reason, "envelope") {
		t.Fatalf("a seed first message at /omnia: closed with %d %q", code, reason)
	}
}

// key is the client's ClientKey.
func (c *omniaClient) key() omnia.ClientKey {
	return omnia.ClientKey{Principal: c.id.Sender(), Nonce: c.nonce}
}

// message is the client frame of a ws_message call carrying content as message seq.
func (c *omniaClient) message(seq uint64, service bool, content []byte) []byte {
	return c.call(c.canister, omniaMessage, omnia.EncodeMessageArgs(omnia.MessageArgs{Msg: omnia.WebsocketMessage{
		Key: c.key(), SequenceNum: seq, Timestamp: uint64(time.Now().UnixNano()), IsServiceMessage: service, Content: content,
	}}))
}

// next reads the next frame and decodes it: the frame, then its content, checking the key's
// gateway and the message's client.
func (c *omniaClient) next() omnia.WebsocketMessage {
	c.t.Helper()
	c.ws.SetReadDeadline(time.Now().Add(20 * time.Second))
	typ, data, err := c.ws.ReadMessage()
	if err != nil {
		c.t.Fatalf("read: %v", err)
	}
	f, err := omnia.DecodeFrame(data)
	if err != nil || typ != websocket.BinaryMessage {
		c.t.Fatalf("frame %d %x: %v", typ, data, err)
	}
	if gw, _, err := omnia.ParseKey(f.Key); err != nil || !gw.Equal(c.gateway) || len(f.Cert) == 0 || len(f.Tree) == 0 {
		c.t.Fatalf("frame key %q (%v), cert %d bytes, tree %d bytes", f.Key, err, len(f.Cert), len(f.Tree))
	}
	m, err := omnia.UnmarshalWebsocketMessage(f.Content)
	if err != nil || !m.Key.Equal(c.key()) {
		c.t.Fatalf("content %x: %+v, %v", f.Content, m, err)
	}
	return m
}

// open sends ws_open and reads the canister's OpenMessage.
func (c *omniaClient) open(gw *testGW) {
	c.t.Helper()
	c.dial(gw)
	c.send(c.openFrame(c.gateway))
	m := c.next()
	sm, err := omnia.DecodeServiceMessage(m.Content)
	if err != nil || !m.IsServiceMessage || m.SequenceNum != 1 || sm.Open == nil || !sm.Open.Key.Equal(c.key()) {
		c.t.Fatalf("first message %+v (%+v, %v), want the OpenMessage", m, sm, err)
	}
}

func appMessage(t testing.TB, text string) []byte {
	t.Helper()
	b, err := candid.Marshal(omniaecho.AppMessage{Text: text, Timestamp: 1})
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// A Go client of the Omnia protocol through the gateway to omnia-echo: echoes in order; frames that
// are not this client's ws_message calls to this canister are bad messages (closed with 4006 after
// MaxBadMessages); a wrong sequence number reaches the canister, which closes the session with a
// CloseMessage; ws_close is called when the socket ends, and by Shutdown.
func TestOmniaSession(t *testing.T) {
	ic, echo, _ := startOmniaIC(t, time.Minute, time.Minute)
	canister := principal.MustDecode(echo)

	t.Run("echo", func(t *testing.T) {
		gw := startGateway(t, ic, Config{})
		c := newOmniaClient(t, canister)
		c.open(gw)
		for i := uint64(1); i <= 3; i++ {
			c.send(c.message(i, false, appMessage(t, fmt.Sprint("m", i))))
		}
		for i := uint64(2); i <= 4; i++ {
			m := c.next()
			var got omniaecho.AppMessage
			if err := candid.Unmarshal(m.Content, &got); err != nil || m.SequenceNum != i || m.IsServiceMessage || got.Text != fmt.Sprint("m", i-1) {
				t.Fatalf("message %+v (%+v, %v), want echo m%d with sequence number %d", m, got, err, i-1, i)
			}
		}
		c.ws.Close()
		waitFor(t, "ws_close", func() bool { return gw.m.results[methodClose][resultTrue].get() == 1 })
		if n := gw.m.omniaConnections.get(); n != 1 {
			t.Errorf("icws_gateway_omnia_connections_total = %d, want 1", n)
		}
	})

	t.Run("misaddressed", func(t *testing.T) {
		gw := startGateway(t, ic, Config{MaxBadMessages: 3})
		c := newOmniaClient(t, canister)
		c.open(gw)
		other := newOmniaClient(t, canister)
		other.nonce = c.nonce
		c.send(c.call(ic.echo, omniaMessage, []byte("DIDL\x00\x00")))                                                          // another canister
		c.send(other.message(1, false, appMessage(t, "not mine")))                                                             // another client's call
		c.send(c.call(canister, omniaOpen, omnia.EncodeOpenArgs(omnia.OpenArgs{ClientNonce: 1, GatewayPrincipal: c.gateway}))) // not ws_message
		code, reason := c.closed()
		if code != int(protocol.CloseTooManyBadMessages) || !strings.Contains(reason, "ws_message") {
			t.Fatalf("closed with %d %q, want %d", code, reason, protocol.CloseTooManyBadMessages)
		}
		if n := gw.m.results[methodMessage][resultTrue].get() + gw.m.results[methodMessage][resultFalse].get(); n != 0 {
			t.Fatalf("%d ws_message calls for misaddressed frames, want none", n)
		}
	})

	t.Run("wrong sequence number", func(t *testing.T) {
		gw := startGateway(t, ic, Config{})
		c := newOmniaClient(t, canister)
		c.open(gw)
		c.send(c.message(7, false, appMessage(t, "skipped ahead")))
		m := c.next()
		sm, err := omnia.DecodeServiceMessage(m.Content)
		if err != nil || sm.Close == nil || sm.Close.Reason != omnia.ReasonWrongSequenceNumber {
			t.Fatalf("message %+v (%+v, %v), want CloseMessage(WrongSequenceNumber)", m, sm, err)
		}
		waitFor(t, "the refused ws_message", func() bool { return gw.m.results[methodMessage][resultFalse].get() == 1 })
	})

	// A replica without /api/v3: the relayed calls are accepted without their outcome (v2 answers
	// 202 and another sender's request cannot be polled), so the client counts as open and the
	// canister's OpenMessage, polled like any message, confirms it.
	t.Run("v2 only", func(t *testing.T) {
		var v2Calls atomic.Int32
		noV3 := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if strings.HasPrefix(r.URL.Path, "/api/v3/") {
				http.NotFound(w, r)
				return
			}
			if strings.HasPrefix(r.URL.Path, "/api/v2/canister/") && strings.HasSuffix(r.URL.Path, "/call") {
				v2Calls.Add(1)
			}
			httputil.NewSingleHostReverseProxy(&url.URL{Scheme: "http", Host: ic.addr}).ServeHTTP(w, r)
		}))
		t.Cleanup(noV3.Close)
		id, err := identity.GenerateEd25519()
		if err != nil {
			t.Fatal(err)
		}
		a, err := agent.New(agent.Config{URL: noV3.URL, Identity: id, RootKey: ic.rep.RootKey(), HTTPClient: ic.http})
		if err != nil {
			t.Fatal(err)
		}
		gw := startGatewayWithAgent(t, a, Config{})
		c := newOmniaClient(t, canister)
		c.open(gw)
		c.send(c.message(1, false, appMessage(t, "via v2")))
		var got omniaecho.AppMessage
		if m := c.next(); candid.Unmarshal(m.Content, &got) != nil || got.Text != "via v2" {
			t.Fatalf("message %+v, want the echo", m)
		}
		if n := v2Calls.Load(); n != 2 {
			t.Fatalf("%d calls through /api/v2, want 2 (ws_open, ws_message)", n)
		}
	})

	t.Run("shutdown", func(t *testing.T) {
		gw := startGateway(t, ic, Config{})
		c := newOmniaClient(t, canister)
		c.open(gw)
		gw.srv.Close()
		if err := gw.Shutdown(context.Background()); err != nil {
			t.Fatal(err)
		}
		if code, _ := c.closed(); code != int(protocol.CloseGoingAway) {
			t.Fatalf("closed with %d, want 1001", code)
		}
		if n := gw.m.results[methodClose][resultTrue].get(); n != 1 {
			t.Fatalf("%d ws_close calls succeeded, want 1", n)
		}
	})
}

// BenchmarkOmniaEchoRoundTrip measures one Omnia client's round trip through the gateway to
// omnia-echo on the in-process replica: the signed ws_message relayed (synchronous /api/v3 call,
// outcome read), the poller poked, the echo polled and written. Round trips are sequential, so
// the report is the latency (p50, p99) and its inverse. The per-connection rate limit (20 frames a
// second by default) is off: a round trip takes less than 50 ms here.
//
//	go test -run '^$' -bench OmniaEchoRoundTrip -benchtime 300x ./gateway
func BenchmarkOmniaEchoRoundTrip(b *testing.B) {
	ic, echo, _ := startOmniaIC(b, time.Minute, time.Minute)
	gw := startGateway(b, ic, Config{MessageRate: -1})
	c := newOmniaClient(b, principal.MustDecode(echo))
	c.open(gw)
	lat := make([]time.Duration, 0, b.N)
	payload := appMessage(b, "benchmark")
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		start := time.Now()
		c.send(c.message(uint64(i)+1, false, payload))
		if m := c.next(); m.SequenceNum != uint64(i)+2 || m.IsServiceMessage {
			b.Fatalf("message %+v, want echo %d", m, i+2)
		}
		lat = append(lat, time.Since(start))
	}
	b.StopTimer()
	slices.Sort(lat)
	b.ReportMetric(float64(lat[len(lat)/2].Microseconds()), "p50-µs")
	b.ReportMetric(float64(lat[len(lat)*99/100].Microseconds()), "p99-µs")
}

// TestUnknownCanisterKeepsReady opens connections, seed and Omnia, that name a canister the IC
// does not host: each is closed with 4002, the IC's "no such canister" counts as an answer (the
// gateway stays ready: strangers cannot flip /readyz), and the Omnia ws_open is counted as
// rejected.
func TestUnknownCanisterKeepsReady(t *testing.T) {
	ic := startNativeIC(t)
	gw := startGateway(t, ic, Config{})
	good := register(t, ic.agent(t), ic.echo)
	for i := range icFailThreshold {
		c := &testClient{t: t}
		if err := c.dial(gw.url); err != nil {
			t.Fatal(err)
		}
		first := protocol.SignFirstMessage(good.key, protocol.FirstMessage{CanisterID: principal.CanisterID(999 + uint64(i)).String(), ClientID: good.id})
		if err := c.ws.WriteMessage(websocket.BinaryMessage, first); err != nil {
			t.Fatal(err)
		}
		if code, reason := c.closeCode(readWait); code != int(protocol.CloseUnknownCanister) {
			t.Fatalf("seed: closed with %d %q, want 4002", code, reason)
		}
		c.ws.Close()

		o := newOmniaClient(t, ic.echo)
		o.canister = principal.CanisterID(4242 + uint64(i))
		o.dial(gw)
		o.send(o.openFrame(o.gateway))
		if code, reason := o.closed(); code != int(protocol.CloseUnknownCanister) {
			t.Fatalf("omnia: closed with %d %q, want 4002", code, reason)
		}
	}
	rec := httptest.NewRecorder()
	gw.MetricsHandler().ServeHTTP(rec, httptest.NewRequest("GET", "/readyz", nil))
	if rec.Code != http.StatusOK {
		t.Errorf("/readyz after connections naming unknown canisters: %d %q", rec.Code, rec.Body.String())
	}
	if n := gw.m.results[methodOpen][resultReject].get(); n != icFailThreshold {
		t.Errorf("ws_open rejects counted %d, want %d (the Omnia opens)", n, icFailThreshold)
	}
	if n := gw.m.results[methodOpen][resultError].get(); n != 0 {
		t.Errorf("ws_open errors counted %d, want 0", n)
	}
}
