package client

import (
	"context"
	"crypto/ed25519"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gorilla/websocket"
	"golang.org/x/time/rate"

	"github.com/icws/icws/ic/principal"
	"github.com/icws/icws/protocol"
)

const (
	// maxFrameBytes caps a frame from the gateway: a message of up to the IC's 2 MiB reply
	// limit, plus its certificate and witness.
	maxFrameBytes = 8 << 20
	// serviceWriteTimeout bounds the socket writer's write of one frame (writer.go).
	serviceWriteTimeout = 10 * time.Second
)

// Message is a canister message that passed every check of Recv.
type Message struct {
	// Seq is the message's sequence number. The canister numbers its messages to a client 0, 1,
	// 2, … with no gap; Recv returns them in that order, leaving out the service messages it
	// consumes (so Seq may skip those numbers).
	Seq uint64
	// Timestamp is the IC time at which the canister queued the message.
	Timestamp time.Time
	// Received is the local time at which the message was verified.
	Received time.Time
	// Payload is the application's bytes. It belongs to the caller.
	Payload []byte
	// Key is the message's key in the canister's certified map (`<gateway>_<nonce>`, or for a
	// channel message `~<channel>~<seq>`).
	Key string
	// Channel is, for a message of a certified channel (Subscribe), the channel's name; Seq is
	// then the channel's sequence number. Empty for the connection's own messages.
	Channel string
}

// Delay is how long the message took from the canister's queue to the client.
func (m *Message) Delay() time.Duration { return m.Received.Sub(m.Timestamp) }

// Conn is a verified WebSocket connection to a canister through a gateway. Make one with Dial.
//
// A Conn is safe for one goroutine calling Recv and any number calling Send at the same time;
// Close and Reconnect may be called from any goroutine. Concurrent Recv calls are serialized.
type Conn struct {
	// Static after Dial.
	cfg      Config
	key      ed25519.PrivateKey
	clientID uint64
	canister principal.Principal
	log      *slog.Logger
	frames   chan frame    // from the readers of every socket, read only by Recv
	done     chan struct{} // closed by Close

	// readMu (a one-slot semaphore) serializes Recv; it guards v, ended and lastSock.
	readMu chan struct{}
	v      *verifier
	// ended is the stream's permanent end (the canister closed the connection), or nil.
	ended error
	// lastSock is the socket Recv last read from.
	lastSock *socket
	// lastHeard is when a message of ours last passed the checks, or when the socket Recv reads
	// from was opened (local clock).
	lastHeard time.Time
	// heartbeats is set once the canister sent a heartbeat: from then on its acknowledgements
	// can be counted on.
	heartbeats atomic.Bool
	// gateways is the failover list: Config.Gateway, then Config.Gateways. Static after Dial.
	gateways []string
	// foAttempts counts the failover's reconnections since a message of ours last arrived, and
	// foLast is the last one's failure; guarded by readMu.
	foAttempts int
	foLast     error
	// foTried is the gateway the failover tried last ("" before the first attempt); guarded by
	// readMu.
	foTried string
	// failing is set while the failover policy moves the connection: Send waits for the move.
	failing atomic.Bool

	// writeMu (a one-slot semaphore, so that waiting for it respects contexts) serializes the
	// recording of frames (their numbering), Reconnect, and guards resyncSince and openNonce;
	// nextOut changes only with both writeMu and ackMu held. Frames are written by each
	// socket's writer goroutine (writer.go), which advances written under ackMu.
	writeMu chan struct{}
	nextOut uint64
	// openNonce is the open_nonce of the last first message sent (protocol.NextOpenNonce).
	openNonce uint64
	// fallback paces frames beyond the window until the canister acknowledges (pacing.go).
	fallback *rate.Limiter
	// resyncing is set (under writeMu) from Reconnect until the canister says, through the new
	// gateway, which of the client's messages it has; meanwhile Send queues without writing.
	resyncing atomic.Bool
	// resyncSince is the IC time (ns) from which a canister acknowledgement reflects the
	// reconnection; resyncBy is when, at the latest, one must have come (local clock).
	resyncSince uint64
	resyncBy    atomic.Int64

	// ackMu guards unacked, acked, ackedAt, written, assumed, ackWake and wrote; it is held only
	// briefly, never across I/O.
	ackMu   sync.Mutex
	unacked []sentMessage // recorded, not yet confirmed by the canister, in sequence order
	acked   uint64        // the canister accepted every message below this sequence number
	written uint64        // every recorded message below this was written through the current socket
	assumed uint64        // acknowledgements assumed by the fallback pacing (pacing.go)
	ackedAt uint64        // the IC time (ns) the canister accepted message acked−1 (its heartbeat's ack_time; the heartbeat's own time from a canister without it)
	ackWake chan struct{} // closed and replaced when the window may have room
	wrote   chan struct{} // closed and replaced when a writer wrote a frame or failed

	// ch is the certified channels' state (channel.go).
	ch channels

	// batchq is the rest of the S9 frame being delivered (batch.go), already checked. Owned by
	// Recv.
	batchq []batchItem

	// bg counts the goroutines that close replaced sockets; Close waits for them.
	bg sync.WaitGroup

	// mu guards the sockets, moved and closed.
	mu      sync.Mutex
	cur     *socket   // the socket in use
	retired []*socket // earlier sockets, kept open until the new one proves itself
	closed  bool
	moved   chan struct{} // closed and replaced when Reconnect moved the connection or a failover ended
}

