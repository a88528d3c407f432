package websocket

import (
	"time"

	"github.com/icws/icws/cdk"
	"github.com/icws/icws/protocol"
	"github.com/icws/icws/protocol/omnia"
)

// Defaults of Config.
const (
	DefaultMaxQueuePerGateway = 10000
	DefaultMessageTTL         = 5 * time.Minute
	DefaultMaxBatch           = 50
	DefaultMaxBatchBytes      = 2 << 20
	DefaultMaxPayload         = 1 << 20
	DefaultMaxClients         = 100000
	DefaultRegistrationTTL    = 5 * time.Minute
	DefaultHeartbeatInterval  = 30 * time.Second
	DefaultIdleTimeout        = 90 * time.Second
	DefaultTickInterval       = 10 * time.Second
	DefaultAckInterval        = protocol.AckInterval
	DefaultDetachGrace        = 5 * time.Minute
)

// Protocol constants that clients and gateways rely on.
const (
	// Label is the label of the certified map in the canister's certified data:
	// certified_data = labeled_hash("websocket", root hash of the map).
	Label = "websocket"
	// FirstClientID is the first client id ws_register returns (then 17, 18, …), as the seed.
	FirstClientID = 16
	// FirstNonce is the nonce of the first message key of the first gateway, as the seed. Each
	// gateway's keys are consecutive; a gateway that appears later starts above every nonce ever
	// used, so a gateway never sees a nonce twice.
	FirstNonce = 16
	// FirstOmniaNonce is FirstNonce in ProtocolOmnia, ic-websocket-cdk's: the first key is
	// `<gateway>_00000000000000000000`. A gateway that appears later starts above every nonce
	// ever used, as in the seed protocol.
	FirstOmniaNonce = 0
)

// Protocol is the wire protocol a Server speaks; one per canister.
type Protocol uint8

// Protocols.
const (
	// ProtocolSeed is the seed protocol of docs/PROTOCOL.md: ws_register, Ed25519 client keys,
	// client ids. The zero value.
	ProtocolSeed Protocol = iota
	// ProtocolOmnia is the production IC WebSocket protocol (package protocol/omnia): the
	// interface of an ic-websocket-cdk 0.4 canister, for ic-websocket-js 0.5 clients and any
	// gateway. Clients are IC principals; each connection still gets a client id for the
	// callbacks, Send and Close (see Server.ClientOf and Server.ClientKey).
	ProtocolOmnia
)

// Defaults of Config that differ in ProtocolOmnia: ic-websocket-cdk 0.4's.
const (
	// DefaultOmniaAckInterval is HeartbeatInterval's default in ProtocolOmnia, the CDK's
	// send_ack_interval_ms; ic-websocket-js's ackMessageIntervalMs must equal it.
	DefaultOmniaAckInterval = omnia.DefaultAckInterval
	// DefaultOmniaKeepAliveTimeout is IdleTimeout's default in ProtocolOmnia.
	DefaultOmniaKeepAliveTimeout = omnia.KeepAliveTimeout
	// DefaultOmniaAppMessage is AppMessage's default.
	DefaultOmniaAppMessage = "blob"
)

