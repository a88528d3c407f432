package replica

import (
	"context"
	"crypto/ed25519"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/icws/icws/cdk"
	"github.com/icws/icws/ic/hashtree"
	"github.com/icws/icws/ic/identity"
	"github.com/icws/icws/ic/principal"
	"github.com/icws/icws/ic/requestid"
	"github.com/icws/icws/replica/wasmhost"
)

// DefaultAddr is the address Start listens on when Config.Addr is empty: a free loopback port.
const DefaultAddr = "127.0.0.1:0"

// ErrClosed is returned by Serve after Close or Shutdown, and by Start if the replica was closed
// meanwhile.
var ErrClosed = errors.New("replica: closed")

// CanisterSpec names a canister to install when the replica starts: native Go code (New) or a
// Wasm module (Wasm), exactly one of them.
type CanisterSpec struct {
	// Name identifies the canister in CanisterID and in the logs; names must be unique and
	// non-empty.
	Name string
	// New builds a native canister. It is called once, at start-up.
	New func() *cdk.Canister
	// Wasm is an IC Wasm module (gzip-compressed or not), installed as install_code would.
	Wasm []byte
	// Arg is the argument of canister_init (Candid); nil means no arguments ("DIDL\x00\x00").
	Arg []byte
	// Controllers may manage the canister through the management canister (upgrade it,
	// read its status). None means nobody can.
	Controllers []principal.Principal
}

// Config configures a replica. The zero value is usable: no canisters, fresh keys, a free
// loopback port, rounds as fast as possible.
type Config struct {
	// Addr is the TCP address Start listens on; empty means DefaultAddr.
	Addr string
	// Canisters are installed in this order; the i-th gets the i-th canister id of the range
	// (see CanisterRange).
	Canisters []CanisterSpec
	// StateDir, if not empty, keeps the replica's state across restarts (created if needed):
	// the root and node keys, and the whole replicated state, written after every round that
	// changed it, so that a replica killed at any moment and started again on the same directory
	// has the same canisters, ids and state and the statuses clients may still read (see
	// docs/RELIABILITY.md). The Canisters of a restarted replica keep their saved state instead of
	// being installed again; a Wasm one given another module is upgraded to it.
	StateDir string
	// RoundTime is the time between round starts. Zero runs a round as soon as work is queued;
	// 1s imitates mainnet latency.
	RoundTime time.Duration
	// Clock gives the IC time; nil means time.Now. Tests inject a clock to move time forward.
	Clock func() time.Time
	// Logger receives the replica's logs and the canisters' debug prints; nil discards them.
	Logger *slog.Logger
	// Limits are the instruction limits of Wasm canisters; zero fields mean the IC's.
	Limits wasmhost.Limits
	// WasmCacheDir, if not empty, keeps compiled Wasm modules on disk across starts (a Go
	// canister's 5 MB module takes seconds to compile).
	WasmCacheDir string
}

// Limits and timings.
const (
	// MaxBodySize is the largest HTTP request body accepted (413 above).
	MaxBodySize = 3670016 // 3.5 MiB
	// MaxIngressSize is the largest argument plus method name of an update call (413 above),
	// the IC's max_ingress_bytes_per_message of application subnets.
	MaxIngressSize = 2 << 20
	// MaxIngressTTL is how far in the future an ingress_expiry may be, besides PermittedDrift.
	MaxIngressTTL = 5 * time.Minute
	// PermittedDrift is the clock drift allowed on top of MaxIngressTTL.
	PermittedDrift = 30 * time.Second
	// StatusTTL is how long a request status stays readable after the request completed (and at
	// least until its ingress_expiry).
	StatusTTL = 5 * time.Minute
	// SyncCallTimeout bounds how long a v3/v4 call waits for its certificate before answering 202.
	SyncCallTimeout = 10 * time.Second
	// MaxPaths and MaxPathLength bound a read_state request.
	MaxPaths      = 1000
	MaxPathLength = 127
	// maxQueued bounds the ingress queue; beyond it calls get 503.
	maxQueued = 100000
	// minRoundGap is the shortest time between two round starts when RoundTime is zero and the
	// last round ran several calls: calls that arrive meanwhile share the next round and its
	// signature. A lone call after a quiet time gets a round at once.
	minRoundGap = 2 * time.Millisecond
	// idleRound is the longest time between two rounds when nothing happens.
	idleRound = time.Second
)