// sentMessage is a signed frame kept until the canister confirms it.
type sentMessage struct {
	seq   uint64
	frame []byte
	sent  time.Time // when it was last written, or recorded if not yet (Config.Clock)
	// behind is set when it was last written while an earlier message was still unconfirmed:
	// the gateway passes it to the canister only after that one.
	behind bool
	// paid is set when the recorder took the rate token for its next write (pacing.go).
	paid bool
}

// frame is one read from a socket: a message, or the error that ended the socket.
type frame struct {
	s    *socket
	data []byte
	err  error
}

// socket is one WebSocket connection to a gateway. Its reader goroutine passes frames to Recv
// until the socket ends or is stopped; then it reads and drops frames, which keeps answering the
// gateway's pings, until the socket is closed.
type socket struct {
	ws      *websocket.Conn
	gateway string
	quit    chan struct{} // closed by stop: the reader no longer delivers, the writer stops
	stopped sync.Once
	exited  chan struct{} // closed when the reader goroutine returns
	// wake (one slot) kicks the writer goroutine; wexited is closed when it returns.
	wake    chan struct{}
	wexited chan struct{}
	// lim is the gateway's rate limit (protocol.MessageRate, MessageBurst) for this socket: a
	// new socket starts with a full bucket, as its gateway does.
	lim *rate.Limiter

	// floor is the next expected sequence number when the socket's first frame reached Recv:
	// messages below it came through earlier sockets. Owned by Recv.
	floor uint64
	// proven is set by Recv once a message of ours arrived through the socket.
	proven bool
	// opened is when the socket was opened (local clock): its silence is counted from then.
	opened time.Time

	// mu guards failed and peerClose.
	mu sync.Mutex
	// failed is why the socket can no longer be used (its end, a fatal check, a failed write).
	failed error
	// peerClose is the gateway's Close frame, once the reader got it (Recv may not have yet).
	peerClose *CloseError
}

// notePeerClose records the gateway's Close frame, from the reader.
func (s *socket) notePeerClose(ce *CloseError) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.peerClose == nil {
		s.peerClose = ce
	}
}

// closedByPeer returns the gateway's Close frame if the reader got one, or nil.
func (s *socket) closedByPeer() *CloseError {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.peerClose
}

func (s *socket) stop() { s.stopped.Do(func() { close(s.quit) }) }

// fail records the first reason the socket became unusable and stops delivery.
func (s *socket) fail(err error) {
	s.mu.Lock()
	if s.failed == nil {
		s.failed = err
	}
	s.mu.Unlock()
	s.stop()
}

