package certificate

import (
	"bytes"
	"crypto/sha256"
	"fmt"
	"sync"
	"time"

	"github.com/icws/icws/ic/bls"
	"github.com/icws/icws/ic/hashtree"
	"github.com/icws/icws/ic/principal"
)

// Defaults and limits of verification.
const (
	// DefaultMaxAge is how old a certificate may be by default (agent-js uses 5 minutes).
	DefaultMaxAge = 5 * time.Minute
	// DefaultMaxFutureSkew is how far ahead of the local clock a certificate's time may be by
	// default: the clocks of the replica and of the verifier may disagree a little, and agent-js
	// allows 5 minutes too.
	DefaultMaxFutureSkew = 5 * time.Minute
	// DelegationMaxAge is how old the certificate of a delegation may be (as in agent-js).
	DelegationMaxAge = 30 * 24 * time.Hour
	// DefaultDelegationCacheSize is the number of verified delegations a Verifier keeps by default.
	DefaultDelegationCacheSize = 64
	// DefaultCertificateCacheSize is the number of verified certificates a Verifier keeps by
	// default.
	DefaultCertificateCacheSize = 256
)

// VerifierConfig configures a Verifier. The zero value verifies mainnet certificates with the
// default freshness window and the system clock.
type VerifierConfig struct {
	// RootKey is the DER-encoded (133-byte) BLS root key. Nil means MainnetRootKey(). A local
	// replica has its own root key, which clients fetch from its /api/v2/status (never do that for
	// mainnet: a man in the middle could substitute his key).
	RootKey []byte
	// MaxAge is how old a certificate's /time may be. Zero means DefaultMaxAge. A negative value
	// disables all time checks (of the certificate and of its delegation): only for tests and for
	// certificates known to be old.
	MaxAge time.Duration
	// MaxFutureSkew is how far ahead of Clock a certificate's /time may be. Zero or negative
	// means DefaultMaxFutureSkew.
	MaxFutureSkew time.Duration
	// Clock returns the current time. Nil means time.Now.
	Clock func() time.Time
	// DelegationCacheSize bounds the number of verified delegations kept, keyed by subnet id and
	// SHA-256 of the delegation certificate. Zero means DefaultDelegationCacheSize; negative disables
	// the cache. A cached delegation saves one BLS verification (about half the cost of a delegated
	// certificate).
	DelegationCacheSize int
	// CertificateCacheSize bounds the number of verified certificates kept, keyed by SHA-256 of the
	// certificate and what it was verified for (canister or subnet). Verifying the same bytes again
	// (such as the certificate that all messages of one poll share) then costs a parse and a hash
	// instead of BLS verifications; the time checks are still made every time. Zero means
	// DefaultCertificateCacheSize; negative disables the cache. The same size bounds a cache of
	// verified signatures, keyed by signing key, root hash and signature: the IC signs a state
	// tree once per round, and every certificate cut from that round (each pruned to different
	// paths, so different bytes) carries the same root hash and signature, so only the first of
	// them costs a BLS verification.
	CertificateCacheSize int
}

// Verifier verifies certificates against a root key. It is safe for concurrent use; create one per
// root key and share it, so that its delegation cache is shared too.
type Verifier struct {
	rootKey *bls.PublicKey
	rootDER []byte
	maxAge  time.Duration // < 0: no time checks
	skew    time.Duration
	now     func() time.Time
	cache   *boundedCache[cacheKey, *verifiedDelegation] // nil: no cache
	certs   *boundedCache[certKey, certEntry]            // nil: no cache
	sigs    *boundedCache[sigKey, struct{}]              // nil: no cache

	// flight holds the signature checks in progress, so that concurrent verifications of
	// certificates from one round (calls answered together) make one BLS check, not one each.
	flightMu sync.Mutex
	flight   map[sigKey]chan struct{}
}

// NewVerifier returns a Verifier for cfg. It fails if the root key is not a DER-encoded BLS key.
func NewVerifier(cfg VerifierConfig) (*Verifier, error) {
	der := cfg.RootKey
	if der == nil {
		der = MainnetRootKey()
	}
	key, err := bls.ParseDERPublicKey(der)
	if err != nil {
		return nil, fmt.Errorf("%w: root key: %w", ErrBadKey, err)
	}
	v := &Verifier{
		rootKey: key,
		rootDER: bytes.Clone(der),
		maxAge:  cfg.MaxAge,
		skew:    cfg.MaxFutureSkew,
		now:     cfg.Clock,
	}
	if v.maxAge == 0 {
		v.maxAge = DefaultMaxAge
	}
	if v.skew <= 0 {
		v.skew = DefaultMaxFutureSkew
	}
	if v.now == nil {
		v.now = time.Now
	}
	switch size := cfg.DelegationCacheSize; {
	case size == 0:
		v.cache = newBoundedCache[cacheKey, *verifiedDelegation](DefaultDelegationCacheSize)
	case size > 0:
		v.cache = newBoundedCache[cacheKey, *verifiedDelegation](size)
	}
	switch size := cfg.CertificateCacheSize; {
	case size == 0:
		v.certs = newBoundedCache[certKey, certEntry](DefaultCertificateCacheSize)
		v.sigs = newBoundedCache[sigKey, struct{}](DefaultCertificateCacheSize)
	case size > 0:
		v.certs = newBoundedCache[certKey, certEntry](size)
		v.sigs = newBoundedCache[sigKey, struct{}](size)
	}
	return v, nil
}

