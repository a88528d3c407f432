package gateway

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gorilla/websocket"
	"golang.org/x/time/rate"

	"github.com/icws/icws/agent"
	"github.com/icws/icws/ic/principal"
	"github.com/icws/icws/protocol"
)

// ErrShutdown is returned by Shutdown when it had to abandon connections or ws_close calls
// because its deadline passed; it wraps the context's error.
var ErrShutdown = errors.New("gateway: shutdown incomplete")

// Gateway relays WebSockets between clients and canisters. Create it with New, serve it with
// ServeHTTP (or Handler), and stop it with Shutdown. It is safe for concurrent use.
type Gateway struct {
	// Static after New.
	cfg           Config
	api           canisterAPI
	oapi          omniaAPI // nil if api cannot relay signed calls (the poller's unit tests' fake)
	principal     principal.Principal
	principalText string
	log           *slog.Logger
	upgrader      websocket.Upgrader
	corkPool      *sync.Pool // of *[]byte: the buffers corkConn gathers a writer's frames in
	scratchPool   *sync.Pool // of *[]byte: the buffers writers build frames in (writer.go)
	origins       *originChecker
	limiter       *connLimiter
	keys          *keyCache
	m             metrics

	// hardCtx bounds every IC call; it is canceled when Shutdown gives up waiting.
	hardCtx    context.Context
	hardCancel context.CancelFunc

	// active counts connection handlers, pollers and ws_message callers.
	active sync.WaitGroup

	mu       sync.Mutex
	closing  bool                          // guarded by mu; Shutdown has begun
	conns    map[*conn]struct{}            // guarded by mu
	hubs     map[hubKey]*hub               // guarded by mu
	nextConn uint64                        // guarded by mu
	icFails  atomic.Int32                  // consecutive IC transport failures, for /readyz
	lastErr  atomic.Pointer[errorSnapshot] // the last IC transport failure
}

type errorSnapshot struct {
	err  error
	when time.Time
}

// New returns a gateway for cfg. It does no I/O; the first IC call happens with the first client.
func New(cfg Config) (*Gateway, error) {
	cfg = cfg.withDefaults()
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	a := cfg.Agent
	if a == nil {
		if cfg.Identity == nil {
			return nil, errors.New("gateway: Config.Identity is required when Config.Agent is nil")
		}
		var err error
		a, err = agent.New(agent.Config{
			URL:          cfg.URL,
			Identity:     cfg.Identity,
			RootKey:      cfg.RootKey,
			FetchRootKey: cfg.FetchRootKey,
			Logger:       cfg.Logger,
			Clock:        cfg.Clock,
		})
		if err != nil {
			return nil, fmt.Errorf("gateway: %w", err)
		}
	}
	return newGateway(cfg, agentAPI{a}, a.Sender())
}

// newGateway builds a gateway on any canisterAPI; cfg has its defaults.
func newGateway(cfg Config, api canisterAPI, p principal.Principal) (*Gateway, error) {
	if p.IsAnonymous() || p.Len() == 0 {
		return nil, fmt.Errorf("gateway: the gateway's identity must not be anonymous (principal %s): canisters tell gateways apart by principal", p)
	}
	origins, err := newOriginChecker(cfg.AllowedOrigins)
	if err != nil {
		return nil, err
	}
	g := &Gateway{
		cfg:           cfg,
		api:           api,
		principal:     p,
		principalText: p.String(),
		log:           cfg.Logger.With("gateway", p.String()),
		origins:       origins,
		limiter:       newConnLimiter(cfg.MaxConnections, cfg.MaxConnectionsPerIP),
		keys:          newKeyCache(cfg.ClientKeyCacheSize),
		conns:         make(map[*conn]struct{}),
		hubs:          make(map[hubKey]*hub),
		m:             newMetrics(),
	}
	g.corkPool = newCorkPool()
	g.scratchPool = newScratchPool()
	g.upgrader = websocket.Upgrader{
		HandshakeTimeout: cfg.HandshakeTimeout,
		// Write buffers are borrowed from a pool only while a message is written, so an idle
		// connection holds none. A frame (certificate and witness included) fits one 16 KiB
		// buffer, so it goes out in one write. ReadBufferSize is 0 so that the upgrader reuses
		// the reader the corkingWriter's Hijack returns: the connection's own small read buffer
		// (readBufferSize, instead of net/http's 4 KiB), which it drops while idle.
		WriteBufferPool: &sync.Pool{},
		WriteBufferSize: 16 << 10,
		// The origin was checked before the upgrade, with a clearer answer.
		CheckOrigin: func(*http.Request) bool { return true },
		Error: func(w http.ResponseWriter, _ *http.Request, status int, reason error) {
			g.m.refused[refusedBadRequest].inc()
			http.Error(w, reason.Error(), status)
		},
	}
	g.oapi, _ = api.(omniaAPI)
	g.hardCtx, g.hardCancel = context.WithCancel(context.Background())
	return g, nil
}

