package client

import (
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/icws/icws/ic/principal"
	"github.com/icws/icws/protocol"
)

// SharedCache holds verdicts on the certificates and witnesses of one canister's frames, by their
// exact bytes, for many Verifiers at once: a gateway sends the same certificate to every client of
// a poll, and the same witness to every subscriber of a channel, so the BLS check and the
// witness's decoding run once for all of them. It is safe for concurrent use. The checks that
// depend on the client (the message's key, hash, client id, sequence number, time) still run in
// each Verifier.
type SharedCache struct {
	canister principal.Principal
	size     int

	mu    sync.Mutex
	certs map[string]*sharedCert // guarded by mu
	trees map[string]*sharedTree // guarded by mu
}

type sharedCert struct {
	done chan struct{} // closed once e is set
	e    certEntry
}

type sharedTree struct {
	done chan struct{} // closed once e is set
	e    treeEntry
}

// DefaultSharedCacheSize is the number of certificates (and of witnesses) a SharedCache keeps
// by default; when full, it starts afresh. A verdict is needed only while its batch arrives.
const DefaultSharedCacheSize = 256

// NewSharedCache returns an empty cache for the frames of canister, keeping at most size
// certificates and size witnesses (0: DefaultSharedCacheSize).
func NewSharedCache(canister principal.Principal, size int) *SharedCache {
	if size <= 0 {
		size = DefaultSharedCacheSize
	}
	return &SharedCache{canister: canister, size: size, certs: make(map[string]*sharedCert), trees: make(map[string]*sharedTree)}
}

// cert returns the verdict on certificate b, verifying it with v if no verifier has yet (the
// others wait for that verdict rather than verify it again).
func (c *SharedCache) cert(b []byte, v *verifier) certEntry {
	c.mu.Lock()
	if e, ok := c.certs[string(b)]; ok {
		c.mu.Unlock()
		<-e.done
		return e.e
	}
	if len(c.certs) >= c.size {
		clear(c.certs)
	}
	e := &sharedCert{done: make(chan struct{})}
	c.certs[string(b)] = e
	c.mu.Unlock()
	var keep bool
	e.e, keep = v.verifyCertEntry(b)
	close(e.done)
	if !keep {
		c.mu.Lock()
		if c.certs[string(b)] == e {
			delete(c.certs, string(b))
		}
		c.mu.Unlock()
	}
	return e.e
}

// tree returns the decoded witness b, decoding it if no verifier has yet. The entry is shared:
// nobody writes to it once done is closed.
func (c *SharedCache) tree(b []byte) *treeEntry {
	c.mu.Lock()
	if e, ok := c.trees[string(b)]; ok {
		c.mu.Unlock()
		<-e.done
		return &e.e
	}
	if len(c.trees) >= c.size {
		clear(c.trees)
	}
	e := &sharedTree{done: make(chan struct{})}
	c.trees[string(b)] = e
	c.mu.Unlock()
	e.e = decodeTree(b)
	close(e.done)
	return &e.e
}

// VerifierConfig configures a Verifier. The bounds default as Config's do.
type VerifierConfig struct {
	// RootKey is the IC's root public key (DER); required.
	RootKey []byte
	// Canister is the canister whose messages the frames carry.
	Canister principal.Principal
	// ClientID is the client the messages must be for; Next the sequence number of the next
	// message due (0 for a fresh connection).
	ClientID, Next uint64
	// Cache, if set, shares certificate and witness verdicts with other Verifiers of Canister.
	Cache *SharedCache
	// Clock is the clock timestamps and certificate times are checked against; nil is time.Now.
	Clock func() time.Time
	// MaxMessageAge, MaxCertificateAge and MaxClockSkew are Config's bounds (0: their defaults).
	MaxMessageAge, MaxCertificateAge, MaxClockSkew time.Duration
}

