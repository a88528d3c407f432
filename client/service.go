package client

import (
	"context"
	"fmt"
	"time"

	"github.com/icws/icws/protocol"
)

// This file handles the canister's service messages: heartbeats that acknowledge the client's
// messages (answered with keep-alives), the close notice, the resynchronization that follows
// Reconnect, and the detection of a gateway that holds the client's messages back.

// checkResync fails with Withheld when the canister's acknowledgement that a reconnection waits
// for did not come in time.
func (c *Conn) checkResync(s *socket) error {
	if !c.resyncing.Load() || c.cfg.HeartbeatTimeout < 0 || time.Now().UnixNano() < c.resyncBy.Load() {
		return nil
	}
	err := &VerifyError{Kind: Withheld, Detail: fmt.Sprintf(
		"no heartbeat came through %s within %v of the reconnection, to say which client messages the canister has",
		s.gateway, c.cfg.HeartbeatTimeout)}
	s.fail(err)
	return err
}

// silence is the Withheld error of a socket through which no message of ours came for
// Config.HeartbeatTimeout: none since it was opened (the canister's confirmation of the open, its
// first heartbeat, never came), or none since the last one.
func (c *Conn) silence(s *socket) *VerifyError {
	if !s.proven {
		return &VerifyError{Kind: Withheld, Detail: fmt.Sprintf(
			"no certified message came through %s within %v of opening the connection: the canister's first heartbeat, which confirms the open, never arrived; "+
				"the gateway withholds the canister's messages (reconnect, through another gateway if you can), or the canister sends no heartbeats (then set Config.HeartbeatTimeout negative)",
			s.gateway, c.cfg.HeartbeatTimeout)}
	}
	return &VerifyError{Kind: Withheld, Detail: fmt.Sprintf(
		"no certified message came through %s for %v, although the canister sends heartbeats: the gateway withholds the canister's messages, or it or the IC is down; reconnect, through another gateway if you can",
		s.gateway, c.cfg.HeartbeatTimeout)}
}

// service handles a verified service message of the canister: its acknowledgement (which may
// make room for the frames waiting to be written), the end of a resynchronization, a keep-alive
// in answer when the client has nothing unconfirmed, or the close notice.
func (c *Conn) service(s *socket, m *protocol.WebsocketMessage) error {
	c.ack(m.Ack, acceptedAt(m))
	if m.Close != "" {
		c.ended = &CanisterClosedError{Reason: m.Close}
		s.fail(c.ended)
		return c.ended
	}
	if !c.heartbeats.Swap(true) {
		// The canister acknowledges: from now on the window follows its acknowledgements.
		c.ackMu.Lock()
		c.wakeLocked()
		c.ackMu.Unlock()
	}
	if err := c.checkAcked(s, m); err != nil {
		s.fail(err)
		return err
	}
	// The acknowledgement may have made room for frames waiting to be written.
	s.kick()
	if c.resyncing.Load() {
		// Send never holds writeMu while it waits for room in the window, so this wait is
		// short: at most a rate-limit token's. It is not bounded by Recv's context, so that the
		// resending is not skipped when that ends.
		wctx, cancel := context.WithTimeout(context.Background(), serviceWriteTimeout)
		defer cancel()
		if err := c.acquire(wctx, c.writeMu); err != nil {
			return nil // the Conn closed
		}
		defer func() { <-c.writeMu }()
		if !c.resyncing.Load() || m.Timestamp < c.resyncSince {
			return nil // queued before the reconnection: its acknowledgement may be outdated
		}
		// Everything the canister has not confirmed is written again, from the first, by the
		// new socket's writer.
		c.resyncing.Store(false)
		c.ackMu.Lock()
		resend := len(c.unacked)
		c.written = c.nextOut - uint64(resend)
		for i := range c.unacked {
			c.unacked[i].paid = false
		}
		c.ackMu.Unlock()
		s.kick()
		if resend > 0 {
			c.log.Debug("client: sending unconfirmed messages again", "client", c.clientID, "gateway", s.gateway, "count", resend)
			return nil
		}
	} else {
		select {
		case c.writeMu <- struct{}{}:
		default:
			// A Send is recording: its message keeps the connection alive just as a keep-alive
			// would.
			return nil
		}
		defer func() { <-c.writeMu }()
	}
	// A keep-alive in answer, when everything of ours was written and acknowledged; otherwise
	// the messages on their way keep the session alive, and the next acknowledgement confirms
	// them.
	c.ackMu.Lock()
	idle := m.Ack >= c.nextOut && c.written == c.nextOut
	c.ackMu.Unlock()
	if idle && s.lim.Allow() {
		_, _ = c.sendLocked(context.Background(), s, &protocol.WebsocketMessage{Service: true, Ack: c.v.next}, true)
	}
	return nil
}

// checkAcked fails with Withheld if heartbeat m shows that the canister never got a message the
// client wrote more than Config.AckTimeout before the heartbeat was sent (the acknowledgement
// bound). A message written behind others still unconfirmed is counted from the later of its
// write and the IC time the canister accepted the one before it (the ack_time of the heartbeat
// that confirmed it), since the gateway passes a client's messages one at a time: a long queue
// at an honest gateway is not taken for a swallowed message.
func (c *Conn) checkAcked(s *socket, m *protocol.WebsocketMessage) error {
	if c.resyncing.Load() || c.cfg.AckTimeout < 0 {
		return nil // the unconfirmed messages wait to be written again, or no bound
	}
	c.ackMu.Lock()
	if len(c.unacked) == 0 || c.unacked[0].seq >= c.written {
		c.ackMu.Unlock()
		return nil // nothing unconfirmed was written yet
	}
	oldest := c.unacked[0]
	since := oldest.sent
	if prev := time.Unix(0, int64(min(c.ackedAt, 1<<63-1))); oldest.behind && prev.After(since) {
		since = prev
	}
	c.ackMu.Unlock()
	beat := time.Unix(0, int64(min(m.Timestamp, 1<<63-1)))
	if late := beat.Sub(since); late > c.cfg.AckTimeout {
		return &VerifyError{Kind: Withheld, Seq: m.SequenceNum, Detail: fmt.Sprintf(
			"the canister's heartbeat %d acknowledges client messages up to %d only, but message %d was sent through %s %v before it (Config.AckTimeout %v): the gateway swallowed it; reconnect, through another gateway if you can",
			m.SequenceNum, m.Ack, oldest.seq, s.gateway, late.Round(time.Millisecond), c.cfg.AckTimeout)}
	}
	return nil
}

// acceptedAt is the IC time (ns) at which the canister accepted client message m.Ack−1, by
// service message m: its ack_time, or its own time from a canister without ack_time.
func acceptedAt(m *protocol.WebsocketMessage) uint64 {
	if m.AckTime == 0 {
		return m.Timestamp
	}
	return m.AckTime
}

// ack drops the sent messages the canister confirmed, every one below next, the last of them
// accepted at IC time at (ns), which makes room in the window.
func (c *Conn) ack(next, at uint64) {
	c.ackMu.Lock()
	defer c.ackMu.Unlock()
	if next <= c.acked {
		return
	}
	c.acked = next
	c.ackedAt = at
	i := 0
	for i < len(c.unacked) && c.unacked[i].seq < next {
		i++
	}
	c.unacked = append(c.unacked[:0], c.unacked[i:]...)
	c.wakeLocked()
}
