package client_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/icws/icws/client"
	"github.com/icws/icws/gateway"
	"github.com/icws/icws/protocol"
)

// flip flips the low bit of the last byte of b.
func flip(b []byte) { b[len(b)-1] ^= 1 }

// TestMisbehavingGateway puts a gateway that tampers with one message in front of a client of
// the echo canister: each kind of tampering must be caught with the right error, the messages
// before it must come through, and nothing forged may ever be returned.
func TestMisbehavingGateway(t *testing.T) {
	const target = "m2 ping"
	tests := []struct {
		name string
		edit func(f *proxyFrame) [][]byte
		// want is what Recv must return after m0 and m1.
		want client.Kind
		// then are the texts that must follow, after a non-fatal error.
		then []string
	}{
		{"flip a byte of val", func(f *proxyFrame) [][]byte {
			return [][]byte{f.edited(func(cm *protocol.CertMessage) { flip(cm.Val) })}
		}, client.Tampered, nil},
		{"flip a byte of cert", func(f *proxyFrame) [][]byte {
			return [][]byte{f.edited(func(cm *protocol.CertMessage) { flip(cm.Cert) })}
		}, client.BadCertificate, nil},
		{"flip a byte of tree", func(f *proxyFrame) [][]byte {
			return [][]byte{f.edited(func(cm *protocol.CertMessage) { flip(cm.Tree) })}
		}, client.Tampered, nil},
		{"change the key", func(f *proxyFrame) [][]byte {
			return [][]byte{f.edited(func(cm *protocol.CertMessage) { cm.Key = strings.Replace(cm.Key, "_", "_9", 1)[:len(cm.Key)] })}
		}, client.Tampered, nil},
		{"drop a message", func(f *proxyFrame) [][]byte {
			return nil
		}, client.Gap, nil},
		{"replay a message", func(f *proxyFrame) [][]byte {
			return [][]byte{f.data, f.data}
		}, client.Replay, []string{"m3 ping", "m4 ping"}},
	}
	e := newEnv(t)
	gw := e.gateway(t)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
			defer cancel()
			var forged sync.Map // the frames the proxy made up
			p := newProxy(t, gw, func(f *proxyFrame) [][]byte {
				if f.text() != target {
					return [][]byte{f.data}
				}
				out := tt.edit(f)
				for _, o := range out {
					if string(o) != string(f.data) {
						forged.Store(string(o), true)
					}
				}
				return out
			})
			// notForged checks that a message Recv returned is none of the proxy's inventions.
			notForged := func(m client.Message) {
				forged.Range(func(k, _ any) bool {
					cm, err := protocol.DecodeCertMessage([]byte(k.(string)))
					if err != nil {
						return true
					}
					wm, err := protocol.DecodeWebsocketMessage(cm.Val)
					if err == nil && cm.Key == m.Key && string(wm.Message) == string(m.Payload) {
						t.Fatalf("Recv returned the forged message %q under key %s", m.Payload, m.Key)
					}
					return true
				})
			}
			c := dial(t, ctx, e.config(e.echo, p.url))
			last := int64(-1)
			notForged(recvText(t, ctx, c, "ping", &last))
			for i := range 5 {
				if err := c.Send(ctx, text(fmt.Sprintf("m%d", i))); err != nil {
					t.Fatal(err)
				}
			}
			notForged(recvText(t, ctx, c, "m0 ping", &last))
			notForged(recvText(t, ctx, c, "m1 ping", &last))
			if tt.want == client.Replay {
				notForged(recvText(t, ctx, c, "m2 ping", &last))
			}
			ve := recvErr(t, ctx, c, tt.want)
			if ve.Detail == "" && ve.Err == nil {
				t.Fatalf("%v says nothing about what failed", ve)
			}
			for _, want := range tt.then {
				notForged(recvText(t, ctx, c, want, &last))
			}
			if !tt.want.Fatal() {
				return
			}
			// A fatal error sticks, and sending stops.
			if _, err := c.Recv(ctx); !errors.Is(err, ve) {
				t.Fatalf("Recv after a fatal error: %v, want the same error", err)
			}
			if err := c.Send(ctx, text("more")); !errors.Is(err, ve) {
				t.Fatalf("Send after a fatal error: %v, want it to wrap %v", err, ve)
			}
		})
	}
}

