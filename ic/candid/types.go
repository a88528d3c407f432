package candid

import (
	"fmt"
	"slices"
	"strconv"
	"strings"
	"unicode/utf8"
)

// Kind is the constructor of a Candid type. Its value is the type's opcode in the binary format.
type Kind int8

// The Candid type constructors.
const (
	KindNull      Kind = -1
	KindBool      Kind = -2
	KindNat       Kind = -3
	KindInt       Kind = -4
	KindNat8      Kind = -5
	KindNat16     Kind = -6
	KindNat32     Kind = -7
	KindNat64     Kind = -8
	KindInt8      Kind = -9
	KindInt16     Kind = -10
	KindInt32     Kind = -11
	KindInt64     Kind = -12
	KindFloat32   Kind = -13
	KindFloat64   Kind = -14
	KindText      Kind = -15
	KindReserved  Kind = -16
	KindEmpty     Kind = -17
	KindOpt       Kind = -18
	KindVec       Kind = -19
	KindRecord    Kind = -20
	KindVariant   Kind = -21
	KindFunc      Kind = -22
	KindService   Kind = -23
	KindPrincipal Kind = -24
	// KindFuture is a type from a later version of Candid (an opcode below -24). It appears only
	// in wire types; its values can only be skipped.
	KindFuture Kind = -25

	kindPlaceholder Kind = 0 // a Rec type whose body is not known yet
)

var kindNames = [...]string{
	"", "null", "bool", "nat", "int", "nat8", "nat16", "nat32", "nat64", "int8", "int16", "int32",
	"int64", "float32", "float64", "text", "reserved", "empty", "opt", "vec", "record", "variant",
	"func", "service", "principal", "future",
}

// String returns the Candid keyword of k.
func (k Kind) String() string {
	if k <= 0 && int(-k) < len(kindNames) {
		return kindNames[-k]
	}
	return "Kind(" + strconv.Itoa(int(k)) + ")"
}

// IsPrimitive reports whether k is a primitive type: one that is written as its opcode and never
// appears in a type table.
func (k Kind) IsPrimitive() bool {
	return (k <= KindNull && k >= KindEmpty) || k == KindPrincipal
}

// FuncMode is a function annotation.
type FuncMode uint8

// The function annotations, with their binary encoding.
const (
	Query          FuncMode = 1
	Oneway         FuncMode = 2
	CompositeQuery FuncMode = 3
)

// String returns the Candid keyword of m.
func (m FuncMode) String() string {
	switch m {
	case Query:
		return "query"
	case Oneway:
		return "oneway"
	case CompositeQuery:
		return "composite_query"
	}
	return "FuncMode(" + strconv.Itoa(int(m)) + ")"
}

// Type is a Candid type. Types are immutable and may be recursive; the zero Type is invalid.
// Build them with Prim, OptOf, VecOf, RecordOf, VariantOf, FuncOf, ServiceOf and Rec, or derive
// one from a Go type with TypeOf.
type Type struct{ n *node }

// Field is a field of a record or an alternative of a variant.
type Field struct {
	// Name is the field's name; when it is not empty, the id is Hash(Name).
	Name string
	// ID is the field id, used when Name is empty (tuple fields and numbered tags).
	ID uint32
	// Type is the field's type.
	Type Type
}

// Method is a method of a service type.
type Method struct {
	Name string
	Type Type // a function type
}

// node is the shared representation of Candid types: those built by users, derived from Go types
// and read from a message's type table. Composite nodes may form cycles (recursive types).
type node struct {
	kind    Kind
	elem    *node    // opt, vec
	fields  []field  // record, variant: sorted by id, no duplicates
	fn      *funcSig // func
	methods []method // service: sorted by name, no duplicates
	// Wire types only (computed after the type table is read):
	minSize   int // a lower bound of the encoded size of a value
	fixed     int // the encoded size of every value when it is the same and needs no check, else -1
	fixedCost int // with fixed >= 0: the decoding cost of one value
	nest      int // with fixed >= 0: how deeply a value nests
}

type field struct {
	id   uint32
	name string // empty when unknown (wire types, numbered fields)
	typ  *node
}