// Replica is a running local IC. Its methods are safe for concurrent use.
type Replica struct {
	log   *slog.Logger
	clock func() time.Time
	round time.Duration

	keys     keys
	rootDER  []byte
	nodeDER  []byte
	nodeID   principal.Principal
	subnetID principal.Principal

	limits wasmhost.Limits
	cache  string        // Config.WasmCacheDir
	wasm   wasmhost.Host // made at the first Wasm install; owned by rounds
	store  *store        // the saved state, with Config.StateDir; owned by rounds

	// The canister table, guarded by mu: written by rounds (create and delete), read by
	// queries and read_state.
	order            []*canister // in creation order
	byID             map[principal.Principal]*canister
	byName           map[string]*canister // the canisters of Config.Canisters
	nextIndex        int                  // the index of the next canister id to try
	canistersChanged bool                 // a canister was created, deleted or changed this round
	dir              atomic.Pointer[directory]

	handler http.Handler

	// mu is the state lock. Rounds hold it for writing while they execute and certify; queries,
	// read_state and certificate building hold it for reading. So queries see exactly the state
	// the last certificate covers.
	mu    sync.RWMutex
	state stateTree // guarded by mu

	// inMu guards the ingress queue and the index of known requests.
	inMu  sync.Mutex
	queue []*ingress
	spare []*ingress // the previous round's queue, reused
	known map[requestid.ID]*ingress

	// Owned by the round loop.
	tasks       []*task    // messages to execute (calls, responses), carried over between rounds
	tasksBuf    []*task    // the backing array of tasks, reused
	finished    []*ingress // ingress messages answered in this round, woken after certification
	inducted    []*ingress // ingress messages started in this round
	randCounter uint64     // raw_rand calls so far
	// ledgerBlocks numbers the stand-in cycles ledger's create_canister blocks.
	ledgerBlocks uint64
	roundNow     uint64     // the IC time of the running round
	completed    []*ingress // completed requests in completion order, for pruning
	nextTimer    uint64     // earliest active global timer, 0 if none
	lastRound    time.Time  // when the last round started
	lastBatch    int        // calls in the last round

	wake               chan struct{} // a round is wanted (buffered, 1)
	stop               chan struct{} // closed by Close and Shutdown
	loopDone           chan struct{} // closed when the round loop has returned
	closeOnce          sync.Once
	closeOnceCanisters sync.Once

	srvMu sync.Mutex // guards srv and url
	srv   *http.Server
	url   string
}

// ingress is an accepted update call.
type ingress struct {
	id       requestid.ID
	sender   principal.Principal
	ecid     principal.Principal
	canister principal.Principal // the callee
	method   string
	arg      []byte
	expiry   uint64

	// done is closed when the call's final status has been certified.
	done     chan struct{}
	answered bool // set by the round that answers it
	// pruneAt is when the status may be forgotten; set by the round.
	pruneAt uint64
	// With Config.StateDir: the outcome and the round time, kept for the request log.
	result     *outcome
	answeredAt uint64
}

