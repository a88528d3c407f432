package gateway

import (
	"slices"
	"testing"

	"github.com/icws/icws/protocol"
)

// TestChannelCatchUp runs the channel poller's plan through its cases: a subscriber that joins
// at the cursor while a shared query planned without it is in flight (the race TestBrowser's
// rooms hit: the joiner's first message was in that query's batch), and one that joins behind
// the cursor (a resubscription). Each gets a catch-up query of its own from its head, the other
// subscribers never get the range again, and a caught-up subscriber takes the shared batches.
func TestChannelCatchUp(t *testing.T) {
	hc := &hubChannels{chans: map[string]*localChannel{}, byConn: map[*conn][]string{}, wake: make(chan struct{}, 1)}
	a, b, late := &conn{}, &conn{}, &conn{}
	hc.mu.Lock()
	hc.joinLocked(a, "x", 0)
	hc.mu.Unlock()
	p, ok := hc.plan(0)
	if !ok || len(p.req) != 1 || p.req[0] != (protocol.ChannelFrom{Channel: "x", From: 0}) || !slices.Equal(p.conns["x"], []*conn{a}) {
		t.Fatalf("first plan %+v", p)
	}
	hc.advance("x", 1) // its batch held seq 0

	// The next shared query is planned, then b joins at head 1 (the cursor) before its answer.
	if p, _ = hc.plan(1); !slices.Equal(p.conns["x"], []*conn{a}) {
		t.Fatalf("second plan %+v", p)
	}
	hc.mu.Lock()
	hc.joinLocked(b, "x", 1)
	hc.mu.Unlock()
	hc.advance("x", 2) // the answer held seq 1, delivered to a only
	cp, ok := hc.catchUpPlan(2)
	if !ok || !cp.catch || len(cp.req) != 1 || cp.req[0] != (protocol.ChannelFrom{Channel: "x", From: 1}) || !slices.Equal(cp.conns["x"], []*conn{b}) {
		t.Fatalf("catch-up plan %+v, ok %v; want x from 1 for b alone (seq 1 went out without it)", cp, ok)
	}
	if p, _ = hc.plan(2); p.req[0].From != 2 || !slices.Equal(p.conns["x"], []*conn{a}) {
		t.Fatalf("shared plan while b catches up %+v, want from 2 to a alone", p)
	}
	hc.caughtUp("x", cp.conns["x"], 2)
	if _, ok := hc.catchUpPlan(3); ok {
		t.Fatal("b still catching up after a batch that reached the cursor")
	}

	// late resubscribes from seq 0, behind the cursor: a catch-up in steps, a and b untouched.
	hc.mu.Lock()
	hc.joinLocked(late, "x", 0)
	hc.mu.Unlock()
	if cp, ok = hc.catchUpPlan(3); !ok || cp.req[0].From != 0 || !slices.Equal(cp.conns["x"], []*conn{late}) {
		t.Fatalf("resubscriber's catch-up %+v, ok %v", cp, ok)
	}
	hc.caughtUp("x", cp.conns["x"], 1) // a batch cut short of the cursor
	if cp, ok = hc.catchUpPlan(4); !ok || cp.req[0].From != 1 {
		t.Fatalf("after a short catch-up batch: %+v, ok %v; want from 1", cp, ok)
	}
	if p, _ = hc.plan(4); p.req[0].From != 2 || len(p.conns["x"]) != 2 || slices.Contains(p.conns["x"], late) {
		t.Fatalf("shared plan %+v, want from 2 to a and b", p)
	}
	hc.caughtUp("x", cp.conns["x"], 2)
	if p, _ = hc.plan(5); len(p.conns["x"]) != 3 {
		t.Fatalf("shared plan after the catch-up %+v, want all three", p)
	}

	// Leaving ends a catch-up.
	hc.mu.Lock()
	hc.joinLocked(late, "x", 0)
	hc.leaveLocked(late, "x")
	hc.mu.Unlock()
	if _, ok := hc.catchUpPlan(6); ok {
		t.Fatal("a subscriber that left is still caught up")
	}
}
