package gateway

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gorilla/websocket"
	"golang.org/x/time/rate"

	"github.com/icws/icws/ic/envelope"
	"github.com/icws/icws/ic/principal"
	"github.com/icws/icws/protocol"
)

// conn is one client's WebSocket connection. Its goroutine (run) reads: the first message, then
// the client's frames. writeLoop is the only writer of data frames; it runs only while messages
// wait or the connection closes, and it is the one that closes the socket. A frame that passes the
// checks is handed to the caller goroutine (callLoop), which passes frames to ws_message one at a
// time, in order; it too runs only while frames wait. An idle connection has one goroutine.
type conn struct {
	// Static after construction.
	g    *Gateway
	ws   *websocket.Conn
	cork *corkConn     // the socket under ws; nil only where a test built the conn by hand
	rb   *bufio.Reader // ws's read buffer, which idleWait drops while idle; may be nil
	ip   netip.Addr
	id   uint64 // serial number, for logs
	q    *sendQueue
	lim  *rate.Limiter
	wire wire // the protocol: seedWire or omniaWire

	// Set by the handshake before the client joins its hub; read-only afterwards. The client key
	// is (clientPrincipal, clientID): the seed's client id with the zero principal, or Omnia's
	// ClientKey (the caller's principal and the client nonce).
	canister        principal.Principal
	clientID        uint64
	clientPrincipal principal.Principal
	hub             *hub
	batched         bool // the client asked for S9 frames (docs/PROTOCOL.md §13.1)

	// hold is what the poller routed here while the client opens (reopen.go); guarded by hub.mu.
	hold *openHold

	// Close state. closeOnce guards closeCode and closeDetail, which are read only after closing
	// is closed.
	closeOnce    sync.Once
	closing      chan struct{}
	closeCode    protocol.CloseCode
	closeDetail  string
	abnormal     atomic.Bool // the socket died: no Close frame to write
	replaced     atomic.Bool // a newer connection of the same client took over; set under hub.mu
	wstate       int         // writerIdle, writerRunning or writerFinished; guarded by q.mu
	pinger       *time.Timer // sends pings once the client is open
	socketClosed chan struct{}
	readerDone   chan struct{} // closed when nothing reads the socket any more (see linger)

	// Owned by the reader.
	opened      bool // ws_open returned true
	openUnknown bool // ws_open's outcome is unknown (the call failed in transport)

	// Inbound frames waiting for ws_message, guarded by inMu.
	inMu      sync.Mutex
	inQueue   [][]byte
	inBytes   int64         // the size of inQueue's frames
	drainBy   atomic.Int64  // once the connection ended: when waiting frames are given up (Unix ns)
	inRunning bool          // a callLoop goroutine is running
	inIdle    chan struct{} // closed by callLoop when it stops, if inWaiting
	inWaiting bool
	bad       atomic.Int32 // frames that were malformed or refused
}

// log returns a logger with the connection's attributes. It is built on each call, not kept:
// logging is rare, and an idle connection should hold as little as possible.
func (c *conn) log() *slog.Logger {
	if c.canister.Len() == 0 { // before the first message names the client
		return c.g.log.With("conn", c.id, "remote", c.ip)
	}
	if c.clientPrincipal.Len() != 0 {
		return c.g.log.With("conn", c.id, "remote", c.ip, "protocol", c.wire.String(), "canister", c.canister.String(),
			"client", c.clientPrincipal.String(), "client_nonce", c.clientID)
	}
	return c.g.log.With("conn", c.id, "remote", c.ip, "canister", c.canister.String(), "client_id", c.clientID)
}

// closeWith asks the writer to close the connection with code; the first call wins. detail is
// added to the code's reason in the Close frame. It never blocks.
func (c *conn) closeWith(code protocol.CloseCode, detail string) {
	c.closeOnce.Do(func() {
		c.closeCode = code
		c.closeDetail = detail
		close(c.closing)
	})
	c.kickWriter()
}

// enqueue hands a polled message to the writer without blocking. A full queue closes the client
// with CloseTooSlow: a message is never skipped while the connection goes on.
func (c *conn) enqueue(f outFrame) {
	select {
	case <-c.closing:
		return // ending; its messages go nowhere
	default:
	}
	if !c.q.push(f) {
		c.g.m.queueOverflows.inc()
		c.closeWith(protocol.CloseTooSlow, fmt.Sprintf("more than %d messages waiting", c.q.max))
		return
	}
	c.kickWriter()
}

