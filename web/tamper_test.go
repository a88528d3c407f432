package web

import (
	"bytes"
	"testing"

	"github.com/icws/icws/protocol"
)

// frameOf is an S6 frame carrying m, with a placeholder certificate and tree.
func frameOf(m *protocol.WebsocketMessage) []byte {
	cm := protocol.CertMessage{Key: "gw_00000000000000000016", Val: m.MarshalCanister(), Cert: []byte{1, 2}, Tree: []byte{3}}
	return cm.Marshal()
}

// TestTamper: only an application message at or above from is changed, exactly one byte of its
// payload, with the certificate and tree left alone.
func TestTamper(t *testing.T) {
	app := &protocol.WebsocketMessage{ClientID: 16, SequenceNum: 5, Timestamp: 1, Message: protocol.AppMessage{Text: "10:00"}.Marshal()}
	for _, tc := range []struct {
		name   string
		frame  []byte
		from   uint64
		forged bool
	}{
		{"application message", frameOf(app), 0, true},
		{"at from", frameOf(app), 5, true},
		{"below from", frameOf(app), 6, false},
		{"service message", frameOf(&protocol.WebsocketMessage{ClientID: 16, SequenceNum: 5, Service: true, Ack: 3}), 0, false},
		{"empty payload", frameOf(&protocol.WebsocketMessage{ClientID: 16, SequenceNum: 5}), 0, false},
		{"not S6", []byte("garbage"), 0, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			out, forged := Tamper(tc.frame, tc.from)
			if forged != tc.forged {
				t.Fatalf("forged = %v, want %v", forged, tc.forged)
			}
			if !forged {
				if !bytes.Equal(out, tc.frame) {
					t.Fatal("changed a frame it did not forge")
				}
				return
			}
			in, err1 := protocol.DecodeCertMessage(tc.frame)
			got, err2 := protocol.DecodeCertMessage(out)
			if err1 != nil || err2 != nil {
				t.Fatal(err1, err2)
			}
			if got.Key != in.Key || !bytes.Equal(got.Cert, in.Cert) || !bytes.Equal(got.Tree, in.Tree) || len(got.Val) != len(in.Val) {
				t.Fatalf("changed more than the val: %+v", got)
			}
			diff := 0
			for i := range in.Val {
				if in.Val[i] != got.Val[i] {
					diff++
				}
			}
			if diff != 1 {
				t.Fatalf("%d bytes differ, want 1", diff)
			}
			m, err := protocol.DecodeWebsocketMessage(got.Val)
			if err != nil || m.SequenceNum != app.SequenceNum || bytes.Equal(m.Message, app.Message) {
				t.Fatalf("forged message %+v, %v", m, err)
			}
		})
	}
}

// FuzzTamper: no frame makes Tamper panic, and what it does not forge it returns unchanged.
func FuzzTamper(f *testing.F) {
	f.Add(frameOf(&protocol.WebsocketMessage{ClientID: 16, SequenceNum: 5, Message: []byte("x")}), uint64(0))
	f.Add([]byte{0xa4}, uint64(1))
	f.Fuzz(func(t *testing.T, frame []byte, from uint64) {
		in := bytes.Clone(frame)
		out, forged := Tamper(frame, from)
		if !bytes.Equal(frame, in) {
			t.Fatal("Tamper changed its input")
		}
		if !forged && !bytes.Equal(out, in) {
			t.Fatal("not forged, but changed")
		}
	})
}
