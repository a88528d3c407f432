package gateway

import (
	"bytes"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/gorilla/websocket"

	"github.com/icws/icws/protocol"
)

// callGate is the gateway's transport to the replica with two doors: one that holds its polls
// (ws_get_messages queries) and one that holds its ws_open calls, each until opened again.
type callGate struct {
	next http.RoundTripper

	mu          sync.Mutex
	polls, open chan struct{} // nil while the door is open
	heldPolls   int
	heldOpens   int
}

func (g *callGate) wrap(next http.RoundTripper) http.RoundTripper {
	g.next = next
	return g
}

func (g *callGate) RoundTrip(r *http.Request) (*http.Response, error) {
	body, err := io.ReadAll(r.Body)
	r.Body.Close()
	if err != nil {
		return nil, err
	}
	r.Body = io.NopCloser(bytes.NewReader(body))
	// The CBOR envelope holds the method name as it is.
	var door chan struct{}
	var held *int
	g.mu.Lock()
	switch {
	case strings.HasSuffix(r.URL.Path, "/query") && bytes.Contains(body, []byte("ws_get_messages")):
		door, held = g.polls, &g.heldPolls
	case strings.HasSuffix(r.URL.Path, "/call") && bytes.Contains(body, []byte("ws_open")):
		door, held = g.open, &g.heldOpens
	}
	if door != nil {
		*held++
	}
	g.mu.Unlock()
	if door != nil {
		select {
		case <-door:
		case <-r.Context().Done():
			return nil, r.Context().Err()
		}
	}
	return g.next.RoundTrip(r)
}

// hold closes a door: the calls behind it wait until release.
func (g *callGate) hold(door *chan struct{}) {
	g.mu.Lock()
	defer g.mu.Unlock()
	*door = make(chan struct{})
}

// release opens a door and lets the calls it held go.
func (g *callGate) release(door *chan struct{}) {
	g.mu.Lock()
	defer g.mu.Unlock()
	close(*door)
	*door = nil
}

func (g *callGate) held() (polls, opens int) {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.heldPolls, g.heldOpens
}

// TestReopenStaleCopiesFirst reopens a client through the same gateway while a poll that ran
// before its ws_open brings a message the canister queued for it under its old connection: the
// client, which lost the message before that one with the old connection, must get both again
// in order (the moved copies ws_open queues), not the stale copy first (a gap).
func TestReopenStaleCopiesFirst(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		gate := &callGate{}
		b := startBubbleWith(t, Config{PollInterval: 20 * time.Millisecond}, gate.wrap)
		gw := b.gw
		c := b.open(t, b.echo)
		if err := c.expect("ping"); err != nil {
			t.Fatal(err)
		}
		// "x" reaches the old connection, which the client never reads.
		if err := c.sendText("x"); err != nil {
			t.Fatal(err)
		}
		waitFor(t, "x polled", func() bool { return gw.m.messagesPolled.get() == 2 })
		// "y" is queued while the polls are held: no poll can fetch it yet.
		gate.hold(&gate.polls)
		waitFor(t, "a poll held", func() bool { p, _ := gate.held(); return p == 1 })
		if err := c.sendText("y"); err != nil {
			t.Fatal(err)
		}
		waitFor(t, "y queued", func() bool { return gw.m.results[methodMessage][resultTrue].get() == 2 })
		// The old connection ends; its ws_close detaches the client, which reopens at once.
		c.ws.Close()
		waitFor(t, "ws_close", func() bool { return wsCloses(gw) == 1 })
		gate.hold(&gate.open)
		if err := b.dial(c); err != nil {
			t.Fatal(err)
		}
		if err := c.ws.WriteMessage(websocket.BinaryMessage, c.firstMessage()); err != nil {
			t.Fatal(err)
		}
		waitFor(t, "ws_open held", func() bool { _, o := gate.held(); return o == 1 })
		// The held poll runs before ws_open: it fetches "y" under its old key.
		gate.release(&gate.polls)
		synctest.Wait()
		gate.release(&gate.open)
		// The canister sends again everything not acknowledged, "ping" too, which the client had.
		c.skipReplays = true
		for _, want := range []string{"x", "y"} {
			if err := c.expect(want); err != nil {
				t.Fatalf("after the reopen: %v", err)
			}
		}
		if n := gw.m.staleDropped.get(); n != 1 {
			t.Errorf("stale copies dropped: %d, want 1", n)
		}
		if err := c.sendText("z"); err != nil {
			t.Fatal(err)
		}
		if err := c.expect("z"); err != nil {
			t.Fatal(err)
		}
	})
}