// serve runs the connection: the handshake on the goroutine that accepted it, then the reading
// on a new goroutine, whose stack starts small (the handshake's IC calls grew this one's), then
// the end. When the connection is over, the canister has been told (ws_close) and g.active is
// done.
func (c *conn) serve() {
	if !c.wire.open(c) {
		close(c.readerDone)
		c.end()
		return
	}
	c.startPings()
	go func() {
		c.readLoop()
		close(c.readerDone)
		c.end()
	}()
}

// end closes the connection, waits for the socket to be closed, and makes sure the canister
// forgets the client.
func (c *conn) end() {
	g := c.g
	defer g.active.Done()
	c.closeWith(protocol.CloseNormal, "")
	<-c.socketClosed
	g.m.closeCode(c.metricCode())
	g.limiter.release(c.ip)
	g.m.connections.dec()
	needClose := c.opened || c.openUnknown
	var done func()
	if c.hub != nil {
		done = c.hub.leave(c, needClose)
	}
	if c.opened {
		g.m.clients.dec()
	}
	g.mu.Lock()
	delete(g.conns, c)
	g.mu.Unlock()
	if done != nil {
		// Frames the client sent before it left still go to the canister, before ws_close,
		// within one CallTimeout in all.
		c.drainBy.Store(time.Now().Add(g.cfg.CallTimeout).UnixNano())
		c.waitCalls()
		g.closeConn(c)
		done()
	}
	if g.log.Enabled(context.Background(), slog.LevelDebug) {
		c.log().Debug("connection ended", "code", c.metricCode())
	}
}

// metricCode is the close code counted for this connection: 1006 when the socket died without a
// Close frame.
func (c *conn) metricCode() protocol.CloseCode {
	if c.abnormal.Load() {
		return protocol.CloseAbnormal
	}
	return c.closeCode
}

// handshake is the seed protocol's open (seedWire.open): it reads and checks the first message
// and opens the client with ws_open. It reports whether the client is open; otherwise the
// connection has been told to close.
func (c *conn) handshake() bool {
	g := c.g
	c.ws.SetReadDeadline(time.Now().Add(g.cfg.HandshakeTimeout))
	typ, data, err := c.readFrame()
	if err != nil {
		c.readFailed(err, true)
		return false
	}
	g.m.framesIn.inc()
	g.m.bytesIn.add(uint64(len(data)))
	if typ != websocket.BinaryMessage {
		c.refuse(protocol.CloseBadFirstMessage, "a text frame; send the signed first message as a binary frame")
		return false
	}
	s2, s1, canister, err := parseFirstFrame(data)
	if err != nil {
		c.refuse(protocol.CloseBadFirstMessage, err.Error())
		return false
	}
	c.canister, c.clientID = canister, s1.ClientID
	c.batched = s2.Batch == protocol.BatchFrames

	ctx, cancel := context.WithTimeout(g.hardCtx, g.cfg.CallTimeout)
	defer cancel()
	key, err := g.clientKey(ctx, canister, s1.ClientID)
	if err != nil {
		c.refuseCall(err, "ws_get_client_key")
		return false
	}
	if err := protocol.Verify(key, s2.FirstMessage, s2.Sig); err != nil {
		c.refuse(protocol.CloseBadFirstMessage, "the signature does not verify with the client's key")
		return false
	}

	// Join the canister's hub before ws_open, so the poller routes the messages ws_open queues.
	h := g.hubFor(seedWire{}, canister)
	c.hub = h
	c.hold = &openHold{} // stale copies of a reopening client's messages may come first
	if closed := h.add(c); closed != nil {
		select {
		case <-closed:
		case <-ctx.Done():
			c.refuseCall(ctx.Err(), "ws_close of the previous connection")
			return false
		}
	}
	start := g.cfg.Clock()
	ok, err := g.api.open(ctx, canister, s2.FirstMessage, s2.Sig)
	o := outcomeOf(err)
	if o == outTrue && !ok {
		o = outFalse
	}
	g.endCall(methodOpen, start, o, err)
	switch o {
	case outTrue:
		g.m.clients.inc()
		h.openReplied(c)
		h.poke()
		c.opened = true
	case outFalse:
		c.refuse(protocol.CloseOpenRefused, "ws_open returned false")
	default:
		if o == outFailed {
			c.openUnknown = true // it may have run; ws_close will settle it
		}
		c.refuseCall(err, "ws_open")
	}
	return c.opened
}

