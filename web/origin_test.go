package web

import (
	"bytes"
	"context"
	"encoding/hex"
	"encoding/json"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/icws/icws/canisters/echo"
	"github.com/icws/icws/gateway"
	"github.com/icws/icws/ic/identity"
	"github.com/icws/icws/protocol"
	"github.com/icws/icws/replica"
)

// lockedBuffer is a bytes.Buffer for concurrent writers (a slog handler).
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.Write(p)
}

// lines returns the JSON log records written so far.
func (b *lockedBuffer) lines() []map[string]any {
	b.mu.Lock()
	defer b.mu.Unlock()
	var out []map[string]any
	for _, l := range bytes.Split(b.b.Bytes(), []byte("\n")) {
		var m map[string]any
		if json.Unmarshal(l, &m) == nil {
			out = append(out, m)
		}
	}
	return out
}

// originResult is what web/test/origin.mjs prints.
type originResult struct {
	Origin  string `json:"origin"`
	Refused struct {
		Name       string  `json:"name"`
		Code       *int    `json:"code"`
		Reason     *string `json:"reason"`
		Message    string  `json:"message"`
		Unexpected string  `json:"unexpected"`
		Explain    struct {
			Title, Todo, Detail string
		} `json:"explain"`
	} `json:"refused"`
	Events []struct {
		Type    string `json:"type"`
		Code    int    `json:"code"`
		Reason  string `json:"reason"`
		Fatal   bool   `json:"fatal"`
		Message string `json:"message"`
	} `json:"events"`
	Allowed struct {
		Got []string `json:"got"`
	} `json:"allowed"`
	Errors  []string `json:"errors"`
	Failure string   `json:"failure"`
}

// TestBrowserOrigins runs the browser client in Chromium, in a page served on another loopback
// port than the gateways, against a real replica (echo) and two real gateways: one with an empty
// allow-list refuses the page (4009, with a reason naming the page's origin and
// --allowed-origins, which the promise API, the event API and explain all show, and which the
// gateway logs at warn level), and one that lists the page's origin lets it chat.
func TestBrowserOrigins(t *testing.T) {
	node := requireNode(t, true)
	ctx := t.Context()
	r, err := replica.Start(ctx, replica.Config{Canisters: []replica.CanisterSpec{{Name: "echo", New: echo.New}},
		Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { r.Close() })

	// A page of its own origin: the library and an empty document, nothing that connects by itself.
	assets := http.FileServerFS(Assets())
	page := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		if req.URL.Path == "/" {
			w.Header().Set("Content-Type", "text/html; charset=utf-8")
			_, _ = w.Write([]byte("<!doctype html><title>a page of another origin</title>"))
			return
		}
		assets.ServeHTTP(w, req)
	}))
	t.Cleanup(page.Close)
	pageOrigin := page.URL

	logs := &lockedBuffer{}
	startGW := func(allowed []string) string {
		id, err := identity.GenerateEd25519()
		if err != nil {
			t.Fatal(err)
		}
		gw, err := gateway.New(gateway.Config{
			URL: r.URL(), Identity: id, RootKey: r.RootKey(), AllowedOrigins: allowed,
			Logger: slog.New(slog.NewJSONHandler(logs, &slog.HandlerOptions{Level: slog.LevelWarn})),
		})
		if err != nil {
			t.Fatal(err)
		}
		srv := httptest.NewServer(gw.Handler())
		t.Cleanup(func() {
			sctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			if err := gw.Shutdown(sctx); err != nil {
				t.Errorf("gateway shutdown: %v", err)
			}
			srv.Close()
		})
		return "ws" + strings.TrimPrefix(srv.URL, "http")
	}
	refusing, allowing := startGW(nil), startGW([]string{pageOrigin})

	cfg, err := json.Marshal(map[string]string{
		"page": page.URL, "refusing": refusing, "allowing": allowing, "ic": r.URL(),
		"canisterId": r.Canisters()[0].ID.String(), "rootKey": hex.EncodeToString(r.RootKey()), "chromium": chromiumPath,
	})
	if err != nil {
		t.Fatal(err)
	}
	out := runNode(t, node, browserTimeout, filepath.Join("test", "origin.mjs"), string(cfg))
	var res originResult
	if err := json.Unmarshal(out, &res); err != nil {
		t.Fatalf("origin.mjs printed %q: %v", out, err)
	}
	if res.Failure != "" {
		t.Fatalf("the browser run failed: %s\n(errors: %q)", res.Failure, res.Errors)
	}
	for _, e := range res.Errors {
		t.Errorf("browser: %s", e)
	}
	if res.Origin != pageOrigin {
		t.Fatalf("the page's origin is %q, want %q", res.Origin, pageOrigin)
	}

	wantReason := "origin " + pageOrigin + " is not allowed: start the gateway with --allowed-origins " + pageOrigin
	ref := res.Refused
	if ref.Name != "CloseError" || ref.Code == nil || *ref.Code != int(protocol.CloseOriginNotAllowed) || ref.Reason == nil || *ref.Reason != wantReason {
		t.Errorf("refused: %+v, want a CloseError 4009 with reason %q", ref, wantReason)
	}
	if !strings.Contains(ref.Explain.Title, "refused this page's origin") || !strings.Contains(ref.Explain.Title, pageOrigin) ||
		!strings.Contains(ref.Explain.Todo, "--allowed-origins "+pageOrigin) || ref.Explain.Detail != ref.Message {
		t.Errorf("explain of the refusal: %+v, want the origin and --allowed-origins %s", ref.Explain, pageOrigin)
	}
	var closed bool
	for _, ev := range res.Events {
		switch ev.Type {
		case "error":
			if !ev.Fatal || !strings.Contains(ev.Message, wantReason) {
				t.Errorf("event API: error %+v, want fatal with the reason", ev)
			}
		case "close":
			closed = true
			if ev.Code != 4009 || ev.Reason != wantReason {
				t.Errorf("event API: close %+v, want 4009 %q", ev, wantReason)
			}
		}
	}
	if !closed {
		t.Errorf("event API: no close event in %+v", res.Events)
	}
	if got := strings.Join(res.Allowed.Got, "|"); got != "ping|hello from another origin ping" {
		t.Errorf("through the allowing gateway the page got %q, want the greeting and the echo", got)
	}

	var logged int
	for _, l := range logs.lines() {
		if l["origin"] == pageOrigin {
			logged++
			if l["level"] != "WARN" || !strings.HasPrefix(l["remote"].(string), "127.0.0.1:") {
				t.Errorf("refusal logged as %v, want WARN with origin and remote", l)
			}
		}
	}
	if logged != 2 { // the promise API's connection and the event API's
		t.Errorf("%d refusals of %s logged, want 2: %v", logged, pageOrigin, logs.lines())
	}
}
