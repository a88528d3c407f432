package identity

import (
	"bytes"
	"crypto/ed25519"
	"encoding/asn1"
	"encoding/pem"
	"errors"
	"fmt"
)

// ErrInvalidPrivateKey is returned (wrapped) for a private key or PEM file
// that cannot be used.
var ErrInvalidPrivateKey = errors.New("identity: invalid private key")

// pemPrivateKey is the PEM block type of PKCS#8 private keys.
const pemPrivateKey = "PRIVATE KEY"

var (
	oidEd25519     = asn1.ObjectIdentifier{1, 3, 101, 112}
	oidECPublicKey = asn1.ObjectIdentifier{1, 2, 840, 10045, 2, 1}
)

// MarshalPEM returns the key as an unencrypted PKCS#8 v1 (RFC 8410)
// `-----BEGIN PRIVATE KEY-----` block: the form `openssl genpkey -algorithm
// ed25519` writes, and one that dfx (`dfx identity import`), agent-rs
// (BasicIdentity::from_pem) and ParsePEM read.
func (e *Ed25519) MarshalPEM() []byte {
	// SEQUENCE { INTEGER 0, SEQUENCE { OID 1.3.101.112 }, OCTET STRING { OCTET STRING seed } }
	der := make([]byte, 0, 48)
	der = append(der, 0x30, 0x2e, 0x02, 0x01, 0x00, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x04, 0x22, 0x04, 0x20)
	der = append(der, e.key.Seed()...)
	return pem.EncodeToMemory(&pem.Block{Type: pemPrivateKey, Bytes: der})
}

// ParsePEM reads an Ed25519 identity from a PEM file as dfx and OpenSSL
// write them. Accepted, inside a `-----BEGIN PRIVATE KEY-----` block:
//   - PKCS#8 v1 (RFC 8410: version 0, no public key);
//   - PKCS#8 v2 / OneAsymmetricKey (RFC 5958: version 1 with the
//     `[1] IMPLICIT BIT STRING` public key, optional `[0]` attributes);
//   - the non-conforming form of early dfx versions (version 1 with the public
//     key wrapped as `[1] { BIT STRING }`).
//
// When a public key is present it must match the private key. Text before
// the block is ignored; encrypted keys, secp256k1 (`EC PRIVATE KEY`) and other
// algorithms are refused with an error that names them.
func ParsePEM(data []byte) (*Ed25519, error) {
	block, _ := pem.Decode(data)
	if block == nil {
		return nil, fmt.Errorf("%w: no PEM block found", ErrInvalidPrivateKey)
	}
	switch block.Type {
	case pemPrivateKey:
	case "EC PRIVATE KEY":
		return nil, fmt.Errorf("%w: PEM block %q holds an ECDSA (SEC 1) key; only Ed25519 identities are supported", ErrInvalidPrivateKey, block.Type)
	case "ENCRYPTED PRIVATE KEY":
		return nil, fmt.Errorf("%w: encrypted PEM files are not supported", ErrInvalidPrivateKey)
	default:
		return nil, fmt.Errorf("%w: PEM block type %q, want %q", ErrInvalidPrivateKey, block.Type, pemPrivateKey)
	}
	if len(block.Headers) != 0 {
		return nil, fmt.Errorf("%w: PEM block has headers (encrypted?)", ErrInvalidPrivateKey)
	}
	return parsePKCS8Ed25519(block.Bytes)
}

