package candid

// subtyper decides the subtype relation t1 <: t2 of the spec, coinductively: a pair of types
// that is being checked is assumed to be related when it is met again (recursive types).
type subtyper struct {
	assumed map[[2]*node]struct{}
	refuted map[[2]*node]struct{} // pairs found not related; assumptions cannot change that
}

// isSubtype reports whether wire type t1 is a subtype of expected type t2. It costs the size of
// the type table, like the reference implementation.
func (d *decoder) isSubtype(t1, t2 *node) (bool, error) {
	if err := d.charge(len(d.table) + 1); err != nil {
		return false, err
	}
	if d.sub == nil {
		d.sub = &subtyper{assumed: map[[2]*node]struct{}{}, refuted: map[[2]*node]struct{}{}}
	}
	return d.sub.sub(t1, t2, 0), nil
}

// Subtype reports whether t1 <: t2 under the subtyping rules of the Candid specification
// (including the rule that makes every type a subtype of any opt type).
func Subtype(t1, t2 Type) bool {
	s := subtyper{assumed: map[[2]*node]struct{}{}, refuted: map[[2]*node]struct{}{}}
	return s.sub(t1.check("Subtype"), t2.check("Subtype"), 0)
}

func (s *subtyper) sub(t1, t2 *node, depth int) bool {
	if t1 == t2 {
		return true
	}
	if depth > MaxDepth {
		return false
	}
	composite := !t1.kind.IsPrimitive() || !t2.kind.IsPrimitive()
	key := [2]*node{t1, t2}
	if composite {
		if _, ok := s.assumed[key]; ok {
			return true
		}
		if _, ok := s.refuted[key]; ok {
			return false
		}
		s.assumed[key] = struct{}{}
	}
	ok := s.rule(t1, t2, depth+1)
	if !ok && composite {
		delete(s.assumed, key)
		s.refuted[key] = struct{}{}
	}
	return ok
}

func (s *subtyper) rule(t1, t2 *node, depth int) bool {
	switch {
	case t2.kind == KindReserved, t1.kind == KindEmpty:
		return true
	case t1.kind == KindNat && t2.kind == KindInt:
		return true
	case t1.kind == KindService && t2.kind == KindPrincipal:
		return true
	case t2.kind == KindOpt:
		// null <: opt t; opt t1 <: opt t2 if t1 <: t2; t1 <: opt t2 if t1 <: t2 and t2 is not
		// null-like; and, by the special opt rule, every other type: so always.
		return true
	case t1.kind != t2.kind:
		return false
	}
	switch t1.kind {
	case KindVec:
		return s.sub(t1.elem, t2.elem, depth)
	case KindRecord:
		i := 0
		for _, f2 := range t2.fields {
			for i < len(t1.fields) && t1.fields[i].id < f2.id {
				i++
			}
			if i < len(t1.fields) && t1.fields[i].id == f2.id {
				if !s.sub(t1.fields[i].typ, f2.typ, depth) {
					return false
				}
			} else if !nullish(f2.typ.kind) {
				return false
			}
		}
		return true
	case KindVariant:
		j := 0
		for _, f1 := range t1.fields {
			for j < len(t2.fields) && t2.fields[j].id < f1.id {
				j++
			}
			if j == len(t2.fields) || t2.fields[j].id != f1.id || !s.sub(f1.typ, t2.fields[j].typ, depth) {
				return false
			}
		}
		return true
	case KindService:
		i := 0
		for _, m2 := range t2.methods {
			for i < len(t1.methods) && t1.methods[i].name < m2.name {
				i++
			}
			if i == len(t1.methods) || t1.methods[i].name != m2.name || !s.sub(t1.methods[i].typ, m2.typ, depth) {
				return false
			}
		}
		return true
	case KindFunc:
		f1, f2 := t1.fn, t2.fn
		if len(f1.modes) != len(f2.modes) {
			return false
		}
		for i := range f1.modes {
			if f1.modes[i] != f2.modes[i] {
				return false
			}
		}
		return s.tuple(f2.args, f1.args, depth) && s.tuple(f1.results, f2.results, depth)
	}
	return true // equal primitive kinds, or two future types
}

// tuple reports whether record {a...} <: record {b...} with fields numbered 0, 1, ...
func (s *subtyper) tuple(a, b []*node, depth int) bool {
	for i, t2 := range b {
		if i < len(a) {
			if !s.sub(a[i], t2, depth) {
				return false
			}
		} else if !nullish(t2.kind) {
			return false
		}
	}
	return true
}
