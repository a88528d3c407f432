package client

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"strings"
	"time"

	"github.com/gorilla/websocket"

	"github.com/icws/icws/agent"
	"github.com/icws/icws/protocol"
)

// Dial registers a client with the canister and connects to it through the gateway: it calls
// ws_register with the client's public key (as Config.Identity), opens the WebSocket and sends
// the signed first message. It returns once that message is written; if the gateway or the
// canister refuses the connection, the first Recv returns a *CloseError saying why.
func Dial(ctx context.Context, cfg Config) (*Conn, error) {
	cfg, err := cfg.withDefaults()
	if err != nil {
		return nil, fmt.Errorf("client: %w", err)
	}
	key := cfg.Key
	if key == nil {
		if _, key, err = ed25519.GenerateKey(rand.Reader); err != nil {
			return nil, fmt.Errorf("client: failed to generate a key: %w", err)
		}
	}
	a := cfg.Agent
	if a == nil {
		a, err = agent.New(agent.Config{
			URL:          cfg.IC,
			Identity:     cfg.Identity,
			RootKey:      cfg.RootKey,
			FetchRootKey: cfg.FetchRootKey,
			Logger:       cfg.Logger,
		})
		if err != nil {
			return nil, fmt.Errorf("client: %w", err)
		}
		defer a.CloseIdleConnections() // its work is done with Dial
	}
	rootKey, err := a.FetchRootKey(ctx)
	if err != nil {
		return nil, fmt.Errorf("client: failed to get the IC's root key: %w", err)
	}
	verifyCert, err := newCertFunc(rootKey, cfg.Canister, cfg.Clock, cfg.MaxCertificateAge, cfg.MaxClockSkew)
	if err != nil {
		return nil, fmt.Errorf("client: the IC's root key is unusable: %w", err)
	}

	pub := key.Public().(ed25519.PublicKey)
	var clientID uint64
	if err := a.Call(ctx, cfg.Canister, protocol.MethodRegister, []byte(pub), &clientID); err != nil {
		return nil, fmt.Errorf("client: failed to register with canister %s (%s): %w", cfg.Canister, protocol.MethodRegister, err)
	}

	c := &Conn{
		cfg:      cfg,
		key:      key,
		clientID: clientID,
		canister: cfg.Canister,
		log:      cfg.Logger,
		frames:   make(chan frame, cfg.ReadBuffer),
		done:     make(chan struct{}),
		readMu:   make(chan struct{}, 1),
		writeMu:  make(chan struct{}, 1),
		fallback: newFallbackLimiter(),
		ackWake:  make(chan struct{}),
		wrote:    make(chan struct{}),
		moved:    make(chan struct{}),
		gateways: cfg.gateways(),
		v: &verifier{
			clientID:   clientID,
			verifyCert: verifyCert,
			now:        cfg.Clock,
			maxCertAge: cfg.MaxCertificateAge,
			maxAge:     cfg.MaxMessageAge,
			maxSkew:    cfg.MaxClockSkew,
		},
	}
	s, err := c.open(ctx, cfg.Gateway)
	if err != nil {
		return nil, err
	}
	c.cur = s
	go c.readLoop(s)
	c.startWriter(s)
	// A keep-alive asks the canister for heartbeats, which acknowledge the client's messages.
	seq, err := c.sendLocked(ctx, s, &protocol.WebsocketMessage{Service: true}, false)
	if err == nil {
		err = c.awaitWritten(ctx, s, seq)
	}
	if err != nil {
		// The gateway may have refused the connection (its Close frame ended the socket before
		// the write): its code says why better than the write's failure.
		if ce := c.closeFrame(s, DefaultCloseTimeout); ce != nil {
			err = ce
		}
		_ = c.Close("")
		return nil, err
	}
	c.log.Debug("client: connected", "client", clientID, "canister", cfg.Canister.String(), "gateway", cfg.Gateway)
	return c, nil
}

// closeFrame returns the *CloseError of the gateway's Close frame that ended s, if its reader
// delivers one within timeout, or nil. It is for Dial, before anything else reads the frames.
func (c *Conn) closeFrame(s *socket, timeout time.Duration) *CloseError {
	t := time.NewTimer(timeout)
	defer t.Stop()
	for {
		select {
		case f := <-c.frames:
			if f.s != s || f.err == nil {
				continue
			}
			var wce *websocket.CloseError
			if !errors.As(f.err, &wce) {
				return nil
			}
			ce, _ := closeErrorFrom(f.err).(*CloseError)
			return ce
		case <-t.C:
			return nil
		}
	}
}

