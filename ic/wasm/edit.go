package wasm

import (
	"cmp"
	"errors"
	"fmt"
	"slices"

	"github.com/icws/icws/ic/leb128"
)

// Editing helpers for a post-linker. Each keeps the module consistent: function indices are
// renumbered everywhere they occur (call and ref.func in bodies, exports, start, element
// segments, global initialisers, and the "name" section's function and local names).

// ErrEdit is the sentinel of every editing error.
var ErrEdit = errors.New("wasm: edit")

func editErr(format string, args ...any) error {
	return fmt.Errorf("%w: "+format, append([]any{ErrEdit}, args...)...)
}

// sectionIndex returns the position of the section with the id in m.Sections, adding an empty
// one at its place in the standard order when absent.
func (m *Module) sectionIndex(id byte) int {
	order := []byte{SecType, SecImport, SecFunction, SecTable, SecMemory, SecTag, SecGlobal, SecExport,
		SecStart, SecElement, SecDataCount, SecCode, SecData}
	rank := slices.Index(order, id)
	at := len(m.Sections)
	for i, s := range m.Sections {
		if s.ID == id {
			return i
		}
		if r := slices.Index(order, s.ID); s.ID != SecCustom && r > rank {
			at = i
			break
		}
	}
	m.Sections = slices.Insert(m.Sections, at, Section{ID: id})
	return at
}

// TypeIndex returns the index of the signature in the type section, adding it when absent.
func (m *Module) TypeIndex(ft FuncType) uint32 {
	for i, t := range m.Types {
		if t.Equal(ft) {
			return uint32(i)
		}
	}
	m.sectionIndex(SecType)
	m.Types = append(m.Types, ft)
	return uint32(len(m.Types) - 1)
}

// AddFunction appends a defined function with the signature and body (local declarations and
// instructions, ending with end) and returns its function index.
func (m *Module) AddFunction(ft FuncType, body []byte) uint32 {
	ti := m.TypeIndex(ft)
	m.sectionIndex(SecFunction)
	m.sectionIndex(SecCode)
	m.Funcs = append(m.Funcs, ti)
	m.Codes = append(m.Codes, Code{Body: body})
	return uint32(m.NumImportedFuncs() + len(m.Funcs) - 1)
}

// ReplaceFunction replaces the body of the defined function with index idx.
func (m *Module) ReplaceFunction(idx uint32, body []byte) error {
	ni := uint32(m.NumImportedFuncs())
	if idx < ni || int(idx-ni) >= len(m.Codes) {
		return editErr("function %d is not a defined function", idx)
	}
	m.Codes[idx-ni] = Code{Body: body}
	return nil
}

// ImportIndex returns the function index of the function import module.name, or false.
func (m *Module) ImportIndex(module, name string) (uint32, bool) {
	k := uint32(0)
	for _, im := range m.Imports {
		if im.Kind != KindFunc {
			continue
		}
		if im.Module == module && im.Name == name {
			return k, true
		}
		k++
	}
	return 0, false
}

// ReplaceImport turns the function import module.name into a defined function with the same
// signature and the given body, and returns its new function index. Every function index in
// the module is renumbered.
func (m *Module) ReplaceImport(module, name string, body []byte) (uint32, error) {
	k, ok := m.ImportIndex(module, name)
	if !ok {
		return 0, editErr("no function import %s.%s", module, name)
	}
	ft, _ := m.FuncType(k)
	ni := uint32(m.NumImportedFuncs())
	last := ni - 1 + uint32(len(m.Funcs)) // the new index of the replaced import
	remap := func(i uint32) uint32 {
		switch {
		case i == k:
			return last
		case i > k:
			return i - 1
		}
		return i
	}
	if err := m.renumberFuncs(remap); err != nil {
		return 0, err
	}
	for i, im := range m.Imports {
		if im.Kind == KindFunc && im.Module == module && im.Name == name {
			m.Imports = slices.Delete(m.Imports, i, i+1)
			break
		}
	}
	m.Funcs = append(m.Funcs, m.TypeIndex(ft))
	m.Codes = append(m.Codes, Code{Body: body})
	m.sectionIndex(SecFunction)
	m.sectionIndex(SecCode)
	return last, nil
}

