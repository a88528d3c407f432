//go:build cgo && !purego

package bls

import (
	"fmt"

	blst "github.com/supranational/blst/bindings/go"
)

// Backend names the implementation in use.
const Backend = "blst (cgo)"

// PublicKey is a validated public key: a point of G2, in the prime-order subgroup, not the
// identity. It is immutable and safe for concurrent use.
type PublicKey struct {
	p          blst.P2Affine
	compressed [PublicKeySize]byte
}

// ParsePublicKey decompresses and validates a 96-byte public key. Parse a key once and reuse it:
// decompression and the subgroup check cost about as much as a verification.
func ParsePublicKey(b []byte) (*PublicKey, error) {
	if len(b) != PublicKeySize {
		return nil, fmt.Errorf("%w: public key has %d bytes, want %d", ErrInvalidKey, len(b), PublicKeySize)
	}
	pk := &PublicKey{}
	if pk.p.Uncompress(b) == nil {
		return nil, fmt.Errorf("%w: public key is not a compressed G2 point", ErrInvalidKey)
	}
	if !pk.p.KeyValidate() {
		return nil, fmt.Errorf("%w: public key is the identity or outside the G2 subgroup", ErrInvalidKey)
	}
	copy(pk.compressed[:], b)
	return pk, nil
}

// Verify reports whether sig is a valid signature of msg under pk. The signature must be a
// 48-byte compressed G1 point in the prime-order subgroup and not the identity.
func (pk *PublicKey) Verify(sig, msg []byte) bool {
	if len(sig) != SignatureSize {
		return false
	}
	var s blst.P1Affine
	if s.Uncompress(sig) == nil || !s.SigValidate(true) {
		return false
	}
	// The signature was group-checked just above; the key when it was parsed.
	return s.Verify(false, &pk.p, false, msg, []byte(DST))
}

// SecretKey is a BLS secret key (a scalar modulo the group order). It is safe for concurrent use.
type SecretKey struct {
	sk blst.SecretKey
	pk [PublicKeySize]byte
}

// SecretKeyFromBytes decodes a secret key from its 32-byte big-endian form (as returned by Bytes).
// The scalar must be nonzero and less than the group order.
func SecretKeyFromBytes(b []byte) (*SecretKey, error) {
	if err := checkScalar(b); err != nil {
		return nil, err
	}
	k := &SecretKey{}
	if k.sk.Deserialize(b) == nil {
		return nil, fmt.Errorf("%w: secret key is zero or not less than the group order", ErrInvalidKey)
	}
	var pk blst.P2Affine
	pk.From(&k.sk)
	copy(k.pk[:], pk.Compress())
	return k, nil
}

// Bytes returns the 32-byte big-endian encoding of the secret key, for storage. Keep it secret.
func (k *SecretKey) Bytes() []byte { return k.sk.Serialize() }

// Sign returns the 48-byte signature of msg.
func (k *SecretKey) Sign(msg []byte) []byte {
	var sig blst.P1Affine
	sig.Sign(&k.sk, msg, []byte(DST))
	return sig.Compress()
}
