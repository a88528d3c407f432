package omnia

import (
	"errors"
	"testing"
)

// TestKey checks the key format and that ParseKey inverts Key and refuses everything else.
func TestKey(t *testing.T) {
	gw := mustPrincipal(t, goldenGatewayHex)
	text := gw.String()
	for _, nonce := range []uint64{0, 1, 12345, 1<<64 - 1} {
		k := Key(gw, nonce)
		if len(k) != len(text)+1+20 {
			t.Errorf("Key(%d) = %q: want 20 digits", nonce, k)
		}
		g, n, err := ParseKey(k)
		if err != nil || !g.Equal(gw) || n != nonce {
			t.Errorf("ParseKey(%q) = %v, %d, %v", k, g, n, err)
		}
	}
	if got := Key(gw, 7); got != text+"_00000000000000000007" {
		t.Errorf("Key(7) = %q", got)
	}
	for _, bad := range []string{
		"", "_00000000000000000000", text, text + "_1", text + "_0000000000000000000x",
		text + "_99999999999999999999", "not-a-principal_00000000000000000000", text + "_000000000000000000000",
	} {
		if _, _, err := ParseKey(bad); !errors.Is(err, ErrBadKey) {
			t.Errorf("ParseKey(%q): got %v, want ErrBadKey", bad, err)
		}
	}
}
