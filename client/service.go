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

// service handles a verified service message of the canister: its acknowledgement, the end of a
// resynchronization, a keep-alive in answer to a heartbeat, or the close notice.
func (c *Conn) service(ctx context.Context, s *socket, m *protocol.WebsocketMessage) error {
	c.ack(m.Ack)
	if m.Close != "" {
		c.ended = &CanisterClosedError{Reason: m.Close}
		s.fail(c.ended)
		return c.ended
	}
	c.heartbeats.Store(true)
	if err := c.checkAcked(s, m); err != nil {
		s.fail(err)
		return err
	}
	resync := c.resyncing.Load()
	if resync {
		// Sends only queue during a resynchronization, so the lock is never held for long.
		if err := c.acquire(ctx, c.writeMu); err != nil {
			return err
		}
	} else {
		select {
		case c.writeMu <- struct{}{}:
		default:
			// A Send is writing: it keeps the connection alive just as a keep-alive would.
			return nil
		}
	}
	defer func() { <-c.writeMu }()
	wctx, cancel := context.WithTimeout(context.Background(), serviceWriteTimeout)
	defer cancel()
	if c.resyncing.Load() {
		if m.Timestamp < c.resyncSince {
			return nil // queued before the reconnection: its acknowledgement may be outdated
		}
		c.resyncing.Store(false)
		if err := c.flushLocked(wctx, s); err != nil {
			return nil // s failed; the next Recv reports it
		}
	}
	_ = c.sendLocked(wctx, s, &protocol.WebsocketMessage{Service: true, Ack: c.v.next})
	return nil
}

// checkAcked fails with Withheld if heartbeat m shows that the canister never got a message the
// client wrote more than Config.MaxMessageAge before the heartbeat was sent.
func (c *Conn) checkAcked(s *socket, m *protocol.WebsocketMessage) error {
	if c.resyncing.Load() {
		return nil // the unconfirmed messages wait to be written again
	}
	c.ackMu.Lock()
	if len(c.unacked) == 0 {
		c.ackMu.Unlock()
		return nil
	}
	oldest := c.unacked[0]
	c.ackMu.Unlock()
	beat := time.Unix(0, int64(min(m.Timestamp, 1<<63-1)))
	if late := beat.Sub(oldest.sent); late > c.cfg.MaxMessageAge {
		return &VerifyError{Kind: Withheld, Seq: m.SequenceNum, Detail: fmt.Sprintf(
			"the canister's heartbeat %d acknowledges client messages up to %d only, but message %d was sent through %s %v before it",
			m.SequenceNum, m.Ack, oldest.seq, s.gateway, late.Round(time.Millisecond))}
	}
	return nil
}

// ack drops the sent messages the canister confirmed: every one below next.
func (c *Conn) ack(next uint64) {
	c.ackMu.Lock()
	defer c.ackMu.Unlock()
	if next <= c.acked {
		return
	}
	c.acked = next
	i := 0
	for i < len(c.unacked) && c.unacked[i].seq < next {
		i++
	}
	c.unacked = append(c.unacked[:0], c.unacked[i:]...)
}

// flushLocked writes every message the canister has not confirmed through s, in order. The
// caller holds writeMu.
func (c *Conn) flushLocked(ctx context.Context, s *socket) error {
	c.ackMu.Lock()
	resend := make([][]byte, len(c.unacked))
	now := c.cfg.Now()
	for i := range c.unacked {
		resend[i] = c.unacked[i].frame
		c.unacked[i].sent = now
	}
	c.ackMu.Unlock()
	for _, fr := range resend {
		if err := writeFrame(ctx, s.ws, fr); err != nil {
			s.fail(err)
			return fmt.Errorf("client: failed to send unconfirmed messages again through %s: %w", s.gateway, err)
		}
	}
	if len(resend) > 0 {
		c.log.Debug("client: sent unconfirmed messages again", "client", c.clientID, "gateway", s.gateway, "count", len(resend))
	}
	return nil
}
