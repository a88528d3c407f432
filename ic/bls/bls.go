// Package bls implements the BLS signatures of the Internet Computer: BLS12-381 in the
// "minimal-signature-size" variant, with signatures in G1 (48 bytes compressed) and public keys in
// G2 (96 bytes compressed), hashing to G1 with the ciphersuite
// BLS_SIG_BLS12381G1_XMD:SHA-256_SSWU_RO_NUL_. Subnet and root keys travel DER-wrapped (133 bytes,
// a fixed 37-byte prefix followed by the key).
//
// The package keeps github.com/supranational/blst (cgo) behind this small API, so that another
// implementation can replace it without touching callers.
package bls

import (
	"bytes"
	"crypto/rand"
	"errors"
	"fmt"

	blst "github.com/supranational/blst/bindings/go"
)

// Sizes of the encodings.
const (
	PublicKeySize = 96  // compressed G2 point
	SignatureSize = 48  // compressed G1 point
	SecretKeySize = 32  // big-endian scalar
	DERKeySize    = 133 // len(DER prefix) + PublicKeySize
)

// DST is the hash-to-curve domain separation tag of the IC's BLS scheme.
const DST = "BLS_SIG_BLS12381G1_XMD:SHA-256_SSWU_RO_NUL_"

// derPrefix is the DER SubjectPublicKeyInfo header of a BLS12-381 G2 key:
// SEQUENCE { SEQUENCE { OID 1.3.6.1.4.1.44668.5.3.1.2.1, OID 1.3.6.1.4.1.44668.5.3.2.1 },
// BIT STRING (97 bytes, no unused bits) }.
const derPrefix = "\x30\x81\x82\x30\x1d\x06\x0d\x2b\x06\x01\x04\x01\x82\xdc\x7c\x05\x03\x01\x02\x01" +
	"\x06\x0c\x2b\x06\x01\x04\x01\x82\xdc\x7c\x05\x03\x02\x01\x03\x61\x00"

// Errors of the key decoders.
var (
	// ErrInvalidKey is wrapped by errors about malformed public keys, DER wrappers and secret keys.
	ErrInvalidKey = errors.New("bls: invalid key")
)

// DERPrefix returns the 37-byte DER prefix of a BLS public key.
func DERPrefix() []byte { return []byte(derPrefix) }

// PublicKeyToDER wraps a 96-byte public key in its DER SubjectPublicKeyInfo (133 bytes). It
// panics if pk is not 96 bytes long, which is a programming error.
func PublicKeyToDER(pk []byte) []byte {
	if len(pk) != PublicKeySize {
		panic(fmt.Sprintf("bls: PublicKeyToDER: key has %d bytes, want %d", len(pk), PublicKeySize))
	}
	return append([]byte(derPrefix), pk...)
}

// PublicKeyFromDER returns the 96-byte public key inside a DER-wrapped BLS key. Like the IC agents,
// it requires exactly the 37-byte prefix followed by 96 bytes; the key itself is not checked here
// (ParsePublicKey does that).
func PublicKeyFromDER(der []byte) ([]byte, error) {
	if len(der) != DERKeySize {
		return nil, fmt.Errorf("%w: DER key has %d bytes, want %d", ErrInvalidKey, len(der), DERKeySize)
	}
	if !bytes.HasPrefix(der, []byte(derPrefix)) {
		return nil, fmt.Errorf("%w: DER key does not start with the BLS12-381 G2 prefix %x", ErrInvalidKey, derPrefix)
	}
	return bytes.Clone(der[len(derPrefix):]), nil
}

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

// ParseDERPublicKey is PublicKeyFromDER followed by ParsePublicKey.
func ParseDERPublicKey(der []byte) (*PublicKey, error) {
	raw, err := PublicKeyFromDER(der)
	if err != nil {
		return nil, err
	}
	return ParsePublicKey(raw)
}

// Bytes returns the 96-byte compressed key.
func (pk *PublicKey) Bytes() []byte { return bytes.Clone(pk.compressed[:]) }

// DER returns the 133-byte DER encoding of the key.
func (pk *PublicKey) DER() []byte { return PublicKeyToDER(pk.compressed[:]) }

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

// Verify reports whether sig (48 bytes) is a valid signature of msg under the public key pk
// (96 bytes), with all group and identity checks. Malformed inputs give false.
func Verify(pk, sig, msg []byte) bool {
	key, err := ParsePublicKey(pk)
	if err != nil {
		return false
	}
	return key.Verify(sig, msg)
}

// SecretKey is a BLS secret key (a scalar modulo the group order). It is safe for concurrent use.
type SecretKey struct {
	sk blst.SecretKey
	pk [PublicKeySize]byte
}

// GenerateKey derives a secret key from at least 32 bytes of input keying material, as KeyGen of
// the IETF BLS signature draft. With ikm nil it reads 32 random bytes from crypto/rand.
func GenerateKey(ikm []byte) (*SecretKey, error) {
	if ikm == nil {
		ikm = make([]byte, 32)
		if _, err := rand.Read(ikm); err != nil {
			return nil, fmt.Errorf("bls: reading random key material: %w", err)
		}
	}
	if len(ikm) < 32 {
		return nil, fmt.Errorf("%w: key material has %d bytes, want at least 32", ErrInvalidKey, len(ikm))
	}
	sk := blst.KeyGen(ikm)
	if sk == nil {
		return nil, fmt.Errorf("%w: key generation failed", ErrInvalidKey)
	}
	return newSecretKey(sk), nil
}

// SecretKeyFromBytes decodes a secret key from its 32-byte big-endian form (as returned by Bytes).
// The scalar must be nonzero and less than the group order.
func SecretKeyFromBytes(b []byte) (*SecretKey, error) {
	if len(b) != SecretKeySize {
		return nil, fmt.Errorf("%w: secret key has %d bytes, want %d", ErrInvalidKey, len(b), SecretKeySize)
	}
	var sk blst.SecretKey
	if sk.Deserialize(b) == nil {
		return nil, fmt.Errorf("%w: secret key is zero or not less than the group order", ErrInvalidKey)
	}
	return newSecretKey(&sk), nil
}

func newSecretKey(sk *blst.SecretKey) *SecretKey {
	k := &SecretKey{sk: *sk}
	var pk blst.P2Affine
	pk.From(&k.sk)
	copy(k.pk[:], pk.Compress())
	return k
}

// Bytes returns the 32-byte big-endian encoding of the secret key, for storage. Keep it secret.
func (k *SecretKey) Bytes() []byte { return k.sk.Serialize() }

// PublicKey returns the 96-byte compressed public key.
func (k *SecretKey) PublicKey() []byte { return bytes.Clone(k.pk[:]) }

// PublicKeyDER returns the 133-byte DER encoding of the public key.
func (k *SecretKey) PublicKeyDER() []byte { return PublicKeyToDER(k.pk[:]) }

// Sign returns the 48-byte signature of msg.
func (k *SecretKey) Sign(msg []byte) []byte {
	var sig blst.P1Affine
	sig.Sign(&k.sk, msg, []byte(DST))
	return sig.Compress()
}
