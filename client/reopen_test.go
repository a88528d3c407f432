package client_test

import (
	"context"
	"errors"
	"net"
	"sync"
	"testing"
	"time"

	ws "github.com/gorilla/websocket"

	"github.com/icws/icws/protocol"
)

// openNonceOf decodes the open_nonce of a first frame (S2).
func openNonceOf(t *testing.T, s2 []byte) uint64 {
	t.Helper()
	m, err := protocol.DecodeSignedFirstMessage(s2)
	if err != nil {
		t.Fatal(err)
	}
	s1, err := m.Decode()
	if err != nil {
		t.Fatal(err)
	}
	return s1.OpenNonce
}

// replayFirst sends a recorded first frame to a gateway on a new WebSocket, as a gateway that
// once relayed it could, and returns the close code the gateway ends that socket with.
func replayFirst(t *testing.T, ctx context.Context, gateway string, s2 []byte) int {
	t.Helper()
	conn, _, err := ws.DefaultDialer.DialContext(ctx, gateway, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	// A refused first message is answered within a round trip to the canister; a connection
	// still open after this long was accepted.
	_ = conn.SetReadDeadline(time.Now().Add(10 * time.Second))
	if err := conn.WriteMessage(ws.BinaryMessage, s2); err != nil {
		t.Fatal(err)
	}
	for {
		if _, _, err := conn.ReadMessage(); err != nil {
			var ce *ws.CloseError
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				t.Fatalf("the gateway kept the connection of the replayed first message open: ws_open accepted it")
			}
			if !errors.As(err, &ce) {
				t.Fatalf("replayed first message: the socket ended without a Close frame: %v", err)
			}
			return ce.Code
		}
	}
}

// TestReplayedFirstMessageRefused: every first message of the client carries a fresh, greater
// open_nonce; after the client moved from gateway A to gateway B, A cannot pull it back by
// replaying either first message it may hold (its own, or B's through collusion): the canister
// refuses them, and the client goes on through B untouched.
func TestReplayedFirstMessageRefused(t *testing.T) {
	e := newEnv(t)
	ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
	defer cancel()
	gwA := e.gateway(t)
	a := newProxy(t, gwA, nil)
	b := newProxy(t, e.gateway(t), nil)
	c := dial(t, ctx, e.config(e.fastEcho, a.url))
	last := int64(-1)
	if err := c.Send(ctx, text("m0")); err != nil {
		t.Fatal(err)
	}
	recvText(t, ctx, c, "m0", &last)
	if err := c.Reconnect(ctx, b.url); err != nil {
		t.Fatal(err)
	}
	if err := c.Send(ctx, text("m1")); err != nil {
		t.Fatal(err)
	}
	recvText(t, ctx, c, "m1", &last)

	fa, fb := a.firstFrames(), b.firstFrames()
	if len(fa) != 1 || len(fb) != 1 {
		t.Fatalf("first frames: %d through A, %d through B", len(fa), len(fb))
	}
	na, nb := openNonceOf(t, fa[0]), openNonceOf(t, fb[0])
	if na == 0 || nb <= na {
		t.Fatalf("open nonces %d then %d: want present and increasing", na, nb)
	}
	for name, s2 := range map[string][]byte{"A's own": fa[0], "B's": fb[0]} {
		if code := replayFirst(t, ctx, gwA, s2); code != int(protocol.CloseOpenRefused) {
			t.Fatalf("replaying %s first message through A: closed with %d, want %d (ws_open refused)", name, code, protocol.CloseOpenRefused)
		}
	}
	// The client is still B's: both directions go on.
	if err := c.Send(ctx, text("m2")); err != nil {
		t.Fatal(err)
	}
	recvText(t, ctx, c, "m2", &last)
}

// TestReconnectResendsAtOnce: after Reconnect, the messages the canister never got are sent
// again as soon as the canister acknowledges the reopened client, which it does at once; the
// heartbeats of this canister are an hour apart, so waiting for one would fail the test.
func TestReconnectResendsAtOnce(t *testing.T) {
	e := newEnv(t)
	ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
	defer cancel()
	beat := make(chan struct{})
	var once sync.Once
	a := newProxy(t, e.gateway(t), func(f *proxyFrame) [][]byte {
		if f.msg.Service {
			once.Do(func() { close(beat) })
		}
		return [][]byte{f.data}
	})
	b := e.gateway(t)
	c := dial(t, ctx, e.config(e.hourEcho, a.url))
	// The canister's first heartbeat comes at its first tick; the next one an hour later.
	select {
	case <-beat:
	case <-ctx.Done():
		t.Fatal("no first heartbeat")
	}
	a.swallow.Store(true)
	if err := c.Send(ctx, text("lost")); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	short, stop := context.WithTimeout(ctx, 10*time.Second)
	defer stop()
	if err := c.Reconnect(short, b); err != nil {
		t.Fatal(err)
	}
	last := int64(-1)
	recvText(t, short, c, "lost", &last)
	t.Logf("the lost message came back %v after Reconnect", time.Since(start).Round(time.Millisecond))
	if err := c.Send(ctx, text("after")); err != nil {
		t.Fatal(err)
	}
	recvText(t, ctx, c, "after", &last)
}
