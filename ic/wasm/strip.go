package wasm

import (
	"fmt"
	"slices"
)

// FunctionNames decodes the function names of the "name" custom section (its subsection 1):
// function index (imports first) to name. A module without a name section, or one without
// function names, gives an empty map; a malformed one gives a *DecodeError.
func (m *Module) FunctionNames() (map[uint32]string, error) {
	names := map[uint32]string{}
	data, ok := m.CustomSection("name")
	if !ok {
		return names, nil
	}
	r := &reader{b: data}
	for !r.eof() {
		id, err := r.byte("name subsection id")
		if err != nil {
			return nil, err
		}
		size, _, err := r.uleb("name subsection size", uint64(len(r.b)))
		if err != nil {
			return nil, err
		}
		sub, err := r.bytes("name subsection", int(size))
		if err != nil {
			return nil, err
		}
		if id != 1 {
			continue
		}
		sr := &reader{b: sub}
		n, err := sr.count("function name count", 2)
		if err != nil {
			return nil, err
		}
		for range n {
			idx, err := sr.u32("function index")
			if err != nil {
				return nil, err
			}
			name, err := sr.name("function name")
			if err != nil {
				return nil, err
			}
			names[idx] = name
		}
		if !sr.eof() {
			return nil, sr.fail("function names: bytes left over", nil)
		}
	}
	return names, nil
}

// StripCustomSections removes every custom section for which keep returns false and returns the
// removed sections, in module order.
func (m *Module) StripCustomSections(keep func(name string) bool) []Custom {
	var removed []Custom
	m.Sections = slices.DeleteFunc(m.Sections, func(s Section) bool {
		if s.ID != SecCustom || keep(s.Custom.Name) {
			return false
		}
		removed = append(removed, *s.Custom)
		return true
	})
	return removed
}

// Unreachable returns the defined functions (by function index, imports first) that no code
// can run: not exported, not the start function, not in an element segment (so no
// call_indirect reaches them), not named by a ref.func in a global, and not called or
// ref.func'd by a function that can run. The result is sorted.
func (m *Module) Unreachable() ([]uint32, error) {
	imported := uint32(m.NumImportedFuncs())
	total := imported + uint32(len(m.Codes))
	live := make([]bool, total)
	var work []uint32
	mark := func(f uint32) {
		if f < total && !live[f] {
			live[f] = true
			work = append(work, f)
		}
	}
	refs := func(code []byte, offset int) error {
		r := NewInstrReader(code, offset)
		for !r.Done() {
			in, err := r.Next()
			if err != nil {
				return err
			}
			if in.Op == OpCall || in.Op == OpRefFunc {
				mark(in.Index)
			}
		}
		return nil
	}
	for _, e := range m.Exports {
		if e.Kind == KindFunc {
			mark(e.Index)
		}
	}
	if m.Start != nil {
		mark(*m.Start)
	}
	for i, g := range m.Globals {
		if err := refs(g.Init, 0); err != nil {
			return nil, fmt.Errorf("global %d: %w", i, err)
		}
	}
	els, err := m.Elements()
	if err != nil {
		return nil, err
	}
	for i, e := range els {
		for _, f := range e.Funcs {
			mark(f)
		}
		for _, x := range e.Exprs {
			if err := refs(x, 0); err != nil {
				return nil, fmt.Errorf("element %d: %w", i, err)
			}
		}
	}
	for len(work) > 0 {
		f := work[len(work)-1]
		work = work[:len(work)-1]
		if f < imported {
			continue
		}
		body := m.Codes[f-imported].Body
		_, start, err := SplitBody(body)
		if err != nil {
			return nil, fmt.Errorf("function %d: %w", f, err)
		}
		if err := refs(body[start:], 0); err != nil {
			return nil, fmt.Errorf("function %d: %w", f, err)
		}
	}
	var dead []uint32
	for f := imported; f < total; f++ {
		if !live[f] {
			dead = append(dead, f)
		}
	}
	return dead, nil
}
