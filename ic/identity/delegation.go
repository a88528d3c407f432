package identity

import (
	"crypto/sha256"
	"errors"
	"fmt"

	"github.com/icws/icws/ic/cbor"
	"github.com/icws/icws/ic/principal"
	"github.com/icws/icws/ic/requestid"
)

// DelegationDomainSeparator is prepended to a delegation's hash to form the
// message its signer signs (`\x1Aic-request-auth-delegation`).
const DelegationDomainSeparator = "\x1Aic-request-auth-delegation"

// MaxDelegations is the longest delegation chain a request may carry.
const MaxDelegations = 20

// MaxTargets is the most canister ids one delegation may restrict itself to.
const MaxTargets = 1000

// ErrInvalidDelegation is returned (wrapped) for a delegation that is
// malformed, as opposed to one that fails verification.
var ErrInvalidDelegation = errors.New("identity: malformed delegation")

// Delegation authorizes PubKey to sign on behalf of the delegating key until
// Expiration, optionally only for the canisters in Targets.
//
// Its CBOR form is the map {pubkey: blob, expiration: nat, targets?: [blob]}.
// Targets == nil means the field is absent (all canisters); a non-nil empty
// slice is present and allows no canister at all.
type Delegation struct {
	PubKey     []byte                // DER public key being delegated to
	Expiration uint64                // nanoseconds since 1970-01-01
	Targets    []principal.Principal // nil: unrestricted
}

// SignedDelegation is a Delegation with the signature of the delegating key,
// in CBOR {delegation: {...}, signature: blob}.
type SignedDelegation struct {
	Delegation Delegation
	Signature  []byte
}

// Hash returns hash_of_map of the delegation's CBOR map.
func (d *Delegation) Hash() [32]byte {
	var pairs [3][64]byte
	n := 0
	put := func(key string, vh [32]byte) {
		kh := requestid.SumString(key)
		copy(pairs[n][:32], kh[:])
		copy(pairs[n][32:], vh[:])
		n++
	}
	put("pubkey", sha256.Sum256(d.PubKey))
	put("expiration", requestid.SumNat(d.Expiration))
	if d.Targets != nil {
		h := sha256.New()
		for _, t := range d.Targets {
			th := sha256.Sum256(t.Bytes())
			h.Write(th[:])
		}
		var th [32]byte
		h.Sum(th[:0])
		put("targets", th)
	}
	return [32]byte(requestid.SumPairs(pairs[:n]))
}

// Signable returns the bytes the delegating key signs:
// `\x1Aic-request-auth-delegation` followed by Hash().
func (d *Delegation) Signable() []byte {
	h := d.Hash()
	b := make([]byte, 0, len(DelegationDomainSeparator)+len(h))
	b = append(b, DelegationDomainSeparator...)
	return append(b, h[:]...)
}

// SignDelegation returns d signed by signer, which must be the identity whose
// key is being delegated from (the sender key for the first delegation of a
// chain, the previous delegation's key after that).
func SignDelegation(signer Identity, d Delegation) (SignedDelegation, error) {
	sig, err := signer.Sign(d.Signable())
	if err != nil {
		return SignedDelegation{}, fmt.Errorf("identity: sign delegation: %w", err)
	}
	return SignedDelegation{Delegation: d, Signature: sig}, nil
}

// wire forms; field order matches what agent-js and agent-rs send.
type delegationWire struct {
	PubKey     []byte                `cbor:"pubkey"`
	Expiration uint64                `cbor:"expiration"`
	Targets    []principal.Principal `cbor:"targets"`
}

type delegationWireNoTargets struct {
	PubKey     []byte `cbor:"pubkey"`
	Expiration uint64 `cbor:"expiration"`
}

// MarshalCBOR encodes the delegation as {pubkey, expiration, targets?},
// writing targets exactly when Targets is non-nil.
func (d Delegation) MarshalCBOR() ([]byte, error) {
	pub := d.PubKey
	if pub == nil {
		pub = []byte{}
	}
	if d.Targets == nil {
		return cbor.MarshalUntagged(delegationWireNoTargets{PubKey: pub, Expiration: d.Expiration})
	}
	return cbor.MarshalUntagged(delegationWire{PubKey: pub, Expiration: d.Expiration, Targets: d.Targets})
}

// UnmarshalCBOR decodes a delegation map strictly (see DelegationFromValue).
func (d *Delegation) UnmarshalCBOR(data []byte) error {
	var v any
	if err := cbor.Unmarshal(data, &v); err != nil {
		return fmt.Errorf("%w: %w", ErrInvalidDelegation, err)
	}
	got, err := DelegationFromValue(v)
	if err != nil {
		return err
	}
	*d = got
	return nil
}

type signedDelegationWire struct {
	Delegation Delegation `cbor:"delegation"`
	Signature  []byte     `cbor:"signature"`
}

