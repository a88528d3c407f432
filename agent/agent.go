// Package agent is a Go client of the Internet Computer's HTTP interface: it sends update calls,
// queries and read_state requests to a replica or to the IC's boundary nodes, and it verifies every
// answer before using it.
//
// An update call's result is read from a certificate signed by the subnet (BLS, with the
// delegation, canister ranges and time checked by package certificate); a query's result is
// accepted only with valid signatures of nodes of the canister's subnet, whose keys the agent
// reads from a certified /subnet subtree and caches. A response that fails any check is refused
// with an error wrapping ErrUntrusted; it is never partially used.
//
// The agent works in bytes (CallRaw, QueryRaw) or in Candid (Call, Query):
//
//	a, err := agent.New(agent.Config{URL: "http://127.0.0.1:4943", FetchRootKey: true})
//	var greeting string
//	err = a.Call(ctx, canister, "greet", "world", &greeting)
//
// An Agent is safe for use by many goroutines at once. It holds one pooled HTTP client; a call
// starts no goroutine, so nothing outlives it.
//
// # Root key
//
// Certificates chain up to the IC's root key. The mainnet key is built in and used by default.
// A local replica has its own key; pass it in Config.RootKey, or set Config.FetchRootKey to read
// it from the replica's /api/v2/status. Fetching trusts whoever answers that request: anyone
// between the agent and the replica could then forge every answer. Use it for a replica on the
// same machine or network only; New refuses it for the IC's own API hosts.
//
// # Time
//
// Requests carry an ingress expiry (Config.IngressExpiry ahead of the local clock). When the IC
// refuses an expiry because the local clock is off, the agent reads the IC's certified /time,
// keeps the difference as an offset for later expiries, and retries once. Certificates and query
// signatures are still checked for freshness against the local clock: an agent whose clock is far
// off refuses answers rather than trusting replayed ones.
package agent

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"strings"
	"sync/atomic"
	"time"

	"github.com/icws/icws/ic/certificate"
	"github.com/icws/icws/ic/identity"
	"github.com/icws/icws/ic/principal"
)

// Defaults of Config.
const (
	// DefaultIngressExpiry is how far ahead of now requests expire. The IC accepts at most five
	// minutes (plus 30 s of drift).
	DefaultIngressExpiry = 4 * time.Minute
	// DefaultMaxCertificateAge is the greatest age of a certificate or a query signature the agent
	// accepts, and how far in the future their time may be.
	DefaultMaxCertificateAge = 5 * time.Minute
	// DefaultRequestTimeout bounds one HTTP exchange. The IC holds a synchronous call for about
	// ten seconds before it answers 202 and lets the agent poll.
	DefaultRequestTimeout = 30 * time.Second
	// DefaultPollInterval is the first wait between two polls of a call's status.
	DefaultPollInterval = 50 * time.Millisecond
	// DefaultMaxPollInterval is the longest wait between two polls.
	DefaultMaxPollInterval = time.Second
	// nodeKeyTTL is how long the node keys of a subnet are cached.
	nodeKeyTTL = 5 * time.Minute
	// maxIngressExpiry is the most the IC accepts ahead of its clock, less a margin.
	maxIngressExpiry = 5 * time.Minute
)