// open opens a WebSocket to gateway and sends the signed first message, with a fresh open
// nonce, above every earlier one of the client (so that no gateway can replay an earlier first
// message to pull the client back). It does not start the socket's reader. The caller holds
// writeMu, or is Dial.
func (c *Conn) open(ctx context.Context, gateway string) (*socket, error) {
	var header http.Header
	if c.cfg.Origin != "" {
		header = http.Header{"Origin": {c.cfg.Origin}}
	}
	ws, res, err := c.cfg.Dialer.DialContext(ctx, gateway, header)
	if err != nil {
		if res != nil {
			body, _ := io.ReadAll(io.LimitReader(res.Body, 512))
			_ = res.Body.Close()
			if mt, _, _ := mime.ParseMediaType(res.Header.Get("Content-Type")); mt == "text/html" {
				return nil, fmt.Errorf("client: failed to open a WebSocket to %s: it answered %s with an HTML page: %w", gateway, res.Status, ErrNotGateway)
			}
			msg := strings.TrimSpace(string(body))
			if msg != "" {
				msg = ": " + msg
			}
			return nil, fmt.Errorf("client: failed to open a WebSocket to %s: the gateway answered %s%s: %w", gateway, res.Status, msg, err)
		}
		return nil, fmt.Errorf("client: failed to open a WebSocket to %s: %w", gateway, err)
	}
	ws.SetReadLimit(maxFrameBytes)
	ws.SetPingHandler(func(data string) error {
		// Answer pings with a generous deadline, and never let a pong that could not be written
		// end the connection: gorilla's default gives up after one second, which a busy client
		// can miss. A peer that truly loses us closes the socket, and the reader sees that.
		_ = ws.WriteControl(websocket.PongMessage, []byte(data), time.Now().Add(pongWriteTimeout))
		return nil
	})
	c.openNonce = protocol.NextOpenNonce(c.openNonce, time.Now())
	var batch uint64
	if !c.cfg.SingleFrames {
		batch = protocol.BatchFrames
	}
	first := protocol.SignFirstMessageBatched(c.key, protocol.FirstMessage{
		CanisterID: c.canister.String(),
		ClientID:   c.clientID,
		OpenNonce:  c.openNonce,
	}, batch)
	if err := writeFrame(ctx, ws, first); err != nil {
		_ = ws.Close()
		return nil, fmt.Errorf("client: failed to send the first message to %s: %w", gateway, err)
	}
	s := &socket{
		ws: ws, gateway: gateway, quit: make(chan struct{}), exited: make(chan struct{}), opened: time.Now(),
		wake: make(chan struct{}, 1), wexited: make(chan struct{}), lim: newRateLimiter(),
	}
	ws.SetCloseHandler(func(code int, text string) error {
		// Noted before the answer is written: from then on every write fails (ErrCloseSent), and
		// the writer reports the gateway's Close as the cause, not its own failure (which
		// Failover would take for a broken socket and cure, whatever the code).
		s.notePeerClose(&CloseError{Code: protocol.CloseCode(code), Reason: text})
		_ = ws.WriteControl(websocket.CloseMessage, websocket.FormatCloseMessage(code, ""), time.Now().Add(closeAnswerTimeout))
		return nil
	})
	return s, nil
}

// Reconnect moves the connection to a gateway (another one, or the same one again): it opens a
// WebSocket there with the same key and client id, and the gateway calls ws_open again; the
// canister binds the client to it and moves the client's queue along. Recv then goes on with the
// next sequence number: it skips the messages that had already come through the old gateway and
// delivers the rest, so nothing is lost or repeated. Send goes on with its next sequence number
// too; the messages the canister has not confirmed are sent again through the new gateway as
// soon as the canister says (in its next acknowledgement) which of them it has, and Send queues
// behind them until then.
//
// The socket it replaces is closed once a message of ours arrives through the new gateway (not
// before: its gateway would end the client's session); Recv ignores what else comes through it.
// Reconnect may follow any failure of the connection but the canister's end of it
// (*CanisterClosedError) and Close; the canister must still hold the client (a gateway that saw
// its socket end has already ended the session with ws_close). Like Dial, it returns once the
// first message is written; a refusal is reported by Recv. When it fails, the previous socket
// stays in use.
//
// Every first message carries a fresh open nonce, above all earlier ones of the client, and the
// canister refuses one that is not: no gateway can replay an earlier first message to pull the
// client back, and a ws_open of an earlier socket that is late (a Reconnect right after Dial,
// before the first gateway's ws_open went through) is refused rather than undoing the move.
//
// The new socket starts with the gateway's full rate allowance; the canister acknowledges the
// reopened client at once, so the resending does not wait for a heartbeat.
func (c *Conn) Reconnect(ctx context.Context, gateway string) error {
	if err := c.acquire(ctx, c.writeMu); err != nil {
		return fmt.Errorf("client: failed to reconnect: %w", err)
	}
	defer func() { <-c.writeMu }()
	cur, err := c.current()
	if err != nil {
		return fmt.Errorf("client: failed to reconnect: %w", err)
	}
	var cc *CanisterClosedError
	if errors.As(cur.err(), &cc) {
		return fmt.Errorf("client: cannot reconnect: %w", cc)
	}
	since := uint64(c.cfg.Clock().UnixNano())
	s, err := c.open(ctx, gateway)
	if err != nil {
		return err
	}
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		_ = closeSocket(s, websocket.CloseNormalClosure, "", DefaultCloseTimeout)
		return ErrClosed
	}
	old := c.cur
	c.cur = s
	c.retired = append(c.retired, old)
	close(c.moved)
	c.moved = make(chan struct{})
	c.mu.Unlock()
	old.stop()
	// Its writer finishes the frame it is writing (within serviceWriteTimeout), so that written
	// says what went through it.
	<-old.wexited

	c.ackMu.Lock()
	pending := len(c.unacked)
	c.ackMu.Unlock()
	c.resyncSince = since
	c.resyncBy.Store(time.Now().Add(c.cfg.HeartbeatTimeout).UnixNano())
	// A canister without heartbeats (Config.HeartbeatTimeout < 0 says so, until one came) never
	// says which messages it has: what was written through the old gateway is taken as
	// delivered, and Send goes on at once (resending could only be refused as a replay).
	c.resyncing.Store(pending > 0 && (c.heartbeats.Load() || c.cfg.HeartbeatTimeout > 0))
	go c.readLoop(s)
	// Unless a resynchronization waits for the canister's word, the messages whose write failed
	// through the old socket go out now, in order.
	c.startWriter(s)
	if err := c.resubscribeLocked(ctx, s); err != nil {
		c.log.Warn("client: resubscribing after the reconnection failed; Subscribe again", "client", c.clientID, "gateway", gateway, "err", err)
	}
	c.log.Debug("client: reconnected", "client", c.clientID, "from", old.gateway, "to", gateway, "unconfirmed", pending)
	return nil
}