// renumberFuncs applies remap to every function index in the module.
func (m *Module) renumberFuncs(remap func(uint32) uint32) error {
	for i := range m.Codes {
		b, err := renumberBody(m.Codes[i].Body, remap)
		if err != nil {
			return editErr("function body %d: %v", i, err)
		}
		m.Codes[i] = Code{Body: b}
	}
	for i := range m.Exports {
		if m.Exports[i].Kind == KindFunc {
			m.Exports[i].Index = remap(m.Exports[i].Index)
		}
	}
	if m.Start != nil {
		s := remap(*m.Start)
		m.Start = &s
	}
	for i := range m.Globals {
		b, err := renumberExpr(m.Globals[i].Init, remap)
		if err != nil {
			return editErr("global %d: %v", i, err)
		}
		m.Globals[i].Init = b
	}
	els, err := m.Elements()
	if err != nil {
		return err
	}
	for i := range els {
		for j := range els[i].Funcs {
			els[i].Funcs[j] = remap(els[i].Funcs[j])
		}
		for j := range els[i].Exprs {
			if els[i].Exprs[j], err = renumberExpr(els[i].Exprs[j], remap); err != nil {
				return editErr("element %d: %v", i, err)
			}
		}
	}
	if els != nil {
		m.SetElements(els)
	}
	return m.renumberNames(remap)
}

func renumberBody(body []byte, remap func(uint32) uint32) ([]byte, error) {
	_, start, err := SplitBody(body)
	if err != nil {
		return nil, err
	}
	out := append(make([]byte, 0, len(body)+8), body[:start]...)
	code, err := renumberExpr(body[start:], remap)
	return append(out, code...), err
}

// renumberExpr rewrites the call and ref.func immediates of the instructions in code.
func renumberExpr(code []byte, remap func(uint32) uint32) ([]byte, error) {
	out := make([]byte, 0, len(code)+8)
	r := NewInstrReader(code, 0)
	for !r.Done() {
		pos := r.Pos()
		in, err := r.Next()
		if err != nil {
			return nil, err
		}
		if in.Op == OpCall || in.Op == OpRefFunc {
			out = leb128.AppendUint(append(out, byte(in.Op)), uint64(remap(in.Index)))
			continue
		}
		out = append(out, code[pos:pos+in.Len]...)
	}
	return out, nil
}

// Element is one element segment. Flags is the segment's encoding (0–7 in the binary format);
// Table and Offset are set for active segments; Funcs holds function indices (flags 0–3),
// Exprs constant expressions (flags 4–7); Kind is the element kind or reference type byte.
type Element struct {
	Flags  uint32
	Table  uint32
	Offset []byte
	Kind   byte
	Funcs  []uint32
	Exprs  [][]byte
}

// Elements decodes the element section (nil if there is none).
func (m *Module) Elements() ([]Element, error) {
	var raw []byte
	found := false
	for _, s := range m.Sections {
		if s.ID == SecElement {
			raw, found = s.Raw, true
		}
	}
	if !found {
		return nil, nil
	}
	r := &reader{b: raw}
	n, err := r.count("element count", 2)
	if err != nil {
		return nil, err
	}
	els := make([]Element, n)
	for i := range els {
		e := &els[i]
		if e.Flags, err = r.u32("element flags"); err != nil {
			return nil, err
		}
		if e.Flags > 7 {
			return nil, r.fail(fmt.Sprintf("element flags %d, want 0..7", e.Flags), nil)
		}
		active := e.Flags&1 == 0
		if active && e.Flags&2 != 0 {
			if e.Table, err = r.u32("element table"); err != nil {
				return nil, err
			}
		}
		if active {
			if e.Offset, err = r.constExpr("element offset"); err != nil {
				return nil, err
			}
		}
		if e.Flags&3 != 0 {
			if e.Kind, err = r.byte("element kind"); err != nil {
				return nil, err
			}
		}
		k, err := r.count("element items", 1)
		if err != nil {
			return nil, err
		}
		for range k {
			if e.Flags&4 == 0 {
				f, err := r.u32("element function")
				if err != nil {
					return nil, err
				}
				e.Funcs = append(e.Funcs, f)
			} else {
				x, err := r.constExpr("element expression")
				if err != nil {
					return nil, err
				}
				e.Exprs = append(e.Exprs, x)
			}
		}
	}
	if !r.eof() {
		return nil, r.fail("element section: bytes left over", nil)
	}
	return els, nil
}

