// Package identity holds the signers of Internet Computer requests: the
// anonymous identity, Ed25519 and ECDSA P-256 keys, delegated identities and
// delegation chains, and the verification of signatures and chains that a
// replica performs.
//
// Public keys travel as DER SubjectPublicKeyInfo; a sender is the
// self-authenticating principal of its DER key. Sign signs the bytes it is
// given; callers prepend the domain separator (`\x0Aic-request` for
// requests, `\x1Aic-request-auth-delegation` for delegations).
package identity

import (
	"errors"

	"github.com/icws/icws/ic/principal"
)

// Identity signs requests on behalf of a sender.
//
// Implementations are safe for concurrent use.
type Identity interface {
	// Sender is the principal requests are sent as.
	Sender() principal.Principal
	// PublicKey is the DER public key placed in sender_pubkey; nil for the
	// anonymous identity. The caller must not modify the result.
	PublicKey() []byte
	// Sign signs msg as is (callers add domain separators). For a delegated
	// identity the signature is made with the key at the end of the chain.
	Sign(msg []byte) ([]byte, error)
	// Delegations is the chain placed in sender_delegation; nil unless the
	// identity is delegated. The caller must not modify the result.
	Delegations() []SignedDelegation
}

// ErrAnonymousSign is returned by the anonymous identity's Sign.
var ErrAnonymousSign = errors.New("identity: the anonymous identity cannot sign")

type anonymous struct{}

// Anonymous returns the anonymous identity: sender 2vxsx-fae, no key, no
// signature.
func Anonymous() Identity { return anonymous{} }

func (anonymous) Sender() principal.Principal     { return principal.Anonymous() }
func (anonymous) PublicKey() []byte               { return nil }
func (anonymous) Sign([]byte) ([]byte, error)     { return nil, ErrAnonymousSign }
func (anonymous) Delegations() []SignedDelegation { return nil }
