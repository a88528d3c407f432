package web

import (
	"bytes"
	"slices"
	"testing"

	"github.com/icws/icws/protocol"
)

// frameOf is an S6 frame carrying m, with a placeholder certificate and tree.
func frameOf(m *protocol.WebsocketMessage) []byte {
	cm := protocol.CertMessage{Key: "gw_00000000000000000016", Val: m.MarshalCanister(), Cert: []byte{1, 2}, Tree: []byte{3}}
	return cm.Marshal()
}

// batchOf is an S9 frame carrying ms, with a placeholder certificate and tree.
func batchOf(ms ...*protocol.WebsocketMessage) []byte {
	f := protocol.BatchFrame{Gateway: "gw", Cert: []byte{1, 2}, Tree: []byte{3}}
	for i, m := range ms {
		f.Nonces = append(f.Nonces, uint64(16+i))
		f.Vals = append(f.Vals, m.MarshalCanister())
	}
	return f.Marshal()
}

// parts splits an S6 or S9 frame into its keys, vals and the rest (certificate and tree).
func parts(t *testing.T, frame []byte) (keys []string, vals [][]byte, rest [][]byte) {
	t.Helper()
	if protocol.IsBatchFrame(frame) {
		f, err := protocol.DecodeBatchFrame(frame)
		if err != nil {
			t.Fatal(err)
		}
		for i := range f.Vals {
			keys = append(keys, f.Key(i))
		}
		return keys, f.Vals, [][]byte{f.Cert, f.Tree}
	}
	cm, err := protocol.DecodeCertMessage(frame)
	if err != nil {
		t.Fatal(err)
	}
	return []string{cm.Key}, [][]byte{cm.Val}, [][]byte{cm.Cert, cm.Tree}
}

// TestTamper: only an application message at or above from is changed (in an S9, the first
// such), exactly one byte of its payload, with the keys, the other messages, the certificate and
// the tree left alone.
func TestTamper(t *testing.T) {
	app := &protocol.WebsocketMessage{ClientID: 16, SequenceNum: 5, Timestamp: 1, Message: protocol.AppMessage{Text: "10:00"}.Marshal()}
	beat := &protocol.WebsocketMessage{ClientID: 16, SequenceNum: 4, Service: true, Ack: 3}
	app6 := &protocol.WebsocketMessage{ClientID: 16, SequenceNum: 6, Timestamp: 1, Message: protocol.AppMessage{Text: "10:01"}.Marshal()}
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
		{"S9: its first application message", batchOf(beat, app, app6), 0, true},
		{"S9: at from", batchOf(beat, app, app6), 5, true},
		{"S9: service messages only", batchOf(beat), 0, false},
		{"S9: all below from", batchOf(beat, app, app6), 7, false},
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
			inKeys, inVals, inRest := parts(t, tc.frame)
			gotKeys, gotVals, gotRest := parts(t, out)
			if !slices.Equal(gotKeys, inKeys) || !slices.EqualFunc(gotRest, inRest, bytes.Equal) || len(gotVals) != len(inVals) {
				t.Fatalf("changed more than a val: keys %q, cert and tree %x", gotKeys, gotRest)
			}
			diff, changed := 0, -1
			for j := range inVals {
				if len(inVals[j]) != len(gotVals[j]) {
					t.Fatalf("val %d changed length", j)
				}
				for i := range inVals[j] {
					if inVals[j][i] != gotVals[j][i] {
						diff++
						changed = j
					}
				}
			}
			if diff != 1 {
				t.Fatalf("%d bytes differ, want 1", diff)
			}
			m, err := protocol.DecodeWebsocketMessage(gotVals[changed])
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
	f.Add(batchOf(&protocol.WebsocketMessage{ClientID: 16, SequenceNum: 4, Service: true}, &protocol.WebsocketMessage{ClientID: 16, SequenceNum: 5, Message: []byte("x")}), uint64(5))
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
