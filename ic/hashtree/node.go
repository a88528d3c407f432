// Package hashtree implements the hash trees of the Internet Computer: the data structure of
// certificates and witnesses (interface spec, "Certification"). It covers the five node types,
// their digests with the spec's domain separators, the CBOR encoding, path lookup with the four
// outcomes of the spec (Found, Absent, Unknown, Error), a Builder for well-formed labeled trees,
// and Prune and PruneRange, which turn a full tree into a witness for chosen paths or a label range.
//
// # Nodes
//
// A Node is one of the value types Empty, Fork, Labeled, Leaf and Pruned. The interface is sealed:
// no other package can add node types. Every function of the package also accepts a nil Node and
// pointers to the five types: nil (and a nil pointer) means Empty, a pointer means the value it
// points to. Trees are immutable by convention: the package never modifies a tree it is given, and
// the trees it returns may share subtrees and byte slices with its inputs.
//
// # CBOR
//
// Marshal and Unmarshal convert between a Node and its CBOR form, the nested arrays [0],
// [1, left, right], [2, label, tree], [3, value], [4, hash]. The five types implement
// cbor.Marshaler (github.com/fxamacker/cbor/v2), so a Node stored in a struct field encodes
// correctly with fxamacker/cbor or ic/cbor. To decode a tree inside a struct, declare the field as
// a Tree, which implements both cbor.Marshaler and cbor.Unmarshaler.
package hashtree

import "fmt"

// Node is a hash tree node: Empty, Fork, Labeled, Leaf or Pruned (see the package doc for nil and
// pointers). The unexported method seals the interface.
type Node interface {
	isNode()
}

// Empty is the empty tree: [0] in CBOR.
type Empty struct{}

// Fork joins two trees: [1, left, right] in CBOR.
type Fork struct {
	Left, Right Node
}

// Labeled gives a label to a subtree: [2, label, tree] in CBOR. Labels are raw bytes.
type Labeled struct {
	Label []byte
	Tree  Node
}

// Leaf holds a value: [3, value] in CBOR.
type Leaf []byte

// Pruned stands for a subtree of which only the digest is known: [4, hash] in CBOR.
type Pruned [32]byte

func (Empty) isNode()   {}
func (Fork) isNode()    {}
func (Labeled) isNode() {}
func (Leaf) isNode()    {}
func (Pruned) isNode()  {}

// normalize returns n with nil and pointers replaced by the values they stand for. It returns one
// of the five value types.
func normalize(n Node) Node {
	switch v := n.(type) {
	case Empty, Fork, Labeled, Leaf, Pruned:
		return n
	case nil:
		return Empty{}
	case *Empty:
		return Empty{}
	case *Fork:
		if v == nil {
			return Empty{}
		}
		return *v
	case *Labeled:
		if v == nil {
			return Empty{}
		}
		return *v
	case *Leaf:
		if v == nil {
			return Empty{}
		}
		return *v
	case *Pruned:
		if v == nil {
			return Empty{}
		}
		return *v
	default:
		// Unreachable: the interface is sealed and all implementations are listed above.
		panic(fmt.Sprintf("hashtree: unknown node type %T", n))
	}
}

// NewFork returns Fork{l, r}; a shorthand for building trees by hand.
func NewFork(l, r Node) Node { return Fork{Left: l, Right: r} }

// NewLabeled returns Labeled{Label: []byte(label), Tree: t}; a shorthand for building trees by hand.
func NewLabeled(label string, t Node) Node { return Labeled{Label: []byte(label), Tree: t} }
