package chat

import (
	"encoding/hex"
	"testing"

	"github.com/icws/icws/ic/cbor"
)

func TestPayloadBytes(t *testing.T) {
	for _, tt := range []struct {
		v    any
		want string
	}{
		{Message{Text: "hi", From: 16}, "d9d9f7a2" + "6474657874" + "626869" + "6466726f6d" + "10"},
		{Join{Join: 17}, "d9d9f7a1" + "646a6f696e" + "11"},
		{Leave{Leave: 300}, "d9d9f7a1" + "656c65617665" + "19012c"},
	} {
		b, err := cbor.Marshal(tt.v)
		if err != nil {
			t.Fatal(err)
		}
		if got := hex.EncodeToString(b); got != tt.want {
			t.Errorf("%T: %s, want %s", tt.v, got, tt.want)
		}
		ev, err := Decode(b)
		if err != nil {
			t.Fatalf("%T: %v", tt.v, err)
		}
		switch v := tt.v.(type) {
		case Message:
			if ev.Message == nil || *ev.Message != v {
				t.Errorf("decoded %+v", ev)
			}
		case Join:
			if ev.Join == nil || *ev.Join != v.Join {
				t.Errorf("decoded %+v", ev)
			}
		case Leave:
			if ev.Leave == nil || *ev.Leave != v.Leave {
				t.Errorf("decoded %+v", ev)
			}
		}
	}
}

func TestDecodeErrors(t *testing.T) {
	for _, h := range []string{
		"",
		"a0",
		"a1" + "6474657874" + "626869", // text without from
		"a2" + "6474657874" + "01" + "6466726f6d" + "10",
		"a1" + "646a6f696e" + "20",
		"a1" + "656c65617665" + "6161",
		"a1" + "01" + "02",
	} {
		b, _ := hex.DecodeString(h)
		if _, err := Decode(b); err == nil {
			t.Errorf("Decode(%s) succeeded", h)
		}
	}
}

func FuzzDecode(f *testing.F) {
	for _, v := range []any{Message{Text: "x", From: 1}, Join{Join: 2}, Leave{Leave: 3}} {
		b, _ := cbor.Marshal(v)
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		ev, err := Decode(b)
		if err != nil {
			return
		}
		n := 0
		for _, set := range []bool{ev.Message != nil, ev.Join != nil, ev.Leave != nil} {
			if set {
				n++
			}
		}
		if n != 1 {
			t.Fatalf("%d fields set", n)
		}
	})
}
