package certmap

import "github.com/icws/icws/ic/hashtree"

// A bound of a witnessed range: the key of a node at the edge, and whether it is the requested
// key itself (exact) or the nearest key beyond it (a neighbour, revealed with its value pruned).
type bound struct {
	n     *node
	exact bool
}

// revealFn builds the tree of one node's own entry.
type revealFn func(n *node) hashtree.Node

// dataTree reveals key and value: Labeled(key, Leaf(value)).
func dataTree(n *node) hashtree.Node {
	return hashtree.Labeled{Label: []byte(n.key), Tree: hashtree.Leaf(n.value)}
}

// keyTree reveals the key and prunes the value: Labeled(key, Pruned(leaf_hash(value))).
func keyTree(n *node) hashtree.Node {
	return hashtree.Labeled{Label: []byte(n.key), Tree: hashtree.Pruned(hashtree.LeafHash(n.value))}
}

func (b bound) reveal(f revealFn) hashtree.Node {
	if b.exact {
		return f(b.n)
	}
	return keyTree(b.n)
}

func leftTree(n *node) hashtree.Node {
	if n.left == nil {
		return hashtree.Empty{}
	}
	return hashtree.Pruned(n.left.subtree)
}

func rightTree(n *node) hashtree.Node {
	if n.right == nil {
		return hashtree.Empty{}
	}
	return hashtree.Pruned(n.right.subtree)
}

// threeWayFork joins the trees of a node's left subtree, own entry and right subtree, dropping
// empty sides and merging all-pruned parts, as ic-certified-map does.
func threeWayFork(l, m, r hashtree.Node) hashtree.Node {
	_, lEmpty := l.(hashtree.Empty)
	_, rEmpty := r.(hashtree.Empty)
	switch {
	case lEmpty && rEmpty:
		return m
	case rEmpty:
		return hashtree.Fork{Left: l, Right: m}
	case lEmpty:
		return hashtree.Fork{Left: m, Right: r}
	}
	mp, mPruned := m.(hashtree.Pruned)
	rp, rPruned := r.(hashtree.Pruned)
	if mPruned && rPruned {
		mr := hashtree.ForkHash(mp, rp)
		if lp, ok := l.(hashtree.Pruned); ok {
			return hashtree.Pruned(hashtree.ForkHash(lp, mr))
		}
		return hashtree.Fork{Left: l, Right: hashtree.Pruned(mr)}
	}
	return hashtree.Fork{Left: l, Right: hashtree.Fork{Left: m, Right: r}}
}

func fullTree(n *node, f revealFn) hashtree.Node {
	if n == nil {
		return hashtree.Empty{}
	}
	return threeWayFork(fullTree(n.left, f), f(n), fullTree(n.right, f))
}

// lowerBound is the greatest key <= key.
func (m *Map) lowerBound(key string) (bound, bool) {
	var best *node
	for n := m.root; n != nil; {
		switch {
		case n.key < key:
			best, n = n, n.right
		case n.key > key:
			n = n.left
		default:
			return bound{n: n, exact: true}, true
		}
	}
	return bound{n: best}, best != nil
}

// upperBound is the smallest key >= key.
func (m *Map) upperBound(key string) (bound, bool) {
	var best *node
	for n := m.root; n != nil; {
		switch {
		case n.key > key:
			best, n = n, n.left
		case n.key < key:
			n = n.right
		default:
			return bound{n: n, exact: true}, true
		}
	}
	return bound{n: best}, best != nil
}

// Witness returns a witness for key: with the value (Labeled(key, Leaf(value))) if key is in the
// map, else a proof of absence that reveals the neighbouring keys with their values pruned.
// Its digest is RootHash.
func (m *Map) Witness(key string) hashtree.Node {
	m.fix(m.root)
	if t, ok := lookupWitness(m.root, key); ok {
		return t
	}
	lo, hasLo := m.lowerBound(key)
	hi, hasHi := m.upperBound(key)
	return m.rangeWitness(lo, hasLo, hi, hasHi, keyTree)
}

