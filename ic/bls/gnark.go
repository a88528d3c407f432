//go:build !cgo || purego

package bls

import (
	"bytes"
	"fmt"
	"math/big"

	bls12381 "github.com/consensys/gnark-crypto/ecc/bls12-381"
)

// Backend names the implementation in use.
const Backend = "gnark-crypto (pure Go)"

// PublicKey is a validated public key: a point of G2, in the prime-order subgroup, not the
// identity. It is immutable and safe for concurrent use.
type PublicKey struct {
	p          bls12381.G2Affine
	compressed [PublicKeySize]byte
}

// ParsePublicKey decompresses and validates a 96-byte public key. Parse a key once and reuse it:
// decompression and the subgroup check cost about as much as a verification.
func ParsePublicKey(b []byte) (*PublicKey, error) {
	if len(b) != PublicKeySize {
		return nil, fmt.Errorf("%w: public key has %d bytes, want %d", ErrInvalidKey, len(b), PublicKeySize)
	}
	if b[0]&0x80 == 0 {
		return nil, fmt.Errorf("%w: public key is not a compressed G2 point", ErrInvalidKey)
	}
	pk := &PublicKey{}
	// SetBytes checks that the point is on the curve and in the subgroup.
	if _, err := pk.p.SetBytes(b); err != nil {
		return nil, fmt.Errorf("%w: public key is not a compressed G2 point in the subgroup: %v", ErrInvalidKey, err)
	}
	if pk.p.IsInfinity() {
		return nil, fmt.Errorf("%w: public key is the identity or outside the G2 subgroup", ErrInvalidKey)
	}
	copy(pk.compressed[:], b)
	return pk, nil
}

// Verify reports whether sig is a valid signature of msg under pk. The signature must be a
// 48-byte compressed G1 point in the prime-order subgroup and not the identity.
func (pk *PublicKey) Verify(sig, msg []byte) bool {
	if len(sig) != SignatureSize || sig[0]&0x80 == 0 {
		return false
	}
	var s bls12381.G1Affine
	if _, err := s.SetBytes(sig); err != nil || s.IsInfinity() {
		return false
	}
	h, err := bls12381.HashToG1(msg, []byte(DST))
	if err != nil {
		return false
	}
	// e(sig, g2) == e(H(msg), pk)  ⇔  e(sig, -g2) · e(H(msg), pk) == 1
	_, _, _, g2 := bls12381.Generators()
	var negG2 bls12381.G2Affine
	negG2.Neg(&g2)
	ok, err := bls12381.PairingCheck([]bls12381.G1Affine{s, h}, []bls12381.G2Affine{negG2, pk.p})
	return err == nil && ok
}

// SecretKey is a BLS secret key (a scalar modulo the group order). It is safe for concurrent use.
type SecretKey struct {
	sk big.Int
	pk [PublicKeySize]byte
}

// SecretKeyFromBytes decodes a secret key from its 32-byte big-endian form (as returned by Bytes).
// The scalar must be nonzero and less than the group order.
func SecretKeyFromBytes(b []byte) (*SecretKey, error) {
	if err := checkScalar(b); err != nil {
		return nil, err
	}
	k := &SecretKey{}
	k.sk.SetBytes(b)
	_, _, _, g2 := bls12381.Generators()
	var pk bls12381.G2Affine
	pk.ScalarMultiplication(&g2, &k.sk)
	c := pk.Bytes()
	copy(k.pk[:], c[:])
	return k, nil
}

// Bytes returns the 32-byte big-endian encoding of the secret key, for storage. Keep it secret.
func (k *SecretKey) Bytes() []byte { return k.sk.FillBytes(make([]byte, SecretKeySize)) }

// Sign returns the 48-byte signature of msg.
func (k *SecretKey) Sign(msg []byte) []byte {
	h, err := bls12381.HashToG1(msg, []byte(DST))
	if err != nil {
		panic(fmt.Sprintf("bls: hash to G1: %v", err)) // only for a DST over 255 bytes
	}
	var sig bls12381.G1Affine
	sig.ScalarMultiplication(&h, &k.sk)
	c := sig.Bytes()
	return bytes.Clone(c[:])
}
