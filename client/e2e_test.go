package client_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/icws/icws/client"
	"github.com/icws/icws/protocol"
)

// TestEchoPingPong sends message after message to the echo canister and checks each answer.
func TestEchoPingPong(t *testing.T) {
	e := newEnv(t)
	ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
	defer cancel()
	c := dial(t, ctx, e.config(e.echo, e.gateway(t)))
	rounds := 200
	if testing.Short() {
		rounds = 20
	}
	last := int64(-1)
	// The seed's game: the canister says "ping", the client answers "<what it got>-pong", the
	// canister answers that with " ping" appended, and so on.
	got := recvText(t, ctx, c, "ping", &last)
	for i := range rounds {
		msg := textOf(t, got.Payload) + "-pong"
		if err := c.Send(ctx, text(msg)); err != nil {
			t.Fatalf("round %d: %v", i, err)
		}
		got = recvText(t, ctx, c, msg+" ping", &last)
		if d := got.Delay(); d < 0 || d > time.Minute {
			t.Fatalf("round %d: delay %v", i, d)
		}
	}
	if err := c.Close("done"); err != nil {
		t.Fatalf("Close: %v", err)
	}
	if _, err := c.Recv(ctx); !errors.Is(err, client.ErrClosed) {
		t.Fatalf("Recv after Close: %v, want ErrClosed", err)
	}
	if err := c.Send(ctx, text("late")); !errors.Is(err, client.ErrClosed) {
		t.Fatalf("Send after Close: %v, want ErrClosed", err)
	}
}

// TestRecvContext checks that a Recv whose context ends leaves the connection intact.
func TestRecvContext(t *testing.T) {
	e := newEnv(t)
	ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
	defer cancel()
	c := dial(t, ctx, e.config(e.fastEcho, e.gateway(t)))
	short, stop := context.WithCancel(ctx)
	stop()
	if _, err := c.Recv(short); !errors.Is(err, context.Canceled) {
		t.Fatalf("Recv with a canceled context: %v", err)
	}
	if err := c.Send(short, text("never")); !errors.Is(err, context.Canceled) {
		t.Fatalf("Send with a canceled context: %v", err)
	}
	last := int64(-1)
	for i := range 3 {
		msg := fmt.Sprintf("after %d", i)
		if err := c.Send(ctx, text(msg)); err != nil {
			t.Fatal(err)
		}
		recvText(t, ctx, c, msg, &last)
	}
}

// TestConcurrentSenders sends from several goroutines at once while one goroutine receives.
func TestConcurrentSenders(t *testing.T) {
	e := newEnv(t)
	ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
	defer cancel()
	c := dial(t, ctx, e.config(e.fastEcho, e.gateway(t)))
	const senders, each = 4, 25
	errs := make(chan error, senders)
	for s := range senders {
		go func() {
			for i := range each {
				if err := c.Send(ctx, text(fmt.Sprintf("%d/%d", s, i))); err != nil {
					errs <- err
					return
				}
			}
			errs <- nil
		}()
	}
	seen := map[string]bool{}
	next := make([]int, senders)
	last := int64(-1)
	for len(seen) < senders*each {
		m, err := c.Recv(ctx)
		if err != nil {
			t.Fatalf("after %d messages: %v", len(seen), err)
		}
		if int64(m.Seq) <= last {
			t.Fatalf("sequence number %d after %d", m.Seq, last)
		}
		last = int64(m.Seq)
		txt := textOf(t, m.Payload)
		var s, i int
		if _, err := fmt.Sscanf(txt, "%d/%d", &s, &i); err != nil || s < 0 || s >= senders || seen[txt] {
			t.Fatalf("unexpected or repeated message %q", txt)
		}
		if i != next[s] {
			t.Fatalf("sender %d: message %d before %d", s, i, next[s])
		}
		next[s]++
		seen[txt] = true
	}
	for range senders {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
}

// TestGatewayCloseReason checks that the gateway's Close frame becomes a *CloseError that says
// why and whether to reconnect.
func TestGatewayCloseReason(t *testing.T) {
	e := newEnv(t)
	ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
	defer cancel()
	gw := e.gateway(t)
	// A proxy that ends every connection as a gateway going away would.
	p := newProxy(t, gw, func(f *proxyFrame) [][]byte { return [][]byte{f.data} })
	c := dial(t, ctx, e.config(e.fastEcho, p.url))
	last := int64(-1)
	if err := c.Send(ctx, text("hello")); err != nil {
		t.Fatal(err)
	}
	recvText(t, ctx, c, "hello", &last)
	p.closeAll(protocol.CloseGoingAway, "maintenance")
	_, err := c.Recv(ctx)
	var ce *client.CloseError
	if !errors.As(err, &ce) || ce.Code != protocol.CloseGoingAway || ce.Reason != "maintenance" || !ce.Reconnect() {
		t.Fatalf("got %v, want a reconnectable CloseError 1001 \"maintenance\"", err)
	}
	if client.CloseStatus(err) != 1001 || !strings.Contains(err.Error(), "going away") {
		t.Fatalf("error %q does not say why", err)
	}
	if _, again := c.Recv(ctx); !errors.Is(again, err) {
		t.Fatalf("second Recv: %v, want the same error", again)
	}
	if err := c.Send(ctx, text("late")); err == nil || !errors.As(err, &ce) {
		t.Fatalf("Send after the close: %v", err)
	}
}
