package omnia

import (
	"bytes"
	"testing"
)

func addFrameSeeds(f *testing.F, seeds ...[]byte) {
	for _, s := range seeds {
		f.Add(s)
	}
	f.Add([]byte{})
	f.Add([]byte{0xd9, 0xd9, 0xf7})
	f.Add([]byte{0xa1, 0x61})
}

func FuzzDecodeHandshake(f *testing.F) {
	addFrameSeeds(f, unhexT(f, goldenHandshake), unhexT(f, "d9d9f7 b9 0001 71 676174657761795f7072696e636970616c 41 07"))
	f.Fuzz(func(t *testing.T, b []byte) {
		p, err := DecodeHandshake(b)
		if err != nil {
			return
		}
		if got, err := DecodeHandshake(Handshake(p)); err != nil || !got.Equal(p) {
			t.Fatalf("re-encoding of %v gave %v, %v", p, got, err)
		}
	})
}

func FuzzDecodeFrame(f *testing.F) {
	addFrameSeeds(f, unhexT(f, goldenFrame))
	f.Fuzz(func(t *testing.T, b []byte) {
		m, err := DecodeFrame(b)
		if err != nil {
			return
		}
		got, err := DecodeFrame(m.Marshal())
		if err != nil || got.Key != m.Key || !bytes.Equal(got.Content, m.Content) || !bytes.Equal(got.Cert, m.Cert) || !bytes.Equal(got.Tree, m.Tree) {
			t.Fatalf("re-encoding of %+v gave %+v, %v", m, got, err)
		}
	})
}
