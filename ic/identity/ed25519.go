package identity

import (
	"crypto/ed25519"
	"crypto/rand"
	"fmt"

	"github.com/icws/icws/ic/principal"
)

// Ed25519DERPrefix is the DER SubjectPublicKeyInfo header (RFC 8410) that
// precedes a raw 32-byte Ed25519 public key.
const Ed25519DERPrefix = "\x30\x2a\x30\x05\x06\x03\x2b\x65\x70\x03\x21\x00"

// Ed25519DERSize is the length of a DER Ed25519 public key.
const Ed25519DERSize = len(Ed25519DERPrefix) + ed25519.PublicKeySize

// Ed25519 is an identity holding an Ed25519 key pair (what dfx calls a basic
// identity).
type Ed25519 struct {
	key    ed25519.PrivateKey
	der    []byte
	sender principal.Principal
}

// NewEd25519 returns the identity of key. Only the key's 32-byte seed is
// used; the public half is derived from it. It panics if key is not
// ed25519.PrivateKeySize bytes long, as ed25519.Sign would.
func NewEd25519(key ed25519.PrivateKey) *Ed25519 {
	if len(key) != ed25519.PrivateKeySize {
		panic(fmt.Sprintf("identity: Ed25519 private key is %d bytes, want %d", len(key), ed25519.PrivateKeySize))
	}
	return newEd25519FromSeed(key.Seed())
}

// Ed25519FromSeed returns the identity whose private key is the 32-byte
// RFC 8032 seed.
func Ed25519FromSeed(seed []byte) (*Ed25519, error) {
	if len(seed) != ed25519.SeedSize {
		return nil, fmt.Errorf("%w: Ed25519 seed is %d bytes, want %d", ErrInvalidPrivateKey, len(seed), ed25519.SeedSize)
	}
	return newEd25519FromSeed(seed), nil
}

// GenerateEd25519 returns a fresh identity with a key from crypto/rand.
func GenerateEd25519() (*Ed25519, error) {
	_, key, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("identity: generate Ed25519 key: %w", err)
	}
	return NewEd25519(key), nil
}

func newEd25519FromSeed(seed []byte) *Ed25519 {
	key := ed25519.NewKeyFromSeed(seed)
	der := Ed25519PublicKeyToDER(key.Public().(ed25519.PublicKey))
	return &Ed25519{key: key, der: der, sender: principal.SelfAuthenticating(der)}
}

// Ed25519PublicKeyToDER wraps a raw 32-byte Ed25519 public key in its DER
// SubjectPublicKeyInfo (44 bytes).
func Ed25519PublicKeyToDER(raw ed25519.PublicKey) []byte {
	der := make([]byte, 0, len(Ed25519DERPrefix)+len(raw))
	der = append(der, Ed25519DERPrefix...)
	return append(der, raw...)
}

// Ed25519PublicKeyFromDER returns the raw key of a 44-byte DER Ed25519
// public key.
func Ed25519PublicKeyFromDER(der []byte) (ed25519.PublicKey, error) {
	if len(der) != Ed25519DERSize || string(der[:len(Ed25519DERPrefix)]) != Ed25519DERPrefix {
		return nil, fmt.Errorf("%w: not a %d-byte DER Ed25519 key (%d bytes)", ErrInvalidPublicKey, Ed25519DERSize, len(der))
	}
	return ed25519.PublicKey(der[len(Ed25519DERPrefix):]), nil
}

// Sender returns the self-authenticating principal of the public key.
func (e *Ed25519) Sender() principal.Principal { return e.sender }

// PublicKey returns the 44-byte DER public key. The caller must not modify it.
func (e *Ed25519) PublicKey() []byte { return e.der }

// Sign returns the 64-byte Ed25519 signature of msg.
func (e *Ed25519) Sign(msg []byte) ([]byte, error) { return ed25519.Sign(e.key, msg), nil }

// Delegations returns nil: an Ed25519 identity signs as itself.
func (e *Ed25519) Delegations() []SignedDelegation { return nil }

// PrivateKey returns the private key.
func (e *Ed25519) PrivateKey() ed25519.PrivateKey { return e.key }