// parsePKCS8Ed25519 reads a OneAsymmetricKey (RFC 5958) holding an Ed25519 key.
func parsePKCS8Ed25519(der []byte) (*Ed25519, error) {
	bad := func(format string, args ...any) error {
		return fmt.Errorf("%w: PKCS#8: "+format, append([]any{ErrInvalidPrivateKey}, args...)...)
	}
	var outer asn1.RawValue
	rest, err := asn1.Unmarshal(der, &outer)
	if err != nil {
		return nil, bad("%v", err)
	}
	if len(rest) != 0 {
		return nil, bad("%d trailing bytes", len(rest))
	}
	if outer.Class != asn1.ClassUniversal || outer.Tag != asn1.TagSequence || !outer.IsCompound {
		return nil, bad("not a SEQUENCE")
	}
	body := outer.Bytes

	var version int
	if body, err = asn1.Unmarshal(body, &version); err != nil {
		return nil, bad("version: %v", err)
	}
	if version != 0 && version != 1 {
		return nil, bad("version %d, want 0 (v1) or 1 (v2)", version)
	}

	var alg struct {
		Algorithm  asn1.ObjectIdentifier
		Parameters asn1.RawValue `asn1:"optional"`
	}
	if body, err = asn1.Unmarshal(body, &alg); err != nil {
		return nil, bad("algorithm: %v", err)
	}
	switch {
	case alg.Algorithm.Equal(oidEd25519):
	case alg.Algorithm.Equal(oidECPublicKey):
		return nil, bad("holds an ECDSA key; only Ed25519 identities are supported")
	default:
		return nil, bad("algorithm OID %s is not Ed25519 (%s)", alg.Algorithm, oidEd25519)
	}
	if len(alg.Parameters.FullBytes) != 0 {
		return nil, bad("Ed25519 algorithm identifier has parameters")
	}

	var privOctets []byte
	if body, err = asn1.Unmarshal(body, &privOctets); err != nil {
		return nil, bad("private key: %v", err)
	}
	var seed []byte
	if r, err := asn1.Unmarshal(privOctets, &seed); err != nil || len(r) != 0 {
		return nil, bad("private key is not an OCTET STRING inside an OCTET STRING")
	}
	if len(seed) != ed25519.SeedSize {
		return nil, bad("Ed25519 private key is %d bytes, want %d", len(seed), ed25519.SeedSize)
	}
	id := newEd25519FromSeed(seed)

	// Optional trailing fields: [0] attributes, [1] public key.
	var pub []byte
	lastTag := -1
	for len(body) > 0 {
		var f asn1.RawValue
		if body, err = asn1.Unmarshal(body, &f); err != nil {
			return nil, bad("optional field: %v", err)
		}
		if f.Class != asn1.ClassContextSpecific || f.Tag <= lastTag || f.Tag > 1 {
			return nil, bad("unexpected field (class %d, tag %d)", f.Class, f.Tag)
		}
		lastTag = f.Tag
		if f.Tag == 0 {
			continue // attributes: ignored
		}
		if version != 1 {
			return nil, bad("public key present in a version %d key", version)
		}
		if pub, err = pkcs8PublicKey(f); err != nil {
			return nil, bad("public key: %v", err)
		}
	}
	if pub != nil && !bytes.Equal(pub, id.key.Public().(ed25519.PublicKey)) {
		return nil, bad("public key does not match the private key")
	}
	return id, nil
}

// pkcs8PublicKey extracts the raw key from the [1] field of a
// OneAsymmetricKey: `[1] IMPLICIT BIT STRING` (RFC 5958) or, as early dfx
// versions wrote it, `[1] { BIT STRING }`.
func pkcs8PublicKey(f asn1.RawValue) ([]byte, error) {
	var bits []byte
	if f.IsCompound {
		var bs asn1.BitString
		r, err := asn1.Unmarshal(f.Bytes, &bs)
		if err != nil || len(r) != 0 {
			return nil, errors.New("explicit [1] does not hold one BIT STRING")
		}
		if bs.BitLength%8 != 0 {
			return nil, errors.New("BIT STRING is not whole bytes")
		}
		bits = bs.Bytes
	} else {
		if len(f.Bytes) < 1 || f.Bytes[0] != 0 {
			return nil, errors.New("BIT STRING has unused bits")
		}
		bits = f.Bytes[1:]
	}
	if len(bits) != ed25519.PublicKeySize {
		return nil, fmt.Errorf("%d bytes, want %d", len(bits), ed25519.PublicKeySize)
	}
	return bits, nil
}
