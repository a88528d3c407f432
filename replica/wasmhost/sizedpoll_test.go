package wasmhost_test

import (
	"context"
	"crypto/ed25519"
	"testing"

	benchcanister "github.com/icws/icws/bench/canister"
	"github.com/icws/icws/ic/candid"
	"github.com/icws/icws/ic/principal"
	"github.com/icws/icws/internal/wasmtest"
	"github.com/icws/icws/protocol"
	"github.com/icws/icws/replica/wasmhost"
)

// TestSizedPollInstructions measures, on the bench canister built by icws build, the
// instructions of ws_get_messages as a seed gateway asks for it (50 messages) and as an icws
// gateway does (a sized poll: protocol.PollBytes of messages, at most protocol.MaxPollMessages),
// with 5,000 messages of 64 bytes queued for one client. A sized poll must stay far below the
// IC's limit for a query (5 B instructions), and cost about the same per message as a seed poll.
func TestSizedPollInstructions(t *testing.T) {
	ctx := context.Background()
	h, err := wasmhost.New(ctx, wasmhost.Options{Limits: wasmhost.Limits{Update: 40_000_000_000, Query: wasmhost.DefaultQueryLimit}, CacheDir: wasmtest.CacheDir()})
	if err != nil {
		t.Fatal(err)
	}
	defer h.Close(ctx)
	mod, err := h.Compile(ctx, wasmtest.Build(t, wasmtest.BenchCanister).Wasm)
	if err != nil {
		t.Fatal(err)
	}
	inst, err := mod.Instantiate(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer inst.Close(ctx)
	owner, gateway, user := principal.SelfAuthenticating([]byte("owner")), principal.SelfAuthenticating([]byte("gateway")), principal.SelfAuthenticating([]byte("user"))
	now := uint64(1_780_000_000_000_000_000)
	run := func(entry wasmhost.Entry, method string, caller principal.Principal, arg []byte) *wasmhost.Result {
		t.Helper()
		now += 1_000_000
		m := &wasmhost.Message{Entry: entry, Method: method, Caller: caller, Self: self, Arg: arg, Time: now,
			Replicated: entry != wasmhost.EntryQuery, Status: wasmhost.StatusRunning, Cycles: 1e15,
			Controllers: []principal.Principal{owner}}
		if entry == wasmhost.EntryQuery {
			m.DataCertificate = []byte("a certificate the canister passes on unread")
		}
		r := inst.Run(ctx, m)
		if r.Trap != "" || (entry != wasmhost.EntryInit && !r.Replied) {
			t.Fatalf("entry %v %q: replied %v, trap %q", entry, method, r.Replied, r.Trap)
		}
		return r
	}
	run(wasmhost.EntryInit, "", owner, marshal(t, owner))
	key := ed25519.NewKeyFromSeed(make([]byte, 32))
	var id uint64
	if err := candid.Unmarshal(run(wasmhost.EntryUpdate, protocol.MethodRegister, user, marshal(t, []byte(key.Public().(ed25519.PublicKey)))).Reply, &id); err != nil {
		t.Fatal(err)
	}
	s1 := protocol.FirstMessage{CanisterID: self.String(), ClientID: id}.Marshal()
	run(wasmhost.EntryUpdate, protocol.MethodOpen, gateway, marshal(t, s1, ed25519.Sign(key, s1)))
	const queued = 5000
	run(wasmhost.EntryUpdate, benchcanister.MethodBroadcast, owner, marshal(t, uint32(queued), uint32(64)))

	budget := uint64(protocol.PollBytes)
	for _, tc := range []struct {
		name string
		arg  []byte
		min  int
	}{
		{"seed poll", marshal(t, uint64(0)), 50},
		{"sized poll", marshal(t, uint64(0), &budget), 1000},
	} {
		r := run(wasmhost.EntryQuery, protocol.MethodGetMessages, gateway, tc.arg)
		var res protocol.CertMessages
		if err := candid.Unmarshal(r.Reply, &res); err != nil {
			t.Fatal(err)
		}
		n := len(res.Messages)
		if n < tc.min {
			t.Fatalf("%s: %d messages, want at least %d", tc.name, n, tc.min)
		}
		if r.Instructions >= wasmhost.DefaultQueryLimit/10 {
			t.Errorf("%s: %d instructions for %d messages: within a tenth of the IC's query limit is the goal", tc.name, r.Instructions, n)
		}
		t.Logf("%s: %d messages, %d reply bytes, %d instructions (%d per message)", tc.name, n, len(r.Reply), r.Instructions, r.Instructions/uint64(n))
	}
}
