package candid

import (
	"fmt"
	"reflect"
	"strconv"
	"strings"
	"sync"

	"github.com/icws/icws/ic/principal"
)

// goKind says how a Go type maps to Candid.
type goKind uint8

const (
	gkBool goKind = iota
	gkString
	gkUint8
	gkUint16
	gkUint32
	gkUint64
	gkInt8
	gkInt16
	gkInt32
	gkInt64
	gkFloat32
	gkFloat64
	gkNat
	gkInt
	gkNull
	gkReserved
	gkEmpty
	gkPrincipal
	gkBytes     // []byte: vec nat8
	gkByteArray // [N]byte: vec nat8 of length N
	gkOpt       // *T
	gkVec       // []T
	gkArray     // [N]T
	gkRecord    // struct
	gkVariant   // struct with the variant tag option
	gkAny       // interface{}: decodes to a generic value, cannot be encoded
)

// codec is the cached mapping of one Go type. It is immutable once published.
type codec struct {
	kind   goKind
	rt     reflect.Type
	ck     Kind  // the Candid kind (0 for an interface)
	node   *node // the Candid type; nil if the Go type contains an interface
	elem   *codec
	fields []fieldCodec // record and variant: sorted by id
	length int          // arrays

	hdrOnce sync.Once // header of a message with this type as its only argument
	hdr     []byte
	hdrErr  error
}

type fieldCodec struct {
	id    uint32
	name  string
	index int // struct field index
	c     *codec
}

// codecs caches the codec of every Go type seen, keyed by reflect.Type. It is not user-visible
// state: entries are immutable and derived from the type alone.
var codecs sync.Map // reflect.Type -> *codec

var (
	natType       = reflect.TypeFor[Nat]()
	intType       = reflect.TypeFor[Int]()
	nullType      = reflect.TypeFor[Null]()
	reservedType  = reflect.TypeFor[Reserved]()
	emptyType     = reflect.TypeFor[Empty]()
	principalType = reflect.TypeFor[principal.Principal]()
)

// isGeneric reports whether rt is a generic value type of DecodeValues, which has no fixed
// Candid type.
func isGeneric(rt reflect.Type) bool {
	switch rt {
	case reflect.TypeFor[Opt](), reflect.TypeFor[Record](), reflect.TypeFor[FieldValue](),
		reflect.TypeFor[Variant](), reflect.TypeFor[Func]():
		return true
	}
	return false
}

func codecFor(rt reflect.Type) (*codec, error) {
	if c, ok := codecs.Load(rt); ok {
		return c.(*codec), nil
	}
	b := codecBuilder{building: map[reflect.Type]*codec{}}
	c, err := b.build(rt)
	if err != nil {
		return nil, err
	}
	b.propagateInterfaces()
	for t, bc := range b.building {
		codecs.LoadOrStore(t, bc)
	}
	return c, nil
}

// propagateInterfaces clears the Candid type of every codec that contains an interface, also
// through recursive references that were created before the interface was found.
func (b *codecBuilder) propagateInterfaces() {
	for changed := true; changed; {
		changed = false
		for _, c := range b.building {
			if c.node == nil {
				continue
			}
			bad := c.elem != nil && c.elem.node == nil
			for _, f := range c.fields {
				bad = bad || f.c.node == nil
			}
			if bad {
				c.node, changed = nil, true
			}
		}
	}
}

type codecBuilder struct {
	building map[reflect.Type]*codec
}

func (b *codecBuilder) build(rt reflect.Type) (*codec, error) {
	if c, ok := b.building[rt]; ok {
		return c, nil
	}
	if c, ok := codecs.Load(rt); ok {
		return c.(*codec), nil
	}
	c := &codec{rt: rt}
	b.building[rt] = c
	if err := b.fill(c); err != nil {
		return nil, err
	}
	return c, nil
}

func (b *codecBuilder) prim(c *codec, gk goKind, k Kind) error {
	c.kind, c.ck, c.node = gk, k, primNode(k)
	return nil
}

func (b *codecBuilder) fill(c *codec) error {
	rt := c.rt
	switch rt {
	case natType:
		return b.prim(c, gkNat, KindNat)
	case intType:
		return b.prim(c, gkInt, KindInt)
	case nullType:
		return b.prim(c, gkNull, KindNull)
	case reservedType:
		return b.prim(c, gkReserved, KindReserved)
	case emptyType:
		return b.prim(c, gkEmpty, KindEmpty)
	case principalType:
		return b.prim(c, gkPrincipal, KindPrincipal)
	}
	if isGeneric(rt) {
		return fmt.Errorf("%w: %s is a generic value without a fixed Candid type; decode into any or use DecodeValues",
			ErrUnsupportedType, rt)
	}
	switch rt.Kind() {
	case reflect.Bool:
		return b.prim(c, gkBool, KindBool)
	case reflect.String:
		return b.prim(c, gkString, KindText)
	case reflect.Uint8:
		return b.prim(c, gkUint8, KindNat8)
	case reflect.Uint16:
		return b.prim(c, gkUint16, KindNat16)
	case reflect.Uint32:
		return b.prim(c, gkUint32, KindNat32)
	case reflect.Uint64:
		return b.prim(c, gkUint64, KindNat64)
	case reflect.Int8:
		return b.prim(c, gkInt8, KindInt8)
	case reflect.Int16:
		return b.prim(c, gkInt16, KindInt16)
	case reflect.Int32:
		return b.prim(c, gkInt32, KindInt32)
	case reflect.Int64:
		return b.prim(c, gkInt64, KindInt64)
	case reflect.Float32:
		return b.prim(c, gkFloat32, KindFloat32)
	case reflect.Float64:
		return b.prim(c, gkFloat64, KindFloat64)
	case reflect.Interface:
		if rt.NumMethod() != 0 {
			return fmt.Errorf("%w: %s: only the empty interface is supported", ErrUnsupportedType, rt)
		}
		c.kind = gkAny
		return nil
	case reflect.Pointer:
		return b.elem(c, gkOpt, KindOpt, rt.Elem())
	case reflect.Slice:
		if rt.Elem().Kind() == reflect.Uint8 && rt.Elem() != reservedType {
			c.kind, c.ck, c.node = gkBytes, KindVec, &node{kind: KindVec, elem: primNode(KindNat8)}
			return nil
		}
		return b.elem(c, gkVec, KindVec, rt.Elem())
	case reflect.Array:
		c.length = rt.Len()
		if rt.Elem().Kind() == reflect.Uint8 {
			c.kind, c.ck, c.node = gkByteArray, KindVec, &node{kind: KindVec, elem: primNode(KindNat8)}
			return nil
		}
		return b.elem(c, gkArray, KindVec, rt.Elem())
	case reflect.Struct:
		return b.structFields(c)
	case reflect.Int, reflect.Uint:
		return fmt.Errorf("%w: %s: use a sized integer type (int64, uint64, ...) or candid.Int/Nat",
			ErrUnsupportedType, rt)
	}
	return fmt.Errorf("%w: %s", ErrUnsupportedType, rt)
}

