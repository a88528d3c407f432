package gateway

import (
	"bytes"
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/icws/icws/ic/hashtree"
	"github.com/icws/icws/protocol"
)

// The S9 and pruned-S6 frames were first built by pruning the witness to a hashtree.Node tree
// and encoding that (refPrune, refBatchFrame, kept here as the reference): the one-pass encoder
// (wnode.appendPruned) must give the same bytes.

// refWnode is the index the reference prunes: the first wnode, which kept every decoded node.
type refWnode struct {
	n      hashtree.Node
	digest [32]byte
	hi     []byte
	left   *refWnode // Fork
	right  *refWnode // Fork
	label  []byte    // Labeled
	sub    *refWnode // Labeled
}

func newRefWnode(n hashtree.Node) *refWnode {
	w := &refWnode{n: n}
	switch v := n.(type) {
	case hashtree.Fork:
		w.left, w.right = newRefWnode(v.Left), newRefWnode(v.Right)
		w.digest = hashtree.ForkHash(w.left.digest, w.right.digest)
		w.hi = w.right.hi
		if w.hi == nil {
			w.hi = w.left.hi
		}
	case hashtree.Labeled:
		w.label, w.sub = v.Label, newRefWnode(v.Tree)
		w.digest = hashtree.LabeledHash(v.Label, w.sub.digest)
		w.hi = v.Label
	default:
		w.digest = hashtree.Digest(n)
	}
	return w
}

// refPrune returns the witness of w that reveals, at this level, the Labeled nodes whose labels
// are in want (sorted), each with the subtree below returns for it; everything else is Pruned as
// high up as possible.
func refPrune(w *refWnode, want [][]byte, below func(*refWnode) hashtree.Node) hashtree.Node {
	if len(want) == 0 {
		if _, empty := w.n.(hashtree.Empty); empty {
			return w.n
		}
		return hashtree.Pruned(w.digest)
	}
	switch {
	case w.left != nil:
		i := 0
		if w.left.hi != nil {
			i, _ = slices.BinarySearchFunc(want, w.left.hi, bytes.Compare)
			if i < len(want) && bytes.Equal(want[i], w.left.hi) {
				i++
			}
		}
		return hashtree.Fork{Left: refPrune(w.left, want[:i], below), Right: refPrune(w.right, want[i:], below)}
	case w.sub != nil:
		if _, ok := slices.BinarySearchFunc(want, w.label, bytes.Compare); ok {
			return hashtree.Labeled{Label: w.label, Tree: below(w.sub)}
		}
		return hashtree.Pruned(w.digest)
	}
	return w.n
}

func refWhole(w *refWnode) hashtree.Node { return w.n }

// refIndex is the reference's index of b's witness.
func refIndex(tb testing.TB, b *batch) *refWnode {
	n, err := hashtree.Unmarshal(b.certTree)
	if err != nil {
		tb.Fatal(err)
	}
	return newRefWnode(n)
}

// refTree is the reference of batchIndex.appendTree for the witness indexed by ref.
func refTree(ref *refWnode, keys [][]byte) []byte {
	t := refPrune(ref, [][]byte{[]byte("websocket")}, func(ws *refWnode) hashtree.Node {
		return refPrune(ws, keys, refWhole)
	})
	return hashtree.AppendCBOR([]byte("\xd9\xd9\xf7"), t)
}

// refBatchFrame is the reference of batch.appendBatchFrame.
func refBatchFrame(b *batch, ref *refWnode, gateway string, idx []int32) []byte {
	x, err := b.index()
	if err != nil {
		panic(err)
	}
	keys := make([][]byte, len(idx))
	for j, i := range idx {
		keys[j] = []byte(b.msgs[i].Key)
	}
	slices.SortFunc(keys, bytes.Compare)
	f := protocol.BatchFrame{Gateway: gateway, Nonces: make([]uint64, len(idx)), Vals: make([][]byte, len(idx)), Cert: b.cert, Tree: refTree(ref, keys)}
	for j, i := range idx {
		f.Nonces[j] = x.nonces[i]
		f.Vals[j] = b.msgs[i].Val
	}
	return f.AppendCBOR(nil)
}

