package websocket

import (
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/icws/icws/ic/principal"
	"github.com/icws/icws/protocol"
)

// serviceAcks returns the ack of every service message in gw's queue for client, in order, and
// the sequence numbers of all its messages there.
func (f *fixture) serviceAcks(gw principal.Principal, client uint64) (acks, seqs []uint64) {
	f.t.Helper()
	for _, m := range f.poll(gw, 0).Messages {
		w, err := protocol.DecodeWebsocketMessage(m.Val)
		if err != nil {
			f.t.Fatal(err)
		}
		if w.ClientID != client {
			continue
		}
		seqs = append(seqs, w.SequenceNum)
		if w.Service {
			acks = append(acks, w.Ack)
		}
	}
	return acks, seqs
}

// keepAlive sends c's keep-alive acknowledging canister messages below ack.
func (f *fixture) keepAlive(gw principal.Principal, c *testClient, ack uint64) {
	f.t.Helper()
	if ok, err := f.message(gw, c, c.seq, &protocol.WebsocketMessage{Service: true, Ack: ack}); !ok || err != nil {
		f.t.Fatalf("keep-alive: %v, %v", ok, err)
	}
	c.seq++
}

// TestOpenNonceRefusesReplay: a gateway that relayed a client's first message cannot replay it,
// alone or through a colluding gateway, to pull the client back after it moved on; neither can
// it strip the nonce. Refusals change nothing but the counter.
func TestOpenNonceRefusesReplay(t *testing.T) {
	f := newFixture(t, Config{})
	gwC := gatewayPrincipal(t, 11) // colludes with A
	c := f.register(1)
	if ok, err := f.openNonce(f.gwA, c, 100); !ok || err != nil {
		t.Fatalf("open through A: %v, %v", ok, err)
	}
	if ok, err := f.openNonce(f.gwB, c, 200); !ok || err != nil {
		t.Fatalf("open through B: %v, %v", ok, err)
	}
	before := dumpState(f.s)
	rejected := f.stats().Rejected
	for _, tt := range []struct {
		name  string
		gw    principal.Principal
		nonce uint64
	}{
		{"A replays what it saw", f.gwA, 100},
		{"C replays what A saw", gwC, 100},
		{"A replays what B saw", f.gwA, 200},
		{"B replays its own", f.gwB, 200},
		{"an older nonce", f.gwA, 150},
		{"the nonce stripped", f.gwA, 0},
		{"the nonce stripped, same gateway", f.gwB, 0},
	} {
		if ok, err := f.openNonce(tt.gw, c, tt.nonce); ok || err != nil {
			t.Errorf("%s: ws_open = %v, %v; want false", tt.name, ok, err)
		}
	}
	if after := dumpState(f.s); withoutStats(after) != withoutStats(before) {
		t.Fatalf("refused first messages changed the state:\n%s\n%s", before, after)
	}
	if got := f.stats().Rejected - rejected; got != 7 {
		t.Errorf("%d refusals counted, want 7", got)
	}
	// The client is still B's: A can neither relay for it nor fetch its messages.
	_, err := f.send(f.gwA, c, "x")
	wantTrap(t, err, "bound to another gateway")
	if ok, err := f.send(f.gwB, c, "y"); !ok || err != nil {
		t.Fatalf("through B: %v, %v", ok, err)
	}
	// The client itself moves back with a fresh nonce; equal to the last one is refused too.
	if ok, err := f.openNonce(f.gwA, c, 201); !ok || err != nil {
		t.Fatalf("fresh open through A: %v, %v", ok, err)
	}
	if ok, err := f.openNonce(f.gwB, c, 201); ok || err != nil {
		t.Fatalf("the same nonce through B: %v, %v", ok, err)
	}

	// Seed clients never send a nonce and keep working, replays included (the residual risk
	// docs/PROTOCOL.md §8 describes): a nonce-less first message may open them again anywhere.
	d := f.register(2)
	f.mustOpen(f.gwA, d)
	f.mustOpen(f.gwB, d)
	f.mustOpen(f.gwA, d)
	if len(f.opened) != 2 {
		t.Errorf("opened %v", f.opened)
	}
}

