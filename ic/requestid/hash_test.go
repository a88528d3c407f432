package requestid_test

import (
	"encoding/hex"
	"errors"
	"math/big"
	"strings"
	"testing"

	"github.com/icws/icws/ic/principal"
	"github.com/icws/icws/ic/requestid"
)

func unhex(t testing.TB, s string) []byte {
	t.Helper()
	b, err := hex.DecodeString(s)
	if err != nil {
		t.Fatalf("bad hex %q: %v", s, err)
	}
	return b
}

func mustPrincipal(t testing.TB, b []byte) principal.Principal {
	t.Helper()
	p, err := principal.FromBytes(b)
	if err != nil {
		t.Fatalf("principal.FromBytes(%x): %v", b, err)
	}
	return p
}

// TestHashOfMapVectors checks every hash_of_map vector of ic-interface.md §5.1.
func TestHashOfMapVectors(t *testing.T) {
	canister := unhex(t, "00000000000004d2")
	arg := []byte("DIDL\x00\xfd*")
	tests := []struct {
		name string
		m    map[string]any
		want string
	}{
		{
			name: "spec request id (call, anonymous sender)",
			m: map[string]any{
				"request_type":   "call",
				"sender":         []byte{0x04},
				"ingress_expiry": uint64(1685570400000000000),
				"canister_id":    canister,
				"method_name":    "hello",
				"arg":            arg,
			},
			want: "1d1091364d6bb8a6c16b203ee75467d59ead468f523eb058880ae8ec80e2b101",
		},
		{
			name: "spec request id with typed principals",
			m: map[string]any{
				"request_type":   "call",
				"sender":         principal.Anonymous(),
				"ingress_expiry": uint64(1685570400000000000),
				"canister_id":    mustPrincipal(t, canister),
				"method_name":    "hello",
				"arg":            arg,
			},
			want: "1d1091364d6bb8a6c16b203ee75467d59ead468f523eb058880ae8ec80e2b101",
		},
		{
			name: "old spec example without sender and ingress_expiry",
			m: map[string]any{
				"request_type": "call",
				"canister_id":  canister,
				"method_name":  "hello",
				"arg":          arg,
			},
			want: "8781291c347db32a9d8c10eb62b710fce5a93be676474c42babc74c51858f94b",
		},
		{
			name: "agent-rs array paths as [][][]byte",
			m: map[string]any{
				"sender": canister,
				"paths":  [][][]byte{{}, {[]byte("")}, {[]byte("hello"), []byte("world")}},
			},
			want: "97d6f297aea699aec85d3377c7643ea66db810aba5c4372fbc2082c999f452dc",
		},
		{
			name: "agent-rs array paths as generic []any",
			m: map[string]any{
				"sender": canister,
				"paths":  []any{[]any{}, []any{[]byte("")}, []any{[]byte("hello"), []byte("world")}},
			},
			want: "97d6f297aea699aec85d3377c7643ea66db810aba5c4372fbc2082c999f452dc",
		},
		{
			name: "agent-rs empty paths",
			m:    map[string]any{"paths": [][][]byte{}},
			want: "99daa8c80a61e87ac1fdf9dd49e39963bfe4dafb2a45095ebf4cad72d916d5be",
		},
		{
			name: "agent-rs empty paths generic",
			m:    map[string]any{"paths": []any{}},
			want: "99daa8c80a61e87ac1fdf9dd49e39963bfe4dafb2a45095ebf4cad72d916d5be",
		},
		{
			name: "agent-rs one empty path",
			m:    map[string]any{"paths": [][][]byte{{}}},
			want: "ea01a9c3d3830db108e0a87995ea0d4183dc9c6e51324e9818fced5c57aa64f5",
		},
		{
			name: "agent-rs one empty path as [][]byte inside []any",
			m:    map[string]any{"paths": []any{[][]byte{}}},
			want: "ea01a9c3d3830db108e0a87995ea0d4183dc9c6e51324e9818fced5c57aa64f5",
		},
		{
			name: "agent-rs nested map",
			m: map[string]any{
				"foo": map[string]any{"baz": "hello", "quux": uint64(3)},
				"bar": "world",
			},
			want: "3d447339cc0c2b894ee215c8141770bf4b86c72b6c37d9873213a786ec7f9f31",
		},
		{
			name: "agent-rs {foo: 73} signed",
			m:    map[string]any{"foo": int32(73)},
			want: "7b3d327026e6bb5b4c13b898a6ca8fff6fd6838f44f6c27d9adf34542add75a0",
		},
		{
			name: "{foo: 73} signed int64",
			m:    map[string]any{"foo": int64(73)},
			want: "7b3d327026e6bb5b4c13b898a6ca8fff6fd6838f44f6c27d9adf34542add75a0",
		},
		{
			name: "{foo: 73} signed *big.Int is a nat",
			m:    map[string]any{"foo": big.NewInt(73)},
			want: "1f8ebbd62265480cbeeeb6462eb58a1edf3b9bee8c38369d1f34c9597b09da38",
		},
		{
			name: "{foo: 73} nat",
			m:    map[string]any{"foo": uint64(73)},
			want: "1f8ebbd62265480cbeeeb6462eb58a1edf3b9bee8c38369d1f34c9597b09da38",
		},
		{
			name: "{foo: 73} nat uint8",
			m:    map[string]any{"foo": uint8(73)},
			want: "1f8ebbd62265480cbeeeb6462eb58a1edf3b9bee8c38369d1f34c9597b09da38",
		},
		{
			name: "spec nested map {reply: {arg}}",
			m:    map[string]any{"reply": map[string]any{"arg": []byte("DIDL\x00\x00")}},
			want: "3d534ec350430fce5b6c1a49a0357efe4ba33390593af96ae111fdd1f1192ec4",
		},
		{
			name: "agent-js delegation",
			m: map[string]any{
				"expiration": uint64(1611365875951000000),
				"pubkey":     unhex(t, "302a300506032b6570032100819d9fe3ac251039f934cdc925da0b019848af9d650d4136fb5d955cff17f78e"),
				"targets":    [][]byte{unhex(t, "000000000030004d0101"), unhex(t, "000000000020002b0101")},
			},
			want: "f0c66015041eccb5528fc7fd817bb4d0707369d7e1383d3cdaa074b2b2236824",
		},
		{
			name: "agent-js delegation, targets as principals",
			m: map[string]any{
				"expiration": uint64(1611365875951000000),
				"pubkey":     unhex(t, "302a300506032b6570032100819d9fe3ac251039f934cdc925da0b019848af9d650d4136fb5d955cff17f78e"),
				"targets": []principal.Principal{
					mustPrincipal(t, unhex(t, "000000000030004d0101")),
					mustPrincipal(t, unhex(t, "000000000020002b0101")),
				},
			},
			want: "f0c66015041eccb5528fc7fd817bb4d0707369d7e1383d3cdaa074b2b2236824",
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := requestid.HashOfMap(tc.m)
			if err != nil {
				t.Fatalf("HashOfMap: %v", err)
			}
			if got.String() != tc.want {
				t.Fatalf("HashOfMap = %s, want %s", got, tc.want)
			}
		})
	}
}