// RootKey returns the DER-encoded root key.
func (v *Verifier) RootKey() []byte { return bytes.Clone(v.rootDER) }

// RootSubnet returns the id of the root subnet: the self-authenticating principal of the root key,
// which is also the subnet id of a single-subnet local replica.
func (v *Verifier) RootSubnet() principal.Principal { return principal.SelfAuthenticating(v.rootDER) }

// Verify parses and verifies a certificate for canister and returns it. If the certificate has a
// delegation, the canister must be in the delegated subnet's canister ranges. The zero Principal
// as canister skips that range check: use it (or VerifyForSubnet, which is stricter) only for
// reads that are not about a canister, and never look up /canister/... paths in a certificate
// verified that way.
//
// The errors wrap ErrMalformed, ErrBadKey, ErrNestedDelegation, ErrInvalidDelegation,
// ErrNotAuthorized (a *NotAuthorizedError), ErrBadSignature, or ErrStale or ErrFuture (a
// *TimeError).
func (v *Verifier) Verify(cert []byte, canister principal.Principal) (*Certificate, error) {
	return v.verify(cert, scope{canister: canister, checkRanges: canister != principal.Principal{}})
}

// VerifyForSubnet parses and verifies a certificate obtained from subnet (a subnet read_state): a
// delegation, if present, must be for that subnet. There is no canister range check.
func (v *Verifier) VerifyForSubnet(cert []byte, subnet principal.Principal) (*Certificate, error) {
	return v.verify(cert, scope{subnet: subnet, checkSubnet: true})
}

// scope says for what a certificate must be authoritative.
type scope struct {
	canister    principal.Principal
	checkRanges bool
	subnet      principal.Principal
	checkSubnet bool
}

func (v *Verifier) verify(b []byte, s scope) (*Certificate, error) {
	c, err := Parse(b)
	if err != nil {
		return nil, err
	}
	var now time.Time
	if v.maxAge > 0 {
		now = v.now()
	}
	var ck certKey
	if v.certs != nil {
		ck = certKey{hash: sha256.Sum256(b), scope: s}
		if e, ok := v.certs.get(ck); ok {
			if err := v.checkTimes(c, e, now); err != nil {
				return nil, err
			}
			return c, nil
		}
	}
	key := v.rootKey
	var e certEntry
	if c.Delegation != nil {
		d, err := v.delegation(c.Delegation)
		if err != nil {
			return nil, err
		}
		if err := d.authorizeScope(s); err != nil {
			return nil, err
		}
		key = d.key
		e = certEntry{delegated: true, delegationTime: d.time}
	}
	if !v.verifySignature(key, c) {
		if c.Delegation != nil {
			return nil, fmt.Errorf("%w: the subnet's signature does not match the certificate's tree (was it tampered with?)", ErrBadSignature)
		}
		return nil, fmt.Errorf("%w with the root key: the certificate was tampered with or the root key is wrong "+
			"(for a local replica, fetch its root key, e.g. with --fetch-root-key)", ErrBadSignature)
	}
	if err := v.checkTimes(c, e, now); err != nil {
		return nil, err
	}
	if v.certs != nil {
		v.certs.put(ck, e)
	}
	return c, nil
}

// verifySignature checks c's BLS signature with key, through the signature cache. Concurrent
// checks of the same (key, root, signature) wait for the first one instead of repeating it.
func (v *Verifier) verifySignature(key *bls.PublicKey, c *Certificate) bool {
	root := c.RootHash()
	if v.sigs == nil {
		return key.Verify(c.Signature, signedMessage(root))
	}
	sk := sigKey{key: key, root: root, sig: string(c.Signature)}
	if _, ok := v.sigs.get(sk); ok {
		return true
	}
	v.flightMu.Lock()
	if _, ok := v.sigs.get(sk); ok { // verified between the two looks
		v.flightMu.Unlock()
		return true
	}
	if wait, busy := v.flight[sk]; busy {
		v.flightMu.Unlock()
		<-wait
		if _, ok := v.sigs.get(sk); ok {
			return true
		}
		// The first check failed (or its entry was already evicted): check alone, so that a
		// bad signature is never taken on another's word.
		return key.Verify(c.Signature, signedMessage(root))
	}
	if v.flight == nil {
		v.flight = make(map[sigKey]chan struct{})
	}
	done := make(chan struct{})
	v.flight[sk] = done
	v.flightMu.Unlock()
	ok := key.Verify(c.Signature, signedMessage(root))
	if ok {
		v.sigs.put(sk, struct{}{})
	}
	v.flightMu.Lock()
	delete(v.flight, sk)
	v.flightMu.Unlock()
	close(done)
	return ok
}

