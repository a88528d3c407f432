package replica

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/icws/icws/agent"
	"github.com/icws/icws/ic/principal"
)

// TestGoAgent runs the icws Go agent against the replica: root key fetch, updates, queries with
// signature checks, and certified and uncertified rejects.
func TestGoAgent(t *testing.T) {
	h := newHarness(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	a, err := agent.New(agent.Config{URL: h.r.URL(), Identity: h.ident, FetchRootKey: true})
	if err != nil {
		t.Fatal(err)
	}
	for want := uint64(1); want <= 2; want++ {
		var n uint64
		if err := a.Call(ctx, h.cid, "inc", nil, &n); err != nil || n != want {
			t.Fatalf("inc = %d, %v; want %d", n, err, want)
		}
	}
	var greeting string
	if err := a.Query(ctx, h.cid, "greet", "go", &greeting); err != nil || greeting != "Hello, go!" {
		t.Fatalf("greet = %q, %v", greeting, err)
	}
	var who principal.Principal
	if err := a.Call(ctx, h.cid, "whoami", nil, &who); err != nil || who != h.ident.Sender() {
		t.Fatalf("whoami = %s, %v", who, err)
	}
	msg := "rejected, with 'quotes' and ünïcödé"
	err = a.Call(ctx, h.cid, "reject", msg)
	var rej *agent.RejectError
	if !errors.As(err, &rej) || rej.Code != 4 || rej.Message != msg || !rej.Certified || rej.ErrorCode != "IC0406" {
		t.Fatalf("reject: %v", err)
	}
	err = a.Query(ctx, h.cid, "nope", nil)
	if !errors.As(err, &rej) || rej.Code != 3 || rej.Certified {
		t.Fatalf("unknown query: %v", err)
	}
	err = a.Call(ctx, canisterIDAt(9), "inc", nil)
	if !errors.As(err, &rej) || rej.Code != 3 || rej.Certified || rej.ErrorCode != "IC0301" {
		t.Fatalf("missing canister: %v", err)
	}
}
