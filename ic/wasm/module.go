// Package wasm decodes, encodes, checks and edits WebAssembly binary modules (wasm32 and
// memory64/table64) as the Internet Computer accepts them.
//
// Decode parses every section. Encode writes the module back; for a module that was not
// changed, Encode(Decode(b)) equals b byte for byte, because the decoder records the width
// of every padded section and body size (Go's linker writes 5-byte sizes) and keeps function
// bodies, constant expressions, element and tag sections as the bytes they were.
// CheckIC applies the IC's module requirements; DecodeIC accepts gzip-compressed input too.
package wasm

import (
	"errors"
	"fmt"
	"slices"

	"github.com/icws/icws/ic/leb128"
)

// Section ids of the binary format.
const (
	SecCustom    byte = 0
	SecType      byte = 1
	SecImport    byte = 2
	SecFunction  byte = 3
	SecTable     byte = 4
	SecMemory    byte = 5
	SecGlobal    byte = 6
	SecExport    byte = 7
	SecStart     byte = 8
	SecElement   byte = 9
	SecCode      byte = 10
	SecData      byte = 11
	SecDataCount byte = 12
	SecTag       byte = 13
)

// ValType is a value type byte (i32 0x7f, i64 0x7e, f32 0x7d, f64 0x7c, v128 0x7b, funcref 0x70,
// externref 0x6f).
type ValType byte

// Value types.
const (
	I32       ValType = 0x7f
	I64       ValType = 0x7e
	F32       ValType = 0x7d
	F64       ValType = 0x7c
	V128      ValType = 0x7b
	FuncRef   ValType = 0x70
	ExternRef ValType = 0x6f
)

// String returns the text-format name of the type.
func (v ValType) String() string {
	switch v {
	case I32:
		return "i32"
	case I64:
		return "i64"
	case F32:
		return "f32"
	case F64:
		return "f64"
	case V128:
		return "v128"
	case FuncRef:
		return "funcref"
	case ExternRef:
		return "externref"
	}
	return fmt.Sprintf("valtype(0x%02x)", byte(v))
}

// FuncType is a function signature.
type FuncType struct {
	Params, Results []ValType
}

// Equal reports whether two signatures are the same.
func (f FuncType) Equal(g FuncType) bool {
	return string(valBytes(f.Params)) == string(valBytes(g.Params)) &&
		string(valBytes(f.Results)) == string(valBytes(g.Results))
}

// String returns the signature as "(i32, i32) -> (i64)".
func (f FuncType) String() string {
	s := "("
	for i, p := range f.Params {
		if i > 0 {
			s += ", "
		}
		s += p.String()
	}
	s += ") -> ("
	for i, r := range f.Results {
		if i > 0 {
			s += ", "
		}
		s += r.String()
	}
	return s + ")"
}

func valBytes(v []ValType) []byte {
	b := make([]byte, len(v))
	for i, t := range v {
		b[i] = byte(t)
	}
	return b
}

// Limits are the limits of a memory or table. Flags bit 0 means Max is present, bit 1 shared,
// bit 2 64-bit indices (memory64 / table64).
type Limits struct {
	Flags    byte
	Min, Max uint64
}

// HasMax reports whether the limits have a maximum.
func (l Limits) HasMax() bool { return l.Flags&1 != 0 }

// Is64 reports whether the memory or table uses 64-bit indices.
func (l Limits) Is64() bool { return l.Flags&4 != 0 }

// Kinds of imports and exports.
const (
	KindFunc   byte = 0
	KindTable  byte = 1
	KindMemory byte = 2
	KindGlobal byte = 3
	KindTag    byte = 4
)

// Import is one entry of the import section. Desc holds the encoded description after the kind
// byte; for a function import TypeIdx is decoded from it.
type Import struct {
	Module, Name string
	Kind         byte
	TypeIdx      uint32 // KindFunc only
	Desc         []byte // the description as encoded (all kinds)
}

// Table is one table: element type and limits.
type Table struct {
	ElemType ValType
	Limits   Limits
}