func (s *socket) err() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.failed
}

// ClientID returns the client id the canister gave this client in ws_register.
func (c *Conn) ClientID() uint64 { return c.clientID }

// PublicKey returns the client's Ed25519 public key.
func (c *Conn) PublicKey() ed25519.PublicKey { return c.key.Public().(ed25519.PublicKey) }

// Canister returns the canister the connection is with.
func (c *Conn) Canister() principal.Principal { return c.canister }

// Gateway returns the URL of the gateway in use.
func (c *Conn) Gateway() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.cur.gateway
}

// current returns the socket in use, or ErrClosed.
func (c *Conn) current() (*socket, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		return nil, ErrClosed
	}
	return c.cur, nil
}

// readLoop reads s until it fails, passing every frame to Recv while s is not stopped.
func (c *Conn) readLoop(s *socket) {
	defer close(s.exited)
	for {
		_, data, err := s.ws.ReadMessage()
		select {
		case <-s.quit:
			if err != nil {
				return
			}
			continue
		default:
		}
		select {
		case c.frames <- frame{s: s, data: data, err: err}:
		case <-s.quit:
		}
		if err != nil {
			return
		}
	}
}

// acquire takes a one-slot semaphore, or fails when ctx ends or the Conn closes first.
func (c *Conn) acquire(ctx context.Context, sem chan struct{}) error {
	select {
	case sem <- struct{}{}:
		return nil
	default:
	}
	select {
	case sem <- struct{}{}:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	case <-c.done:
		return ErrClosed
	}
}

// Recv returns the next canister message that passed every check (see the package doc for the
// checks and their order). A message that fails a check is dropped and reported as a
// *VerifyError; if the error is not fatal (IsFatal), Recv may be called again and goes on with
// the next message. A fatal error, the gateway's end of the socket (*CloseError) and the
// canister's end of the connection (*CanisterClosedError) are returned by every later Recv too,
// until Reconnect succeeds (not after *CanisterClosedError) or Close is called (then ErrClosed).
//
// After Reconnect, the new gateway delivers the client's whole queue at the canister, which
// starts with messages that came through the old gateway; Recv skips those without an error.
//
// Recv also consumes the canister's service messages: it records their acknowledgement of the
// client's messages and answers heartbeats with a keep-alive (see the package doc).
//
// With Config.Failover, an error that reconnecting cures is not returned: Recv moves the
// connection to the next gateway (Failover) and goes on; it returns a *FailoverError when the
// policy gives up.
//
// When ctx ends first, Recv returns ctx.Err() and the connection is unharmed: no frame is
// lost, the next Recv reads it.
func (c *Conn) Recv(ctx context.Context) (Message, error) {
	if err := ctx.Err(); err != nil {
		return Message{}, err
	}
	if err := c.acquire(ctx, c.readMu); err != nil {
		return Message{}, err
	}
	defer func() { <-c.readMu }()
	for {
		m, err := c.recv(ctx)
		if err == nil || c.cfg.Failover == nil || ctx.Err() != nil {
			return m, err
		}
		if !c.cfg.Failover.cures(err) {
			if c.foAttempts == 0 || !IsFatal(err) {
				return m, err
			}
			// A gateway or the canister refused the move (4001 or 4008, say).
			ferr := &FailoverError{Attempts: c.foAttempts, Last: c.foLast, Err: err}
			c.endFailover()
			return Message{}, ferr
		}
		if ferr := c.failOver(ctx, err); ferr != nil {
			return Message{}, ferr
		}
	}
}

