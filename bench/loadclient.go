package bench

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gorilla/websocket"
	"golang.org/x/time/rate"

	"github.com/icws/icws/bench/canister"
	"github.com/icws/icws/client"
	"github.com/icws/icws/protocol"
)

// loadClient is one connection of the load: an icws client (verifying every message, alone or
// with the shared cache) or, for the baseline, a bare WebSocket reader.
type loadClient interface {
	// recv returns the next application payload, after every check of the client's mode, and how
	// long it took from the sender's queue (the canister's, or the baseline server's) to here.
	// One goroutine calls it; the payload is valid until the next call.
	recv(ctx context.Context) (payload []byte, delay time.Duration, err error)
	// send sends an application payload (safe to call alongside recv).
	send(ctx context.Context, payload []byte) error
	// close ends the connection.
	close()
}

// VerifyMode is how the load clients check the canister's messages.
type VerifyMode string

// Verification modes.
const (
	// VerifyFull: every client is a client.Conn of the icws Go SDK, which verifies each message
	// on its own: certificate (BLS, cached per client by its bytes), witness, key, SHA-256,
	// client id, sequence number, time.
	VerifyFull VerifyMode = "full"
	// VerifySharedCache: the clients make the same checks, but the certificate and witness of a
	// batch are verified once for all clients, in a cache they share; the per-message checks
	// (witness lookup, SHA-256 of the message, client id, sequence number, time) stay per client.
	VerifySharedCache VerifyMode = "shared-cache"
)

// ParseVerifyMode parses "full" or "shared-cache".
func ParseVerifyMode(s string) (VerifyMode, error) {
	switch m := VerifyMode(s); m {
	case VerifyFull, VerifySharedCache:
		return m, nil
	}
	return "", fmt.Errorf("bench: verify mode %q: want %q or %q", s, VerifyFull, VerifySharedCache)
}

// Describe says in words what the mode checks, for the report.
func (m VerifyMode) Describe() string {
	switch m {
	case VerifyFull:
		return "full: every client (icws client.Conn) verifies every message itself: BLS certificate, witness, key, SHA-256, client id, sequence, time"
	case VerifySharedCache:
		return "shared-cache: certificate (BLS) and witness verified once per batch for all clients; witness lookup, SHA-256, client id, sequence, time per message"
	}
	return string(m)
}

// sources spreads connections over loopback source addresses 127.0.0.1, 127.0.0.2, …, so that
// more connections than one address has ephemeral ports can be opened to one gateway.
type sources struct {
	addrs []net.IP
	next  atomic.Uint64
}

// connsPerSource is how many connections the bench opens from one loopback address: well
// under the default ephemeral port range (32768–60999).
const connsPerSource = 10000

func newSources(n int) *sources {
	n = max(n, 1)
	s := &sources{}
	for i := 0; i < n; i++ {
		s.addrs = append(s.addrs, net.IPv4(127, 0, 0, byte(1+i)))
	}
	return s
}

// dialer returns a WebSocket dialer that takes the next source address for each connection.
func (s *sources) dialer() *websocket.Dialer {
	return &websocket.Dialer{
		HandshakeTimeout: 30 * time.Second,
		NetDialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
			ip := s.addrs[s.next.Add(1)%uint64(len(s.addrs))]
			d := net.Dialer{LocalAddr: &net.TCPAddr{IP: ip}}
			return d.DialContext(ctx, network, addr)
		},
	}
}

// sdkClient is a client.Conn, the icws Go SDK: VerifyFull.
type sdkClient struct{ c *client.Conn }

func dialSDK(ctx context.Context, e *icEnv, d *websocket.Dialer, readBuffer int, batched bool) (*sdkClient, error) {
	c, err := client.Dial(ctx, client.Config{
		Gateway:      e.gatewayURL,
		Canister:     e.canister,
		Agent:        e.users,
		Dialer:       d,
		ReadBuffer:   readBuffer,
		SingleFrames: !batched,
		// The bench's clients are not timed: a load canister's heartbeats come only every
		// 30 s, after the runs' first seconds (bench/canister).
		HeartbeatTimeout: -1,
	})
	if err != nil {
		return nil, err
	}
	return &sdkClient{c: c}, nil
}

func (s *sdkClient) recv(ctx context.Context) ([]byte, time.Duration, error) {
	m, err := s.c.Recv(ctx)
	if err != nil {
		return nil, 0, err
	}
	return m.Payload, m.Delay(), nil
}

