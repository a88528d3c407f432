package identity

import (
	"bytes"
	"fmt"

	"github.com/icws/icws/ic/principal"
)

// Delegated is an identity that sends as the owner of a sender key (for
// example an Internet Identity user) while signing with an inner session key
// that a delegation chain authorizes.
type Delegated struct {
	inner     Identity
	senderKey []byte
	chain     []SignedDelegation
	sender    principal.Principal
}

// NewDelegated returns an identity sending as SelfAuthenticating(senderPubKey)
// and signing with inner. chain must hold 1 to MaxDelegations delegations,
// the first signed by senderPubKey's key and the last delegating to
// inner.PublicKey(). The signatures are not verified here (the sender key may
// be of a kind VerifySignature does not support, such as a canister
// signature); see VerifyDelegations.
func NewDelegated(inner Identity, senderPubKey []byte, chain []SignedDelegation) (*Delegated, error) {
	if inner == nil || inner.PublicKey() == nil {
		return nil, fmt.Errorf("%w: the inner identity of a delegated identity needs a public key", ErrInvalidDelegation)
	}
	if len(senderPubKey) == 0 {
		return nil, fmt.Errorf("%w: empty sender public key", ErrInvalidDelegation)
	}
	if len(chain) == 0 || len(chain) > MaxDelegations {
		return nil, fmt.Errorf("%w: chain of %d delegations, want 1 to %d", ErrInvalidDelegation, len(chain), MaxDelegations)
	}
	if last := chain[len(chain)-1].Delegation.PubKey; !bytes.Equal(last, inner.PublicKey()) {
		return nil, fmt.Errorf("%w: the last delegation is not to the inner identity's key", ErrInvalidDelegation)
	}
	return &Delegated{
		inner:     inner,
		senderKey: bytes.Clone(senderPubKey),
		chain:     chain,
		sender:    principal.SelfAuthenticating(senderPubKey),
	}, nil
}

// Sender returns the self-authenticating principal of the sender key.
func (d *Delegated) Sender() principal.Principal { return d.sender }

// PublicKey returns the sender's DER public key (not the inner key). The
// caller must not modify it.
func (d *Delegated) PublicKey() []byte { return d.senderKey }

// Sign signs msg with the inner identity.
func (d *Delegated) Sign(msg []byte) ([]byte, error) { return d.inner.Sign(msg) }

// Delegations returns the chain. The caller must not modify it.
func (d *Delegated) Delegations() []SignedDelegation { return d.chain }
