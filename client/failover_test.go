package client_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	ws "github.com/gorilla/websocket"

	"github.com/icws/icws/agent"
	"github.com/icws/icws/canisters/chat"
	"github.com/icws/icws/client"
	"github.com/icws/icws/internal/relay"
	"github.com/icws/icws/internal/testenv"
	"github.com/icws/icws/protocol"
)

// tcpProxy forwards loopback TCP connections to a gateway; cut drops them all at once, without a
// Close frame, as the death of the gateway's process (kill -9) would.
type tcpProxy struct {
	ln     net.Listener
	target string
	wg     sync.WaitGroup

	mu    sync.Mutex
	conns []net.Conn
}

func newTCPProxy(t *testing.T, gatewayURL string) *tcpProxy {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &tcpProxy{ln: ln, target: strings.TrimPrefix(gatewayURL, "ws://")}
	p.wg.Add(1)
	go func() {
		defer p.wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			g, err := net.Dial("tcp", p.target)
			if err != nil {
				c.Close()
				continue
			}
			p.mu.Lock()
			p.conns = append(p.conns, c, g)
			p.mu.Unlock()
			for _, pair := range [][2]net.Conn{{c, g}, {g, c}} {
				p.wg.Add(1)
				go func() {
					defer p.wg.Done()
					_, _ = io.Copy(pair[0], pair[1])
					pair[0].Close()
					pair[1].Close()
				}()
			}
		}
	}()
	t.Cleanup(func() {
		ln.Close()
		p.cut()
		p.wg.Wait()
	})
	return p
}

func (p *tcpProxy) url() string { return "ws://" + p.ln.Addr().String() }

// cut resets every connection through the proxy (it keeps accepting new ones).
func (p *tcpProxy) cut() {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, c := range p.conns {
		if tc, ok := c.(*net.TCPConn); ok {
			_ = tc.SetLinger(0)
		}
		c.Close()
	}
	p.conns = nil
}

// moves records the failover's moves.
type moves struct {
	mu   sync.Mutex
	list []client.Move
}

func (m *moves) add(mv client.Move) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.list = append(m.list, mv)
}

func (m *moves) get() []client.Move {
	m.mu.Lock()
	defer m.mu.Unlock()
	return append([]client.Move(nil), m.list...)
}

// TestFailover runs the library's failover policy against real gateways.
//
// mid-stream: a member of the chat room receives a stream of posts through gateway A
// while another member posts through gateway B; mid-stream, A stops gracefully (1001, ws_close
// for every client) or dies (its connections reset, no Close frame). The member's Recv, with
// Config.Failover and Gateways [A, B], moves to B by itself and goes on: every post arrives, in
// order, once; the move is reported to OnReconnect; sending goes on through B.
func TestFailover(t *testing.T) {
	e := newEnv(t) // one replica for every case: its canisters keep each case's clients apart
	t.Run("mid-stream", func(t *testing.T) { testFailoverMidStream(t, e) })
	t.Run("stop code not retried", func(t *testing.T) { testFailoverStopCodeNotRetried(t, e) })
	t.Run("without heartbeats", func(t *testing.T) { testFailoverWithoutHeartbeats(t, e) })
	t.Run("synctest", func(t *testing.T) { testFailoverSynctest(t, e) })
}