// Config configures an Agent. Only URL is required.
type Config struct {
	// URL is the base URL of the IC HTTP interface, such as "https://icp-api.io" or
	// "http://127.0.0.1:4943". Paths like /api/v2/status are appended to it.
	URL string
	// Identity signs the requests; nil means the anonymous identity.
	Identity identity.Identity
	// RootKey is the DER-encoded BLS root key (133 bytes) that certificates must chain to; nil
	// means the IC mainnet key (certificate.MainnetRootKey). Use the replica's key for a local
	// replica.
	RootKey []byte
	// FetchRootKey makes the agent read the root key from URL's /api/v2/status, once, before the
	// first request that needs it (or when FetchRootKey is called). This trusts the network path
	// to the replica (a man in the middle could substitute its own key); use it for local
	// replicas only. It is refused for the IC's API hosts (icp-api.io, icp0.io, ic0.app), which
	// always use the built-in mainnet key, and cannot be combined with RootKey.
	FetchRootKey bool
	// IngressExpiry is how far ahead of now requests expire; 0 means DefaultIngressExpiry. It
	// bounds how long the agent polls for a call whose status the IC does not know yet. At most
	// five minutes.
	IngressExpiry time.Duration
	// MaxCertificateAge is the greatest age of certificates and query signatures, and how far in
	// the future they may be dated; 0 means DefaultMaxCertificateAge.
	MaxCertificateAge time.Duration
	// HTTPClient sends the requests; nil means one pooled client made for the agent (up to 512
	// idle connections per host). Its Timeout, if any, applies on top of RequestTimeout.
	HTTPClient *http.Client
	// RequestTimeout bounds each HTTP exchange; 0 means DefaultRequestTimeout. The context of a
	// method bounds the whole operation, including polls and retries.
	RequestTimeout time.Duration
	// DisableQuerySignatureCheck turns off the verification of query responses' node signatures.
	// Query results are then only as trustworthy as the network path and the one node that
	// answered. Leave it false unless the replica cannot sign queries.
	DisableQuerySignatureCheck bool
	// PollInterval is the first wait between polls of a call's status; 0 means
	// DefaultPollInterval. Each wait is 1.5 times the previous one, up to MaxPollInterval.
	PollInterval time.Duration
	// MaxPollInterval caps the wait between polls; 0 means DefaultMaxPollInterval.
	MaxPollInterval time.Duration
	// Clock is the local clock; nil means time.Now. Tests pass a fixed clock.
	Clock func() time.Time
	// Logger receives debug and warning messages; nil discards them.
	Logger *slog.Logger
}

// Agent sends requests to the IC and verifies the answers. Create it with New; it is safe for
// concurrent use.
type Agent struct {
	base           string // URL without a trailing slash
	local          bool   // URL's host is a loopback address or "localhost"
	id             identity.Identity
	sender         principal.Principal
	http           *http.Client
	now            func() time.Time
	log            *slog.Logger
	ingressExpiry  time.Duration
	maxCertAge     time.Duration
	requestTimeout time.Duration
	pollInterval   time.Duration
	maxPoll        time.Duration
	verifyQueries  bool
	fetchRootKey   bool

	// trustSem lets one goroutine at a time fetch the root key; trust is set once, then only
	// read.
	trustSem chan struct{}
	trust    atomic.Pointer[trust]
	// skew is the IC's clock minus the local clock, in nanoseconds, as last measured from a
	// certified /time; it shifts ingress expiries only.
	skew atomic.Int64
	// skewGen counts measurements of skew; syncSem lets one goroutine measure at a time.
	skewGen atomic.Uint64
	syncSem chan struct{}
	// noV3 is set once the replica answered 404 to a /api/v3 call; calls then use /api/v2.
	noV3 atomic.Bool
	// keys caches the node keys used to verify query signatures.
	keys nodeKeyCache
}

// trust is what certificates are verified against. It never changes once built.
type trust struct {
	rootKey    []byte
	mainnet    bool                  // rootKey is the built-in mainnet key
	verifier   *certificate.Verifier // full verification, freshness included
	timeless   *certificate.Verifier // without the freshness check, to measure clock skew
	rootSubnet principal.Principal   // self-authenticating id of rootKey: the root subnet's id
}

// mainnetHosts are the IC's own API hosts, for which fetching the root key is refused. It is the
// one list of them in the Go code: others ask IsMainnetHost.
var mainnetHosts = [...]string{"icp-api.io", "icp0.io", "ic0.app"}

// IsMainnetHost reports whether host (a host name without port, any case) is one of the IC
// mainnet's API hosts (icp-api.io, icp0.io, ic0.app) or a subdomain of one: hosts whose root key
// is built in and must never be fetched.
// MainnetHosts returns the IC mainnet's API hosts that IsMainnetHost matches (a copy). The
// browser client's list (web/src/mainnet.js) is checked against it by web's TestMainnetHosts.
func MainnetHosts() []string { return append([]string(nil), mainnetHosts[:]...) }

