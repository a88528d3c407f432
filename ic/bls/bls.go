// Package bls implements the BLS signatures of the Internet Computer: BLS12-381 in the
// "minimal-signature-size" variant, with signatures in G1 (48 bytes compressed) and public keys in
// G2 (96 bytes compressed), hashing to G1 with the ciphersuite
// BLS_SIG_BLS12381G1_XMD:SHA-256_SSWU_RO_NUL_. Subnet and root keys travel DER-wrapped (133 bytes,
// a fixed 37-byte prefix followed by the key).
//
// Two implementations stand behind this small API, chosen at build time: github.com/supranational/blst
// (C and assembly, through cgo) when cgo is on, and github.com/consensys/gnark-crypto (pure Go) when
// it is off (CGO_ENABLED=0: static, cross-compiled, Windows and ARM builds) or when the build tag
// purego asks for it. Both pass the same vectors; Backend names the one in use.
package bls

import (
	"bytes"
	"crypto/hkdf"
	"crypto/rand"
	"crypto/sha256"
	"errors"
	"fmt"
	"math/big"
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

// Bytes returns the 96-byte compressed key.
func (pk *PublicKey) Bytes() []byte { return bytes.Clone(pk.compressed[:]) }

// DER returns the 133-byte DER encoding of the key.
func (pk *PublicKey) DER() []byte { return PublicKeyToDER(pk.compressed[:]) }

// ParseDERPublicKey is PublicKeyFromDER followed by ParsePublicKey.
func ParseDERPublicKey(der []byte) (*PublicKey, error) {
	raw, err := PublicKeyFromDER(der)
	if err != nil {
		return nil, err
	}
	return ParsePublicKey(raw)
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

// GenerateKey derives a secret key from at least 32 bytes of input keying material, as KeyGen of
// the IETF BLS signature draft (HKDF-SHA-256, salt "BLS-SIG-KEYGEN-SALT-" rehashed until the key
// is nonzero, no key_info). With ikm nil it reads 32 random bytes from crypto/rand.
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
	salt := []byte("BLS-SIG-KEYGEN-SALT-")
	ikm0 := append(bytes.Clone(ikm), 0) // IKM || I2OSP(0, 1)
	for range 256 {
		h := sha256.Sum256(salt)
		salt = h[:]
		prk, err := hkdf.Extract(sha256.New, ikm0, salt)
		if err != nil {
			return nil, fmt.Errorf("bls: key generation: %w", err)
		}
		okm, err := hkdf.Expand(sha256.New, prk, "\x00\x30", 48) // key_info || I2OSP(L, 2), L = 48
		if err != nil {
			return nil, fmt.Errorf("bls: key generation: %w", err)
		}
		sk := new(big.Int).SetBytes(okm)
		sk.Mod(sk, groupOrder)
		if sk.Sign() != 0 {
			return SecretKeyFromBytes(sk.FillBytes(make([]byte, SecretKeySize)))
		}
	}
	return nil, fmt.Errorf("%w: key generation found no nonzero key", ErrInvalidKey)
}

// groupOrder is r, the order of G1 and G2.
var groupOrder, _ = new(big.Int).SetString("73eda753299d7d483339d80809a1d80553bda402fffe5bfeffffffff00000001", 16)

// checkScalar checks a 32-byte big-endian secret key: nonzero and less than the group order.
func checkScalar(b []byte) error {
	if len(b) != SecretKeySize {
		return fmt.Errorf("%w: secret key has %d bytes, want %d", ErrInvalidKey, len(b), SecretKeySize)
	}
	v := new(big.Int).SetBytes(b)
	if v.Sign() == 0 || v.Cmp(groupOrder) >= 0 {
		return fmt.Errorf("%w: secret key is zero or not less than the group order", ErrInvalidKey)
	}
	return nil
}

// PublicKeyDER returns the 133-byte DER encoding of the public key.
func (k *SecretKey) PublicKeyDER() []byte { return PublicKeyToDER(k.pk[:]) }

// PublicKey returns the 96-byte compressed public key.
func (k *SecretKey) PublicKey() []byte { return bytes.Clone(k.pk[:]) }