// New creates a replica: it makes or loads the keys, installs the canisters (running their
// canister_init), certifies the first state and starts the round loop. It does not listen; use
// Serve or Handler, or Start instead. Close stops it.
func New(cfg Config) (*Replica, error) {
	r := &Replica{
		limits:   cfg.Limits,
		cache:    cfg.WasmCacheDir,
		log:      cfg.Logger,
		clock:    cfg.Clock,
		round:    cfg.RoundTime,
		byID:     make(map[principal.Principal]*canister),
		byName:   make(map[string]*canister),
		known:    make(map[requestid.ID]*ingress),
		wake:     make(chan struct{}, 1),
		stop:     make(chan struct{}),
		loopDone: make(chan struct{}),
	}
	if r.log == nil {
		r.log = slog.New(slog.DiscardHandler)
	}
	if r.clock == nil {
		r.clock = time.Now
	}
	if r.round < 0 {
		return nil, fmt.Errorf("replica: negative round time %v", r.round)
	}
	if len(cfg.Canisters) > MaxCanisters {
		return nil, fmt.Errorf("replica: %d canisters, at most %d", len(cfg.Canisters), MaxCanisters)
	}
	var err error
	if r.keys, err = loadKeys(cfg.StateDir); err != nil {
		return nil, err
	}
	r.rootDER = r.keys.root.PublicKeyDER()
	r.nodeDER = identity.Ed25519PublicKeyToDER(r.keys.node.Public().(ed25519.PublicKey))
	r.subnetID = principal.SelfAuthenticating(r.rootDER)
	r.nodeID = principal.SelfAuthenticating(r.nodeDER)
	if r.state.subnet, err = newSubnetTree(r.subnetID, r.rootDER, r.nodeID, r.nodeDER); err != nil {
		return nil, err
	}
	r.state.subnetDigest = hashtree.Digest(r.state.subnet)

	ctx := context.Background()
	exists := false
	if cfg.StateDir != "" {
		if r.store, exists, err = openStore(cfg.StateDir); err != nil {
			return nil, err
		}
	}
	if exists {
		if err := r.load(ctx, cfg.Canisters, r.nextTime()); err != nil {
			r.closeCanisters()
			return nil, err
		}
	} else {
		now := r.nextTime()
		for i, spec := range cfg.Canisters {
			if err := r.installSpec(ctx, i, spec, now, canisterIDAt(i)); err != nil {
				r.closeCanisters()
				return nil, err
			}
		}
		r.nextIndex = len(cfg.Canisters)
	}
	now := r.nextTime()
	r.roundNow = now
	r.state.setCanisters(r.order)
	r.publishDirectory()
	r.canistersChanged = false
	if r.store != nil {
		// A checkpoint of everything: a fresh state directory, or the loaded state with its
		// journal folded in.
		if err := r.checkpoint(ctx, now); err != nil {
			r.closeCanisters()
			return nil, fmt.Errorf("replica: write the state to %s: %w", r.store.dir, err)
		}
	}
	r.state.certify(r.keys.root, now)
	r.nextTimer = r.earliestTimer()
	r.handler = r.routes()
	r.lastRound = time.Now()
	go r.loop()
	return r, nil
}

// Start creates a replica with New and serves it on cfg.Addr (a free loopback port by default)
// until Close or Shutdown. ctx bounds the start-up only.
func Start(ctx context.Context, cfg Config) (*Replica, error) {
	addr := cfg.Addr
	if addr == "" {
		addr = DefaultAddr
	}
	r, err := New(cfg)
	if err != nil {
		return nil, err
	}
	var lc net.ListenConfig
	l, err := lc.Listen(ctx, "tcp", addr)
	if err != nil {
		r.Close()
		return nil, fmt.Errorf("replica: listen: %w", err)
	}
	srv, err := r.newServer(l)
	if err != nil {
		l.Close()
		r.Close()
		return nil, err
	}
	go func() {
		if err := srv.Serve(l); err != nil && !errors.Is(err, http.ErrServerClosed) {
			r.log.Error("replica: serve", "err", err)
		}
	}()
	r.log.Info("replica listening", "url", r.URL(), "subnet", r.subnetID.String())
	return r, nil
}

// Serve serves the replica's HTTP interface on l until Close or Shutdown, then returns ErrClosed.
// A replica serves at most one listener.
func (r *Replica) Serve(l net.Listener) error {
	srv, err := r.newServer(l)
	if err != nil {
		return err
	}
	if err := srv.Serve(l); err != nil && !errors.Is(err, http.ErrServerClosed) {
		return fmt.Errorf("replica: serve: %w", err)
	}
	return ErrClosed
}

