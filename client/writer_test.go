package client_test

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	ws "github.com/gorilla/websocket"

	"github.com/icws/icws/client"
	"github.com/icws/icws/protocol"
)

// TestConcurrentSendRecvClose runs Send from several goroutines, Recv in another and Close from
// a third while messages are on their way (run it with -race): every echo that arrives is one
// that was sent, none twice; after Close, Send and Recv report ErrClosed; and no goroutine of
// the client is left (TestMain checks).
func TestConcurrentSendRecvClose(t *testing.T) {
	e := newEnv(t)
	for _, tt := range []struct {
		name    string
		closeAt int // Close after this many echoes; 0: once every echo arrived
	}{
		{"close after all echoes", 0},
		{"close while sending", 40},
	} {
		t.Run(tt.name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
			defer cancel()
			c, err := client.Dial(ctx, e.config(e.fastEcho, e.gateway(t)))
			if err != nil {
				t.Fatal(err)
			}
			const senders, each = 4, 30
			var wg sync.WaitGroup
			sendErrs := make(chan error, senders*each)
			for s := range senders {
				wg.Add(1)
				go func() {
					defer wg.Done()
					for i := range each {
						if err := c.Send(ctx, text(fmt.Sprintf("s%d-%d", s, i))); err != nil {
							sendErrs <- err
							return
						}
					}
				}()
			}
			seen := map[string]bool{}
			recvDone := make(chan error, 1)
			closed := make(chan error, 1)
			go func() {
				for {
					m, err := c.Recv(ctx)
					if err != nil {
						recvDone <- err
						return
					}
					am, err := protocol.DecodeAppMessage(m.Payload)
					txt := am.Text
					if err != nil || seen[txt] || !strings.HasPrefix(txt, "s") {
						recvDone <- fmt.Errorf("echo %q unexpected or twice", txt)
						return
					}
					seen[txt] = true
					if len(seen) == tt.closeAt || len(seen) == senders*each {
						go func() { closed <- c.Close("test over") }()
					}
				}
			}()
			var cerr error
			select {
			case cerr = <-closed:
			case <-ctx.Done():
				t.Fatal("Close never ran")
			}
			if cerr != nil {
				t.Fatalf("Close: %v", cerr)
			}
			if err := <-recvDone; !errors.Is(err, client.ErrClosed) {
				t.Fatalf("Recv after Close: %v, want ErrClosed", err)
			}
			wg.Wait()
			close(sendErrs)
			for err := range sendErrs {
				if tt.closeAt == 0 || !errors.Is(err, client.ErrClosed) {
					t.Fatalf("Send: %v", err)
				}
			}
			if err := c.Send(ctx, text("late")); !errors.Is(err, client.ErrClosed) {
				t.Fatalf("Send after Close: %v, want ErrClosed", err)
			}
			if tt.closeAt == 0 && len(seen) != senders*each {
				t.Fatalf("%d echoes, want %d", len(seen), senders*each)
			}
			t.Logf("%d echoes before Close", len(seen))
		})
	}
}

// errInjected is the write failure of failingConn.
var errInjected = errors.New("injected write failure")

// failingConn is a TCP connection whose writes fail once fail is set.
type failingConn struct {
	net.Conn
	fail *atomic.Bool
}

func (c *failingConn) Write(b []byte) (int, error) {
	if c.fail.Load() {
		return 0, errInjected
	}
	return c.Conn.Write(b)
}

// failingDialer dials TCP connections whose writes fail once fail is set.
func failingDialer(fail *atomic.Bool) *ws.Dialer {
	return &ws.Dialer{
		HandshakeTimeout: 10 * time.Second,
		NetDialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
			var d net.Dialer
			c, err := d.DialContext(ctx, network, addr)
			if err != nil {
				return nil, err
			}
			return &failingConn{Conn: c, fail: fail}, nil
		},
	}
}

// TestSendWriteError makes the socket's writes fail under a client connected to a real gateway:
// the socket's writer goroutine writes the frame, and Send must still return the write's error
// (and Recv the socket's failure), not succeed.
func TestSendWriteError(t *testing.T) {
	e := newEnv(t)
	ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
	defer cancel()
	var fail atomic.Bool
	cfg := e.config(e.fastEcho, e.gateway(t))
	cfg.Dialer = failingDialer(&fail)
	c := dial(t, ctx, cfg)
	if err := c.Send(ctx, text("fine")); err != nil {
		t.Fatal(err)
	}
	last := int64(-1)
	recvText(t, ctx, c, "fine", &last)
	fail.Store(true)
	err := c.Send(ctx, text("broken"))
	if !errors.Is(err, errInjected) {
		t.Fatalf("Send through a failing socket: %v, want the write's error", err)
	}
	if !strings.Contains(err.Error(), "kept for Reconnect") {
		t.Fatalf("Send's error %q does not say the message is kept", err)
	}
	if n := strings.Count(err.Error(), "failed to send message"); n != 1 {
		t.Fatalf("Send's error %q says it failed %d times, want once", err, n)
	}
	if _, err := c.Recv(ctx); !errors.Is(err, errInjected) {
		t.Fatalf("Recv after the failed write: %v, want the write's error", err)
	}
}

// TestRecvSeesWriteFailure has a Recv waiting (no heartbeats, so no timeout to end its wait)
// when Send's write fails: Recv must report the failed socket at once rather than wait for a
// frame that its reader no longer delivers. Before the fix, a failover (which Recv runs) never
// started when a Send broke the socket first: TestFailover/without_heartbeats hung that way.
func TestRecvSeesWriteFailure(t *testing.T) {
	e := newEnv(t)
	ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
	defer cancel()
	var fail atomic.Bool
	cfg := e.config(e.silentEcho, e.gateway(t))
	cfg.HeartbeatTimeout = -1
	cfg.Dialer = failingDialer(&fail)
	c := dial(t, ctx, cfg)
	if err := c.Send(ctx, text("m0")); err != nil {
		t.Fatal(err)
	}
	last := int64(-1)
	recvText(t, ctx, c, "m0", &last)
	got := make(chan error, 1)
	go func() {
		rctx, rcancel := context.WithTimeout(ctx, 10*time.Second)
		defer rcancel()
		_, err := c.Recv(rctx)
		got <- err
	}()
	time.Sleep(100 * time.Millisecond) // let Recv wait (either order must work)
	fail.Store(true)
	if err := c.Send(ctx, text("m1")); !errors.Is(err, errInjected) {
		t.Fatalf("Send through a failing socket: %v, want the write's error", err)
	}
	if err := <-got; !errors.Is(err, errInjected) {
		t.Fatalf("the waiting Recv: %v, want the write's error", err)
	}
}