// recv is Recv without the failover policy. The caller holds readMu.
func (c *Conn) recv(ctx context.Context) (Message, error) {
	for {
		if c.ended != nil {
			return Message{}, c.ended
		}
		if m, ok := c.popChannel(); ok {
			return m, nil
		}
		var s *socket
		var vm verified
		var verr *VerifyError
		if it, ok := c.popBatch(); ok {
			// Checked with the frame, and counted in the verifier: delivered whatever socket
			// is in use now.
			s, vm, verr = it.s, it.vm, it.err
		} else {
			var err error
			if s, err = c.nextSocketFrame(ctx, &vm, &verr); err != nil {
				return Message{}, err
			}
			if s == nil {
				continue
			}
		}
		if verr != nil {
			if verr.Kind == Replay && verr.Seq < s.floor {
				// The overlap of a reconnection: delivered through an earlier socket.
				c.heard(s)
				continue
			}
			if verr.Fatal() {
				s.fail(verr)
			}
			c.log.Debug("client: message refused", "client", c.clientID, "gateway", s.gateway, "err", verr)
			return Message{}, verr
		}
		c.heard(s)
		if vm.msg.Service {
			if len(vm.msg.Message) > 0 {
				if err := c.channelStatus(&vm.msg); err != nil {
					_ = c.service(s, &vm.msg)
					return Message{}, err
				}
			}
			if err := c.service(s, &vm.msg); err != nil {
				return Message{}, err
			}
			if _, verr := c.checkChannels(s); verr != nil {
				s.fail(verr)
				return Message{}, verr
			}
			continue
		}
		return Message{
			Seq:       vm.msg.SequenceNum,
			Timestamp: time.Unix(0, int64(vm.msg.Timestamp)),
			Received:  vm.received,
			Payload:   vm.msg.Message,
			Key:       vm.key,
		}, nil
	}
}