// TestReorderedMessages swaps two messages: the first one out of order is a gap.
func TestReorderedMessages(t *testing.T) {
	e := newEnv(t)
	ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
	defer cancel()
	var held []byte
	p := newProxy(t, e.gateway(t), func(f *proxyFrame) [][]byte {
		switch f.text() {
		case "m2":
			held = f.data
			return nil
		case "m3":
			return [][]byte{f.data, held}
		}
		return [][]byte{f.data}
	})
	c := dial(t, ctx, e.config(e.fastEcho, p.url))
	for i := range 4 {
		if err := c.Send(ctx, text(fmt.Sprintf("m%d", i))); err != nil {
			t.Fatal(err)
		}
	}
	last := int64(-1)
	recvText(t, ctx, c, "m0", &last)
	recvText(t, ctx, c, "m1", &last)
	ve := recvErr(t, ctx, c, client.Gap)
	if !strings.Contains(ve.Detail, "missing") {
		t.Fatalf("gap error %q does not say what is missing", ve)
	}
}

// TestForeignMessage has the gateway deliver another client's (genuine) message: it is refused
// as foreign, and the connection goes on.
func TestForeignMessage(t *testing.T) {
	e := newEnv(t)
	ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
	defer cancel()
	var mu sync.Mutex
	var other []byte // a frame for client b
	p := newProxy(t, e.gateway(t), func(f *proxyFrame) [][]byte {
		mu.Lock()
		defer mu.Unlock()
		switch f.text() {
		case "b0":
			other = f.data
		case "a1":
			return [][]byte{other, f.data}
		}
		return [][]byte{f.data}
	})
	a := dial(t, ctx, e.config(e.fastEcho, p.url))
	b := dial(t, ctx, e.config(e.fastEcho, p.url))
	lastB := int64(-1)
	if err := b.Send(ctx, text("b0")); err != nil {
		t.Fatal(err)
	}
	recvText(t, ctx, b, "b0", &lastB)
	for i := range 3 {
		if err := a.Send(ctx, text(fmt.Sprintf("a%d", i))); err != nil {
			t.Fatal(err)
		}
	}
	last := int64(-1)
	recvText(t, ctx, a, "a0", &last)
	ve := recvErr(t, ctx, a, client.Foreign)
	if !strings.Contains(ve.Detail, fmt.Sprintf("client %d", b.ClientID())) {
		t.Fatalf("foreign error %q does not name the other client", ve)
	}
	recvText(t, ctx, a, "a1", &last)
	recvText(t, ctx, a, "a2", &last)
}

// pollGate is the replica as one gateway sees it, through a reverse proxy on loopback that can
// hold the gateway's polls (ws_get_messages queries) until a given client message is queued (its
// ws_message answered): the messages the canister queued meanwhile then come in one poll, one S9
// frame per client, as they do on a loaded machine when the poll that a call pokes runs after
// the next calls.
type pollGate struct {
	url string

	mu    sync.Mutex
	until []byte        // while polls are held: what the awaited ws_message carries
	open  chan struct{} // closed when polls pass again
}

// maxPollHold bounds how long a pollGate holds one poll.
const maxPollHold = 10 * time.Second

// newPollGate starts a pollGate in front of e's replica.
func newPollGate(t *testing.T, e *env) *pollGate {
	t.Helper()
	target, err := url.Parse(e.rep.URL())
	if err != nil {
		t.Fatal(err)
	}
	g := &pollGate{open: make(chan struct{})}
	close(g.open)
	rp := httputil.NewSingleHostReverseProxy(target)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, err := io.ReadAll(r.Body)
		if err != nil {
			http.Error(w, "pollGate: "+err.Error(), http.StatusBadRequest)
			return
		}
		r.Body = io.NopCloser(bytes.NewReader(body))
		// The CBOR envelope holds the method name, and a call's argument the message, as they are.
		if strings.HasSuffix(r.URL.Path, "/query") && bytes.Contains(body, []byte("ws_get_messages")) {
			g.mu.Lock()
			open := g.open
			g.mu.Unlock()
			hold := time.NewTimer(maxPollHold)
			defer hold.Stop()
			select {
			case <-open:
			case <-hold.C: // bounded: the test failed, or its message never came
			case <-r.Context().Done():
				http.Error(w, "pollGate: the query was given up while held", http.StatusServiceUnavailable)
				return
			}
		}
		rp.ServeHTTP(w, r)
		if strings.HasSuffix(r.URL.Path, "/call") && bytes.Contains(body, []byte("ws_message")) {
			g.mu.Lock()
			if g.until != nil && bytes.Contains(body, g.until) {
				g.until = nil
				close(g.open)
			}
			g.mu.Unlock()
		}
	}))
	t.Cleanup(srv.Close)
	g.url = srv.URL
	return g
}

