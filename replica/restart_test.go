package replica_test

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"fmt"
	"log/slog"
	"net"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/icws/icws/canisters/echo"
	"github.com/icws/icws/client"
	"github.com/icws/icws/gateway"
	"github.com/icws/icws/ic/identity"
	"github.com/icws/icws/internal/wasmtest"
	"github.com/icws/icws/protocol"
	"github.com/icws/icws/replica"
)

// freeAddr returns a loopback address that was free a moment ago, for a replica that must come
// back on the same URL.
func freeAddr(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	return addr
}

// startGateway runs a gateway in front of the replica at url and returns its WebSocket URL.
func startGateway(t *testing.T, url string, rootKey []byte) string {
	t.Helper()
	_, key, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	g, err := gateway.New(gateway.Config{
		URL: url, Identity: identity.NewEd25519(key), RootKey: rootKey,
		PollInterval: 5 * time.Millisecond, MessageRate: -1, MaxPendingMessages: 1024,
		Logger: slog.New(slog.DiscardHandler),
	})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(g.Handler())
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_ = g.Shutdown(ctx)
		srv.Close()
	})
	return "ws" + strings.TrimPrefix(srv.URL, "http")
}

// recvEcho receives the next application message and checks its text and that its sequence
// number follows *last; the client itself refuses a gap or a message that fails verification.
func recvEcho(t *testing.T, ctx context.Context, c *client.Conn, want string, last *int64) {
	t.Helper()
	m, err := c.Recv(ctx)
	if err != nil {
		t.Fatalf("waiting for %q: %v", want, err)
	}
	am, err := protocol.DecodeAppMessage(m.Payload)
	if err != nil || am.Text != want {
		t.Fatalf("got %q (%v), seq %d; want %q", am.Text, err, m.Seq, want)
	}
	if int64(m.Seq) <= *last {
		t.Fatalf("%q has sequence number %d after %d", want, m.Seq, *last)
	}
	*last = int64(m.Seq)
}

// TestWebSocketSessionSurvivesReplicaRestart: a client of canisters/echo (native and Wasm)
// talks through a gateway; the replica stops without a word (its state is written by the rounds)
// and starts again on the same state directory and address; the client reconnects through a
// new gateway and goes on: its session, the canister's queue and the sequence numbers in both
// directions are intact, every message verified against the same root key.
func TestWebSocketSessionSurvivesReplicaRestart(t *testing.T) {
	for _, host := range []string{"native", "wasm"} {
		t.Run(host, func(t *testing.T) {
			spec := replica.CanisterSpec{Name: "echo", New: echo.New}
			if host == "wasm" {
				spec = replica.CanisterSpec{Name: "echo", Wasm: wasmtest.Build(t, wasmtest.Echo).Wasm}
			}
			ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
			defer cancel()
			cfg := replica.Config{Addr: freeAddr(t), StateDir: t.TempDir(), WasmCacheDir: wasmtest.CacheDir(), Canisters: []replica.CanisterSpec{spec}}
			r1, err := replica.Start(ctx, cfg)
			if err != nil {
				t.Fatal(err)
			}
			id, _ := r1.CanisterID("echo")
			url, rootKey := r1.URL(), r1.RootKey()
			a := startGateway(t, url, rootKey)
			c, err := client.Dial(ctx, client.Config{Gateway: a, IC: url, RootKey: rootKey, Canister: id})
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close("test over")
			last := int64(-1)
			recvEcho(t, ctx, c, "ping", &last)
			for i := range 3 {
				if err := c.Send(ctx, protocol.AppMessage{Text: fmt.Sprintf("m%d", i)}.Marshal()); err != nil {
					t.Fatal(err)
				}
				recvEcho(t, ctx, c, fmt.Sprintf("m%d ping", i), &last)
			}
			r1.Close()

			r2, err := replica.Start(ctx, cfg)
			if err != nil {
				t.Fatal(err)
			}
			defer r2.Close()
			if got, _ := r2.CanisterID("echo"); got != id || string(r2.RootKey()) != string(rootKey) || r2.URL() != url {
				t.Fatalf("after the restart: echo %s, url %s, same key %v", got, r2.URL(), string(r2.RootKey()) == string(rootKey))
			}
			if err := c.Reconnect(ctx, startGateway(t, url, rootKey)); err != nil {
				t.Fatalf("Reconnect after the replica restarted: %v", err)
			}
			for i := 3; i < 6; i++ {
				if err := c.Send(ctx, protocol.AppMessage{Text: fmt.Sprintf("m%d", i)}.Marshal()); err != nil {
					t.Fatal(err)
				}
				recvEcho(t, ctx, c, fmt.Sprintf("m%d ping", i), &last)
			}
		})
	}
}