// TestBatchFrameOnePass: for batches of many sizes and clients and random sets of a batch's
// messages, the one-pass S9 and pruned S6 frames are the reference's bytes.
func TestBatchFrameOnePass(t *testing.T) {
	for _, tc := range []struct{ n, clients int }{{1, 1}, {5, 2}, {50, 50}, {300, 17}, {2000, 1000}, {5000, 5000}} {
		t.Run(fmt.Sprintf("%d messages for %d clients", tc.n, tc.clients), func(t *testing.T) {
			b, _ := fanoutBatch(t, tc.n, tc.clients)
			ref := refIndex(t, b)
			r := rand.New(rand.NewPCG(uint64(tc.n), uint64(tc.clients)))
			for trial := range 200 {
				var idx []int32
				switch trial % 3 {
				case 0: // one client's messages
					for i := trial % tc.clients; i < tc.n; i += tc.clients {
						idx = append(idx, int32(i))
					}
				case 1: // a random subset
					for i := range tc.n {
						if r.IntN(tc.n) < 3 {
							idx = append(idx, int32(i))
						}
					}
				default: // one message
					idx = []int32{int32(r.IntN(tc.n))}
				}
				if len(idx) == 0 {
					idx = []int32{int32(tc.n - 1)}
				}
				got, err := b.appendBatchFrame([]byte("prefix"), testGatewayText, idx)
				if err != nil {
					t.Fatal(err)
				}
				if want := append([]byte("prefix"), refBatchFrame(b, ref, testGatewayText, idx)...); !bytes.Equal(got, want) {
					t.Fatalf("messages %v: the one-pass S9 (%d bytes) differs from the reference (%d bytes)", idx, len(got), len(want))
				}
				i := int(idx[0])
				var buf bytes.Buffer
				if _, err := b.writePrunedS6(&buf, nil, i); err != nil {
					t.Fatal(err)
				}
				m := protocol.CertMessage{Key: b.msgs[i].Key, Val: b.msgs[i].Val, Cert: b.cert, Tree: refTree(ref, [][]byte{[]byte(b.msgs[i].Key)})}
				if want := m.AppendCBOR(nil); !bytes.Equal(buf.Bytes(), want) {
					t.Fatalf("message %d: the one-pass pruned S6 differs from the reference", i)
				}
			}
		})
	}
}

// randTree returns a random tree of up to about size nodes with labels from a small alphabet,
// sorted or not, and every node type in every position.
func randTree(r *rand.Rand, size int, depth int) hashtree.Node {
	if size <= 1 || depth > 12 {
		switch r.IntN(4) {
		case 0:
			return hashtree.Empty{}
		case 1:
			return hashtree.Leaf(fmt.Appendf(nil, "v%d", r.IntN(100)))
		case 2:
			var p hashtree.Pruned
			p[0] = byte(r.IntN(256))
			return p
		}
		return hashtree.Labeled{Label: randLabel(r), Tree: hashtree.Leaf("x")}
	}
	if r.IntN(3) == 0 {
		return hashtree.Labeled{Label: randLabel(r), Tree: randTree(r, size-1, depth+1)}
	}
	k := 1 + r.IntN(size-1)
	return hashtree.Fork{Left: randTree(r, k, depth+1), Right: randTree(r, size-k, depth+1)}
}

func randLabel(r *rand.Rand) []byte {
	const alphabet = "abcde"
	l := make([]byte, r.IntN(3))
	for i := range l {
		l[i] = alphabet[r.IntN(len(alphabet))]
	}
	return l
}

// randWant returns a sorted set of random labels (as strings and as byte slices).
func randWant(r *rand.Rand) ([]string, [][]byte) {
	var s []string
	for range r.IntN(6) {
		s = append(s, string(randLabel(r)))
	}
	slices.Sort(s)
	s = slices.Compact(s)
	b := make([][]byte, len(s))
	for i := range s {
		b[i] = []byte(s[i])
	}
	return s, b
}