func lookupWitness(n *node, key string) (hashtree.Node, bool) {
	if n == nil {
		return nil, false
	}
	switch {
	case key < n.key:
		t, ok := lookupWitness(n.left, key)
		if !ok {
			return nil, false
		}
		return threeWayFork(t, hashtree.Pruned(n.data), rightTree(n)), true
	case key > n.key:
		t, ok := lookupWitness(n.right, key)
		if !ok {
			return nil, false
		}
		return threeWayFork(leftTree(n), hashtree.Pruned(n.data), t), true
	}
	return threeWayFork(leftTree(n), dataTree(n), rightTree(n)), true
}

// WitnessRange returns a witness that reveals every entry with first <= key <= last, values
// included, and proves that there are no others in that range (ic-certified-map's value_range):
// the nearest keys outside the range are revealed with their values pruned, everything else is
// pruned. Its digest is RootHash.
func (m *Map) WitnessRange(first, last string) hashtree.Node {
	m.fix(m.root)
	lo, hasLo := m.lowerBound(first)
	hi, hasHi := m.upperBound(last)
	return m.rangeWitness(lo, hasLo, hi, hasHi, dataTree)
}

// Keys returns a witness of every key, with the values pruned.
func (m *Map) Keys() hashtree.Node {
	m.fix(m.root)
	return fullTree(m.root, keyTree)
}

func (m *Map) rangeWitness(lo bound, hasLo bool, hi bound, hasHi bool, f revealFn) hashtree.Node {
	switch {
	case !hasLo && !hasHi:
		return fullTree(m.root, f)
	case !hasHi:
		return above(m.root, lo, f)
	case !hasLo:
		return below(m.root, hi, f)
	}
	return between(m.root, lo, hi, f)
}

func above(n *node, lo bound, f revealFn) hashtree.Node {
	if n == nil {
		return hashtree.Empty{}
	}
	switch {
	case n.key == lo.n.key:
		return threeWayFork(leftTree(n), lo.reveal(f), fullTree(n.right, f))
	case n.key < lo.n.key:
		return threeWayFork(leftTree(n), hashtree.Pruned(n.data), above(n.right, lo, f))
	}
	return threeWayFork(above(n.left, lo, f), f(n), fullTree(n.right, f))
}

func below(n *node, hi bound, f revealFn) hashtree.Node {
	if n == nil {
		return hashtree.Empty{}
	}
	switch {
	case n.key == hi.n.key:
		return threeWayFork(fullTree(n.left, f), hi.reveal(f), rightTree(n))
	case n.key > hi.n.key:
		return threeWayFork(below(n.left, hi, f), hashtree.Pruned(n.data), rightTree(n))
	}
	return threeWayFork(fullTree(n.left, f), f(n), below(n.right, hi, f))
}

func between(n *node, lo, hi bound, f revealFn) hashtree.Node {
	if n == nil {
		return hashtree.Empty{}
	}
	k := n.key
	switch {
	case lo.n.key < k && k < hi.n.key:
		return threeWayFork(between(n.left, lo, hi, f), f(n), between(n.right, lo, hi, f))
	case lo.n.key == k && k == hi.n.key:
		var own hashtree.Node
		if lo.exact || hi.exact {
			own = f(n)
		} else {
			own = keyTree(n)
		}
		return threeWayFork(leftTree(n), own, rightTree(n))
	case k == hi.n.key:
		return threeWayFork(between(n.left, lo, hi, f), hi.reveal(f), rightTree(n))
	case lo.n.key == k:
		return threeWayFork(leftTree(n), lo.reveal(f), between(n.right, lo, hi, f))
	case lo.n.key < k: // and k > hi
		return threeWayFork(between(n.left, lo, hi, f), hashtree.Pruned(n.data), rightTree(n))
	case k < hi.n.key: // and k < lo
		return threeWayFork(leftTree(n), hashtree.Pruned(n.data), between(n.right, lo, hi, f))
	}
	return hashtree.Pruned(n.subtree)
}