type funcSig struct {
	args, results []*node
	modes         []FuncMode // sorted, no duplicates
}

type method struct {
	name string
	typ  *node // a func node
}

// prims holds one node per primitive kind, indexed by -kind. It is never modified.
var prims = func() (p [26]node) {
	for i := range p {
		k := Kind(-i)
		p[i] = node{kind: k, fixed: -1}
		switch k {
		case KindNull, KindReserved:
			p[i].fixed, p[i].fixedCost = 0, 1
		case KindBool, KindNat, KindInt, KindText:
			p[i].minSize = 1
		case KindPrincipal:
			p[i].minSize = 2
		case KindNat8, KindNat16, KindNat32, KindNat64, KindInt8, KindInt16, KindInt32, KindInt64,
			KindFloat32, KindFloat64:
			size := fixedSize(k)
			p[i].minSize, p[i].fixed, p[i].fixedCost = size, size, size
		}
	}
	return p
}()

func primNode(k Kind) *node { return &prims[-k] }

// Prim returns the primitive type of kind k. It panics if k is not primitive.
func Prim(k Kind) Type {
	if !k.IsPrimitive() {
		panic("candid: Prim of non-primitive kind " + k.String())
	}
	return Type{primNode(k)}
}

func (t Type) check(what string) *node {
	if t.n == nil {
		panic("candid: " + what + " of the zero Type")
	}
	return t.n
}

// OptOf returns the type opt t.
func OptOf(t Type) Type { return Type{&node{kind: KindOpt, elem: t.check("OptOf")}} }

// VecOf returns the type vec t.
func VecOf(t Type) Type { return Type{&node{kind: KindVec, elem: t.check("VecOf")}} }

// RecordOf returns the record type with the given fields, in any order. It panics if two fields
// have the same id.
func RecordOf(fields ...Field) Type { return Type{fieldsNode(KindRecord, fields)} }

// VariantOf returns the variant type with the given alternatives, in any order; an alternative
// with the zero Type has type null. It panics if two alternatives have the same id.
func VariantOf(alternatives ...Field) Type { return Type{fieldsNode(KindVariant, alternatives)} }

// TupleOf returns the record type whose fields are the given types with ids 0, 1, 2 and so on.
func TupleOf(types ...Type) Type {
	fs := make([]Field, len(types))
	for i, t := range types {
		fs[i] = Field{ID: uint32(i), Type: t}
	}
	return RecordOf(fs...)
}

func fieldsNode(k Kind, in []Field) *node {
	fs := make([]field, len(in))
	for i, f := range in {
		id := f.ID
		if f.Name != "" {
			id = Hash(f.Name)
		}
		if k == KindVariant && f.Type.n == nil {
			f.Type = Prim(KindNull)
		}
		fs[i] = field{id: id, name: f.Name, typ: f.Type.check(k.String() + " field")}
	}
	sortFields(fs)
	for i := 1; i < len(fs); i++ {
		if fs[i].id == fs[i-1].id {
			panic(fmt.Sprintf("candid: %s fields %s and %s have the same id %d", k,
				fieldLabel(fs[i-1]), fieldLabel(fs[i]), fs[i].id))
		}
	}
	return &node{kind: k, fields: fs}
}

func sortFields(fs []field) {
	slices.SortFunc(fs, func(a, b field) int {
		switch {
		case a.id < b.id:
			return -1
		case a.id > b.id:
			return 1
		}
		return 0
	})
}

// FuncOf returns the function type (args) -> (results) with the given annotations.
func FuncOf(args, results []Type, modes ...FuncMode) Type {
	sig := &funcSig{args: make([]*node, len(args)), results: make([]*node, len(results))}
	for i, t := range args {
		sig.args[i] = t.check("FuncOf argument")
	}
	for i, t := range results {
		sig.results[i] = t.check("FuncOf result")
	}
	for _, m := range modes {
		if m < Query || m > CompositeQuery {
			panic("candid: FuncOf with invalid mode " + m.String())
		}
		if !slices.Contains(sig.modes, m) {
			sig.modes = append(sig.modes, m)
		}
	}
	slices.Sort(sig.modes)
	return Type{&node{kind: KindFunc, fn: sig}}
}

