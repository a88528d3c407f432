package client_test

import (
	"context"
	"fmt"
	"testing"
)

// burst sends n messages "<prefix><i>" from one goroutine as fast as Send lets it, while the
// test receives their echoes (want(i)) in order; a gateway that closed the client for sending too
// fast fails the receiving.
func burst(t *testing.T, ctx context.Context, c interface {
	Send(context.Context, []byte) error
}, n int, prefix string) <-chan error {
	t.Helper()
	sent := make(chan error, 1)
	go func() {
		for i := range n {
			if err := c.Send(ctx, text(fmt.Sprintf("%s%d", prefix, i))); err != nil {
				sent <- fmt.Errorf("Send %d: %w", i, err)
				return
			}
		}
		sent <- nil
	}()
	return sent
}

// TestBurstThroughStrictGateway sends 100 messages at once through a gateway with the default
// limits (16 frames waiting for the canister, 20 frames a second in bursts of 40): the client
// paces itself by the canister's acknowledgements and the gateway's rate, so every message
// arrives, once and in order, and the gateway never closes it.
func TestBurstThroughStrictGateway(t *testing.T) {
	e := newEnv(t)
	ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
	defer cancel()
	c := dial(t, ctx, e.config(e.echo, e.strictGateway(t)))
	last := int64(-1)
	recvText(t, ctx, c, "ping", &last)
	const n = 100
	sent := burst(t, ctx, c, n, "m")
	for i := range n {
		recvText(t, ctx, c, fmt.Sprintf("m%d ping", i), &last)
	}
	if err := <-sent; err != nil {
		t.Fatal(err)
	}
}

// TestBurstWithoutAcknowledgements: a canister that sends no service messages never says which
// messages it has; the client then sends the first protocol.MaxPendingFrames at once and the
// rest slowly (protocol.FallbackInterval apart), and the gateway's limits hold.
func TestBurstWithoutAcknowledgements(t *testing.T) {
	e := newEnv(t)
	ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
	defer cancel()
	c := dial(t, ctx, e.config(e.silentEcho, e.strictGateway(t)))
	const n = 17 // after the keep-alive, 15 in the window at once, then two paced
	sent := burst(t, ctx, c, n, "m")
	last := int64(-1)
	for i := range n {
		recvText(t, ctx, c, fmt.Sprintf("m%d", i), &last)
	}
	if err := <-sent; err != nil {
		t.Fatal(err)
	}
}