// Global is one global: its type, mutability and initialiser (a constant expression, kept as
// encoded, including the final end opcode).
type Global struct {
	Type    ValType
	Mutable bool
	Init    []byte
}

// Export is one entry of the export section.
type Export struct {
	Name  string
	Kind  byte
	Index uint32
}

// Code is one function body: the local declarations and the instructions, kept as encoded
// (without the body size).
type Code struct {
	Body     []byte
	sizeWide int // width of the encoded body size when it was not minimal
}

// Data is one data segment. Mode 0: active in memory 0; 1: passive; 2: active with MemIdx.
// Offset is the offset constant expression as encoded, including the end opcode.
type Data struct {
	Mode   uint32
	MemIdx uint32
	Offset []byte
	Init   []byte
}

// Custom is a custom section: its name and contents.
type Custom struct {
	Name string
	Data []byte
}

// Section is one section in the order it appears. For standard sections, the contents are
// in the Module's fields and Section only fixes the position; for custom sections Custom holds
// them; Raw holds sections kept as bytes (element, tag and any unknown id).
type Section struct {
	ID     byte
	Custom *Custom
	Raw    []byte
	wide   int // width of the encoded size when it was not minimal
}

// Module is a decoded module.
type Module struct {
	Sections  []Section
	Types     []FuncType
	Imports   []Import
	Funcs     []uint32 // type index of each defined function
	Tables    []Table
	Memories  []Limits
	Globals   []Global
	Exports   []Export
	Start     *uint32
	Codes     []Code
	Data      []Data
	DataCount *uint32

	size int // bytes of the decoded input, a capacity hint for Encode
}

// Errors of the decoder; a *DecodeError wraps them with the offset.
var (
	// ErrNotWasm means the input does not start with the Wasm magic and version 1.
	ErrNotWasm = errors.New("wasm: not a WebAssembly binary module (want magic \\0asm and version 1)")
	// ErrMalformed means the input is not a well-formed binary module.
	ErrMalformed = errors.New("wasm: malformed module")
)

// DecodeError is a malformed-module error with its byte offset and what was wrong.
type DecodeError struct {
	Offset int
	What   string
	Err    error
}

func (e *DecodeError) Error() string {
	return fmt.Sprintf("wasm: malformed module at byte %d: %s", e.Offset, e.What)
}

// Unwrap returns ErrMalformed or the underlying cause.
func (e *DecodeError) Unwrap() []error { return []error{ErrMalformed, e.Err} }

// reader reads the binary format with offsets for errors.
type reader struct {
	b   []byte
	pos int
	off int // offset of b[0] in the module
}

func (r *reader) fail(what string, err error) error {
	return &DecodeError{Offset: r.off + r.pos, What: what, Err: err}
}

func (r *reader) eof() bool { return r.pos >= len(r.b) }

func (r *reader) byte(what string) (byte, error) {
	if r.pos >= len(r.b) {
		return 0, r.fail(what+": unexpected end", nil)
	}
	c := r.b[r.pos]
	r.pos++
	return c, nil
}

func (r *reader) uleb(what string, max uint64) (uint64, int, error) {
	v, n, err := leb128.Uint(r.b[r.pos:])
	if err != nil {
		return 0, 0, r.fail(what, err)
	}
	if v > max {
		return 0, 0, r.fail(fmt.Sprintf("%s: %d is too large", what, v), nil)
	}
	r.pos += n
	return v, n, nil
}

func (r *reader) u32(what string) (uint32, error) {
	v, _, err := r.uleb(what, 1<<32-1)
	return uint32(v), err
}

// count reads a vector length and checks it against the bytes left (each item is at least
// minSize bytes), so hostile lengths never allocate.
func (r *reader) count(what string, minSize int) (int, error) {
	n, err := r.u32(what)
	if err != nil {
		return 0, err
	}
	if uint64(n)*uint64(minSize) > uint64(len(r.b)-r.pos) {
		return 0, r.fail(fmt.Sprintf("%s: %d items do not fit in %d bytes", what, n, len(r.b)-r.pos), nil)
	}
	return int(n), nil
}

