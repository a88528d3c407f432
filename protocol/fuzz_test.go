package protocol

import (
	"bytes"
	"testing"
)

func addSeeds(f *testing.F, hexes ...string) {
	for _, h := range hexes {
		f.Add(unhex(f, h))
	}
	f.Add([]byte{})
	f.Add([]byte{0xd9, 0xd9, 0xf7})
	f.Add([]byte{0xa1, 0x61})
}

func FuzzDecodeFirstMessage(f *testing.F) {
	addSeeds(f, goldenS1, goldenS1Nonce)
	f.Fuzz(func(t *testing.T, b []byte) {
		m, err := DecodeFirstMessage(b)
		if err != nil {
			return
		}
		if got, err := DecodeFirstMessage(m.Marshal()); err != nil || got != m {
			t.Fatalf("re-encoding of %+v gave %+v, %v", m, got, err)
		}
	})
}

func FuzzDecodeSignedFirstMessage(f *testing.F) {
	addSeeds(f, goldenS2, goldenS2Nonce, "d9d9f7a3"+goldenS2[8:]+"656261746368"+"01")
	f.Fuzz(func(t *testing.T, b []byte) {
		m, err := DecodeSignedFirstMessage(b)
		if err != nil {
			return
		}
		got, err := DecodeSignedFirstMessage(m.Marshal())
		if err != nil || !bytes.Equal(got.FirstMessage, m.FirstMessage) || !bytes.Equal(got.Sig, m.Sig) || got.Batch != m.Batch {
			t.Fatalf("re-encoding failed: %v", err)
		}
	})
}

func FuzzDecodeAppMessage(f *testing.F) {
	addSeeds(f, goldenS3Ping, goldenS3PingPong)
	f.Fuzz(func(t *testing.T, b []byte) {
		m, err := DecodeAppMessage(b)
		if err != nil {
			return
		}
		if got, err := DecodeAppMessage(m.Marshal()); err != nil || got != m {
			t.Fatalf("re-encoding of %+v gave %+v, %v", m, got, err)
		}
	})
}

func FuzzDecodeWebsocketMessage(f *testing.F) {
	addSeeds(f, goldenS4Client, goldenS4Canister)
	f.Add((&WebsocketMessage{ClientID: 1, Service: true, Ack: 2, Close: "x"}).MarshalCanister())
	f.Add((&WebsocketMessage{ClientID: 1, Service: true, Ack: 2, AckTime: 3, Close: "x"}).MarshalCanister())
	f.Fuzz(func(t *testing.T, b []byte) {
		m, err := DecodeWebsocketMessage(b)
		if err != nil {
			return
		}
		if IsServiceMessage(b) != m.Service {
			t.Fatalf("IsServiceMessage = %v for a message that decodes with Service %v", !m.Service, m.Service)
		}
		for _, enc := range [][]byte{m.MarshalCanister(), m.MarshalClient()} {
			got, err := DecodeWebsocketMessage(enc)
			if err != nil || got.ClientID != m.ClientID || got.SequenceNum != m.SequenceNum ||
				got.Timestamp != m.Timestamp || !bytes.Equal(got.Message, m.Message) ||
				got.Service != m.Service || got.Ack != m.Ack || got.Close != m.Close {
				t.Fatalf("re-encoding of %+v gave %+v, %v", m, got, err)
			}
		}
	})
}

func FuzzDecodeClientMessage(f *testing.F) {
	addSeeds(f, goldenS5)
	f.Fuzz(func(t *testing.T, b []byte) {
		m, err := DecodeClientMessage(b)
		if err != nil {
			return
		}
		got, err := DecodeClientMessage(m.Marshal())
		if err != nil || !bytes.Equal(got.Sig, m.Sig) || !bytes.Equal(got.Val, m.Val) {
			t.Fatalf("re-encoding failed: %v", err)
		}
	})
}

func FuzzDecodeCertMessage(f *testing.F) {
	addSeeds(f)
	f.Add((&CertMessage{Key: goldenKey, Val: unhex(f, goldenS4Canister), Tree: unhex(f, goldenTree())}).Marshal())
	f.Fuzz(func(t *testing.T, b []byte) {
		m, err := DecodeCertMessage(b)
		if err != nil {
			return
		}
		got, err := DecodeCertMessage(m.Marshal())
		if err != nil || got.Key != m.Key || !bytes.Equal(got.Val, m.Val) ||
			!bytes.Equal(got.Cert, m.Cert) || !bytes.Equal(got.Tree, m.Tree) {
			t.Fatalf("re-encoding failed: %v", err)
		}
	})
}

func FuzzParseKey(f *testing.F) {
	f.Add(goldenKey)
	f.Add("a_00000000000000000000")
	f.Add("_")
	f.Fuzz(func(t *testing.T, key string) {
		gw, n, err := ParseKey(key)
		if err != nil {
			return
		}
		if got := string(AppendKey(nil, gw, n)); got != key {
			t.Fatalf("ParseKey(%q) = %q, %d; re-encoded %q", key, gw, n, got)
		}
	})
}
