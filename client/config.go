package client

import (
	"crypto/ed25519"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"slices"
	"time"

	"github.com/gorilla/websocket"

	"github.com/icws/icws/agent"
	"github.com/icws/icws/ic/identity"
	"github.com/icws/icws/ic/principal"
)

// Defaults of Config.
const (
	// DefaultMaxMessageAge is how old a message's timestamp (the IC time at which the canister
	// queued it) may be when it arrives. It bounds how long a gateway can hold a message back.
	// Messages recovered by Reconnect are as old as the outage, so keep it above the time a
	// reconnection takes.
	DefaultMaxMessageAge = 2 * time.Minute
	// DefaultMaxCertificateAge is how old a certificate may be, as the IC agents use.
	DefaultMaxCertificateAge = 5 * time.Minute
	// DefaultMaxClockSkew is how far ahead of the local clock a certificate or a timestamp may be.
	DefaultMaxClockSkew = 30 * time.Second
	// DefaultHeartbeatTimeout is how long Recv waits for a certified message, from the opening of
	// the connection and then from the last one, before it reports Withheld: two heartbeat
	// intervals of the canister library (30 s each) and an allowance for the network.
	DefaultHeartbeatTimeout = 75 * time.Second
	// DefaultAckTimeout is Config.AckTimeout when HeartbeatTimeout is negative: one heartbeat
	// interval of the canister library (30 s). Otherwise the default is 2/5 of HeartbeatTimeout,
	// which is the same 30 s with DefaultHeartbeatTimeout.
	DefaultAckTimeout = 30 * time.Second
	// pongWriteTimeout bounds the write of a pong that answers a gateway's ping.
	pongWriteTimeout = 10 * time.Second
	// closeAnswerTimeout bounds the write of the Close frame that answers a gateway's (gorilla's
	// default).
	closeAnswerTimeout = time.Second
	// DefaultHandshakeTimeout bounds the WebSocket opening handshake when Config.Dialer is nil.
	DefaultHandshakeTimeout = 10 * time.Second
	// DefaultReadBuffer is how many frames read from the socket may wait for Recv.
	DefaultReadBuffer = 256
	// DefaultMaxUnacked is how many sent messages the client keeps until the canister confirms
	// them, to send them again after Reconnect.
	DefaultMaxUnacked = 4096
	// DefaultCloseTimeout bounds how long Close waits for the gateway's answering Close frame.
	DefaultCloseTimeout = 2 * time.Second
)

