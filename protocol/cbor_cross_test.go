package protocol

import (
	"bytes"
	"testing"

	"github.com/icws/icws/ic/cbor"
)

// The messages this package writes decode the same with the generic decoder (package ic/cbor),
// the one gateways and tools use for everything else.
func TestGenericDecoderAgrees(t *testing.T) {
	var s1 struct {
		CanisterID string `cbor:"canister_id"`
		ClientID   uint64 `cbor:"client_id"`
	}
	if err := cbor.Unmarshal(unhex(t, goldenS1), &s1); err != nil || s1.CanisterID != seedCanister || s1.ClientID != 16 {
		t.Errorf("S1: %+v, %v", s1, err)
	}
	var s1n struct {
		CanisterID string `cbor:"canister_id"`
		ClientID   uint64 `cbor:"client_id"`
		OpenNonce  uint64 `cbor:"open_nonce"`
	}
	if err := cbor.Unmarshal(unhex(t, goldenS1Nonce), &s1n); err != nil || s1n.CanisterID != seedCanister || s1n.ClientID != 16 || s1n.OpenNonce != goldenOpenNonce {
		t.Errorf("S1 with open_nonce: %+v, %v", s1n, err)
	}
	var s5 struct {
		Sig []byte `cbor:"sig"`
		Val []byte `cbor:"val"`
	}
	if err := cbor.Unmarshal(unhex(t, goldenS5), &s5); err != nil || !bytes.Equal(s5.Val, unhex(t, goldenS4Client)) {
		t.Errorf("S5: %v", err)
	}
	var s4 struct {
		ClientID    uint64 `cbor:"client_id"`
		SequenceNum uint64 `cbor:"sequence_num"`
		Timestamp   uint64 `cbor:"timestamp"`
		Message     []byte `cbor:"message"`
		Ack         *uint64
	}
	m := &WebsocketMessage{ClientID: 7, SequenceNum: 9, Timestamp: 1 << 60, Message: []byte{1, 2}}
	for _, b := range [][]byte{m.MarshalCanister(), m.MarshalClient()} {
		if err := cbor.Unmarshal(b, &s4); err != nil || s4.ClientID != 7 || s4.SequenceNum != 9 || s4.Timestamp != 1<<60 || !bytes.Equal(s4.Message, []byte{1, 2}) {
			t.Errorf("S4: %+v, %v", s4, err)
		}
	}
	var s6 map[string]any
	frame := (&CertMessage{Key: goldenKey, Val: unhex(t, goldenS4Canister), Cert: []byte{9}, Tree: unhex(t, goldenTree())}).Marshal()
	if err := cbor.Unmarshal(frame, &s6); err != nil || s6["key"] != goldenKey || len(s6) != 4 {
		t.Errorf("S6: %v, %v", s6, err)
	}
}

// FuzzDecodersAgainstGeneric checks that every input the strict decoders accept is well-formed
// CBOR for the generic decoder.
func FuzzDecodersAgainstGeneric(f *testing.F) {
	addSeeds(f, goldenS1, goldenS2, goldenS1Nonce, goldenS2Nonce, goldenS3Ping, goldenS4Canister, goldenS4Client, goldenS5)
	f.Fuzz(func(t *testing.T, b []byte) {
		_, e1 := DecodeFirstMessage(b)
		_, e2 := DecodeSignedFirstMessage(b)
		_, e3 := DecodeAppMessage(b)
		_, e4 := DecodeWebsocketMessage(b)
		_, e5 := DecodeClientMessage(b)
		_, e6 := DecodeCertMessage(b)
		if e1 == nil || e2 == nil || e3 == nil || e4 == nil || e5 == nil || e6 == nil {
			var v any
			if err := cbor.Unmarshal(b, &v); err != nil {
				t.Fatalf("accepted %x, which ic/cbor refuses: %v", b, err)
			}
		}
	})
}
