package web

import (
	"bytes"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/json"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/icws/icws/gateway"
	"github.com/icws/icws/ic/identity"
	"github.com/icws/icws/internal/wasmtest"
	"github.com/icws/icws/protocol"
	"github.com/icws/icws/replica"
)

// TestChannelsNodeClient runs the browser client's certified channels (web/test/channels.mjs,
// in Node's WebSocket) against a real replica's chat canister and a real gateway: two clients
// of one room get a post, verified; one that unsubscribed gets no more; a client behind a proxy
// that changes one byte of a channel frame reports it as tampered (and never its text).
func TestChannelsNodeClient(t *testing.T) {
	node := requireNode(t, false)
	testChannels(t, func(cfg map[string]string) []byte {
		c, _ := json.Marshal(cfg)
		return runNode(t, node, 90*time.Second, "--experimental-websocket", "test/channels.mjs", string(c))
	}, "")
}

// TestChannelsBrowser is TestChannelsNodeClient's scenario in a page of headless Chromium, with
// the built client (web/dist/icws.js) and a gateway that allows the page's origin.
func TestChannelsBrowser(t *testing.T) {
	node := requireNode(t, true)
	mux := http.NewServeMux()
	mux.HandleFunc("/", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/html")
		_, _ = w.Write([]byte("<!doctype html><title>channels</title>"))
	})
	mux.HandleFunc("/icws.js", func(w http.ResponseWriter, r *http.Request) { http.ServeFileFS(w, r, Assets(), "icws.js") })
	mux.HandleFunc("/channels-run.mjs", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/javascript")
		http.ServeFile(w, r, "test/channels-run.mjs")
	})
	page := httptest.NewServer(mux)
	t.Cleanup(page.Close)
	testChannels(t, func(cfg map[string]string) []byte {
		cfg["page"], cfg["chromium"] = page.URL, chromiumPath
		c, _ := json.Marshal(cfg)
		return runNode(t, node, 2*time.Minute, "test/channels-browser.mjs", string(c))
	}, page.URL)
}

// testChannels starts the replica, a gateway (allowing origin, if set) and the forging proxy,
// runs the scenario with runScenario and checks what it printed.
func testChannels(t *testing.T, runScenario func(cfg map[string]string) []byte, origin string) {
	ctx := t.Context()
	r, err := replica.Start(ctx, replica.Config{
		WasmCacheDir: wasmtest.CacheDir(),
		Canisters:    []replica.CanisterSpec{{Name: "chat", Wasm: wasmtest.Build(t, wasmtest.Chat).Wasm}},
		Logger:       slog.New(slog.DiscardHandler),
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { r.Close() })
	chatID, ok := r.CanisterID("chat")
	if !ok {
		t.Fatal("no chat canister")
	}
	var allowed []string
	if origin != "" {
		allowed = []string{origin}
	}
	_, key, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	g, err := gateway.New(gateway.Config{URL: r.URL(), Identity: identity.NewEd25519(key), RootKey: r.RootKey(),
		PollInterval: 10 * time.Millisecond, Logger: slog.New(slog.DiscardHandler), AllowedOrigins: allowed})
	if err != nil {
		t.Fatal(err)
	}
	gw := httptest.NewServer(g.Handler())
	t.Cleanup(gw.Close)
	gwURL := "ws" + strings.TrimPrefix(gw.URL, "http")
	_, key2, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	g2, err := gateway.New(gateway.Config{URL: r.URL(), Identity: identity.NewEd25519(key2), RootKey: r.RootKey(),
		PollInterval: 10 * time.Millisecond, Logger: slog.New(slog.DiscardHandler), AllowedOrigins: allowed})
	if err != nil {
		t.Fatal(err)
	}
	gw2 := httptest.NewServer(g2.Handler())
	t.Cleanup(gw2.Close)
	// The forging proxy: one byte of every channel frame that holds "secret" changes.
	up := websocket.Upgrader{CheckOrigin: func(*http.Request) bool { return true }}
	forging := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		upstream, _, err := websocket.DefaultDialer.DialContext(req.Context(), gwURL, nil)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadGateway)
			return
		}
		down, err := up.Upgrade(w, req, nil)
		if err != nil {
			upstream.Close()
			return
		}
		done := make(chan struct{}, 2)
		go func() { relayFrames(down, upstream, nil); done <- struct{}{} }()
		go func() {
			relayFrames(upstream, down, func(f []byte) []byte {
				if i := bytes.Index(f, []byte("secret")); i >= 0 && protocol.IsChannelFrame(f) {
					f = bytes.Clone(f)
					f[i] = 'S'
				}
				return f
			})
			done <- struct{}{}
		}()
		<-done
		upstream.Close()
		down.Close()
		<-done
	}))
	t.Cleanup(forging.Close)
	raw := runScenario(map[string]string{"gateway": gwURL, "forging": "ws" + strings.TrimPrefix(forging.URL, "http"), "ic": r.URL(), "canister": chatID.String(),
		"gateway2": "ws" + strings.TrimPrefix(gw2.URL, "http")})
	var res struct {
		Got           map[string][]struct{ Text, Seq, Key string }
		Errors        map[string][]struct{ Name, Kind, Message string }
		Subscriptions map[string][]string
		Failure       string
	}
	if err := json.Unmarshal(raw, &res); err != nil {
		t.Fatalf("channels.mjs printed %q: %v", raw, err)
	}
	if res.Failure != "" {
		t.Fatalf("channels.mjs: %s\n%s", res.Failure, raw)
	}
	texts := func(n string) []string {
		var out []string
		for _, m := range res.Got[n] {
			out = append(out, m.Text)
		}
		return out
	}
	if got := strings.Join(texts("A"), ","); !strings.HasPrefix(got, "one,two,three,four,five,six") {
		t.Errorf("A got %q, want one,two,three,four,five,six first (four and five posted while A moved to gateway2: nothing lost, nothing doubled)", got)
	}
	if got := strings.Join(texts("B"), ","); got != "one" {
		t.Errorf("B got %q, want only one (it unsubscribed after it)", got)
	}
	for i, m := range res.Got["A"] {
		if m.Key != protocol.ChannelKey("room:lobby", uint64(i)) || m.Seq != strconv.Itoa(i) {
			t.Errorf("A's message %d: seq %s key %s", i, m.Seq, m.Key)
		}
	}
	if len(res.Errors["C"]) != 1 || res.Errors["C"][0].Name != "VerifyError" || res.Errors["C"][0].Kind != "tampered" {
		t.Errorf("C's errors %+v, want one tampered VerifyError", res.Errors["C"])
	}
	for _, m := range res.Got["C"] {
		if strings.Contains(strings.ToLower(m.Text), "secret") {
			t.Errorf("C delivered the forged text %q", m.Text)
		}
	}
	if len(res.Errors["A"])+len(res.Errors["B"]) != 0 {
		t.Errorf("errors at A or B: %+v", res.Errors)
	}
}
