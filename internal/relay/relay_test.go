package relay

import (
	"bytes"
	"slices"
	"testing"

	"github.com/icws/icws/protocol"
)

// batchOf is an S9 frame of messages with sequence numbers seqs for client 7, app messages
// unless listed in service.
func batchOf(t *testing.T, seqs []uint64, service map[uint64]bool) (protocol.BatchFrame, []byte) {
	t.Helper()
	f := protocol.BatchFrame{Gateway: "2vxsx-fae", Cert: []byte{0xc0}, Tree: []byte{0xd9, 0xd9, 0xf7, 0x81, 0x00}}
	for i, s := range seqs {
		m := protocol.WebsocketMessage{ClientID: 7, SequenceNum: s, Timestamp: 1, Message: []byte("x")}
		if service[s] {
			m = protocol.WebsocketMessage{ClientID: 7, SequenceNum: s, Timestamp: 1, Service: true}
		}
		f.Nonces = append(f.Nonces, uint64(100+i))
		f.Vals = append(f.Vals, m.MarshalCanister())
	}
	return f, f.Marshal()
}

// TestDecideBatch: the policies count the messages of an S9 frame one by one; the relay passes
// the frame untouched when they pass all, an S9 of the ones passed (same certificate and witness)
// when they pass some, nothing when they pass none, and says when one silenced.
func TestDecideBatch(t *testing.T) {
	for _, tc := range []struct {
		name    string
		policy  Policy
		seqs    []uint64
		service map[uint64]bool
		want    []uint64 // the sequence numbers relayed; nil: no frame
		whole   bool     // the frame relayed is the input itself
		silence bool
	}{
		{"pass all", Policy{}, []uint64{0, 1, 2}, nil, []uint64{0, 1, 2}, true, false},
		{"withhold after 2", WithholdAfter(2), []uint64{0, 1, 2, 3}, nil, []uint64{0, 1}, false, true},
		{"withhold after 0", WithholdAfter(0), []uint64{0, 1}, nil, nil, false, true},
		{"withhold after 2, heartbeats counted out", WithholdAfter(2), []uint64{0, 1, 2, 3}, map[uint64]bool{1: true}, []uint64{0, 1, 2}, false, true},
		{"withhold after 5 passes a short frame", WithholdAfter(5), []uint64{0, 1, 2}, nil, []uint64{0, 1, 2}, true, false},
		{"silent after heartbeat", SilentAfterHeartbeat(), []uint64{0, 1, 2}, map[uint64]bool{1: true}, []uint64{0, 1}, false, true},
		{"silent from start", SilentFromStart(), []uint64{0, 1}, nil, nil, false, true},
		{"drop the middle", Policy{Down: func(f *Frame) Action {
			if f.Part == 1 {
				return Drop
			}
			return Pass
		}}, []uint64{0, 1, 2}, nil, []uint64{0, 2}, false, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			bf, data := batchOf(t, tc.seqs, tc.service)
			decide := tc.policy.Down
			if decide == nil {
				decide = func(*Frame) Action { return Pass }
			}
			r := &Relay{}
			out, act := r.decideBatch(3, data, bf, decide)
			if (act == Silence) != tc.silence {
				t.Errorf("action %v, want silence %v", act, tc.silence)
			}
			if tc.want == nil {
				if out != nil {
					t.Fatalf("relayed %x, want nothing", out)
				}
				return
			}
			if tc.whole != bytes.Equal(out, data) {
				t.Errorf("relayed the input itself: %v, want %v", bytes.Equal(out, data), tc.whole)
			}
			got, err := protocol.DecodeBatchFrame(out)
			if err != nil {
				t.Fatalf("relayed frame does not decode: %v", err)
			}
			var seqs []uint64
			for _, v := range got.Vals {
				m, err := protocol.DecodeWebsocketMessage(v)
				if err != nil {
					t.Fatal(err)
				}
				seqs = append(seqs, m.SequenceNum)
			}
			if !slices.Equal(seqs, tc.want) {
				t.Errorf("relayed messages %v, want %v", seqs, tc.want)
			}
			for i, v := range got.Vals {
				j := slices.IndexFunc(bf.Vals, func(x []byte) bool { return bytes.Equal(x, v) })
				if j < 0 || got.Nonces[i] != bf.Nonces[j] {
					t.Errorf("message %d: nonce %d is not its nonce in the input", i, got.Nonces[i])
				}
			}
			if !bytes.Equal(got.Cert, bf.Cert) || !bytes.Equal(got.Tree, bf.Tree) || got.Gateway != bf.Gateway {
				t.Error("the relayed frame's gateway, certificate or witness changed")
			}
			if r.FirstWithheld().IsZero() != (len(tc.want) == len(tc.seqs)) {
				t.Errorf("FirstWithheld %v with %d of %d messages relayed", r.FirstWithheld(), len(tc.want), len(tc.seqs))
			}
		})
	}
}
