package client_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/icws/icws/agent"
	"github.com/icws/icws/client"
	"github.com/icws/icws/ic/identity"
	"github.com/icws/icws/protocol"
)

// The silent gateways are in silent_test.go, on synctest.

// TestSwallowedClientMessages has the gateway drop what the client sends: the canister's
// heartbeats show that it never got the client's message, and the client reports it.
func TestSwallowedClientMessages(t *testing.T) {
	e := newEnv(t)
	ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
	defer cancel()
	beat := make(chan struct{}, 1)
	var p *proxy
	p = newProxy(t, e.gateway(t), func(f *proxyFrame) [][]byte {
		if f.msg.Service && !p.swallow.Load() {
			p.swallow.Store(true)
			beat <- struct{}{}
		}
		return [][]byte{f.data}
	})
	cfg := e.config(e.fastEcho, p.url)
	cfg.AckTimeout = 3 * time.Second
	c := dial(t, ctx, cfg)
	select {
	case <-beat:
	case <-ctx.Done():
		t.Fatal("no heartbeat")
	}
	if err := c.Send(ctx, text("lost")); err != nil {
		t.Fatal(err)
	}
	ve := recvErr(t, ctx, c, client.Withheld)
	if !strings.Contains(ve.Detail, "acknowledges") {
		t.Fatalf("withheld error %q does not say why", ve)
	}
}

// TestCanisterCloses has the client's owner close it at the canister: the canister's close
// notice ends the stream with its reason.
func TestCanisterCloses(t *testing.T) {
	e := newEnv(t)
	ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
	defer cancel()
	owner, err := identity.GenerateEd25519()
	if err != nil {
		t.Fatal(err)
	}
	cfg := e.config(e.echo, e.gateway(t))
	cfg.Identity = owner
	c := dial(t, ctx, cfg)
	last := int64(-1)
	recvText(t, ctx, c, "ping", &last)
	a, err := agent.New(agent.Config{URL: e.rep.URL(), Identity: owner, RootKey: e.rep.RootKey()})
	if err != nil {
		t.Fatal(err)
	}
	defer a.CloseIdleConnections()
	if err := a.Call(ctx, e.echo, protocol.MethodClose, c.ClientID()); err != nil {
		t.Fatal(err)
	}
	_, err = c.Recv(ctx)
	var cc *client.CanisterClosedError
	if !errors.As(err, &cc) || !strings.Contains(cc.Reason, "owner") {
		t.Fatalf("got %v, want the canister's close notice", err)
	}
	if !client.IsFatal(err) {
		t.Fatal("the canister's close is not fatal")
	}
	if _, again := c.Recv(ctx); !errors.Is(again, err) {
		t.Fatalf("Recv after the close notice: %v", again)
	}
	if again := c.Send(ctx, text("late")); !errors.Is(again, err) {
		t.Fatalf("Send after the close notice: %v", again)
	}
	if again := c.Reconnect(ctx, cfg.Gateway); !errors.Is(again, err) {
		t.Fatalf("Reconnect after the close notice: %v", again)
	}
}
