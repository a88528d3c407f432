package client_test

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	ws "github.com/gorilla/websocket"

	"github.com/icws/icws/agent"
	"github.com/icws/icws/client"
	"github.com/icws/icws/protocol"
)

// The tests of this file run the client in a synctest bubble, in front of a real replica and
// gateway (outside the bubble, in real time): the client reaches the gateway through a relay in
// the bubble over in-memory pipes, so that once the relay falls silent every goroutine of the
// bubble is durably blocked and the fake clock jumps to the client's heartbeat timeout at once.

// pipeListener is a net.Listener whose connections are in-memory pipes (net.Pipe). Made in a
// bubble, the goroutines that wait on its connections are durably blocked.
type pipeListener struct {
	conns chan net.Conn
	done  chan struct{}
	once  sync.Once
}

func newPipeListener() *pipeListener {
	return &pipeListener{conns: make(chan net.Conn), done: make(chan struct{})}
}

func (l *pipeListener) Accept() (net.Conn, error) {
	select {
	case c := <-l.conns:
		return c, nil
	case <-l.done:
		return nil, net.ErrClosed
	}
}

func (l *pipeListener) Close() error {
	l.once.Do(func() { close(l.done) })
	return nil
}

func (l *pipeListener) Addr() net.Addr { return pipeAddr{} }

// dial is a websocket.Dialer's NetDialContext: it connects to the listener.
func (l *pipeListener) dial(ctx context.Context, _, _ string) (net.Conn, error) {
	c, s := net.Pipe()
	select {
	case l.conns <- s:
		return c, nil
	case <-ctx.Done():
		return nil, ctx.Err()
	case <-l.done:
		return nil, net.ErrClosed
	}
}

type pipeAddr struct{}

func (pipeAddr) Network() string { return "pipe" }
func (pipeAddr) String() string  { return "pipe" }

// silentRelay is a gateway that falls silent on purpose: it relays between a client (on a
// pipeListener) and a real gateway, passes the client's frames on, and passes the gateway's
// frames to the client until pass refuses one. From then on it withholds everything (heartbeats
// included) and stops reading from the gateway, but keeps the client's socket open. A nil pass
// is silent from the start.
type silentRelay struct {
	target string
	pass   func(f *proxyFrame) bool
	wg     sync.WaitGroup

	mu sync.Mutex
	// passed is when the relay last passed a frame to the client (zero: never).
	passed time.Time
}

// lastPassed returns when the relay last passed a frame to the client, or zero.
func (r *silentRelay) lastPassed() time.Time {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.passed
}

func (r *silentRelay) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	up := ws.Upgrader{CheckOrigin: func(*http.Request) bool { return true }}
	cconn, err := up.Upgrade(w, req, nil)
	if err != nil {
		return
	}
	defer cconn.Close()
	gconn, _, err := ws.DefaultDialer.Dial(r.target, nil)
	if err != nil {
		_ = cconn.WriteMessage(ws.CloseMessage, ws.FormatCloseMessage(ws.CloseInternalServerErr, "relay: "+err.Error()))
		return
	}
	defer gconn.Close()
	if r.pass != nil {
		r.wg.Add(1)
		go func() { // gateway → client, until pass refuses a frame
			defer r.wg.Done()
			for {
				typ, data, err := gconn.ReadMessage()
				if err != nil {
					return
				}
				f := &proxyFrame{data: data}
				if cm, err := protocol.DecodeCertMessage(data); err == nil {
					f.key = cm.Key
					f.msg, _ = protocol.DecodeWebsocketMessage(cm.Val)
				}
				if !r.pass(f) {
					return // silent from now on; the client's socket stays open
				}
				if err := cconn.WriteMessage(typ, data); err != nil {
					return
				}
				r.mu.Lock()
				r.passed = time.Now()
				r.mu.Unlock()
			}
		}()
	}
	for { // client → gateway, until the client closes
		typ, data, err := cconn.ReadMessage()
		if err != nil {
			break
		}
		_ = gconn.WriteMessage(typ, data) // the gateway may have given up on the silent relay
	}
	_ = gconn.Close()
	r.wg.Wait()
}

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
	withholdSixth := func() func(f *proxyFrame) bool {
		return func(f *proxyFrame) bool { return f.text() != "m5 ping" }
	}
	afterHeartbeat := func() func(f *proxyFrame) bool {
		var beat bool
		return func(f *proxyFrame) bool {
			pass := !beat
			beat = beat || f.msg.Service
			return pass
		}
	}
	const open, beats = "of opening the connection", "although the canister sends heartbeats"
	tests := []struct {
		name string
		pass func() func(f *proxyFrame) bool // nil: silent from the start
		fast bool                            // the fastecho canister (heartbeats every second, no "ping" at open), not echo
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
		{"silent after the first heartbeat", afterHeartbeat, true, 0, 3 * time.Second, beats},
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
			a, err := agent.New(agent.Config{URL: e.rep.URL(), RootKey: e.rep.RootKey(), Now: clk.Now})
			if err != nil {
				t.Fatal(err)
			}
			synctest.Test(t, func(t *testing.T) {
				clk.fake = time.Now()
				l := newPipeListener()
				relay := &silentRelay{target: gw}
				if tt.pass != nil {
					relay.pass = tt.pass()
				}
				srv := &http.Server{Handler: relay}
				served := make(chan struct{})
				go func() {
					defer close(served)
					_ = srv.Serve(l)
				}()
				defer func() {
					_ = srv.Close()
					<-served
				}()
				ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
				defer cancel()
				cfg := client.Config{
					Gateway: "ws://relay.test/", Canister: canister, Agent: a, Now: clk.Now,
					Dialer:           &ws.Dialer{NetDialContext: l.dial, HandshakeTimeout: 10 * time.Second},
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
				if p := relay.lastPassed(); !p.IsZero() {
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