// TestOpenHold checks what the hub passes on of the messages it routed to an opening
// connection: stale copies before a sequence number that goes down are dropped; without one,
// everything is held until a poll started after ws_open returned catches up; an S9 client gets
// a frame per batch.
func TestOpenHold(t *testing.T) {
	const id = 9
	batchOfSeqs := func(seqs ...uint64) *batch {
		res := &protocol.CertMessages{Cert: []byte{1}, Tree: []byte{2}}
		for _, s := range seqs {
			m := protocol.WebsocketMessage{ClientID: id, SequenceNum: s, Timestamp: 1, Message: []byte{'m'}}
			res.Messages = append(res.Messages, protocol.Message{ClientID: id, Key: key(s), Val: m.MarshalCanister()})
		}
		return newBatch(res)
	}
	for _, tc := range []struct {
		name    string
		batched bool
		batches [][]uint64
		replied bool       // ws_open returned before the batches came
		post    [][]uint64 // then batches of a poll that started after that
		poll    uint64     // caughtUp's poll, relative to the one running at the reply (0: none)
		want    []uint64
		frames  int
		stale   uint64
		open    bool // the hold is still open, passing messages on
	}{
		{name: "stale copies then the moved ones", batches: [][]uint64{{5, 6}, {4, 5, 6, 7}}, want: []uint64{4, 5, 6, 7}, frames: 4, stale: 2},
		{name: "stale copies in the batch of the moved ones", batches: [][]uint64{{6, 3, 4, 5, 6}}, want: []uint64{3, 4, 5, 6}, frames: 4, stale: 1},
		{name: "S9: stale copies then the moved ones", batched: true, batches: [][]uint64{{5, 6}, {4, 5}, {6, 7}}, want: []uint64{4, 5, 6, 7}, frames: 2, stale: 2},
		{name: "after the reply, one above those held", batches: [][]uint64{{3}}, replied: true, post: [][]uint64{{4}}, want: []uint64{3, 4}, frames: 2},
		{name: "after the reply, the moved copies", batches: [][]uint64{{5}}, replied: true, post: [][]uint64{{4, 5}}, want: []uint64{4, 5}, frames: 2, stale: 1},
		{name: "before the reply", batches: [][]uint64{{3, 4}}, poll: 1},
		{name: "a poll that started before the reply", batches: [][]uint64{{3, 4}}, replied: true, poll: 0},
		{name: "a poll that started after the reply caught up", batches: [][]uint64{{3, 4}}, replied: true, poll: 1, want: []uint64{3, 4}, frames: 2},
		{name: "S9: a poll that started after the reply caught up", batched: true, batches: [][]uint64{{3}, {4, 5}}, replied: true, poll: 1, want: []uint64{3, 4, 5}, frames: 2},
		{name: "a session's first messages pass at once", batches: [][]uint64{{0, 1}}, want: []uint64{0, 1}, frames: 2, open: true},
		{name: "a session's first messages, then their moved copies", batches: [][]uint64{{0, 1}, {0, 1, 2}}, replied: true, post: [][]uint64{{3}}, want: []uint64{0, 1, 2, 3}, frames: 4, stale: 2},
		{name: "S9: a session's first messages pass at once", batched: true, batches: [][]uint64{{0, 1}}, want: []uint64{0, 1}, frames: 1, open: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				g := newTestGateway(t, Config{PollInterval: time.Hour}, func(gw string) canisterAPI { return &fakeIC{gateway: gw} })
				h := g.hubFor(seedWire{}, testCanister)
				c := testConn(g, id)
				c.batched = tc.batched
				c.hold = &openHold{}
				h.add(c)
				synctest.Wait() // the poller's first poll, of an empty queue, is done
				if tc.replied {
					h.openReplied(c)
				}
				h.mu.Lock()
				at := h.polls
				h.mu.Unlock()
				for _, seqs := range tc.batches {
					h.route(batchOfSeqs(seqs...))
				}
				if tc.post != nil {
					h.mu.Lock()
					h.polls++
					at = h.polls
					h.mu.Unlock()
				}
				for _, seqs := range tc.post {
					h.route(batchOfSeqs(seqs...))
				}
				if tc.poll > 0 {
					h.caughtUp(at + tc.poll)
				} else {
					h.caughtUp(at)
				}
				var got []uint64
				frames := c.q.take()
				for _, f := range frames {
					idx := f.idx
					if idx == nil {
						idx = []int32{int32(f.i)}
					}
					for _, i := range idx {
						m, err := protocol.DecodeWebsocketMessage(f.b.msgs[i].Val)
						if err != nil {
							t.Fatal(err)
						}
						got = append(got, m.SequenceNum)
					}
				}
				if !slices.Equal(got, tc.want) || len(frames) != tc.frames {
					t.Errorf("passed on %v in %d frames, want %v in %d", got, len(frames), tc.want, tc.frames)
				}
				if n := g.m.staleDropped.get(); n != tc.stale {
					t.Errorf("stale dropped %d, want %d", n, tc.stale)
				}
				h.mu.Lock()
				holding := len(h.holding)
				h.mu.Unlock()
				if released := tc.want != nil && !tc.open; released != (holding == 0) {
					t.Errorf("released %v, but %d connections still hold", released, holding)
				}
				h.leave(c, false)
			})
		})
	}
}

