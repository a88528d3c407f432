package candid

import (
	"fmt"
	"math"
	"unicode/utf8"
)

// readHeader reads the magic number, the type table and the argument types.
func (d *decoder) readHeader() error {
	if len(d.data) < 4 || string(d.data[:4]) != magic {
		return d.invalid("missing magic number DIDL")
	}
	d.pos = 4
	n, err := d.length(2, "type table length")
	if err != nil {
		return err
	}
	if n > MaxTypeTable {
		return d.fail(ErrLimit, "type table has %d entries, at most %d allowed", n, MaxTypeTable)
	}
	d.table = make([]node, n)
	for i := range d.table {
		d.table[i].minSize = -2
	}
	for i := range d.table {
		if err := d.readEntry(&d.table[i]); err != nil {
			return withPath(err, fmt.Sprintf("type table entry %d", i))
		}
	}
	for i := range d.table {
		for _, m := range d.table[i].methods {
			if m.typ.kind != KindFunc {
				return d.invalid("type table entry %d: method %q has type %s, not a function type", i, m.name, m.typ.kind)
			}
		}
	}
	argc, err := d.length(1, "argument count")
	if err != nil {
		return err
	}
	d.args = make([]*node, argc)
	for i := range d.args {
		if d.args[i], err = d.typeRef("argument type"); err != nil {
			return err
		}
	}
	computeSizes(d.table)
	return d.charge(4 * d.pos)
}

// typeRef reads a reference to a type: a primitive opcode or a type table index.
func (d *decoder) typeRef(what string) (*node, error) {
	start := d.pos
	v, err := d.sleb(what)
	if err != nil {
		return nil, err
	}
	if v >= 0 {
		if v >= int64(len(d.table)) {
			d.pos = start
			return nil, d.invalid("%s: type index %d out of range (table has %d entries)", what, v, len(d.table))
		}
		return &d.table[v], nil
	}
	if v < int64(KindFuture) || !Kind(v).IsPrimitive() {
		d.pos = start
		return nil, d.invalid("%s: opcode %d is not a primitive type or a table index", what, v)
	}
	return primNode(Kind(v)), nil
}

func (d *decoder) readEntry(n *node) error {
	start := d.pos
	op, err := d.sleb("type opcode")
	if err != nil {
		return err
	}
	k := Kind(op)
	if op < int64(KindPrincipal) {
		k = KindFuture
	} else if op >= 0 {
		k = kindPlaceholder // not a type constructor
	}
	switch {
	case k == KindOpt || k == KindVec:
		n.kind = k
		n.elem, err = d.typeRef(k.String() + " element type")
		return err
	case k == KindRecord || k == KindVariant:
		n.kind = k
		count, err := d.length(2, "field count")
		if err != nil {
			return err
		}
		n.fields = make([]field, count)
		for j := range n.fields {
			id, err := d.uleb("field id")
			if err != nil {
				return err
			}
			if id > math.MaxUint32 {
				return d.invalid("field id %d does not fit in 32 bits", id)
			}
			if j > 0 && uint32(id) <= n.fields[j-1].id {
				return d.invalid("field ids not strictly increasing: %d after %d", id, n.fields[j-1].id)
			}
			n.fields[j].id = uint32(id)
			if n.fields[j].typ, err = d.typeRef("field type"); err != nil {
				return err
			}
		}
		return nil
	case k == KindFunc:
		n.kind = k
		n.fn = &funcSig{}
		for _, list := range []*[]*node{&n.fn.args, &n.fn.results} {
			count, err := d.length(1, "function argument count")
			if err != nil {
				return err
			}
			*list = make([]*node, count)
			for j := range *list {
				if (*list)[j], err = d.typeRef("function argument type"); err != nil {
					return err
				}
			}
		}
		count, err := d.length(1, "function annotation count")
		if err != nil {
			return err
		}
		if count > 1 {
			return d.invalid("function has %d annotations, at most 1 allowed", count)
		}
		for range count {
			b, _ := d.readByte("function annotation")
			if FuncMode(b) < Query || FuncMode(b) > CompositeQuery {
				return d.invalid("unknown function annotation %d", b)
			}
			n.fn.modes = append(n.fn.modes, FuncMode(b))
		}
		return nil
	case k == KindService:
		n.kind = k
		count, err := d.length(2, "method count")
		if err != nil {
			return err
		}
		n.methods = make([]method, count)
		for j := range n.methods {
			l, err := d.length(1, "method name length")
			if err != nil {
				return err
			}
			name, _ := d.readBytes(l, "method name")
			if !utf8.Valid(name) {
				return d.invalid("method name is not valid UTF-8")
			}
			if j > 0 && string(name) <= n.methods[j-1].name {
				return d.invalid("method names not strictly increasing: %q after %q", name, n.methods[j-1].name)
			}
			n.methods[j].name = string(name)
			refPos := d.pos
			if n.methods[j].typ, err = d.typeRef("method type"); err != nil {
				return err
			}
			if n.methods[j].typ.kind.IsPrimitive() {
				d.pos = refPos
				return d.invalid("method %q has a primitive type, not a function type", name)
			}
		}
		return nil
	case k == KindFuture:
		n.kind = KindFuture
		l, err := d.length(1, "future type length")
		if err != nil {
			return err
		}
		d.pos += l
		return nil
	default:
		d.pos = start
		return d.invalid("opcode %d is not a composite type", op)
	}
}

// maxFixedCost bounds fixedCost so that sums cannot overflow; it is far above any quota.
const maxFixedCost = 1 << 40

// computeSizes sets the size information of every table entry: minSize, and for types whose
// values all have the same size and need no validation (records of numbers and nulls), fixed,
// fixedCost and nest, so such values can be skipped in constant time. Entries start with
// minSize -2 (not computed); -1 marks an entry being computed: a recursive type, whose minimum
// size is then taken as 0 and which is not fixed.
func computeSizes(table []node) {
	var visit func(n *node)
	visit = func(n *node) {
		n.minSize, n.fixed = -1, -1
		s := 0
		switch n.kind {
		case KindOpt, KindVec, KindVariant:
			s = 1
		case KindFunc:
			s = 4
		case KindService, KindFuture:
			s = 2
		case KindRecord:
			fixed, cost, nest := 0, 1, 0
			for _, f := range n.fields {
				if f.typ.minSize == -2 {
					visit(f.typ)
				}
				s = min(s+max(f.typ.minSize, 0), 1<<30)
				if fixed >= 0 && f.typ.minSize >= 0 && f.typ.fixed >= 0 {
					fixed = min(fixed+f.typ.fixed, 1<<30)
					cost = min(cost+4+f.typ.fixedCost, maxFixedCost)
					nest = max(nest, f.typ.nest+1)
				} else {
					fixed = -1
				}
			}
			if fixed >= 0 {
				n.fixed, n.fixedCost, n.nest = fixed, cost, nest
			}
		}
		n.minSize = s
	}
	for i := range table {
		if table[i].minSize == -2 {
			visit(&table[i])
		}
	}
}
