package candid

import (
	"encoding/binary"
	"fmt"
	"math"
	"reflect"
	"slices"
	"sync"
	"unicode/utf8"

	"github.com/icws/icws/ic/leb128"
	"github.com/icws/icws/ic/principal"
)

// maxCachedArgs is the longest argument list whose message header is cached.
const maxCachedArgs = 4

type headerKey struct {
	n     int
	types [maxCachedArgs]reflect.Type
}

// headers caches the header of messages with several arguments, keyed by their Go types. Like
// codecs, it holds only immutable values derived from types.
var headers sync.Map // headerKey -> []byte

// Marshal encodes its arguments as one Candid message, one argument per Go value. See the
// package documentation for how Go types map to Candid types. Marshal() gives the empty
// argument list, 4449444c0000.
func Marshal(args ...any) ([]byte, error) {
	return AppendMarshal(nil, args...)
}

// AppendMarshal is like Marshal but appends the message to dst.
func AppendMarshal(dst []byte, args ...any) ([]byte, error) {
	var stack [maxCachedArgs]*codec
	cs := stack[:0]
	for i, a := range args {
		if a == nil {
			return nil, fmt.Errorf("%w: argument %d is nil, which has no Candid type", ErrUnsupportedType, i)
		}
		c, err := codecFor(reflect.TypeOf(a))
		if err != nil {
			return nil, fmt.Errorf("candid: argument %d: %w", i, err)
		}
		cs = append(cs, c)
	}
	hdr, err := header(cs)
	if err != nil {
		return nil, err
	}
	var vstack [maxCachedArgs]reflect.Value
	vs := vstack[:0]
	size := len(hdr)
	for i, a := range args {
		v := reflect.ValueOf(a)
		if !v.CanAddr() && needsAddr(cs[i].kind) {
			p := reflect.New(v.Type()).Elem()
			p.Set(v)
			v = p
		}
		vs = append(vs, v)
		size += sizeGo(cs[i], v)
	}
	dst = slices.Grow(dst, size)
	dst = append(dst, hdr...)
	for i, v := range vs {
		if dst, err = encodeGo(dst, cs[i], v); err != nil {
			return nil, fmt.Errorf("candid: argument %d: %w", i, err)
		}
	}
	return dst, nil
}

// sizeGo returns the encoded size of v, so the output is allocated once. Values that cannot be
// encoded count as 0; encodeGo reports them.
func sizeGo(c *codec, v reflect.Value) int {
	switch c.kind {
	case gkBool, gkUint8, gkInt8:
		return 1
	case gkUint16, gkInt16:
		return 2
	case gkUint32, gkInt32, gkFloat32:
		return 4
	case gkUint64, gkInt64, gkFloat64:
		return 8
	case gkString:
		return uvarintLen(uint64(v.Len())) + v.Len()
	case gkBytes, gkByteArray:
		return uvarintLen(uint64(v.Len())) + v.Len()
	case gkNat, gkInt:
		return 10 // usually enough; append grows the buffer for big numbers
	case gkPrincipal:
		return 2 + principal.MaxLength
	case gkOpt:
		if v.IsNil() {
			return 1
		}
		return 1 + sizeGo(c.elem, v.Elem())
	case gkVec, gkArray:
		n := v.Len()
		size := uvarintLen(uint64(n))
		if s := fixedGoSize(c.elem.kind); s > 0 {
			return size + n*s
		}
		for i := range n {
			size += sizeGo(c.elem, v.Index(i))
		}
		return size
	case gkRecord:
		size := 0
		for _, f := range c.fields {
			size += sizeGo(f.c, v.Field(f.index))
		}
		return size
	case gkVariant:
		for i, f := range c.fields {
			if fv := v.Field(f.index); !fv.IsNil() {
				return uvarintLen(uint64(i)) + sizeGo(f.c, fv.Elem())
			}
		}
	}
	return 0
}

func fixedGoSize(k goKind) int {
	switch k {
	case gkBool, gkUint8, gkInt8:
		return 1
	case gkUint16, gkInt16:
		return 2
	case gkUint32, gkInt32, gkFloat32:
		return 4
	case gkUint64, gkInt64, gkFloat64:
		return 8
	}
	return 0
}

func uvarintLen(v uint64) int {
	n := 1
	for v >= 0x80 {
		v >>= 7
		n++
	}
	return n
}

// needsAddr reports whether encoding a value of kind k reads it through its address.
func needsAddr(k goKind) bool {
	switch k {
	case gkRecord, gkVariant, gkArray, gkByteArray, gkNat, gkInt, gkPrincipal:
		return true
	}
	return false
}

