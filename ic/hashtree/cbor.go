package hashtree

import (
	"errors"
	"fmt"

	"github.com/icws/icws/ic/cbor"
)

// MaxDepth is the deepest nesting of nodes that Unmarshal accepts (the root is at depth 1). Trees
// the IC produces are far shallower; the limit bounds the recursion of decoding.
const MaxDepth = 512

// ErrMalformed is wrapped by every error of Unmarshal.
var ErrMalformed = errors.New("hashtree: malformed CBOR hash tree")

// Node type numbers, the first element of each CBOR array.
const (
	tagEmpty   = 0
	tagFork    = 1
	tagLabeled = 2
	tagLeaf    = 3
	tagPruned  = 4
)

// Marshal returns the CBOR encoding of a tree, without the self-describe tag (the form used inside
// certificates). The error is always nil; it is there for symmetry with other encoders.
func Marshal(n Node) ([]byte, error) {
	return AppendCBOR(make([]byte, 0, encodedSize(n)), n), nil
}

// AppendCBOR appends the CBOR encoding of n (as Marshal) to dst and returns the extended slice.
func AppendCBOR(dst []byte, n Node) []byte {
	switch v := n.(type) {
	case Empty:
		return append(dst, 0x81, tagEmpty)
	case Fork:
		dst = append(dst, 0x83, tagFork)
		dst = AppendCBOR(dst, v.Left)
		return AppendCBOR(dst, v.Right)
	case Labeled:
		dst = append(dst, 0x83, tagLabeled)
		dst = cbor.AppendBytes(dst, v.Label)
		return AppendCBOR(dst, v.Tree)
	case Leaf:
		dst = append(dst, 0x82, tagLeaf)
		return cbor.AppendBytes(dst, v)
	case Pruned:
		dst = append(dst, 0x82, tagPruned, 0x58, 32)
		return append(dst, v[:]...)
	default:
		return AppendCBOR(dst, normalize(n))
	}
}

// encodedSize returns the length of the CBOR encoding of n.
func encodedSize(n Node) int {
	switch v := n.(type) {
	case Empty:
		return 2
	case Fork:
		return 2 + encodedSize(v.Left) + encodedSize(v.Right)
	case Labeled:
		return 2 + cbor.HeadLen(uint64(len(v.Label))) + len(v.Label) + encodedSize(v.Tree)
	case Leaf:
		return 2 + cbor.HeadLen(uint64(len(v))) + len(v)
	case Pruned:
		return 4 + 32
	default:
		return encodedSize(normalize(n))
	}
}

// Unmarshal decodes a CBOR hash tree. A self-describe tag (55799) may precede the tree and any node
// in it; no other tag is accepted. Decoding is strict: each node must be a definite-length array of
// the right arity whose first element is a node type 0–4, labels and values must be byte strings, a
// pruned hash must be exactly 32 bytes, nesting may not exceed MaxDepth, and nothing may follow the
// tree. Every error wraps ErrMalformed and names the offset of the fault. The returned tree does
// not share memory with b.
func Unmarshal(b []byte) (Node, error) {
	d := decoder{data: append([]byte(nil), b...)}
	n, err := d.node(1)
	if err != nil {
		return nil, err
	}
	if d.off != len(d.data) {
		return nil, d.errorf("%d trailing bytes after the tree", len(d.data)-d.off)
	}
	return n, nil
}

// UnmarshalPrefix decodes one tree at the start of b, with the rules of Unmarshal, and returns it
// with the number of bytes it took; bytes after it are left alone. Unlike Unmarshal, the returned
// tree shares memory with b: the caller must not modify b afterwards. It serves decoders of larger
// structures that contain a tree (certificates).
func UnmarshalPrefix(b []byte) (Node, int, error) {
	d := decoder{data: b}
	n, err := d.node(1)
	if err != nil {
		return nil, 0, err
	}
	return n, d.off, nil
}

// decoder reads a hash tree from data. Byte strings of the result alias data, so callers pass a
// private copy.
type decoder struct {
	data []byte
	off  int
}

func (d *decoder) errorf(format string, args ...any) error {
	return fmt.Errorf("%w: at offset %d: %s", ErrMalformed, d.off, fmt.Sprintf(format, args...))
}

// head reads one CBOR head. It rejects indefinite lengths and reserved additional information.
func (d *decoder) head() (major byte, arg uint64, err error) {
	major, arg, n, err := cbor.Head(d.data[d.off:])
	if err != nil {
		return 0, 0, d.errorf("%v", err)
	}
	d.off += n
	return major, arg, nil
}