// SetElements encodes the element segments into the element section.
func (m *Module) SetElements(els []Element) {
	p := leb128.AppendUint(nil, uint64(len(els)))
	for _, e := range els {
		p = leb128.AppendUint(p, uint64(e.Flags))
		if e.Flags&1 == 0 && e.Flags&2 != 0 {
			p = leb128.AppendUint(p, uint64(e.Table))
		}
		if e.Flags&1 == 0 {
			p = append(p, e.Offset...)
		}
		if e.Flags&3 != 0 {
			p = append(p, e.Kind)
		}
		if e.Flags&4 == 0 {
			p = leb128.AppendUint(p, uint64(len(e.Funcs)))
			for _, f := range e.Funcs {
				p = leb128.AppendUint(p, uint64(f))
			}
		} else {
			p = leb128.AppendUint(p, uint64(len(e.Exprs)))
			for _, x := range e.Exprs {
				p = append(p, x...)
			}
		}
	}
	i := m.sectionIndex(SecElement)
	m.Sections[i].Raw = p
}

// renumberNames rewrites the function indices of the "name" section's function names
// (subsection 1) and local names (subsection 2).
func (m *Module) renumberNames(remap func(uint32) uint32) error {
	for si := range m.Sections {
		s := &m.Sections[si]
		if s.ID != SecCustom || s.Custom.Name != "name" {
			continue
		}
		r := &reader{b: s.Custom.Data}
		var out []byte
		for !r.eof() {
			id, _ := r.byte("name subsection id")
			size, _, err := r.uleb("name subsection size", uint64(len(r.b)))
			if err != nil {
				return err
			}
			sub, err := r.bytes("name subsection", int(size))
			if err != nil {
				return err
			}
			if id == 1 || id == 2 {
				if sub, err = renumberNameMap(sub, id == 2, remap); err != nil {
					return err
				}
			}
			out = append(leb128.AppendUint(append(out, id), uint64(len(sub))), sub...)
		}
		s.Custom = &Custom{Name: "name", Data: out}
	}
	return nil
}

func renumberNameMap(sub []byte, indirect bool, remap func(uint32) uint32) ([]byte, error) {
	type entry struct {
		idx  uint32
		rest []byte
	}
	r := &reader{b: sub}
	n, err := r.count("name map count", 2)
	if err != nil {
		return nil, err
	}
	es := make([]entry, n)
	for i := range es {
		idx, err := r.u32("name map index")
		if err != nil {
			return nil, err
		}
		start := r.pos
		if indirect {
			k, err := r.count("local name count", 2)
			if err != nil {
				return nil, err
			}
			for range k {
				if _, err := r.u32("local index"); err != nil {
					return nil, err
				}
				if _, err := r.name("local name"); err != nil {
					return nil, err
				}
			}
		} else if _, err := r.name("function name"); err != nil {
			return nil, err
		}
		es[i] = entry{remap(idx), r.b[start:r.pos]}
	}
	slices.SortStableFunc(es, func(a, b entry) int { return cmp.Compare(a.idx, b.idx) })
	out := leb128.AppendUint(nil, uint64(n))
	for _, e := range es {
		out = append(leb128.AppendUint(out, uint64(e.idx)), e.rest...)
	}
	return out, nil
}

// RenameExport renames the export old to name.
func (m *Module) RenameExport(old, name string) error {
	for i := range m.Exports {
		if m.Exports[i].Name == old {
			m.Exports[i].Name = name
			return nil
		}
	}
	return editErr("no export %q", old)
}

// AddExport adds an export; the name must be new.
func (m *Module) AddExport(e Export) error {
	for _, x := range m.Exports {
		if x.Name == e.Name {
			return editErr("export %q exists", e.Name)
		}
	}
	m.sectionIndex(SecExport)
	m.Exports = append(m.Exports, e)
	return nil
}

// RemoveExport removes the export with the name.
func (m *Module) RemoveExport(name string) error {
	for i := range m.Exports {
		if m.Exports[i].Name == name {
			m.Exports = slices.Delete(m.Exports, i, i+1)
			return nil
		}
	}
	return editErr("no export %q", name)
}

