package candid

import (
	"fmt"

	"github.com/icws/icws/ic/leb128"
)

// tableBuilder writes the type table of a message. Composite types get one entry each; entries
// that are byte-for-byte identical are shared, so structurally identical types are written once.
// Types on a cycle (recursive types) are given their index before their entry is written.
type tableBuilder struct {
	entries [][]byte
	byNode  map[*node]int
	byKey   map[string]int
	heads   map[*node]bool // nodes met again while being visited: the heads of cycles
}

// appendHeader appends the magic number, the type table and the argument types of a message
// whose arguments have the given types.
func appendHeader(dst []byte, args []*node) ([]byte, error) {
	b := tableBuilder{byNode: map[*node]int{}, byKey: map[string]int{}, heads: map[*node]bool{}}
	state := map[*node]uint8{}
	for _, a := range args {
		if err := b.findHeads(a, state); err != nil {
			return nil, err
		}
	}
	refs := make([]int64, len(args))
	for i, a := range args {
		refs[i] = b.ref(a)
	}
	dst = append(dst, magic...)
	dst = leb128.AppendUint(dst, uint64(len(b.entries)))
	for _, e := range b.entries {
		dst = append(dst, e...)
	}
	dst = leb128.AppendUint(dst, uint64(len(refs)))
	for _, r := range refs {
		dst = leb128.AppendInt(dst, r)
	}
	return dst, nil
}

func (b *tableBuilder) findHeads(n *node, state map[*node]uint8) error {
	if n == nil {
		return fmt.Errorf("%w: a type contains an interface, which cannot be encoded", ErrUnsupportedType)
	}
	if n.kind == kindPlaceholder || n.kind == KindFuture {
		return fmt.Errorf("%w: type %s cannot be encoded", ErrUnsupportedType, n.kind)
	}
	if n.kind.IsPrimitive() {
		return nil
	}
	switch state[n] {
	case 1:
		b.heads[n] = true
		return nil
	case 2:
		return nil
	}
	state[n] = 1
	var err error
	b.children(n, func(c *node) {
		if err == nil {
			err = b.findHeads(c, state)
		}
	})
	state[n] = 2
	return err
}

// children calls f on the types n refers to, in the order of its table entry.
func (b *tableBuilder) children(n *node, f func(*node)) {
	switch n.kind {
	case KindOpt, KindVec:
		f(n.elem)
	case KindRecord, KindVariant:
		for _, fl := range n.fields {
			f(fl.typ)
		}
	case KindFunc:
		for _, a := range n.fn.args {
			f(a)
		}
		for _, r := range n.fn.results {
			f(r)
		}
	case KindService:
		for _, m := range n.methods {
			f(m.typ)
		}
	}
}

// ref returns the type reference of n: its opcode or its table index.
func (b *tableBuilder) ref(n *node) int64 {
	if n.kind.IsPrimitive() {
		return int64(n.kind)
	}
	if i, ok := b.byNode[n]; ok {
		return int64(i)
	}
	if b.heads[n] {
		i := len(b.entries)
		b.entries = append(b.entries, nil)
		b.byNode[n] = i
		b.entries[i] = b.entry(n)
		return int64(i)
	}
	e := b.entry(n)
	if i, ok := b.byKey[string(e)]; ok {
		b.byNode[n] = i
		return int64(i)
	}
	i := len(b.entries)
	b.entries = append(b.entries, e)
	b.byNode[n] = i
	b.byKey[string(e)] = i
	return int64(i)
}

func (b *tableBuilder) entry(n *node) []byte {
	e := leb128.AppendInt(nil, int64(n.kind))
	switch n.kind {
	case KindOpt, KindVec:
		e = leb128.AppendInt(e, b.ref(n.elem))
	case KindRecord, KindVariant:
		e = leb128.AppendUint(e, uint64(len(n.fields)))
		for _, f := range n.fields {
			e = leb128.AppendUint(e, uint64(f.id))
			e = leb128.AppendInt(e, b.ref(f.typ))
		}
	case KindFunc:
		for _, list := range [][]*node{n.fn.args, n.fn.results} {
			e = leb128.AppendUint(e, uint64(len(list)))
			for _, t := range list {
				e = leb128.AppendInt(e, b.ref(t))
			}
		}
		e = leb128.AppendUint(e, uint64(len(n.fn.modes)))
		for _, m := range n.fn.modes {
			e = append(e, byte(m))
		}
	case KindService:
		e = leb128.AppendUint(e, uint64(len(n.methods)))
		for _, m := range n.methods {
			e = leb128.AppendUint(e, uint64(len(m.name)))
			e = append(e, m.name...)
			e = leb128.AppendInt(e, b.ref(m.typ))
		}
	}
	return e
}
