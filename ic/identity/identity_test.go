package identity_test

import (
	"crypto/ed25519"
	"encoding/hex"
	"strings"
	"testing"

	"github.com/icws/icws/ic/identity"
	"github.com/icws/icws/ic/principal"
)

func unhex(t testing.TB, s string) []byte {
	t.Helper()
	b, err := hex.DecodeString(strings.ToLower(s))
	if err != nil {
		t.Fatalf("bad hex %q: %v", s, err)
	}
	return b
}

// specRequestSignable is `\x0Aic-request` ‖ the spec request id (ic-interface.md §2.5).
const specRequestSignable = "0a69632d72657175657374" + "1d1091364d6bb8a6c16b203ee75467d59ead468f523eb058880ae8ec80e2b101"

// TestEd25519Vectors checks ic-interface.md §2.5: DER, principal and the
// signature over the spec request id, for RFC 8032 key 1 and the zero seed.
func TestEd25519Vectors(t *testing.T) {
	tests := []struct {
		name, seed, pub, principalHex, principalText, sig string
	}{
		{
			name:          "RFC 8032 test key 1",
			seed:          "9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60",
			pub:           "d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a",
			principalHex:  "3d9bdaa34fe81df16699403f3e17d6030488fc8c9e37ab61036482d202",
			principalText: "e73il-iz5tp-nkgt7-idxyw-ngkah-47bpv-qdase-pzde6-g6vwc-a3eql-jae",
			sig:           "c7be853914dd46450447efacbc97d6b95e8439a632d0505cedab86b0ec1ac068253834ca0204f7aec20de634e1d4357d12b5636d398207b116c14cd6778fa009",
		},
		{
			name:          "all-zero seed",
			seed:          strings.Repeat("00", 32),
			pub:           "3b6a27bcceb6a42d62a3a8d02a6f0d73653215771de243a63ac048a18b59da29",
			principalText: "535yc-uxytb-gfk7h-tny7p-vjkoe-i4krp-3qmcl-uqfgr-cpgej-yqtjq-rqe",
			sig:           "ef262d91e75a83516250b434c31cbae20e7ab64bf8cb17355725a3de14c2bbb929a7f76ae1585ff16d2cdb29efdae55fcb400491113b456b0f3f89b302363a0e",
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			id, err := identity.Ed25519FromSeed(unhex(t, tc.seed))
			if err != nil {
				t.Fatal(err)
			}
			wantDER := "302a300506032b6570032100" + tc.pub
			if got := hex.EncodeToString(id.PublicKey()); got != wantDER {
				t.Fatalf("DER = %s, want %s", got, wantDER)
			}
			if len(id.PublicKey()) != identity.Ed25519DERSize || identity.Ed25519DERSize != 44 {
				t.Fatalf("DER length %d", len(id.PublicKey()))
			}
			if tc.principalHex != "" {
				if got := hex.EncodeToString(id.Sender().Bytes()); got != tc.principalHex {
					t.Fatalf("principal bytes = %s, want %s", got, tc.principalHex)
				}
			}
			if got := id.Sender().String(); got != tc.principalText {
				t.Fatalf("principal = %s, want %s", got, tc.principalText)
			}
			if id.Sender() != principal.SelfAuthenticating(id.PublicKey()) {
				t.Fatal("sender is not the self-authenticating principal of the key")
			}
			sig, err := id.Sign(unhex(t, specRequestSignable))
			if err != nil {
				t.Fatal(err)
			}
			if got := hex.EncodeToString(sig); got != tc.sig {
				t.Fatalf("signature = %s, want %s", got, tc.sig)
			}
			if err := identity.VerifySignature(id.PublicKey(), unhex(t, specRequestSignable), sig); err != nil {
				t.Fatalf("VerifySignature: %v", err)
			}
			if id.Delegations() != nil {
				t.Fatal("Ed25519 identity has delegations")
			}
			// NewEd25519 from the full private key gives the same identity.
			same := identity.NewEd25519(ed25519.NewKeyFromSeed(unhex(t, tc.seed)))
			if same.Sender() != id.Sender() {
				t.Fatal("NewEd25519 and Ed25519FromSeed differ")
			}
		})
	}
}