func testFailoverMidStream(t *testing.T, e *env) {
	for _, tt := range []struct {
		name string
		code protocol.CloseCode // the cause the client sees
	}{
		{"graceful stop", protocol.CloseGoingAway},
		{"kill", 1006},
	} {
		t.Run(tt.name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
			defer cancel()
			// The room may still announce the departure of an earlier case's members.
			next := func(c *client.Conn) chat.Event {
				for {
					if ev := recvChat(t, ctx, c); ev.Leave == nil {
						return ev
					}
				}
			}
			urlA, stopA := e.stoppableGateway(t)
			pa := newTCPProxy(t, urlA)
			b := e.gateway(t)
			var mv moves
			cfg := e.config(e.chat, "")
			cfg.Gateways = []string{pa.url(), b}
			cfg.Failover = &client.Failover{OnReconnect: mv.add}
			member := dial(t, ctx, cfg)
			if member.Gateway() != pa.url() {
				t.Fatalf("connected through %s, want the first of Gateways %s", member.Gateway(), pa.url())
			}
			if ev := next(member); ev.Join == nil {
				t.Fatalf("got %+v, want its join", ev)
			}
			talker := dial(t, ctx, e.config(e.chat, b))
			if ev := next(talker); ev.Join == nil {
				t.Fatalf("got %+v, want its join", ev)
			}
			if ev := next(member); ev.Join == nil || *ev.Join != talker.ClientID() {
				t.Fatalf("got %+v, want the talker's join", ev)
			}
			const posts, faultAt = 40, 10
			sent := make(chan error, 2)
			go func() {
				for i := range posts {
					if err := talker.Send(ctx, text(fmt.Sprintf("p%d", i))); err != nil {
						sent <- err
						return
					}
				}
				sent <- nil
			}()
			go func() { // the talker reads its posts back, and with them the acknowledgements that let it go on sending
				for i := 0; i < posts; {
					m, err := talker.Recv(ctx)
					if err != nil {
						sent <- err
						return
					}
					if ev, err := chat.Decode(m.Payload); err == nil && ev.Message != nil {
						i++
					}
				}
				sent <- nil
			}()
			faulted := make(chan struct{})
			for i := range posts {
				if i == faultAt {
					go func() {
						defer close(faulted)
						if tt.code == protocol.CloseGoingAway {
							stopA()
						} else {
							pa.cut()
						}
					}()
				}
				ev := next(member)
				if ev.Message == nil || ev.Message.Text != fmt.Sprintf("p%d", i) {
					t.Fatalf("post %d: got %+v, want p%d (nothing lost, nothing repeated)", i, ev, i)
				}
			}
			<-faulted
			for range 2 {
				if err := <-sent; err != nil {
					t.Fatal(err)
				}
			}
			got := mv.get()
			if len(got) != 1 {
				t.Fatalf("%d moves %+v, want 1", len(got), got)
			}
			m := got[0]
			if m.Attempt != 1 || m.From != pa.url() || m.To != b || m.Err != nil || client.CloseStatus(m.Cause) != int(tt.code) {
				t.Fatalf("move %+v (cause %v), want attempt 1 from A to B, no error, cause %d", m, m.Cause, tt.code)
			}
			if m.Backoff < client.DefaultFailoverBackoff/2 || m.Backoff > client.DefaultFailoverBackoff {
				t.Errorf("waited %v before the move, want %v..%v", m.Backoff, client.DefaultFailoverBackoff/2, client.DefaultFailoverBackoff)
			}
			if member.Gateway() != b {
				t.Fatalf("Gateway() = %s after the failover, want %s", member.Gateway(), b)
			}
			if err := member.Send(ctx, text("back")); err != nil {
				t.Fatal(err)
			}
			for _, c := range []*client.Conn{member, talker} {
				if ev := next(c); ev.Message == nil || ev.Message.Text != "back" || ev.Message.From != member.ClientID() {
					t.Fatalf("client %d: got %+v, want the member's \"back\"", c.ClientID(), ev)
				}
			}
		})
	}
}

