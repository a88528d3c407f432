package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/icws/icws/canisters/chat"
	"github.com/icws/icws/canisters/echo"
	"github.com/icws/icws/client"
	"github.com/icws/icws/gateway"
	"github.com/icws/icws/ic/identity"
	"github.com/icws/icws/protocol"
	"github.com/icws/icws/replica"
	"github.com/icws/icws/web"
)

// checkCLIError fails t unless err says want and names no Go field (Config.…): the CLI speaks
// in flags.
func checkCLIError(t *testing.T, name string, err error, want string) {
	t.Helper()
	if err == nil {
		t.Errorf("%s: no error, want %q", name, want)
		return
	}
	msg := prefixless{err, "client: "}.Error()
	if !strings.Contains(msg, want) {
		t.Errorf("%s: error\n  %s\nwant it to say\n  %s", name, msg, want)
	}
	if strings.HasPrefix(msg, "icws ") {
		t.Errorf("%s: error %q repeats main's prefix", name, msg)
	}
	for _, bad := range []string{"Config.", "Options.", "<html", "<!doctype"} {
		if strings.Contains(msg, bad) {
			t.Errorf("%s: error %q names %q", name, msg, bad)
		}
	}
}

// TestFlagErrors is a table of the flag checks of every command that takes URLs, ids or
// origins: each error names the flag and says what to pass.
func TestFlagErrors(t *testing.T) {
	parse := map[string]func([]string) error{
		"client":  func(a []string) error { _, err := parseClientFlags(a, io.Discard); return err },
		"gateway": func(a []string) error { _, err := parseGatewayFlags(a, io.Discard); return err },
		"dev":     func(a []string) error { _, err := parseDevFlags(a, io.Discard); return err },
		"replica": func(a []string) error { return runReplica(t.Context(), a, io.Discard) },
		"build":   func(a []string) error { return runBuild(t.Context(), a, io.Discard) },
	}
	gw, ic, fetch := []string{"--gateway", "ws://127.0.0.1:8080"}, []string{"--ic-url", "http://127.0.0.1:4943"}, []string{"--fetch-root-key"}
	with := func(parts ...[]string) []string {
		var out []string
		for _, p := range parts {
			out = append(out, p...)
		}
		return out
	}
	can := []string{"--canister", "chat"}
	for _, tc := range []struct {
		cmd  string
		args []string
		want string
	}{
		{"client", nil, "--gateway, --ic-url, --canister are required (see icws client -h)"},
		{"client", with(gw, ic), "--canister is required (see icws client -h)"},
		{"client", with(ic, can), "--gateway is required"},
		{"client", with([]string{"--gateway", "localhost:8080"}, ic, can), `--gateway "localhost:8080" is not a URL of ws or wss: want ws://host:port or wss://host:port, such as ws://127.0.0.1:8080`},
		{"client", with([]string{"--gateway", "http://127.0.0.1:8080"}, ic, can), `--gateway "http://127.0.0.1:8080" is not a URL of ws or wss`},
		{"client", with(gw, []string{"--gateway", "ws://127.0.0.1:8081,wss//x"}, ic, can), `--gateway "wss//x" is not a URL of ws or wss`},
		{"client", with(gw, []string{"--ic-url", "127.0.0.1:4943"}, can), `--ic-url "127.0.0.1:4943" is not a URL (`},
		{"client", with(gw, []string{"--ic-url", "ws://127.0.0.1:4943"}, can), `--ic-url "ws://127.0.0.1:4943" is not a URL of http or https: want http://host:port or https://host:port, such as http://127.0.0.1:4943`},
		{"client", with(gw, []string{"--ic-url", "http://127.0.0.1:4943/?x"}, can), "a URL without a query or fragment"},
		{"client", with(gw, []string{"--ic-url", "https://icp-api.io", "--fetch-root-key"}, can), "--ic-url https://icp-api.io is the IC mainnet: its root key is built in; drop --fetch-root-key and --root-key"},
		{"client", with(gw, ic, can), "--ic-url http://127.0.0.1:4943 is not the IC mainnet: pass --fetch-root-key (a local replica, such as icws dev's) or --root-key FILE"},
		{"client", with(gw, ic, fetch, can, []string{"--max-age", "-1s"}), "--max-age -1s must not be negative"},
		{"client", with(gw, ic, fetch, can, []string{"--linger", "-1s"}), "--linger -1s must not be negative"},
		{"client", with(gw, ic, can, []string{"--root-key", "/nonexistent/root.der"}), "--root-key: open /nonexistent/root.der"},
		{"client", with(gw, ic, fetch, can, []string{"extra"}), `unexpected arguments ["extra"]`},
		{"gateway", nil, "--ic-url is required (see icws gateway -h)"},
		{"gateway", []string{"--ic-url", "127.0.0.1:4943", "--fetch-root-key"}, `--ic-url "127.0.0.1:4943" is not a URL`},
		{"gateway", []string{"--ic-url", "http://127.0.0.1:4943"}, "is not the IC mainnet: pass --fetch-root-key (a local replica) or --root-key FILE"},
		{"gateway", []string{"--ic-url", "http://127.0.0.1:4943", "--root-key", "/nonexistent/root.der"}, "--root-key: gateway: root key: open /nonexistent/root.der"},
		{"gateway", []string{"--ic-url", "https://icp-api.io", "--allowed-origins", "localhost:5173"}, `--allowed-origins: "localhost:5173" is not a web origin (no scheme): want scheme://host[:port], such as http://127.0.0.1:5173`},
		{"gateway", []string{"--ic-url", "https://icp-api.io", "--allowed-origins", "http://127.0.0.1:5173,https://*.example.org"}, `--allowed-origins: "https://*.example.org" is not a web origin (wildcards are not supported`},
		{"gateway", []string{"--ic-url", "https://icp-api.io", "--shutdown-timeout", "-1s"}, "--shutdown-timeout must not be negative"},
		{"gateway", []string{"--ic-url", "https://icp-api.io", "--poll-interval", "0s"}, "--poll-interval must be positive"},
		{"gateway", []string{"--ic-url", "https://icp-api.io", "--listen", "8080"}, `--listen "8080" is not host:port, such as 127.0.0.1:8080`},
		{"gateway", []string{"--ic-url", "https://icp-api.io", "--listen", "127.0.0.1:http"}, `--listen "127.0.0.1:http": port "http" is not 0 to 65535`},
		{"gateway", []string{"--ic-url", "https://icp-api.io", "--metrics", ":0"}, `--metrics ":0": name a host, such as 127.0.0.1:9090`},
		{"replica", []string{"--native", "--listen", "foo"}, `--listen "foo" is not host:port, such as 127.0.0.1:4943`},
		{"replica", []string{"--controller", "bob"}, `"bob" is not a principal (icp identity principal prints yours)`},
		{"build", []string{"./no/such/package"}, "(name a package of the Go module around this folder, such as ./shout; run go mod init first in a new folder)"},
		{"build", nil, "name one canister package, e.g. icws build ./canisters/echo (got 0 arguments)"},
		{"dev", []string{"--allowed-origins", "http://127.0.0.1:5173/app"}, `--allowed-origins: "http://127.0.0.1:5173/app" is not a web origin (an origin has no path or query)`},
		{"dev", []string{"--web-port", "70000"}, "--web-port 70000: want 0 to 65535"},
		{"dev", []string{"--log-level", "loud"}, "--log-level: "},
	} {
		name := tc.cmd + " " + strings.Join(tc.args, " ")
		checkCLIError(t, name, parse[tc.cmd](tc.args), tc.want)
	}
	// What must pass does.
	for _, args := range [][]string{
		{"--ic-url", "https://icp-api.io", "--allowed-origins", "*"},
		{"--ic-url", "https://icp-api.io", "--allowed-origins", "http://127.0.0.1:5173, https://app.example.org"},
	} {
		if err := parse["gateway"](args); err != nil {
			t.Errorf("gateway %q: %v", args, err)
		}
	}
	if err := parse["client"](with(gw, ic, fetch, can)); err != nil {
		t.Errorf("client with a canister name: %v", err)
	}
}