// Verifier runs the checks Conn.Recv runs (docs/PROTOCOL.md §5, §12.6 and §13) on the frames
// of one client's stream, for code that reads the gateway's frames itself: a load generator, a
// relay that audits, another transport. It keeps the next sequence number due. A Verifier is
// used by one goroutine at a time; its Cache may be shared.
type Verifier struct {
	v verifier
}

// NewVerifier returns a Verifier of cfg.
func NewVerifier(cfg VerifierConfig) (*Verifier, error) {
	if len(cfg.RootKey) == 0 {
		return nil, errors.New("client: NewVerifier: no root key")
	}
	if cfg.Cache != nil && cfg.Cache.canister != cfg.Canister {
		return nil, fmt.Errorf("client: NewVerifier: the shared cache is for canister %s, not %s", cfg.Cache.canister, cfg.Canister)
	}
	if cfg.Clock == nil {
		cfg.Clock = time.Now
	}
	def := func(d *time.Duration, v time.Duration) {
		if *d <= 0 {
			*d = v
		}
	}
	def(&cfg.MaxMessageAge, DefaultMaxMessageAge)
	def(&cfg.MaxCertificateAge, DefaultMaxCertificateAge)
	def(&cfg.MaxClockSkew, DefaultMaxClockSkew)
	verifyCert, err := newCertFunc(cfg.RootKey, cfg.Canister, cfg.Clock, cfg.MaxCertificateAge, cfg.MaxClockSkew)
	if err != nil {
		return nil, fmt.Errorf("client: NewVerifier: the root key is unusable: %w", err)
	}
	return &Verifier{v: verifier{
		clientID:   cfg.ClientID,
		verifyCert: verifyCert,
		now:        cfg.Clock,
		maxCertAge: cfg.MaxCertificateAge,
		maxAge:     cfg.MaxMessageAge,
		maxSkew:    cfg.MaxClockSkew,
		next:       cfg.Next,
		shared:     cfg.Cache,
	}}, nil
}

// Next returns the sequence number of the next message due.
func (v *Verifier) Next() uint64 { return v.v.next }

// Check verifies S6 frame, the next message of the stream, and returns it (service messages
// included). A failed check is a *VerifyError, and the stream does not advance.
func (v *Verifier) Check(frame []byte) (protocol.WebsocketMessage, error) {
	vm, verr := v.v.check(frame)
	if verr != nil {
		return protocol.WebsocketMessage{}, verr
	}
	return vm.msg, nil
}

// CheckBatch verifies S9 frame and returns its messages, the next ones of the stream, appended
// to dst. At the first failed check it returns the messages before it and the *VerifyError.
func (v *Verifier) CheckBatch(frame []byte, dst []protocol.WebsocketMessage) ([]protocol.WebsocketMessage, error) {
	items, verr := v.v.checkBatch(nil, frame)
	if verr != nil {
		return dst, verr
	}
	for _, it := range items {
		if it.err != nil {
			return dst, it.err
		}
		dst = append(dst, it.vm.msg)
	}
	return dst, nil
}

// CheckChannel verifies S8 frame (its certificate and witness, then every value's hash under its
// key, its channel and seq) and returns its messages, with Channel and Seq set. Which seqs are
// due is the caller's to check: a subscriber drops those below the next it expects, and a frame
// that starts past it is a gap (docs/PROTOCOL.md §12.6).
func (v *Verifier) CheckChannel(frame []byte) ([]Message, error) {
	f, err := protocol.DecodeChannelFrame(frame)
	if err != nil {
		return nil, verifyErrorf(Malformed, "", err, "the frame is not a channel frame")
	}
	msgs, verr := v.v.checkChannel(&f)
	if verr != nil {
		return nil, verr
	}
	return msgs, nil
}

// Len returns how many certificates and witnesses the cache holds.
func (c *SharedCache) Len() (certs, trees int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.certs), len(c.trees)
}

// Cache returns the verifier's shared cache, or nil.
func (v *Verifier) Cache() *SharedCache { return v.v.shared }