// header returns the cached message header for arguments of the given codecs.
func header(cs []*codec) ([]byte, error) {
	for _, c := range cs {
		if err := encodable(c); err != nil {
			return nil, err
		}
	}
	switch {
	case len(cs) == 1:
		c := cs[0]
		c.hdrOnce.Do(func() { c.hdr, c.hdrErr = appendHeader(nil, []*node{c.node}) })
		return c.hdr, c.hdrErr
	case len(cs) <= maxCachedArgs:
		key := headerKey{n: len(cs)}
		for i, c := range cs {
			key.types[i] = c.rt
		}
		if h, ok := headers.Load(key); ok {
			return h.([]byte), nil
		}
	}
	nodes := make([]*node, len(cs))
	for i, c := range cs {
		nodes[i] = c.node
	}
	h, err := appendHeader(nil, nodes)
	if err != nil {
		return nil, err
	}
	if len(cs) <= maxCachedArgs {
		key := headerKey{n: len(cs)}
		for i, c := range cs {
			key.types[i] = c.rt
		}
		headers.Store(key, h)
	}
	return h, nil
}

// encodeGo appends the value v of c's Go type.
func encodeGo(dst []byte, c *codec, v reflect.Value) ([]byte, error) {
	switch c.kind {
	case gkBool:
		if v.Bool() {
			return append(dst, 1), nil
		}
		return append(dst, 0), nil
	case gkString:
		s := v.String()
		if !utf8.ValidString(s) {
			return nil, fmt.Errorf("%w: text is not valid UTF-8", ErrInvalidValue)
		}
		dst = leb128.AppendUint(dst, uint64(len(s)))
		return append(dst, s...), nil
	case gkUint8:
		return append(dst, byte(v.Uint())), nil
	case gkUint16:
		return binary.LittleEndian.AppendUint16(dst, uint16(v.Uint())), nil
	case gkUint32:
		return binary.LittleEndian.AppendUint32(dst, uint32(v.Uint())), nil
	case gkUint64:
		return binary.LittleEndian.AppendUint64(dst, v.Uint()), nil
	case gkInt8:
		return append(dst, byte(v.Int())), nil
	case gkInt16:
		return binary.LittleEndian.AppendUint16(dst, uint16(v.Int())), nil
	case gkInt32:
		return binary.LittleEndian.AppendUint32(dst, uint32(v.Int())), nil
	case gkInt64:
		return binary.LittleEndian.AppendUint64(dst, uint64(v.Int())), nil
	case gkFloat32:
		return binary.LittleEndian.AppendUint32(dst, math.Float32bits(float32(v.Float()))), nil
	case gkFloat64:
		return binary.LittleEndian.AppendUint64(dst, math.Float64bits(v.Float())), nil
	case gkNat:
		return appendNat(dst, *v.Addr().Interface().(*Nat)), nil
	case gkInt:
		return appendInt(dst, *v.Addr().Interface().(*Int)), nil
	case gkNull, gkReserved:
		return dst, nil
	case gkEmpty:
		return nil, fmt.Errorf("%w: type empty has no values", ErrInvalidValue)
	case gkPrincipal:
		return appendPrincipal(dst, *v.Addr().Interface().(*principal.Principal)), nil
	case gkBytes, gkByteArray:
		b := v.Bytes()
		dst = leb128.AppendUint(dst, uint64(len(b)))
		return append(dst, b...), nil
	case gkOpt:
		if v.IsNil() {
			return append(dst, 0), nil
		}
		return encodeGo(append(dst, 1), c.elem, v.Elem())
	case gkVec, gkArray:
		n := v.Len()
		dst = leb128.AppendUint(dst, uint64(n))
		var err error
		for i := range n {
			if dst, err = encodeGo(dst, c.elem, v.Index(i)); err != nil {
				return nil, fmt.Errorf("element %d: %w", i, err)
			}
		}
		return dst, nil
	case gkRecord:
		var err error
		for _, f := range c.fields {
			if dst, err = encodeGo(dst, f.c, v.Field(f.index)); err != nil {
				return nil, fmt.Errorf("field %s: %w", f.label(), err)
			}
		}
		return dst, nil
	case gkVariant:
		chosen := -1
		for i, f := range c.fields {
			if !v.Field(f.index).IsNil() {
				if chosen >= 0 {
					return nil, fmt.Errorf("%w: variant %s has alternatives %s and %s set", ErrInvalidValue,
						c.rt, c.fields[chosen].label(), f.label())
				}
				chosen = i
			}
		}
		if chosen < 0 {
			return nil, fmt.Errorf("%w: variant %s has no alternative set", ErrInvalidValue, c.rt)
		}
		f := c.fields[chosen]
		dst = leb128.AppendUint(dst, uint64(chosen))
		dst, err := encodeGo(dst, f.c, v.Field(f.index).Elem())
		if err != nil {
			return nil, fmt.Errorf("alternative %s: %w", f.label(), err)
		}
		return dst, nil
	}
	return nil, fmt.Errorf("%w: %s cannot be encoded", ErrUnsupportedType, c.rt)
}

func appendNat(dst []byte, n Nat) []byte {
	if n.big != nil {
		return leb128.AppendBigUint(dst, n.big)
	}
	return leb128.AppendUint(dst, n.small)
}

func appendInt(dst []byte, i Int) []byte {
	if i.big != nil {
		return leb128.AppendBigInt(dst, i.big)
	}
	return leb128.AppendInt(dst, i.small)
}

func appendPrincipal(dst []byte, p principal.Principal) []byte {
	dst = append(dst, 1)
	dst = leb128.AppendUint(dst, uint64(p.Len()))
	return append(dst, p.Bytes()...)
}