// nextSocketFrame reads and checks the next frame from the socket in use. It returns the socket
// and sets *vm or *verr for an S6 frame; it returns a nil socket (and no error) when recv should
// loop again: a frame of a replaced socket, a channel frame handled, an S9 frame whose messages
// are now in c.batchq.
func (c *Conn) nextSocketFrame(ctx context.Context, vm *verified, verr **VerifyError) (*socket, error) {
	s, err := c.current()
	if err != nil {
		return nil, err
	}
	if err := s.err(); err != nil {
		return nil, err
	}
	c.use(s)
	f, err := c.nextFrame(ctx, s)
	if err == errSwitched {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	if f.s != s {
		// From a socket that Reconnect replaced (dropped), or from the one that replaced s
		// while Recv waited.
		if s, err = c.current(); err != nil {
			return nil, err
		}
		if f.s != s {
			return nil, nil
		}
		c.use(s)
	}
	if f.err != nil {
		err := closeErrorFrom(f.err)
		s.fail(err)
		c.log.Debug("client: socket ended", "client", c.clientID, "gateway", s.gateway, "err", err)
		return nil, err
	}
	if protocol.IsChannelFrame(f.data) {
		err := c.channelFrame(f.data)
		var verr *VerifyError
		if errors.As(err, &verr) && verr.Fatal() {
			s.fail(verr)
		}
		if err != nil {
			return nil, err
		}
		if _, verr := c.checkChannels(s); verr != nil {
			s.fail(verr)
			return nil, verr
		}
		return nil, nil
	}
	if protocol.IsBatchFrame(f.data) {
		items, berr := c.v.checkBatch(s, f.data)
		if berr != nil {
			s.fail(berr)
			c.log.Debug("client: batch frame refused", "client", c.clientID, "gateway", s.gateway, "err", berr)
			return nil, berr
		}
		c.batchq = items
		return nil, nil
	}
	*vm, *verr = c.v.check(f.data)
	return s, nil
}

// use makes s the socket Recv reads from, if it is not already: what comes through it below
// the next expected sequence number came through earlier sockets, and its silence is counted
// from its opening.
func (c *Conn) use(s *socket) {
	if s != c.lastSock {
		c.lastSock = s
		s.floor = c.v.next
		c.lastHeard = s.opened
	}
}

// errSwitched is nextFrame's report that Reconnect replaced the socket it watched.
var errSwitched = errors.New("client: socket replaced")

// nextFrame returns the next frame from the readers. It fails with Withheld when no message of
// ours arrived through s for Config.HeartbeatTimeout, counted from its opening and then from the
// last one (or with errSwitched if s is no longer in use by then), and with s's failure when s
// fails meanwhile (a failed write).
func (c *Conn) nextFrame(ctx context.Context, s *socket) (frame, error) {
	select {
	case f := <-c.frames:
		return f, nil
	default:
	}
	if err := c.checkResync(s); err != nil {
		return frame{}, err
	}
	var deadline time.Time
	if c.cfg.HeartbeatTimeout > 0 {
		deadline = c.lastHeard.Add(c.cfg.HeartbeatTimeout)
	}
	if c.resyncing.Load() && c.cfg.HeartbeatTimeout > 0 {
		if by := time.Unix(0, c.resyncBy.Load()); deadline.IsZero() || by.Before(deadline) {
			deadline = by
		}
	}
	chDue, verr := c.checkChannels(s)
	if verr != nil {
		s.fail(verr)
		return frame{}, verr
	}
	heartbeatDue := deadline
	if !chDue.IsZero() && (deadline.IsZero() || chDue.Before(deadline)) {
		// Channels are checked against the local clock (Config.Clock); the wait is on the wall clock.
		deadline = time.Now().Add(chDue.Sub(c.cfg.Clock()))
	}
	var timeout <-chan time.Time
	if !deadline.IsZero() {
		t := time.NewTimer(time.Until(deadline))
		defer t.Stop()
		timeout = t.C
	}
	select {
	case f := <-c.frames:
		return f, nil
	case <-ctx.Done():
		return frame{}, ctx.Err()
	case <-c.done:
		return frame{}, ErrClosed
	case <-s.quit:
		// s failed while Recv waited (a Send's write broke it: its reader no longer delivers,
		// and without heartbeats nothing else would end the wait), or Reconnect replaced it.
		select {
		case f := <-c.frames:
			return f, nil
		default:
		}
		if err := s.err(); err != nil {
			return frame{}, err
		}
		return frame{}, errSwitched
	case <-timeout:
		select {
		case f := <-c.frames:
			return f, nil
		default:
		}
		if cur, err := c.current(); err != nil {
			return frame{}, err
		} else if cur != s {
			return frame{}, errSwitched
		}
		if err := c.checkResync(s); err != nil {
			return frame{}, err
		}
		if _, verr := c.checkChannels(s); verr != nil {
			s.fail(verr)
			return frame{}, verr
		}
		if heartbeatDue.IsZero() || time.Now().Before(heartbeatDue) {
			return frame{}, errSwitched // a channel's grace ran out but it caught up: wait again
		}
		err := c.silence(s)
		s.fail(err)
		return frame{}, err
	}
}

// heard notes that a message of ours came through s. Its gateway holds the client, so the
// sockets that Reconnect replaced can be closed (their gateways' ws_close no longer ends the
// client's session).
func (c *Conn) heard(s *socket) {
	c.lastHeard = time.Now()
	if c.foAttempts > 0 {
		c.endFailover()
	}
	if s.proven {
		return
	}
	s.proven = true
	c.mu.Lock()
	old := c.retired
	c.retired = nil
	c.mu.Unlock()
	for _, r := range old {
		c.bg.Add(1)
		go func() {
			defer c.bg.Done()
			_ = closeSocket(r, websocket.CloseNormalClosure, "moved to another gateway", DefaultCloseTimeout)
		}()
	}
}

// Send signs payload as the next message of the connection and writes it to the gateway. It
// returns once the frame is written; the canister's acceptance is confirmed later. Messages are
// numbered in the order Send calls take the write lock, so concurrent senders each get their own
// number, with no gap. Every message is kept until the canister confirms it, at most
// Config.MaxUnacked of them; beyond that Send fails.
//
// Send keeps to the gateway's limits (docs/PROTOCOL.md §7.1), so that a burst of Sends never gets
// the client closed: it waits while protocol.MaxPendingFrames messages (or
// protocol.MaxPendingBytes) are written and not yet acknowledged by the canister, which
// acknowledges every protocol.AckInterval messages (keep calling Recv, which reads the
// acknowledgements), and it keeps to the gateway's rate, protocol.MessageRate frames a second.
//
// The frame is written by the socket's writer goroutine (one per socket, which writes every
// frame in sequence order); Send waits for that write and returns its error (the message is then
// kept and sent again by Reconnect, like every message the canister has not confirmed). If ctx
// ends while Send waits for its turn, nothing was sent; if it ends once the message is numbered,
// Send returns ctx's error and the writer still writes the message, in order. After
// Reconnect, until the canister has said through the new gateway which messages it has, Send
// queues the message and returns; it is written, in order, right after.
func (c *Conn) Send(ctx context.Context, payload []byte) error {
	return c.sendMessage(ctx, &protocol.WebsocketMessage{Message: payload})
}

// sendMessage is Send of m, an application message or a channel request.
func (c *Conn) sendMessage(ctx context.Context, m *protocol.WebsocketMessage) error {
	payload := m.Message
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("client: failed to send: %w", err)
	}
	for {
		s, err := c.current()
		if err != nil {
			return fmt.Errorf("client: failed to send: %w", err)
		}
		if err := s.err(); err != nil {
			moved, werr := c.awaitMove(ctx, s)
			if werr != nil {
				return fmt.Errorf("client: failed to send: waiting for the failover from %s: %w", s.gateway, werr)
			}
			if moved {
				continue
			}
			return fmt.Errorf("client: failed to send: the connection through %s failed (Reconnect or Close): %w", s.gateway, err)
		}
		if err := c.waitRoom(ctx, s, len(payload)+frameOverhead); err != nil {
			return fmt.Errorf("client: failed to send: %w", err)
		}
		if err := c.acquire(ctx, c.writeMu); err != nil {
			return fmt.Errorf("client: failed to send: %w", err)
		}
		cur, err := c.current()
		if err == nil && cur == s && s.err() == nil {
			c.ackMu.Lock()
			room := c.fitsLocked(c.nextOut, len(payload)+frameOverhead)
			c.ackMu.Unlock()
			if room {
				seq, err := c.sendLocked(ctx, s, m, false)
				<-c.writeMu
				if err != nil {
					return err
				}
				return c.awaitWritten(ctx, s, seq)
			}
		}
		<-c.writeMu // another sender took the room, or the socket changed: look again
	}
}