// testFailoverStopCodeNotRetried: a close code of the "stop" class ends Recv with that error,
// without any move, also when the client writes after the Close frame came and before Recv
// reads it (a Send here; a keep-alive in the suite): the write that fails because the client
// answered the Close is not the socket's cause.
func testFailoverStopCodeNotRetried(t *testing.T, e *env) {
	ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
	defer cancel()
	a := newProxy(t, e.gateway(t), nil)
	b := e.gateway(t)
	var mv moves
	cfg := e.config(e.fastEcho, a.url)
	cfg.Gateways = []string{b}
	cfg.Failover = &client.Failover{OnReconnect: mv.add}
	c := dial(t, ctx, cfg)
	if err := c.Send(ctx, text("m0")); err != nil {
		t.Fatal(err)
	}
	last := int64(-1)
	recvText(t, ctx, c, "m0", &last)
	a.closeAll(protocol.CloseTooManyBadMessages, "")
	select {
	case code := <-a.closes: // the client's answer: it has read the Close frame
		if code != int(protocol.CloseTooManyBadMessages) {
			t.Fatalf("the client answered the Close with %d, want 4006", code)
		}
	case <-ctx.Done():
		t.Fatal("the client never answered the Close frame")
	}
	if err := c.Send(ctx, text("m1")); client.CloseStatus(err) != int(protocol.CloseTooManyBadMessages) {
		t.Fatalf("Send after the Close frame: %v, want the CloseError 4006", err)
	}
	_, err := c.Recv(ctx)
	if client.CloseStatus(err) != int(protocol.CloseTooManyBadMessages) {
		t.Fatalf("Recv: %v, want the CloseError 4006", err)
	}
	var fe *client.FailoverError
	if errors.As(err, &fe) || len(mv.get()) != 0 {
		t.Fatalf("a stop code was retried: %v, moves %+v", err, mv.get())
	}
}

// testFailoverSynctest runs the policy's timing on the fake clock of a synctest bubble: the client
// reaches real gateways through in-memory relays. Gateway A withholds everything from the
// start; the client notices after HeartbeatTimeout (75 s), then tries the next gateways with the
// policy's backoff: a dead one, then B, which delivers the withheld message ("ping", the echo
// canister's welcome). With only A and the dead one, the policy gives up after Attempts.
func testFailoverSynctest(t *testing.T, e *env) {
	gwA, gwB := e.gateway(t), e.gateway(t)
	const timeout = client.DefaultHeartbeatTimeout
	const a, dead, b = "ws://a.test/", "ws://dead.test/", "ws://b.test/"
	tests := []struct {
		name     string
		gateways []string
		attempts int
		// want are the moves, as "from>to" and whether they succeeded.
		want []string
		ping bool // Recv delivers "ping" in the end (else a FailoverError)
	}{
		{"A withholds, on to B past a dead one", []string{a, dead, b}, 0, []string{"a>dead fail", "a>b ok"}, true},
		{"gives up", []string{a, dead}, 3, []string{"a>dead fail", "a>a ok", "a>dead fail"}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			clk := &bubbleClock{real: time.Now()}
			ag, err := agent.New(agent.Config{URL: e.rep.URL(), RootKey: e.rep.RootKey(), Clock: clk.Now})
			if err != nil {
				t.Fatal(err)
			}
			synctest.Test(t, func(t *testing.T) {
				clk.fake = time.Now()
				listeners := map[string]*testenv.PipeListener{}
				for host, rl := range map[string]*relay.Relay{
					"a.test:80": {Target: gwA, Policy: relay.SilentFromStart},
					"b.test:80": {Target: gwB},
				} {
					l := testenv.NewPipeListener()
					listeners[host] = l
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
				}
				dialer := &ws.Dialer{HandshakeTimeout: 10 * time.Second, NetDialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
					if l := listeners[addr]; l != nil {
						return l.Dial(ctx, network, addr)
					}
					return nil, fmt.Errorf("dial %s: connection refused (test)", addr)
				}}
				ctx, cancel := context.WithTimeout(context.Background(), 30*time.Minute)
				defer cancel()
				var mv moves
				c, err := client.Dial(ctx, client.Config{
					Gateways: tt.gateways, Canister: e.echo, Agent: ag, Clock: clk.Now, Dialer: dialer,
					Failover: &client.Failover{Attempts: tt.attempts, OnReconnect: mv.add},
				})
				ag.CloseIdleConnections() // an idle HTTP connection's reader would keep the bubble awake
				if err != nil {
					t.Fatal(err)
				}
				defer c.Close("test over")
				start := time.Now()
				m, err := c.Recv(ctx)
				took := time.Since(start)
				got := mv.get()
				var desc []string
				var waited time.Duration
				for i, g := range got {
					ok := "ok"
					if g.Err != nil {
						ok = "fail"
					}
					desc = append(desc, strings.TrimSuffix(strings.TrimPrefix(g.From, "ws://"), ".test/")+">"+
						strings.TrimSuffix(strings.TrimPrefix(g.To, "ws://"), ".test/")+" "+ok)
					if g.Attempt != i+1 {
						t.Errorf("move %d: attempt %d", i, g.Attempt)
					}
					var ve *client.VerifyError
					if !errors.As(g.Cause, &ve) || ve.Kind != client.Withheld {
						t.Errorf("move %d: cause %v, want Withheld", i, g.Cause)
					}
					full := client.DefaultFailoverBackoff << i
					if g.Backoff < full/2 || g.Backoff >= full {
						t.Errorf("move %d: backoff %v, want %v..%v", i, g.Backoff, full/2, full)
					}
					waited += g.Backoff
				}
				if fmt.Sprint(desc) != fmt.Sprint(tt.want) {
					t.Fatalf("moves %q, want %q", desc, tt.want)
				}
				silences := timeout // A's silence, once per socket opened through it
				if !tt.ping {
					silences = 2 * timeout
				}
				t.Logf("Recv returned after %v (fake time): %d moves, %v of backoff", took, len(got), waited)
				if took < silences+waited || took > silences+waited+time.Second {
					t.Errorf("Recv returned after %v, want %v of silence + %v of backoff", took, silences, waited)
				}
				if tt.ping {
					if err != nil || textOf(t, m.Payload) != "ping" {
						t.Fatalf("Recv after the failover: %v, want the withheld ping", err)
					}
					if c.Gateway() != b {
						t.Fatalf("Gateway() = %s, want %s", c.Gateway(), b)
					}
					return
				}
				var fe *client.FailoverError
				var ve *client.VerifyError
				if !errors.As(err, &fe) || fe.Attempts != tt.attempts || fe.Last == nil || !errors.As(err, &ve) || ve.Kind != client.Withheld {
					t.Fatalf("Recv: %v, want a FailoverError after %d attempts wrapping Withheld", err, tt.attempts)
				}
			})
		})
	}
}

