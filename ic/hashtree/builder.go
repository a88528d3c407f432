package hashtree

import (
	"errors"
	"fmt"
	"slices"
	"strings"
)

// ErrConflict is returned by Builder when a path runs through a value or stops at a subtree.
var ErrConflict = errors.New("hashtree: path conflicts with an existing entry")

// Builder builds a well-formed labeled tree from (path, value) pairs: the children of every node
// are Labeled nodes in strictly increasing label order (bytewise), arranged in a balanced binary
// tree of forks. The zero Builder is empty and ready to use. A Builder is not safe for concurrent
// use.
type Builder struct {
	root bnode
}

// bnode is a node of the Builder: a leaf value, a grafted subtree, or labeled children.
type bnode struct {
	children map[string]*bnode
	value    []byte // when isValue
	graft    Node   // when isGraft
	isValue  bool
	isGraft  bool
}

// Insert sets the value at path, replacing an earlier value there. The path must not be empty, must
// not run through a value or grafted subtree, and must not end where other paths continue. The
// Builder keeps value (it does not copy it); do not modify it afterwards.
func (b *Builder) Insert(path [][]byte, value []byte) error {
	n, err := b.at(path)
	if err != nil {
		return err
	}
	n.value, n.isValue, n.graft, n.isGraft = value, true, nil, false
	return nil
}

// InsertTree grafts the tree t at path, replacing an earlier value or graft there, under the same
// rules as Insert. Use it to place an Empty subtree, a precomputed subtree or a witness.
func (b *Builder) InsertTree(path [][]byte, t Node) error {
	n, err := b.at(path)
	if err != nil {
		return err
	}
	n.graft, n.isGraft, n.value, n.isValue = t, true, nil, false
	return nil
}

// at returns the node for path, creating it, after checking that it can hold a value.
func (b *Builder) at(path [][]byte) (*bnode, error) {
	if len(path) == 0 {
		return nil, fmt.Errorf("%w: empty path", ErrConflict)
	}
	n := &b.root
	for i, label := range path {
		if n.isValue || n.isGraft {
			return nil, fmt.Errorf("%w: %s holds a value", ErrConflict, formatPath(path[:i]))
		}
		child, ok := n.children[string(label)]
		if !ok {
			if n.children == nil {
				n.children = make(map[string]*bnode)
			}
			child = &bnode{}
			n.children[string(label)] = child
		}
		n = child
	}
	if len(n.children) > 0 {
		return nil, fmt.Errorf("%w: %s has children", ErrConflict, formatPath(path))
	}
	return n, nil
}

// Tree returns the tree built so far (Empty when nothing was inserted). Each call builds a new
// tree; values and grafted subtrees are shared with the Builder.
func (b *Builder) Tree() Node { return b.root.tree() }

func (n *bnode) tree() Node {
	switch {
	case n.isValue:
		return Leaf(n.value)
	case n.isGraft:
		return n.graft
	case len(n.children) == 0:
		return Empty{}
	}
	labels := make([]string, 0, len(n.children))
	for l := range n.children {
		labels = append(labels, l)
	}
	slices.Sort(labels)
	nodes := make([]Node, len(labels))
	for i, l := range labels {
		nodes[i] = Labeled{Label: []byte(l), Tree: n.children[l].tree()}
	}
	return Balanced(nodes)
}

// Balanced joins nodes, in order, into a balanced binary tree of forks; it returns Empty for no
// nodes and the node itself for one.
func Balanced(nodes []Node) Node {
	switch len(nodes) {
	case 0:
		return Empty{}
	case 1:
		return nodes[0]
	}
	mid := len(nodes) / 2
	return Fork{Left: Balanced(nodes[:mid]), Right: Balanced(nodes[mid:])}
}

// formatPath renders a path for error messages: /label/label with non-printable labels in hex.
func formatPath(path [][]byte) string {
	if len(path) == 0 {
		return "/"
	}
	var sb strings.Builder
	for _, l := range path {
		sb.WriteByte('/')
		if printable(l) {
			sb.Write(l)
		} else {
			fmt.Fprintf(&sb, "%x", l)
		}
	}
	return sb.String()
}

func printable(b []byte) bool {
	for _, c := range b {
		if c < 0x21 || c > 0x7e || c == '/' {
			return false
		}
	}
	return len(b) > 0
}
