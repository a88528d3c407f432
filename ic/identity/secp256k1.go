package identity

import (
	"crypto/sha256"
	"encoding/asn1"
	"fmt"

	"github.com/decred/dcrd/dcrec/secp256k1/v4"
	secpecdsa "github.com/decred/dcrd/dcrec/secp256k1/v4/ecdsa"

	"github.com/icws/icws/ic/principal"
)

// Secp256k1DERPrefix is the DER SubjectPublicKeyInfo header (RFC 5480, curve OID 1.3.132.0.10)
// that precedes an uncompressed secp256k1 point (0x04 ‖ X ‖ Y): the key form of icp-cli and dfx
// identities and of agent-js's Secp256k1KeyIdentity.
const Secp256k1DERPrefix = "\x30\x56\x30\x10\x06\x07\x2a\x86\x48\xce\x3d\x02\x01\x06\x05\x2b\x81\x04\x00\x0a\x03\x42\x00"

// Secp256k1 is an identity holding an ECDSA secp256k1 key, the default kind of icp-cli and dfx
// identities.
type Secp256k1 struct {
	key    *secp256k1.PrivateKey
	der    []byte
	sender principal.Principal
}

// NewSecp256k1 returns the identity of key.
func NewSecp256k1(key *secp256k1.PrivateKey) *Secp256k1 {
	point := key.PubKey().SerializeUncompressed()
	der := make([]byte, 0, len(Secp256k1DERPrefix)+len(point))
	der = append(der, Secp256k1DERPrefix...)
	der = append(der, point...)
	return &Secp256k1{key: key, der: der, sender: principal.SelfAuthenticating(der)}
}

// Secp256k1FromBytes returns the identity of the 32-byte big-endian private scalar b.
func Secp256k1FromBytes(b []byte) (*Secp256k1, error) {
	if len(b) != 32 {
		return nil, fmt.Errorf("%w: secp256k1 private key is %d bytes, want 32", ErrInvalidPrivateKey, len(b))
	}
	var k secp256k1.ModNScalar
	if overflow := k.SetByteSlice(b); overflow || k.IsZero() {
		return nil, fmt.Errorf("%w: secp256k1 private key is not in [1, n)", ErrInvalidPrivateKey)
	}
	return NewSecp256k1(secp256k1.NewPrivateKey(&k)), nil
}

// GenerateSecp256k1 returns a fresh secp256k1 identity with a key from crypto/rand.
func GenerateSecp256k1() (*Secp256k1, error) {
	key, err := secp256k1.GeneratePrivateKey()
	if err != nil {
		return nil, fmt.Errorf("identity: generate secp256k1 key: %w", err)
	}
	return NewSecp256k1(key), nil
}

// Sender returns the self-authenticating principal of the public key.
func (k *Secp256k1) Sender() principal.Principal { return k.sender }

// PublicKey returns the 88-byte DER public key. The caller must not modify it.
func (k *Secp256k1) PublicKey() []byte { return k.der }

// Sign returns r ‖ s (64 bytes, s in the lower half of the order) of a deterministic (RFC 6979)
// ECDSA signature over SHA-256(msg).
func (k *Secp256k1) Sign(msg []byte) ([]byte, error) {
	h := sha256.Sum256(msg)
	// SignCompact gives recovery byte ‖ r ‖ s with s normalised to the lower half.
	c := secpecdsa.SignCompact(k.key, h[:], false)
	return c[1:], nil
}

// Delegations returns nil: a secp256k1 identity signs as itself.
func (k *Secp256k1) Delegations() []SignedDelegation { return nil }

// verifySecp256k1 checks an r ‖ s signature over SHA-256(msg). As the IC does, it refuses a
// signature whose s is in the upper half of the order (the malleable twin of a valid one).
func verifySecp256k1(bits asn1.BitString, msg, sig []byte) error {
	if bits.BitLength%8 != 0 {
		return fmt.Errorf("%w: secp256k1 key is not whole bytes", ErrInvalidPublicKey)
	}
	pub, err := secp256k1.ParsePubKey(bits.Bytes)
	if err != nil {
		return fmt.Errorf("%w: secp256k1 point: %w", ErrInvalidPublicKey, err)
	}
	if len(sig) != 64 {
		return fmt.Errorf("%w: secp256k1 signature is %d bytes, want 64 (r ‖ s)", ErrInvalidSignature, len(sig))
	}
	var r, s secp256k1.ModNScalar
	if r.SetByteSlice(sig[:32]) || s.SetByteSlice(sig[32:]) || r.IsZero() || s.IsZero() {
		return fmt.Errorf("%w: secp256k1 signature r or s is not in [1, n)", ErrInvalidSignature)
	}
	if s.IsOverHalfOrder() {
		return fmt.Errorf("%w: secp256k1 signature has a high s; sign with low-s normalisation", ErrInvalidSignature)
	}
	h := sha256.Sum256(msg)
	if !secpecdsa.NewSignature(&r, &s).Verify(h[:], pub) {
		return fmt.Errorf("%w: ECDSA secp256k1 signature does not verify", ErrInvalidSignature)
	}
	return nil
}
