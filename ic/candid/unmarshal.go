package candid

import (
	"fmt"
	"reflect"
)

// Unmarshal decodes a Candid message into the values ptrs point to, one pointer per expected
// argument, with the DefaultQuota. The subtyping rules of the Candid specification apply:
// extra arguments and record fields are skipped, missing arguments and fields of type null, opt
// or reserved read as null, an opt value that does not coerce reads as null, nat reads as int.
// A pointer to an interface (*any) receives the argument as a generic value (see DecodeValues),
// or nil if the argument is missing.
func Unmarshal(data []byte, ptrs ...any) error {
	return DecodeOptions{}.Unmarshal(data, ptrs...)
}

// Unmarshal is like the package function Unmarshal with the options of o.
func (o DecodeOptions) Unmarshal(data []byte, ptrs ...any) error {
	var stack [maxCachedArgs]*codec
	cs := stack[:0]
	for i, p := range ptrs {
		rv := reflect.ValueOf(p)
		if rv.Kind() != reflect.Pointer || rv.IsNil() {
			return fmt.Errorf("%w: Unmarshal argument %d is %T, not a non-nil pointer", ErrUnsupportedType, i, p)
		}
		c, err := codecFor(rv.Type().Elem())
		if err != nil {
			return fmt.Errorf("candid: argument %d: %w", i, err)
		}
		cs = append(cs, c)
	}
	d := newDecoder(data, o)
	if err := d.readHeader(); err != nil {
		return err
	}
	for i, c := range cs {
		v := reflect.ValueOf(ptrs[i]).Elem()
		if i >= len(d.args) {
			switch c.kind {
			case gkNull, gkReserved, gkOpt, gkAny:
				v.SetZero()
				continue
			}
			return d.fail(ErrTypeMismatch, "argument %d of type %v is missing", i, codecArg{c})
		}
		if err := d.decodeGo(d.args[i], c, v); err != nil {
			return withPath(err, fmt.Sprintf("argument %d", i))
		}
	}
	return d.finish(len(cs))
}

// finish skips the arguments after the first n and checks that the whole input was read.
func (d *decoder) finish(n int) error {
	for i := n; i < len(d.args); i++ {
		if err := d.skip(d.args[i]); err != nil {
			return withPath(err, fmt.Sprintf("argument %d", i))
		}
	}
	if d.pos != len(d.data) {
		return d.invalid("%d trailing bytes after the last value", len(d.data)-d.pos)
	}
	return nil
}

// DecodeValues decodes a Candid message at the given types with the DefaultQuota, under the same
// subtyping rules as Unmarshal, and returns one generic value per type:
//
//	null: Null{}         bool: bool           nat: Nat          int: Int
//	nat8..nat64: uint8..uint64                int8..int64: int8..int64
//	float32, float64: float32, float64        text: string      reserved: Reserved{}
//	principal, service: principal.Principal   func: Func        opt: Opt
//	vec nat8: []byte     other vec: []any     record: Record    variant: Variant
//
// Record and variant values carry the field names of the expected type, when it has them.
func DecodeValues(data []byte, types ...Type) ([]any, error) {
	return DecodeOptions{}.DecodeValues(data, types...)
}

// DecodeValues is like the package function DecodeValues with the options of o.
func (o DecodeOptions) DecodeValues(data []byte, types ...Type) ([]any, error) {
	d := newDecoder(data, o)
	if err := d.readHeader(); err != nil {
		return nil, err
	}
	out := make([]any, len(types))
	for i, t := range types {
		e := t.check("DecodeValues")
		if i >= len(d.args) {
			if !nullish(e.kind) {
				return nil, d.fail(ErrTypeMismatch, "argument %d of type %v is missing", i, typeArg{e})
			}
			out[i] = nullValue(e.kind)
			continue
		}
		v, err := d.value(d.args[i], e)
		if err != nil {
			return nil, withPath(err, fmt.Sprintf("argument %d", i))
		}
		out[i] = v
	}
	if err := d.finish(len(types)); err != nil {
		return nil, err
	}
	return out, nil
}

// Decode decodes every argument of a Candid message at its own wire type and returns the types
// and the generic values (see DecodeValues). Field names are unknown in wire types, so record
// and variant values carry only ids.
func Decode(data []byte) ([]Type, []any, error) {
	return DecodeOptions{}.Decode(data)
}

// Decode is like the package function Decode with the options of o.
func (o DecodeOptions) Decode(data []byte) ([]Type, []any, error) {
	d := newDecoder(data, o)
	if err := d.readHeader(); err != nil {
		return nil, nil, err
	}
	types := make([]Type, len(d.args))
	values := make([]any, len(d.args))
	for i, w := range d.args {
		v, err := d.value(w, w)
		if err != nil {
			return nil, nil, withPath(err, fmt.Sprintf("argument %d", i))
		}
		types[i], values[i] = Type{w}, v
	}
	if err := d.finish(len(d.args)); err != nil {
		return nil, nil, err
	}
	return types, values, nil
}
