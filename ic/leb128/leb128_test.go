package leb128

import (
	"bytes"
	"encoding/hex"
	"math"
	"math/big"
	"testing"
)

func TestUint(t *testing.T) {
	tests := []struct {
		v   uint64
		hex string
	}{
		{0, "00"}, {1, "01"}, {127, "7f"}, {128, "8001"}, {300, "ac02"}, {624485, "e58e26"},
		{1685570400000000000, "8080a7bf92ab96b217"},
		{math.MaxUint64, "ffffffffffffffffff01"},
	}
	for _, tt := range tests {
		got := AppendUint(nil, tt.v)
		if hex.EncodeToString(got) != tt.hex {
			t.Errorf("AppendUint(%d) = %x, want %s", tt.v, got, tt.hex)
		}
		v, n, err := Uint(got)
		if err != nil || v != tt.v || n != len(got) {
			t.Errorf("Uint(%x) = %d, %d, %v", got, v, n, err)
		}
		bv, n, err := BigUint(got)
		if err != nil || !bv.IsUint64() || bv.Uint64() != tt.v || n != len(got) {
			t.Errorf("BigUint(%x) = %v, %d, %v", got, bv, n, err)
		}
		if bb := AppendBigUint(nil, new(big.Int).SetUint64(tt.v)); !bytes.Equal(bb, got) {
			t.Errorf("AppendBigUint(%d) = %x", tt.v, bb)
		}
	}
}

func TestInt(t *testing.T) {
	tests := []struct {
		v   int64
		hex string
	}{
		{0, "00"}, {-1, "7f"}, {-64, "40"}, {63, "3f"}, {64, "c000"}, {127, "ff00"}, {-128, "807f"},
		{-123456, "c0bb78"}, {73, "c900"},
		{math.MinInt64, "8080808080808080807f"}, {math.MaxInt64, "ffffffffffffffffff00"},
	}
	for _, tt := range tests {
		got := AppendInt(nil, tt.v)
		if hex.EncodeToString(got) != tt.hex {
			t.Errorf("AppendInt(%d) = %x, want %s", tt.v, got, tt.hex)
		}
		v, n, err := Int(got)
		if err != nil || v != tt.v || n != len(got) {
			t.Errorf("Int(%x) = %d, %d, %v", got, v, n, err)
		}
		if bb := AppendBigInt(nil, big.NewInt(tt.v)); !bytes.Equal(bb, got) {
			t.Errorf("AppendBigInt(%d) = %x", tt.v, bb)
		}
	}
}

func TestBig(t *testing.T) {
	for _, s := range []string{"18446744073709551616", "340282366920938463463374607431768211455", "-18446744073709551617", "-340282366920938463463374607431768211456", "123456789012345678901234567890"} {
		v, _ := new(big.Int).SetString(s, 10)
		enc := AppendBigInt(nil, v)
		got, n, err := BigInt(enc)
		if err != nil || got.Cmp(v) != 0 || n != len(enc) {
			t.Errorf("BigInt round trip %s: %v %d %v", s, got, n, err)
		}
		if v.Sign() >= 0 {
			enc = AppendBigUint(nil, v)
			got, n, err = BigUint(enc)
			if err != nil || got.Cmp(v) != 0 || n != len(enc) {
				t.Errorf("BigUint round trip %s: %v %d %v", s, got, n, err)
			}
			if _, _, err := Uint(enc); err != ErrOverflow {
				t.Errorf("Uint(%s) err = %v, want overflow", s, err)
			}
		}
	}
}

func TestErrors(t *testing.T) {
	if _, _, err := Uint([]byte{0x80}); err != ErrTruncated {
		t.Error(err)
	}
	if _, _, err := Uint(nil); err != ErrTruncated {
		t.Error(err)
	}
	if _, _, err := BigInt([]byte{0xff}); err != ErrTruncated {
		t.Error(err)
	}
	// Overlong zero is accepted.
	if v, n, err := Uint([]byte{0x80, 0x80, 0x00}); err != nil || v != 0 || n != 3 {
		t.Error(v, n, err)
	}
	if _, _, err := Int(AppendBigInt(nil, new(big.Int).Lsh(big.NewInt(1), 70))); err != ErrOverflow {
		t.Error(err)
	}
}

func FuzzDecode(f *testing.F) {
	f.Add([]byte{0x80, 0x01})
	f.Add([]byte{0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01})
	f.Fuzz(func(t *testing.T, b []byte) {
		if v, n, err := BigUint(b); err == nil {
			if u, m, err := Uint(b); err == nil && (u != v.Uint64() || m != n) {
				t.Fatalf("Uint and BigUint disagree on %x", b)
			}
		}
		if v, n, err := BigInt(b); err == nil {
			if i, m, err := Int(b); err == nil && (i != v.Int64() || m != n) {
				t.Fatalf("Int and BigInt disagree on %x", b)
			}
		}
	})
}