// ServiceOf returns the service type with the given methods, in any order. It panics if a method
// type is not a function type or two methods have the same name.
func ServiceOf(methods ...Method) Type {
	ms := make([]method, len(methods))
	for i, m := range methods {
		n := m.Type.check("ServiceOf method")
		if n.kind != KindFunc && n.kind != kindPlaceholder {
			panic("candid: method " + strconv.Quote(m.Name) + " of ServiceOf is not a function type")
		}
		ms[i] = method{name: m.Name, typ: n}
	}
	slices.SortFunc(ms, func(a, b method) int { return strings.Compare(a.name, b.name) })
	for i := 1; i < len(ms); i++ {
		if ms[i].name == ms[i-1].name {
			panic("candid: ServiceOf has two methods named " + strconv.Quote(ms[i].name))
		}
	}
	return Type{&node{kind: KindService, methods: ms}}
}

// Rec returns a recursive type: define receives the type being defined and returns its body,
// which may refer to it anywhere below an opt, vec, record, variant, func or service. For example
// a list of ints:
//
//	list := candid.Rec(func(self candid.Type) candid.Type {
//		return candid.OptOf(candid.RecordOf(
//			candid.Field{Name: "head", Type: candid.Prim(candid.KindInt)},
//			candid.Field{Name: "tail", Type: self}))
//	})
//
// Rec panics if the body is the type itself (type t = t).
func Rec(define func(self Type) Type) Type {
	n := &node{kind: kindPlaceholder}
	body := define(Type{n}).check("Rec body")
	if body == n || body.kind == kindPlaceholder {
		panic("candid: Rec: the type is defined as itself")
	}
	*n = *body
	return Type{n}
}

// Kind returns the constructor of t.
func (t Type) Kind() Kind { return t.check("Kind").kind }

// Elem returns the element type of an opt or vec type. It panics for other kinds.
func (t Type) Elem() Type {
	n := t.check("Elem")
	if n.kind != KindOpt && n.kind != KindVec {
		panic("candid: Elem of " + n.kind.String() + " type")
	}
	return Type{n.elem}
}

// Fields returns the fields of a record or the alternatives of a variant, sorted by id. It
// panics for other kinds.
func (t Type) Fields() []Field {
	n := t.check("Fields")
	if n.kind != KindRecord && n.kind != KindVariant {
		panic("candid: Fields of " + n.kind.String() + " type")
	}
	out := make([]Field, len(n.fields))
	for i, f := range n.fields {
		out[i] = Field{Name: f.name, ID: f.id, Type: Type{f.typ}}
	}
	return out
}

// Signature returns the arguments, results and annotations of a function type. It panics for
// other kinds.
func (t Type) Signature() (args, results []Type, modes []FuncMode) {
	n := t.check("Signature")
	if n.kind != KindFunc {
		panic("candid: Signature of " + n.kind.String() + " type")
	}
	for _, a := range n.fn.args {
		args = append(args, Type{a})
	}
	for _, r := range n.fn.results {
		results = append(results, Type{r})
	}
	return args, results, slices.Clone(n.fn.modes)
}

// Methods returns the methods of a service type, sorted by name. It panics for other kinds.
func (t Type) Methods() []Method {
	n := t.check("Methods")
	if n.kind != KindService {
		panic("candid: Methods of " + n.kind.String() + " type")
	}
	out := make([]Method, len(n.methods))
	for i, m := range n.methods {
		out[i] = Method{Name: m.name, Type: Type{m.typ}}
	}
	return out
}

// String returns t in Candid syntax. A recursive type is written with μ binders, as in
// μt0.opt record { head : int; tail : t0 }, which is not valid Candid but unambiguous.
func (t Type) String() string {
	if t.n == nil {
		return "<invalid>"
	}
	return t.format(1 << 16)
}

