package identity_test

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"encoding/asn1"
	"errors"
	"strings"
	"testing"

	"github.com/icws/icws/ic/identity"
)

func TestP256Identity(t *testing.T) {
	p, err := identity.GenerateP256()
	if err != nil {
		t.Fatal(err)
	}
	der := p.PublicKey()
	if len(der) != 91 || string(der[:len(identity.P256DERPrefix)]) != identity.P256DERPrefix {
		t.Fatalf("P-256 DER = %x", der)
	}
	// The DER is what x509 writes for the same key.
	pub, err := x509.ParsePKIXPublicKey(der)
	if err != nil {
		t.Fatal(err)
	}
	std, _ := x509.MarshalPKIXPublicKey(pub)
	if string(std) != string(der) {
		t.Fatal("DER differs from x509.MarshalPKIXPublicKey")
	}
	msg := []byte("message")
	for range 20 { // r and s of varying lengths
		sig, err := p.Sign(msg)
		if err != nil {
			t.Fatal(err)
		}
		if len(sig) != 64 {
			t.Fatalf("signature %d bytes", len(sig))
		}
		if err := identity.VerifySignature(der, msg, sig); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := identity.NewP256(nil); err == nil {
		t.Fatal("NewP256(nil) accepted")
	}
	k384, _ := ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	if _, err := identity.NewP256(k384); err == nil {
		t.Fatal("NewP256 accepted a P-384 key")
	}
}

func TestVerifySignatureP256External(t *testing.T) {
	// A key and signature made with the standard library only.
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	der, _ := x509.MarshalPKIXPublicKey(&key.PublicKey)
	msg := []byte("hello")
	h := sha256.Sum256(msg)
	r, s, err := ecdsa.Sign(rand.Reader, key, h[:])
	if err != nil {
		t.Fatal(err)
	}
	sig := make([]byte, 64)
	r.FillBytes(sig[:32])
	s.FillBytes(sig[32:])
	if err := identity.VerifySignature(der, msg, sig); err != nil {
		t.Fatal(err)
	}
	bad := append([]byte(nil), sig...)
	bad[63] ^= 1
	if err := identity.VerifySignature(der, msg, bad); !errors.Is(err, identity.ErrInvalidSignature) {
		t.Fatalf("tampered: %v", err)
	}
	if err := identity.VerifySignature(der, []byte("other"), sig); !errors.Is(err, identity.ErrInvalidSignature) {
		t.Fatalf("other message: %v", err)
	}
	asn1Sig, _ := ecdsa.SignASN1(rand.Reader, key, h[:])
	if err := identity.VerifySignature(der, msg, asn1Sig); !errors.Is(err, identity.ErrInvalidSignature) || !strings.Contains(err.Error(), "want 64") {
		t.Fatalf("ASN.1 signature: %v", err)
	}
	// A point not on the curve.
	badKey := append([]byte(nil), der...)
	badKey[len(badKey)-1] ^= 1
	if err := identity.VerifySignature(badKey, msg, sig); !errors.Is(err, identity.ErrInvalidPublicKey) {
		t.Fatalf("off-curve key: %v", err)
	}
}

func spki(t *testing.T, oid asn1.ObjectIdentifier, params any, key []byte) []byte {
	t.Helper()
	type algo struct {
		Algorithm  asn1.ObjectIdentifier
		Parameters asn1.RawValue `asn1:"optional"`
	}
	a := algo{Algorithm: oid}
	if params != nil {
		b, err := asn1.Marshal(params)
		if err != nil {
			t.Fatal(err)
		}
		a.Parameters = asn1.RawValue{FullBytes: b}
	}
	der, err := asn1.Marshal(struct {
		Algorithm algo
		PublicKey asn1.BitString
	}{a, asn1.BitString{Bytes: key, BitLength: 8 * len(key)}})
	if err != nil {
		t.Fatal(err)
	}
	return der
}

func TestVerifySignatureUnsupported(t *testing.T) {
	tests := map[string]struct {
		der  []byte
		want string
	}{
		"BLS12-381 (IC root key prefix)": {unhex(t, "308182301d060d2b0601040182dc7c0503010201060c2b0601040182dc7c05030201036100"+strings.Repeat("cd", 96)), "BLS12-381"},
		"canister signature":             {spki(t, asn1.ObjectIdentifier{1, 3, 6, 1, 4, 1, 56387, 1, 2}, nil, []byte{10, 0, 0, 0, 0, 0, 0, 0, 7, 1, 1, 's'}), "canister signature"},
		"WebAuthn":                       {spki(t, asn1.ObjectIdentifier{1, 3, 6, 1, 4, 1, 56387, 1, 1}, nil, []byte{0xa5}), "WebAuthn"},
		"RSA":                            {spki(t, asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 1, 1}, asn1.NullRawValue, []byte{0x30, 0}), "RSA"},
		"P-384":                          {spki(t, asn1.ObjectIdentifier{1, 2, 840, 10045, 2, 1}, asn1.ObjectIdentifier{1, 3, 132, 0, 34}, []byte{4}), "P-384"},
		"unknown OID":                    {spki(t, asn1.ObjectIdentifier{1, 2, 3, 4}, nil, []byte{1}), "OID 1.2.3.4"},
	}
	for name, tc := range tests {
		err := identity.VerifySignature(tc.der, []byte("m"), make([]byte, 64))
		if !errors.Is(err, identity.ErrUnsupportedKey) || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: err = %v, want ErrUnsupportedKey naming %q", name, err, tc.want)
		}
	}
}

