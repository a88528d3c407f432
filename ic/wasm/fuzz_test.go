package wasm

import (
	"bytes"
	"testing"
)

// FuzzDecode: any input either fails with an error or decodes to a module whose encoding
// decodes again and encodes to the same bytes (inputs with padded counts re-encode minimally).
func FuzzDecode(f *testing.F) {
	f.Add([]byte("\x00asm\x01\x00\x00\x00"))
	f.Add([]byte("\x00asm\x01\x00\x00\x00\x01\x04\x01\x60\x00\x00\x03\x02\x01\x00\x0a\x04\x01\x02\x00\x0b"))
	f.Fuzz(func(t *testing.T, b []byte) {
		m, err := Decode(b)
		if err != nil {
			return
		}
		e := m.Encode()
		m2, err := Decode(e)
		if err != nil {
			t.Fatalf("re-encoded module does not decode: %v", err)
		}
		if got := m2.Encode(); !bytes.Equal(got, e) {
			t.Fatalf("encoding is not stable")
		}
	})
}

// FuzzCheckIC: DecodeIC never panics, whatever the input (gzip included).
func FuzzCheckIC(f *testing.F) {
	f.Add([]byte("\x00asm\x01\x00\x00\x00"))
	f.Add([]byte("\x1f\x8b\x08\x00\x00\x00\x00\x00\x00\xff"))
	f.Fuzz(func(t *testing.T, b []byte) {
		m, raw, err := DecodeIC(b)
		if err == nil && (m == nil || len(raw) == 0) {
			t.Fatal("no module and no error")
		}
	})
}