// Principal is the gateway's principal, the caller of all its IC calls. Canisters keep each
// gateway's messages apart by it.
func (g *Gateway) Principal() principal.Principal { return g.principal }

// ServeHTTP accepts a client's WebSocket of the icws seed protocol. It refuses the upgrade, with
// an HTTP error, when the gateway is shutting down, the origin is not allowed or a connection cap
// is reached. Once upgraded, the connection is served by goroutines of the gateway until it ends
// and the canister has been told (ws_close); ServeHTTP returns at once. Shutdown waits for them.
func (g *Gateway) ServeHTTP(w http.ResponseWriter, r *http.Request) { g.serveWS(w, r, seedWire{}) }

// serveWS accepts a client's WebSocket of protocol p (see ServeHTTP).
func (g *Gateway) serveWS(w http.ResponseWriter, r *http.Request, p wire) {
	if !websocket.IsWebSocketUpgrade(r) {
		g.m.refused[refusedBadRequest].inc()
		w.Header().Set("Upgrade", "websocket")
		http.Error(w, "this is an icws gateway: open a WebSocket here", http.StatusUpgradeRequired)
		return
	}
	if origin, ok := g.origins.allow(r); !ok {
		g.m.refused[refusedOrigin].inc()
		g.refuseOrigin(w, r, origin)
		return
	}
	ip := remoteIP(r)
	if reason, ok := g.limiter.acquire(ip); !ok {
		g.m.refused[reason].inc()
		w.Header().Set("Retry-After", "5")
		msg := "too many connections"
		if reason == refusedMaxPerIP {
			msg = "too many connections from this address"
		}
		http.Error(w, msg, http.StatusServiceUnavailable)
		return
	}
	g.mu.Lock()
	if g.closing {
		g.mu.Unlock()
		g.limiter.release(ip)
		g.m.refused[refusedShuttingDown].inc()
		http.Error(w, "gateway shutting down", http.StatusServiceUnavailable)
		return
	}
	g.nextConn++
	id := g.nextConn
	g.active.Add(1)
	g.mu.Unlock()

	cw := &corkingWriter{ResponseWriter: w, pool: g.corkPool}
	ws, err := g.upgrader.Upgrade(cw, r, nil)
	if err != nil {
		g.limiter.release(ip)
		g.active.Done()
		return // the upgrader answered the request
	}
	c := &conn{
		g:            g,
		ws:           ws,
		cork:         cw.conn,
		rb:           cw.br,
		ip:           ip,
		id:           id,
		wire:         p,
		q:            newSendQueue(g.cfg.SendQueueSize),
		closing:      make(chan struct{}),
		socketClosed: make(chan struct{}),
		readerDone:   make(chan struct{}),
	}
	if g.cfg.MessageRate != rate.Inf {
		c.lim = rate.NewLimiter(g.cfg.MessageRate, g.cfg.MessageBurst)
	}
	g.m.connectionsTotal.inc()
	if _, ok := p.(omniaWire); ok {
		g.m.omniaConnections.inc()
	}
	g.m.connections.inc()
	g.mu.Lock()
	g.conns[c] = struct{}{}
	if g.closing {
		c.closeWith(protocol.CloseGoingAway, "")
	}
	g.mu.Unlock()
	// Serve on a goroutine of its own and let net/http's one end: its stack, grown while the
	// request was parsed, and the request itself are not kept for the life of the connection.
	go c.serve()
}

