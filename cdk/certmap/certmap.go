// Package certmap is a certified map for canisters: a left-leaning red-black tree of key → value
// whose every node caches the hash of its subtree, so that the root hash (to be set as certified
// data) and witnesses for keys and key ranges cost O(log n).
//
// Hashing is lazy: Insert and Delete only mark the nodes they change as stale, and the next
// RootHash or witness recomputes each stale subtree hash once, children first. A message that
// makes k changes to a map of n entries before it certifies therefore hashes at most the union of
// their k paths (about k·(1 + log(n/k)) nodes) instead of k·log n.
//
// The tree, its subtree-hash rule and its witnesses are those of the Rust library
// ic-certified-map 0.3.4 (RbTree with Vec<u8> or [u8; 32] values), so a map built by the same
// inserts and deletes has the same root hash and the same witnesses. A node's own hash is
// labeled_hash(key, leaf_hash(value)); the hash of a subtree is the own hash alone for a leaf
// node, fork(left, own) or fork(own, right) with one child, and fork(left, fork(own, right)) with
// both.
//
// A Map also implements the Begin/Commit/Rollback contract of cdk.Transactional: between Begin and
// Rollback it journals every node it changes and restores the exact tree (shape, colours, hashes)
// that Begin saw, so a rolled-back canister message leaves the certified data valid.
//
// A Map is not safe for concurrent mutation. Because RootHash and the witnesses bring stale hashes
// up to date, they write when the map has changes not yet hashed: call RootHash after the last
// change, and then concurrent readers (Get, RootHash, witnesses, Ascend) are fine while nothing
// writes.
package certmap

import (
	"github.com/icws/icws/ic/hashtree"
)

// Map is a certified map from string keys (compared as bytes) to byte-string values. The zero
// value is an empty map.
type Map struct {
	root *node
	size int

	// Journal of the open transaction.
	tx      bool
	gen     uint64 // the current transaction's generation; nodes stamped with it are journaled
	journal []saved
	txRoot  *node
	txSize  int
}

type node struct {
	key         string
	value       []byte
	left, right *node
	red         bool
	dirty       bool     // subtree is stale; so is every ancestor's (see fix)
	gen         uint64   // the last transaction generation that journaled (or created) this node
	data        [32]byte // labeled_hash(key, leaf_hash(value))
	subtree     [32]byte // hash of the subtree rooted here
}

type saved struct {
	n *node
	v node
}

func dataHash(key string, value []byte) [32]byte {
	return hashtree.LabeledHash([]byte(key), hashtree.LeafHash(value))
}

// touch journals n before its first change in the open transaction.
func (m *Map) touch(n *node) {
	if m.tx && n.gen != m.gen {
		m.journal = append(m.journal, saved{n: n, v: *n})
		n.gen = m.gen
	}
}

func (m *Map) newNode(key string, value []byte) *node {
	n := &node{key: key, value: value, red: true, gen: m.gen, data: dataHash(key, value)}
	n.subtree = n.data
	return n
}

// Len returns the number of entries.
func (m *Map) Len() int { return m.size }

// Get returns the value stored under key.
func (m *Map) Get(key string) ([]byte, bool) {
	n := m.root
	for n != nil {
		switch {
		case key < n.key:
			n = n.left
		case key > n.key:
			n = n.right
		default:
			return n.value, true
		}
	}
	return nil, false
}

// RootHash returns the hash of the whole map (the hash of Empty for an empty map). It first
// recomputes the subtree hashes that changes since the last RootHash or witness made stale.
func (m *Map) RootHash() [32]byte {
	if m.root == nil {
		return hashtree.EmptyHash()
	}
	m.fix(m.root)
	return m.root.subtree
}

// Ascend calls fn for every entry with key >= from, in key order, until fn returns false. fn must
// not change the map.
func (m *Map) Ascend(from string, fn func(key string, value []byte) bool) {
	ascend(m.root, from, fn)
}

func ascend(n *node, from string, fn func(string, []byte) bool) bool {
	for n != nil {
		if n.key < from {
			n = n.right
			continue
		}
		if !ascend(n.left, from, fn) || !fn(n.key, n.value) {
			return false
		}
		// Everything right of n is > from.
		return ascendAll(n.right, fn)
	}
	return true
}

func ascendAll(n *node, fn func(string, []byte) bool) bool {
	for n != nil {
		if !ascendAll(n.left, fn) || !fn(n.key, n.value) {
			return false
		}
		n = n.right
	}
	return true
}

// First returns the smallest key >= from.
func (m *Map) First(from string) (key string, value []byte, ok bool) {
	var best *node
	for n := m.root; n != nil; {
		if n.key < from {
			n = n.right
		} else {
			best, n = n, n.left
		}
	}
	if best == nil {
		return "", nil, false
	}
	return best.key, best.value, true
}

// Insert sets the value of key. The map keeps value; the caller must not change it afterwards.
func (m *Map) Insert(key string, value []byte) {
	root, added := m.insert(m.root, key, value)
	m.touch(root)
	root.red = false
	m.root = root
	if added {
		m.size++
	}
}

func (m *Map) insert(h *node, key string, value []byte) (*node, bool) {
	if h == nil {
		return m.newNode(key, value), true
	}
	m.touch(h)
	var added bool
	switch {
	case key < h.key:
		h.left, added = m.insert(h.left, key, value)
	case key > h.key:
		h.right, added = m.insert(h.right, key, value)
	default:
		h.value = value
		h.data = dataHash(key, value)
	}
	h.dirty = true
	return m.balance(h), added
}

