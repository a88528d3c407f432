package gateway

import (
	"fmt"
	"io"
	"slices"
	"sync"

	"github.com/icws/icws/ic/cbor"
	"github.com/icws/icws/ic/hashtree"
	"github.com/icws/icws/protocol"
)

// Batched frames (docs/PROTOCOL.md §13): a client that opted in at open (S2's "batch") gets one
// S9 frame per poll batch carrying all its messages of the batch, the certificate once and the
// batch's witness pruned to its own keys. The poller groups a batch's messages by client (route);
// each client's writer builds its frame, so the pruning and encoding run in parallel across
// connections. The batch's witness is decoded and hashed once, on the first S9 built from it.

// batchIndex is what the writers of a batch's S9 frames share, built once per batch.
type batchIndex struct {
	once   sync.Once
	nonces []uint64 // the key nonce of each message
	root   *wnode   // the witness with every subtree's digest
	err    error
}

// wnode is one node of a decoded witness with its digest and, for the forest it roots, its
// greatest label (nil if it has none): enough to prune it to any set of labels without hashing.
// It keeps no hashtree.Node (the decoded tree is garbage once the index is built) and aliases the
// batch's witness bytes: a sized poll's index has a wnode per node of a witness of thousands of
// keys, and it lives as long as the batch waits for its writers.
type wnode struct {
	digest [32]byte // for a Pruned node, its hash
	hi     []byte   // the greatest label; for a Labeled node, its label
	left   *wnode   // Fork
	right  *wnode   // Fork
	sub    *wnode   // Labeled
	val    []byte   // Leaf
	kind   wkind
}

// wkind is a wnode's node type.
type wkind uint8

const (
	wEmpty wkind = iota
	wFork
	wLabeled
	wLeaf
	wPruned
)

// newWnode annotates n.
func newWnode(n hashtree.Node) *wnode {
	w := new(wnode)
	switch v := n.(type) {
	case hashtree.Fork:
		w.kind = wFork
		w.left, w.right = newWnode(v.Left), newWnode(v.Right)
		w.digest = hashtree.ForkHash(w.left.digest, w.right.digest)
		w.hi = w.right.hi
		if w.hi == nil {
			w.hi = w.left.hi
		}
	case hashtree.Labeled:
		w.kind = wLabeled
		w.hi, w.sub = v.Label, newWnode(v.Tree)
		w.digest = hashtree.LabeledHash(v.Label, w.sub.digest)
	case hashtree.Leaf:
		w.kind, w.val = wLeaf, v
		w.digest = hashtree.LeafHash(v)
	case hashtree.Pruned:
		w.kind, w.digest = wPruned, v
	default: // Empty (Unmarshal returns nothing else)
		w.digest = hashtree.Digest(n)
	}
	return w
}

// appendWhole appends the CBOR of the subtree w, as hashtree.AppendCBOR of the decoded node.
func (w *wnode) appendWhole(dst []byte) []byte {
	switch w.kind {
	case wFork:
		return w.right.appendWhole(w.left.appendWhole(append(dst, 0x83, 1)))
	case wLabeled:
		return w.sub.appendWhole(cbor.AppendBytes(append(dst, 0x83, 2), w.hi))
	case wLeaf:
		return cbor.AppendBytes(append(dst, 0x82, 3), w.val)
	case wPruned:
		return append(append(dst, 0x82, 4, 0x58, 32), w.digest[:]...)
	}
	return append(dst, 0x81, 0)
}

// appendPruned appends the CBOR of w's witness that reveals, at this level, the Labeled nodes
// whose labels are in want (sorted, bytewise), everything else Pruned as high up as possible (an
// Empty stays Empty): straight into dst, in one walk, without building a tree, since every
// subtree's digest is known. Below a revealed label it goes on with below (sorted) if level is 1,
// and reveals the subtree whole if level is 0. The result's digest is w's.
//
// The walk is a loop over an explicit stack of the subtrees still to write, not a recursion: a
// writer goroutine starts with a small stack, and growing it through a dozen recursive frames per
// frame built cost more than the pruning (copystack was a fifth of the gateway's CPU at 10,000
// clients).
func (w *wnode) appendPruned(dst []byte, want, below []string, level int) []byte {
	sets := [2][]string{below, want} // the labels of each level
	if level == 0 {
		sets[0] = want
	}
	var buf [32]pruneStep // deeper trees (a witness may nest MaxDepth levels) spill to the heap
	stack := append(buf[:0], pruneStep{w: w, hi: int32(len(want)), level: int32(level & 1)})
	for len(stack) > 0 {
		s := stack[len(stack)-1]
		stack = stack[:len(stack)-1]
		w, want := s.w, sets[s.level][s.lo:s.hi]
		switch {
		case len(want) == 0 && w.kind == wEmpty:
			dst = append(dst, 0x81, 0)
		case len(want) == 0:
			dst = append(append(dst, 0x82, 4, 0x58, 32), w.digest[:]...)
		case w.kind == wFork:
			i := s.lo
			if w.left.hi != nil {
				i += int32(countAtMost(want, w.left.hi))
			}
			dst = append(dst, 0x83, 1)
			stack = append(stack, pruneStep{w: w.right, lo: i, hi: s.hi, level: s.level}, pruneStep{w: w.left, lo: s.lo, hi: i, level: s.level})
		case w.kind == wLabeled && !contains(want, w.hi):
			dst = append(append(dst, 0x82, 4, 0x58, 32), w.digest[:]...)
		case w.kind == wLabeled:
			dst = cbor.AppendBytes(append(dst, 0x83, 2), w.hi)
			if s.level == 0 {
				dst = w.sub.appendWhole(dst)
			} else {
				stack = append(stack, pruneStep{w: w.sub, hi: int32(len(below)), level: 0})
			}
		default: // a Leaf, Pruned or Empty node where labels are sought: kept as it is
			dst = w.appendWhole(dst)
		}
	}
	return dst
}