// parseFirstFrame decodes the first frame: S2, the S1 inside it, and S1's canister id.
func parseFirstFrame(data []byte) (protocol.SignedFirstMessage, protocol.FirstMessage, principal.Principal, error) {
	s2, err := protocol.DecodeSignedFirstMessage(data)
	if err != nil {
		return s2, protocol.FirstMessage{}, principal.Principal{}, err
	}
	s1, err := s2.Decode()
	if err != nil {
		return s2, s1, principal.Principal{}, err
	}
	canister, err := principal.Decode(s1.CanisterID)
	if err != nil {
		return s2, s1, canister, fmt.Errorf("canister_id %q is not a principal", truncate(s1.CanisterID, 40))
	}
	return s2, s1, canister, nil
}

// truncate cuts s to at most n bytes on a UTF-8 boundary.
func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && s[n]&0xc0 == 0x80 {
		n--
	}
	return s[:n]
}

// refuse ends a handshake with code and a detail the client can show. Malformed first messages
// are logged at debug level (anyone can send them); refusals by the canister at info level.
func (c *conn) refuse(code protocol.CloseCode, detail string) {
	level := slog.LevelInfo
	if code == protocol.CloseBadFirstMessage {
		level = slog.LevelDebug
	}
	if c.g.log.Enabled(context.Background(), level) {
		c.log().Log(context.Background(), level, "handshake refused", "code", int(code), "reason", detail)
	}
	c.closeWith(code, detail)
}

// refuseCall ends a handshake whose IC call (method) failed with err, with the close code that
// tells the client what to do.
func (c *conn) refuseCall(err error, method string) {
	if unknownCanister(err) {
		c.refuse(protocol.CloseUnknownCanister, "no canister "+c.canister.String()+" here")
		return
	}
	if re, ok := rejectOf(err); ok {
		code := protocol.CloseOpenRefused
		if re.Code == envelope.SysTransient {
			code = protocol.CloseCanisterUnavailable
		}
		c.refuse(code, method+" rejected: "+re.Message)
		return
	}
	if errors.Is(err, context.Canceled) && c.g.hardCtx.Err() != nil {
		c.closeWith(protocol.CloseGoingAway, "")
		return
	}
	c.log().Warn("handshake failed: IC call failed", "method", method, "err", err)
	c.closeWith(protocol.CloseCanisterUnavailable, method+" failed; try again later")
}

// errTooBig is the error of a frame larger than MaxMessageBytes.
var errTooBig = errors.New("frame too big")

// readFrame reads the next data frame, up to MaxMessageBytes. The limit is enforced here rather
// than with gorilla's read limit so that the Close frame carries a reason.
func (c *conn) readFrame() (int, []byte, error) {
	typ, r, err := c.ws.NextReader()
	if err != nil {
		return 0, nil, err
	}
	max := c.g.cfg.MaxMessageBytes
	var buf bytes.Buffer
	n, err := buf.ReadFrom(io.LimitReader(r, max+1))
	if err != nil {
		return 0, nil, err
	}
	if n > max {
		return 0, nil, errTooBig
	}
	return typ, buf.Bytes(), nil
}

// readFailed ends a connection whose read failed, choosing the close code from the cause.
func (c *conn) readFailed(err error, inHandshake bool) {
	select {
	case <-c.closing:
		return // the gateway ended the connection; the read failed because of that
	default:
	}
	var ce *websocket.CloseError
	var ne net.Error
	switch {
	case errors.As(err, &ce) && ce.Code == websocket.CloseAbnormalClosure:
		c.abnormal.Store(true) // gorilla's name for an end of stream without a Close frame
		c.closeWith(protocol.CloseNormal, "")
	case errors.As(err, &ce):
		c.closeWith(protocol.CloseNormal, "") // answer the client's Close
	case errors.Is(err, errTooBig):
		c.closeWith(protocol.CloseMessageTooBig, fmt.Sprintf("a frame exceeded %d bytes", c.g.cfg.MaxMessageBytes))
	case errors.As(err, &ne) && ne.Timeout():
		if inHandshake {
			c.closeWith(protocol.CloseHandshakeTimeout, fmt.Sprintf("no first message within %v", c.g.cfg.HandshakeTimeout))
		} else {
			c.abnormal.Store(true) // no pong: the peer is gone or stuck; a Close frame would not arrive
			c.closeWith(protocol.CloseNormal, "keepalive timeout")
		}
	default:
		// The peer vanished (EOF, reset) or broke the WebSocket protocol (gorilla has sent the
		// Close frame), or the writer closed the socket.
		c.abnormal.Store(true)
		c.closeWith(protocol.CloseNormal, "")
	}
}

