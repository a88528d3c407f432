package gateway

import "github.com/icws/icws/protocol"

// A client that opens again through this gateway (a reconnection, or its connection replaced)
// has messages that the canister queued for it before, under keys this gateway has not fetched
// yet. ws_open moves every message the client has not acknowledged to new keys, after those, so
// the client gets them again in order (cdk/websocket moveQueue). But the hub routes to the new
// connection from before ws_open (it must: ws_open queues messages the poller may fetch before
// the call returns), so a poll that ran before ws_open could hand it such a stale copy first:
// message n+1 of a client that lost n with its old connection, a gap in the client's eyes, and
// a needless reconnection. The moved copies that follow start again at the lowest message not
// acknowledged, so in the connection's messages, in nonce order, the stale ones are exactly
// those before the point where the sequence number goes down.
//
// So the hub holds what it routes to an opening connection (openHold) until one of:
//   - the sequence number goes down: what came before is stale and dropped, the rest is passed
//     on, and routing is direct from then on;
//   - a message comes from a poll that started after ws_open returned, and its sequence number
//     is above those held: the moved copies would have come before it, so none of them is stale;
//   - a poll that started after ws_open returned has caught up with the queue (a batch that is
//     empty, or smaller than the largest seen: the canister's batch size did not cut it): the
//     moved copies, if any, would have come, so nothing held is stale;
//   - as many messages are held as the connection's send queue holds (a poller far behind):
//     they are passed on as they are.
//
// A session's first message (sequence number 0) is not held: if it is a stale copy, nothing of
// the client was ever fetched here, so it is what the client expects, and the moved copies that
// follow are dropped as copies of what the connection passed on (openHold.passing). So a fresh
// client pays nothing; a reopening one waits for at most the poll that its ws_open pokes.

// openHold is what the hub routed to a connection while it opens, guarded by hub.mu.
type openHold struct {
	msgs    []heldMsg
	replied bool   // ws_open returned true
	after   uint64 // the hub's polls count when it did: a poll numbered above started later
	// passing says the hold passes messages on at once, dropping those numbered top or below:
	// it started with the session's first message.
	passing bool
	top     uint64 // the sequence number of the last message held or passed on
}

// heldMsg is message i of batch b.
type heldMsg struct {
	b *batch
	i int32
}

// holdMsg keeps message i of b for c, which is opening (route, under h.mu), and reports whether
// route is to pass it on as usual instead. A sequence number that goes down releases what
// follows it and drops what came before.
func (h *hub) holdMsg(c *conn, b *batch, i int) (pass bool) {
	hd := c.hold
	m, err := protocol.DecodeWebsocketMessage(b.msgs[i].Val)
	if err != nil {
		// Not for the hub to judge (the client's verifier refuses it): it goes on in order.
		h.release(c)
		return true
	}
	seq := m.SequenceNum
	post := hd.replied && h.polls > hd.after // from a poll that started after ws_open returned
	if !hd.passing && len(hd.msgs) == 0 && seq == 0 {
		hd.passing = true
		hd.top = 0
		if post {
			h.release(c)
		}
		return true
	}
	if hd.passing {
		if seq <= hd.top {
			h.g.m.staleDropped.inc() // a copy of one passed on: a moved copy, or the stale one
			return false
		}
		hd.top = seq
		if post {
			h.release(c)
		}
		return true
	}
	if n := len(hd.msgs); n > 0 && seq <= hd.top {
		h.g.m.staleDropped.add(uint64(n))
		hd.msgs = hd.msgs[:0]
		h.release(c)
		return true
	}
	hd.top = seq
	hd.msgs = append(hd.msgs, heldMsg{b: b, i: int32(i)})
	if post {
		// From a poll that started after ws_open returned: not stale, and not below a moved
		// copy, so nothing before it is stale either (the moved copies would come first).
		h.release(c)
		return false
	}
	if len(hd.msgs) >= c.q.max {
		// As many as the send queue holds, and the poller has not caught up: pass them on
		// rather than close the client. At worst a stale copy goes first, a gap the client
		// reports and cures by reconnecting; holding on would close it as too slow.
		h.g.m.holdsCut.inc()
		h.release(c)
	}
	return false
}

// openReplied records that c's ws_open returned true: the next poll that catches up releases c.
func (h *hub) openReplied(c *conn) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if c.hold != nil {
		c.hold.replied = true
		c.hold.after = h.polls
	}
}

// caughtUp releases every opening connection whose ws_open returned before poll number n
// started, now that n found no more messages waiting.
func (h *hub) caughtUp(n uint64) {
	h.mu.Lock()
	defer h.mu.Unlock()
	for i := 0; i < len(h.holding); {
		c := h.holding[i]
		if c.hold.replied && n > c.hold.after {
			h.release(c) // removes c from h.holding
			continue
		}
		i++
	}
}

// release passes c's held messages on, in order, and ends the hold (under h.mu). For a client of
// S9 frames, each run of messages of one batch is one frame.
func (h *hub) release(c *conn) {
	msgs := c.hold.msgs
	c.hold = nil
	h.unhold(c)
	for j := 0; j < len(msgs); {
		m := msgs[j]
		k := j + 1
		if c.batched {
			for k < len(msgs) && msgs[k].b == m.b {
				k++
			}
			idx := make([]int32, 0, k-j)
			for _, hm := range msgs[j:k] {
				idx = append(idx, hm.i)
			}
			last := msgs[k-1]
			c.enqueue(outFrame{b: m.b, i: int(last.i), idx: idx, last: h.wire.last(last.b.msgs[last.i].Val)})
			for _, hm := range msgs[j:k] {
				h.channelStatus(c, hm.b.msgs[hm.i].Val)
			}
		} else {
			h.deliver(c, m.b, int(m.i))
		}
		j = k
	}
}

// deliver passes message i of b on to c as a frame of its own (under h.mu).
func (h *hub) deliver(c *conn, b *batch, i int) {
	f := outFrame{b: b, i: i, last: h.wire.last(b.msgs[i].Val)}
	if c.batched {
		f.idx = []int32{int32(i)}
	}
	c.enqueue(f)
	h.channelStatus(c, b.msgs[i].Val)
}

// unhold removes c from the opening connections (under h.mu).
func (h *hub) unhold(c *conn) {
	for i, o := range h.holding {
		if o == c {
			h.holding = append(h.holding[:i], h.holding[i+1:]...)
			return
		}
	}
}
