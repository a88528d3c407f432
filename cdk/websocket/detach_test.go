package websocket

import (
	"slices"
	"testing"
	"time"

	"github.com/icws/icws/protocol"
)

// seqsFor returns the sequence numbers of client's messages in gw's queue from nonce on, and the
// nonce after the last message of the batch.
func (f *fixture) seqsFor(gwName string, client uint64, nonce uint64) (seqs []uint64, next uint64) {
	f.t.Helper()
	gw := f.gwA
	if gwName == "B" {
		gw = f.gwB
	}
	next = nonce
	for _, m := range f.poll(gw, nonce).Messages {
		_, n, _ := protocol.ParseKey(m.Key)
		next = n + 1
		if m.ClientID != client {
			continue
		}
		w, err := protocol.DecodeWebsocketMessage(m.Val)
		if err != nil {
			f.t.Fatal(err)
		}
		seqs = append(seqs, w.SequenceNum)
	}
	return seqs, next
}

// TestDetach: a gateway's ws_close detaches the client instead of ending it. Its queue is kept
// and goes on filling; a reopen through another gateway, or through the same one, gets every
// message with nothing lost; the grace's end, and the owner's ws_close, still end it.
func TestDetach(t *testing.T) {
	f := newFixture(t, Config{DetachGrace: time.Minute, TickInterval: 10 * time.Second})
	c, d := f.register(1), f.register(2)
	f.mustOpen(f.gwA, c) // queues "ping", sequence number 0
	f.mustOpen(f.gwA, d)
	if ok, err := f.send(f.gwA, c, "1"); !ok || err != nil { // echoed as 1
		t.Fatal(ok, err)
	}

	// A's connection to c ends.
	if err := f.h.call(f.gwA, "ws_close", nil, c.id); err != nil {
		t.Fatal(err)
	}
	if !f.s.IsOpen(c.id) || len(f.closed) != 0 || !slices.Contains(f.s.Clients(), c.id) {
		t.Fatalf("detached client: open %v, closed %v, clients %v", f.s.IsOpen(c.id), f.closed, f.s.Clients())
	}
	if st := f.stats(); st.DetachedClients != 1 || st.OpenClients != 2 || st.DroppedClosed != 0 {
		t.Fatalf("stats after detach %+v", st)
	}
	if err := f.h.call(f.user, "test_send", nil, c.id, []byte("while detached")); err != nil { // 2
		t.Fatalf("Send to a detached client: %v", err)
	}
	_, err := f.send(f.gwA, c, "late")
	wantTrap(t, err, "client 16 is not open [icws-session-end:2]")
	wantTrap(t, f.h.call(f.gwB, "ws_close", nil, c.id), "is neither the gateway nor the owner")

	// Gateway A fetched everything meanwhile (and had no connection to pass it to).
	seqs, _ := f.seqsFor("A", c.id, 0)
	if !slices.Equal(seqs, []uint64{0, 1, 2}) {
		t.Fatalf("A's queue for c: %v", seqs)
	}

	// c reopens through B: all three move there; OnOpen does not run again.
	f.mustOpen(f.gwB, c)
	if st := f.stats(); st.DetachedClients != 0 || st.OpenClients != 2 {
		t.Fatalf("stats after reopen %+v", st)
	}
	if len(f.opened) != 2 {
		t.Errorf("OnOpen ran on reattach: %v", f.opened)
	}
	seqs, cursorB := f.seqsFor("B", c.id, 0)
	if !slices.Equal(seqs, []uint64{0, 1, 2}) {
		t.Fatalf("B's queue for c after reopen: %v", seqs)
	}
	if seqs, _ := f.seqsFor("A", c.id, 0); len(seqs) != 0 {
		t.Fatalf("A still holds %v", seqs)
	}

	// B detaches it and c comes back through B: what B fetched before comes again, above B's cursor.
	if err := f.h.call(f.gwB, "ws_close", nil, c.id); err != nil {
		t.Fatal(err)
	}
	f.mustOpen(f.gwB, c)
	if seqs, _ := f.seqsFor("B", c.id, cursorB); !slices.Equal(seqs, []uint64{0, 1, 2}) {
		t.Fatalf("reopen through the same gateway: above its cursor %v", seqs)
	}
	if ok, err := f.send(f.gwB, c, "after"); !ok || err != nil {
		t.Fatal(ok, err)
	}

	// Detached past the grace: closed, its queue deleted and counted.
	if err := f.h.call(f.gwB, "ws_close", nil, c.id); err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 4; i++ { // 40 s: within the grace
		if err := f.h.advance(uint64(10 * time.Second)); err != nil {
			t.Fatal(err)
		}
	}
	if !f.s.IsOpen(c.id) {
		t.Fatal("closed within the grace")
	}
	for i := 0; i < 4 && f.s.IsOpen(c.id); i++ {
		if err := f.h.advance(uint64(10 * time.Second)); err != nil {
			t.Fatal(err)
		}
	}
	if f.s.IsOpen(c.id) || !slices.Equal(f.closed, []uint64{c.id}) {
		t.Fatalf("after the grace: open %v, closed %v", f.s.IsOpen(c.id), f.closed)
	}
	st := f.stats()
	if st.DetachExpired != 1 || st.DetachedClients != 0 || st.DroppedClosed != 4 || st.OpenClients != 1 {
		t.Fatalf("stats after the grace %+v", st)
	}
	if ok, err := f.open(f.gwB, c); err == nil && ok {
		t.Fatal("reopened after the grace")
	}

	// The owner's ws_close ends a detached client at once.
	if err := f.h.call(f.gwA, "ws_close", nil, d.id); err != nil {
		t.Fatal(err)
	}
	if err := f.h.call(f.user, "ws_close", nil, d.id); err != nil {
		t.Fatal(err)
	}
	if f.s.IsOpen(d.id) || !slices.Equal(f.closed, []uint64{c.id, d.id}) {
		t.Fatalf("owner close of a detached client: open %v, closed %v", f.s.IsOpen(d.id), f.closed)
	}
	if st := f.stats(); st.DetachedClients != 0 || st.OpenClients != 0 || st.Clients != 0 {
		t.Fatalf("stats at the end %+v", st)
	}
}

