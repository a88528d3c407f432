package replica

import (
	"bytes"

	"github.com/icws/icws/ic/hashtree"
	"github.com/icws/icws/ic/leb128"
	"github.com/icws/icws/ic/requestid"
)

// statusTree holds the /request_status subtree: one labeled subtree per request id, arranged as a
// crit-bit tree (a binary trie on the id's bits with one fork per branching bit). Request ids are
// hashes, so the trie is balanced; inserting or deleting an id rehashes only the forks on its
// path, so a round costs O(changes · log n) hashes however many statuses are kept. In-order, the
// trie's leaves are sorted by id, which makes it a well-formed hash-tree forest.
//
// statusTree is not safe for concurrent use. Readers (witness) only read digests that the last
// digest() call left clean, so they may run concurrently with each other once digest() returned.
type statusTree struct {
	root *stNode
	n    int
}

// stNode is a fork (bit >= 0) or a leaf (bit < 0).
type stNode struct {
	bit   int // critical bit, 0 = most significant bit of the first byte; -1 for leaves
	child [2]*stNode
	leaf  *statusEntry

	hash  [32]byte // digest of this subtree; valid unless dirty
	dirty bool
}

// statusEntry is one request's certified status.
type statusEntry struct {
	id         requestid.ID
	tree       hashtree.Node // the forest below /request_status/<id>
	treeDigest [32]byte      // digest of tree
	digest     [32]byte      // digest of Labeled(id, tree)
}

func newStatusEntry(id requestid.ID, tree hashtree.Node) *statusEntry {
	td := hashtree.Digest(tree)
	return &statusEntry{id: id, tree: tree, treeDigest: td, digest: hashtree.LabeledHash(id[:], td)}
}

// statusForest returns the forest of a request status (labels in increasing order).
func statusForest(status string, o *outcome) hashtree.Node {
	lab := func(l string, v []byte) hashtree.Node {
		return hashtree.Labeled{Label: []byte(l), Tree: hashtree.Leaf(v)}
	}
	switch status {
	case statusReplied:
		return hashtree.Fork{Left: lab("reply", o.reply), Right: lab("status", []byte(statusReplied))}
	case statusRejected:
		nodes := make([]hashtree.Node, 0, 4)
		if o.errorCode != "" {
			nodes = append(nodes, lab("error_code", []byte(o.errorCode)))
		}
		nodes = append(nodes,
			lab("reject_code", leb128.AppendUint(nil, uint64(o.rejectCode))),
			lab("reject_message", []byte(o.rejectMsg)),
			lab("status", []byte(statusRejected)))
		return hashtree.Balanced(nodes)
	default:
		return lab("status", []byte(status))
	}
}

// Request statuses (interface spec, "Request status").
const (
	statusReceived   = "received"
	statusProcessing = "processing"
	statusReplied    = "replied"
	statusRejected   = "rejected"
)

func bitOf(id *requestid.ID, bit int) int {
	return int(id[bit>>3]>>(7-uint(bit&7))) & 1
}

// critBit returns the first bit where a and b differ, or -1 if they are equal.
func critBit(a, b *requestid.ID) int {
	for i := range a {
		if x := a[i] ^ b[i]; x != 0 {
			k := 0
			for x&0x80 == 0 {
				x <<= 1
				k++
			}
			return i*8 + k
		}
	}
	return -1
}

// len returns the number of statuses.
func (t *statusTree) len() int { return t.n }

// get returns the entry of id, or nil.
func (t *statusTree) get(id requestid.ID) *statusEntry {
	n := t.root
	if n == nil {
		return nil
	}
	for n.bit >= 0 {
		n = n.child[bitOf(&id, n.bit)]
	}
	if n.leaf.id == id {
		return n.leaf
	}
	return nil
}

// put inserts e, replacing the entry with the same id.
func (t *statusTree) put(e *statusEntry) {
	leaf := &stNode{bit: -1, leaf: e, hash: e.digest}
	if t.root == nil {
		t.root, t.n = leaf, 1
		return
	}
	// Find the closest leaf, then the first bit where it differs from the new id.
	n := t.root
	for n.bit >= 0 {
		n = n.child[bitOf(&e.id, n.bit)]
	}
	cb := critBit(&e.id, &n.leaf.id)
	replace := cb < 0
	if replace {
		cb = 8 * requestid.Size // walk down to the leaf itself
	}
	// Walk down again to where the new fork belongs: above the first node that branches on a
	// later bit (or a leaf). Every fork on the way gets a new digest.
	link := &t.root
	for (*link).bit >= 0 && (*link).bit < cb {
		(*link).dirty = true
		link = &(*link).child[bitOf(&e.id, (*link).bit)]
	}
	if replace {
		*link = leaf
		return
	}
	fork := &stNode{bit: cb, dirty: true}
	side := bitOf(&e.id, cb)
	fork.child[side] = leaf
	fork.child[1-side] = *link
	*link = fork
	t.n++
}