// pruneStep is a subtree appendPruned has still to write: w pruned to the labels lo to hi of its
// level's set.
type pruneStep struct {
	w             *wnode
	lo, hi, level int32
}

// countAtMost returns how many of want (sorted) are at most label, bytewise.
func countAtMost(want []string, label []byte) int {
	lo, hi := 0, len(want)
	for lo < hi {
		m := int(uint(lo+hi) >> 1)
		if want[m] <= string(label) {
			lo = m + 1
		} else {
			hi = m
		}
	}
	return lo
}

// contains reports whether want (sorted) holds label.
func contains(want []string, label []byte) bool {
	i := countAtMost(want, label)
	return i > 0 && want[i-1] == string(label)
}

// index returns b's shared S9 index, building it on first use.
func (b *batch) index() (*batchIndex, error) {
	x := b.bidx
	if x == nil {
		return nil, fmt.Errorf("gateway: batch of %d messages has no S9 index", len(b.msgs))
	}
	x.once.Do(func() {
		x.nonces = make([]uint64, len(b.msgs))
		for i := range b.msgs {
			if _, x.nonces[i], x.err = protocol.ParseKey(b.msgs[i].Key); x.err != nil {
				return
			}
		}
		// The tree aliases b.certTree, which nothing modifies, rather than a copy of it.
		n, size, err := hashtree.UnmarshalPrefix(b.certTree)
		if err == nil && size != len(b.certTree) {
			err = fmt.Errorf("%w: %d trailing bytes after the tree", hashtree.ErrMalformed, len(b.certTree)-size)
		}
		if err != nil {
			x.err = fmt.Errorf("gateway: the batch's witness does not decode: %w", err)
			return
		}
		x.root = newWnode(n)
	})
	return x, x.err
}

// appendTree appends the tagged witness of b's tree pruned to keys (sorted) to dst.
func (x *batchIndex) appendTree(dst []byte, keys []string) []byte {
	top := [1]string{"websocket"}
	return x.root.appendPruned(append(dst, "\xd9\xd9\xf7"...), top[:], keys, 1)
}

// keysOf appends the keys of messages idx of b to dst, sorted (a batch's keys are in nonce order,
// which is key order; they are sorted only if not).
func (b *batch) keysOf(dst []string, idx []int32) []string {
	for _, i := range idx {
		dst = append(dst, b.msgs[i].Key)
	}
	if !slices.IsSorted(dst) {
		slices.Sort(dst)
	}
	return dst
}

// appendBatchFrame appends the S9 frame of messages idx of b, for the gateway whose principal
// text is gateway, to dst: in one pass, the witness pruned and encoded in place, nothing
// allocated for a frame of up to 8 messages beyond dst's growth.
func (b *batch) appendBatchFrame(dst []byte, gateway string, idx []int32) ([]byte, error) {
	x, err := b.index()
	if err != nil {
		return dst, err
	}
	var kbuf [8]string
	keys := b.keysOf(kbuf[:0], idx)
	return protocol.AppendBatchFrame(dst, gateway, len(idx),
		func(j int) uint64 { return x.nonces[idx[j]] },
		func(j int) []byte { return b.msgs[idx[j]].Val },
		b.cert,
		func(dst []byte) []byte { return x.appendTree(dst, keys) }), nil
}

// prunedS6From is the batch size above which S6 frames carry a witness pruned to their key
// instead of the batch's whole witness: a sized poll's witness (thousands of keys) is far too
// large to send with every message; a seed-sized batch's is sent whole, as the seed does.
const prunedS6From = 50

// prunesS6 reports whether b's S6 frames carry a witness pruned to their key (writePrunedS6)
// rather than the batch's tail.
func (b *batch) prunesS6() bool { return b.bidx != nil && len(b.msgs) > prunedS6From }

// writePrunedS6 writes the S6 frame of message i of b with the batch's witness pruned to its key.
func (b *batch) writePrunedS6(w io.Writer, scratch []byte, i int) ([]byte, error) {
	x, err := b.index()
	if err != nil {
		return scratch, err
	}
	m := &b.msgs[i]
	keys := [1]string{m.Key}
	scratch = protocol.AppendCertHead(scratch[:0], m.Key, len(m.Val))
	scratch = append(scratch, m.Val...)
	scratch = protocol.AppendCertTailFunc(scratch, b.cert, func(dst []byte) []byte { return x.appendTree(dst, keys[:]) })
	_, err = w.Write(scratch)
	return scratch, err
}

// writeBatchFrame writes f's S9 frame to w, built in scratch, and returns scratch and the frame's
// length.
func (c *conn) writeBatchFrame(w io.Writer, scratch []byte, f outFrame) ([]byte, int, error) {
	frame, err := f.b.appendBatchFrame(scratch[:0], c.g.principalText, f.idx)
	if err != nil {
		return scratch, 0, err
	}
	_, err = w.Write(frame)
	return frame, len(frame), err
}
