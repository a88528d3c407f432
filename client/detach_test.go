package client_test

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"errors"
	"fmt"
	"log/slog"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/icws/icws/client"
	"github.com/icws/icws/gateway"
	"github.com/icws/icws/ic/identity"
	"github.com/icws/icws/protocol"
)

// stoppableGateway starts a gateway as env.gateway does and returns its URL and a function that
// shuts it down gracefully (1001 to every client, ws_close for each).
func (e *env) stoppableGateway(t *testing.T) (string, func()) {
	t.Helper()
	_, key, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	g, err := gateway.New(gateway.Config{
		URL: e.rep.URL(), Identity: identity.NewEd25519(key), RootKey: e.rep.RootKey(),
		PollInterval: 5 * time.Millisecond, MessageRate: -1, MaxPendingMessages: 1024,
		Logger: slog.New(slog.DiscardHandler),
	})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(g.Handler())
	stop := func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := g.Shutdown(ctx); err != nil {
			t.Errorf("gateway shutdown: %v", err)
		}
		srv.Close()
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_ = g.Shutdown(ctx)
		srv.Close()
	})
	return "ws" + strings.TrimPrefix(srv.URL, "http"), stop
}

// TestSessionSurvivesGatewayShutdown: a gateway stops gracefully (1001, ws_close for every
// client) while the room goes on talking; the member it served reconnects through another
// gateway and gets every message posted meanwhile, in order, once — the session outlived its
// gateway. Its own messages go on with their sequence numbers.
func TestSessionSurvivesGatewayShutdown(t *testing.T) {
	e := newEnv(t)
	ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
	defer cancel()
	urlA, stopA := e.stoppableGateway(t)
	b := e.gateway(t)
	moved := dial(t, ctx, e.config(e.chat, urlA))
	if ev := recvChat(t, ctx, moved); ev.Join == nil {
		t.Fatalf("got %+v, want its join", ev)
	}
	talker := dial(t, ctx, e.config(e.chat, b))
	if ev := recvChat(t, ctx, talker); ev.Join == nil {
		t.Fatalf("got %+v, want its join", ev)
	}
	if ev := recvChat(t, ctx, moved); ev.Join == nil || *ev.Join != talker.ClientID() {
		t.Fatalf("got %+v, want the talker's join", ev)
	}

	stopA()
	_, err := moved.Recv(ctx)
	var ce *client.CloseError
	if !errors.As(err, &ce) || ce.Code != protocol.CloseGoingAway {
		t.Fatalf("Recv after the gateway's shutdown: %v, want a CloseError 1001", err)
	}
	const posts = 20
	for i := range posts { // while moved has no gateway
		if err := talker.Send(ctx, text(fmt.Sprintf("p%d", i))); err != nil {
			t.Fatal(err)
		}
	}
	for i := range posts {
		if ev := recvChat(t, ctx, talker); ev.Message == nil || ev.Message.Text != fmt.Sprintf("p%d", i) {
			t.Fatalf("talker: got %+v, want p%d", ev, i)
		}
	}

	if err := moved.Reconnect(ctx, b); err != nil {
		t.Fatalf("Reconnect through another gateway after a graceful shutdown: %v", err)
	}
	for i := range posts {
		ev := recvChat(t, ctx, moved)
		if ev.Message == nil || ev.Message.Text != fmt.Sprintf("p%d", i) {
			t.Fatalf("after reconnecting: got %+v, want p%d", ev, i)
		}
	}
	if err := moved.Send(ctx, text("back")); err != nil {
		t.Fatal(err)
	}
	for _, c := range []*client.Conn{moved, talker} {
		if ev := recvChat(t, ctx, c); ev.Message == nil || ev.Message.Text != "back" || ev.Message.From != moved.ClientID() {
			t.Fatalf("client %d: got %+v, want moved's \"back\"", c.ClientID(), ev)
		}
	}
	// Its goodbye ends the session at once: the room sees it leave.
	if err := moved.Close("done"); err != nil {
		t.Fatal(err)
	}
	if ev := recvChat(t, ctx, talker); ev.Leave == nil || *ev.Leave != moved.ClientID() {
		t.Fatalf("talker: got %+v, want moved's leave", ev)
	}
}