func (r *reader) bytes(what string, n int) ([]byte, error) {
	if n < 0 || n > len(r.b)-r.pos {
		return nil, r.fail(what+": unexpected end", nil)
	}
	b := r.b[r.pos : r.pos+n : r.pos+n]
	r.pos += n
	return b, nil
}

func (r *reader) name(what string) (string, error) {
	n, err := r.count(what, 1)
	if err != nil {
		return "", err
	}
	b, err := r.bytes(what, n)
	return string(b), err
}

func (r *reader) valType(what string) (ValType, error) {
	c, err := r.byte(what)
	if err != nil {
		return 0, err
	}
	switch ValType(c) {
	case I32, I64, F32, F64, V128, FuncRef, ExternRef:
		return ValType(c), nil
	}
	r.pos--
	return 0, r.fail(fmt.Sprintf("%s: unknown value type 0x%02x", what, c), nil)
}

func (r *reader) limits(what string) (Limits, error) {
	f, err := r.byte(what)
	if err != nil {
		return Limits{}, err
	}
	if f > 7 {
		r.pos--
		return Limits{}, r.fail(fmt.Sprintf("%s: unknown limits flags 0x%02x", what, f), nil)
	}
	l := Limits{Flags: f}
	if l.Min, _, err = r.uleb(what+" minimum", 1<<64-1); err != nil {
		return l, err
	}
	if l.HasMax() {
		if l.Max, _, err = r.uleb(what+" maximum", 1<<64-1); err != nil {
			return l, err
		}
	}
	return l, nil
}

// constExpr reads a constant expression up to and including its end opcode.
func (r *reader) constExpr(what string) ([]byte, error) {
	start := r.pos
	ir := InstrReader{b: r.b[r.pos:], off: r.off + r.pos}
	for {
		in, err := ir.Next()
		if err != nil {
			return nil, err
		}
		if in.Op == OpEnd {
			r.pos += ir.pos
			return r.b[start:r.pos:r.pos], nil
		}
	}
}

// sizeWidth returns 0 when n bytes is the minimal encoding of v, else n.
func sizeWidth(v uint64, n int) int {
	if len(leb128.AppendUint(nil, v)) == n {
		return 0
	}
	return n
}

// Decode parses a binary module. The result shares memory with b.
func Decode(b []byte) (*Module, error) {
	if len(b) < 8 || string(b[:4]) != "\x00asm" || string(b[4:8]) != "\x01\x00\x00\x00" {
		return nil, ErrNotWasm
	}
	m := &Module{size: len(b)}
	r := &reader{b: b, pos: 8}
	var seen [SecTag + 1]bool
	order := map[byte]int{SecType: 1, SecImport: 2, SecFunction: 3, SecTable: 4, SecMemory: 5,
		SecTag: 6, SecGlobal: 7, SecExport: 8, SecStart: 9, SecElement: 10, SecDataCount: 11,
		SecCode: 12, SecData: 13}
	last := 0
	for !r.eof() {
		id, _ := r.byte("section id")
		size, n, err := r.uleb("section size", uint64(len(b)))
		if err != nil {
			return nil, err
		}
		payload, err := r.bytes(fmt.Sprintf("section %d", id), int(size))
		if err != nil {
			return nil, err
		}
		s := Section{ID: id, wide: sizeWidth(size, n)}
		sr := &reader{b: payload, off: r.pos - int(size)}
		if id != SecCustom {
			o, ok := order[id]
			if !ok {
				return nil, sr.fail(fmt.Sprintf("unknown section id %d", id), nil)
			}
			if seen[id] || o < last {
				return nil, sr.fail(fmt.Sprintf("section %d is repeated or out of order", id), nil)
			}
			seen[id], last = true, o
		}
		if err := m.decodeSection(&s, sr); err != nil {
			return nil, err
		}
		if !sr.eof() {
			return nil, sr.fail(fmt.Sprintf("section %d: %d bytes left over", id, len(sr.b)-sr.pos), nil)
		}
		m.Sections = append(m.Sections, s)
	}
	if len(m.Funcs) != len(m.Codes) {
		return nil, &DecodeError{Offset: len(b), What: fmt.Sprintf("function section declares %d functions, code section has %d bodies", len(m.Funcs), len(m.Codes))}
	}
	if m.DataCount != nil && int(*m.DataCount) != len(m.Data) {
		return nil, &DecodeError{Offset: len(b), What: fmt.Sprintf("data count section says %d segments, data section has %d", *m.DataCount, len(m.Data))}
	}
	return m, nil
}

