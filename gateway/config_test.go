package gateway

import (
	"testing"

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