// readLoop reads the client's frames until the connection ends. Each frame is checked cheaply
// (binary, well-formed S5 for this client) and queued for ws_message.
func (c *conn) readLoop() {
	g := c.g
	readWait := g.cfg.PingInterval + g.cfg.PongTimeout
	c.ws.SetReadDeadline(time.Now().Add(readWait))
	c.ws.SetPongHandler(func(string) error {
		c.ws.SetReadDeadline(time.Now().Add(readWait))
		return nil
	})
	// The loop's frame stays small: an idle connection waits in idleWait with this frame under
	// it (see idleWait), and readOne's larger frame is gone meanwhile.
	for {
		c.idleWait()
		if !c.readOne(readWait) {
			return
		}
	}
}

// readOne reads and handles one frame of the client. It reports false when the connection is
// over.
//
//go:noinline
func (c *conn) readOne(readWait time.Duration) bool {
	g := c.g
	typ, data, err := c.readFrame()
	if err != nil {
		c.readFailed(err, false)
		return false
	}
	c.ws.SetReadDeadline(time.Now().Add(readWait))
	g.m.framesIn.inc()
	g.m.bytesIn.add(uint64(len(data)))
	if !c.allow() {
		return false
	}
	if typ != websocket.BinaryMessage {
		c.badMessage("a text frame")
		return true
	}
	queued, err := c.wire.check(c, data)
	if err != nil {
		c.badMessage(err.Error())
		return true
	}
	if !c.submit(queued) {
		g.m.rateLimited.inc()
		c.closeWith(protocol.CloseRateLimited, "too many messages waiting for the canister")
		return false
	}
	return true
}

// idleWait waits, when nothing is buffered, for the client's next bytes without the read buffer
// and with little on the reader's stack (a few hundred bytes: this frame, readLoop's and the
// socket read's), so that the garbage collector shrinks the stack to its smallest: an idle
// connection holds neither a read buffer nor a grown stack. The byte (or error) it reads goes to
// the next read.
func (c *conn) idleWait() {
	if c.rb == nil || c.cork == nil || c.rb.Buffered() > 0 {
		return
	}
	c.dropReadBuffer()
	c.cork.waitReadable()
	c.restoreReadBuffer()
}

// dropReadBuffer lets go of ws's empty read buffer; only the reader uses it. It is apart from
// idleWait to keep the waiting frame small.
//
//go:noinline
func (c *conn) dropReadBuffer() { *c.rb = bufio.Reader{} }

// restoreReadBuffer gives ws a read buffer again, after idleWait.
//
//go:noinline
func (c *conn) restoreReadBuffer() { *c.rb = *bufio.NewReaderSize(c.cork, readBufferSize) }

// allow charges one frame to the connection's token bucket. A client that has used up its burst
// is closed with CloseRateLimited: waiting would only hide the abuse, while a client that keeps
// to the rate never notices the limit.
func (c *conn) allow() bool {
	if c.lim == nil || c.lim.Allow() {
		return true
	}
	c.g.m.rateLimited.inc()
	c.closeWith(protocol.CloseRateLimited, fmt.Sprintf("more than %v messages per second (burst %d)", c.lim.Limit(), c.lim.Burst()))
	return false
}

// checkFrame checks that data is an S5 frame whose message is from this connection's client, so
// that malformed or misaddressed frames cost no update call. The signature and the sequence
// number are the canister's to check.
func (c *conn) checkFrame(data []byte) error {
	s5, err := protocol.DecodeClientMessage(data)
	if err != nil {
		return err
	}
	s4, err := s5.Decode()
	if err != nil {
		return err
	}
	if s4.ClientID != c.clientID {
		return fmt.Errorf("message from client %d on the connection of client %d", s4.ClientID, c.clientID)
	}
	return nil
}

// badMessage counts a frame that was malformed or refused and closes a client that sent too many.
func (c *conn) badMessage(why string) {
	c.g.m.badMessages.inc()
	n := c.bad.Add(1)
	if c.g.log.Enabled(context.Background(), slog.LevelDebug) {
		c.log().Debug("bad message from client", "reason", why, "count", n)
	}
	if int(n) >= c.g.cfg.MaxBadMessages {
		c.closeWith(protocol.CloseTooManyBadMessages, why)
	}
}

// submit queues a frame for ws_message, starting the caller goroutine if it is not running. It
// reports false when too many frames, or too many bytes (twice MaxMessageBytes), wait.
func (c *conn) submit(frame []byte) bool {
	c.inMu.Lock()
	defer c.inMu.Unlock()
	if len(c.inQueue) >= c.g.cfg.MaxPendingMessages || c.inBytes+int64(len(frame)) > 2*c.g.cfg.MaxMessageBytes {
		return false
	}
	c.inQueue = append(c.inQueue, frame)
	c.inBytes += int64(len(frame))
	if !c.inRunning {
		c.inRunning = true
		c.g.active.Add(1)
		go c.callLoop()
	}
	return true
}

