package gateway

import (
	"io"
	"sync"
	"time"

	"github.com/gorilla/websocket"

	"github.com/icws/icws/protocol"
)

// sendQueue is a client's bounded queue of messages waiting to be written. Producers (the poller)
// never block: push fails when the queue is full and the caller closes the client. The writer
// takes everything queued at once, so a burst is written in one pass; the slices are recycled, so
// a steady stream allocates nothing, and an idle connection holds no queue memory beyond the
// small struct. mu also guards the connection's writer state.
type sendQueue struct {
	max int

	mu    sync.Mutex
	items []outFrame // guarded by mu
	spare []outFrame // guarded by mu; a drained slice kept for reuse
}

func newSendQueue(max int) *sendQueue {
	return &sendQueue{max: max}
}

// push appends f and reports whether there was room.
func (q *sendQueue) push(f outFrame) bool {
	q.mu.Lock()
	if len(q.items) >= q.max {
		q.mu.Unlock()
		return false
	}
	if q.items == nil {
		q.items, q.spare = q.spare[:0], nil
	}
	q.items = append(q.items, f)
	q.mu.Unlock()
	return true
}

// take removes and returns everything queued. The caller gives the slice back with recycle.
func (q *sendQueue) take() []outFrame {
	q.mu.Lock()
	items := q.items
	q.items = nil
	q.mu.Unlock()
	return items
}

// recycle keeps items, a slice returned by take, for reuse unless it grew large.
func (q *sendQueue) recycle(items []outFrame) {
	clear(items) // drop the batch references
	if cap(items) > 64 {
		return
	}
	q.mu.Lock()
	if q.spare == nil {
		q.spare = items[:0]
	}
	q.mu.Unlock()
}

// len is the number of queued messages.
func (q *sendQueue) len() int {
	q.mu.Lock()
	defer q.mu.Unlock()
	return len(q.items)
}

// closeWait bounds the writing of the Close frame and the messages flushed before it.
const closeWait = time.Second

// Writer states, guarded by conn.q.mu.
const (
	writerIdle     = iota // no writer goroutine; the next message or the close starts one
	writerRunning         // a writer goroutine runs
	writerFinished        // the socket is closed; nothing more is written
)

// kickWriter starts a writer goroutine unless one runs or the connection is finished. An idle
// connection has no writer goroutine: it costs no stack while it waits.
func (c *conn) kickWriter() {
	c.q.mu.Lock()
	if c.wstate != writerIdle {
		c.q.mu.Unlock()
		return
	}
	c.wstate = writerRunning
	c.q.mu.Unlock()
	go c.writeLoop()
}

// writeLoop is the only goroutine that writes data frames to the socket. It writes what is
// queued and stops when the queue is empty. Once the connection is closing it writes what is still
// queued (unless the client was too slow), then the Close frame, and closes the socket, which ends
// the reader too.
func (c *conn) writeLoop() {
	sp := c.g.scratchPool.Get().(*[]byte)
	scratch := *sp
	defer func() {
		if cap(scratch) <= maxPooledScratch {
			*sp = scratch[:0]
			c.g.scratchPool.Put(sp)
		}
	}()
	for {
		select {
		case <-c.closing:
			closed := c.writeClose(scratch)
			c.finish(closed)
			return
		default:
		}
		items := c.takeOrStop()
		if items == nil {
			return
		}
		var err error
		scratch, err = c.writeFrames(items, scratch, time.Now().Add(c.g.cfg.WriteTimeout))
		c.q.recycle(items)
		if err != nil {
			c.writeFailed(err)
		}
	}
}

// Writers build frames in scratch buffers of the gateway's pool, borrowed while a writer
// goroutine runs: a writer starts per burst (an idle connection has none), and a buffer of its
// own would be allocated and grown to the frame's size on every burst.
const (
	scratchSize      = 4 << 10  // a new buffer's capacity: an S9 frame of a few messages
	maxPooledScratch = 64 << 10 // a buffer grown beyond this (a large frame) is dropped, not kept
)

// newScratchPool is the pool of frame-building buffers a gateway's writers share.
func newScratchPool() *sync.Pool {
	return &sync.Pool{New: func() any {
		b := make([]byte, 0, scratchSize)
		return &b
	}}
}

// takeOrStop takes the queued messages; if there are none and the connection is not closing, it
// marks the writer idle and returns nil, and the writer goroutine ends.
func (c *conn) takeOrStop() []outFrame {
	c.q.mu.Lock()
	defer c.q.mu.Unlock()
	if len(c.q.items) > 0 {
		items := c.q.items
		c.q.items = nil
		return items
	}
	select {
	case <-c.closing:
		return []outFrame{} // not nil: go on to close
	default:
	}
	c.wstate = writerIdle
	return nil
}

// finish stops the pings and closes the socket, after lingering if the Close frame went out;
// the connection writes nothing more.
func (c *conn) finish(closeSent bool) {
	c.q.mu.Lock()
	c.wstate = writerFinished
	if c.pinger != nil {
		c.pinger.Stop()
	}
	c.q.mu.Unlock()
	if closeSent {
		c.linger()
	}
	c.ws.Close()
	close(c.socketClosed)
}