func (s *sdkClient) subscribe(ctx context.Context, channel string) error {
	return s.c.Subscribe(ctx, channel)
}
func (s *sdkClient) subscribedTo(channel string) bool {
	return slices.Contains(s.c.Subscriptions(), channel)
}
func (s *sdkClient) send(ctx context.Context, payload []byte) error { return s.c.Send(ctx, payload) }
func (s *sdkClient) close()                                         { _ = s.c.Close("bench done") }

// leanClient is the bench's own icws client for VerifySharedCache: it registers, opens and
// sends as client.Conn does, and runs the same checks on each message (client.Verifier, the
// SDK's own), but takes the certificate and witness verdicts from a client.SharedCache that all
// the run's clients share. A receiving client sends no keep-alive. A sending one (dialLean's
// paced) opts in with one at the open and paces its sending as client.Conn does: at most
// protocol.MaxPendingFrames messages beyond the canister's acknowledgement, at the gateway's
// rate, or the gateway closes it with 4004.
type leanClient struct {
	ws  *websocket.Conn
	key ed25519.PrivateKey
	id  uint64
	v   *client.Verifier // the SDK's checks, with the run's shared cache; owned by recv
	out uint64           // the next sequence number to send; owned by send
	buf []byte           // the last frame read; reused by recv
	// pending is the rest of the last S9 (or S8) frame's messages, checked; owned by recv.
	pending []protocol.WebsocketMessage
	// sub is the client's channel subscription in the channel run, or nil.
	sub *leanSubscription
	// pace is the sending client's window and rate, or nil for a receiving one.
	pace *leanPace
}

// leanPace is a sending lean client's window on the canister's acknowledgements and its rate.
type leanPace struct {
	lim   *rate.Limiter
	mu    sync.Mutex
	acked uint64        // the canister's latest ack: it has every message below
	room  chan struct{} // closed and replaced when acked moves
}

// ack records the canister's acknowledgement of every message below next.
func (p *leanPace) ack(next uint64) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if next > p.acked {
		p.acked = next
		close(p.room)
		p.room = make(chan struct{})
	}
}

