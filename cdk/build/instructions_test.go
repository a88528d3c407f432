package build_test

import (
	"context"
	"crypto/ed25519"
	"testing"

	"github.com/icws/icws/ic/candid"
	"github.com/icws/icws/ic/principal"
	"github.com/icws/icws/internal/wasmtest"
	"github.com/icws/icws/protocol"
	"github.com/icws/icws/replica/wasmhost"
)

// TestInstructionsPerCall runs the echo module built by icws build in the replica's Wasm host and
// reports the metered instructions of each ws_* call (the figures of docs/BENCHMARKS.md), checking
// every reply and that each call stays far below the IC's per-message limits.
func TestInstructionsPerCall(t *testing.T) {
	ctx := context.Background()
	h, err := wasmhost.New(ctx, wasmhost.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer h.Close(ctx)
	mod, err := h.Compile(ctx, wasmtest.Build(t, wasmtest.Echo).Wasm)
	if err != nil {
		t.Fatal(err)
	}
	inst, err := mod.Instantiate(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	self := principal.CanisterID(7)
	owner, gateway := principal.SelfAuthenticating([]byte("owner")), principal.SelfAuthenticating([]byte("gateway"))
	now := uint64(1_780_000_000_000_000_000)
	run := func(e wasmhost.Entry, method string, caller principal.Principal, arg []byte) *wasmhost.Result {
		t.Helper()
		now += 1_000_000
		m := &wasmhost.Message{Entry: e, Method: method, Caller: caller, Self: self, Arg: arg, Time: now,
			Replicated: e != wasmhost.EntryQuery, Status: wasmhost.StatusRunning, Cycles: 1e15}
		if e == wasmhost.EntryQuery {
			m.DataCertificate = []byte("a certificate the canister passes on unread")
		}
		r := inst.Run(ctx, m)
		if r.Trap != "" {
			t.Fatalf("%s trapped: %s", method, r.Trap)
		}
		if !r.Replied && method != "" {
			t.Fatalf("%s: no reply", method)
		}
		limit := uint64(wasmhost.DefaultUpdateLimit)
		if e == wasmhost.EntryQuery {
			limit = wasmhost.DefaultQueryLimit
		}
		if r.Instructions == 0 || r.Instructions > limit/100 {
			t.Fatalf("%s: %d instructions (limit %d)", method, r.Instructions, limit)
		}
		return r
	}
	arg := func(v ...any) []byte {
		b, err := candid.Marshal(v...)
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	var boolReply bool
	var id uint64
	pub, key, _ := ed25519.GenerateKey(nil)
	reg := run(wasmhost.EntryUpdate, "ws_register", owner, arg([]byte(pub)))
	if err := candid.Unmarshal(reg.Reply, &id); err != nil {
		t.Fatal(err)
	}
	s1 := protocol.FirstMessage{CanisterID: self.String(), ClientID: id}.Marshal()
	open := run(wasmhost.EntryUpdate, "ws_open", gateway, arg(s1, ed25519.Sign(key, s1)))
	if err := candid.Unmarshal(open.Reply, &boolReply); err != nil || !boolReply {
		t.Fatalf("ws_open = %v, %v", boolReply, err)
	}
	message := func(seq uint64) *wasmhost.Result {
		frame := protocol.SignClientMessage(key, &protocol.WebsocketMessage{ClientID: id, SequenceNum: seq, Timestamp: now,
			Message: protocol.AppMessage{Text: "hello"}.Marshal()})
		r := run(wasmhost.EntryUpdate, "ws_message", gateway, arg(frame))
		if err := candid.Unmarshal(r.Reply, &boolReply); err != nil || !boolReply {
			t.Fatalf("ws_message %d = %v, %v", seq, boolReply, err)
		}
		return r
	}
	first := message(0)
	for seq := uint64(1); seq < 49; seq++ {
		message(seq)
	}
	get := run(wasmhost.EntryQuery, "ws_get_messages", gateway, arg(uint64(0)))
	var cm protocol.CertMessages
	if err := candid.Unmarshal(get.Reply, &cm); err != nil || len(cm.Messages) != 50 {
		t.Fatalf("ws_get_messages: %d messages, %v", len(cm.Messages), err)
	}
	for seq := uint64(49); seq < 999; seq++ {
		message(seq)
	}
	last := message(999) // its reply is the 1,001st message queued
	stats := run(wasmhost.EntryQuery, "ws_stats", gateway, arg())
	var st protocol.Stats
	if err := candid.Unmarshal(stats.Reply, &st); err != nil || st.Queued < 1000 {
		t.Fatalf("ws_stats: %+v, %v", st, err)
	}
	t.Logf("instructions: ws_register %d, ws_open %d, ws_message+Send (1 queued) %d, ws_get_messages (50) %d, ws_message+Send (%d queued) %d, ws_stats %d",
		reg.Instructions, open.Instructions, first.Instructions, get.Instructions, st.Queued, last.Instructions, stats.Instructions)
}