// checkTimes checks the freshness of the delegation (if any) and of the certificate.
func (v *Verifier) checkTimes(c *Certificate, e certEntry, now time.Time) error {
	if v.maxAge <= 0 {
		return nil
	}
	if e.delegated {
		if err := v.checkTime(e.delegationTime, now, DelegationMaxAge, true); err != nil {
			return err
		}
	}
	t, err := c.Time()
	if err != nil {
		return err
	}
	return v.checkTime(t, now, v.maxAge, false)
}

func (v *Verifier) checkTime(t, now time.Time, maxAge time.Duration, delegation bool) error {
	if age := now.Sub(t); age > maxAge {
		return &TimeError{Time: t, Now: now, Limit: maxAge, Delegation: delegation}
	}
	if ahead := t.Sub(now); ahead > v.skew {
		return &TimeError{Time: t, Now: now, Limit: v.skew, Future: true, Delegation: delegation}
	}
	return nil
}

// verifiedDelegation is a delegation whose certificate verified with the root key.
type verifiedDelegation struct {
	subnetRanges
	key  *bls.PublicKey
	time time.Time
}

// subnetRanges are the canister ranges of a subnet as a certificate reveals them: with sharded,
// the revealed shards of /canister_ranges/<subnet>; otherwise flat from
// /subnet/<subnet>/canister_ranges, or rangesErr if that is missing or malformed.
type subnetRanges struct {
	subnet    principal.Principal
	sharded   bool
	shards    []shard
	flat      []Range
	rangesErr error
}

// CheckCanisterRanges checks that canister lies in the canister ranges of subnet that tree (of an
// already verified certificate) reveals, in either layout: the sharded
// /canister_ranges/<subnet>/<shard> if present, else /subnet/<subnet>/canister_ranges. A canister
// outside them gives a *NotAuthorizedError (ErrNotAuthorized). Agents use it for the /subnet
// read_state that yields a subnet's node keys.
func CheckCanisterRanges(tree hashtree.Node, subnet, canister principal.Principal) error {
	sr := subnetRanges{subnet: subnet}
	sr.readRanges(tree, subnet.Bytes())
	return sr.authorize(canister)
}

// shard is one revealed leaf of /canister_ranges/<subnet>/<first canister id>.
type shard struct {
	first  []byte
	ranges []Range
	err    error
}

// delegation returns the verified delegation d, from the cache or by verifying it.
func (v *Verifier) delegation(d *Delegation) (*verifiedDelegation, error) {
	var key cacheKey
	if v.cache != nil {
		key = cacheKey{subnet: string(d.SubnetID), hash: sha256.Sum256(d.Certificate)}
		if vd, ok := v.cache.get(key); ok {
			return vd, nil
		}
	}
	vd, err := v.verifyDelegation(d)
	if err != nil {
		return nil, err
	}
	if v.cache != nil {
		v.cache.put(key, vd)
	}
	return vd, nil
}

func (v *Verifier) verifyDelegation(d *Delegation) (*verifiedDelegation, error) {
	subnet, err := principal.FromBytes(d.SubnetID)
	if err != nil {
		return nil, fmt.Errorf("%w: delegation subnet_id: %w", ErrMalformed, err)
	}
	dc, err := parse(d.Certificate) // d.Certificate is already a private copy
	if err != nil {
		return nil, fmt.Errorf("delegation certificate: %w", err)
	}
	if dc.Delegation != nil {
		return nil, ErrNestedDelegation
	}
	if !v.rootKey.Verify(dc.Signature, dc.SignedMessage()) {
		return nil, fmt.Errorf("%w: the delegation certificate of subnet %s does not verify with the root key: "+
			"is the root key wrong (for a local replica, fetch its root key, e.g. with --fetch-root-key)?", ErrBadSignature, subnet)
	}
	id := subnet.Bytes()
	pk := hashtree.Lookup(dc.Tree, []byte("subnet"), id, []byte("public_key"))
	if pk.Status != hashtree.Found {
		return nil, fmt.Errorf("%w: the delegation certificate does not reveal /subnet/%s/public_key (%v)", ErrInvalidDelegation, subnet, pk.Status)
	}
	key, err := bls.ParseDERPublicKey(pk.Value)
	if err != nil {
		return nil, fmt.Errorf("%w: public key of subnet %s: %w", ErrBadKey, subnet, err)
	}
	t, err := dc.Time()
	if err != nil {
		return nil, fmt.Errorf("delegation certificate: %w", err)
	}
	vd := &verifiedDelegation{subnetRanges: subnetRanges{subnet: subnet}, key: key, time: t}
	vd.readRanges(dc.Tree, id)
	return vd, nil
}