// bytes reads a definite-length byte string.
func (d *decoder) bytes(what string) ([]byte, error) {
	start := d.off
	major, n, err := d.head()
	if err != nil {
		return nil, err
	}
	if major != cbor.MajorBytes {
		d.off = start
		return nil, d.errorf("%s must be a byte string, found major type %d", what, major)
	}
	if n > uint64(len(d.data)-d.off) {
		return nil, d.errorf("%s of %d bytes runs past the end of input", what, n)
	}
	b := d.data[d.off : d.off+int(n) : d.off+int(n)]
	d.off += int(n)
	return b, nil
}

// node reads one node at the given depth.
func (d *decoder) node(depth int) (Node, error) {
	if depth > MaxDepth {
		return nil, d.errorf("tree nested deeper than %d levels", MaxDepth)
	}
	start := d.off
	major, arity, err := d.head()
	if err != nil {
		return nil, err
	}
	if major == cbor.MajorTag {
		if arity != cbor.SelfDescribeTag {
			d.off = start
			return nil, d.errorf("unexpected CBOR tag %d (only %d is allowed)", arity, cbor.SelfDescribeTag)
		}
		start = d.off
		if major, arity, err = d.head(); err != nil {
			return nil, err
		}
	}
	if major != cbor.MajorArray {
		d.off = start
		return nil, d.errorf("node must be an array, found major type %d", major)
	}
	if arity < 1 || arity > 3 {
		d.off = start
		return nil, d.errorf("node array has %d elements, want 1 to 3", arity)
	}
	typStart := d.off
	major, typ, err := d.head()
	if err != nil {
		return nil, err
	}
	if major != cbor.MajorUint || typ > tagPruned {
		d.off = typStart
		return nil, d.errorf("node type must be an unsigned integer 0 to 4")
	}
	want := [...]uint64{1, 3, 3, 2, 2}[typ]
	if arity != want {
		d.off = start
		return nil, d.errorf("node of type %d has %d elements, want %d", typ, arity, want)
	}
	switch typ {
	case tagEmpty:
		return Empty{}, nil
	case tagFork:
		l, err := d.node(depth + 1)
		if err != nil {
			return nil, err
		}
		r, err := d.node(depth + 1)
		if err != nil {
			return nil, err
		}
		return Fork{Left: l, Right: r}, nil
	case tagLabeled:
		label, err := d.bytes("label")
		if err != nil {
			return nil, err
		}
		t, err := d.node(depth + 1)
		if err != nil {
			return nil, err
		}
		return Labeled{Label: label, Tree: t}, nil
	case tagLeaf:
		v, err := d.bytes("leaf value")
		if err != nil {
			return nil, err
		}
		return Leaf(v), nil
	default: // tagPruned
		h, err := d.bytes("pruned hash")
		if err != nil {
			return nil, err
		}
		if len(h) != 32 {
			return nil, d.errorf("pruned hash has %d bytes, want 32", len(h))
		}
		return Pruned(h), nil
	}
}

// Tree wraps a Node for use as a struct field with fxamacker/cbor (or ic/cbor): it encodes as the
// tree and decodes with Unmarshal's strict rules. The zero Tree encodes as Empty.
type Tree struct {
	Node Node
}

// MarshalCBOR implements cbor.Marshaler.
func (t Tree) MarshalCBOR() ([]byte, error) { return Marshal(t.Node) }

// UnmarshalCBOR implements cbor.Unmarshaler.
func (t *Tree) UnmarshalCBOR(b []byte) error {
	n, err := Unmarshal(b)
	if err != nil {
		return err
	}
	t.Node = n
	return nil
}

// MarshalCBOR implements cbor.Marshaler: [0].
func (e Empty) MarshalCBOR() ([]byte, error) { return Marshal(e) }

// MarshalCBOR implements cbor.Marshaler: [1, left, right].
func (f Fork) MarshalCBOR() ([]byte, error) { return Marshal(f) }

// MarshalCBOR implements cbor.Marshaler: [2, label, tree].
func (l Labeled) MarshalCBOR() ([]byte, error) { return Marshal(l) }

// MarshalCBOR implements cbor.Marshaler: [3, value].
func (l Leaf) MarshalCBOR() ([]byte, error) { return Marshal(l) }

// MarshalCBOR implements cbor.Marshaler: [4, hash].
func (p Pruned) MarshalCBOR() ([]byte, error) { return Marshal(p) }