// TestReopenAcknowledgesAtOnce: when an opted-in client opens again (through another gateway,
// or the same one), the canister queues a service message at once that says which client
// messages it accepted, after the messages that moved, so the client can resend the others
// without waiting for a heartbeat. Seed clients get none.
func TestReopenAcknowledgesAtOnce(t *testing.T) {
	f := newFixture(t, Config{})
	c := f.register(1)
	if ok, err := f.openNonce(f.gwA, c, 1); !ok || err != nil {
		t.Fatal(ok, err)
	}
	f.keepAlive(f.gwA, c, 0)
	for i := range 3 {
		if ok, err := f.send(f.gwA, c, fmt.Sprint(i)); !ok || err != nil {
			t.Fatal(ok, err)
		}
	}
	// Queued for c: ping (0) and three echoes (1–3). It accepted four client messages.
	if ok, err := f.openNonce(f.gwB, c, 2); !ok || err != nil {
		t.Fatal(ok, err)
	}
	acks, seqs := f.serviceAcks(f.gwB, c.id)
	if !slices.Equal(seqs, []uint64{0, 1, 2, 3, 4}) || !slices.Equal(acks, []uint64{4}) {
		t.Fatalf("gateway B has seqs %v with acks %v; want 0–3 moved and then a service message acknowledging 4", seqs, acks)
	}
	if acks, _ := f.serviceAcks(f.gwA, c.id); len(acks) != 0 {
		t.Errorf("gateway A kept service messages %v", acks)
	}
	// The same gateway again with a fresh nonce (a replaced connection): acknowledged too.
	if ok, err := f.openNonce(f.gwB, c, 3); !ok || err != nil {
		t.Fatal(ok, err)
	}
	if acks, _ := f.serviceAcks(f.gwB, c.id); !slices.Equal(acks, []uint64{4, 4}) {
		t.Errorf("after reopening through B: acks %v", acks)
	}

	// A seed client (no keep-alive) that moves gets no service message.
	d := f.register(2)
	f.mustOpen(f.gwA, d)
	f.mustOpen(f.gwB, d)
	if acks, seqs := f.serviceAcks(f.gwB, d.id); len(acks) != 0 || !slices.Equal(seqs, []uint64{0}) {
		t.Errorf("seed client: seqs %v, acks %v", seqs, acks)
	}
	// Nor does an opted-in client of a canister without heartbeats.
	g := newFixture(t, Config{HeartbeatInterval: -1})
	e := g.register(3)
	if ok, err := g.openNonce(g.gwA, e, 1); !ok || err != nil {
		t.Fatal(ok, err)
	}
	g.keepAlive(g.gwA, e, 0)
	if ok, err := g.openNonce(g.gwB, e, 2); !ok || err != nil {
		t.Fatal(ok, err)
	}
	if acks, _ := g.serviceAcks(g.gwB, e.id); len(acks) != 0 {
		t.Errorf("no heartbeats: acks %v", acks)
	}
}

// TestMoveDropsAcknowledged: messages below what the client acknowledged in a keep-alive are
// not moved to the new gateway. (A keep-alive deletes what is queued below its ack at once; what
// is left below it is what was queued later, which the client said it does not need.)
func TestMoveDropsAcknowledged(t *testing.T) {
	f := newFixture(t, Config{})
	c := f.register(1)
	if ok, err := f.openNonce(f.gwA, c, 1); !ok || err != nil {
		t.Fatal(ok, err)
	}
	// ping is 0; the client acknowledges up to 3, before 1–3 exist.
	f.keepAlive(f.gwA, c, 3)
	for i := range 4 {
		if ok, err := f.send(f.gwA, c, fmt.Sprint(i)); !ok || err != nil {
			t.Fatal(ok, err)
		}
	}
	acked := f.stats().Acknowledged
	if _, seqs := f.serviceAcks(f.gwA, c.id); !slices.Equal(seqs, []uint64{1, 2, 3, 4}) {
		t.Fatalf("queued at A: %v", seqs)
	}
	if ok, err := f.openNonce(f.gwB, c, 2); !ok || err != nil {
		t.Fatal(ok, err)
	}
	if _, seqs := f.serviceAcks(f.gwB, c.id); !slices.Equal(seqs, []uint64{3, 4, 5}) {
		t.Errorf("moved to B: seqs %v, want 3 and 4 moved, 5 the service message", seqs)
	}
	if got := f.stats().Acknowledged - acked; got != 2 {
		t.Errorf("%d more acknowledged, want 2", got)
	}
	if st := f.stats(); st.Queued != 3 {
		t.Errorf("stats %+v", st)
	}
}

