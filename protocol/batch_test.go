package protocol

import (
	"bytes"
	"crypto/ed25519"
	"encoding/hex"
	"errors"
	"slices"
	"testing"
)

// goldenS9 is docs/PROTOCOL.md §13.2's example.
const goldenS9 = "a5" + "67" + "67617465776179" + "69" + "32767873782d666165" +
	"66" + "6e6f6e636573" + "82" + "05" + "06" +
	"64" + "76616c73" + "82" + "4101" + "4102" +
	"64" + "63657274" + "41" + "c0" +
	"64" + "74726565" + "45" + "d9d9f78100"

func TestBatchFrameGolden(t *testing.T) {
	f := BatchFrame{Gateway: "2vxsx-fae", Nonces: []uint64{5, 6}, Vals: [][]byte{{1}, {2}}, Cert: []byte{0xc0}, Tree: unhex(t, "d9d9f78100")}
	b := f.Marshal()
	if got := hex.EncodeToString(b); got != goldenS9 {
		t.Fatalf("S9 = %s\nwant  %s", got, goldenS9)
	}
	if len(b) != f.Size() {
		t.Fatalf("Size() = %d, encoding has %d bytes", f.Size(), len(b))
	}
	if !IsBatchFrame(b) || IsChannelFrame(b) {
		t.Fatalf("IsBatchFrame = %v, IsChannelFrame = %v", IsBatchFrame(b), IsChannelFrame(b))
	}
	if IsBatchFrame(unhex(t, "a4636b6579")) {
		t.Fatal("an S6 prefix counts as S9")
	}
	got, err := DecodeBatchFrame(b)
	if err != nil {
		t.Fatal(err)
	}
	if got.Gateway != f.Gateway || !slices.Equal(got.Nonces, f.Nonces) || !bytes.Equal(got.Vals[1], f.Vals[1]) || !bytes.Equal(got.Tree, f.Tree) {
		t.Fatalf("decoded %+v, want %+v", got, f)
	}
	if k := got.Key(0); k != "2vxsx-fae_00000000000000000005" {
		t.Fatalf("Key(0) = %q", k)
	}
}

func TestDecodeBatchFrameErrors(t *testing.T) {
	ok := BatchFrame{Gateway: "2vxsx-fae", Nonces: []uint64{5, 6}, Vals: [][]byte{{1}, {2}}, Cert: []byte{0xc0}, Tree: []byte{0x81, 0}}
	tests := []struct {
		name string
		f    BatchFrame
	}{
		{"nonces not increasing", BatchFrame{Gateway: "g", Nonces: []uint64{6, 6}, Vals: [][]byte{{1}, {2}}}},
		{"nonces decreasing", BatchFrame{Gateway: "g", Nonces: []uint64{7, 6}, Vals: [][]byte{{1}, {2}}}},
		{"more nonces than vals", BatchFrame{Gateway: "g", Nonces: []uint64{1, 2}, Vals: [][]byte{{1}}}},
		{"fewer nonces than vals", BatchFrame{Gateway: "g", Nonces: []uint64{1}, Vals: [][]byte{{1}, {2}}}},
		{"no values", BatchFrame{Gateway: "g", Nonces: []uint64{}, Vals: [][]byte{}}},
		{"empty gateway", BatchFrame{Gateway: "", Nonces: []uint64{1}, Vals: [][]byte{{1}}}},
		{"gateway with _", BatchFrame{Gateway: "a_b", Nonces: []uint64{1}, Vals: [][]byte{{1}}}},
	}
	if _, err := DecodeBatchFrame(ok.Marshal()); err != nil {
		t.Fatalf("the good frame: %v", err)
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := DecodeBatchFrame(tt.f.Marshal()); !errors.Is(err, ErrMalformed) {
				t.Fatalf("err = %v, want ErrMalformed", err)
			}
		})
	}
	b := ok.Marshal()
	for n := range len(b) {
		if _, err := DecodeBatchFrame(b[:n]); err == nil {
			t.Fatalf("a prefix of %d bytes decodes", n)
		}
	}
	if _, err := DecodeBatchFrame(append(b, 0)); err == nil {
		t.Fatal("trailing byte accepted")
	}
}