// wait waits until message seq fits in the window and the rate allows it, or ctx ends.
func (p *leanPace) wait(ctx context.Context, seq uint64) error {
	for {
		p.mu.Lock()
		acked, room := p.acked, p.room
		p.mu.Unlock()
		if seq < acked+protocol.MaxPendingFrames {
			break
		}
		select {
		case <-room:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	return p.lim.Wait(ctx)
}

// readFrame reads the next data frame into *buf, reusing its memory (gorilla's ReadMessage
// allocates and grows a new slice for every frame).
func readFrame(ws *websocket.Conn, buf *[]byte) ([]byte, error) {
	_, r, err := ws.NextReader()
	if err != nil {
		return nil, err
	}
	b := (*buf)[:0]
	for {
		if len(b) == cap(b) {
			b = append(b, 0)[:len(b)]
		}
		n, err := r.Read(b[len(b):cap(b)])
		b = b[:len(b)+n]
		if err == io.EOF {
			*buf = b
			return b, nil
		}
		if err != nil {
			return nil, err
		}
	}
}

func dialLean(ctx context.Context, e *icEnv, d *websocket.Dialer, cache *client.SharedCache, batched, paced bool) (*leanClient, error) {
	_, key, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		return nil, err
	}
	var id uint64
	if err := e.users.Call(ctx, e.canister, protocol.MethodRegister, []byte(key.Public().(ed25519.PublicKey)), &id); err != nil {
		return nil, fmt.Errorf("bench: %s: %w", protocol.MethodRegister, err)
	}
	v, err := client.NewVerifier(client.VerifierConfig{RootKey: e.rootKey, Canister: e.canister, ClientID: id, Cache: cache})
	if err != nil {
		return nil, fmt.Errorf("bench: %w", err)
	}
	ws, _, err := d.DialContext(ctx, e.gatewayURL, nil)
	if err != nil {
		return nil, fmt.Errorf("bench: open a WebSocket to %s: %w", e.gatewayURL, err)
	}
	var batch uint64
	if batched {
		batch = protocol.BatchFrames
	}
	first := protocol.SignFirstMessageBatched(key, protocol.FirstMessage{CanisterID: e.canister.String(), ClientID: id, OpenNonce: protocol.NextOpenNonce(0, time.Now())}, batch)
	if err := ws.WriteMessage(websocket.BinaryMessage, first); err != nil {
		ws.Close()
		return nil, fmt.Errorf("bench: send the first message: %w", err)
	}
	l := &leanClient{ws: ws, key: key, id: id, v: v}
	if paced {
		// The gateway's rate, with half its burst as client.Conn keeps (protocol.MessageRate).
		l.pace = &leanPace{lim: rate.NewLimiter(protocol.MessageRate, protocol.MessageBurst/2), room: make(chan struct{})}
		if err := l.write(ctx, &protocol.WebsocketMessage{Service: true}); err != nil {
			ws.Close()
			return nil, fmt.Errorf("bench: send the keep-alive that asks for acknowledgements: %w", err)
		}
	}
	return l, nil
}

func (l *leanClient) recv(ctx context.Context) ([]byte, time.Duration, error) {
	stop := context.AfterFunc(ctx, func() { _ = l.ws.SetReadDeadline(time.Unix(1, 0)) })
	defer stop()
	for {
		var m protocol.WebsocketMessage
		if len(l.pending) > 0 {
			m = l.pending[0]
			l.pending = l.pending[1:]
		} else {
			frame, err := readFrame(l.ws, &l.buf)
			if err != nil {
				if ctx.Err() != nil {
					return nil, 0, ctx.Err()
				}
				return nil, 0, fmt.Errorf("bench: client %d: %w", l.id, err)
			}
			if l.sub != nil && protocol.IsChannelFrame(frame) {
				if err := l.channelFrame(frame); err != nil {
					return nil, 0, err
				}
				continue
			}
			if protocol.IsBatchFrame(frame) {
				ms, err := l.v.CheckBatch(frame, l.pending[:0])
				if err != nil {
					return nil, 0, fmt.Errorf("bench: client %d: %w", l.id, err)
				}
				m, l.pending = ms[0], ms[1:]
			} else if m, err = l.v.Check(frame); err != nil {
				return nil, 0, fmt.Errorf("bench: client %d: %w", l.id, err)
			}
		}
		if m.Service {
			if l.pace != nil {
				l.pace.ack(m.Ack)
			}
			if l.sub != nil && len(m.Message) > 0 {
				if err := l.channelStatus(m.Message); err != nil {
					return nil, 0, err
				}
			}
			continue
		}
		return m.Message, time.Since(time.Unix(0, int64(m.Timestamp))), nil
	}
}

func (l *leanClient) send(ctx context.Context, payload []byte) error {
	if l.pace != nil {
		if err := l.pace.wait(ctx, l.out); err != nil {
			return err
		}
	}
	return l.write(ctx, &protocol.WebsocketMessage{Message: payload})
}

func (l *leanClient) close() {
	_ = l.ws.WriteControl(websocket.CloseMessage, websocket.FormatCloseMessage(websocket.CloseNormalClosure, "bench done"), time.Now().Add(time.Second))
	_ = l.ws.Close()
}

// bareClient reads the baseline server: no IC, no checks but the broadcast numbering.
type bareClient struct {
	ws  *websocket.Conn
	buf []byte
}

func dialBare(ctx context.Context, url string, d *websocket.Dialer) (*bareClient, error) {
	ws, _, err := d.DialContext(ctx, url, nil)
	if err != nil {
		return nil, fmt.Errorf("bench: open a WebSocket to %s: %w", url, err)
	}
	return &bareClient{ws: ws}, nil
}

func (b *bareClient) recv(ctx context.Context) ([]byte, time.Duration, error) {
	stop := context.AfterFunc(ctx, func() { _ = b.ws.SetReadDeadline(time.Unix(1, 0)) })
	defer stop()
	p, err := readFrame(b.ws, &b.buf)
	if err != nil {
		if ctx.Err() != nil {
			return nil, 0, ctx.Err()
		}
		return nil, 0, err
	}
	if len(p) < baselineHeader {
		return nil, 0, fmt.Errorf("bench: baseline frame of %d bytes", len(p))
	}
	sent := int64(binary.BigEndian.Uint64(p[canister.HeaderSize:baselineHeader]))
	return p, time.Since(time.Unix(0, sent)), nil
}

func (b *bareClient) send(context.Context, []byte) error {
	return errors.New("bench: the baseline clients only receive")
}

func (b *bareClient) close() {
	_ = b.ws.WriteControl(websocket.CloseMessage, websocket.FormatCloseMessage(websocket.CloseNormalClosure, ""), time.Now().Add(time.Second))
	_ = b.ws.Close()
}