// TestClientGoodbye: the client's own signed close service message ends its session at once,
// through its gateway, queue and all; a gateway's ws_close after it is refused as unknown.
func TestClientGoodbye(t *testing.T) {
	f := newFixture(t, Config{})
	c := f.register(1)
	f.mustOpen(f.gwA, c)
	if ok, err := f.send(f.gwA, c, "1"); !ok || err != nil {
		t.Fatal(ok, err)
	}
	// A goodbye with a wrong sequence number is refused like any message.
	if ok, err := f.message(f.gwA, c, c.seq+1, &protocol.WebsocketMessage{Service: true, Close: "bye"}); ok || err != nil {
		t.Fatalf("out-of-order goodbye: %v, %v", ok, err)
	}
	if !f.s.IsOpen(c.id) {
		t.Fatal("a refused goodbye closed the client")
	}
	if ok, err := f.message(f.gwA, c, c.seq, &protocol.WebsocketMessage{Service: true, Close: "bye"}); !ok || err != nil {
		t.Fatalf("goodbye: %v, %v", ok, err)
	}
	if f.s.IsOpen(c.id) || !slices.Equal(f.closed, []uint64{c.id}) {
		t.Fatalf("after goodbye: open %v, closed %v", f.s.IsOpen(c.id), f.closed)
	}
	if st := f.stats(); st.Clients != 0 || st.DroppedClosed != 2 || st.Queued != 0 {
		t.Fatalf("stats %+v", st)
	}
	wantTrap(t, f.h.call(f.gwA, "ws_close", nil, c.id), "ws_close: unknown client 16")
}