// TestClientFlagsConfig checks that `icws client`'s flags reach the client's Config.
func TestClientFlagsConfig(t *testing.T) {
	base := []string{"--gateway", "ws://127.0.0.1:8080", "--ic-url", "http://127.0.0.1:4943", "--fetch-root-key", "--canister", "chat"}
	for _, tc := range []struct {
		name         string
		args         []string
		singleFrames bool
	}{
		{"S9 frames by default", nil, false},
		{"--single-frames", []string{"--single-frames"}, true},
		{"--single-frames=false", []string{"--single-frames=false"}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			o, err := parseClientFlags(append(append([]string(nil), base...), tc.args...), io.Discard)
			if err != nil {
				t.Fatal(err)
			}
			if o.cfg.SingleFrames != tc.singleFrames {
				t.Errorf("Config.SingleFrames = %v, want %v", o.cfg.SingleFrames, tc.singleFrames)
			}
		})
	}
}

// cliEnv is a replica (native echo and chat), a gateway and the demo page, as icws dev runs them.
type cliEnv struct {
	r                *replica.Replica
	gw               *gateway.Gateway
	gwSrv            *httptest.Server
	ic, gateway, web string
	chat             string // chat's id
}

func newCLIEnv(t *testing.T) *cliEnv {
	t.Helper()
	log := slog.New(slog.DiscardHandler)
	r, err := replica.Start(t.Context(), replica.Config{Canisters: []replica.CanisterSpec{
		{Name: "echo", New: echo.New}, {Name: "chat", New: chat.New},
	}, Logger: log})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { r.Close() })
	id, err := identity.GenerateEd25519()
	if err != nil {
		t.Fatal(err)
	}
	gw, err := gateway.New(gateway.Config{URL: r.URL(), Identity: id, RootKey: r.RootKey(), Logger: log, PollInterval: 10 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	gwSrv := httptest.NewServer(gw.Handler())
	t.Cleanup(func() {
		sctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_ = gw.Shutdown(sctx)
		gwSrv.Close()
	})
	e := &cliEnv{r: r, gw: gw, gwSrv: gwSrv, ic: r.URL(), gateway: "ws" + strings.TrimPrefix(gwSrv.URL, "http")}
	names := map[string]string{}
	for _, c := range r.Canisters() {
		names[c.Name] = c.ID.String()
	}
	e.chat = names["chat"]
	page := httptest.NewServer(web.Handler(web.Config{Gateway: e.gateway, IC: e.ic, RootKey: r.RootKey(), Canisters: names}))
	t.Cleanup(page.Close)
	e.web = page.URL
	return e
}

// TestClientNamesAndHints runs icws client against a real replica, gateway and demo page: a
// canister name that icws dev prints works; wrong names, the management canister, a user's
// principal and the demo page's URL in place of the gateway's or the IC's get errors that say
// what to pass instead.
func TestClientNamesAndHints(t *testing.T) {
	e := newCLIEnv(t)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	run := func(stdin string, args ...string) (string, error) {
		var out bytes.Buffer
		err := runClientIO(ctx, append([]string{"--linger", "2s"}, args...), strings.NewReader(stdin), &out, io.Discard)
		return out.String(), err
	}
	webWS := "ws" + strings.TrimPrefix(e.web, "http")
	demo := fmt.Sprintf("%s is the icws demo page; its gateway is at %s (--gateway), its IC at %s (--ic-url)", e.web, e.gateway, e.ic)

	out, err := run("hello by name\n", "--gateway", e.gateway, "--ic-url", e.ic, "--fetch-root-key", "--canister", "chat")
	if err != nil || !strings.Contains(out, "connected to "+e.chat) || !strings.Contains(out, "> hello by name") {
		t.Errorf("--canister chat: %v\n%s", err, out)
	}

	for _, tc := range []struct {
		name string
		args []string
		want string
		is   error
	}{
		{"unknown name", []string{"--gateway", e.gateway, "--ic-url", e.ic, "--fetch-root-key", "--canister", "chatt"},
			"--canister chatt: the IC at " + e.ic + " has no canister of that name; it has chat, echo (or pass a canister id)", nil},
		{"IC down", []string{"--gateway", e.gateway, "--ic-url", "http://127.0.0.1:1", "--fetch-root-key", "--canister", "chat"},
			"--canister chat is not a canister id, and its name could not be looked up: the IC at http://127.0.0.1:1 does not answer (is icws dev or icws replica running there? check --ic-url)", nil},
		{"management canister", []string{"--gateway", e.gateway, "--ic-url", e.ic, "--fetch-root-key", "--canister", "aaaaa-aa"},
			"--canister aaaaa-aa is the management canister, which serves no WebSocket: pass your canister's id or name (icws dev prints them)", nil},
		{"user principal", []string{"--gateway", e.gateway, "--ic-url", e.ic, "--fetch-root-key", "--canister", "2vxsx-fae"},
			"--canister 2vxsx-fae is a user's principal, not a canister id", nil},
		{"neither id nor name", []string{"--gateway", e.gateway, "--ic-url", e.ic, "--fetch-root-key", "--canister", "Chat!"},
			`--canister "Chat!" is neither a canister id (`, nil},
		{"demo page as gateway", []string{"--gateway", webWS, "--ic-url", e.ic, "--fetch-root-key", "--canister", "chat"},
			"--gateway " + webWS + " answered HTML, not an icws gateway: " + demo, client.ErrNotGateway},
		{"demo page as IC, by name", []string{"--gateway", e.gateway, "--ic-url", e.web, "--fetch-root-key", "--canister", "chat"},
			"--ic-url " + e.web + " is not the IC's HTTP interface: " + demo, nil},
		{"demo page as IC, by id", []string{"--gateway", e.gateway, "--ic-url", e.web, "--fetch-root-key", "--canister", e.chat},
			"--ic-url " + e.web + " answered HTML, not the IC's HTTP interface: " + demo, nil},
		{"a web page as gateway", []string{"--gateway", "ws" + strings.TrimPrefix(newHTMLPage(t), "http"), "--ic-url", e.ic, "--fetch-root-key", "--canister", "chat"},
			"answered an HTML page, not an icws gateway: check --gateway", client.ErrNotGateway},
	} {
		out, err := run("", tc.args...)
		checkCLIError(t, tc.name, err, tc.want)
		if tc.is != nil && !errors.Is(err, tc.is) {
			t.Errorf("%s: %v does not wrap %v", tc.name, err, tc.is)
		}
		if out != "" {
			t.Errorf("%s: printed %q", tc.name, out)
		}
	}
}

// newHTMLPage serves an HTML page (not the demo's) and returns its URL.
func newHTMLPage(t *testing.T) string {
	t.Helper()
	srv := httptest.NewServer(web.Handler(web.Config{})) // the page without a /config.json that names a gateway
	t.Cleanup(srv.Close)
	return srv.URL
}

// TestClientFinalError stops the gateway under a connected icws client: the client tries to
// connect again, fails each time (nothing listens any more), and ends with an error that names
// the real cause, the last attempt's failure, and keeps the first (the gateway's 1001).
func TestClientFinalError(t *testing.T) {
	e := newCLIEnv(t)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	o, err := parseClientFlags([]string{"--gateway", e.gateway, "--ic-url", e.ic, "--fetch-root-key", "--canister", "chat"}, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	o.firstBackoff, o.maxBackoff = 10*time.Millisecond, 50*time.Millisecond
	stdin, keepOpen := io.Pipe()
	defer keepOpen.Close()
	out := &lockedWriter{}
	done := make(chan error, 1)
	go func() { done <- runClientWith(ctx, o, stdin, out) }()
	for !strings.Contains(out.String(), "joined") {
		select {
		case err := <-done:
			t.Fatalf("the client ended before it connected: %v\n%s", err, out.String())
		case <-time.After(20 * time.Millisecond):
		}
	}
	sctx, scancel := context.WithTimeout(ctx, 10*time.Second)
	defer scancel()
	e.gwSrv.Close()
	_ = e.gw.Shutdown(sctx)
	select {
	case err = <-done:
	case <-ctx.Done():
		t.Fatal("the client did not give up")
	}
	msg := prefixless{err, "client: "}.Error()
	t.Logf("final error: %s", msg)
	if !strings.Contains(msg, fmt.Sprintf("gave up after %d attempts", clientMaxReconnects)) ||
		!strings.Contains(msg, "connection refused") || !strings.Contains(msg, "1001") {
		t.Errorf("final error %q: want the attempts' cause (connection refused) and the first", msg)
	}
	var ce *client.CloseError
	if !errors.As(err, &ce) || ce.Code != protocol.CloseGoingAway {
		t.Errorf("final error %q does not keep the first cause, 1001", msg)
	}
}

// lockedWriter is a strings.Builder for one writer and concurrent readers.
type lockedWriter struct {
	mu sync.Mutex
	b  strings.Builder
}

func (w *lockedWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.b.Write(p)
}

func (w *lockedWriter) String() string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.b.String()
}
