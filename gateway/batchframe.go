package gateway

import (
	"bytes"
	"fmt"
	"io"
	"slices"
	"sync"

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
type wnode struct {
	n      hashtree.Node
	digest [32]byte
	hi     []byte
	left   *wnode // Fork
	right  *wnode // Fork
	label  []byte // Labeled
	sub    *wnode // Labeled
}

// newWnode annotates n.
func newWnode(n hashtree.Node) *wnode {
	w := &wnode{n: n}
	switch v := n.(type) {
	case hashtree.Fork:
		w.left, w.right = newWnode(v.Left), newWnode(v.Right)
		w.digest = hashtree.ForkHash(w.left.digest, w.right.digest)
		w.hi = w.right.hi
		if w.hi == nil {
			w.hi = w.left.hi
		}
	case hashtree.Labeled:
		w.label, w.sub = v.Label, newWnode(v.Tree)
		w.digest = hashtree.LabeledHash(v.Label, w.sub.digest)
		w.hi = v.Label
	default:
		w.digest = hashtree.Digest(n)
	}
	return w
}

// prune returns the witness of w that reveals, at this level, the Labeled nodes whose labels are
// in want (sorted), each with the subtree below returns for it; everything else is Pruned as high
// up as possible. Its digest is w's.
func (w *wnode) prune(want [][]byte, below func(*wnode) hashtree.Node) hashtree.Node {
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
		return hashtree.Fork{Left: w.left.prune(want[:i], below), Right: w.right.prune(want[i:], below)}
	case w.sub != nil:
		if _, ok := slices.BinarySearchFunc(want, w.label, bytes.Compare); ok {
			return hashtree.Labeled{Label: w.label, Tree: below(w.sub)}
		}
		return hashtree.Pruned(w.digest)
	}
	return w.n
}

// whole is a prune callback that reveals a subtree completely.
func whole(w *wnode) hashtree.Node { return w.n }

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
		var n hashtree.Node
		if n, x.err = hashtree.Unmarshal(b.certTree); x.err != nil {
			x.err = fmt.Errorf("gateway: the batch's witness does not decode: %w", x.err)
			return
		}
		x.root = newWnode(n)
	})
	return x, x.err
}

// prunedTree returns the tagged witness of b's tree pruned to the keys of messages idx.
func (b *batch) prunedTree(x *batchIndex, idx []int32, dst []byte) []byte {
	keys := make([][]byte, len(idx))
	for j, i := range idx {
		keys[j] = []byte(b.msgs[i].Key)
	}
	slices.SortFunc(keys, bytes.Compare) // already in key order; sorting keeps prune's contract
	t := x.root.prune([][]byte{[]byte("websocket")}, func(ws *wnode) hashtree.Node {
		return ws.prune(keys, whole)
	})
	dst = append(dst, "\xd9\xd9\xf7"...)
	return hashtree.AppendCBOR(dst, t)
}

// appendBatchFrame appends the S9 frame of messages idx of b, for the gateway whose principal
// text is gateway, to dst.
func (b *batch) appendBatchFrame(dst []byte, gateway string, idx []int32) ([]byte, error) {
	x, err := b.index()
	if err != nil {
		return dst, err
	}
	f := protocol.BatchFrame{
		Gateway: gateway,
		Nonces:  make([]uint64, len(idx)),
		Vals:    make([][]byte, len(idx)),
		Cert:    b.cert,
		Tree:    b.prunedTree(x, idx, nil),
	}
	for j, i := range idx {
		f.Nonces[j] = x.nonces[i]
		f.Vals[j] = b.msgs[i].Val
	}
	return f.AppendCBOR(dst), nil
}

// prunedS6From is the batch size above which S6 frames carry a witness pruned to their key
// instead of the batch's whole witness: a sized poll's witness (thousands of keys) is far too
// large to send with every message; a seed-sized batch's is sent whole, as the seed does.
const prunedS6From = 50

// writePrunedS6 writes the S6 frame of message i of b with the batch's witness pruned to its key.
func (b *batch) writePrunedS6(w io.Writer, scratch []byte, i int) ([]byte, error) {
	x, err := b.index()
	if err != nil {
		return scratch, err
	}
	m := &b.msgs[i]
	tree := b.prunedTree(x, []int32{int32(i)}, nil)
	f := protocol.CertMessage{Key: m.Key, Val: m.Val, Cert: b.cert, Tree: tree}
	scratch = f.AppendCBOR(scratch[:0])
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