func (b *codecBuilder) elem(c *codec, gk goKind, k Kind, et reflect.Type) error {
	c.kind, c.ck = gk, k
	c.node = &node{kind: k} // allocated first so recursive references see it
	ec, err := b.build(et)
	if err != nil {
		return fmt.Errorf("%s: %w", c.rt, err)
	}
	c.elem = ec
	if ec.node == nil {
		c.node = nil
		return nil
	}
	c.node.elem = ec.node
	return nil
}

// tagInfo is a parsed `candid:"name,option"` struct tag.
type tagInfo struct {
	skip    bool
	name    string
	id      uint32
	named   bool // id comes from a name (else from a number)
	variant bool
}

func parseTag(sf reflect.StructField) tagInfo {
	tag, _ := sf.Tag.Lookup("candid")
	name, opts, _ := strings.Cut(tag, ",")
	ti := tagInfo{skip: name == "-"}
	for opts != "" {
		var o string
		o, opts, _ = strings.Cut(opts, ",")
		if o == "variant" {
			ti.variant = true
		}
	}
	if ti.skip {
		return ti
	}
	if name == "" {
		name = sf.Name
	}
	if n, err := strconv.ParseUint(name, 10, 32); err == nil && (name == "0" || name[0] != '0') {
		ti.id = uint32(n)
		return ti
	}
	ti.name, ti.id, ti.named = name, Hash(name), true
	return ti
}

func (b *codecBuilder) structFields(c *codec) error {
	rt := c.rt
	isVariant := false
	for i := 0; i < rt.NumField(); i++ {
		if parseTag(rt.Field(i)).variant {
			isVariant = true
		}
	}
	kind := KindRecord
	c.kind = gkRecord
	if isVariant {
		kind, c.kind = KindVariant, gkVariant
	}
	c.ck, c.node = kind, &node{kind: kind}
	hasAny := false
	for i := 0; i < rt.NumField(); i++ {
		sf := rt.Field(i)
		ti := parseTag(sf)
		if ti.skip || !sf.IsExported() {
			continue
		}
		ft := sf.Type
		if isVariant {
			if ft.Kind() != reflect.Pointer {
				return fmt.Errorf("%w: variant %s: alternative %s must be a pointer", ErrUnsupportedType, rt, sf.Name)
			}
			ft = ft.Elem()
		}
		fc, err := b.build(ft)
		if err != nil {
			return fmt.Errorf("%s.%s: %w", rt, sf.Name, err)
		}
		if fc.node == nil {
			hasAny = true
		}
		f := fieldCodec{id: ti.id, index: i, c: fc}
		if ti.named {
			f.name = ti.name
		}
		c.fields = append(c.fields, f)
	}
	// Sort by id (insertion sort keeps it allocation-free and the lists are short).
	for i := 1; i < len(c.fields); i++ {
		for j := i; j > 0 && c.fields[j].id < c.fields[j-1].id; j-- {
			c.fields[j], c.fields[j-1] = c.fields[j-1], c.fields[j]
		}
	}
	for i := 1; i < len(c.fields); i++ {
		if c.fields[i].id == c.fields[i-1].id {
			return fmt.Errorf("%w: %s: fields %s and %s have the same Candid id %d", ErrUnsupportedType, rt,
				rt.Field(c.fields[i-1].index).Name, rt.Field(c.fields[i].index).Name, c.fields[i].id)
		}
	}
	if hasAny {
		c.node = nil
		return nil
	}
	c.node.fields = make([]field, len(c.fields))
	for i, f := range c.fields {
		c.node.fields[i] = field{id: f.id, name: f.name, typ: f.c.node}
	}
	return nil
}

// TypeOf returns the Candid type of a Go value (only its Go type matters). See the package
// documentation for the mapping.
func TypeOf(v any) (Type, error) {
	if v == nil {
		return Type{}, fmt.Errorf("%w: nil has no type", ErrUnsupportedType)
	}
	c, err := codecFor(reflect.TypeOf(v))
	if err != nil {
		return Type{}, err
	}
	if err := encodable(c); err != nil {
		return Type{}, err
	}
	return Type{c.node}, nil
}

// encodable reports an error if c, or a type inside it, is an interface.
func encodable(c *codec) error {
	if c.node != nil {
		return nil
	}
	return fmt.Errorf("%w: %s contains an interface type, which cannot be encoded", ErrUnsupportedType, c.rt)
}
