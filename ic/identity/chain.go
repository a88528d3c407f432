package identity

import (
	"bytes"
	"encoding/hex"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/icws/icws/ic/principal"
)

var (
	// ErrDelegationChainTooLong is returned (wrapped) for a chain longer than
	// MaxDelegations.
	ErrDelegationChainTooLong = errors.New("chain of delegations is too long")
	// ErrDelegationExpired is matched (errors.Is) by *DelegationExpiredError.
	ErrDelegationExpired = errors.New("delegation has expired")
	// ErrDelegationCycle is returned (wrapped) when a public key repeats
	// along the chain (including the sender key).
	ErrDelegationCycle = errors.New("chain of delegations contains a cycle")
	// ErrDelegationTarget is returned (wrapped) when the canister is not
	// among a delegation's targets.
	ErrDelegationTarget = errors.New("canister is not one of the delegation targets")
)

// DelegationExpiredError reports a delegation whose expiration is before the
// verification time. It matches ErrDelegationExpired with errors.Is. A
// replica answers it like an invalid ingress expiry (HTTP 400).
type DelegationExpiredError struct {
	Index      int       // position in the chain
	Expiration uint64    // the delegation's expiration, ns since 1970
	Now        time.Time // the verification time
}

func (e *DelegationExpiredError) Error() string {
	return fmt.Sprintf("delegation %d has expired: expiration %s, now %s",
		e.Index, time.Unix(0, int64(min(e.Expiration, 1<<63-1))).UTC().Format(time.RFC3339Nano), e.Now.UTC().Format(time.RFC3339Nano))
}

// Is reports whether target is ErrDelegationExpired.
func (e *DelegationExpiredError) Is(target error) bool { return target == ErrDelegationExpired }

// Targets is the set of canisters a delegation chain allows: the
// intersection of the targets of its delegations. A chain without any
// targets allows every canister.
type Targets struct {
	chain []SignedDelegation
}

// ChainTargets returns the canisters chain allows. It does not verify the
// chain; use it after VerifyDelegationChain succeeded.
func ChainTargets(chain []SignedDelegation) Targets { return Targets{chain: chain} }

// All reports whether every canister is allowed.
func (t Targets) All() bool {
	for i := range t.chain {
		if t.chain[i].Delegation.Targets != nil {
			return false
		}
	}
	return true
}

// Contains reports whether canister is allowed.
func (t Targets) Contains(canister principal.Principal) bool {
	for i := range t.chain {
		if ts := t.chain[i].Delegation.Targets; ts != nil && !slices.Contains(ts, canister) {
			return false
		}
	}
	return true
}

// VerifyDelegations checks a sender_delegation chain with
// VerifyDelegationChain and then requires canister to be among the targets of
// every delegation that has targets. It returns the public key that must sign
// the request.
func VerifyDelegations(senderPubKey []byte, chain []SignedDelegation, now time.Time, canister principal.Principal) (signingKey []byte, err error) {
	key, err := VerifyDelegationChain(senderPubKey, chain, now)
	if err != nil {
		return nil, err
	}
	for i := range chain {
		if t := chain[i].Delegation.Targets; t != nil && !slices.Contains(t, canister) {
			return nil, fmt.Errorf("%w: canister %s is not a target of delegation %d", ErrDelegationTarget, canister, i)
		}
	}
	return key, nil
}

// VerifyDelegationChain checks a sender_delegation chain, without looking
// at targets, and returns the public key that must sign the request: the last
// delegation's key, or senderPubKey itself for an empty chain. The canisters
// the chain allows are ChainTargets(chain).
//
// In the order the IC's validator applies them, it requires: at most
// MaxDelegations delegations; none expired at now (expiration >= now); no
// public key repeated along the chain, the sender key included; at most
// MaxTargets targets per delegation; and each delegation signed (with
// DelegationDomainSeparator) by the previous key, the first by senderPubKey.
//
// Errors wrap ErrDelegationChainTooLong, ErrDelegationExpired (as
// *DelegationExpiredError), ErrDelegationCycle, ErrInvalidDelegation, or the
// errors of VerifySignature, and say which delegation failed.
func VerifyDelegationChain(senderPubKey []byte, chain []SignedDelegation, now time.Time) (signingKey []byte, err error) {
	if len(chain) > MaxDelegations {
		return nil, fmt.Errorf("%w: got %d delegations, but at most %d are allowed", ErrDelegationChainTooLong, len(chain), MaxDelegations)
	}
	nowNS := now.UnixNano()
	for i := range chain {
		if exp := chain[i].Delegation.Expiration; nowNS > 0 && exp < uint64(nowNS) {
			return nil, &DelegationExpiredError{Index: i, Expiration: exp, Now: now}
		}
	}
	for i := range chain {
		key := chain[i].Delegation.PubKey
		if bytes.Equal(key, senderPubKey) {
			return nil, fmt.Errorf("%w: delegation %d delegates back to the sender key %s", ErrDelegationCycle, i, hex.EncodeToString(key))
		}
		for j := range i {
			if bytes.Equal(key, chain[j].Delegation.PubKey) {
				return nil, fmt.Errorf("%w: delegations %d and %d both delegate to key %s", ErrDelegationCycle, j, i, hex.EncodeToString(key))
			}
		}
		if n := len(chain[i].Delegation.Targets); n > MaxTargets {
			return nil, fmt.Errorf("%w: delegation %d has %d targets, at most %d are allowed", ErrInvalidDelegation, i, n, MaxTargets)
		}
	}
	key := senderPubKey
	for i := range chain {
		d := &chain[i].Delegation
		if err := VerifySignature(key, d.Signable(), chain[i].Signature); err != nil {
			return nil, fmt.Errorf("delegation %d: %w", i, err)
		}
		key = d.PubKey
	}
	return key, nil
}