// Delete removes key and reports whether it was there.
func (m *Map) Delete(key string) bool {
	if _, ok := m.Get(key); !ok {
		return false
	}
	r := m.root
	if !isRed(r.left) && !isRed(r.right) {
		m.touch(r)
		r.red = true
	}
	m.root = m.delete(r, key)
	if m.root != nil {
		m.touch(m.root)
		m.root.red = false
	}
	m.size--
	return true
}

func (m *Map) delete(h *node, key string) *node {
	m.touch(h)
	if key < h.key {
		if !isRed(h.left) && !isRed(h.left.left) {
			h = m.moveRedLeft(h)
		}
		h.left = m.delete(h.left, key)
	} else {
		if isRed(h.left) {
			h = m.rotateRight(h)
		}
		if key == h.key && h.right == nil {
			return nil
		}
		if !isRed(h.right) && !isRed(h.right.left) {
			h = m.moveRedRight(h)
		}
		if key == h.key {
			// Replace h's entry by its successor's, then delete the successor.
			s := h.right
			for s.left != nil {
				s = s.left
			}
			m.touch(s)
			s.dirty = true
			h.key, s.key = s.key, h.key
			h.value, s.value = s.value, h.value
			h.data, s.data = s.data, h.data
			h.right = m.deleteMin(h.right)
		} else {
			h.right = m.delete(h.right, key)
		}
	}
	h.dirty = true
	return m.balance(h)
}

func (m *Map) deleteMin(h *node) *node {
	m.touch(h)
	if h.left == nil {
		return nil
	}
	if !isRed(h.left) && !isRed(h.left.left) {
		h = m.moveRedLeft(h)
	}
	h.left = m.deleteMin(h.left)
	h.dirty = true
	return m.balance(h)
}

func isRed(n *node) bool { return n != nil && n.red }

// fix recomputes the stale subtree hashes under n, each once, children first. Every operation
// marks each node whose entry or children it changed, and every node of its search path: a node
// that gains a child is marked, and marks are only cleared here, so the parent of a stale node is
// stale and the stale nodes of a tree form a subtree that contains the root, however many
// operations made them. fix therefore stops at the first clean node of every branch, and on a
// clean tree it only reads. It journals what it changes, so Rollback restores even the marks.
func (m *Map) fix(n *node) {
	if n == nil || !n.dirty {
		return
	}
	m.fix(n.left)
	m.fix(n.right)
	m.touch(n)
	n.update()
	n.dirty = false
}

// update recomputes h's subtree hash from its children.
func (h *node) update() {
	switch {
	case h.left == nil && h.right == nil:
		h.subtree = h.data
	case h.right == nil:
		h.subtree = hashtree.ForkHash(h.left.subtree, h.data)
	case h.left == nil:
		h.subtree = hashtree.ForkHash(h.data, h.right.subtree)
	default:
		h.subtree = hashtree.ForkHash(h.left.subtree, hashtree.ForkHash(h.data, h.right.subtree))
	}
}

// The helpers below expect h to be journaled already.

func (m *Map) balance(h *node) *node {
	if isRed(h.right) && !isRed(h.left) {
		h = m.rotateLeft(h)
	}
	if isRed(h.left) && isRed(h.left.left) {
		h = m.rotateRight(h)
	}
	if isRed(h.left) && isRed(h.right) {
		m.flipColors(h)
	}
	return h
}

func (m *Map) rotateRight(h *node) *node {
	x := h.left
	m.touch(x)
	h.left = x.right
	x.right = h
	x.red = h.red
	h.red = true
	h.dirty, x.dirty = true, true
	return x
}

func (m *Map) rotateLeft(h *node) *node {
	x := h.right
	m.touch(x)
	h.right = x.left
	x.left = h
	x.red = h.red
	h.red = true
	h.dirty, x.dirty = true, true
	return x
}

func (m *Map) flipColors(h *node) {
	h.red = !h.red
	m.touch(h.left)
	h.left.red = !h.left.red
	m.touch(h.right)
	h.right.red = !h.right.red
}

func (m *Map) moveRedLeft(h *node) *node {
	m.flipColors(h)
	if isRed(h.right.left) {
		m.touch(h.right)
		h.right = m.rotateRight(h.right)
		h = m.rotateLeft(h)
		m.flipColors(h)
	}
	return h
}

func (m *Map) moveRedRight(h *node) *node {
	m.flipColors(h)
	if isRed(h.left.left) {
		h = m.rotateRight(h)
		m.flipColors(h)
	}
	return h
}

// Begin starts a transaction: until Commit or Rollback, the map journals what it changes.
// Transactions do not nest; Begin during a transaction commits the open one first.
func (m *Map) Begin() {
	if m.tx {
		m.Commit()
	}
	m.tx = true
	m.gen++
	m.txRoot, m.txSize = m.root, m.size
}

// Commit ends the transaction and keeps its changes.
func (m *Map) Commit() {
	m.tx = false
	clear(m.journal)
	m.journal = m.journal[:0]
	m.txRoot = nil
}

// Rollback ends the transaction and restores the map exactly as Begin saw it.
func (m *Map) Rollback() {
	if !m.tx {
		return
	}
	for i := len(m.journal) - 1; i >= 0; i-- {
		s := m.journal[i]
		*s.n = s.v
	}
	m.root, m.size = m.txRoot, m.txSize
	m.Commit()
}