// sendLocked numbers, signs and records m, for s's writer to write (with what is recorded and
// not yet written before it) unless a resynchronization is pending, and returns its sequence
// number. It takes a token of the rate limit first, unless haveToken, so that when ctx ends
// meanwhile nothing is recorded. The caller holds writeMu and has checked that the window has
// room; awaitWritten waits for the write.
func (c *Conn) sendLocked(ctx context.Context, s *socket, m *protocol.WebsocketMessage, haveToken bool) (uint64, error) {
	if !haveToken && !c.resyncing.Load() {
		if err := s.lim.Wait(ctx); err != nil {
			return 0, fmt.Errorf("client: failed to send: waiting for the gateway's rate limit: %w", err)
		}
		haveToken = true
	}
	c.ackMu.Lock()
	if n := len(c.unacked); n >= c.cfg.MaxUnacked {
		if c.heartbeats.Load() {
			c.ackMu.Unlock()
			return 0, fmt.Errorf("client: failed to send: %d messages await the canister's acknowledgement (Config.MaxUnacked)", n)
		}
		// A canister without heartbeats never acknowledges: keep only the latest messages.
		c.unacked = append(c.unacked[:0], c.unacked[1:]...)
	}
	m.ClientID = c.clientID
	m.SequenceNum = c.nextOut
	m.Timestamp = uint64(c.cfg.Clock().UnixNano())
	fr := protocol.SignClientMessage(c.key, m)
	c.nextOut++
	c.unacked = append(c.unacked, sentMessage{seq: m.SequenceNum, frame: fr, sent: time.Unix(0, int64(m.Timestamp)), paid: haveToken})
	c.ackMu.Unlock()
	s.kick()
	return m.SequenceNum, nil
}