// format prints t, cut off with "…" after about limit bytes (types that share subtypes can
// print exponentially long).
func (t Type) format(limit int) string {
	if t.n == nil {
		return "<invalid>"
	}
	p := typePrinter{names: map[*node]string{}, open: map[*node]bool{}, budget: limit}
	p.node(t.n)
	if p.budget < 0 {
		return string(p.b) + "…"
	}
	return string(p.b)
}

// Hash returns the field id of a field name: the fold h = h*223 + b over the UTF-8 bytes of name,
// modulo 2^32.
func Hash(name string) uint32 {
	var h uint32
	for i := 0; i < len(name); i++ {
		h = h*223 + uint32(name[i])
	}
	return h
}

type typePrinter struct {
	b      []byte
	names  map[*node]string // recursive nodes that got a name
	open   map[*node]bool   // nodes being printed
	depth  int
	budget int // bytes left to write; printing stops when it is negative
}

func (p *typePrinter) write(s string) {
	if p.budget < 0 {
		return
	}
	p.budget -= len(s)
	p.b = append(p.b, s...)
}

func (p *typePrinter) node(n *node) {
	if n.kind.IsPrimitive() || n.kind == KindFuture || n.kind == kindPlaceholder {
		if n.kind == kindPlaceholder {
			p.write("<undefined>")
			return
		}
		p.write(n.kind.String())
		return
	}
	if p.open[n] {
		name, ok := p.names[n]
		if !ok {
			name = "t" + strconv.Itoa(len(p.names))
			p.names[n] = name
		}
		p.write(name)
		return
	}
	if p.depth > 64 || p.budget < 0 {
		p.budget = -1
		return
	}
	start := len(p.b)
	p.open[n] = true
	p.depth++
	p.body(n)
	p.depth--
	delete(p.open, n)
	if name, ok := p.names[n]; ok { // a recursive type: put a μ binder in front of its body
		p.b = slices.Insert(p.b, start, []byte("μ"+name+".")...)
	}
}

func (p *typePrinter) body(n *node) {
	switch n.kind {
	case KindOpt, KindVec:
		if n.kind == KindVec && n.elem.kind == KindNat8 {
			p.write("blob")
			return
		}
		p.write(n.kind.String() + " ")
		p.node(n.elem)
	case KindRecord, KindVariant:
		p.write(n.kind.String() + " {")
		for i, f := range n.fields {
			if i > 0 {
				p.write(";")
			}
			p.write(" " + fieldLabel(f))
			if n.kind == KindVariant && f.typ.kind == KindNull {
				continue
			}
			p.write(" : ")
			p.node(f.typ)
		}
		if len(n.fields) > 0 {
			p.write(" ")
		}
		p.write("}")
	case KindFunc:
		p.write("func ")
		p.sig(n.fn)
	case KindService:
		p.write("service {")
		for i, m := range n.methods {
			if i > 0 {
				p.write(";")
			}
			p.write(" " + quoteName(m.name) + " : ")
			if m.typ.kind == KindFunc && !p.open[m.typ] {
				p.sig(m.typ.fn)
			} else {
				p.node(m.typ)
			}
		}
		if len(n.methods) > 0 {
			p.write(" ")
		}
		p.write("}")
	}
}

func (p *typePrinter) sig(s *funcSig) {
	p.tuple(s.args)
	p.write(" -> ")
	p.tuple(s.results)
	for _, m := range s.modes {
		p.write(" " + m.String())
	}
}

func (p *typePrinter) tuple(ts []*node) {
	p.write("(")
	for i, t := range ts {
		if i > 0 {
			p.write(", ")
		}
		p.node(t)
	}
	p.write(")")
}

func fieldLabel(f field) string {
	if f.name != "" {
		return quoteName(f.name)
	}
	return strconv.FormatUint(uint64(f.id), 10)
}

// quoteName writes a field or method name as a Candid identifier when it is one, else quoted.
func quoteName(s string) string {
	if s == "" || !utf8.ValidString(s) {
		return strconv.Quote(s)
	}
	for i, r := range s {
		if !(r == '_' || r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || i > 0 && r >= '0' && r <= '9') {
			return strconv.Quote(s)
		}
	}
	return s
}
