package bls

import (
	"bytes"
	"encoding/hex"
	"errors"
	"strings"
	"testing"
)

func mustHex(t testing.TB, s string) []byte {
	t.Helper()
	b, err := hex.DecodeString(s)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// agent-js packages/agent/src/utils/bls.test.ts at v1.0.0 (ic-interface.md §5.4).
const (
	agentJSKey = "a7623a93cdb56c4d23d99c14216afaab3dfd6d4f9eb3db23d038280b6d5cb2caaee2a19dd92c9df7001dede23bf036bc0f33982dfb41e8fa9b8e96b5dc3e83d55ca4dd146c7eb2e8b6859cb5a5db815db86810b8d12cee1588b5dbf34a4dc9a5"
	agentJSSig = "b89e13a212c830586eaa9ad53946cd968718ebecc27eda849d9232673dcd4f440e8b5df39bf14a88048c15e16cbcaabe"
	// The mainnet root key and the delegation certificate of agent-js SAMPLE_CERT_BYTES (ic-interface.md
	// §4.5, §5.3): root hash e6c0…6d90, signed with the root key.
	mainnetRootDER = "308182301d060d2b0601040182dc7c0503010201060c2b0601040182dc7c05030201036100814c0e6ec71fab583b08bd81373c255c3c371b2e84863c98a4f1e08b74235d14fb5d9c0cd546d9685f913a0c0b2cc5341583bf4b4392e467db96d65b9bb4cb717112f8472e0d5a4d14505ffd7484b01291091c5f87b98883463f98091a0baaae"
	delegationRoot = "e6c01e909b4923345ce5970962bcfe3004bfd8474a21dae28f50692502f46d90"
	delegationSig  = "ace9fcdd9bc977e05d6328f889dc4e7c99114c737a494653cb27a1f55c06f4555e0f160980af5ead098acc195010b2f7"
	stateRootSep   = "0d69632d73746174652d726f6f74"
)

func TestVerifyVectors(t *testing.T) {
	root, err := PublicKeyFromDER(mustHex(t, mainnetRootDER))
	if err != nil {
		t.Fatal(err)
	}
	certMsg := mustHex(t, stateRootSep+delegationRoot)
	badMsg := bytes.Clone(certMsg)
	badMsg[len(badMsg)-1] ^= 1
	tests := []struct {
		name         string
		pk, sig, msg []byte
		want         bool
	}{
		{"agent-js hello", mustHex(t, agentJSKey), mustHex(t, agentJSSig), []byte("hello"), true},
		{"agent-js hallo", mustHex(t, agentJSKey), mustHex(t, agentJSSig), []byte("hallo"), false},
		{"mainnet delegation", root, mustHex(t, delegationSig), certMsg, true},
		{"mainnet delegation, other root hash", root, mustHex(t, delegationSig), badMsg, false},
		{"mainnet delegation, root hash without separator", root, mustHex(t, delegationSig), mustHex(t, delegationRoot), false},
		{"wrong key", mustHex(t, agentJSKey), mustHex(t, delegationSig), certMsg, false},
		{"short key", mustHex(t, agentJSKey)[:95], mustHex(t, agentJSSig), []byte("hello"), false},
		{"short signature", mustHex(t, agentJSKey), mustHex(t, agentJSSig)[:47], []byte("hello"), false},
		{"zero signature", mustHex(t, agentJSKey), make([]byte, 48), []byte("hello"), false},
		{"identity signature", mustHex(t, agentJSKey), append([]byte{0xc0}, make([]byte, 47)...), []byte("hello"), false},
		{"identity key", append([]byte{0xc0}, make([]byte, 95)...), mustHex(t, agentJSSig), []byte("hello"), false},
		{"nil everything", nil, nil, nil, false},
	}
	for _, tt := range tests {
		if got := Verify(tt.pk, tt.sig, tt.msg); got != tt.want {
			t.Errorf("%s: Verify = %v, want %v", tt.name, got, tt.want)
		}
	}
}

// TestKeyGenVector pins GenerateKey (the IETF draft's KeyGen) and the public key of its result, so
// that both backends derive and encode keys alike (the vector is blst's KeyGen output).
func TestKeyGenVector(t *testing.T) {
	k, err := GenerateKey(bytes.Repeat([]byte{42}, 32))
	if err != nil {
		t.Fatal(err)
	}
	if got, want := hex.EncodeToString(k.Bytes()), "25aa74f11f7a2f36b3911256d2f4eaaef652b64460da8e0eeed6009b2b97297e"; got != want {
		t.Errorf("%s: secret key %s, want %s", Backend, got, want)
	}
	if got, want := hex.EncodeToString(k.PublicKey()), "a57565542eaa01ef2b910bf0eaba4d98a1e5b8b79cc425db08f8780732d0ea9bc85fc6175f272b2344bb27bc572ebf14022e52689dcedfccf44a00e5bd1aa59db44517217d6b0f21b372169ee761938c28914ddcb9663de54db288e760a8e14f"; got != want {
		t.Errorf("%s: public key %s, want %s", Backend, got, want)
	}
}

func TestSignVerify(t *testing.T) {
	k, err := GenerateKey(bytes.Repeat([]byte{42}, 32))
	if err != nil {
		t.Fatal(err)
	}
	other, err := GenerateKey(nil)
	if err != nil {
		t.Fatal(err)
	}
	msg := []byte("\x0dic-state-root0123456789abcdef0123456789abcdef")
	sig := k.Sign(msg)
	if len(sig) != SignatureSize || len(k.PublicKey()) != PublicKeySize {
		t.Fatalf("sizes %d, %d", len(sig), len(k.PublicKey()))
	}
	if !Verify(k.PublicKey(), sig, msg) {
		t.Fatal("own signature does not verify")
	}
	if Verify(other.PublicKey(), sig, msg) {
		t.Error("signature verifies under another key")
	}
	if Verify(k.PublicKey(), sig, msg[:len(msg)-1]) {
		t.Error("signature verifies for another message")
	}
	if !bytes.Equal(sig, k.Sign(msg)) {
		t.Error("signing is not deterministic")
	}

	// Deterministic key generation, and the secret key survives storage.
	k2, _ := GenerateKey(bytes.Repeat([]byte{42}, 32))
	if !bytes.Equal(k2.PublicKey(), k.PublicKey()) {
		t.Error("GenerateKey is not deterministic")
	}
	restored, err := SecretKeyFromBytes(k.Bytes())
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(restored.PublicKey(), k.PublicKey()) || !bytes.Equal(restored.Sign(msg), sig) {
		t.Error("restored key differs")
	}

	// Parsed keys and DER.
	pk, err := ParseDERPublicKey(k.PublicKeyDER())
	if err != nil {
		t.Fatal(err)
	}
	if !pk.Verify(sig, msg) || pk.Verify(other.Sign(msg), msg) {
		t.Error("PublicKey.Verify disagrees")
	}
	if !bytes.Equal(pk.Bytes(), k.PublicKey()) || !bytes.Equal(pk.DER(), k.PublicKeyDER()) {
		t.Error("PublicKey encodings differ")
	}
}

func TestKeyErrors(t *testing.T) {
	order := mustHex(t, "73eda753299d7d483339d80809a1d80553bda402fffe5bfeffffffff00000001")
	tests := []struct {
		name string
		err  func() error
		msg  string
	}{
		{"short ikm", func() error { _, err := GenerateKey(make([]byte, 31)); return err }, "at least 32"},
		{"zero secret", func() error { _, err := SecretKeyFromBytes(make([]byte, 32)); return err }, "zero or not less"},
		{"secret = order", func() error { _, err := SecretKeyFromBytes(order); return err }, "zero or not less"},
		{"short secret", func() error { _, err := SecretKeyFromBytes(make([]byte, 31)); return err }, "31 bytes"},
		{"key not a point", func() error { _, err := ParsePublicKey(bytes.Repeat([]byte{0xff}, 96)); return err }, "not a compressed G2 point"},
		{"identity key", func() error { _, err := ParsePublicKey(append([]byte{0xc0}, make([]byte, 95)...)); return err }, "identity"},
		{"short key", func() error { _, err := ParsePublicKey(make([]byte, 95)); return err }, "95 bytes"},
		{"DER short", func() error { _, err := PublicKeyFromDER(mustHex(t, mainnetRootDER)[:132]); return err }, "132 bytes"},
		{"DER other prefix", func() error {
			der := mustHex(t, mainnetRootDER)
			der[10] ^= 1
			_, err := PublicKeyFromDER(der)
			return err
		}, "prefix"},
		{"DER of an Ed25519 key", func() error {
			_, err := ParseDERPublicKey(mustHex(t, "302a300506032b6570032100d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a"))
			return err
		}, "44 bytes"},
	}
	for _, tt := range tests {
		err := tt.err()
		if !errors.Is(err, ErrInvalidKey) || !strings.Contains(err.Error(), tt.msg) {
			t.Errorf("%s: %v, want ErrInvalidKey mentioning %q", tt.name, err, tt.msg)
		}
	}
	k, _ := SecretKeyFromBytes(append(make([]byte, 31), 1)) // the scalar 1: public key = generator
	if hex.EncodeToString(k.PublicKey())[:8] != "93e02b60" {
		t.Errorf("public key of 1 = %x, want the compressed G2 generator", k.PublicKey())
	}
}

func TestDER(t *testing.T) {
	der := mustHex(t, mainnetRootDER)
	raw, err := PublicKeyFromDER(der)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(PublicKeyToDER(raw), der) {
		t.Error("DER round trip")
	}
	if hex.EncodeToString(DERPrefix()) != mainnetRootDER[:74] {
		t.Errorf("DERPrefix = %x", DERPrefix())
	}
	defer func() {
		if recover() == nil {
			t.Error("PublicKeyToDER of a short key did not panic")
		}
	}()
	PublicKeyToDER(raw[:95])
}

func FuzzVerify(f *testing.F) {
	f.Add(mustHex(f, agentJSKey), mustHex(f, agentJSSig), []byte("hello"))
	f.Add(mustHex(f, mainnetRootDER), mustHex(f, delegationSig), mustHex(f, stateRootSep+delegationRoot))
	f.Add(append([]byte{0xc0}, make([]byte, 95)...), append([]byte{0xc0}, make([]byte, 47)...), []byte{})
	f.Fuzz(func(t *testing.T, pk, sig, msg []byte) {
		Verify(pk, sig, msg)
		if raw, err := PublicKeyFromDER(pk); err == nil {
			Verify(raw, sig, msg)
		}
		if len(pk) >= 32 {
			if k, err := SecretKeyFromBytes(pk[:32]); err == nil && !Verify(k.PublicKey(), k.Sign(msg), msg) {
				t.Fatal("round trip failed")
			}
		}
	})
}

func BenchmarkVerify(b *testing.B) {
	pk, sig, msg := mustHex(b, agentJSKey), mustHex(b, agentJSSig), []byte("hello")
	b.Run("bytes", func(b *testing.B) {
		for b.Loop() {
			if !Verify(pk, sig, msg) {
				b.Fatal("invalid")
			}
		}
	})
	b.Run("parsed-key", func(b *testing.B) {
		key, _ := ParsePublicKey(pk)
		for b.Loop() {
			if !key.Verify(sig, msg) {
				b.Fatal("invalid")
			}
		}
	})
}

func BenchmarkSign(b *testing.B) {
	k, _ := GenerateKey(bytes.Repeat([]byte{1}, 32))
	msg := make([]byte, 46)
	for b.Loop() {
		k.Sign(msg)
	}
}