// MergeData merges active data segments of memory 0 with constant offsets into as few
// segments as possible: segments closer than maxGap bytes become one, the gap filled with
// zeros. Passive segments are referred to by index, so a module with any is left alone and
// gets an error.
func (m *Module) MergeData(maxGap uint64) error {
	type seg struct {
		off  uint64
		init []byte
	}
	segs := make([]seg, 0, len(m.Data))
	op := byte(0x41)
	for i, d := range m.Data {
		if d.Mode == 1 || d.MemIdx != 0 {
			return editErr("data segment %d is passive or not in memory 0", i)
		}
		r := NewInstrReader(d.Offset, 0)
		in, err := r.Next()
		if err != nil || (in.Op != OpI32Const && in.Op != OpI64Const) || r.Pos() != len(d.Offset)-1 {
			return editErr("data segment %d has a non-constant offset", i)
		}
		op = byte(in.Op)
		off := in.Imm
		if in.Op == OpI32Const {
			off = uint64(uint32(in.Imm))
		}
		segs = append(segs, seg{off, d.Init})
	}
	slices.SortStableFunc(segs, func(a, b seg) int { return cmp.Compare(a.off, b.off) })
	var merged []Data
	for _, s := range segs {
		if n := len(merged); n > 0 {
			prev := &merged[n-1]
			end := dataOffset(prev.Offset) + uint64(len(prev.Init))
			if s.off >= end && s.off-end <= maxGap {
				prev.Init = append(append(prev.Init, make([]byte, s.off-end)...), s.init...)
				continue
			}
			if s.off < end {
				return editErr("data segments overlap at offset %d", s.off)
			}
		}
		var expr []byte
		if op == byte(OpI32Const) {
			expr = leb128.AppendInt([]byte{op}, int64(int32(uint32(s.off))))
		} else {
			expr = leb128.AppendInt([]byte{op}, int64(s.off))
		}
		merged = append(merged, Data{Offset: append(expr, byte(OpEnd)), Init: slices.Clone(s.init)})
	}
	m.Data = merged
	if m.DataCount != nil {
		n := uint32(len(merged))
		m.DataCount = &n
	}
	return nil
}

func dataOffset(expr []byte) uint64 {
	in, _ := NewInstrReader(expr, 0).Next()
	if in.Op == OpI32Const {
		return uint64(uint32(in.Imm))
	}
	return in.Imm
}

// AddImport adds a function import after the existing ones and returns its function index; the
// defined functions move up by one and every function index is renumbered.
func (m *Module) AddImport(module, name string, ft FuncType) (uint32, error) {
	ni := uint32(m.NumImportedFuncs())
	if err := m.renumberFuncs(func(i uint32) uint32 {
		if i >= ni {
			return i + 1
		}
		return i
	}); err != nil {
		return 0, err
	}
	ti := m.TypeIndex(ft)
	at := len(m.Imports)
	for i, im := range m.Imports {
		if im.Kind == KindFunc {
			at = i + 1
		}
	}
	m.sectionIndex(SecImport)
	m.Imports = slices.Insert(m.Imports, at, Import{Module: module, Name: name, Kind: KindFunc, TypeIdx: ti})
	return ni, nil
}

// AddGlobal appends a global and returns its index (IC modules import no globals).
func (m *Module) AddGlobal(g Global) uint32 {
	m.sectionIndex(SecGlobal)
	m.Globals = append(m.Globals, g)
	n := uint32(len(m.Globals) - 1)
	for _, im := range m.Imports {
		if im.Kind == KindGlobal {
			n++
		}
	}
	return n
}

// RemoveStart removes the start function, returning its index, or false when there is none.
func (m *Module) RemoveStart() (uint32, bool) {
	if m.Start == nil {
		return 0, false
	}
	s := *m.Start
	m.Start = nil
	m.Sections = slices.DeleteFunc(m.Sections, func(s Section) bool { return s.ID == SecStart })
	return s, true
}

// SetStart makes the function with index idx the module's start function.
func (m *Module) SetStart(idx uint32) {
	m.sectionIndex(SecStart)
	m.Start = &idx
}