func (m *Module) decodeSection(s *Section, r *reader) error {
	switch s.ID {
	case SecCustom:
		name, err := r.name("custom section name")
		if err != nil {
			return err
		}
		s.Custom = &Custom{Name: name, Data: r.b[r.pos:len(r.b):len(r.b)]}
		r.pos = len(r.b)
	case SecType:
		n, err := r.count("type count", 3)
		if err != nil {
			return err
		}
		m.Types = make([]FuncType, 0, n)
		for range n {
			if c, err := r.byte("type form"); err != nil {
				return err
			} else if c != 0x60 {
				return r.fail(fmt.Sprintf("type form 0x%02x, want 0x60 (func)", c), nil)
			}
			var ft FuncType
			for _, list := range []*[]ValType{&ft.Params, &ft.Results} {
				k, err := r.count("value type count", 1)
				if err != nil {
					return err
				}
				*list = make([]ValType, k)
				for i := range k {
					if (*list)[i], err = r.valType("value type"); err != nil {
						return err
					}
				}
			}
			m.Types = append(m.Types, ft)
		}
	case SecImport:
		n, err := r.count("import count", 4)
		if err != nil {
			return err
		}
		m.Imports = make([]Import, 0, n)
		for range n {
			var im Import
			if im.Module, err = r.name("import module"); err != nil {
				return err
			}
			if im.Name, err = r.name("import name"); err != nil {
				return err
			}
			if im.Kind, err = r.byte("import kind"); err != nil {
				return err
			}
			start := r.pos
			switch im.Kind {
			case KindFunc:
				im.TypeIdx, err = r.u32("import type index")
			case KindTable:
				if _, err = r.valType("table element type"); err == nil {
					_, err = r.limits("table limits")
				}
			case KindMemory:
				_, err = r.limits("memory limits")
			case KindGlobal:
				if _, err = r.valType("global type"); err == nil {
					_, err = r.byte("global mutability")
				}
			case KindTag:
				if _, err = r.byte("tag attribute"); err == nil {
					_, err = r.u32("tag type index")
				}
			default:
				return r.fail(fmt.Sprintf("import kind 0x%02x unknown", im.Kind), nil)
			}
			if err != nil {
				return err
			}
			im.Desc = r.b[start:r.pos:r.pos]
			m.Imports = append(m.Imports, im)
		}
	case SecFunction:
		n, err := r.count("function count", 1)
		if err != nil {
			return err
		}
		m.Funcs = make([]uint32, n)
		for i := range n {
			if m.Funcs[i], err = r.u32("function type index"); err != nil {
				return err
			}
		}
	case SecTable:
		n, err := r.count("table count", 2)
		if err != nil {
			return err
		}
		for range n {
			var t Table
			if t.ElemType, err = r.valType("table element type"); err != nil {
				return err
			}
			if t.Limits, err = r.limits("table limits"); err != nil {
				return err
			}
			m.Tables = append(m.Tables, t)
		}
	case SecMemory:
		n, err := r.count("memory count", 2)
		if err != nil {
			return err
		}
		for range n {
			l, err := r.limits("memory limits")
			if err != nil {
				return err
			}
			m.Memories = append(m.Memories, l)
		}
	case SecGlobal:
		n, err := r.count("global count", 3)
		if err != nil {
			return err
		}
		m.Globals = make([]Global, 0, n)
		for range n {
			var g Global
			if g.Type, err = r.valType("global type"); err != nil {
				return err
			}
			mut, err := r.byte("global mutability")
			if err != nil {
				return err
			}
			if mut > 1 {
				return r.fail(fmt.Sprintf("global mutability 0x%02x, want 0 or 1", mut), nil)
			}
			g.Mutable = mut == 1
			if g.Init, err = r.constExpr("global init"); err != nil {
				return err
			}
			m.Globals = append(m.Globals, g)
		}
	case SecExport:
		n, err := r.count("export count", 3)
		if err != nil {
			return err
		}
		m.Exports = make([]Export, 0, n)
		for range n {
			var e Export
			if e.Name, err = r.name("export name"); err != nil {
				return err
			}
			if e.Kind, err = r.byte("export kind"); err != nil {
				return err
			}
			if e.Kind > KindTag {
				return r.fail(fmt.Sprintf("export kind 0x%02x unknown", e.Kind), nil)
			}
			if e.Index, err = r.u32("export index"); err != nil {
				return err
			}
			m.Exports = append(m.Exports, e)
		}
	case SecStart:
		v, err := r.u32("start function")
		if err != nil {
			return err
		}
		m.Start = &v
	case SecCode:
		n, err := r.count("code count", 2)
		if err != nil {
			return err
		}
		m.Codes = make([]Code, 0, n)
		for range n {
			size, w, err := r.uleb("body size", uint64(len(r.b)))
			if err != nil {
				return err
			}
			body, err := r.bytes("function body", int(size))
			if err != nil {
				return err
			}
			m.Codes = append(m.Codes, Code{Body: body, sizeWide: sizeWidth(size, w)})
		}
	case SecData:
		n, err := r.count("data count", 2)
		if err != nil {
			return err
		}
		m.Data = make([]Data, 0, n)
		for range n {
			var d Data
			if d.Mode, err = r.u32("data mode"); err != nil {
				return err
			}
			switch d.Mode {
			case 0, 2:
				if d.Mode == 2 {
					if d.MemIdx, err = r.u32("data memory index"); err != nil {
						return err
					}
				}
				if d.Offset, err = r.constExpr("data offset"); err != nil {
					return err
				}
			case 1:
			default:
				return r.fail(fmt.Sprintf("data mode %d, want 0, 1 or 2", d.Mode), nil)
			}
			k, err := r.count("data size", 1)
			if err != nil {
				return err
			}
			if d.Init, err = r.bytes("data bytes", k); err != nil {
				return err
			}
			m.Data = append(m.Data, d)
		}
	case SecDataCount:
		v, err := r.u32("data count")
		if err != nil {
			return err
		}
		m.DataCount = &v
	default: // element, tag
		s.Raw = r.b
		r.pos = len(r.b)
	}
	return nil
}