func TestVerifySignatureMalformed(t *testing.T) {
	id, _ := identity.Ed25519FromSeed(make([]byte, 32))
	msg := []byte("m")
	sig, _ := id.Sign(msg)
	tests := map[string]struct {
		der, sig []byte
		want     error
	}{
		"empty key":            {nil, sig, identity.ErrInvalidPublicKey},
		"trailing bytes":       {append(append([]byte(nil), id.PublicKey()...), 0), sig, identity.ErrInvalidPublicKey},
		"short signature":      {id.PublicKey(), sig[:63], identity.ErrInvalidSignature},
		"long signature":       {id.PublicKey(), append(append([]byte(nil), sig...), 0), identity.ErrInvalidSignature},
		"EC without curve":     {spki(t, asn1.ObjectIdentifier{1, 2, 840, 10045, 2, 1}, nil, []byte{4}), sig, identity.ErrInvalidPublicKey},
		"Ed25519 short key":    {spki(t, asn1.ObjectIdentifier{1, 3, 101, 112}, nil, make([]byte, 31)), sig, identity.ErrInvalidPublicKey},
		"Ed25519 with params":  {spki(t, asn1.ObjectIdentifier{1, 3, 101, 112}, asn1.NullRawValue, make([]byte, 32)), sig, identity.ErrInvalidPublicKey},
		"P-256 short point":    {spki(t, asn1.ObjectIdentifier{1, 2, 840, 10045, 2, 1}, asn1.ObjectIdentifier{1, 2, 840, 10045, 3, 1, 7}, []byte{4, 1, 2}), make([]byte, 64), identity.ErrInvalidPublicKey},
		"zero Ed25519 sig":     {id.PublicKey(), make([]byte, 64), identity.ErrInvalidSignature},
		"wrong key same shape": {identity.Ed25519PublicKeyToDER(make([]byte, 32)), sig, identity.ErrInvalidSignature},
	}
	for name, tc := range tests {
		if err := identity.VerifySignature(tc.der, msg, tc.sig); !errors.Is(err, tc.want) {
			t.Errorf("%s: err = %v, want %v", name, err, tc.want)
		}
	}
	// A non-canonical but valid DER Ed25519 SPKI (parsed through the slow path).
	if err := identity.VerifySignature(spki(t, asn1.ObjectIdentifier{1, 3, 101, 112}, nil, id.PublicKey()[12:]), msg, sig); err != nil {
		t.Errorf("generic Ed25519 SPKI: %v", err)
	}
}

func FuzzVerifySignature(f *testing.F) {
	id, _ := identity.Ed25519FromSeed(make([]byte, 32))
	p, _ := identity.GenerateP256()
	f.Add(id.PublicKey(), []byte("m"))
	f.Add(p.PublicKey(), make([]byte, 64))
	f.Add([]byte{0x30, 0x03, 0x30, 0x01, 0x06}, []byte{})
	f.Fuzz(func(t *testing.T, der, sig []byte) {
		_ = identity.VerifySignature(der, []byte("m"), sig) // must not panic
	})
}

func BenchmarkVerifyEd25519(b *testing.B) {
	id, _ := identity.Ed25519FromSeed(make([]byte, 32))
	msg := make([]byte, 43)
	sig, _ := id.Sign(msg)
	b.ReportAllocs()
	for b.Loop() {
		if err := identity.VerifySignature(id.PublicKey(), msg, sig); err != nil {
			b.Fatal(err)
		}
	}
}
