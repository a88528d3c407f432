package wasm

import "testing"

// BenchmarkDecodeEncode decodes and re-encodes the moc 3.9.7 module; the Check sub-benchmark
// is CheckIC alone, which reads every instruction.
func BenchmarkDecodeEncode(b *testing.B) {
	mod := compileMoc(b, "motoko")
	b.Run("Decode", func(b *testing.B) {
		b.SetBytes(int64(len(mod)))
		for b.Loop() {
			if _, err := Decode(mod); err != nil {
				b.Fatal(err)
			}
		}
	})
	m, err := Decode(mod)
	if err != nil {
		b.Fatal(err)
	}
	b.Run("Encode", func(b *testing.B) {
		b.SetBytes(int64(len(mod)))
		for b.Loop() {
			m.Encode()
		}
	})
	b.Run("CheckIC", func(b *testing.B) {
		b.SetBytes(int64(len(mod)))
		for b.Loop() {
			if err := CheckIC(m); err != nil {
				b.Fatal(err)
			}
		}
	})
}