// refuseOrigin answers the upgrade of a page whose origin is not allowed: it accepts the
// WebSocket and closes it at once with CloseOriginNotAllowed and a reason naming the origin and
// the setting to change. A browser shows a refused upgrade (403) to the page only as 1006, with
// no reason; a Close frame's reason reaches it. It waits briefly for the client's Close frame, so
// that the browser sees a clean close.
func (g *Gateway) refuseOrigin(w http.ResponseWriter, r *http.Request, origin string) {
	g.log.Warn("refused a WebSocket from a web page whose origin is not allowed (allow it with --allowed-origins)",
		"origin", origin, "remote", r.RemoteAddr)
	ws, err := g.upgrader.Upgrade(w, r, nil)
	if err != nil {
		return // the upgrader answered the request
	}
	defer ws.Close()
	deadline := time.Now().Add(closeWait)
	msg := websocket.FormatCloseMessage(int(protocol.CloseOriginNotAllowed), originRefusal(origin))
	if err := ws.WriteControl(websocket.CloseMessage, msg, deadline); err != nil {
		return
	}
	g.m.closeCode(protocol.CloseOriginNotAllowed)
	_ = ws.SetReadDeadline(deadline)
	ws.SetReadLimit(1 << 10)
	for range 4 { // a page may have sent a frame before it read the Close frame
		if _, _, err := ws.NextReader(); err != nil {
			return
		}
	}
}

// Handler returns the gateway's HTTP handler: the seed protocol's WebSocket endpoint at every
// path but /omnia (the Omnia protocol's endpoint, see OmniaHandler), /healthz (200 while the
// process serves) and /readyz (200 while the gateway accepts clients and the IC answers; 503
// otherwise).
func (g *Gateway) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("/healthz", g.serveHealth)
	mux.HandleFunc("/readyz", g.serveReady)
	mux.Handle("/omnia", g.OmniaHandler())
	mux.Handle("/", g)
	return mux
}

// MetricsHandler returns a handler that serves the gateway's metrics in the Prometheus text
// format, and /healthz and /readyz. Serve it on an address of its own.
func (g *Gateway) MetricsHandler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("/healthz", g.serveHealth)
	mux.HandleFunc("/readyz", g.serveReady)
	mux.Handle("/metrics", &g.m)
	return mux
}

func (g *Gateway) serveHealth(w http.ResponseWriter, _ *http.Request) {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.Write([]byte("ok\n"))
}

// icFailThreshold is how many IC transport failures in a row make the gateway not ready.
const icFailThreshold = 3

func (g *Gateway) serveReady(w http.ResponseWriter, _ *http.Request) {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	g.mu.Lock()
	closing := g.closing
	g.mu.Unlock()
	switch {
	case closing:
		w.WriteHeader(http.StatusServiceUnavailable)
		w.Write([]byte("shutting down\n"))
	case g.icFails.Load() >= icFailThreshold:
		w.WriteHeader(http.StatusServiceUnavailable)
		msg := "the IC is not answering"
		if s := g.lastErr.Load(); s != nil {
			msg += fmt.Sprintf(" (since %s: %v)", s.when.Format(time.RFC3339), s.err)
		}
		w.Write([]byte(msg + "\n"))
	default:
		w.Write([]byte("ready\n"))
	}
}

// icUp records that the IC answered (a reply or a reject).
func (g *Gateway) icUp() {
	if g.icFails.Load() != 0 {
		g.icFails.Store(0)
	}
}

// icDown records an IC call that failed in transport.
func (g *Gateway) icDown(err error) {
	if errors.Is(err, context.Canceled) {
		return
	}
	if g.icFails.Add(1) == 1 {
		g.lastErr.Store(&errorSnapshot{err: err, when: g.cfg.Clock()})
	}
}

