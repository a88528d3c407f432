package protocol

import (
	"crypto/ed25519"
	"crypto/x509"
	"errors"
	"testing"

	"github.com/icws/icws/ic/principal"
)

// The gateway principal of poc-protocol.md §1: the self-authenticating principal of RFC 8032 test
// key 2.
func TestKeyForSeedGateway(t *testing.T) {
	key := ed25519.NewKeyFromSeed(unhex(t, "4ccd089b28ff96da9db6c346ec114e0f5b8a319f35aba624da8cf6ed4fb8a6fb"))
	der, err := x509.MarshalPKIXPublicKey(key.Public())
	if err != nil {
		t.Fatal(err)
	}
	gw := principal.SelfAuthenticating(der)
	if gw.String() != seedGateway {
		t.Fatalf("gateway principal = %s, want %s", gw, seedGateway)
	}
	if got := KeyFor(gw, 16); got != goldenKey {
		t.Errorf("KeyFor = %q, want %q", got, goldenKey)
	}
}

func TestKeyOrderAndParse(t *testing.T) {
	gw := principal.CanisterID(7).String()
	nonces := []uint64{0, 1, 9, 10, 16, 99, 100, 1 << 32, 1<<63 + 5, ^uint64(0)}
	prev := ""
	for _, n := range nonces {
		k := string(AppendKey(nil, gw, n))
		if len(k) != len(gw)+1+NonceDigits {
			t.Errorf("key %q has length %d", k, len(k))
		}
		if k <= prev {
			t.Errorf("key %q does not sort after %q", k, prev)
		}
		prev = k
		g, got, err := ParseKey(k)
		if err != nil || g != gw || got != n {
			t.Errorf("ParseKey(%q) = %q, %d, %v", k, g, got, err)
		}
	}
}

func TestParseKeyErrors(t *testing.T) {
	for _, k := range []string{
		"",
		"nounderscore",
		"_00000000000000000016",
		"gw_16",
		"gw_0000000000000000001x",
		"gw_000000000000000000016",
		"gw_99999999999999999999", // > 2^64-1
		"gw_18446744073709551616",
	} {
		if _, _, err := ParseKey(k); !errors.Is(err, ErrBadKey) {
			t.Errorf("ParseKey(%q) error = %v, want ErrBadKey", k, err)
		}
	}
	if _, n, err := ParseKey("gw_18446744073709551615"); err != nil || n != ^uint64(0) {
		t.Errorf("max nonce: %d, %v", n, err)
	}
}
