package principal

import (
	"encoding/hex"
	"errors"
	"strings"
	"testing"
)

func TestVectors(t *testing.T) {
	tests := []struct{ hex, text string }{
		{"abcd01", "em77e-bvlzu-aq"},
		{"efcdab000000000001", "2chl6-4hpzw-vqaaa-aaaaa-c"},
		{"", "aaaaa-aa"},
		{"04", "2vxsx-fae"},
		{"caffee", "w7x7r-cok77-xa"},
		{"00000000000000020101", "ryjl3-tyaaa-aaaaa-aaaba-cai"},
		{"000000000020000c0101", "ivg37-qiaaa-aaaab-aaaga-cai"},
		{"cff280e32d7f5ccd2246882f94afb20f54ca61a21765e712d43d278902", "tdb26-jop6k-aogll-7ltgs-eruif-6kk7m-qpktf-gdiqx-mxtrf-vb5e6-eqe"},
		{"d77b2a2f7199b9a8aec93fe6fb588661358cf12223e9a3af7b4ebac402", "qxesv-zoxpm-vc64m-zxguk-5sj74-35vrb-tbgwg-pcird-5gr26-62oxl-cae"},
		{"0f033c5125db4f6b32e426268df663a5ce98fe3b531d962e1a7a87fa02", "o3ow2-2ipam-6fcjo-3j5vt-fzbge-2g7my-5fz2m-p4o2t-dwlc4-gt2q7-5ae"},
		{"80000000001000000101", "bnz7o-iuaaa-aaaaa-qaaaa-cai"},
		{"80000000001000010101", "bkyz2-fmaaa-aaaaa-qaaaq-cai"},
		{"ffffffffffe000000101", "lxzze-o7777-77777-aaaaa-cai"},
		{"80000000001000050101", "bw4dl-smaaa-aaaaa-qaacq-cai"},
	}
	for _, tt := range tests {
		b, _ := hex.DecodeString(tt.hex)
		p, err := FromBytes(b)
		if err != nil {
			t.Fatal(err)
		}
		if got := p.String(); got != tt.text {
			t.Errorf("String(%s) = %q, want %q", tt.hex, got, tt.text)
		}
		q, err := Decode(tt.text)
		if err != nil {
			t.Errorf("Decode(%q): %v", tt.text, err)
			continue
		}
		if q != p {
			t.Errorf("Decode(%q) = %x, want %s", tt.text, q.Bytes(), tt.hex)
		}
	}
}

func TestSpecial(t *testing.T) {
	if Anonymous().String() != "2vxsx-fae" || !Anonymous().IsAnonymous() {
		t.Error("anonymous")
	}
	if Management().String() != "aaaaa-aa" {
		t.Error("management")
	}
	if CanisterID(2).String() != "ryjl3-tyaaa-aaaaa-aaaba-cai" {
		t.Error("canister 2")
	}
	if i, ok := CanisterID(7).CanisterIndex(); !ok || i != 7 {
		t.Error("index")
	}
	if _, ok := Anonymous().CanisterIndex(); ok {
		t.Error("anonymous has no index")
	}
	der, _ := hex.DecodeString("302a300506032b6570032100d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a")
	p := SelfAuthenticating(der)
	if p.String() != "e73il-iz5tp-nkgt7-idxyw-ngkah-47bpv-qdase-pzde6-g6vwc-a3eql-jae" || !p.IsSelfAuthenticating() {
		t.Errorf("self-authenticating = %s", p)
	}
	mainnetRoot, _ := hex.DecodeString("308182301d060d2b0601040182dc7c0503010201060c2b0601040182dc7c05030201036100814c0e6ec71fab583b08bd81373c255c3c371b2e84863c98a4f1e08b74235d14fb5d9c0cd546d9685f913a0c0b2cc5341583bf4b4392e467db96d65b9bb4cb717112f8472e0d5a4d14505ffd7484b01291091c5f87b98883463f98091a0baaae")
	if got := SelfAuthenticating(mainnetRoot).String(); got != "tdb26-jop6k-aogll-7ltgs-eruif-6kk7m-qpktf-gdiqx-mxtrf-vb5e6-eqe" {
		t.Errorf("mainnet root subnet = %s", got)
	}
}

func TestDecodeErrors(t *testing.T) {
	for _, text := range []string{
		"RYJL3-TYAAA-AAAAA-AAABA-CAI", // upper case
		"aaaaa-a",                     // bad grouping
		"aaa-aaaa",
		"-aaaaa-aa",
		"aaaaa-aa-",
		"ryjl3-tyaaa-aaaaa-aaaba-caa", // checksum
		"ryjl3tyaaaaaaaaaaabacai",     // no dashes
		"!!!!!",
		"",
		strings.Repeat("a", 64),
	} {
		if _, err := Decode(text); err == nil || !errors.Is(err, ErrInvalid) {
			t.Errorf("Decode(%q) = %v, want ErrInvalid", text, err)
		}
	}
	if _, err := FromBytes(make([]byte, 30)); err == nil {
		t.Error("30 bytes accepted")
	}
}

func TestCBORAndText(t *testing.T) {
	p := CanisterID(2)
	b, err := p.MarshalCBOR()
	if err != nil || hex.EncodeToString(b) != "4a00000000000000020101" {
		t.Fatalf("MarshalCBOR = %x, %v", b, err)
	}
	var q Principal
	if err := q.UnmarshalCBOR(b); err != nil || q != p {
		t.Fatalf("UnmarshalCBOR = %v, %v", q, err)
	}
	if err := q.UnmarshalCBOR([]byte{0x61, 0x61}); err == nil {
		t.Error("text accepted as principal")
	}
	if err := q.UnmarshalText([]byte("2vxsx-fae")); err != nil || !q.IsAnonymous() {
		t.Error("UnmarshalText")
	}
}

func FuzzDecode(f *testing.F) {
	for _, s := range []string{"aaaaa-aa", "2vxsx-fae", "ryjl3-tyaaa-aaaaa-aaaba-cai", "em77e-bvlzu-aq", "a-", "===="} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		p, err := Decode(s)
		if err != nil {
			return
		}
		if p.String() != s {
			t.Fatalf("round trip %q -> %q", s, p.String())
		}
	})
}
