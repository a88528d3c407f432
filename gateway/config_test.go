package gateway

import (
	"errors"
	"net"
	"net/http"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/icws/icws/ic/identity"
)

// TestNewFromConfig builds a gateway from a URL and an identity (no agent), and refuses what
// cannot work.
func TestNewFromConfig(t *testing.T) {
	id, err := identity.GenerateEd25519()
	if err != nil {
		t.Fatal(err)
	}
	g, err := New(Config{URL: "http://127.0.0.1:4943", Identity: id, FetchRootKey: true, Logger: testLogger(t)})
	if err != nil {
		t.Fatal(err)
	}
	if g.Principal() != id.Sender() {
		t.Errorf("principal %s, want %s", g.Principal(), id.Sender())
	}
	if err := g.Shutdown(t.Context()); err != nil {
		t.Fatal(err)
	}
	for name, cfg := range map[string]Config{
		"no identity":       {URL: "http://127.0.0.1:4943", FetchRootKey: true},
		"anonymous":         {URL: "http://127.0.0.1:4943", Identity: identity.Anonymous(), FetchRootKey: true},
		"bad URL":           {URL: "ftp://x", Identity: id},
		"negative duration": {URL: "http://127.0.0.1:4943", Identity: id, PollInterval: -1},
		"bad origin":        {URL: "http://127.0.0.1:4943", Identity: id, AllowedOrigins: []string{"localhost"}},
	} {
		if _, err := New(cfg); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
}

// TestClockReachesAgent checks that New gives Config.Clock to the agent it builds: with a clock
// an hour ahead of the replica's, the agent's requests expire in the replica's past and its
// certificates look an hour old, so the open fails; with the replica's clock it succeeds.
func TestClockReachesAgent(t *testing.T) {
	ic := startNativeIC(t)
	tests := []struct {
		name   string
		offset time.Duration
		open   bool
	}{
		{"the replica's clock", 0, true},
		{"an hour ahead", time.Hour, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			id, err := identity.GenerateEd25519()
			if err != nil {
				t.Fatal(err)
			}
			g, err := New(Config{URL: ic.url(), Identity: id, RootKey: ic.rep.RootKey(), Logger: testLogger(t),
				Clock: func() time.Time { return time.Now().Add(tt.offset) }})
			if err != nil {
				t.Fatal(err)
			}
			ln, err := net.Listen("tcp", "127.0.0.1:0")
			if err != nil {
				t.Fatal(err)
			}
			srv := &http.Server{Handler: g.Handler(), ReadHeaderTimeout: 10 * time.Second}
			go srv.Serve(ln)
			defer func() {
				srv.Close()
				g.Shutdown(t.Context())
			}()
			c := register(t, ic.agent(t), ic.echo)
			c.connect("ws://" + ln.Addr().String())
			defer c.ws.Close()
			err = c.expect("ping")
			if tt.open && err != nil {
				t.Fatalf("open with the replica's clock: %v", err)
			}
			var ce *websocket.CloseError
			if !tt.open && !errors.As(err, &ce) {
				t.Fatalf("open with a clock an hour ahead: %v, want a Close frame", err)
			}
			if !tt.open {
				t.Logf("refused: %v", err)
			}
		})
	}
}