// Config configures Dial. Gateway, Canister and a way to reach the IC (IC or Agent) are
// required; every other zero field means its default.
type Config struct {
	// Gateway is the WebSocket URL of the gateway, such as "ws://127.0.0.1:8080" or
	// "wss://gateway.example.com/ws". Empty means the first of Gateways.
	Gateway string
	// Gateways lists the gateways the failover policy moves the connection to, in order, after
	// Gateway (which need not be repeated); after the last it goes back to the first. Without
	// Failover they are not used.
	Gateways []string
	// Failover, when set, makes Recv reconnect by itself after an error that reconnecting cures
	// (a gateway that went away or dropped the connection, lost or withheld messages), through
	// the next gateway of Gateways (or Gateway again), and go on; see Failover for which errors,
	// the backoff and how each move is reported. Nil means that Recv returns every error and the
	// caller reconnects (Reconnect) or not.
	Failover *Failover
	// IC is the URL of the IC's HTTP interface, used for ws_register and to read the root key
	// (with FetchRootKey), such as "http://127.0.0.1:4943" or "https://icp-api.io". Ignored
	// when Agent is set.
	IC string
	// Canister is the canister to connect to.
	Canister principal.Principal
	// RootKey is the IC's DER root key that every certificate must chain to; nil means the IC
	// mainnet key, unless FetchRootKey is set.
	RootKey []byte
	// FetchRootKey reads the root key from the IC's /api/v2/status before the first message. It
	// trusts the network path to the IC: anyone on it could substitute a key and forge every
	// message. For a local replica only; refused for the IC's own API hosts.
	FetchRootKey bool
	// Key is the client's Ed25519 key, registered with ws_register and signing every message;
	// nil means a new random key. Keep it only as long as the connection: whoever holds it can
	// speak as this client.
	Key ed25519.PrivateKey
	// Identity signs the ws_register call, so the canister learns who owns the client; nil means
	// the anonymous identity. Ignored when Agent is set.
	Identity identity.Identity
	// Agent, when set, makes the ws_register call and supplies the root key (its Identity, root
	// key and URL are used instead of Identity, RootKey, FetchRootKey and IC).
	Agent *agent.Agent

	// MaxMessageAge is how old a message's timestamp may be; default DefaultMaxMessageAge. An
	// older message fails with Stale.
	MaxMessageAge time.Duration
	// MaxCertificateAge is how old a certificate may be; default DefaultMaxCertificateAge. An
	// older one fails with Stale.
	MaxCertificateAge time.Duration
	// MaxClockSkew is how far in the future a certificate's time or a message's timestamp may
	// be; default DefaultMaxClockSkew. Later ones fail with Future.
	MaxClockSkew time.Duration

	// HeartbeatTimeout is how long Recv waits for any certified message (heartbeats included)
	// before it reports Withheld; default DefaultHeartbeatTimeout, negative to never. It is armed
	// when a socket opens: an icws canister confirms the open with its first heartbeat (at its
	// first timer tick after the client's keep-alive), so a gateway that withholds everything
	// from the start is caught too. A canister that sends no heartbeats (the seed's, or
	// HeartbeatInterval < 0) needs a negative HeartbeatTimeout. It also bounds how long
	// Reconnect's resending waits for the canister's acknowledgement (which an icws canister
	// sends as soon as the client reopens). Keep it above twice the canister's heartbeat
	// interval.
	HeartbeatTimeout time.Duration

	// AckTimeout is the acknowledgement bound: how long after the client wrote a message the
	// canister may still not have it. A certified heartbeat whose IC time is more than
	// AckTimeout after the write (or, for a message written behind others still unconfirmed,
	// after the canister accepted the one before it, the ack_time of the heartbeat that
	// confirmed it: the gateway passes a client's messages to the canister one at a time) and
	// whose acknowledgement does not cover the message makes Recv fail with Withheld: the
	// gateway swallowed it. Default 2/5 of HeartbeatTimeout (DefaultAckTimeout, one heartbeat
	// interval, with the default timeout), so that a swallowed message is reported within
	// AckTimeout and one heartbeat interval of its write; negative to never. Keep it above the time of one IC update call (about 2 s) plus
	// how far the local clock may be behind the IC's: the heartbeat's certified time is compared
	// with the local clock at the write.
	AckTimeout time.Duration

	// SingleFrames asks the gateway for S6 frames only, one per message, as the seed. By default
	// (false) the client asks, at every open, for S9 frames (docs/PROTOCOL.md §13): one frame per
	// poll batch with all of the batch's messages for this client, the certificate and a witness
	// once, every message checked as in an S6 frame. A gateway that does not know S9 (a seed
	// gateway) sends S6 frames, which the client reads either way.
	SingleFrames bool

	// ChannelGrace is how long a subscribed channel may stay behind a head the canister reported
	// (in a certified heartbeat) before Recv reports Withheld (docs/PROTOCOL.md §12.6); default
	// DefaultChannelGrace. Keep it above the gateway's poll interval plus a query's round trip.
	ChannelGrace time.Duration

	// Dialer opens WebSocket connections; nil means a dialer with DefaultHandshakeTimeout and the
	// proxy from the environment.
	Dialer *websocket.Dialer
	// ReadBuffer is how many frames may wait for Recv; default DefaultReadBuffer. When it is
	// full, the client stops reading the socket, and the gateway will close a client that stays
	// behind (CloseTooSlow).
	ReadBuffer int
	// MaxUnacked is how many sent messages are kept until the canister acknowledges them (in its
	// heartbeats, every 30 s by default); default DefaultMaxUnacked. When it is full, Send fails.
	// Until a first heartbeat came (and with canisters that send none), only the latest
	// MaxUnacked are kept.
	MaxUnacked int
	// Clock is the clock that message timestamps and certificate times are checked against; nil
	// means time.Now. Tests pass a controlled clock. It is the same name as replica.Config.Clock
	// and gateway.Config.Clock; timers and deadlines run on the runtime's clock, not on it.
	Clock func() time.Time
	// Logger receives debug logs; nil discards them.
	Logger *slog.Logger
	// Origin, if set, is sent as the Origin header of the WebSocket handshake, as a browser
	// sends its page's origin (scheme://host[:port]). Empty sends none: a program's connection,
	// which gateways accept whatever their origin allow-list. A gateway that does not allow
	// Origin closes the connection with protocol.CloseOriginNotAllowed, which the first Recv
	// returns as a *CloseError whose Reason names the origin.
	Origin string
}