// Config configures a Server. Zero fields take the defaults above.
type Config struct {
	// Protocol is the protocol the server speaks; the zero value is the seed's.
	Protocol Protocol
	// AppMessage is, in ProtocolOmnia, the Candid type of the application's messages, which the
	// canister's interface publishes as the second argument of ws_message (ic-websocket-js
	// clients take it from the IDL generated from it), e.g. `record { text : text; timestamp :
	// nat64 }`. Payloads are that type's Candid, encoded and decoded by the application.
	AppMessage string

	// OnOpen runs in ws_open when a client opens for the first time (not when it reconnects
	// through another gateway). The client is open: Send works.
	OnOpen func(ic cdk.System, client uint64)
	// OnMessage runs for every application message a client sends, in sequence order, once. The
	// payload aliases the call's argument; copy it to keep it.
	OnMessage func(ic cdk.System, client uint64, payload []byte)
	// OnClose runs after an open client was closed, for any reason (its owner called ws_close,
	// the application called Close, its session, keep-alive or detach grace expired, or its
	// gateway called ws_close with detaching off). The client is gone: Send to it fails.
	OnClose func(ic cdk.System, client uint64)
	// OnTick runs at the end of each timer tick (every TickInterval while there are clients or
	// messages). The library owns the canister's global timer; use this for periodic work.
	OnTick func(ic cdk.System)

	// MaxQueuePerGateway bounds the messages kept for one gateway; when it is full, the oldest is
	// dropped (counted in Stats.DroppedOverflow).
	MaxQueuePerGateway int
	// MessageTTL is how long a queued message is kept: an older one is deleted, two per new
	// message (the seed's rule) and all of them at each tick (counted in Stats.DroppedExpired).
	MessageTTL time.Duration
	// MaxBatch is the most messages one ws_get_messages returns.
	MaxBatch int
	// MaxBatchBytes bounds the sum of the message sizes of one ws_get_messages batch (a batch
	// always holds at least one message), so replies stay under the IC's response limit.
	MaxBatchBytes int
	// MaxPayload is the largest payload Send accepts.
	MaxPayload int
	// MaxClients bounds the registered clients; ws_register traps beyond it.
	MaxClients int
	// RegistrationTTL is how long a registration that was never opened is kept.
	RegistrationTTL time.Duration
	// SessionTTL, if positive, closes every client that long after it registered, so that a
	// connection does not outlive the authentication behind its registration. Zero means never.
	SessionTTL time.Duration
	// HeartbeatInterval is the period of the heartbeats (service messages carrying the canister's
	// acknowledgement) sent to clients that asked for them by sending a keep-alive. Negative
	// disables heartbeats, every other acknowledgement (AckInterval, and the one a reopened
	// client gets at once) and keep-alive timeouts.
	//
	// In ProtocolOmnia it is the period of the AckMessage every open client gets
	// (DefaultOmniaAckInterval, 300 s); negative disables them and keep-alive timeouts.
	// IdleTimeout is then the time after an AckMessage within which the client's
	// KeepAliveMessage must arrive, or it is closed with KeepAliveTimeout
	// (DefaultOmniaKeepAliveTimeout, 60 s), counted from the first ack it left unanswered.
	// AckInterval and SessionTTL do not apply.
	HeartbeatInterval time.Duration
	// IdleTimeout closes a client that sent keep-alives before but has sent nothing for this
	// long. Clients that never sent a keep-alive (the seed's) are not timed out.
	IdleTimeout time.Duration
	// TickInterval is the period of the timer that collects garbage, expires registrations and
	// sessions and sends heartbeats.
	TickInterval time.Duration
	// AckInterval is how many messages a client that gets heartbeats may send before the
	// canister acknowledges them with a service message of its own, between heartbeats; clients
	// need these acknowledgements to pace their sending (protocol.MaxPendingFrames). Negative
	// turns them off (clients then fall back to a slow pace); so does disabling heartbeats.
	AckInterval int
	// DetachGrace is how long a client stays open after its gateway called ws_close (the
	// connection ended: the gateway stopped, restarted or lost the client): the client is
	// detached, its queue is kept (and Sends go on filling it, within MaxQueuePerGateway and
	// MessageTTL), and a ws_open through any gateway within the grace reattaches it with nothing
	// lost. When the grace passes, the client is closed and its queue deleted (Stats.DetachExpired,
	// DroppedClosed). Its owner's ws_close still ends it at once. Negative: the gateway's ws_close
	// closes the client at once and deletes its queue (the seed's behaviour).
	DetachGrace time.Duration

	// Channels configures certified channels (Server.Publish; docs/PROTOCOL.md §12).
	Channels ChannelConfig
}

func (c Config) withDefaults() Config {
	setInt := func(p *int, d int) {
		if *p <= 0 {
			*p = d
		}
	}
	setDur := func(p *time.Duration, d time.Duration) {
		if *p == 0 {
			*p = d
		}
	}
	setInt(&c.MaxQueuePerGateway, DefaultMaxQueuePerGateway)
	setInt(&c.MaxBatch, DefaultMaxBatch)
	setInt(&c.MaxBatchBytes, DefaultMaxBatchBytes)
	setInt(&c.MaxPayload, DefaultMaxPayload)
	setInt(&c.MaxClients, DefaultMaxClients)
	if c.AckInterval == 0 {
		c.AckInterval = DefaultAckInterval
	}
	setDur(&c.MessageTTL, DefaultMessageTTL)
	setDur(&c.RegistrationTTL, DefaultRegistrationTTL)
	if c.Protocol == ProtocolOmnia {
		setDur(&c.HeartbeatInterval, DefaultOmniaAckInterval)
		setDur(&c.IdleTimeout, DefaultOmniaKeepAliveTimeout)
		if c.AppMessage == "" {
			c.AppMessage = DefaultOmniaAppMessage
		}
	}
	setDur(&c.HeartbeatInterval, DefaultHeartbeatInterval)
	setDur(&c.IdleTimeout, DefaultIdleTimeout)
	setDur(&c.TickInterval, DefaultTickInterval)
	setDur(&c.DetachGrace, DefaultDetachGrace)
	setInt(&c.Channels.Retention, DefaultChannelRetention)
	setInt(&c.Channels.MaxBatch, DefaultMaxChannelBatch)
	setDur(&c.Channels.TTL, c.MessageTTL)
	return c
}

func ns(d time.Duration) uint64 {
	if d <= 0 {
		return 0
	}
	return uint64(d)
}
