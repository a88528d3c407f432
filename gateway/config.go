package gateway

import (
	"errors"
	"fmt"
	"log/slog"
	"time"

	"golang.org/x/time/rate"

	"github.com/icws/icws/agent"
	"github.com/icws/icws/ic/identity"
)

// Defaults of Config. A zero field means its default; where a limit can be turned off, a negative
// value does that.
const (
	DefaultPollInterval       = 100 * time.Millisecond
	DefaultPollTimeout        = 10 * time.Second
	DefaultCallTimeout        = 2 * time.Minute
	DefaultHandshakeTimeout   = 10 * time.Second
	DefaultMaxConnections     = 10000
	DefaultMaxConnectionsIP   = 100
	DefaultMaxMessageBytes    = 2 << 20
	DefaultMessageRate        = 20
	DefaultMessageBurst       = 40
	DefaultMaxPendingMessages = 16
	DefaultMaxBadMessages     = 5
	DefaultSendQueueSize      = 256
	DefaultPingInterval       = 20 * time.Second
	DefaultPongTimeout        = 30 * time.Second
	DefaultWriteTimeout       = 10 * time.Second
	DefaultCloseRetryTimeout  = 5 * time.Minute
	DefaultShutdownTimeout    = 10 * time.Second
	DefaultClientKeyCacheSize = 10000
)

// Config configures a Gateway. The zero value of each field is a usable default, stated in its
// comment with what it risks; only the way to reach the IC (Agent, or URL and Identity) is required.
type Config struct {
	// Agent reaches the IC and signs the gateway's calls. Canisters tell gateways apart by the
	// caller principal, so one gateway must use one identity for all its calls, and keep it across
	// restarts (see Identity). When nil, New builds an agent from URL, Identity, RootKey and
	// FetchRootKey.
	Agent *agent.Agent
	// URL is the IC's HTTP interface, such as "https://icp-api.io" or "http://127.0.0.1:4943".
	// Used only when Agent is nil.
	URL string
	// Identity is the gateway's identity. Required when Agent is nil; it must not be anonymous
	// (every gateway would share the anonymous principal and each other's message queues).
	Identity identity.Identity
	// RootKey is the IC's DER root key; nil means the mainnet key. Used only when Agent is nil.
	RootKey []byte
	// FetchRootKey reads the root key from the replica (local replicas only; it trusts the
	// network path). Used only when Agent is nil.
	FetchRootKey bool

	// PollInterval is the wait between two polls of a canister whose last batch was not full;
	// default 100ms. Shorter lowers latency and raises query load on the IC.
	PollInterval time.Duration
	// PollTimeout bounds one ws_get_messages query; default 10s. A timed-out poll is retried with
	// backoff and the cursor does not move.
	PollTimeout time.Duration
	// CallTimeout bounds one update call (ws_open, ws_message, ws_close) including the agent's
	// polling for its result; default 2m. Mainnet updates take about 2s; a call that runs out of
	// time has an unknown outcome.
	CallTimeout time.Duration
	// HandshakeTimeout bounds the wait for a connection's first frame and, separately, the checks
	// and the ws_open call that follow; default 10s (the wait) and CallTimeout (the call).
	// Longer lets idle sockets hold connection slots.
	HandshakeTimeout time.Duration

	// MaxConnections caps open WebSocket connections; default 10000, negative for no cap. Each
	// idle connection costs roughly 20 KiB.
	MaxConnections int
	// MaxConnectionsPerIP caps open connections from one IP address; default 100, negative for
	// no cap. Behind a reverse proxy every client has the proxy's address (proxy headers are not
	// trusted), so raise it or turn it off there.
	MaxConnectionsPerIP int
	// MaxMessageBytes caps a frame from a client; default 2 MiB, near the IC's ingress message
	// limit. A larger frame closes the connection with 1009.
	MaxMessageBytes int64
	// MessageRate and MessageBurst limit the frames one connection may send: a token bucket of
	// MessageBurst tokens refilled at MessageRate per second; defaults 20/s and 40. A client over
	// the limit is closed with CloseRateLimited. A negative MessageRate turns the limit off, and
	// leaves every client free to make the gateway send update calls as fast as it can.
	MessageRate  rate.Limit
	MessageBurst int
	// MaxPendingMessages is how many frames of one client may wait for ws_message; default 16.
	// Frames are passed to the canister one at a time, in order; a client more than this many
	// frames (or more than twice MaxMessageBytes) ahead is closed with CloseRateLimited.
	MaxPendingMessages int
	// MaxBadMessages is how many frames an open client may send that are malformed or that the
	// canister refuses before it is closed with CloseTooManyBadMessages; default 5.
	MaxBadMessages int

	// SendQueueSize is how many messages may wait to be written to one client; default 256. A
	// client whose queue is full is closed with CloseTooSlow, never skipped. Keep it above the
	// canister's batch size (50 by default): one poll may bring a whole batch for one client.
	// Larger tolerates slower readers and costs memory only while messages wait.
	SendQueueSize int
	// PingInterval is how often a ping is sent to an idle client; default 20s.
	PingInterval time.Duration
	// PongTimeout is how long a client may take to answer a ping; default 30s. A client from
	// which nothing (a pong included) arrives for PingInterval + PongTimeout is considered dead:
	// its socket is closed and ws_close is called. Shorter frees dead connections sooner and
	// drops clients on slow networks.
	PongTimeout time.Duration
	// WriteTimeout bounds each write to a client; default 10s. A client that cannot take a frame
	// in that time is closed.
	WriteTimeout time.Duration
	// AllowedOrigins lists the web origins (scheme://host[:port], see NormalizeOrigin) whose
	// pages may open WebSockets; "*" allows every origin. Empty allows none but the gateway's own
	// host (same-origin pages). Requests without an Origin header (programs, not browsers) are
	// always allowed. A page of any other origin gets its WebSocket closed at once with
	// protocol.CloseOriginNotAllowed and a reason naming its origin, and the refusal is logged
	// at warn level. Allowing every origin lets any website use this gateway's capacity.
	AllowedOrigins []string

	// CloseRetryTimeout bounds how long ws_close is retried after a connection ends; default 5m.
	// When it runs out the failure is logged at error level with the client id; the canister
	// then keeps the client until its own expiry.
	CloseRetryTimeout time.Duration
	// ShutdownTimeout bounds Shutdown; default 10s. ws_close calls still failing at the end are
	// abandoned (and logged).
	ShutdownTimeout time.Duration
	// ClientKeyCacheSize caps the cache of client keys read with ws_get_client_key; default 10000.
	ClientKeyCacheSize int

	// Clock gives the time of day the gateway reads: the start of each IC call and poll (for
	// their latency metrics and the poll interval), the time of the IC failure the readiness
	// endpoint reports, the rate of repeated poll-failure logs, and the local clock of the agent
	// New builds (certificate freshness, ingress expiry); nil means time.Now. Timers and socket
	// deadlines run on the runtime's clock instead (testing/synctest fakes that one), so a Clock
	// that is not time.Now moves what the gateway reports and checks, never when it acts.
	Clock func() time.Time

	// Logger receives the gateway's logs; nil means slog.Default().
	Logger *slog.Logger
}