// writeFrames writes messages with the given deadline. Several go out coalesced: the socket is
// corked while they are written, so one write (one syscall) carries up to corkLimit bytes of
// frames instead of one write per frame.
func (c *conn) writeFrames(items []outFrame, scratch []byte, deadline time.Time) ([]byte, error) {
	if len(items) == 0 {
		return scratch, nil
	}
	c.ws.SetWriteDeadline(deadline)
	if c.cork == nil || len(items) == 1 {
		return c.writeEach(items, scratch)
	}
	c.cork.cork()
	scratch, err := c.writeEach(items, scratch)
	if uerr := c.cork.uncork(); err == nil {
		err = uerr
	}
	return scratch, err
}

// writeEach writes each message as a frame of its own.
func (c *conn) writeEach(items []outFrame, scratch []byte) ([]byte, error) {
	for _, f := range items {
		w, err := c.ws.NextWriter(websocket.BinaryMessage)
		if err != nil {
			return scratch, err
		}
		size := 0
		switch {
		case f.idx != nil:
			scratch, size, err = c.writeBatchFrame(w, scratch, f)
		case f.b.prunesS6():
			scratch, err = f.b.writePrunedS6(w, scratch, f.i)
			size = len(scratch)
		default:
			scratch, err = f.b.writeFrame(w, scratch, f.i)
			size = f.b.frameSize(f.i)
		}
		if err != nil {
			return scratch, err
		}
		if err := w.Close(); err != nil {
			return scratch, err
		}
		c.g.m.framesOut.inc()
		c.g.m.bytesOut.add(uint64(size))
		if f.last {
			_, reason := protocol.KindOf(f.b.msgs[f.i].Val)
			c.closeWith(protocol.CloseSessionEnded, reason)
		}
	}
	return scratch, nil
}

// startPings sends a ping every PingInterval from a timer, without a goroutine of its own
// (WriteControl may run beside the writer); the reader's deadline catches a client that does not
// answer.
func (c *conn) startPings() {
	c.q.mu.Lock()
	defer c.q.mu.Unlock()
	if c.wstate != writerFinished {
		c.pinger = time.AfterFunc(c.g.cfg.PingInterval, c.ping)
	}
}

func (c *conn) ping() {
	select {
	case <-c.closing:
		return
	default:
	}
	if err := c.ws.WriteControl(websocket.PingMessage, nil, time.Now().Add(c.g.cfg.WriteTimeout)); err != nil {
		c.writeFailed(err)
		return
	}
	c.q.mu.Lock()
	if c.wstate != writerFinished {
		c.pinger.Reset(c.g.cfg.PingInterval)
	}
	c.q.mu.Unlock()
}

// writeFailed ends a connection whose socket could not be written (a dead or stuck peer).
func (c *conn) writeFailed(err error) {
	select {
	case <-c.closing:
		return // already ending; the socket may be closed under the write
	default:
	}
	c.abnormal.Store(true)
	c.closeWith(protocol.CloseInternalError, "")
	c.log().Debug("write failed", "err", err)
}

// writeClose writes what is still queued, unless the client was closed for being too slow, then
// the Close frame with the connection's code and reason. It reports whether the Close frame went
// out.
func (c *conn) writeClose(scratch []byte) bool {
	if c.abnormal.Load() {
		return false
	}
	deadline := time.Now().Add(closeWait)
	if c.closeCode != protocol.CloseTooSlow {
		if _, err := c.writeFrames(c.q.take(), scratch, deadline); err != nil {
			return false
		}
	}
	msg := websocket.FormatCloseMessage(int(c.closeCode), closeReason(c.closeCode, c.closeDetail))
	return c.ws.WriteControl(websocket.CloseMessage, msg, deadline) == nil
}

// maxLingerFrames bounds the frames linger reads and discards.
const maxLingerFrames = 1024

// linger lets the client take what was written, the Close frame last, before the socket is
// closed. A socket closed with input it has not read sends a TCP reset instead of a FIN, and the
// client's system then drops what it had not received yet: the last frames and the Close with its
// code (a client that was sending when the gateway ended the connection, or whose frames the
// reader stopped reading: one too big, one too many). So linger shuts the write side (a FIN
// follows the Close frame) and, once the reader has stopped, reads and discards what the client
// still sends until it answers the Close or ends its side; at most closeWait in all (RFC 6455
// §7.1.1: the server closes the TCP connection after the closing handshake).
func (c *conn) linger() {
	if c.cork == nil || c.readerDone == nil {
		return // a connection a test built without a socket
	}
	if cw, ok := c.cork.Conn.(interface{ CloseWrite() error }); ok {
		_ = cw.CloseWrite()
	}
	deadline := time.Now().Add(closeWait)
	t := time.NewTimer(closeWait)
	defer t.Stop()
	select {
	case <-c.readerDone:
	case <-t.C:
		return // the reader still waits on the socket: closing it ends the read
	}
	c.ws.SetReadDeadline(deadline)
	for range maxLingerFrames {
		_, r, err := c.ws.NextReader()
		if err != nil {
			return // the client's Close or end of stream, the deadline, or what ended the reader
		}
		if _, err := io.Copy(io.Discard, r); err != nil {
			return
		}
	}
}

// maxReasonBytes is the longest close reason RFC 6455 allows (a control frame's 125 bytes less
// the 2-byte code).
const maxReasonBytes = 123

// closeReason is the text of a Close frame: the code's reason, then the detail, cut to fit on a
// UTF-8 boundary.
func closeReason(code protocol.CloseCode, detail string) string {
	r := code.Reason()
	if detail != "" {
		r += ": " + detail
	}
	return truncate(r, maxReasonBytes)
}