// holdUntil holds the polls until a ws_message call whose argument contains payload is answered.
func (g *pollGate) holdUntil(payload []byte) {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.until = payload
	g.open = make(chan struct{})
}

// TestDelayedMessage has the gateway hold a message past the client's bound: in a frame of its
// own, or in one S9 frame with the messages before and after it (the gateway's poll held until
// they are queued).
func TestDelayedMessage(t *testing.T) {
	e := newEnv(t)
	for _, batched := range []bool{false, true} {
		t.Run(fmt.Sprintf("batched=%v", batched), func(t *testing.T) { testDelayedMessage(t, e, batched) })
	}
}

func testDelayedMessage(t *testing.T, e *env, batched bool) {
	ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
	defer cancel()
	gate := newPollGate(t, e)
	// m2 and what follows it in its frame are dropped from it, so that the messages before them
	// in an S9 go on (a blocking edit would hold the whole frame); the next frame waits for
	// release, then goes on after them.
	held, release := make(chan struct{}), make(chan struct{})
	var after [][]byte // m2 and what followed it in its frame
	heldFrame := -1    // the gateway's frame of m2
	var sent bool      // after released
	var mu sync.Mutex
	var frameOf [4]int // the gateway's frame of m0 to m3, under mu
	p := newProxy(t, e.gatewayWith(t, gateway.Config{URL: gate.url, MessageRate: -1, MaxPendingMessages: 1024}), func(f *proxyFrame) [][]byte {
		var i int
		if _, err := fmt.Sscanf(f.text(), "m%d", &i); err == nil && i < len(frameOf) {
			mu.Lock()
			frameOf[i] = f.n
			mu.Unlock()
		}
		switch {
		case f.text() == "m2":
			heldFrame = f.n
			after = append(after, f.data)
			close(held)
			return nil
		case heldFrame == f.n:
			after = append(after, f.data)
			return nil
		case heldFrame >= 0 && !sent:
			select {
			case <-release:
			case <-ctx.Done():
			}
			sent = true
			return append(after, f.data)
		}
		return [][]byte{f.data}
	})
	var clock fakeClock
	cfg := e.config(e.fastEcho, p.url)
	cfg.Clock = clock.Now
	cfg.MaxMessageAge = 10 * time.Second
	c := dial(t, ctx, cfg)
	if batched {
		gate.holdUntil(text("m3")) // m3 comes after m2 in their S9
	}
	for i := range 4 {
		if err := c.Send(ctx, text(fmt.Sprintf("m%d", i))); err != nil {
			t.Fatal(err)
		}
	}
	last := int64(-1)
	recvText(t, ctx, c, "m0", &last)
	recvText(t, ctx, c, "m1", &last)
	select {
	case <-held:
	case <-ctx.Done():
		t.Fatal("the proxy never got m2")
	}
	clock.Advance(cfg.MaxMessageAge + time.Second)
	close(release)
	if err := c.Send(ctx, text("m4")); err != nil { // a frame to carry m2 (or a heartbeat)
		t.Fatal(err)
	}
	ve := recvErr(t, ctx, c, client.Stale)
	if !strings.Contains(ve.Detail, "queued") {
		t.Fatalf("stale error %q does not say the message is late", ve)
	}
	mu.Lock()
	defer mu.Unlock()
	if batched && (frameOf[0] != frameOf[1] || frameOf[1] != frameOf[2] || frameOf[2] != frameOf[3]) {
		t.Fatalf("m0 to m3 came in frames %v, want one S9", frameOf)
	}
}
