package client

import (
	"context"
	"time"

	"golang.org/x/time/rate"

	"github.com/icws/icws/protocol"
)

// This file paces the frames the client writes, so that a gateway never closes it for sending
// too fast (docs/PROTOCOL.md §7.1):
//
//   - the window: a frame with sequence number n is written only when n < ack +
//     protocol.MaxPendingFrames, and the frames from ack to n fit in protocol.MaxPendingBytes,
//     where ack is the canister's latest acknowledgement (a service message; the canister sends
//     one every protocol.AckInterval accepted messages). Every frame the gateway holds for
//     ws_message is then one of those, so it never holds more than it allows. Until the
//     canister has shown that it sends acknowledgements, each frame beyond the window waits for
//     a token of a slow bucket (one per protocol.FallbackInterval) instead, which moves the
//     window by one;
//   - the rate: every frame after the first message takes a token of a bucket of
//     protocol.MessageBurst/2 tokens refilled at protocol.MessageRate per second, within the
//     gateway's own limit. A new socket (Reconnect) starts with a full bucket, as its gateway
//     does.
//
// Send waits for room in the window without holding writeMu, so that Recv can always take it
// to record a keep-alive or the end of a resynchronization. Frames are written by the socket's
// writer goroutine (writer.go), never by Recv.

// newRateLimiter returns the client's bucket for the gateway's rate limit, full: the gateway's
// rate, and half its burst. The gateway counts frames when it reads them, and the network may
// bunch frames that were written evenly; the other half of the burst absorbs that (up to a
// second's worth of jitter at the full rate).
func newRateLimiter() *rate.Limiter {
	return rate.NewLimiter(protocol.MessageRate, protocol.MessageBurst/2)
}

// newFallbackLimiter returns the bucket that paces frames beyond the window while the canister
// has not acknowledged anything.
func newFallbackLimiter() *rate.Limiter {
	l := rate.NewLimiter(rate.Every(protocol.FallbackInterval), 1)
	l.Allow() // empty: the first frame beyond the window waits a whole interval
	return l
}

// frameOverhead bounds the bytes a frame (S5 around S4) adds to its payload.
const frameOverhead = 256

// baseLocked is the sequence number from which written frames count as pending at the gateway:
// the canister's acknowledgement, or before there is one, what the fallback pacing assumes. The
// caller holds ackMu.
func (c *Conn) baseLocked() uint64 {
	if c.heartbeats.Load() {
		return c.acked
	}
	return max(c.acked, c.assumed)
}

// fitsLocked reports whether the frame with sequence number next, of size bytes, may be written
// now: fewer than protocol.MaxPendingFrames frames are pending before it, and their bytes and
// its own are at most protocol.MaxPendingBytes (or none is pending). Pending are the recorded
// frames from baseLocked to next. The caller holds ackMu.
func (c *Conn) fitsLocked(next uint64, size int) bool {
	base := c.baseLocked()
	if next >= base+protocol.MaxPendingFrames {
		return false
	}
	pending := 0
	for i := len(c.unacked) - 1; i >= 0 && c.unacked[i].seq >= base; i-- {
		if c.unacked[i].seq < next {
			pending += len(c.unacked[i].frame)
		}
	}
	return pending == 0 || pending+size <= protocol.MaxPendingBytes
}

// wakeLocked wakes the goroutines that wait for room in the window. The caller holds ackMu.
func (c *Conn) wakeLocked() {
	close(c.ackWake)
	c.ackWake = make(chan struct{})
}

// waitRoom waits until the window has room for one more frame of size bytes, or s stops (it
// failed, or Reconnect replaced it: the caller looks again), ctx ends or the Conn closes.
func (c *Conn) waitRoom(ctx context.Context, s *socket, size int) error {
	for {
		c.ackMu.Lock()
		if c.fitsLocked(c.nextOut, size) {
			c.ackMu.Unlock()
			return nil
		}
		wake := c.ackWake
		var timeout <-chan time.Time
		var t *time.Timer
		if !c.heartbeats.Load() {
			r := c.fallback.Reserve()
			d := r.Delay()
			if d == 0 {
				c.assumed = max(c.assumed, c.acked) + 1
				c.ackMu.Unlock()
				continue
			}
			r.Cancel()
			t = time.NewTimer(d)
			timeout = t.C
		}
		c.ackMu.Unlock()
		var err error
		select {
		case <-wake:
		case <-timeout:
		case <-s.quit:
		case <-ctx.Done():
			err = ctx.Err()
		case <-c.done:
			err = ErrClosed
		}
		if t != nil {
			t.Stop()
		}
		if err != nil {
			return err
		}
		select {
		case <-s.quit:
			return nil
		default:
		}
	}
}

// markWrittenLocked records that message seq was just written (its acknowledgement bound counts
// from now), behind others unconfirmed or not. The caller holds ackMu.
func (c *Conn) markWrittenLocked(seq uint64, behind bool) {
	if len(c.unacked) == 0 || seq < c.unacked[0].seq {
		return // confirmed meanwhile
	}
	if i := seq - c.unacked[0].seq; i < uint64(len(c.unacked)) {
		c.unacked[i].sent = c.cfg.Clock()
		c.unacked[i].behind = behind
	}
}