// writeFrame writes one binary frame. The write is bounded by ctx: its deadline, and its
// cancellation, which breaks the socket.
func writeFrame(ctx context.Context, ws *websocket.Conn, data []byte) error {
	dl, _ := ctx.Deadline()
	if err := ws.SetWriteDeadline(dl); err != nil {
		return err
	}
	stop := context.AfterFunc(ctx, func() { _ = ws.SetWriteDeadline(time.Unix(1, 0)) })
	err := ws.WriteMessage(websocket.BinaryMessage, data)
	if !stop() && err != nil {
		return fmt.Errorf("%w (%w)", context.Cause(ctx), err)
	}
	return err
}

// Close ends the connection: it sends the canister a signed goodbye (a close service message,
// which ends the session at once; without it the canister keeps the session for a while after
// the gateway's ws_close, waiting for a reconnection), then a Close frame with code 1000 and
// reason to the gateway, waits briefly for the gateway's answer and closes the socket. Recv and
// Send return ErrClosed afterwards, and so does a second Close. Reasons longer than 123 bytes
// are cut.
func (c *Conn) Close(reason string) error {
	c.goodbye(reason)
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return ErrClosed
	}
	c.closed = true
	close(c.done)
	socks := append([]*socket{c.cur}, c.retired...)
	c.retired = nil
	c.mu.Unlock()
	if len(reason) > 123 {
		reason = reason[:123]
	}
	var wg sync.WaitGroup
	errs := make([]error, len(socks))
	for i, s := range socks {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[i] = closeSocket(s, websocket.CloseNormalClosure, reason, DefaultCloseTimeout)
		}()
	}
	wg.Wait()
	c.bg.Wait()
	if err := errs[0]; err != nil && socks[0].err() == nil {
		return fmt.Errorf("client: failed to close cleanly: %w", err)
	}
	return nil
}

// closeSocket sends a Close frame, waits up to timeout for the reader to see the gateway's
// answer, and closes the connection. It returns once the reader goroutine has exited.
// goodbye sends the canister the client's signed close service message through the current
// socket, if it works, within DefaultCloseTimeout. Failing is harmless: the session then ends
// when the canister's detach grace passes.
func (c *Conn) goodbye(reason string) {
	ctx, cancel := context.WithTimeout(context.Background(), DefaultCloseTimeout)
	defer cancel()
	s, err := c.current()
	if err != nil || s.err() != nil || c.acquire(ctx, c.writeMu) != nil {
		return
	}
	defer func() { <-c.writeMu }()
	if cur, err := c.current(); err != nil || cur != s || c.resyncing.Load() {
		return
	}
	if reason == "" {
		reason = "closed by the client"
	}
	if len(reason) > 123 {
		reason = reason[:123]
	}
	seq, err := c.sendLocked(ctx, s, &protocol.WebsocketMessage{Service: true, Close: reason}, false)
	if err == nil {
		err = c.awaitWritten(ctx, s, seq)
	}
	if err != nil {
		c.log.Debug("client: goodbye not sent", "client", c.clientID, "err", err)
	}
}

func closeSocket(s *socket, code int, reason string, timeout time.Duration) error {
	s.stop()
	err := s.ws.WriteControl(websocket.CloseMessage, websocket.FormatCloseMessage(code, reason), time.Now().Add(timeout))
	if err == nil {
		t := time.NewTimer(timeout)
		select {
		case <-s.exited:
		case <-t.C:
		}
		t.Stop()
	}
	cerr := s.ws.Close()
	<-s.exited
	if s.wexited != nil {
		<-s.wexited
	}
	if err != nil && !errors.Is(err, websocket.ErrCloseSent) {
		return err
	}
	return cerr
}

// closeErrorFrom turns the error that ended a socket's reads into a *CloseError.
func closeErrorFrom(err error) error {
	var ce *websocket.CloseError
	if errors.As(err, &ce) {
		return &CloseError{Code: protocol.CloseCode(ce.Code), Reason: ce.Text}
	}
	return &CloseError{Code: websocket.CloseAbnormalClosure, Reason: "connection lost", Err: err}
}