// callLoop passes queued frames to ws_message one at a time, in order, and stops when none wait.
func (c *conn) callLoop() {
	defer c.g.active.Done()
	for {
		c.inMu.Lock()
		if len(c.inQueue) == 0 {
			c.inRunning = false
			c.inQueue = nil
			if c.inWaiting {
				close(c.inIdle)
				c.inWaiting = false
			}
			c.inMu.Unlock()
			return
		}
		frame := c.inQueue[0]
		c.inQueue[0] = nil
		c.inQueue = c.inQueue[1:]
		c.inMu.Unlock()
		c.wire.relay(c, frame)
		c.inMu.Lock()
		c.inBytes -= int64(len(frame))
		c.inMu.Unlock()
	}
}

// waitCalls waits until no frame waits for ws_message, so that ws_close comes after them.
func (c *conn) waitCalls() {
	c.inMu.Lock()
	if !c.inRunning {
		c.inMu.Unlock()
		return
	}
	c.inIdle = make(chan struct{})
	c.inWaiting = true
	idle := c.inIdle
	c.inMu.Unlock()
	<-idle
}

// sessionEndGrace is how long a connection whose session the canister ended waits for the
// canister's close notice: two polls.
func sessionEndGrace(poll time.Duration) time.Duration { return max(2*poll, 200*time.Millisecond) }

// callMessage passes one frame to ws_message, retrying transport failures within CallTimeout. A
// false answer or a reject counts as a bad message, except after a retry, where false may mean the
// first attempt went through.
func (c *conn) callMessage(frame []byte) {
	g := c.g
	deadline := time.Now().Add(g.cfg.CallTimeout)
	if d := c.drainBy.Load(); d != 0 && d < deadline.UnixNano() {
		deadline = time.Unix(0, d)
	}
	ctx, cancel := context.WithDeadline(g.hardCtx, deadline)
	defer cancel()
	bo := backoff{min: 100 * time.Millisecond, max: 5 * time.Second}
	for attempt := 0; ; attempt++ {
		start := g.cfg.Clock()
		ok, err := g.api.message(ctx, c.canister, frame)
		switch {
		case err == nil && ok:
			g.endCall(methodMessage, start, outTrue, nil)
			c.hub.poke()
			return
		case err == nil:
			g.endCall(methodMessage, start, outFalse, nil)
			if attempt == 0 {
				c.badMessage("the canister refused the message (bad signature or sequence number)")
			}
			return
		}
		if re, isReject := rejectOf(err); isReject && !retryable(err) {
			g.endCall(methodMessage, start, outReject, err)
			if _, gone := protocol.ParseSessionEnd(re.Message); gone {
				// The canister ended the session. Its close notice, if it left one, comes
				// with the next poll and closes the connection with its reason; close without
				// one only if that poll brings none.
				c.hub.poke()
				time.AfterFunc(sessionEndGrace(g.cfg.PollInterval), func() { c.closeWith(protocol.CloseSessionEnded, "") })
				return
			}
			c.badMessage("ws_message rejected: " + re.Message)
			return
		}
		if !c.retryMessage(ctx, start, err, &bo) {
			return
		}
	}
}

// retryMessage is the bookkeeping of a ws_message call, started at start, that failed with err,
// neither an answer nor a final reject, in either protocol: it records the call (a retry, or a
// failure given up) and reports whether to call again, after a backoff. It closes the client when
// the calls keep failing (unless shutdown gave up, or the client already left).
func (c *conn) retryMessage(ctx context.Context, start time.Time, err error, bo *backoff) bool {
	g := c.g
	if ctx.Err() != nil || !retryable(err) {
		g.endCall(methodMessage, start, outFailed, err)
		switch {
		case g.hardCtx.Err() != nil: // shutdown gave up
		case c.drainBy.Load() != 0:
			c.log().Info("a message of a client that left was not delivered: ws_message kept failing", "err", err)
		default:
			c.log().Warn("ws_message failed; closing the client", "err", err)
			c.closeWith(protocol.CloseCanisterUnavailable, "ws_message kept failing")
		}
		return false
	}
	g.endCall(methodMessage, start, outRetry, err)
	// If ctx ends during the wait, the next call fails at once and is counted as given up.
	sleepCtx(ctx, bo.next())
	return true
}