// TestEd25519DER checks the agent-js ed25519.test.ts DER vectors.
func TestEd25519DER(t *testing.T) {
	vectors := [][2]string{
		{"B3997656BA51FF6DA37B61D8D549EC80717266ECF48FB5DA52B654412634844C", "302A300506032B6570032100B3997656BA51FF6DA37B61D8D549EC80717266ECF48FB5DA52B654412634844C"},
		{"A5AFB5FEB6DFB6DDF5DD6563856FFF5484F5FE304391D9ED06697861F220C610", "302A300506032B6570032100A5AFB5FEB6DFB6DDF5DD6563856FFF5484F5FE304391D9ED06697861F220C610"},
		{"C8413108F121CB794A10804D15F613E40ECC7C78A4EC567040DDF78467C71DFF", "302A300506032B6570032100C8413108F121CB794A10804D15F613E40ECC7C78A4EC567040DDF78467C71DFF"},
	}
	for _, v := range vectors {
		raw, der := unhex(t, v[0]), unhex(t, v[1])
		if got := identity.Ed25519PublicKeyToDER(raw); hex.EncodeToString(got) != hex.EncodeToString(der) {
			t.Errorf("ToDER(%s) = %x", v[0], got)
		}
		got, err := identity.Ed25519PublicKeyFromDER(der)
		if err != nil || hex.EncodeToString(got) != hex.EncodeToString(raw) {
			t.Errorf("FromDER(%s) = %x, %v", v[1], got, err)
		}
	}
	invalid := map[string]string{
		"too short":   "302A300506032B6570032100B3997656BA51FF6DA37B61D8D549EC80717266ECF48FB5DA52B65441263484",
		"too long":    "302A300506032B6570032100B3997656BA51FF6DA37B61D8D549EC80717266ECF48FB5DA52B654412634844C00",
		"invalid DER": "002A300506032B6570032100B3997656BA51FF6DA37B61D8D549EC80717266ECF48FB5DA52B654412634844C",
	}
	for name, der := range invalid {
		if _, err := identity.Ed25519PublicKeyFromDER(unhex(t, der)); err == nil {
			t.Errorf("%s: FromDER accepted %s", name, der)
		}
		if err := identity.VerifySignature(unhex(t, der), []byte("m"), make([]byte, 64)); err == nil {
			t.Errorf("%s: VerifySignature accepted key %s", name, der)
		}
	}
}

func TestAnonymous(t *testing.T) {
	a := identity.Anonymous()
	if a.Sender().String() != "2vxsx-fae" || !a.Sender().IsAnonymous() {
		t.Fatalf("anonymous sender = %s", a.Sender())
	}
	if a.PublicKey() != nil || a.Delegations() != nil {
		t.Fatal("anonymous identity has a key or delegations")
	}
	if _, err := a.Sign([]byte("x")); err == nil {
		t.Fatal("anonymous identity signed")
	}
}

func TestGenerateEd25519(t *testing.T) {
	a, err := identity.GenerateEd25519()
	if err != nil {
		t.Fatal(err)
	}
	b, err := identity.GenerateEd25519()
	if err != nil {
		t.Fatal(err)
	}
	if a.Sender() == b.Sender() {
		t.Fatal("two generated identities share a principal")
	}
	msg := []byte("hello")
	sig, _ := a.Sign(msg)
	if err := identity.VerifySignature(a.PublicKey(), msg, sig); err != nil {
		t.Fatal(err)
	}
	if err := identity.VerifySignature(b.PublicKey(), msg, sig); err == nil {
		t.Fatal("signature verified under another key")
	}
}

func TestNewEd25519PanicsOnBadKey(t *testing.T) {
	defer func() {
		if recover() == nil {
			t.Fatal("no panic for a 10-byte key")
		}
	}()
	identity.NewEd25519(make([]byte, 10))
}

func TestEd25519FromSeedLength(t *testing.T) {
	for _, n := range []int{0, 31, 33, 64} {
		if _, err := identity.Ed25519FromSeed(make([]byte, n)); err == nil {
			t.Errorf("accepted a %d-byte seed", n)
		}
	}
}
