package identity_test

import (
	"bytes"
	"encoding/hex"
	"errors"
	"testing"

	"github.com/decred/dcrd/dcrec/secp256k1/v4"

	"github.com/icws/icws/ic/identity"
)

// TestSecp256k1 signs with a secp256k1 identity and verifies: the DER key, the principal, the
// signature's shape, and the refusals (wrong message, high s, wrong length, a point off the curve).
func TestSecp256k1(t *testing.T) {
	// A fixed key, so that the DER form is a golden vector.
	id, err := identity.Secp256k1FromBytes(bytes.Repeat([]byte{0x01}, 32))
	if err != nil {
		t.Fatal(err)
	}
	der := id.PublicKey()
	if len(der) != 88 || !bytes.HasPrefix(der, []byte(identity.Secp256k1DERPrefix)) {
		t.Fatalf("DER key %x", der)
	}
	const wantDER = "3056301006072a8648ce3d020106052b8104000a034200041b84c5567b126440995d3ed5aaba0565d71e1834604819ff9c17f5e9d5dd078f70beaf8f588b541507fed6a642c5ab42dfdf8120a7f639de5122d47a69a8e8d1"
	if got := hex.EncodeToString(der); got != wantDER {
		t.Fatalf("DER key\n got %s\nwant %s", got, wantDER)
	}
	msg := []byte("\x0Aic-requestsome request id")
	sig, err := id.Sign(msg)
	if err != nil || len(sig) != 64 {
		t.Fatalf("Sign: %x %v", sig, err)
	}
	if err := identity.VerifySignature(der, msg, sig); err != nil {
		t.Fatalf("verify: %v", err)
	}
	// The high-s twin of the same signature: n - s.
	var s secp256k1.ModNScalar
	s.SetByteSlice(sig[32:])
	s.Negate()
	sb := s.Bytes()
	high := append(append([]byte(nil), sig[:32]...), sb[:]...)
	offCurve := append([]byte(identity.Secp256k1DERPrefix), append([]byte{4}, bytes.Repeat([]byte{0xab}, 64)...)...)
	for _, tc := range []struct {
		name     string
		der, msg []byte
		sig      []byte
		want     error
	}{
		{"other message", der, []byte("other"), sig, identity.ErrInvalidSignature},
		{"high s", der, msg, high, identity.ErrInvalidSignature},
		{"short", der, msg, sig[:63], identity.ErrInvalidSignature},
		{"zero", der, msg, make([]byte, 64), identity.ErrInvalidSignature},
		{"point off the curve", offCurve, msg, sig, identity.ErrInvalidPublicKey},
	} {
		if err := identity.VerifySignature(tc.der, tc.msg, tc.sig); !errors.Is(err, tc.want) {
			t.Errorf("%s: %v, want %v", tc.name, err, tc.want)
		}
	}
	if _, err := identity.Secp256k1FromBytes(make([]byte, 32)); !errors.Is(err, identity.ErrInvalidPrivateKey) {
		t.Errorf("zero key: %v", err)
	}
}
