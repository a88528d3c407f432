package gateway

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"net/http"
	"sync"
)

// corkLimit is how many bytes a corked connection gathers before it writes them: a pass of the
// writer that has more goes out in several writes of about this size.
const corkLimit = 64 << 10

// corkConn is the socket under a client's websocket.Conn. While corked (the writer drains a
// queue of several frames), the frames gorilla writes are gathered in a buffer borrowed from the
// gateway's pool and go out in one write when the writer uncorks, instead of one write (one
// syscall) per frame. Uncorked, it writes straight through; an idle connection holds no buffer.
// Control frames (pings, from a timer) may write beside the writer: mu orders them.
type corkConn struct {
	net.Conn
	pool *sync.Pool // of *[]byte, the gateway's

	mu     sync.Mutex
	corked bool    // guarded by mu
	buf    *[]byte // guarded by mu; borrowed from pool while corked

	// Owned by the reader (see waitReadable): the byte, or the error, that the wait read and the
	// next Read returns first.
	pending    byte
	hasPending bool
	pendingErr error
}

// readBufferSize is the size of a connection's read buffer while it reads: it holds frame
// headers and small frames (a payload larger than the buffer is read straight into the message).
// An idle connection holds none (see conn.idleWait).
const readBufferSize = 1024

// Read returns the byte or the error that waitReadable read first, then reads the socket.
func (c *corkConn) Read(p []byte) (int, error) {
	if err := c.pendingErr; err != nil {
		c.pendingErr = nil
		return 0, err
	}
	if c.hasPending && len(p) > 0 {
		c.hasPending = false
		p[0] = c.pending
		return 1, nil
	}
	return c.Conn.Read(p)
}

// waitReadable blocks until the socket has a byte to read (or fails, or its read deadline
// passes), reading that byte (or error) for the next Read. It is called with little on the stack
// and no buffer held, so that an idle connection's reader costs as little as possible while it
// waits; only the reader calls it.
func (c *corkConn) waitReadable() {
	if c.hasPending || c.pendingErr != nil {
		return
	}
	var b [1]byte
	n, err := c.Conn.Read(b[:])
	if n == 1 {
		c.pending, c.hasPending = b[0], true
		return // an error after the byte comes again on the next Read
	}
	if err == nil {
		err = io.ErrNoProgress
	}
	c.pendingErr = err
}

// Write writes p, or gathers it while the connection is corked.
func (c *corkConn) Write(p []byte) (int, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if !c.corked {
		return c.Conn.Write(p)
	}
	if c.buf == nil {
		c.buf = c.pool.Get().(*[]byte)
	}
	if len(*c.buf)+len(p) > corkLimit {
		if err := c.flushLocked(); err != nil {
			return 0, err
		}
		if len(p) >= corkLimit {
			return c.Conn.Write(p)
		}
	}
	*c.buf = append(*c.buf, p...)
	return len(p), nil
}

// cork starts gathering writes.
func (c *corkConn) cork() {
	c.mu.Lock()
	c.corked = true
	c.mu.Unlock()
}

// uncork writes what was gathered in one write, gives the buffer back to the pool and writes
// straight through again.
func (c *corkConn) uncork() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.corked = false
	err := c.flushLocked()
	if c.buf != nil {
		if cap(*c.buf) <= 2*corkLimit {
			*c.buf = (*c.buf)[:0]
			c.pool.Put(c.buf)
		}
		c.buf = nil
	}
	return err
}

func (c *corkConn) flushLocked() error {
	if c.buf == nil || len(*c.buf) == 0 {
		return nil
	}
	_, err := c.Conn.Write(*c.buf)
	*c.buf = (*c.buf)[:0]
	if err != nil {
		return fmt.Errorf("write coalesced frames: %w", err)
	}
	return nil
}

// newCorkPool is the pool of coalescing buffers a gateway's connections share.
func newCorkPool() *sync.Pool {
	return &sync.Pool{New: func() any {
		b := make([]byte, 0, corkLimit)
		return &b
	}}
}

// corkingWriter is the http.ResponseWriter handed to the upgrader: the socket it hijacks is
// wrapped in a corkConn.
type corkingWriter struct {
	http.ResponseWriter
	pool *sync.Pool
	conn *corkConn     // set by Hijack
	br   *bufio.Reader // set by Hijack: the connection's read buffer, which the upgrader reuses
}

// Hijack takes over the connection, as the upgrader asks, and wraps it.
func (w *corkingWriter) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	nc, brw, err := http.NewResponseController(w.ResponseWriter).Hijack()
	if err != nil {
		return nil, nil, err
	}
	w.conn = &corkConn{Conn: nc, pool: w.pool}
	if brw.Reader.Buffered() == 0 {
		// The connection's own read buffer, which the upgrader reuses (its ReadBufferSize is
		// 0), so that the connection can drop it while idle. A client that sent bytes before
		// the handshake's answer keeps net/http's, and the upgrader refuses it.
		w.br = bufio.NewReaderSize(w.conn, readBufferSize)
		brw = bufio.NewReadWriter(w.br, brw.Writer)
	}
	return w.conn, brw, nil
}