func IsMainnetHost(host string) bool {
	host = strings.ToLower(host)
	for _, h := range mainnetHosts {
		if host == h || strings.HasSuffix(host, "."+h) {
			return true
		}
	}
	return false
}

// New returns an agent for cfg. It does no I/O: with FetchRootKey, the root key is read by the
// first request that needs it, or by FetchRootKey.
func New(cfg Config) (*Agent, error) {
	u, err := url.Parse(cfg.URL)
	if err != nil {
		return nil, fmt.Errorf("agent: invalid Config.URL %q: %w", cfg.URL, err)
	}
	if u.Scheme != "http" && u.Scheme != "https" || u.Host == "" {
		return nil, fmt.Errorf("agent: invalid Config.URL %q: want http://host[:port] or https://host", cfg.URL)
	}
	if u.RawQuery != "" || u.Fragment != "" {
		return nil, fmt.Errorf("agent: invalid Config.URL %q: no query or fragment allowed", cfg.URL)
	}
	host := strings.ToLower(u.Hostname())
	a := &Agent{
		base:           strings.TrimRight(u.String(), "/"),
		local:          isLocalHost(host),
		id:             cfg.Identity,
		http:           cfg.HTTPClient,
		now:            cfg.Clock,
		log:            cfg.Logger,
		ingressExpiry:  orDefault(cfg.IngressExpiry, DefaultIngressExpiry),
		maxCertAge:     orDefault(cfg.MaxCertificateAge, DefaultMaxCertificateAge),
		requestTimeout: orDefault(cfg.RequestTimeout, DefaultRequestTimeout),
		pollInterval:   orDefault(cfg.PollInterval, DefaultPollInterval),
		maxPoll:        orDefault(cfg.MaxPollInterval, DefaultMaxPollInterval),
		verifyQueries:  !cfg.DisableQuerySignatureCheck,
		fetchRootKey:   cfg.FetchRootKey,
		syncSem:        make(chan struct{}, 1),
		trustSem:       make(chan struct{}, 1),
	}
	if a.ingressExpiry < 0 || a.ingressExpiry > maxIngressExpiry {
		return nil, fmt.Errorf("agent: Config.IngressExpiry %v is outside (0, %v]", cfg.IngressExpiry, maxIngressExpiry)
	}
	if a.maxCertAge < 0 || a.requestTimeout < 0 || a.pollInterval < 0 || a.maxPoll < 0 {
		return nil, errors.New("agent: Config durations must not be negative")
	}
	if a.maxPoll < a.pollInterval {
		a.maxPoll = a.pollInterval
	}
	if a.id == nil {
		a.id = identity.Anonymous()
	}
	a.sender = a.id.Sender()
	if a.http == nil {
		a.http = defaultHTTPClient()
	}
	if a.now == nil {
		a.now = time.Now
	}
	if a.log == nil {
		a.log = slog.New(slog.DiscardHandler)
	}
	switch {
	case cfg.FetchRootKey && cfg.RootKey != nil:
		return nil, errors.New("agent: Config.FetchRootKey and Config.RootKey exclude each other")
	case cfg.FetchRootKey:
		if IsMainnetHost(host) {
			return nil, fmt.Errorf("agent: Config.FetchRootKey is refused for %s: it is an IC mainnet host, whose root key is built in (leave FetchRootKey and RootKey unset)", host)
		}
		if !a.local {
			a.log.Warn("agent: the root key will be fetched from a non-local host; a man in the middle could forge every answer", "url", a.base)
		}
	default:
		key := cfg.RootKey
		mainnet := key == nil
		if mainnet {
			key = certificate.MainnetRootKey()
		}
		t, err := a.newTrust(key, mainnet)
		if err != nil {
			return nil, fmt.Errorf("agent: Config.RootKey: %w", err)
		}
		a.trust.Store(t)
	}
	return a, nil
}

func orDefault(d, def time.Duration) time.Duration {
	if d == 0 {
		return def
	}
	return d
}