// withDefaults returns c with every zero field replaced by its default.
func (c Config) withDefaults() Config {
	dur := func(d *time.Duration, def time.Duration) {
		if *d == 0 {
			*d = def
		}
	}
	num := func(n *int, def int) {
		if *n == 0 {
			*n = def
		}
	}
	dur(&c.PollInterval, DefaultPollInterval)
	dur(&c.PollTimeout, DefaultPollTimeout)
	dur(&c.CallTimeout, DefaultCallTimeout)
	dur(&c.HandshakeTimeout, DefaultHandshakeTimeout)
	dur(&c.PingInterval, DefaultPingInterval)
	dur(&c.PongTimeout, DefaultPongTimeout)
	dur(&c.WriteTimeout, DefaultWriteTimeout)
	dur(&c.CloseRetryTimeout, DefaultCloseRetryTimeout)
	dur(&c.ShutdownTimeout, DefaultShutdownTimeout)
	num(&c.MaxConnections, DefaultMaxConnections)
	num(&c.MaxConnectionsPerIP, DefaultMaxConnectionsIP)
	num(&c.MessageBurst, DefaultMessageBurst)
	num(&c.MaxPendingMessages, DefaultMaxPendingMessages)
	num(&c.MaxBadMessages, DefaultMaxBadMessages)
	num(&c.SendQueueSize, DefaultSendQueueSize)
	num(&c.ClientKeyCacheSize, DefaultClientKeyCacheSize)
	if c.MaxMessageBytes == 0 {
		c.MaxMessageBytes = DefaultMaxMessageBytes
	}
	if c.MessageRate == 0 {
		c.MessageRate = DefaultMessageRate
	}
	if c.MessageRate < 0 {
		c.MessageRate = rate.Inf
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	if c.Clock == nil {
		c.Clock = time.Now
	}
	return c
}

// validate reports a setting that cannot work.
func (c *Config) validate() error {
	for _, d := range []struct {
		name string
		v    time.Duration
	}{
		{"PollInterval", c.PollInterval}, {"PollTimeout", c.PollTimeout}, {"CallTimeout", c.CallTimeout},
		{"HandshakeTimeout", c.HandshakeTimeout}, {"PingInterval", c.PingInterval},
		{"PongTimeout", c.PongTimeout}, {"WriteTimeout", c.WriteTimeout},
		{"CloseRetryTimeout", c.CloseRetryTimeout}, {"ShutdownTimeout", c.ShutdownTimeout},
	} {
		if d.v < 0 {
			return fmt.Errorf("gateway: Config.%s is negative (%v)", d.name, d.v)
		}
	}
	for _, n := range []struct {
		name string
		v    int
	}{
		{"MessageBurst", c.MessageBurst}, {"MaxPendingMessages", c.MaxPendingMessages},
		{"MaxBadMessages", c.MaxBadMessages}, {"SendQueueSize", c.SendQueueSize},
		{"ClientKeyCacheSize", c.ClientKeyCacheSize},
	} {
		if n.v < 0 {
			return fmt.Errorf("gateway: Config.%s is negative (%d)", n.name, n.v)
		}
	}
	if c.MaxMessageBytes < 0 {
		return errors.New("gateway: Config.MaxMessageBytes is negative")
	}
	return nil
}
