package candid

import "testing"

// BenchmarkMarshalCertMessages encodes a ws_get_messages reply of 50 messages of 100 bytes.
func BenchmarkMarshalCertMessages(b *testing.B) {
	cm := sampleCertMessages(50, 100)
	out, _ := Marshal(cm)
	b.SetBytes(int64(len(out)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Marshal(cm); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkUnmarshalCertMessages decodes the same reply.
func BenchmarkUnmarshalCertMessages(b *testing.B) {
	data, _ := Marshal(sampleCertMessages(50, 100))
	b.SetBytes(int64(len(data)))
	b.ReportAllocs()
	for b.Loop() {
		var cm CertMessages
		if err := Unmarshal(data, &cm); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkDecodeValuesCertMessages decodes the same reply as generic values.
func BenchmarkDecodeValuesCertMessages(b *testing.B) {
	cm := sampleCertMessages(50, 100)
	data, _ := Marshal(cm)
	typ, _ := TypeOf(cm)
	b.SetBytes(int64(len(data)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := DecodeValues(data, typ); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkMarshalNat64 encodes the argument of ws_get_messages.
func BenchmarkMarshalNat64(b *testing.B) {
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Marshal(uint64(16)); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkUnmarshalNat64 decodes it.
func BenchmarkUnmarshalNat64(b *testing.B) {
	data, _ := Marshal(uint64(16))
	b.ReportAllocs()
	for b.Loop() {
		var n uint64
		if err := Unmarshal(data, &n); err != nil {
			b.Fatal(err)
		}
	}
}