// TestSpecIntermediatePairs checks the per-field key and value hashes that
// the spec lists for its request id example.
func TestSpecIntermediatePairs(t *testing.T) {
	tests := []struct {
		key, keyHash string
		value        any
		valueHash    string
	}{
		{"request_type", "769e6f87bdda39c859642b74ce9763cdd37cb1cd672733e8c54efaa33ab78af9", "call", "7edb360f06acaef2cc80dba16cf563f199d347db4443da04da0c8173e3f9e4ed"},
		{"sender", "0a367b92cf0b037dfd89960ee832d56f7fc151681bb41e53690e776f5786998a", []byte{4}, "e52d9c508c502347344d8c07ad91cbd6068afc75ff6292f062a09ca381c89e71"},
		{"ingress_expiry", "26cec6b6a9248a96ab24305b61b9d27e203af14a580a5b1ff2f67575cab4a868", uint64(1685570400000000000), "db8e57abc8cda1525d45fdd2637af091bc1f28b35819a40df71517d1501f2c76"},
		{"canister_id", "0a3eb2ba16702a387e6321066dd952db7a31f9b5cc92981e0a92dd56802d3df9", unhex(t, "00000000000004d2"), "4d8c47c3c1c837964011441882d745f7e92d10a40cef0520447c63029eafe396"},
		{"method_name", "293536232cf9231c86002f4ee293176a0179c002daa9fc24be9bb51acdd642b6", "hello", "2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824"},
		{"arg", "b25f03dedd69be07f356a06fe35c1b0ddc0de77dcd9066c4be0c6bbde14b23ff", []byte("DIDL\x00\xfd*"), "6c0b2ae49718f6995c02ac5700c9c789d7b7862a0d53e6d40a73f1fcd2f70189"},
	}
	for _, tc := range tests {
		kh := requestid.SumString(tc.key)
		if got := hex.EncodeToString(kh[:]); got != tc.keyHash {
			t.Errorf("H(%q) = %s, want %s", tc.key, got, tc.keyHash)
		}
		vh, err := requestid.HashValue(tc.value)
		if err != nil {
			t.Fatalf("HashValue(%v): %v", tc.value, err)
		}
		if got := hex.EncodeToString(vh[:]); got != tc.valueHash {
			t.Errorf("H_value(%v) = %s, want %s", tc.value, got, tc.valueHash)
		}
	}
}