// MarshalCBOR encodes the signed delegation as {delegation, signature}.
func (s SignedDelegation) MarshalCBOR() ([]byte, error) {
	sig := s.Signature
	if sig == nil {
		sig = []byte{}
	}
	return cbor.MarshalUntagged(signedDelegationWire{Delegation: s.Delegation, Signature: sig})
}

// UnmarshalCBOR decodes a signed delegation map strictly (see
// SignedDelegationFromValue).
func (s *SignedDelegation) UnmarshalCBOR(data []byte) error {
	var v any
	if err := cbor.Unmarshal(data, &v); err != nil {
		return fmt.Errorf("%w: %w", ErrInvalidDelegation, err)
	}
	got, err := SignedDelegationFromValue(v)
	if err != nil {
		return err
	}
	*s = got
	return nil
}

// SignedDelegationFromValue converts a generically decoded CBOR value (as
// ic/cbor decodes into `any`) into a SignedDelegation. It requires exactly the
// keys delegation and signature; see DelegationFromValue for the inner map.
func SignedDelegationFromValue(v any) (SignedDelegation, error) {
	m, ok := v.(map[string]any)
	if !ok {
		return SignedDelegation{}, fmt.Errorf("%w: signed delegation is %s, want a map", ErrInvalidDelegation, cbor.Kind(v))
	}
	for k := range m {
		if k != "delegation" && k != "signature" {
			return SignedDelegation{}, fmt.Errorf("%w: signed delegation has unknown field %q", ErrInvalidDelegation, k)
		}
	}
	dv, ok := m["delegation"]
	if !ok {
		return SignedDelegation{}, fmt.Errorf("%w: signed delegation has no field %q", ErrInvalidDelegation, "delegation")
	}
	d, err := DelegationFromValue(dv)
	if err != nil {
		return SignedDelegation{}, err
	}
	sv, ok := m["signature"]
	if !ok {
		return SignedDelegation{}, fmt.Errorf("%w: signed delegation has no field %q", ErrInvalidDelegation, "signature")
	}
	sig, ok := sv.([]byte)
	if !ok {
		return SignedDelegation{}, fmt.Errorf("%w: signature is %s, want a blob", ErrInvalidDelegation, cbor.Kind(sv))
	}
	return SignedDelegation{Delegation: d, Signature: sig}, nil
}

// DelegationFromValue converts a generically decoded CBOR delegation map
// {pubkey: blob, expiration: nat, targets?: [blob]} into a Delegation.
// Unknown fields are refused (a restriction the verifier does not understand,
// such as the retired `senders`, must not be silently dropped), as are more
// than MaxTargets targets and targets that are not principals.
func DelegationFromValue(v any) (Delegation, error) {
	m, ok := v.(map[string]any)
	if !ok {
		return Delegation{}, fmt.Errorf("%w: delegation is %s, want a map", ErrInvalidDelegation, cbor.Kind(v))
	}
	var d Delegation
	for k, fv := range m {
		switch k {
		case "pubkey":
			b, ok := fv.([]byte)
			if !ok {
				return Delegation{}, fmt.Errorf("%w: pubkey is %s, want a blob", ErrInvalidDelegation, cbor.Kind(fv))
			}
			d.PubKey = b
		case "expiration":
			n, ok := fv.(uint64)
			if !ok {
				return Delegation{}, fmt.Errorf("%w: expiration is %s, want a nat", ErrInvalidDelegation, cbor.Kind(fv))
			}
			d.Expiration = n
		case "targets":
			arr, ok := fv.([]any)
			if !ok {
				return Delegation{}, fmt.Errorf("%w: targets is %s, want an array", ErrInvalidDelegation, cbor.Kind(fv))
			}
			if len(arr) > MaxTargets {
				return Delegation{}, fmt.Errorf("%w: %d targets, at most %d are allowed", ErrInvalidDelegation, len(arr), MaxTargets)
			}
			d.Targets = make([]principal.Principal, len(arr))
			for i, tv := range arr {
				b, ok := tv.([]byte)
				if !ok {
					return Delegation{}, fmt.Errorf("%w: target %d is %s, want a blob", ErrInvalidDelegation, i, cbor.Kind(tv))
				}
				p, err := principal.FromBytes(b)
				if err != nil {
					return Delegation{}, fmt.Errorf("%w: target %d: %w", ErrInvalidDelegation, i, err)
				}
				d.Targets[i] = p
			}
		default:
			return Delegation{}, fmt.Errorf("%w: unknown field %q", ErrInvalidDelegation, k)
		}
	}
	if _, ok := m["pubkey"]; !ok {
		return Delegation{}, fmt.Errorf("%w: no field %q", ErrInvalidDelegation, "pubkey")
	}
	if _, ok := m["expiration"]; !ok {
		return Delegation{}, fmt.Errorf("%w: no field %q", ErrInvalidDelegation, "expiration")
	}
	return d, nil
}
