package web

import (
	"context"
	"encoding/json"
	"flag"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/icws/icws/canisters/echo"
	"github.com/icws/icws/gateway"
	"github.com/icws/icws/ic/identity"
	"github.com/icws/icws/internal/relay"
	"github.com/icws/icws/protocol"
	"github.com/icws/icws/replica"
)

// silentTimeout is the browser client's heartbeatTimeoutMs in TestBrowserSilentGateway. Pass
// -silent-timeout=75s to measure with the default.
var silentTimeout = flag.Duration("silent-timeout", 2*time.Second, "heartbeatTimeoutMs of the browser client in TestBrowserSilentGateway")

// silentRelays are gateways that fall silent on purpose (internal/relay), in front of a real
// gateway, keeping the browser's socket open and answering the gateway's pings. The path is the
// mode: /silent withholds every canister frame from the start; /withhold-sixth passes them until
// the echo reply "m5 ping", and withholds it and every later frame (heartbeats too). Both pass
// the browser's frames on.
func silentRelays(target string) http.Handler {
	mux := http.NewServeMux()
	mux.Handle("/silent", &relay.Relay{Target: target, Policy: relay.SilentFromStart, DrainSilenced: true})
	mux.Handle("/withhold-sixth", &relay.Relay{Target: target, DrainSilenced: true, Policy: func() relay.Policy {
		return relay.Policy{Down: func(f *relay.Frame) relay.Action {
			if f.App() {
				if am, err := protocol.DecodeAppMessage(f.Msg.Message); err == nil && am.Text == "m5 ping" {
					return relay.Silence
				}
			}
			return relay.Pass
		}}
	}})
	return mux
}

// silentResult is what test/silent.mjs measured in one mode.
type silentResult struct {
	Got              []string `json:"got"`
	Unexpected       *string  `json:"unexpected"`
	Kind             string   `json:"kind"`
	Message          string   `json:"message"`
	SinceOpenMs      float64  `json:"sinceOpenMs"`
	SinceLastSendMs  float64  `json:"sinceLastSendMs"`
	SinceLastFrameMs float64  `json:"sinceLastFrameMs"`
}

// TestBrowserSilentGateway runs the browser client in Chromium against a real replica (echo,
// heartbeats every 30 s) and gateway, through relays that fall silent while keeping the socket
// open: recv must fail with withheld once heartbeatTimeoutMs passed since the open (silent from
// the start) or since the last frame (the reply to the sixth message withheld, and everything
// after it).
func TestBrowserSilentGateway(t *testing.T) {
	node := requireNode(t, true)
	ctx := t.Context()
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	r, err := replica.Start(ctx, replica.Config{Canisters: []replica.CanisterSpec{{Name: "echo", New: echo.New}}, Logger: log})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { r.Close() })
	canisters := map[string]string{}
	for _, c := range r.Canisters() {
		canisters[c.Name] = c.ID.String()
	}
	page := httptest.NewUnstartedServer(nil)
	t.Cleanup(page.Close)
	id, err := identity.GenerateEd25519()
	if err != nil {
		t.Fatal(err)
	}
	gw, err := gateway.New(gateway.Config{
		URL: r.URL(), Identity: id, RootKey: r.RootKey(), Logger: log,
		AllowedOrigins: []string{"http://" + page.Listener.Addr().String()},
	})
	if err != nil {
		t.Fatal(err)
	}
	gwSrv := httptest.NewServer(gw.Handler())
	relaySrv := httptest.NewServer(silentRelays("ws" + strings.TrimPrefix(gwSrv.URL, "http")))
	t.Cleanup(func() {
		relaySrv.CloseClientConnections()
		relaySrv.Close()
		sctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := gw.Shutdown(sctx); err != nil {
			t.Errorf("gateway shutdown: %v", err)
		}
		gwSrv.Close()
	})
	relayURL := "ws" + strings.TrimPrefix(relaySrv.URL, "http")
	page.Config.Handler = Handler(Config{Gateway: relayURL, IC: r.URL(), RootKey: r.RootKey(), Canisters: canisters})
	page.Start()

	timeout := *silentTimeout
	cfg, err := json.Marshal(map[string]any{"page": page.URL, "relay": relayURL, "chromium": chromiumPath, "timeoutMs": timeout.Milliseconds()})
	if err != nil {
		t.Fatal(err)
	}
	out := runNode(t, node, browserTimeout+3*timeout, filepath.Join("test", "silent.mjs"), string(cfg))
	var res struct {
		Modes   map[string]silentResult `json:"modes"`
		Errors  []string                `json:"errors"`
		Failure string                  `json:"failure"`
	}
	if err := json.Unmarshal(out, &res); err != nil {
		t.Fatalf("silent.mjs printed %q: %v", out, err)
	}
	if res.Failure != "" {
		t.Fatalf("the browser run failed: %s\n(errors: %q)", res.Failure, res.Errors)
	}
	for _, e := range res.Errors {
		t.Errorf("browser: %s", e)
	}
	ms := func(f float64) time.Duration {
		return time.Duration(f * float64(time.Millisecond)).Round(time.Millisecond)
	}
	for _, tt := range []struct {
		mode   string
		got    []string
		detail string
		since  func(silentResult) float64 // when the silence began: the open, or the last frame
	}{
		{"silent", nil, "of opening the connection", func(r silentResult) float64 { return r.SinceOpenMs }},
		{"withhold-sixth", []string{"ping", "m0 ping", "m1 ping", "m2 ping", "m3 ping", "m4 ping"}, "although the canister sends heartbeats",
			func(r silentResult) float64 { return r.SinceLastFrameMs }},
	} {
		m, ok := res.Modes[tt.mode]
		switch {
		case !ok:
			t.Errorf("%s: no result", tt.mode)
			continue
		case m.Unexpected != nil:
			t.Errorf("%s: recv returned %q, want a withheld error", tt.mode, *m.Unexpected)
			continue
		case strings.Join(m.Got, ",") != strings.Join(tt.got, ","):
			t.Errorf("%s: received %q before the silence, want %q", tt.mode, m.Got, tt.got)
		}
		if m.Kind != "withheld" || !strings.Contains(m.Message, tt.detail) {
			t.Errorf("%s: recv failed with %s %q, want withheld saying %q", tt.mode, m.Kind, m.Message, tt.detail)
		}
		// The client arms its timer when the socket opens, a little before connect resolves.
		if took := ms(tt.since(m)); took < timeout-100*time.Millisecond || took > timeout+2*time.Second {
			t.Errorf("%s: withheld %v after the silence began, want %v", tt.mode, took, timeout)
		}
		t.Logf("%s (heartbeatTimeoutMs %v): withheld %v after the open, %v after the last send, %v after the last frame",
			tt.mode, timeout, ms(m.SinceOpenMs), ms(m.SinceLastSendMs), ms(m.SinceLastFrameMs))
	}
}
