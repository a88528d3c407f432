package hashtree

import (
	"bytes"
	"slices"
)

// Prune returns a witness of n for the given paths: a tree with the same digest in which
//
//   - every node at or below a requested path is kept as it is (fully revealed);
//   - for a requested path that is not in n, the nodes that prove its absence are kept: the
//     labeled siblings on either side of the missing label, with their subtrees pruned (or the Leaf
//     or Pruned node that ends the search);
//   - everything else is replaced by Pruned nodes, as high up the tree as possible.
//
// Lookup and LookupSubtree of a requested path (or of any prefix of it) give the same result on
// the witness as on n. With no paths, Prune returns Pruned(Digest(n)). The witness shares
// subtrees and byte slices with n.
func Prune(n Node, paths ...[][]byte) Node {
	root := &ptrie{}
	for _, p := range paths {
		root.insert(p)
	}
	if !root.terminal && len(root.children) == 0 {
		return Pruned(Digest(n))
	}
	return root.prune(n)
}

// PruneRange returns a range witness of n: the subtree at prefix is reduced to the labeled children
// whose labels lie in [first, last] (bytewise, inclusive), fully revealed, plus the neighbors that
// prove there are no other labels in that interval; everything else is pruned as in Prune. Lookups
// of prefix followed by any label in [first, last] give the same result on the witness as on n.
func PruneRange(n Node, prefix [][]byte, first, last []byte) Node {
	root := &ptrie{}
	t := root.insertPrefix(prefix)
	if !t.terminal {
		t.ranges = append(t.ranges, [2][]byte{first, last})
	}
	return root.prune(n)
}

// ptrie is a trie of requested paths.
type ptrie struct {
	terminal bool // a requested path ends here: reveal everything below
	labels   [][]byte
	children []*ptrie    // parallel to labels, sorted by label
	ranges   [][2][]byte // label intervals to reveal completely
}

// insertPrefix returns the node for path, creating it (or a terminal node above it).
func (t *ptrie) insertPrefix(path [][]byte) *ptrie {
	for _, l := range path {
		if t.terminal {
			return t
		}
		i, ok := slices.BinarySearchFunc(t.labels, l, bytes.Compare)
		if !ok {
			t.labels = slices.Insert(t.labels, i, l)
			t.children = slices.Insert(t.children, i, &ptrie{})
		}
		t = t.children[i]
	}
	return t
}

func (t *ptrie) insert(path [][]byte) {
	t = t.insertPrefix(path)
	t.terminal = true
	t.labels, t.children, t.ranges = nil, nil, nil
}

// reveal says what to keep of one child of a forest.
type reveal struct {
	sub  *ptrie // continue pruning below this Labeled child with sub
	keep bool   // keep the child itself (a Labeled child keeps its label, its subtree is pruned)
}

// prune returns the witness of n for the paths in t.
func (t *ptrie) prune(n Node) Node {
	if t.terminal {
		return n
	}
	switch v := normalize(n).(type) {
	case Empty, Pruned, Leaf:
		// Empty proves absence, Pruned stays unknown, a Leaf proves the absence of deeper paths.
		return v
	}
	elems := Flatten(n)
	reveals := make([]reveal, len(elems))
	for i, l := range t.labels {
		markSearch(elems, reveals, l, t.children[i])
	}
	for _, r := range t.ranges {
		markRange(elems, reveals, r[0], r[1])
	}
	k := 0
	out, _ := rebuild(n, elems, reveals, &k)
	return out
}

// markSearch marks the children of a forest that the search for label inspects to reach its
// outcome, following findLabel.
func markSearch(elems []Node, reveals []reveal, label []byte, sub *ptrie) {
	var lastLabel []byte
	prev := prevNone
	for i, e := range elems {
		switch v := e.(type) {
		case Labeled:
			if prev == prevLeaf || (lastLabel != nil && bytes.Compare(v.Label, lastLabel) <= 0) {
				keepRange(reveals, 0, i) // Error: the offending children prove the malformation
				return
			}
			switch c := bytes.Compare(label, v.Label); {
			case c == 0:
				reveals[i].sub = sub
				return
			case c < 0:
				reveals[i].keep = true
				if i > 0 {
					reveals[i-1].keep = true
				}
				return
			}
			lastLabel, prev = v.Label, prevLabeled
			if lastLabel == nil {
				lastLabel = []byte{}
			}
		case Pruned:
			if prev == prevLeaf {
				keepRange(reveals, 0, i)
				return
			}
			prev = prevPruned
		case Leaf:
			if i > 0 {
				keepRange(reveals, 0, i)
				return
			}
			prev = prevLeaf
		}
	}
	if len(elems) > 0 {
		reveals[len(elems)-1].keep = true
	}
}

// markRange marks the children of a forest that show all labels in [first, last]: from the last
// label before first to the first label after last, with the labels inside revealed completely.
func markRange(elems []Node, reveals []reveal, first, last []byte) {
	from, to := 0, len(elems)-1
	for i, e := range elems {
		l, ok := e.(Labeled)
		if !ok {
			continue
		}
		if bytes.Compare(l.Label, first) < 0 {
			from = i
		} else if bytes.Compare(l.Label, last) > 0 {
			to = i
			break
		}
	}
	all := &ptrie{terminal: true}
	for i := from; i <= to && i < len(elems); i++ {
		if l, ok := elems[i].(Labeled); ok && bytes.Compare(l.Label, first) >= 0 && bytes.Compare(l.Label, last) <= 0 {
			reveals[i].sub = all
		} else {
			reveals[i].keep = true
		}
	}
}

func keepRange(reveals []reveal, from, to int) {
	for i := from; i <= to; i++ {
		reveals[i].keep = true
	}
}

// rebuild walks n in the order of Flatten, with *k the index of the next child, and returns the
// pruned tree and whether it reveals anything. A subtree that reveals nothing is pruned, unless it
// has no children at all (then it is a run of Empty nodes, kept so that its neighbors stay
// adjacent after flattening).
func rebuild(n Node, elems []Node, reveals []reveal, k *int) (Node, bool) {
	switch v := normalize(n).(type) {
	case Fork:
		start := *k
		l, lr := rebuild(v.Left, elems, reveals, k)
		r, rr := rebuild(v.Right, elems, reveals, k)
		if !lr && !rr {
			if *k == start {
				return v, false // only Empty nodes below
			}
			return Pruned(Digest(Fork{Left: l, Right: r})), false
		}
		return Fork{Left: l, Right: r}, true
	case Empty:
		return v, false
	default:
		r := reveals[*k]
		*k++
		switch {
		case r.sub != nil:
			lab := v.(Labeled)
			return Labeled{Label: lab.Label, Tree: r.sub.prune(lab.Tree)}, true
		case r.keep:
			if lab, ok := v.(Labeled); ok {
				return Labeled{Label: lab.Label, Tree: hide(lab.Tree)}, true
			}
			return v, true
		}
		return Pruned(Digest(v)), false
	}
}

// hide returns the subtree of a neighbor label: Empty and Pruned as they are, anything else pruned.
func hide(n Node) Node {
	switch v := normalize(n).(type) {
	case Empty, Pruned:
		return v
	default:
		return Pruned(Digest(v))
	}
}