// checkOnePass compares appendPruned on n's index with the reference for the label sets given,
// at both levels, and returns a description of the first difference.
func checkOnePass(n hashtree.Node, want, below []string, wantB, belowB [][]byte) string {
	w, r := newWnode(n), newRefWnode(n)
	if w.digest != r.digest {
		return fmt.Sprintf("digest %x, reference %x", w.digest, r.digest)
	}
	got := w.appendPruned(nil, want, below, 1)
	ref := hashtree.AppendCBOR(nil, refPrune(r, wantB, func(s *refWnode) hashtree.Node { return refPrune(s, belowB, refWhole) }))
	if !bytes.Equal(got, ref) {
		return fmt.Sprintf("level 1, want %q below %q: %x, reference %x", want, below, got, ref)
	}
	got = w.appendPruned(nil, want, nil, 0)
	ref = hashtree.AppendCBOR(nil, refPrune(r, wantB, refWhole))
	if !bytes.Equal(got, ref) {
		return fmt.Sprintf("level 0, want %q: %x, reference %x", want, got, ref)
	}
	if d, _ := hashtree.Unmarshal(got); d == nil || hashtree.Digest(d) != w.digest {
		return fmt.Sprintf("level 0, want %q: the witness does not decode to the tree's digest", want)
	}
	if whole := w.appendWhole(nil); !bytes.Equal(whole, hashtree.AppendCBOR(nil, n)) {
		return fmt.Sprintf("appendWhole %x, AppendCBOR %x", whole, hashtree.AppendCBOR(nil, n))
	}
	return ""
}

// TestPruneOnePassRandomTrees: on random trees, malformed ones included (unsorted labels, leaves
// and pruned nodes anywhere), and random label sets, the one-pass encoder gives the reference's
// bytes.
func TestPruneOnePassRandomTrees(t *testing.T) {
	for seed := range uint64(40) {
		r := rand.New(rand.NewPCG(seed, 15))
		n := randTree(r, 1+r.IntN(60), 0)
		for range 50 {
			want, wantB := randWant(r)
			below, belowB := randWant(r)
			if d := checkOnePass(n, want, below, wantB, belowB); d != "" {
				t.Fatalf("seed %d: %s", seed, d)
			}
		}
	}
}

// FuzzPrunedWitness decodes arbitrary bytes as a witness (outside bytes: a poll's tree) and
// prunes what decodes to arbitrary label sets: never a panic, and always the reference's bytes.
func FuzzPrunedWitness(f *testing.F) {
	r := rand.New(rand.NewPCG(1, 2))
	for range 8 {
		f.Add(hashtree.AppendCBOR(nil, randTree(r, 20, 0)), "a,b,cd", "b,e")
	}
	b, _ := fanoutBatch(f, 20, 3)
	f.Add(b.certTree, "websocket", b.msgs[3].Key)
	f.Add([]byte{0x83, 0x01, 0x81, 0x00}, "", "")
	f.Fuzz(func(t *testing.T, tree []byte, want, below string) {
		n, err := hashtree.Unmarshal(tree)
		if err != nil {
			return
		}
		split := func(s string) ([]string, [][]byte) {
			var ss []string
			if s != "" {
				ss = strings.Split(s, ",")
			}
			slices.Sort(ss)
			ss = slices.Compact(ss)
			bs := make([][]byte, len(ss))
			for i := range ss {
				bs[i] = []byte(ss[i])
			}
			return ss, bs
		}
		ws, wb := split(want)
		bs, bb := split(below)
		if d := checkOnePass(n, ws, bs, wb, bb); d != "" {
			t.Fatal(d)
		}
	})
}

