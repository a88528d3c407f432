package cbor

import (
	"encoding/hex"
	"errors"
	"testing"
)

type s1 struct {
	CanisterID string `cbor:"canister_id"`
	ClientID   uint64 `cbor:"client_id"`
}

func TestMarshal(t *testing.T) {
	// poc-protocol.md §4.3, S1.
	b, err := Marshal(s1{CanisterID: "bw4dl-smaaa-aaaaa-qaacq-cai", ClientID: 16})
	if err != nil {
		t.Fatal(err)
	}
	want := "d9d9f7a26b63616e69737465725f6964781b627734646c2d736d6161612d61616161612d71616163712d63616969636c69656e745f696410"
	if hex.EncodeToString(b) != want {
		t.Fatalf("got %x\nwant %s", b, want)
	}
	var got s1
	if err := Unmarshal(b, &got); err != nil || got.ClientID != 16 || got.CanisterID != "bw4dl-smaaa-aaaaa-qaacq-cai" {
		t.Fatalf("Unmarshal = %+v, %v", got, err)
	}
	u, _ := MarshalUntagged([]byte{1, 2})
	if hex.EncodeToString(u) != "420102" {
		t.Errorf("bytes = %x", u)
	}
	arr, _ := MarshalUntagged([2]byte{1, 2})
	if hex.EncodeToString(arr) != "420102" {
		t.Errorf("byte array = %x", arr)
	}
}

func TestUnmarshalGeneric(t *testing.T) {
	// {"a": [1, -2, h'01', "x"]} with a nested self-describe tag.
	data, _ := hex.DecodeString("d9d9f7a16161d9d9f7840121410161" + "78")
	var v any
	if err := Unmarshal(data, &v); err != nil {
		t.Fatal(err)
	}
	m, ok := v.(map[string]any)
	if !ok {
		t.Fatalf("got %T", v)
	}
	a := m["a"].([]any)
	if a[0].(uint64) != 1 || a[1].(int64) != -2 || string(a[2].([]byte)) != "\x01" || a[3].(string) != "x" {
		t.Fatalf("got %#v", a)
	}
}

func TestUnmarshalRefuses(t *testing.T) {
	for name, h := range map[string]string{
		"duplicate key":    "a2616101616102",
		"indefinite bytes": "5f4101ff",
		"trailing bytes":   "0101",
		"truncated":        "a26161",
		"int key":          "a10101",
		"other tag":        "d959f701",
		"nested bignum":    "a1616182c24101",
	} {
		data, _ := hex.DecodeString(h)
		var v any
		if err := Unmarshal(data, &v); err == nil || !errors.Is(err, ErrDecode) {
			t.Errorf("%s: err = %v", name, err)
		}
	}
	deep := make([]byte, 0, 200)
	for range 100 {
		deep = append(deep, 0x81)
	}
	deep = append(deep, 0)
	var v any
	if err := Unmarshal(deep, &v); err == nil {
		t.Error("nesting 100 accepted")
	}
}

func FuzzUnmarshal(f *testing.F) {
	f.Add([]byte("\xd9\xd9\xf7\xa1\x61\x61\x01"))
	f.Add([]byte{0x83, 0x01, 0x02, 0x03})
	f.Fuzz(func(t *testing.T, data []byte) {
		var v any
		_ = Unmarshal(data, &v)
		var s s1
		_ = Unmarshal(data, &s)
	})
}
