package client_test

import (
	"context"
	"fmt"
	"sync"
	"testing"

	"github.com/icws/icws/client"
)

// TestReconnectRecoversGap has gateway A drop a message; the client notices the gap and moves to
// gateway B, which delivers the rest of the client's queue: nothing is lost or repeated, and both
// directions go on with their sequence numbers.
func TestReconnectRecoversGap(t *testing.T) {
	e := newEnv(t)
	ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
	defer cancel()
	a := newProxy(t, e.gateway(t), func(f *proxyFrame) [][]byte {
		if f.text() == "m2" {
			return nil
		}
		return [][]byte{f.data}
	})
	b := e.gateway(t)
	c := dial(t, ctx, e.config(e.fastEcho, a.url))
	for i := range 5 {
		if err := c.Send(ctx, text(fmt.Sprintf("m%d", i))); err != nil {
			t.Fatal(err)
		}
	}
	last := int64(-1)
	recvText(t, ctx, c, "m0", &last)
	recvText(t, ctx, c, "m1", &last)
	recvErr(t, ctx, c, client.Gap)

	if err := c.Reconnect(ctx, b); err != nil {
		t.Fatal(err)
	}
	if c.Gateway() != b {
		t.Fatalf("Gateway() = %s after Reconnect, want %s", c.Gateway(), b)
	}
	for i := 2; i < 5; i++ {
		recvText(t, ctx, c, fmt.Sprintf("m%d", i), &last)
	}
	// Sending goes on through B: the canister gets m5.. after m4, with no gap and no repeat.
	for i := 5; i < 8; i++ {
		if err := c.Send(ctx, text(fmt.Sprintf("m%d", i))); err != nil {
			t.Fatal(err)
		}
	}
	for i := 5; i < 8; i++ {
		recvText(t, ctx, c, fmt.Sprintf("m%d", i), &last)
	}
}

// TestReconnectResendsLostMessages has gateway A swallow the client's messages; after moving to
// gateway B, the client sends the ones the canister never got again, in order, once.
func TestReconnectResendsLostMessages(t *testing.T) {
	e := newEnv(t)
	ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
	defer cancel()
	a := newProxy(t, e.gateway(t), nil)
	b := e.gateway(t)
	c := dial(t, ctx, e.config(e.fastEcho, a.url))
	last := int64(-1)
	if err := c.Send(ctx, text("m0")); err != nil {
		t.Fatal(err)
	}
	recvText(t, ctx, c, "m0", &last)
	a.swallow.Store(true)
	for i := 1; i < 4; i++ {
		if err := c.Send(ctx, text(fmt.Sprintf("m%d", i))); err != nil {
			t.Fatal(err)
		}
	}
	if err := c.Reconnect(ctx, b); err != nil {
		t.Fatal(err)
	}
	if err := c.Send(ctx, text("m4")); err != nil {
		t.Fatal(err)
	}
	for i := 1; i < 5; i++ {
		recvText(t, ctx, c, fmt.Sprintf("m%d", i), &last)
	}
}

// TestReconnectWhileReceiving moves to another gateway while a Recv waits on a gateway that
// delivers nothing: the waiting Recv gets the first message that comes through the new one.
func TestReconnectWhileReceiving(t *testing.T) {
	e := newEnv(t)
	ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
	defer cancel()
	opened := make(chan struct{})
	var once sync.Once
	a := newProxy(t, e.gateway(t), func(f *proxyFrame) [][]byte {
		once.Do(func() { close(opened) }) // a message flows: ws_open through A is done
		return nil
	})
	b := e.gateway(t)
	c := dial(t, ctx, e.config(e.fastEcho, a.url))
	type result struct {
		m   client.Message
		err error
	}
	got := make(chan result, 1)
	go func() {
		m, err := c.Recv(ctx)
		got <- result{m, err}
	}()
	if err := c.Send(ctx, text("m0")); err != nil {
		t.Fatal(err)
	}
	select {
	case <-opened:
	case <-ctx.Done():
		t.Fatal("nothing came through A")
	}
	if err := c.Reconnect(ctx, b); err != nil {
		t.Fatal(err)
	}
	r := <-got
	if r.err != nil {
		t.Fatalf("the waiting Recv: %v", r.err)
	}
	if txt := textOf(t, r.m.Payload); txt != "m0" {
		t.Fatalf("the waiting Recv got %q, want m0", txt)
	}
	last := int64(r.m.Seq)
	if err := c.Send(ctx, text("m1")); err != nil {
		t.Fatal(err)
	}
	recvText(t, ctx, c, "m1", &last)
}
