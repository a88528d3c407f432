package canister

import (
	"bytes"
	"testing"

	"github.com/icws/icws/ic/principal"
)

func TestStableRoundTrip(t *testing.T) {
	s := &state{owner: principal.CanisterID(7), next: 1 << 40, latencies: []uint32{1, 2, 1 << 31}}
	b := s.appendStable(nil, []byte("ICWS…"))
	var back state
	ws, err := back.unmarshalStable(b)
	if err != nil {
		t.Fatal(err)
	}
	if string(ws) != "ICWS…" || back.owner != s.owner || back.next != s.next || len(back.latencies) != 3 || back.latencies[2] != 1<<31 {
		t.Fatalf("got %+v and %q, want %+v", back, ws, s)
	}
	for _, bad := range [][]byte{nil, []byte("BNCH\x02"), b[:8], b[:len(stableMagic)+1+len(s.owner.Bytes())+12+4]} {
		before := back
		if _, err := back.unmarshalStable(bad); err == nil {
			t.Errorf("%q accepted", bad)
		}
		if back.next != before.next || back.owner != before.owner {
			t.Errorf("a refused input changed the state")
		}
	}
}

func FuzzUnmarshalStable(f *testing.F) {
	f.Add((&state{owner: principal.CanisterID(7), next: 3, latencies: []uint32{9}}).appendStable(nil, []byte("ws")))
	f.Add((&state{}).appendStable(nil, nil))
	f.Add([]byte("BNCH\x01\x1d"))
	f.Fuzz(func(t *testing.T, b []byte) {
		var s state
		ws, err := s.unmarshalStable(b)
		if err != nil {
			return
		}
		if again := s.appendStable(nil, ws); !bytes.Equal(again, b) {
			t.Errorf("%x decodes and encodes back as %x", b, again)
		}
	})
}