// Encode writes the module in the binary format.
func (m *Module) Encode() []byte {
	out := make([]byte, 0, max(m.size+m.size/8, 1<<12))
	out = append(out, "\x00asm\x01\x00\x00\x00"...)
	var hdr [16]byte
	for i := range m.Sections {
		s := &m.Sections[i]
		out = append(out, s.ID)
		start := len(out)
		out = m.appendSection(out, s)
		// The size goes before the payload, written in place: one move, no buffer.
		out = slices.Insert(out, start, appendSize(hdr[:0], uint64(len(out)-start), s.wide)...)
	}
	return out
}

// appendSize appends v as ULEB128, padded to width bytes when width is larger than minimal.
func appendSize(dst []byte, v uint64, width int) []byte {
	n := len(leb128.AppendUint(nil, v))
	if width <= n {
		return leb128.AppendUint(dst, v)
	}
	for i := 0; i < width-1; i++ {
		dst = append(dst, byte(v&0x7f)|0x80)
		v >>= 7
	}
	return append(dst, byte(v))
}

func appendName(dst []byte, s string) []byte {
	return append(leb128.AppendUint(dst, uint64(len(s))), s...)
}

func appendLimits(dst []byte, l Limits) []byte {
	dst = leb128.AppendUint(append(dst, l.Flags), l.Min)
	if l.HasMax() {
		dst = leb128.AppendUint(dst, l.Max)
	}
	return dst
}

