package identity

import (
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/sha256"
	"encoding/asn1"
	"errors"
	"fmt"
	"math/big"
)

var (
	// ErrInvalidSignature is returned (wrapped) when a signature does not
	// verify under its public key, or has the wrong shape for the algorithm.
	ErrInvalidSignature = errors.New("identity: invalid signature")
	// ErrInvalidPublicKey is returned (wrapped) for a public key that is not
	// well-formed DER or not a valid key of its algorithm.
	ErrInvalidPublicKey = errors.New("identity: invalid public key")
	// ErrUnsupportedKey is returned (wrapped) for a well-formed DER public key
	// of an algorithm VerifySignature does not implement; the message names
	// the algorithm.
	ErrUnsupportedKey = errors.New("identity: unsupported public key algorithm")
)

// P256DERPrefix is the DER SubjectPublicKeyInfo header (RFC 5480) that
// precedes an uncompressed ECDSA P-256 point (0x04 ‖ X ‖ Y).
const P256DERPrefix = "\x30\x59\x30\x13\x06\x07\x2a\x86\x48\xce\x3d\x02\x01\x06\x08\x2a\x86\x48\xce\x3d\x03\x01\x07\x03\x42\x00"

var (
	oidP256           = asn1.ObjectIdentifier{1, 2, 840, 10045, 3, 1, 7}
	oidSecp256k1      = asn1.ObjectIdentifier{1, 3, 132, 0, 10}
	oidRSA            = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 1, 1}
	oidWebAuthnCOSE   = asn1.ObjectIdentifier{1, 3, 6, 1, 4, 1, 56387, 1, 1}
	oidCanisterSig    = asn1.ObjectIdentifier{1, 3, 6, 1, 4, 1, 56387, 1, 2}
	oidBLS12381       = asn1.ObjectIdentifier{1, 3, 6, 1, 4, 1, 44668, 5, 3, 1, 2, 1}
	oidEd448          = asn1.ObjectIdentifier{1, 3, 101, 113}
	oidECDSASecp384r1 = asn1.ObjectIdentifier{1, 3, 132, 0, 34}
)

type subjectPublicKeyInfo struct {
	Algorithm struct {
		Algorithm  asn1.ObjectIdentifier
		Parameters asn1.RawValue `asn1:"optional"`
	}
	PublicKey asn1.BitString
}

// VerifySignature checks sig over msg (used as is; callers add domain
// separators) under a DER SubjectPublicKeyInfo public key.
//
// Supported: Ed25519 (44-byte DER, 64-byte signature), ECDSA P-256 and ECDSA
// secp256k1 (signature r ‖ s, 32 bytes each, big-endian, over SHA-256(msg);
// secp256k1 with low s, as the IC requires). Other well-formed keys (RSA,
// WebAuthn/COSE, canister signatures, BLS, ...) are refused with
// ErrUnsupportedKey and the algorithm's name.
func VerifySignature(derPublicKey, msg, sig []byte) error {
	// Fast path: the Ed25519 form every IC agent emits.
	if len(derPublicKey) == Ed25519DERSize && string(derPublicKey[:len(Ed25519DERPrefix)]) == Ed25519DERPrefix {
		return verifyEd25519(ed25519.PublicKey(derPublicKey[len(Ed25519DERPrefix):]), msg, sig)
	}
	var spki subjectPublicKeyInfo
	rest, err := asn1.Unmarshal(derPublicKey, &spki)
	if err != nil {
		return fmt.Errorf("%w: not a DER SubjectPublicKeyInfo: %w", ErrInvalidPublicKey, err)
	}
	if len(rest) != 0 {
		return fmt.Errorf("%w: %d bytes after the DER SubjectPublicKeyInfo", ErrInvalidPublicKey, len(rest))
	}
	alg := spki.Algorithm.Algorithm
	switch {
	case alg.Equal(oidEd25519):
		if len(spki.Algorithm.Parameters.FullBytes) != 0 || spki.PublicKey.BitLength != 8*ed25519.PublicKeySize {
			return fmt.Errorf("%w: malformed Ed25519 key", ErrInvalidPublicKey)
		}
		return verifyEd25519(ed25519.PublicKey(spki.PublicKey.Bytes), msg, sig)
	case alg.Equal(oidECPublicKey):
		var curve asn1.ObjectIdentifier
		if r, err := asn1.Unmarshal(spki.Algorithm.Parameters.FullBytes, &curve); err != nil || len(r) != 0 {
			return fmt.Errorf("%w: ECDSA key without a named curve", ErrInvalidPublicKey)
		}
		switch {
		case curve.Equal(oidP256):
			return verifyP256(spki.PublicKey, msg, sig)
		case curve.Equal(oidSecp256k1):
			return verifySecp256k1(spki.PublicKey, msg, sig)
		case curve.Equal(oidECDSASecp384r1):
			return fmt.Errorf("%w: ECDSA P-384", ErrUnsupportedKey)
		default:
			return fmt.Errorf("%w: ECDSA on curve %s", ErrUnsupportedKey, curve)
		}
	case alg.Equal(oidRSA):
		return fmt.Errorf("%w: RSA", ErrUnsupportedKey)
	case alg.Equal(oidWebAuthnCOSE):
		return fmt.Errorf("%w: WebAuthn (COSE key)", ErrUnsupportedKey)
	case alg.Equal(oidCanisterSig):
		return fmt.Errorf("%w: IC canister signature", ErrUnsupportedKey)
	case alg.Equal(oidBLS12381):
		return fmt.Errorf("%w: BLS12-381", ErrUnsupportedKey)
	case alg.Equal(oidEd448):
		return fmt.Errorf("%w: Ed448", ErrUnsupportedKey)
	default:
		return fmt.Errorf("%w: OID %s", ErrUnsupportedKey, alg)
	}
}

func verifyEd25519(pub ed25519.PublicKey, msg, sig []byte) error {
	if len(sig) != ed25519.SignatureSize {
		return fmt.Errorf("%w: Ed25519 signature is %d bytes, want %d", ErrInvalidSignature, len(sig), ed25519.SignatureSize)
	}
	if !ed25519.Verify(pub, msg, sig) {
		return fmt.Errorf("%w: Ed25519 signature does not verify", ErrInvalidSignature)
	}
	return nil
}

func verifyP256(bits asn1.BitString, msg, sig []byte) error {
	if bits.BitLength%8 != 0 {
		return fmt.Errorf("%w: P-256 key is not whole bytes", ErrInvalidPublicKey)
	}
	pub, err := ecdsa.ParseUncompressedPublicKey(elliptic.P256(), bits.Bytes)
	if err != nil {
		return fmt.Errorf("%w: P-256 point: %w", ErrInvalidPublicKey, err)
	}
	if len(sig) != 64 {
		return fmt.Errorf("%w: P-256 signature is %d bytes, want 64 (r ‖ s)", ErrInvalidSignature, len(sig))
	}
	h := sha256.Sum256(msg)
	r := new(big.Int).SetBytes(sig[:32])
	s := new(big.Int).SetBytes(sig[32:])
	if !ecdsa.Verify(pub, h[:], r, s) {
		return fmt.Errorf("%w: ECDSA P-256 signature does not verify", ErrInvalidSignature)
	}
	return nil
}