// TestOpenHoldBounded passes an opening connection's held messages on, in order, when as many
// wait as its send queue holds, rather than closing it.
func TestOpenHoldBounded(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		g := newTestGateway(t, Config{PollInterval: time.Hour, SendQueueSize: 4}, func(gw string) canisterAPI { return &fakeIC{gateway: gw} })
		h := g.hubFor(seedWire{}, testCanister)
		c := testConn(g, 3)
		c.hold = &openHold{}
		h.add(c)
		res := &protocol.CertMessages{Cert: []byte{1}, Tree: []byte{2}}
		for s := uint64(1); s <= 3; s++ {
			m := protocol.WebsocketMessage{ClientID: 3, SequenceNum: s, Timestamp: 1}
			res.Messages = append(res.Messages, protocol.Message{ClientID: 3, Key: key(s), Val: m.MarshalCanister()})
		}
		h.route(newBatch(res))
		if n := c.q.len(); n != 0 {
			t.Fatalf("%d messages passed on with 3 held, the queue holds 4", n)
		}
		m := protocol.WebsocketMessage{ClientID: 3, SequenceNum: 4, Timestamp: 1}
		h.route(newBatch(&protocol.CertMessages{Cert: []byte{1}, Tree: []byte{2}, Messages: []protocol.Message{{ClientID: 3, Key: key(4), Val: m.MarshalCanister()}}}))
		select {
		case <-c.closing:
			t.Fatal("the connection was closed")
		default:
		}
		if n := c.q.len(); n != 4 || g.m.holdsCut.get() != 1 {
			t.Fatalf("%d messages passed on (cut %d), want 4 at the bound (1)", n, g.m.holdsCut.get())
		}
		h.leave(c, false)
	})
}

// TestOpenHoldS9Frames checks that an S9 client's messages from an opening connection go out
// as one frame per batch, as without a hold: a session's first batch, or a reopen's moved
// copies, of more messages than the send queue holds must not close it as too slow (the
// failover bench's clients, whose whole history moves when none was acknowledged yet).
func TestOpenHoldS9Frames(t *testing.T) {
	for _, first := range []uint64{0, 100} {
		t.Run(fmt.Sprintf("from %d", first), func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				g := newTestGateway(t, Config{PollInterval: time.Hour, SendQueueSize: 4}, func(gw string) canisterAPI { return &fakeIC{gateway: gw} })
				h := g.hubFor(seedWire{}, testCanister)
				c := testConn(g, 3)
				c.batched = true
				c.hold = &openHold{}
				h.add(c)
				synctest.Wait()
				h.openReplied(c)
				h.mu.Lock()
				h.polls++ // the poll that the open pokes
				h.mu.Unlock()
				res := &protocol.CertMessages{Cert: []byte{1}, Tree: []byte{2}}
				for s := first; s < first+10; s++ {
					m := protocol.WebsocketMessage{ClientID: 3, SequenceNum: s, Timestamp: 1}
					res.Messages = append(res.Messages, protocol.Message{ClientID: 3, Key: key(s), Val: m.MarshalCanister()})
				}
				h.route(newBatch(res))
				select {
				case <-c.closing:
					t.Fatalf("closed with %v", c.closeCode)
				default:
				}
				frames := c.q.take()
				n := 0
				for _, f := range frames {
					n += len(f.idx)
				}
				if n != 10 || len(frames) > 2 {
					t.Fatalf("%d messages in %d frames, want 10 in at most 2", n, len(frames))
				}
				h.leave(c, false)
			})
		})
	}
}
