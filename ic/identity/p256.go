package identity

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"fmt"

	"github.com/icws/icws/ic/principal"
)

// P256 is an identity holding an ECDSA P-256 (secp256r1) key, the kind
// agent-js uses for browser session keys (ECDSAKeyIdentity).
type P256 struct {
	key    *ecdsa.PrivateKey
	der    []byte
	sender principal.Principal
}

// NewP256 returns the identity of key, which must be on the P-256 curve.
func NewP256(key *ecdsa.PrivateKey) (*P256, error) {
	if key == nil || key.Curve != elliptic.P256() {
		return nil, fmt.Errorf("%w: not a P-256 key", ErrInvalidPrivateKey)
	}
	point, err := key.PublicKey.Bytes()
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrInvalidPrivateKey, err)
	}
	der := make([]byte, 0, len(P256DERPrefix)+len(point))
	der = append(der, P256DERPrefix...)
	der = append(der, point...)
	return &P256{key: key, der: der, sender: principal.SelfAuthenticating(der)}, nil
}

// GenerateP256 returns a fresh P-256 identity with a key from crypto/rand.
func GenerateP256() (*P256, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("identity: generate P-256 key: %w", err)
	}
	return NewP256(key)
}

// Sender returns the self-authenticating principal of the public key.
func (p *P256) Sender() principal.Principal { return p.sender }

// PublicKey returns the 91-byte DER public key. The caller must not modify it.
func (p *P256) PublicKey() []byte { return p.der }

// Sign returns r ‖ s (64 bytes) of an ECDSA signature over SHA-256(msg).
func (p *P256) Sign(msg []byte) ([]byte, error) {
	h := sha256.Sum256(msg)
	r, s, err := ecdsa.Sign(rand.Reader, p.key, h[:])
	if err != nil {
		return nil, fmt.Errorf("identity: P-256 sign: %w", err)
	}
	sig := make([]byte, 64)
	r.FillBytes(sig[:32]) // r, s < curve order < 2^256
	s.FillBytes(sig[32:])
	return sig, nil
}

// Delegations returns nil: a P-256 identity signs as itself.
func (p *P256) Delegations() []SignedDelegation { return nil }