func (r *Replica) newServer(l net.Listener) (*http.Server, error) {
	r.srvMu.Lock()
	defer r.srvMu.Unlock()
	select {
	case <-r.stop:
		return nil, ErrClosed
	default:
	}
	if r.srv != nil {
		return nil, errors.New("replica: already serving")
	}
	r.srv = &http.Server{
		Handler:           r.handler,
		ReadHeaderTimeout: 10 * time.Second,
		IdleTimeout:       2 * time.Minute,
		ErrorLog:          slog.NewLogLogger(r.log.Handler(), slog.LevelDebug),
	}
	r.url = "http://" + l.Addr().String()
	return r.srv, nil
}

// Handler returns the replica's HTTP interface, for serving it with a server of one's own.
func (r *Replica) Handler() http.Handler { return r.handler }

// URL returns the base URL the replica serves on ("http://127.0.0.1:port"), or "" if it does not
// listen.
func (r *Replica) URL() string {
	r.srvMu.Lock()
	defer r.srvMu.Unlock()
	return r.url
}

// RootKey returns the DER-encoded BLS root key (133 bytes), the key agents must trust.
func (r *Replica) RootKey() []byte { return append([]byte(nil), r.rootDER...) }

// SubnetID returns the id of the replica's subnet: the self-authenticating principal of the root
// key.
func (r *Replica) SubnetID() principal.Principal { return r.subnetID }

// NodeID returns the id of the replica's node, whose key signs query responses.
func (r *Replica) NodeID() principal.Principal { return r.nodeID }

// NodeKey returns the DER-encoded Ed25519 public key of the node (44 bytes).
func (r *Replica) NodeKey() []byte { return append([]byte(nil), r.nodeDER...) }

// CanisterID returns the id of the canister registered under name.
func (r *Replica) CanisterID(name string) (principal.Principal, bool) {
	r.mu.RLock()
	defer r.mu.RUnlock()
	c, ok := r.byName[name]
	if !ok {
		return principal.Principal{}, false
	}
	return c.id, true
}

// Canister is a hosted canister's name and id.
type Canister struct {
	Name string
	ID   principal.Principal
}

// Canisters returns the hosted canisters in creation order: those of Config.Canisters, then
// those created through the management canister (with no name).
func (r *Replica) Canisters() []Canister {
	r.mu.RLock()
	defer r.mu.RUnlock()
	out := make([]Canister, len(r.order))
	for i, c := range r.order {
		out[i] = Canister{Name: c.name, ID: c.id}
	}
	return out
}

// Shutdown stops the replica gracefully: it stops accepting connections, waits (bounded by ctx)
// for requests in flight, then stops the round loop. Waiting synchronous calls answer 202.
func (r *Replica) Shutdown(ctx context.Context) error {
	r.srvMu.Lock()
	srv := r.srv
	r.srvMu.Unlock()
	var err error
	r.closeOnce.Do(func() { close(r.stop) })
	if srv != nil {
		err = srv.Shutdown(ctx)
	}
	<-r.loopDone
	r.closeOnceCanisters.Do(r.closeCanisters)
	return err
}

// Close stops the replica at once: it closes the listener and all connections and stops the
// round loop.
func (r *Replica) Close() error {
	r.srvMu.Lock()
	srv := r.srv
	r.srvMu.Unlock()
	r.closeOnce.Do(func() { close(r.stop) })
	var err error
	if srv != nil {
		err = srv.Close()
	}
	<-r.loopDone
	r.closeOnceCanisters.Do(r.closeCanisters)
	return err
}

// nextTime returns the time of a new round: the clock, but always after the last round.
func (r *Replica) nextTime() uint64 {
	t := r.clock().UnixNano()
	now := uint64(0)
	if t > 0 {
		now = uint64(t)
	}
	if now <= r.state.time {
		now = r.state.time + 1
	}
	return now
}

// earliestTimer returns the earliest active global timer of all canisters, 0 if none.
func (r *Replica) earliestTimer() uint64 {
	var t uint64
	for _, c := range r.order {
		if c.timer != 0 && (t == 0 || c.timer < t) {
			t = c.timer
		}
	}
	return t
}
