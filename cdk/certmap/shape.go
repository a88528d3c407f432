package certmap

import (
	"errors"
	"fmt"
)

// The bits of a node's byte in a shape (see AppendShape).
const (
	ShapeRed   = 1 << 0 // the node is red
	ShapeLeft  = 1 << 1 // the node has a left child
	ShapeRight = 1 << 2 // the node has a right child
)

// ErrBadShape is the error of FromShape for a shape that is not a valid tree of the given keys.
var ErrBadShape = errors.New("certmap: bad shape")

// maxShapeDepth bounds the depth FromShape accepts. A valid tree of n nodes is at most
// 2·log2(n+1) deep, so 128 admits every map that fits in memory.
const maxShapeDepth = 128

// AppendShape appends the shape of m's tree to b and returns it: one byte per node, in preorder,
// made of ShapeRed, ShapeLeft and ShapeRight. The root hash depends on the shape, not only on the
// entries, so a map is saved as its entries in key order plus its shape (see FromShape).
func (m *Map) AppendShape(b []byte) []byte {
	return appendShape(b, m.root)
}

func appendShape(b []byte, n *node) []byte {
	for n != nil {
		var f byte
		if n.red {
			f |= ShapeRed
		}
		if n.left != nil {
			f |= ShapeLeft
		}
		if n.right != nil {
			f |= ShapeRight
		}
		b = append(b, f)
		b = appendShape(b, n.left)
		n = n.right
	}
	return b
}

// FromShape returns the map of the given shape (as AppendShape wrote it) whose entries, in key
// order, are keys[i] → values[i], with every hash computed: it has the root hash and witnesses of
// the map that was saved. It fails with ErrBadShape unless the keys strictly increase, the shape
// holds exactly len(keys) nodes and it satisfies the invariants of the tree (black root, no red
// right child, no red node with a red child, the same number of black nodes on every path), which
// the map's Insert and Delete rely on. The map keeps values; the caller must not change them. The
// nodes share one allocation, freed when the last of them is deleted.
func FromShape(shape []byte, keys []string, values [][]byte) (Map, error) {
	if len(keys) != len(values) {
		return Map{}, fmt.Errorf("%w: %d keys but %d values", ErrBadShape, len(keys), len(values))
	}
	if len(shape) != len(keys) {
		return Map{}, fmt.Errorf("%w: %d nodes for %d keys", ErrBadShape, len(shape), len(keys))
	}
	for i := 1; i < len(keys); i++ {
		if keys[i-1] >= keys[i] {
			return Map{}, fmt.Errorf("%w: key %d (%q) is not above the one before", ErrBadShape, i, keys[i])
		}
	}
	if len(keys) == 0 {
		return Map{}, nil
	}
	b := shapeBuilder{shape: shape, keys: keys, values: values, nodes: make([]node, len(keys))}
	root, _, err := b.build(1)
	if err != nil {
		return Map{}, err
	}
	if root.red {
		return Map{}, fmt.Errorf("%w: the root is red", ErrBadShape)
	}
	if b.pos != len(shape) {
		return Map{}, fmt.Errorf("%w: the tree ends after %d of %d nodes", ErrBadShape, b.pos, len(shape))
	}
	return Map{root: root, size: len(keys)}, nil
}

type shapeBuilder struct {
	shape  []byte
	keys   []string
	values [][]byte
	nodes  []node // one allocation for the whole tree
	pos    int    // next byte of shape
	next   int    // next key, in order
}

// build reads the subtree at b.pos and returns it with its black height.
func (b *shapeBuilder) build(depth int) (*node, int, error) {
	if depth > maxShapeDepth {
		return nil, 0, fmt.Errorf("%w: deeper than %d", ErrBadShape, maxShapeDepth)
	}
	if b.pos >= len(b.shape) {
		return nil, 0, fmt.Errorf("%w: a node is missing after %d", ErrBadShape, b.pos)
	}
	at := b.pos
	f := b.shape[at]
	b.pos++
	if f&^(ShapeRed|ShapeLeft|ShapeRight) != 0 {
		return nil, 0, fmt.Errorf("%w: node %d has unknown bits %#x", ErrBadShape, at, f)
	}
	n := &b.nodes[at]
	n.red = f&ShapeRed != 0
	lh, rh := 0, 0
	if f&ShapeLeft != 0 {
		l, h, err := b.build(depth + 1)
		if err != nil {
			return nil, 0, err
		}
		n.left, lh = l, h
	}
	if b.next >= len(b.keys) {
		return nil, 0, fmt.Errorf("%w: more nodes than keys", ErrBadShape)
	}
	n.key, n.value = b.keys[b.next], b.values[b.next]
	b.next++
	if f&ShapeRight != 0 {
		r, h, err := b.build(depth + 1)
		if err != nil {
			return nil, 0, err
		}
		n.right, rh = r, h
	}
	switch {
	case isRed(n.right):
		return nil, 0, fmt.Errorf("%w: node %d has a red right child", ErrBadShape, at)
	case n.red && isRed(n.left):
		return nil, 0, fmt.Errorf("%w: node %d and its left child are both red", ErrBadShape, at)
	case lh != rh:
		return nil, 0, fmt.Errorf("%w: node %d has black heights %d and %d", ErrBadShape, at, lh, rh)
	}
	n.data = dataHash(n.key, n.value)
	n.update()
	if !n.red {
		lh++
	}
	return n, lh, nil
}