// readRanges reads the canister ranges of the delegation certificate: the sharded layout
// /canister_ranges/<subnet>/<shard> if that subtree is there, else /subnet/<subnet>/canister_ranges
// (the order of agent-rs).
func (vd *subnetRanges) readRanges(tree hashtree.Node, id []byte) {
	sub, st := hashtree.LookupSubtree(tree, []byte("canister_ranges"), id)
	switch st {
	case hashtree.Found:
		vd.sharded = true
		for _, child := range hashtree.Flatten(sub) {
			l, ok := child.(hashtree.Labeled)
			if !ok {
				continue
			}
			leaf, ok := l.Tree.(hashtree.Leaf)
			if !ok {
				continue
			}
			ranges, err := DecodeRanges(leaf)
			vd.shards = append(vd.shards, shard{first: bytes.Clone(l.Label), ranges: ranges, err: err})
		}
		return
	case hashtree.Error:
		vd.rangesErr = fmt.Errorf("%w: /canister_ranges/%s in the delegation certificate is not well-formed", ErrInvalidDelegation, vd.subnet)
		return
	}
	r := hashtree.Lookup(tree, []byte("subnet"), id, []byte("canister_ranges"))
	if r.Status != hashtree.Found {
		vd.rangesErr = fmt.Errorf("%w: the delegation certificate reveals neither /canister_ranges/%s (%v) nor /subnet/%s/canister_ranges (%v)",
			ErrInvalidDelegation, vd.subnet, st, vd.subnet, r.Status)
		return
	}
	vd.flat, vd.rangesErr = DecodeRanges(r.Value)
	if vd.rangesErr != nil {
		vd.rangesErr = fmt.Errorf("/subnet/%s/canister_ranges: %w", vd.subnet, vd.rangesErr)
	}
}

// authorizeScope checks that the delegation covers what s asks for.
func (vd *verifiedDelegation) authorizeScope(s scope) error {
	if s.checkSubnet && vd.subnet != s.subnet {
		return fmt.Errorf("%w: the certificate is delegated to subnet %s, not to %s", ErrInvalidDelegation, vd.subnet, s.subnet)
	}
	if !s.checkRanges {
		return nil
	}
	return vd.authorize(s.canister)
}

// authorize checks that canister lies in the ranges.
func (vd *subnetRanges) authorize(canister principal.Principal) error {
	ranges, err := vd.rangesFor(canister)
	if err != nil {
		return err
	}
	for _, r := range ranges {
		if r.Contains(canister) {
			return nil
		}
	}
	return &NotAuthorizedError{Canister: canister, Subnet: vd.subnet, Reason: "it is outside the canister ranges"}
}

// rangesFor returns the ranges that may contain canister: in the sharded layout, those of the shard
// with the greatest first id not above the canister.
func (vd *subnetRanges) rangesFor(canister principal.Principal) ([]Range, error) {
	if !vd.sharded {
		return vd.flat, vd.rangesErr
	}
	id := canister.Bytes()
	var best *shard
	for i := range vd.shards {
		sh := &vd.shards[i]
		if bytes.Compare(sh.first, id) <= 0 && (best == nil || bytes.Compare(sh.first, best.first) > 0) {
			best = sh
		}
	}
	if best == nil {
		return nil, &NotAuthorizedError{Canister: canister, Subnet: vd.subnet, Reason: "no revealed canister range shard can contain it"}
	}
	if best.err != nil {
		return nil, fmt.Errorf("/canister_ranges/%s shard %x: %w", vd.subnet, best.first, best.err)
	}
	return best.ranges, nil
}

// cacheKey identifies a delegation: the subnet id and SHA-256 of the delegation certificate.
type cacheKey struct {
	subnet string
	hash   [32]byte
}

// certKey identifies a verified certificate: SHA-256 of its bytes and what it was verified for.
type certKey struct {
	hash  [32]byte
	scope scope
}

// sigKey identifies a verified signature: the key (a root key, or a cached delegation's subnet
// key, kept alive by this reference), the root hash it signs and the signature.
type sigKey struct {
	key  *bls.PublicKey
	root [32]byte
	sig  string
}

// certEntry is what the time checks of a cached certificate need.
type certEntry struct {
	delegated      bool
	delegationTime time.Time
}
