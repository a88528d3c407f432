package client_test

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"errors"
	"fmt"
	"github.com/icws/icws/internal/wasmtest"
	"log/slog"
	"net/http/httptest"
	"os"
	"runtime"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/icws/icws/cdk"
	"github.com/icws/icws/cdk/websocket"
	"github.com/icws/icws/client"
	"github.com/icws/icws/gateway"
	"github.com/icws/icws/ic/identity"
	"github.com/icws/icws/ic/principal"
	"github.com/icws/icws/protocol"
	"github.com/icws/icws/replica"
)

// TestMain fails the run if a goroutine of package client outlives the tests.
func TestMain(m *testing.M) {
	code := m.Run()
	if code == 0 {
		if leaked := clientGoroutines(5 * time.Second); leaked != "" {
			fmt.Fprintf(os.Stderr, "goroutines of package client leaked:\n%s\n", leaked)
			code = 1
		}
	}
	os.Exit(code)
}

// clientGoroutines waits up to d for every goroutine running code of package client to end, and
// returns the stacks of those still there.
func clientGoroutines(d time.Duration) string {
	deadline := time.Now().Add(d)
	for {
		buf := make([]byte, 1<<20)
		buf = buf[:runtime.Stack(buf, true)]
		var leaked []string
		for _, g := range strings.Split(string(buf), "\n\n") {
			if strings.Contains(g, "icws/client.") && !strings.Contains(g, "client_test.") && !strings.Contains(g, "testing.") {
				leaked = append(leaked, g)
			}
		}
		if len(leaked) == 0 || time.Now().After(deadline) {
			return strings.Join(leaked, "\n\n")
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// testTimeout bounds every end-to-end test.
const testTimeout = 60 * time.Second

// newFastEcho is a test echo canister: it sends every message back to its sender as it is, and
// sends heartbeats every second (the library's default is 30 s), so that acknowledgements, and
// the silence of a withholding gateway, come quickly.
func newFastEcho() *cdk.Canister {
	var s *websocket.Server
	s = websocket.New(websocket.Config{
		OnMessage: func(ic cdk.System, client uint64, payload []byte) {
			if err := s.Send(ic, client, bytes.Clone(payload)); err != nil {
				ic.Trap(err.Error())
			}
		},
		HeartbeatInterval: time.Second,
		TickInterval:      250 * time.Millisecond,
	})
	c := &cdk.Canister{}
	s.Register(c)
	return c
}

// newEchoWith is a test echo canister like newFastEcho with the given heartbeat and tick
// intervals.
func newEchoWith(heartbeat, tick time.Duration) func() *cdk.Canister {
	return func() *cdk.Canister {
		var s *websocket.Server
		s = websocket.New(websocket.Config{
			OnMessage: func(ic cdk.System, client uint64, payload []byte) {
				if err := s.Send(ic, client, bytes.Clone(payload)); err != nil {
					ic.Trap(err.Error())
				}
			},
			HeartbeatInterval: heartbeat,
			TickInterval:      tick,
		})
		c := &cdk.Canister{}
		s.Register(c)
		return c
	}
}

// env is a local IC with the example canisters echo and chat and the test canisters fastecho,
// hourecho (a heartbeat an hour, after the first at once) and silentecho (no heartbeats, so no
// service messages at all), and gateways in front of it.
type env struct {
	rep                  *replica.Replica
	echo, chat, fastEcho principal.Principal
	hourEcho, silentEcho principal.Principal
	chanEcho             principal.Principal // channel_test.go
}

func newEnv(t *testing.T) *env {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	rep, err := replica.Start(ctx, replica.Config{
		WasmCacheDir: wasmtest.CacheDir(),
		Addr:         "127.0.0.1:0",
		Canisters: []replica.CanisterSpec{
			{Name: "echo", Wasm: wasmtest.Build(t, wasmtest.Echo).Wasm},
			{Name: "chat", Wasm: wasmtest.Build(t, wasmtest.Chat).Wasm},
			{Name: "fastecho", New: newFastEcho},
			{Name: "hourecho", New: newEchoWith(time.Hour, 250*time.Millisecond)},
			{Name: "silentecho", New: newEchoWith(-1, 0)},
			{Name: "chanecho", New: newChanEcho},
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = rep.Close() })
	e := &env{rep: rep}
	for name, id := range map[string]*principal.Principal{
		"echo": &e.echo, "chat": &e.chat, "fastecho": &e.fastEcho, "hourecho": &e.hourEcho, "silentecho": &e.silentEcho, "chanecho": &e.chanEcho,
	} {
		var ok bool
		if *id, ok = rep.CanisterID(name); !ok {
			t.Fatalf("no %s canister", name)
		}
	}
	return e
}

// gateway starts a gateway with its own identity on a loopback listener and returns its URL. It
// does not limit how fast clients send.
func (e *env) gateway(t *testing.T) string {
	t.Helper()
	return e.gatewayWith(t, gateway.Config{MessageRate: -1, MaxPendingMessages: 1024})
}

// strictGateway starts a gateway with the default limits on how fast clients send
// (gateway.DefaultMessageRate, DefaultMessageBurst, DefaultMaxPendingMessages).
func (e *env) strictGateway(t *testing.T) string {
	t.Helper()
	return e.gatewayWith(t, gateway.Config{})
}

// gatewayWith starts a gateway configured by cfg (its identity and logger set here, its IC and
// PollInterval unless cfg sets them) and returns its URL.
func (e *env) gatewayWith(t *testing.T, cfg gateway.Config) string {
	t.Helper()
	_, key, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	if cfg.URL == "" {
		cfg.URL = e.rep.URL()
	}
	cfg.Identity = identity.NewEd25519(key)
	cfg.RootKey = e.rep.RootKey()
	if cfg.PollInterval == 0 {
		cfg.PollInterval = 5 * time.Millisecond
	}
	cfg.Logger = slog.New(slog.DiscardHandler)
	g, err := gateway.New(cfg)
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

// config is a client configuration for canister through gw.
func (e *env) config(canister principal.Principal, gw string) client.Config {
	return client.Config{Gateway: gw, IC: e.rep.URL(), RootKey: e.rep.RootKey(), Canister: canister}
}

// dial connects a client and closes it at the end of the test.
func dial(t *testing.T, ctx context.Context, cfg client.Config) *client.Conn {
	t.Helper()
	c, err := client.Dial(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Close("test over") })
	return c
}

// text encodes an app message.
func text(s string) []byte { return protocol.AppMessage{Text: s}.Marshal() }

// textOf decodes an app message, or fails the test.
func textOf(t *testing.T, payload []byte) string {
	t.Helper()
	m, err := protocol.DecodeAppMessage(payload)
	if err != nil {
		t.Fatalf("payload %x is not an app message: %v", payload, err)
	}
	return m.Text
}

// recvText receives the next message and checks that it is want, with a sequence number above
// *lastSeq (updated).
func recvText(t *testing.T, ctx context.Context, c *client.Conn, want string, lastSeq *int64) client.Message {
	t.Helper()
	m, err := c.Recv(ctx)
	if err != nil {
		t.Fatalf("waiting for %q: %v", want, err)
	}
	if got := textOf(t, m.Payload); got != want {
		t.Fatalf("got %q (seq %d), want %q", got, m.Seq, want)
	}
	if int64(m.Seq) <= *lastSeq {
		t.Fatalf("message %q has sequence number %d, after %d", want, m.Seq, *lastSeq)
	}
	*lastSeq = int64(m.Seq)
	return m
}

// recvErr receives and checks that the result is a *VerifyError of kind want.
func recvErr(t *testing.T, ctx context.Context, c *client.Conn, want client.Kind) *client.VerifyError {
	t.Helper()
	m, err := c.Recv(ctx)
	if err == nil {
		t.Fatalf("want a %v error, got message %d %x", want, m.Seq, m.Payload)
	}
	var ve *client.VerifyError
	if !errors.As(err, &ve) {
		t.Fatalf("want a %v error, got %v", want, err)
	}
	if ve.Kind != want {
		t.Fatalf("want a %v error, got %v", want, err)
	}
	if ve.Fatal() != want.Fatal() || client.IsFatal(err) != want.Fatal() {
		t.Fatalf("%v: Fatal() = %v", ve, ve.Fatal())
	}
	return ve
}

// fakeClock is a clock that tests can move forward.
type fakeClock struct{ offset atomic.Int64 }

func (c *fakeClock) Now() time.Time          { return time.Now().Add(time.Duration(c.offset.Load())) }
func (c *fakeClock) Advance(d time.Duration) { c.offset.Add(int64(d)) }
