package omniaecho_test

import (
	"context"
	"testing"

	"github.com/icws/icws/canisters/omniaecho"
	"github.com/icws/icws/ic/candid"
	"github.com/icws/icws/ic/principal"
	"github.com/icws/icws/internal/wasmtest"
	"github.com/icws/icws/protocol/omnia"
	"github.com/icws/icws/replica/wasmhost"
)

// TestInstructionsPerCall runs the module icws build makes of this canister in the replica's Wasm
// host and reports the metered instructions of ws_open, ws_message (with the echo's Send) and
// ws_get_messages (50 messages), checking every reply and that each call stays far below the
// IC's per-message limits.
func TestInstructionsPerCall(t *testing.T) {
	ctx := context.Background()
	h, err := wasmhost.New(ctx, wasmhost.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer h.Close(ctx)
	mod, err := h.Compile(ctx, wasmtest.Build(t, omniaEchoPackage).Wasm)
	if err != nil {
		t.Fatal(err)
	}
	inst, err := mod.Instantiate(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	self := principal.CanisterID(7)
	alice, gateway := principal.SelfAuthenticating([]byte("alice")), principal.SelfAuthenticating([]byte("gateway"))
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
		if !r.Replied {
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
	key := omnia.ClientKey{Principal: alice, Nonce: 42}
	open := run(wasmhost.EntryUpdate, omnia.MethodOpen, alice, omnia.EncodeOpenArgs(omnia.OpenArgs{ClientNonce: 42, GatewayPrincipal: gateway}))
	if err := omnia.DecodeResult(open.Reply); err != nil {
		t.Fatalf("ws_open: %v", err)
	}
	message := func(seq uint64) *wasmhost.Result {
		app, err := candid.Marshal(omniaecho.AppMessage{Text: "hello", Timestamp: now})
		if err != nil {
			t.Fatal(err)
		}
		arg := omnia.EncodeMessageArgs(omnia.MessageArgs{Msg: omnia.WebsocketMessage{Key: key, SequenceNum: seq, Timestamp: now, Content: app}})
		r := run(wasmhost.EntryUpdate, omnia.MethodMessage, alice, arg)
		if err := omnia.DecodeResult(r.Reply); err != nil {
			t.Fatalf("ws_message %d: %v", seq, err)
		}
		return r
	}
	first := message(1)
	for seq := uint64(2); seq <= 50; seq++ { // 51 queued: the OpenMessage and 50 echoes
		message(seq)
	}
	get := run(wasmhost.EntryQuery, omnia.MethodGetMessages, gateway, omnia.EncodeGetMessagesArgs(omnia.GetMessagesArgs{Nonce: 0}))
	cm, err := omnia.DecodeGetMessagesResult(get.Reply)
	if err != nil || len(cm.Messages) != omnia.DefaultMaxReturnedMessages || cm.IsEndOfQueue {
		t.Fatalf("ws_get_messages: %d messages, end %v, %v", len(cm.Messages), cm.IsEndOfQueue, err)
	}
	for seq := uint64(51); seq < 1000; seq++ {
		message(seq)
	}
	last := message(1000) // its echo is the 1,001st message queued
	t.Logf("instructions: ws_open %d, ws_message+Send (2 queued) %d, ws_get_messages (50) %d, ws_message+Send (1,001 queued) %d",
		open.Instructions, first.Instructions, get.Instructions, last.Instructions)
}