// clientKey returns a client's public key, from the cache or from ws_get_client_key.
func (g *Gateway) clientKey(ctx context.Context, canister principal.Principal, clientID uint64) ([]byte, error) {
	ref := clientRef{canister, clientID}
	if key, ok := g.keys.get(ref); ok {
		g.m.keyCacheHits.inc()
		return key, nil
	}
	g.m.keyCacheMisses.inc()
	start := g.cfg.Clock()
	key, err := g.api.getClientKey(ctx, canister, clientID)
	g.endCall(methodGetClientKey, start, outcomeOf(err), err)
	if err != nil {
		return nil, err
	}
	g.keys.put(ref, key)
	return key, nil
}

// closeClient tells the canister that a seed client's connection ended (ws_close); see closeConn.
func (g *Gateway) closeClient(canister principal.Principal, clientID uint64, log *slog.Logger) {
	g.closeConnLog(&conn{g: g, wire: seedWire{}, canister: canister, clientID: clientID}, log)
}

// closeConn tells the canister that c's client left (its protocol's ws_close), retrying transport
// failures with backoff for up to CloseRetryTimeout, or until Shutdown gives up.
func (g *Gateway) closeConn(c *conn) { g.closeConnLog(c, c.log()) }

func (g *Gateway) closeConnLog(c *conn, log *slog.Logger) {
	ctx, cancel := context.WithTimeout(g.hardCtx, g.cfg.CloseRetryTimeout)
	defer cancel()
	bo := backoff{min: 200 * time.Millisecond, max: 10 * time.Second}
	for attempt := 1; ; attempt++ {
		start := g.cfg.Clock()
		callCtx, callCancel := context.WithTimeout(ctx, g.cfg.CallTimeout)
		err := c.wire.closeOnce(callCtx, c)
		callCancel()
		if err == nil {
			g.endCall(methodClose, start, outTrue, nil)
			c.wire.forget(c)
			return
		}
		if !retryable(err) && ctx.Err() == nil {
			// The canister's final answer (for instance, the client was already closed).
			g.endCall(methodClose, start, outReject, err)
			c.wire.forget(c)
			log.Info("ws_close rejected", "err", err)
			return
		}
		if ctx.Err() != nil {
			g.endCall(methodClose, start, outFailed, err)
			log.Error("ws_close failed; giving up: the canister keeps the client until it expires it",
				"canister", c.canister.String(), "client_id", c.clientID, "attempts", attempt, "err", err)
			return
		}
		g.endCall(methodClose, start, outRetry, err)
		if attempt == 1 {
			log.Warn("ws_close failed; retrying", "err", err)
		}
		sleepCtx(ctx, bo.next())
	}
}

// Shutdown stops the gateway gracefully: it refuses new connections, closes every client with
// 1001 (going away), calls ws_close for each, and waits until all of that is done, for at most
// ShutdownTimeout or until ctx ends. Then it abandons what is left (IC calls are canceled) and
// returns an error wrapping ErrShutdown and the context's error. Shutdown does not close
// listeners: stop the http.Server first (its Shutdown does not wait for WebSockets, which it no
// longer tracks once upgraded).
func (g *Gateway) Shutdown(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, g.cfg.ShutdownTimeout)
	defer cancel()
	g.mu.Lock()
	g.closing = true
	conns := make([]*conn, 0, len(g.conns))
	for c := range g.conns {
		conns = append(conns, c)
	}
	g.mu.Unlock()
	g.log.Info("shutting down", "connections", len(conns))
	for _, c := range conns {
		c.closeWith(protocol.CloseGoingAway, "")
		// A write stuck on a client that does not read ends now, not after WriteTimeout.
		c.ws.NetConn().SetWriteDeadline(time.Now().Add(closeWait))
	}
	done := make(chan struct{})
	go func() {
		g.active.Wait()
		close(done)
	}()
	select {
	case <-done:
		g.hardCancel()
		g.log.Info("shutdown complete")
		return nil
	case <-ctx.Done():
	}
	// Out of time: cancel every IC call; what remains ends promptly.
	g.hardCancel()
	select {
	case <-done:
	case <-time.After(2 * time.Second):
	}
	g.log.Error("shutdown deadline passed; abandoned what was left", "err", ctx.Err())
	return fmt.Errorf("%w: %w", ErrShutdown, ctx.Err())
}