// BenchmarkPruneOnePass builds every client's S9 frame of one poll batch with the reference
// (prune to a tree, then encode) and with the one-pass encoder, alternately in the same run, and
// reports the ns per frame of each and their ratio (one-pass ÷ reference). The batch index is
// built before the loop: only the per-client work is measured.
//
//	go test -run '^$' -bench BenchmarkPruneOnePass -benchtime 20x ./gateway/
func BenchmarkPruneOnePass(b *testing.B) {
	for _, tc := range []struct{ n, clients int }{{2000, 1000}, {5000, 5000}} {
		b.Run(fmt.Sprintf("%d-messages-%d-clients", tc.n, tc.clients), func(b *testing.B) {
			bt, _ := fanoutBatch(b, tc.n, tc.clients)
			if _, err := bt.index(); err != nil {
				b.Fatal(err)
			}
			ref := refIndex(b, bt)
			idx := make([][]int32, tc.clients)
			for i := range tc.n {
				idx[i%tc.clients] = append(idx[i%tc.clients], int32(i))
			}
			var out []byte
			var tref, one time.Duration
			for b.Loop() {
				start := time.Now()
				for c := range tc.clients {
					out = refBatchFrame(bt, ref, testGatewayText, idx[c])
				}
				mid := time.Now()
				for c := range tc.clients {
					out, _ = bt.appendBatchFrame(out[:0], testGatewayText, idx[c])
				}
				tref, one = tref+mid.Sub(start), one+time.Since(mid)
			}
			frames := float64(b.N * tc.clients)
			b.ReportMetric(float64(tref.Nanoseconds())/frames, "ns/frame-ref")
			b.ReportMetric(float64(one.Nanoseconds())/frames, "ns/frame-onepass")
			b.ReportMetric(float64(one)/float64(tref), "onepass/ref")
		})
	}
}

// TestBatchFrameAllocs: with the index built and room in dst, a client's S9 frame of up to 8
// messages and a pruned S6 frame allocate nothing.
func TestBatchFrameAllocs(t *testing.T) {
	b, _ := fanoutBatch(t, 2000, 1000)
	if _, err := b.index(); err != nil {
		t.Fatal(err)
	}
	dst := make([]byte, 0, 64<<10)
	idx := []int32{3, 1003}
	if a := testing.AllocsPerRun(100, func() { dst, _ = b.appendBatchFrame(dst[:0], testGatewayText, idx) }); a != 0 {
		t.Errorf("an S9 frame allocates %.1f times, want 0", a)
	}
	var buf bytes.Buffer
	buf.Grow(64 << 10)
	if a := testing.AllocsPerRun(100, func() { buf.Reset(); dst, _ = b.writePrunedS6(&buf, dst, 7) }); a != 0 {
		t.Errorf("a pruned S6 frame allocates %.1f times, want 0", a)
	}
}

// TestClientGroups: each client's messages come out in batch order, clients in the order they
// first appear, for patterns of one, many and interleaved clients.
func TestClientGroups(t *testing.T) {
	conns := make([]*conn, 5)
	for i := range conns {
		conns[i] = new(conn)
	}
	for _, tc := range []struct {
		name    string
		clients []int // the client of each grouped message, by index in conns
	}{
		{"one message", []int{3}},
		{"one client", []int{2, 2, 2}},
		{"round robin", []int{0, 1, 2, 3, 4, 0, 1, 2, 3, 4}},
		{"runs", []int{4, 4, 1, 1, 1, 0, 4}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			g := newClientGroups(len(tc.clients))
			var order []*conn
			want := map[*conn][]int32{}
			for i, ci := range tc.clients {
				c := conns[ci]
				g.add(c, 10+2*i) // message numbers with gaps, as when other messages go to S6 clients
				if want[c] == nil {
					order = append(order, c)
				}
				want[c] = append(want[c], int32(10+2*i))
			}
			idx := g.idx()
			if !slices.Equal(g.conns, order) || len(idx) != len(order) {
				t.Fatalf("%d groups for clients %v, want %d", len(idx), tc.clients, len(order))
			}
			for j, c := range order {
				if !slices.Equal(idx[j], want[c]) {
					t.Errorf("group %d: %v, want %v", j, idx[j], want[c])
				}
				if cap(idx[j]) != len(idx[j]) {
					t.Errorf("group %d: capacity %d beyond its %d messages", j, cap(idx[j]), len(idx[j]))
				}
			}
		})
	}
}