// testFailoverWithoutHeartbeats: with a canister that sends no heartbeats (so no
// acknowledgements, HeartbeatTimeout < 0), a client whose gateway died moves on and can send
// through the new gateway at once: nothing waits for an acknowledgement that never comes.
func testFailoverWithoutHeartbeats(t *testing.T, e *env) {
	ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
	defer cancel()
	pa := newTCPProxy(t, e.gateway(t))
	b := e.gateway(t)
	var mv moves
	cfg := e.config(e.silentEcho, "")
	cfg.Gateways = []string{pa.url(), b}
	cfg.HeartbeatTimeout = -1
	cfg.Failover = &client.Failover{OnReconnect: mv.add}
	c := dial(t, ctx, cfg)
	last := int64(-1)
	if err := c.Send(ctx, text("m0")); err != nil {
		t.Fatal(err)
	}
	recvText(t, ctx, c, "m0", &last)
	pa.cut()
	got := make(chan error, 1)
	go func() {
		rctx, rcancel := context.WithTimeout(ctx, 20*time.Second)
		defer rcancel()
		m, err := c.Recv(rctx)
		if err == nil && textOf(t, m.Payload) != "m1" {
			err = fmt.Errorf("got %q, want m1", m.Payload)
		}
		got <- err
	}()
	// Send waits for the move if it is under way; if it writes to the dead socket first, it fails
	// but keeps the message, which the move sends.
	if err := c.Send(ctx, text("m1")); err != nil && !strings.Contains(err.Error(), "kept for Reconnect") {
		t.Fatal(err)
	}
	if err := <-got; err != nil {
		t.Fatalf("after the failover: %v (moves %+v)", err, mv.get())
	}
	if c.Gateway() != b || len(mv.get()) != 1 {
		t.Fatalf("gateway %s, moves %+v; want one move to %s", c.Gateway(), mv.get(), b)
	}
}