// TestLEB128Examples checks the nat/int examples of ic-interface.md §2.2.
func TestLEB128Examples(t *testing.T) {
	tests := []struct {
		v   any
		enc string
	}{
		{uint64(0), "00"},
		{uint64(624485), "e58e26"},
		{int64(-123456), "c0bb78"},
		{big.NewInt(-123456), "c0bb78"},
		{new(big.Int).Lsh(big.NewInt(1), 64), "80808080808080808002"},
	}
	for _, tc := range tests {
		got, err := requestid.HashValue(tc.v)
		if err != nil {
			t.Fatalf("HashValue(%v): %v", tc.v, err)
		}
		want, _ := requestid.HashValue(unhex(t, tc.enc))
		if got != want {
			t.Errorf("HashValue(%v) is not H(%s)", tc.v, tc.enc)
		}
	}
}

func TestHashOfMapOrderIndependent(t *testing.T) {
	// Hash pairs are sorted by (key hash ‖ value hash), so building the same
	// map in different insertion orders gives the same id; changing any value
	// changes it.
	a := map[string]any{"a": "1", "b": uint64(2), "c": []byte{3}}
	b := map[string]any{"c": []byte{3}, "b": uint64(2), "a": "1"}
	ha, _ := requestid.HashOfMap(a)
	hb, _ := requestid.HashOfMap(b)
	if ha != hb {
		t.Fatalf("same map, different ids: %s %s", ha, hb)
	}
	b["b"] = uint64(3)
	hb, _ = requestid.HashOfMap(b)
	if ha == hb {
		t.Fatalf("different maps, same id %s", ha)
	}
	// text and blob with the same bytes hash alike (representation independence).
	ht, _ := requestid.HashOfMap(map[string]any{"k": "xy"})
	hbl, _ := requestid.HashOfMap(map[string]any{"k": []byte("xy")})
	if ht != hbl {
		t.Fatalf("text and blob differ: %s %s", ht, hbl)
	}
}

func TestHashOfMapLarge(t *testing.T) {
	// More than the 16 pairs kept on the stack.
	m := map[string]any{}
	for i := range 40 {
		m[strings.Repeat("k", i+1)] = uint64(i)
	}
	h1, err := requestid.HashOfMap(m)
	if err != nil {
		t.Fatal(err)
	}
	m2 := map[string]any{}
	for i := 39; i >= 0; i-- {
		m2[strings.Repeat("k", i+1)] = uint64(i)
	}
	h2, _ := requestid.HashOfMap(m2)
	if h1 != h2 {
		t.Fatal("order dependence with many keys")
	}
}

func TestHashOfMapErrors(t *testing.T) {
	cyclic := map[string]any{}
	cyclic["self"] = cyclic
	var nilBig *big.Int
	tests := []struct {
		name    string
		m       map[string]any
		wantErr error
		wantMsg string
	}{
		{"nil value", map[string]any{"x": nil}, requestid.ErrUnsupportedValue, `field "x"`},
		{"bool", map[string]any{"flag": true}, requestid.ErrUnsupportedValue, "bool"},
		{"float", map[string]any{"f": 1.5}, requestid.ErrUnsupportedValue, "float64"},
		{"struct", map[string]any{"s": struct{}{}}, requestid.ErrUnsupportedValue, "struct"},
		{"nil big", map[string]any{"n": nilBig}, requestid.ErrUnsupportedValue, "nil *big.Int"},
		{"bad element", map[string]any{"a": []any{[]byte{1}, 2.5}}, requestid.ErrUnsupportedValue, "element 1"},
		{"nested bad", map[string]any{"m": map[string]any{"x": false}}, requestid.ErrUnsupportedValue, `field "m": field "x"`},
		{"cycle", cyclic, requestid.ErrTooDeep, "nested too deeply"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := requestid.HashOfMap(tc.m)
			if !errors.Is(err, tc.wantErr) {
				t.Fatalf("err = %v, want %v", err, tc.wantErr)
			}
			if !strings.Contains(err.Error(), tc.wantMsg) {
				t.Fatalf("err = %q, want it to mention %q", err, tc.wantMsg)
			}
		})
	}
}

func TestDeepButAllowed(t *testing.T) {
	// 64 levels, the most ic/cbor decodes, must hash.
	var v any = []byte("leaf")
	for range 64 {
		v = []any{v}
	}
	if _, err := requestid.HashOfMap(map[string]any{"deep": v}); err != nil {
		t.Fatalf("64 levels: %v", err)
	}
}

func BenchmarkHashOfMapCall(b *testing.B) {
	m := map[string]any{
		"request_type":   "call",
		"sender":         make([]byte, 29),
		"nonce":          make([]byte, 16),
		"ingress_expiry": uint64(1685570400000000000),
		"canister_id":    []byte{0, 0, 0, 0, 0, 0, 0, 1, 1, 1},
		"method_name":    "ws_message",
		"arg":            make([]byte, 200),
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := requestid.HashOfMap(m); err != nil {
			b.Fatal(err)
		}
	}
}