// withDefaults returns c with every zero field replaced by its default, or an error naming a
// setting that cannot work.
func (c Config) withDefaults() (Config, error) {
	if c.Gateway == "" && len(c.Gateways) > 0 {
		c.Gateway = c.Gateways[0]
	}
	if c.Gateway == "" {
		return c, errors.New("missing Config.Gateway (the gateway's ws:// or wss:// URL)")
	}
	if err := checkGatewayURL("Config.Gateway", c.Gateway); err != nil {
		return c, err
	}
	for i, g := range c.Gateways {
		if err := checkGatewayURL(fmt.Sprintf("Config.Gateways[%d]", i), g); err != nil {
			return c, err
		}
	}
	if c.Failover != nil {
		p, err := c.Failover.withDefaults()
		if err != nil {
			return c, err
		}
		c.Failover = &p
	}
	if len(c.Canister.Bytes()) == 0 {
		return c, errors.New("missing Config.Canister")
	}
	if c.Agent == nil && c.IC == "" {
		return c, errors.New("missing Config.IC (the IC's URL is needed for ws_register)")
	}
	if c.Key != nil && len(c.Key) != ed25519.PrivateKeySize {
		return c, fmt.Errorf("invalid Config.Key: %d bytes, want an ed25519.PrivateKey of %d", len(c.Key), ed25519.PrivateKeySize)
	}
	for _, d := range []struct {
		name string
		v    *time.Duration
		def  time.Duration
	}{
		{"MaxMessageAge", &c.MaxMessageAge, DefaultMaxMessageAge},
		{"MaxCertificateAge", &c.MaxCertificateAge, DefaultMaxCertificateAge},
		{"MaxClockSkew", &c.MaxClockSkew, DefaultMaxClockSkew},
	} {
		if *d.v < 0 {
			return c, fmt.Errorf("negative Config.%s (%v)", d.name, *d.v)
		}
		if *d.v == 0 {
			*d.v = d.def
		}
	}
	if c.HeartbeatTimeout == 0 {
		c.HeartbeatTimeout = DefaultHeartbeatTimeout
	}
	if c.AckTimeout == 0 {
		c.AckTimeout = DefaultAckTimeout
		if c.HeartbeatTimeout > 0 {
			c.AckTimeout = c.HeartbeatTimeout * 2 / 5
		}
	}
	if c.ReadBuffer < 0 || c.MaxUnacked < 0 {
		return c, errors.New("negative Config.ReadBuffer or Config.MaxUnacked")
	}
	if c.ReadBuffer == 0 {
		c.ReadBuffer = DefaultReadBuffer
	}
	if c.MaxUnacked == 0 {
		c.MaxUnacked = DefaultMaxUnacked
	}
	if c.Dialer == nil {
		c.Dialer = &websocket.Dialer{
			Proxy:            websocket.DefaultDialer.Proxy,
			HandshakeTimeout: DefaultHandshakeTimeout,
		}
	}
	if c.Clock == nil {
		c.Clock = time.Now
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	if c.Identity == nil {
		c.Identity = identity.Anonymous()
	}
	return c, nil
}

// checkGatewayURL checks that u, the setting name, is a ws:// or wss:// URL with a host.
func checkGatewayURL(name, u string) error {
	p, err := url.Parse(u)
	if err != nil {
		return fmt.Errorf("invalid %s %q: %w", name, u, err)
	}
	if p.Scheme != "ws" && p.Scheme != "wss" || p.Host == "" {
		return fmt.Errorf("invalid %s %q: want ws://host[:port][/path] or wss://…", name, u)
	}
	return nil
}

// gateways is the failover list: Gateway, then the Gateways not equal to it, each once.
func (c *Config) gateways() []string {
	list := []string{c.Gateway}
	for _, g := range c.Gateways {
		if !slices.Contains(list, g) {
			list = append(list, g)
		}
	}
	return list
}