func isLocalHost(host string) bool {
	if host == "localhost" || strings.HasSuffix(host, ".localhost") {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// newTrust builds the verifiers for a root key.
func (a *Agent) newTrust(rootKey []byte, mainnet bool) (*trust, error) {
	key := append([]byte(nil), rootKey...)
	v, err := certificate.NewVerifier(certificate.VerifierConfig{RootKey: key, MaxAge: a.maxCertAge, MaxFutureSkew: a.maxCertAge, Clock: a.now})
	if err != nil {
		return nil, err
	}
	tl, err := certificate.NewVerifier(certificate.VerifierConfig{RootKey: key, MaxAge: -1, Clock: a.now})
	if err != nil {
		return nil, err
	}
	return &trust{rootKey: key, mainnet: mainnet, verifier: v, timeless: tl, rootSubnet: principal.SelfAuthenticating(key)}, nil
}

// getTrust returns the root key and verifiers, fetching the root key first if Config.FetchRootKey
// is set and it was not fetched yet.
func (a *Agent) getTrust(ctx context.Context) (*trust, error) {
	if t := a.trust.Load(); t != nil {
		return t, nil
	}
	select {
	case a.trustSem <- struct{}{}:
	case <-ctx.Done():
		return nil, context.Cause(ctx)
	}
	defer func() { <-a.trustSem }()
	if t := a.trust.Load(); t != nil {
		return t, nil
	}
	st, err := a.Status(ctx)
	if err != nil {
		return nil, fmt.Errorf("%w from %s/api/v2/status: %w", ErrRootKeyNotFetched, a.base, err)
	}
	if len(st.RootKey) == 0 {
		return nil, fmt.Errorf("%w: %s/api/v2/status has no root_key (a mainnet node? then leave FetchRootKey unset)", ErrRootKeyNotFetched, a.base)
	}
	t, err := a.newTrust(st.RootKey, false)
	if err != nil {
		return nil, fmt.Errorf("%w: the root_key of %s/api/v2/status is unusable: %w", ErrRootKeyNotFetched, a.base, err)
	}
	a.trust.Store(t)
	a.log.InfoContext(ctx, "agent: fetched the root key", "url", a.base, "root_subnet", t.rootSubnet.String())
	return t, nil
}

// FetchRootKey returns the root key the agent verifies certificates against, reading it from the
// replica's /api/v2/status first if Config.FetchRootKey is set and it was not read yet.
func (a *Agent) FetchRootKey(ctx context.Context) ([]byte, error) {
	t, err := a.getTrust(ctx)
	if err != nil {
		return nil, err
	}
	return append([]byte(nil), t.rootKey...), nil
}

// RootKey returns the DER root key in use, or nil if Config.FetchRootKey is set and the key was
// not fetched yet.
func (a *Agent) RootKey() []byte {
	t := a.trust.Load()
	if t == nil {
		return nil
	}
	return append([]byte(nil), t.rootKey...)
}

// Sender returns the principal the agent's requests are sent as.
func (a *Agent) Sender() principal.Principal { return a.sender }

// CloseIdleConnections closes the idle connections of the agent's HTTP client. The agent stays
// usable; call it when done with the agent, so that no connection goroutine outlives it.
func (a *Agent) CloseIdleConnections() { a.http.CloseIdleConnections() }

// URL returns the base URL the agent talks to.
func (a *Agent) URL() string { return a.base }

// ClockSkew returns the IC's clock minus the local clock, as last measured by the agent (zero
// until a measurement was needed).
func (a *Agent) ClockSkew() time.Duration { return time.Duration(a.skew.Load()) }

// ingressExpiryNanos returns the ingress_expiry for a request made now: the local clock, shifted
// by the measured skew, plus Config.IngressExpiry, rounded down to a whole second.
func (a *Agent) ingressExpiryNanos() uint64 {
	t := a.now().Add(time.Duration(a.skew.Load()) + a.ingressExpiry)
	return uint64(t.Truncate(time.Second).UnixNano())
}
