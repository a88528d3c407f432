package chat_test

import (
	"context"
	"crypto/ed25519"
	"fmt"
	"github.com/icws/icws/internal/wasmtest"
	"testing"
	"time"

	"github.com/icws/icws/agent"
	"github.com/icws/icws/canisters/chat"
	"github.com/icws/icws/ic/identity"
	"github.com/icws/icws/protocol"
	"github.com/icws/icws/replica"
)

// TestRoom runs the chat canister on a real replica: three clients join through one gateway,
// one speaks, one leaves, and every client sees the same events in the same order.
func TestRoom(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	rep, err := replica.Start(ctx, replica.Config{Canisters: []replica.CanisterSpec{{Name: "chat", Wasm: wasmtest.Build(t, wasmtest.Chat).Wasm}}, WasmCacheDir: wasmtest.CacheDir()})
	if err != nil {
		t.Fatal(err)
	}
	defer rep.Close()
	canister, _ := rep.CanisterID("chat")
	newAgent := func() *agent.Agent {
		id, err := identity.GenerateEd25519()
		if err != nil {
			t.Fatal(err)
		}
		a, err := agent.New(agent.Config{URL: rep.URL(), Identity: id, RootKey: rep.RootKey()})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(a.CloseIdleConnections)
		return a
	}
	gw, user := newAgent(), newAgent()

	type client struct {
		id  uint64
		key ed25519.PrivateKey
	}
	var clients []client
	for i := 0; i < 3; i++ {
		_, key, _ := ed25519.GenerateKey(nil)
		c := client{key: key}
		if err := user.Call(ctx, canister, "ws_register", []byte(key.Public().(ed25519.PublicKey)), &c.id); err != nil {
			t.Fatal(err)
		}
		s1 := protocol.FirstMessage{CanisterID: canister.String(), ClientID: c.id}.Marshal()
		var ok bool
		if err := gw.Call(ctx, canister, "ws_open", agent.Args{s1, ed25519.Sign(key, s1)}, &ok); err != nil || !ok {
			t.Fatalf("ws_open: %v, %v", ok, err)
		}
		clients = append(clients, c)
	}
	frame := protocol.SignClientMessage(clients[1].key, &protocol.WebsocketMessage{
		ClientID: clients[1].id, Timestamp: 1 << 53, Message: protocol.AppMessage{Text: "hello from my bedroom"}.Marshal(),
	})
	var ok bool
	if err := gw.Call(ctx, canister, "ws_message", frame, &ok); err != nil || !ok {
		t.Fatalf("ws_message: %v, %v", ok, err)
	}
	// Client a says goodbye (a gateway's ws_close would only detach it, for a reconnection).
	bye := protocol.SignClientMessage(clients[0].key, &protocol.WebsocketMessage{
		ClientID: clients[0].id, Timestamp: 1 << 53, Service: true, Close: "bye",
	})
	if err := gw.Call(ctx, canister, "ws_message", bye, &ok); err != nil || !ok {
		t.Fatalf("goodbye: %v, %v", ok, err)
	}

	var cm protocol.CertMessages
	if err := gw.Query(ctx, canister, "ws_get_messages", uint64(0), &cm); err != nil {
		t.Fatal(err)
	}
	seen := map[uint64][]string{}
	for _, m := range cm.Messages {
		w, err := protocol.DecodeWebsocketMessage(m.Val)
		if err != nil {
			t.Fatal(err)
		}
		if uint64(len(seen[m.ClientID])) != w.SequenceNum {
			t.Fatalf("client %d: sequence number %d after %d messages", m.ClientID, w.SequenceNum, len(seen[m.ClientID]))
		}
		ev, err := chat.Decode(w.Message)
		if err != nil {
			t.Fatal(err)
		}
		var s string
		switch {
		case ev.Message != nil:
			s = fmt.Sprintf("%d: %s", ev.Message.From, ev.Message.Text)
		case ev.Join != nil:
			s = fmt.Sprintf("join %d", *ev.Join)
		case ev.Leave != nil:
			s = fmt.Sprintf("leave %d", *ev.Leave)
		}
		seen[m.ClientID] = append(seen[m.ClientID], s)
	}
	a, b, c := clients[0].id, clients[1].id, clients[2].id
	want := map[uint64][]string{
		// Client a left: what was queued for it is gone.
		b: {fmt.Sprintf("join %d", b), fmt.Sprintf("join %d", c), fmt.Sprintf("%d: hello from my bedroom", b), fmt.Sprintf("leave %d", a)},
		c: {fmt.Sprintf("join %d", c), fmt.Sprintf("%d: hello from my bedroom", b), fmt.Sprintf("leave %d", a)},
	}
	if fmt.Sprint(seen) != fmt.Sprint(want) {
		t.Errorf("events:\n got %v\nwant %v", seen, want)
	}
}
