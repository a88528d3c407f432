package candid

import (
	"encoding/binary"
	"fmt"
	"math"
	"unicode/utf8"

	"github.com/icws/icws/ic/leb128"
	"github.com/icws/icws/ic/principal"
)

// EncodeValues encodes generic values (the representation DecodeValues returns) at the given
// types, one value per type. A record value may leave out fields of type null, reserved or opt;
// a reserved value may be anything.
func EncodeValues(types []Type, values []any) ([]byte, error) {
	if len(types) != len(values) {
		return nil, fmt.Errorf("%w: %d types but %d values", ErrInvalidValue, len(types), len(values))
	}
	nodes := make([]*node, len(types))
	for i, t := range types {
		nodes[i] = t.check("EncodeValues")
	}
	dst, err := appendHeader(nil, nodes)
	if err != nil {
		return nil, err
	}
	for i, v := range values {
		if dst, err = appendValue(dst, nodes[i], v, 0); err != nil {
			return nil, fmt.Errorf("candid: argument %d: %w", i, err)
		}
	}
	return dst, nil
}

func wrongValue(t *node, v any) error {
	return fmt.Errorf("%w: %T is not a value of type %s", ErrInvalidValue, v, Type{t})
}

func appendValue(dst []byte, t *node, v any, depth int) ([]byte, error) {
	if depth > MaxDepth {
		return nil, fmt.Errorf("%w: value nests deeper than %d levels", ErrInvalidValue, MaxDepth)
	}
	ok := true
	switch t.kind {
	case KindNull:
		_, ok = v.(Null)
	case KindReserved:
	case KindEmpty:
		return nil, fmt.Errorf("%w: type empty has no values", ErrInvalidValue)
	case KindBool:
		var b bool
		if b, ok = v.(bool); ok {
			if b {
				dst = append(dst, 1)
			} else {
				dst = append(dst, 0)
			}
		}
	case KindNat:
		var n Nat
		if n, ok = v.(Nat); ok {
			dst = appendNat(dst, n)
		}
	case KindInt:
		var i Int
		if i, ok = v.(Int); ok {
			dst = appendInt(dst, i)
		}
	case KindNat8:
		var x uint8
		if x, ok = v.(uint8); ok {
			dst = append(dst, x)
		}
	case KindNat16:
		var x uint16
		if x, ok = v.(uint16); ok {
			dst = binary.LittleEndian.AppendUint16(dst, x)
		}
	case KindNat32:
		var x uint32
		if x, ok = v.(uint32); ok {
			dst = binary.LittleEndian.AppendUint32(dst, x)
		}
	case KindNat64:
		var x uint64
		if x, ok = v.(uint64); ok {
			dst = binary.LittleEndian.AppendUint64(dst, x)
		}
	case KindInt8:
		var x int8
		if x, ok = v.(int8); ok {
			dst = append(dst, byte(x))
		}
	case KindInt16:
		var x int16
		if x, ok = v.(int16); ok {
			dst = binary.LittleEndian.AppendUint16(dst, uint16(x))
		}
	case KindInt32:
		var x int32
		if x, ok = v.(int32); ok {
			dst = binary.LittleEndian.AppendUint32(dst, uint32(x))
		}
	case KindInt64:
		var x int64
		if x, ok = v.(int64); ok {
			dst = binary.LittleEndian.AppendUint64(dst, uint64(x))
		}
	case KindFloat32:
		var x float32
		if x, ok = v.(float32); ok {
			dst = binary.LittleEndian.AppendUint32(dst, math.Float32bits(x))
		}
	case KindFloat64:
		var x float64
		if x, ok = v.(float64); ok {
			dst = binary.LittleEndian.AppendUint64(dst, math.Float64bits(x))
		}
	case KindText:
		var s string
		if s, ok = v.(string); ok {
			if !utf8.ValidString(s) {
				return nil, fmt.Errorf("%w: text is not valid UTF-8", ErrInvalidValue)
			}
			dst = leb128.AppendUint(dst, uint64(len(s)))
			dst = append(dst, s...)
		}
	case KindPrincipal, KindService:
		var p principal.Principal
		if p, ok = v.(principal.Principal); ok {
			dst = appendPrincipal(dst, p)
		}
	case KindFunc:
		var f Func
		if f, ok = v.(Func); ok {
			if !utf8.ValidString(f.Method) {
				return nil, fmt.Errorf("%w: method name is not valid UTF-8", ErrInvalidValue)
			}
			dst = appendPrincipal(append(dst, 1), f.Service)
			dst = leb128.AppendUint(dst, uint64(len(f.Method)))
			dst = append(dst, f.Method...)
		}
	case KindOpt:
		var o Opt
		if o, ok = v.(Opt); ok {
			if !o.Valid {
				return append(dst, 0), nil
			}
			return appendValue(append(dst, 1), t.elem, o.Value, depth+1)
		}
	case KindVec:
		return appendVecValue(dst, t, v, depth)
	case KindRecord:
		return appendRecordValue(dst, t, v, depth)
	case KindVariant:
		var x Variant
		if x, ok = v.(Variant); ok {
			i, found := findField(t.fields, x.ID)
			if !found {
				return nil, fmt.Errorf("%w: variant alternative %d is not in %s", ErrInvalidValue, x.ID, Type{t})
			}
			dst = leb128.AppendUint(dst, uint64(i))
			return appendValue(dst, t.fields[i].typ, x.Value, depth+1)
		}
	default:
		return nil, fmt.Errorf("%w: type %s cannot be encoded", ErrUnsupportedType, t.kind)
	}
	if !ok {
		return nil, wrongValue(t, v)
	}
	return dst, nil
}

func appendVecValue(dst []byte, t *node, v any, depth int) ([]byte, error) {
	if b, ok := v.([]byte); ok && t.elem.kind == KindNat8 {
		dst = leb128.AppendUint(dst, uint64(len(b)))
		return append(dst, b...), nil
	}
	xs, ok := v.([]any)
	if !ok {
		return nil, wrongValue(t, v)
	}
	dst = leb128.AppendUint(dst, uint64(len(xs)))
	var err error
	for i, x := range xs {
		if dst, err = appendValue(dst, t.elem, x, depth+1); err != nil {
			return nil, fmt.Errorf("element %d: %w", i, err)
		}
	}
	return dst, nil
}

func appendRecordValue(dst []byte, t *node, v any, depth int) ([]byte, error) {
	r, ok := v.(Record)
	if !ok {
		return nil, wrongValue(t, v)
	}
	for _, f := range t.fields {
		x, found := r.GetID(f.id)
		if !found {
			if !nullish(f.typ.kind) {
				return nil, fmt.Errorf("%w: record field %s is missing", ErrInvalidValue, fieldLabel(f))
			}
			x = nullValue(f.typ.kind)
		}
		var err error
		if dst, err = appendValue(dst, f.typ, x, depth+1); err != nil {
			return nil, fmt.Errorf("field %s: %w", fieldLabel(f), err)
		}
	}
	return dst, nil
}
