package testenv

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"sync"
	"sync/atomic"
)

// In a testing/synctest bubble a goroutine blocked on a real socket is not durably blocked, so
// the bubble's fake clock never jumps while one waits. The types below keep a test's network in
// memory: made in a bubble, every goroutine that waits on them is durably blocked, and the fake
// clock moves to the next timer (a keep-alive, a deadline, a backoff) at once.

// PipeListener is a net.Listener whose connections are in-memory pipes (net.Pipe): serve an
// http.Server on it and give Dial to the client (a websocket.Dialer's NetDialContext, an
// http.Transport's DialContext).
type PipeListener struct {
	conns chan net.Conn
	done  chan struct{}
	once  sync.Once
}

// NewPipeListener returns a PipeListener that accepts until Close.
func NewPipeListener() *PipeListener {
	return &PipeListener{conns: make(chan net.Conn), done: make(chan struct{})}
}

// Accept waits for the next Dial.
func (l *PipeListener) Accept() (net.Conn, error) {
	select {
	case c := <-l.conns:
		return c, nil
	case <-l.done:
		return nil, net.ErrClosed
	}
}

// Close stops Accept and Dial; connections already made stay open.
func (l *PipeListener) Close() error {
	l.once.Do(func() { close(l.done) })
	return nil
}

// Addr is the listener's address, "pipe".
func (l *PipeListener) Addr() net.Addr { return PipeAddr{} }

// Dial connects to the listener, whatever network and address it is given; it waits for Accept
// until ctx ends.
func (l *PipeListener) Dial(ctx context.Context, _, _ string) (net.Conn, error) {
	c, s := net.Pipe()
	select {
	case l.conns <- s:
		return c, nil
	case <-ctx.Done():
		c.Close()
		s.Close()
		return nil, ctx.Err()
	case <-l.done:
		c.Close()
		s.Close()
		return nil, net.ErrClosed
	}
}

// PipeAddr is the address of both ends of a PipeListener's connections.
type PipeAddr struct{}

// Network returns "pipe".
func (PipeAddr) Network() string { return "pipe" }

// String returns "pipe".
func (PipeAddr) String() string { return "pipe" }

// ErrHandlerDown is HandlerTransport's error while it is down: what a refused connection is to
// an HTTP client.
var ErrHandlerDown = errors.New("testenv: the handler is down (connection refused)")

// HandlerTransport is an http.RoundTripper that serves each request with Handler in the calling
// goroutine, without a connection: an HTTP client of a real server (such as a replica's
// Handler) with no socket and no goroutine of its own. SetDown makes it fail every request, as a
// server that went away would.
type HandlerTransport struct {
	// Handler serves the requests.
	Handler http.Handler
	down    atomic.Bool
}

// SetDown makes the transport refuse (true) or serve (false) the requests that follow.
func (t *HandlerTransport) SetDown(down bool) { t.down.Store(down) }

// RoundTrip serves req with the handler and returns its recorded response.
func (t *HandlerTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	if req.Body != nil {
		defer req.Body.Close()
	}
	if t.down.Load() {
		return nil, fmt.Errorf("%s %s: %w", req.Method, req.URL, ErrHandlerDown)
	}
	if err := req.Context().Err(); err != nil {
		return nil, err
	}
	sreq := req.Clone(req.Context())
	sreq.RequestURI = req.URL.RequestURI()
	sreq.RemoteAddr = "127.0.0.1:1"
	if sreq.Body == nil {
		sreq.Body = http.NoBody
	}
	rec := httptest.NewRecorder()
	t.Handler.ServeHTTP(rec, sreq)
	res := rec.Result()
	res.Request = req
	return res, nil
}