// remove deletes the entry of id, if any.
func (t *statusTree) remove(id requestid.ID) {
	if t.root == nil {
		return
	}
	var path []*stNode
	link := &t.root
	var parentLink **stNode
	for (*link).bit >= 0 {
		path = append(path, *link)
		parentLink = link
		link = &(*link).child[bitOf(&id, (*link).bit)]
	}
	if (*link).leaf.id != id {
		return
	}
	t.n--
	if parentLink == nil {
		t.root = nil
		return
	}
	parent := *parentLink
	*parentLink = parent.child[1-bitOf(&id, parent.bit)]
	for _, n := range path[:len(path)-1] {
		n.dirty = true
	}
}

// digest returns the digest of the forest (Empty when there are no statuses), recomputing the
// forks that changed.
func (t *statusTree) digest() [32]byte {
	if t.root == nil {
		return hashtree.EmptyHash()
	}
	return t.root.digest()
}

func (n *stNode) digest() [32]byte {
	if n.dirty {
		n.hash = hashtree.ForkHash(n.child[0].digest(), n.child[1].digest())
		n.dirty = false
	}
	return n.hash
}

func (n *stNode) minID() *requestid.ID {
	for n.bit >= 0 {
		n = n.child[0]
	}
	return &n.leaf.id
}

func (n *stNode) maxID() *requestid.ID {
	for n.bit >= 0 {
		n = n.child[1]
	}
	return &n.leaf.id
}

// witness returns the forest with the subtree of id fully revealed, or, if id is absent, the
// labels of its neighbors revealed (their subtrees pruned), so that hashtree.Prune can prove the
// absence; everything else is pruned. digest() must have been called since the last change.
func (t *statusTree) witness(id requestid.ID) hashtree.Node {
	if t.root == nil {
		return hashtree.Empty{}
	}
	lo, hi := &id, &id
	if t.get(id) == nil {
		if p := t.root.pred(&id); p != nil {
			lo = p
		}
		if s := t.root.succ(&id); s != nil {
			hi = s
		}
	}
	return t.root.reveal(&id, lo, hi)
}

// pred returns the greatest id below id, or nil.
func (n *stNode) pred(id *requestid.ID) *requestid.ID {
	for n.bit >= 0 {
		if bytes.Compare(n.child[1].minID()[:], id[:]) < 0 {
			n = n.child[1]
		} else {
			n = n.child[0]
		}
	}
	if bytes.Compare(n.leaf.id[:], id[:]) < 0 {
		return &n.leaf.id
	}
	return nil
}

// succ returns the least id above id, or nil.
func (n *stNode) succ(id *requestid.ID) *requestid.ID {
	for n.bit >= 0 {
		if bytes.Compare(n.child[0].maxID()[:], id[:]) > 0 {
			n = n.child[0]
		} else {
			n = n.child[1]
		}
	}
	if bytes.Compare(n.leaf.id[:], id[:]) > 0 {
		return &n.leaf.id
	}
	return nil
}

// reveal returns the witness of the subtree n: the entry of id in full, the labels of entries in
// [lo, hi] with pruned subtrees, and pruned nodes for everything outside [lo, hi].
func (n *stNode) reveal(id, lo, hi *requestid.ID) hashtree.Node {
	if n.bit < 0 {
		e := n.leaf
		switch {
		case e.id == *id:
			return hashtree.Labeled{Label: e.id[:], Tree: e.tree}
		case bytes.Compare(e.id[:], lo[:]) >= 0 && bytes.Compare(e.id[:], hi[:]) <= 0:
			return hashtree.Labeled{Label: e.id[:], Tree: hashtree.Pruned(e.treeDigest)}
		default:
			return hashtree.Pruned(n.hash)
		}
	}
	if bytes.Compare(n.maxID()[:], lo[:]) < 0 || bytes.Compare(n.minID()[:], hi[:]) > 0 {
		return hashtree.Pruned(n.hash)
	}
	return hashtree.Fork{Left: n.child[0].reveal(id, lo, hi), Right: n.child[1].reveal(id, lo, hi)}
}

// full returns the whole forest (for tests).
func (t *statusTree) full() hashtree.Node {
	if t.root == nil {
		return hashtree.Empty{}
	}
	return t.root.full()
}

func (n *stNode) full() hashtree.Node {
	if n.bit < 0 {
		return hashtree.Labeled{Label: n.leaf.id[:], Tree: n.leaf.tree}
	}
	return hashtree.Fork{Left: n.child[0].full(), Right: n.child[1].full()}
}