// TestSignedFirstMessageBatch: S2 with "batch" (docs/PROTOCOL.md §13.1) is the seed's S2 with the
// map head 3 and the key appended; without it the bytes are the seed's.
func TestSignedFirstMessageBatch(t *testing.T) {
	key := ed25519.NewKeyFromSeed(unhex(t, rfc8032Seed1))
	m := FirstMessage{CanisterID: seedCanister, ClientID: 16}
	plain := SignFirstMessage(key, m)
	if hex.EncodeToString(plain) != goldenS2 {
		t.Fatalf("S2 without batch changed: %x", plain)
	}
	batched := SignFirstMessageBatched(key, m, BatchFrames)
	want := "d9d9f7a3" + goldenS2[8:] + "65" + "6261746368" + "01"
	if got := hex.EncodeToString(batched); got != want {
		t.Fatalf("S2 with batch = %s\nwant %s", got, want)
	}
	s2, err := DecodeSignedFirstMessage(batched)
	if err != nil || s2.Batch != BatchFrames || hex.EncodeToString(s2.FirstMessage) != goldenS1 {
		t.Fatalf("decoded %+v, %v", s2, err)
	}
	if s2, err := DecodeSignedFirstMessage(plain); err != nil || s2.Batch != 0 {
		t.Fatalf("seed S2 decoded %+v, %v", s2, err)
	}
	// "batch" must be a uint.
	bad := append(unhex(t, "d9d9f7a3"+goldenS2[8:]), 0x65, 'b', 'a', 't', 'c', 'h', 0x61, 'x')
	if _, err := DecodeSignedFirstMessage(bad); err == nil {
		t.Fatal("a text batch value decodes")
	}
}

func TestSizedPollCost(t *testing.T) {
	if got := SizedPollCost(84, 130); got != 130+168+SizedPollOverhead {
		t.Fatalf("SizedPollCost = %d", got)
	}
	if PollBytes >= 2<<20 {
		t.Fatalf("PollBytes %d leaves no headroom under 2 MiB", PollBytes)
	}
}

func FuzzDecodeBatchFrame(f *testing.F) {
	addSeeds(f, goldenS9)
	f.Add(unhex(f, "a567676174657761796167"))
	f.Fuzz(func(t *testing.T, b []byte) {
		fr, err := DecodeBatchFrame(b)
		if err != nil {
			return
		}
		if len(fr.Nonces) != len(fr.Vals) || len(fr.Vals) == 0 {
			t.Fatalf("decoded %d nonces, %d vals", len(fr.Nonces), len(fr.Vals))
		}
		got, err := DecodeBatchFrame(fr.Marshal())
		if err != nil || got.Gateway != fr.Gateway || !slices.Equal(got.Nonces, fr.Nonces) || len(got.Vals) != len(fr.Vals) ||
			!bytes.Equal(got.Cert, fr.Cert) || !bytes.Equal(got.Tree, fr.Tree) {
			t.Fatalf("re-encoding of %+v gave %+v, %v", fr, got, err)
		}
		for i := range fr.Vals {
			if !bytes.Equal(got.Vals[i], fr.Vals[i]) {
				t.Fatalf("val %d changed", i)
			}
		}
	})
}

// TestAppendBatchFrame: the frame built from functions is BatchFrame.AppendCBOR's, byte for byte,
// for frames of one to many messages and witnesses of every head size.
func TestAppendBatchFrame(t *testing.T) {
	for _, tc := range []struct{ n, tree int }{{1, 0}, {1, 20}, {3, 300}, {30, 70000}, {300, 1000}} {
		f := BatchFrame{Gateway: "2vxsx-fae", Cert: bytes.Repeat([]byte{'c'}, 100), Tree: bytes.Repeat([]byte{'t'}, tc.tree)}
		for i := range tc.n {
			f.Nonces = append(f.Nonces, uint64(i*i*1000+i))
			f.Vals = append(f.Vals, bytes.Repeat([]byte{byte(i)}, i%40))
		}
		got := AppendBatchFrame([]byte("x"), f.Gateway, tc.n,
			func(i int) uint64 { return f.Nonces[i] },
			func(i int) []byte { return f.Vals[i] },
			f.Cert,
			func(dst []byte) []byte { return append(dst, f.Tree...) })
		if want := f.AppendCBOR([]byte("x")); !bytes.Equal(got, want) {
			t.Errorf("%d messages, %d-byte tree: AppendBatchFrame differs from AppendCBOR", tc.n, tc.tree)
		}
	}
}
