package protocol

import (
	"testing"
)

func TestKindOf(t *testing.T) {
	tests := []struct {
		name   string
		val    []byte
		kind   Kind
		reason string
	}{
		{"close notice", (&WebsocketMessage{ClientID: 1, SequenceNum: 3, Service: true, Ack: 2, Close: "bye"}).MarshalCanister(), KindClose, "bye"},
		{"ack", (&WebsocketMessage{ClientID: 1, SequenceNum: 3, Service: true, Ack: 2}).MarshalCanister(), KindAck, ""},
		{"ack, client encoding", (&WebsocketMessage{ClientID: 1, Service: true, Ack: 9}).MarshalClient(), KindAck, ""},
		{"app", (&WebsocketMessage{ClientID: 1, Message: []byte("hi")}).MarshalCanister(), KindApp, ""},
		{"payload mentions ack and close", (&WebsocketMessage{ClientID: 1, Message: []byte("\x63ack\x65close")}).MarshalCanister(), KindApp, ""},
		{"garbage with the keys", []byte("\x63ack\x65close\xff"), KindApp, ""},
		{"empty", nil, KindApp, ""},
	}
	for _, tt := range tests {
		k, reason := KindOf(tt.val)
		if k != tt.kind || reason != tt.reason {
			t.Errorf("%s: KindOf = %v, %q; want %v, %q", tt.name, k, reason, tt.kind, tt.reason)
		}
		if m, err := DecodeWebsocketMessage(tt.val); err == nil && m.Kind() != k {
			t.Errorf("%s: Kind() = %v, KindOf = %v", tt.name, m.Kind(), k)
		}
	}
	if KindClose.String() != "close" || Kind(9).String() != "kind(9)" {
		t.Errorf("String: %q %q", KindClose, Kind(9))
	}
}

func FuzzKindOf(f *testing.F) {
	f.Add((&WebsocketMessage{ClientID: 1, Service: true, Close: "bye"}).MarshalCanister())
	f.Add((&WebsocketMessage{ClientID: 1, Message: []byte("hi")}).MarshalCanister())
	f.Add([]byte("\x63ack\x65close"))
	f.Fuzz(func(t *testing.T, val []byte) {
		k, reason := KindOf(val)
		if (k == KindClose) != (reason != "") {
			t.Fatalf("kind %v with reason %q", k, reason)
		}
	})
}

func TestSessionEnd(t *testing.T) {
	tests := []struct {
		end  SessionEnd
		want string
	}{
		{SessionUnknownClient, "ws_message: unknown client 7 [icws-session-end:1]"},
		{SessionNotOpen, "ws_message: client 7 is not open [icws-session-end:2]"},
		{SessionOtherGateway, "ws_message: client 7 is bound to another gateway [icws-session-end:3]"},
	}
	for _, tt := range tests {
		got := tt.end.Trap("ws_message", 7)
		if got != tt.want {
			t.Errorf("Trap = %q, want %q", got, tt.want)
		}
		// The IC wraps the trap text in its own.
		wrapped := "Canister aaaaa-aa trapped explicitly: " + got
		if e, ok := ParseSessionEnd(wrapped); !ok || e != tt.end {
			t.Errorf("ParseSessionEnd(%q) = %d, %v", wrapped, e, ok)
		}
	}
	for _, msg := range []string{
		"", "ws_message: unknown client 7", "[icws-session-end:", "[icws-session-end:]",
		"[icws-session-end:0]", "[icws-session-end:4]", "[icws-session-end:999]", "[icws-session-end:x]",
	} {
		if e, ok := ParseSessionEnd(msg); ok {
			t.Errorf("ParseSessionEnd(%q) = %d, true", msg, e)
		}
	}
}

func FuzzParseSessionEnd(f *testing.F) {
	f.Add(SessionNotOpen.Trap("ws_message", 1))
	f.Add("[icws-session-end:9]")
	f.Fuzz(func(t *testing.T, msg string) {
		if e, ok := ParseSessionEnd(msg); ok && (e < SessionUnknownClient || e > SessionOtherGateway) {
			t.Fatalf("out of range %d", e)
		}
	})
}

func TestCertHeadTail(t *testing.T) {
	m := CertMessage{Key: "k_00000000000000000001", Val: make([]byte, 300), Cert: []byte{1, 2}, Tree: make([]byte, 70000)}
	b := m.Marshal()
	if len(b) != m.Size() {
		t.Fatalf("Size %d, encoded %d", m.Size(), len(b))
	}
	h := AppendCertHead(nil, m.Key, len(m.Val))
	if len(h) != CertHeadSize(m.Key, len(m.Val)) {
		t.Errorf("CertHeadSize %d, head %d", CertHeadSize(m.Key, len(m.Val)), len(h))
	}
	if tl := AppendCertTail(nil, m.Cert, m.Tree); len(tl) != CertTailSize(m.Cert, m.Tree) {
		t.Errorf("CertTailSize %d, tail %d", CertTailSize(m.Cert, m.Tree), len(tl))
	}
	got, err := DecodeCertMessage(b)
	if err != nil || got.Key != m.Key || len(got.Val) != 300 || len(got.Tree) != 70000 {
		t.Fatalf("round trip: %v", err)
	}
}