func (m *Module) appendSection(p []byte, s *Section) []byte {
	u := func(v uint64) { p = leb128.AppendUint(p, v) }
	switch s.ID {
	case SecCustom:
		p = append(appendName(p, s.Custom.Name), s.Custom.Data...)
	case SecType:
		u(uint64(len(m.Types)))
		for _, t := range m.Types {
			p = append(p, 0x60)
			u(uint64(len(t.Params)))
			p = append(p, valBytes(t.Params)...)
			u(uint64(len(t.Results)))
			p = append(p, valBytes(t.Results)...)
		}
	case SecImport:
		u(uint64(len(m.Imports)))
		for _, im := range m.Imports {
			p = append(appendName(appendName(p, im.Module), im.Name), im.Kind)
			if im.Kind == KindFunc {
				u(uint64(im.TypeIdx))
			} else {
				p = append(p, im.Desc...)
			}
		}
	case SecFunction:
		u(uint64(len(m.Funcs)))
		for _, f := range m.Funcs {
			u(uint64(f))
		}
	case SecTable:
		u(uint64(len(m.Tables)))
		for _, t := range m.Tables {
			p = appendLimits(append(p, byte(t.ElemType)), t.Limits)
		}
	case SecMemory:
		u(uint64(len(m.Memories)))
		for _, l := range m.Memories {
			p = appendLimits(p, l)
		}
	case SecGlobal:
		u(uint64(len(m.Globals)))
		for _, g := range m.Globals {
			mut := byte(0)
			if g.Mutable {
				mut = 1
			}
			p = append(append(p, byte(g.Type), mut), g.Init...)
		}
	case SecExport:
		u(uint64(len(m.Exports)))
		for _, e := range m.Exports {
			p = append(appendName(p, e.Name), e.Kind)
			u(uint64(e.Index))
		}
	case SecStart:
		u(uint64(*m.Start))
	case SecCode:
		u(uint64(len(m.Codes)))
		for _, c := range m.Codes {
			p = append(appendSize(p, uint64(len(c.Body)), c.sizeWide), c.Body...)
		}
	case SecData:
		u(uint64(len(m.Data)))
		for _, d := range m.Data {
			u(uint64(d.Mode))
			if d.Mode == 2 {
				u(uint64(d.MemIdx))
			}
			p = append(p, d.Offset...)
			u(uint64(len(d.Init)))
			p = append(p, d.Init...)
		}
	case SecDataCount:
		u(uint64(*m.DataCount))
	default:
		p = append(p, s.Raw...)
	}
	return p
}

// NumImportedFuncs returns how many function imports the module has: the index of its first
// defined function.
func (m *Module) NumImportedFuncs() int {
	n := 0
	for _, im := range m.Imports {
		if im.Kind == KindFunc {
			n++
		}
	}
	return n
}

// FuncType returns the signature of function index i (imports first), or false.
func (m *Module) FuncType(i uint32) (FuncType, bool) {
	var ti uint32
	ni := uint32(m.NumImportedFuncs())
	if i < ni {
		k := uint32(0)
		for _, im := range m.Imports {
			if im.Kind == KindFunc {
				if k == i {
					ti = im.TypeIdx
					break
				}
				k++
			}
		}
	} else if int(i-ni) < len(m.Funcs) {
		ti = m.Funcs[i-ni]
	} else {
		return FuncType{}, false
	}
	if int(ti) >= len(m.Types) {
		return FuncType{}, false
	}
	return m.Types[ti], true
}

// CustomSection returns the contents of the first custom section with the name, or false.
func (m *Module) CustomSection(name string) ([]byte, bool) {
	for _, s := range m.Sections {
		if s.ID == SecCustom && s.Custom.Name == name {
			return s.Custom.Data, true
		}
	}
	return nil, false
}

// SetCustomSection replaces the contents of the custom section with the name, or appends one.
func (m *Module) SetCustomSection(name string, data []byte) {
	for i := range m.Sections {
		if s := &m.Sections[i]; s.ID == SecCustom && s.Custom.Name == name {
			s.Custom = &Custom{Name: name, Data: data}
			return
		}
	}
	m.Sections = append(m.Sections, Section{ID: SecCustom, Custom: &Custom{Name: name, Data: data}})
}
