package gateway

import (
	"bytes"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/icws/icws/protocol"
)

// TestWriteFrameMatchesProtocol checks that the shared-tail encoder writes exactly
// protocol.CertMessage's bytes, across every CBOR length form.
func TestWriteFrameMatchesProtocol(t *testing.T) {
	sizes := []int{0, 1, 23, 24, 255, 256, 65535, 65536}
	var scratch []byte
	for _, vn := range sizes {
		for _, cn := range []int{0, 23, 300, 70000} {
			res := &protocol.CertMessages{
				Messages: []protocol.Message{
					{ClientID: 1, Key: key(16), Val: bytes.Repeat([]byte{0xab}, vn)},
					{ClientID: 2, Key: strings.Repeat("k", vn%300), Val: []byte{1}},
				},
				Cert: bytes.Repeat([]byte{0xce}, cn),
				Tree: bytes.Repeat([]byte{0x7e}, cn/2+1),
			}
			b := newBatch(res)
			for i, m := range res.Messages {
				want := (&protocol.CertMessage{Key: m.Key, Val: m.Val, Cert: res.Cert, Tree: res.Tree}).Marshal()
				var got bytes.Buffer
				var err error
				if scratch, err = b.writeFrame(&got, scratch, i); err != nil {
					t.Fatal(err)
				}
				if !bytes.Equal(got.Bytes(), want) {
					t.Fatalf("val %d, cert %d, message %d: frame differs from protocol.CertMessage", vn, cn, i)
				}
				if b.frameSize(i) != len(want) {
					t.Fatalf("frameSize = %d, want %d", b.frameSize(i), len(want))
				}
				dec, err := protocol.DecodeCertMessage(got.Bytes())
				if err != nil || dec.Key != m.Key {
					t.Fatalf("decode: %v", err)
				}
			}
		}
	}
}

func TestCloseReason(t *testing.T) {
	if got := closeReason(protocol.CloseTooSlow, ""); got != protocol.CloseTooSlow.Reason() {
		t.Errorf("no detail: %q", got)
	}
	long := closeReason(protocol.CloseOpenRefused, strings.Repeat("é", 200))
	if len(long) > maxReasonBytes || !utf8.ValidString(long) || !strings.HasPrefix(long, protocol.CloseOpenRefused.Reason()+": ") {
		t.Errorf("long reason %q (%d bytes)", long, len(long))
	}
}

// FuzzParseFirstFrame feeds the first-frame parser arbitrary bytes: it must never panic, and what
// it accepts must be a signed first message naming a valid canister.
func FuzzParseFirstFrame(f *testing.F) {
	s1 := protocol.FirstMessage{CanisterID: "bw4dl-smaaa-aaaaa-qaacq-cai", ClientID: 16}
	good := protocol.SignedFirstMessage{FirstMessage: s1.Marshal(), Sig: make([]byte, 64)}.Marshal()
	f.Add(good)
	f.Add(good[:len(good)-1])
	f.Add(protocol.SignedFirstMessage{FirstMessage: []byte("x"), Sig: nil}.Marshal())
	f.Add(protocol.SignedFirstMessage{FirstMessage: protocol.FirstMessage{CanisterID: "nope"}.Marshal()}.Marshal())
	f.Add([]byte{})
	f.Add([]byte{0xd9, 0xd9, 0xf7, 0xbf})
	f.Fuzz(func(t *testing.T, data []byte) {
		s2, first, canister, err := parseFirstFrame(data)
		if err != nil {
			return
		}
		if canister.String() != first.CanisterID {
			t.Fatalf("canister %s from %q", canister, first.CanisterID)
		}
		if _, err := protocol.DecodeFirstMessage(s2.FirstMessage); err != nil {
			t.Fatal(err)
		}
	})
}

func TestParseFirstFrame(t *testing.T) {
	s1 := protocol.FirstMessage{CanisterID: "bw4dl-smaaa-aaaaa-qaacq-cai", ClientID: 16}
	tests := []struct {
		name string
		data []byte
		ok   bool
	}{
		{"good", protocol.SignedFirstMessage{FirstMessage: s1.Marshal(), Sig: make([]byte, 64)}.Marshal(), true},
		{"empty", nil, false},
		{"not cbor", []byte("hello"), false},
		{"S1 alone", s1.Marshal(), false},
		{"S5 instead", protocol.ClientMessage{Sig: make([]byte, 64), Val: []byte{1}}.Marshal(), false},
		{"S1 garbage", protocol.SignedFirstMessage{FirstMessage: []byte{0xff}, Sig: make([]byte, 64)}.Marshal(), false},
		{"bad canister id", protocol.SignedFirstMessage{FirstMessage: protocol.FirstMessage{CanisterID: "bw4dl-smaaa-aaaaa-qaacq-cax", ClientID: 1}.Marshal()}.Marshal(), false},
		{"trailing bytes", append(protocol.SignedFirstMessage{FirstMessage: s1.Marshal(), Sig: make([]byte, 64)}.Marshal(), 0), false},
	}
	for _, tt := range tests {
		_, _, _, err := parseFirstFrame(tt.data)
		if (err == nil) != tt.ok {
			t.Errorf("%s: err = %v, want ok %v", tt.name, err, tt.ok)
		}
	}
}
