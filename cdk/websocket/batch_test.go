package websocket

import (
	"testing"

	"github.com/icws/icws/cdk"
	"github.com/icws/icws/protocol"
)

// TestBatchCertifiesOnce checks that a message that Sends to many clients sets the certified
// data once, at its end, to the root of the whole queue, whether it is a ws_* method (OnMessage)
// or an application method wrapped by Batch; that an unwrapped method still certifies every
// Send; and that a trap in a batched method leaves the certified data alone.
func TestBatchCertifiesOnce(t *testing.T) {
	f := newFixture(t, Config{})
	clients := make([]*testClient, 5)
	for i := range clients {
		clients[i] = f.register(byte(i + 1))
		f.mustOpen(f.gwA, clients[i])
	}
	broadcast := func(ic cdk.System) {
		for _, id := range f.s.Clients() {
			if err := f.s.Send(ic, id, protocol.AppMessage{Text: "all"}.Marshal()); err != nil {
				ic.Trap(err.Error())
			}
		}
	}
	f.h.code.Updates["test_broadcast"] = f.s.Batch(func(ic cdk.System) {
		broadcast(ic)
		if f.trapNext {
			ic.Trap("application trap")
		}
		ic.Reply([]byte(replyUnit))
	})
	f.h.code.Updates["test_broadcast_unbatched"] = func(ic cdk.System) {
		broadcast(ic)
		ic.Reply([]byte(replyUnit))
	}
	queued := f.stats().Queued

	for _, tc := range []struct {
		method string
		calls  int
	}{
		{"test_broadcast", 1},
		{"test_broadcast_unbatched", len(clients)},
	} {
		before := f.h.certCalls
		if err := f.h.call(f.user, tc.method, nil); err != nil {
			t.Fatalf("%s: %v", tc.method, err)
		}
		if got := f.h.certCalls - before; got != tc.calls {
			t.Errorf("%s: %d SetCertifiedData calls, want %d", tc.method, got, tc.calls)
		}
		queued += uint64(len(clients))
		if st := f.stats(); st.Queued != queued {
			t.Fatalf("%s: %d queued, want %d", tc.method, st.Queued, queued)
		}
		f.poll(f.gwA, FirstNonce) // the witness verifies against the certified data
	}

	// The fixture's OnMessage echoes to the sender from inside ws_message: it certifies once.
	before := f.h.certCalls
	if ok, err := f.send(f.gwA, clients[0], "hi"); !ok || err != nil {
		t.Fatalf("ws_message = %v, %v", ok, err)
	}
	if got := f.h.certCalls - before; got != 1 {
		t.Errorf("ws_message: %d SetCertifiedData calls, want 1", got)
	}
	f.poll(f.gwA, FirstNonce)

	// A trapped batched message rolls back and certifies nothing.
	certified, root := f.h.certified, f.s.tree.RootHash()
	f.trapNext = true
	before = f.h.certCalls
	wantTrap(t, f.h.call(f.user, "test_broadcast", nil), "application trap")
	f.trapNext = false
	if f.h.certCalls != before || string(f.h.certified) != string(certified) || f.s.tree.RootHash() != root {
		t.Fatal("a trapped broadcast changed the certified data or the map")
	}
	if f.s.batching || f.s.uncertified {
		t.Fatal("a trap left the batch open")
	}
	f.poll(f.gwA, FirstNonce)
}