// TestAckInterval: an opted-in client that keeps sending gets an acknowledgement after every
// AckInterval accepted messages, between heartbeats; others get none.
func TestAckInterval(t *testing.T) {
	for _, tt := range []struct {
		name      string
		cfg       Config
		keepalive bool
		want      []uint64
	}{
		{"default", Config{}, true, []uint64{8, 16}},
		{"every 5", Config{AckInterval: 5}, true, []uint64{5, 10, 15}},
		{"turned off", Config{AckInterval: -1}, true, nil},
		{"no heartbeats", Config{HeartbeatInterval: -1}, true, nil},
		{"seed client", Config{}, false, nil},
	} {
		t.Run(tt.name, func(t *testing.T) {
			f := newFixture(t, tt.cfg)
			f.h.timer = 0 // no heartbeats from ticks
			c := f.register(1)
			f.mustOpen(f.gwA, c)
			if tt.keepalive {
				f.keepAlive(f.gwA, c, 0)
			}
			for c.seq < 19 {
				if ok, err := f.send(f.gwA, c, fmt.Sprint(c.seq)); !ok || err != nil {
					t.Fatal(ok, err)
				}
				f.h.timer = 0
			}
			if acks, _ := f.serviceAcks(f.gwA, c.id); !slices.Equal(acks, tt.want) {
				t.Errorf("acks %v, want %v", acks, tt.want)
			}
		})
	}
}

// TestAckTime: every acknowledgement carries the IC time the canister accepted the last client
// message it acknowledges (or opened the client, if later), not its own time: a client counts a
// message written behind that one from it (docs/PROTOCOL.md §6.2).
func TestAckTime(t *testing.T) {
	f := newFixture(t, Config{HeartbeatInterval: 30 * time.Second, TickInterval: 10 * time.Second})
	c := f.register(1)
	f.mustOpen(f.gwA, c)
	opened := f.h.now
	f.h.now += 1e9
	f.keepAlive(f.gwA, c, 0) // accepted at opened+1 s
	kept := f.h.now
	f.h.now += 2e9
	if ok, err := f.send(f.gwA, c, "m0"); !ok || err != nil { // accepted at opened+3 s
		t.Fatal(ok, err)
	}
	sent := f.h.now
	if err := f.h.advance(uint64(40 * time.Second)); err != nil { // heartbeats at the ticks after it
		t.Fatal(err)
	}
	var got []protocol.WebsocketMessage
	for _, m := range f.poll(f.gwA, 0).Messages {
		w, err := protocol.DecodeWebsocketMessage(m.Val)
		if err != nil {
			t.Fatal(err)
		}
		if w.ClientID == c.id && w.Service {
			got = append(got, w)
		}
	}
	if len(got) == 0 {
		t.Fatal("no heartbeat")
	}
	for _, w := range got {
		if w.Ack != 2 || w.AckTime != sent || w.Timestamp <= sent {
			t.Errorf("heartbeat %d at %d: ack %d, ack_time %d; want ack 2, ack_time %d (the message's acceptance; keep-alive %d, open %d)",
				w.SequenceNum, w.Timestamp, w.Ack, w.AckTime, sent, kept, opened)
		}
	}
	// Reopened through B: the acknowledgement at once carries the open's time, which is later.
	f.h.now += 1e9
	if ok, err := f.openNonce(f.gwB, c, 7); !ok || err != nil {
		t.Fatal(ok, err)
	}
	reopened := f.h.now
	var last protocol.WebsocketMessage
	for _, m := range f.poll(f.gwB, 0).Messages {
		if w, err := protocol.DecodeWebsocketMessage(m.Val); err == nil && w.ClientID == c.id && w.Service {
			last = w
		}
	}
	if last.Ack != 2 || last.AckTime != reopened {
		t.Errorf("after the reopen: ack %d, ack_time %d; want 2, %d", last.Ack, last.AckTime, reopened)
	}
}
