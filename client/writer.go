package client

import (
	"context"
	"errors"
	"fmt"
)

// writeFailure is the error of a frame's write that failed: the socket's cause, and what Send
// of that frame returns.
type writeFailure struct {
	seq     uint64
	gateway string
	err     error
}

func (e *writeFailure) Error() string {
	return fmt.Sprintf("client: failed to send message %d through %s (kept for Reconnect): %v", e.seq, e.gateway, e.err)
}

func (e *writeFailure) Unwrap() error { return e.err }

// This file is the socket's writer: one goroutine per socket writes every frame after the first
// message (S2, written by open). Its queue is the tail of Conn.unacked that is recorded and not
// yet written (from Conn.written to Conn.nextOut): Send, the keep-alives and goodbye, the
// resubscriptions and the resending after Reconnect only record frames, in sequence order, and
// kick the writer. The queue is bounded: Send records a message only when the window has room
// for it (pacing.go), and never more than Config.MaxUnacked are kept. The writer writes the
// frames in order, as far as the window allows, each with a token of the socket's rate bucket
// unless the recorder took one (sentMessage.paid), and stops during a resynchronization. Recv
// never writes: it records and kicks.

// kick tells s's writer that a frame may be ready to write (recorded, or room in the window).
func (s *socket) kick() {
	select {
	case s.wake <- struct{}{}:
	default:
	}
}

// startWriter starts s's writer goroutine.
func (c *Conn) startWriter(s *socket) {
	ctx, cancel := context.WithCancel(context.Background())
	go func() {
		select {
		case <-s.quit:
		case <-c.done:
		}
		cancel()
	}()
	go c.writeLoop(ctx, s)
}

// writeLoop writes s's frames until s stops (it failed, Reconnect replaced it, Close) or the
// Conn closes; ctx ends then, which ends its waits. A write in progress is not broken by that: it
// ends within serviceWriteTimeout, or when the socket is closed. A failed write fails s, which
// Send and Recv report; when the gateway's Close frame came before (the write failed because
// the client answered it), s fails with that Close instead (*CloseError).
func (c *Conn) writeLoop(ctx context.Context, s *socket) {
	defer close(s.wexited)
	for {
		if err := c.pump(ctx, s); err != nil {
			s.fail(err)
			c.wroteNotify()
			return
		}
		select {
		case <-s.wake:
		case <-ctx.Done():
			return
		}
	}
}

// pump writes, in order, the recorded frames not yet written through s that fit the window. It
// writes nothing during a resynchronization. It returns nil when nothing more may be written now
// or ctx ended, and the error of a write that failed.
func (c *Conn) pump(ctx context.Context, s *socket) error {
	for {
		if ctx.Err() != nil {
			return nil
		}
		c.ackMu.Lock()
		first := c.nextOut - uint64(len(c.unacked))
		if c.written < first {
			c.written = first // confirmed, or dropped as too old, before it was written
		}
		if c.resyncing.Load() || c.written >= c.nextOut || !c.fitsLocked(c.written, len(c.unacked[c.written-first].frame)) {
			c.ackMu.Unlock()
			return nil
		}
		m := &c.unacked[c.written-first]
		fr, seq, paid := m.frame, m.seq, m.paid
		behind := m != &c.unacked[0]
		c.ackMu.Unlock()
		if !paid {
			if err := s.lim.Wait(ctx); err != nil {
				return nil // s stopped, or the Conn closed
			}
		}
		wctx, cancel := context.WithTimeout(context.Background(), serviceWriteTimeout)
		err := writeFrame(wctx, s.ws, fr)
		cancel()
		if err != nil {
			if ce := s.closedByPeer(); ce != nil {
				// The gateway closed first: the write failed because the reader answered its
				// Close (ErrCloseSent), and the socket's cause is the Close, code and all.
				return ce
			}
			return &writeFailure{seq: seq, gateway: s.gateway, err: err}
		}
		c.ackMu.Lock()
		c.written = max(c.written, seq+1)
		c.markWrittenLocked(seq, behind)
		c.ackMu.Unlock()
		c.wroteNotify()
	}
}

// wroteNotify wakes the goroutines that wait for a frame's write (awaitWritten).
func (c *Conn) wroteNotify() {
	c.ackMu.Lock()
	close(c.wrote)
	c.wrote = make(chan struct{})
	c.ackMu.Unlock()
}

// awaitWritten waits until s's writer wrote the frame with sequence number seq, and returns the
// error that failed s first. It returns nil at once during a resynchronization (the frame is
// queued and written after it), or when Reconnect replaced s (the frame is kept and sent again).
// When ctx ends first, the frame is kept and written later.
func (c *Conn) awaitWritten(ctx context.Context, s *socket, seq uint64) error {
	for {
		c.ackMu.Lock()
		done := c.written > seq
		wrote := c.wrote
		c.ackMu.Unlock()
		if err := s.err(); err != nil && !done {
			if wf := (*writeFailure)(nil); errors.As(err, &wf) && wf.seq == seq {
				return err // this frame's own write: it says so already
			}
			return &writeFailure{seq: seq, gateway: s.gateway, err: err}
		}
		if done || c.resyncing.Load() {
			return nil
		}
		select {
		case <-wrote:
		case <-s.quit:
			if s.err() == nil {
				return nil // replaced by Reconnect, or closed: kept
			}
		case <-ctx.Done():
			return fmt.Errorf("client: message %d is kept and written when the gateway allows (it was not written yet): %w", seq, ctx.Err())
		case <-c.done:
			return ErrClosed
		}
	}
}
