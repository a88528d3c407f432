package candid

import (
	"math"
	"sort"
	"strconv"
)

// Approximate bytes allocated for generic values, charged against the quota.
const (
	costBox      = 16 // an interface holding a small value
	costSlot     = 16 // one []any element
	costField    = 40 // one FieldValue
	costVariant  = 48
	costOptValue = 32
)

// value decodes one value of wire type w as a generic value of expected type e (e == w when the
// value is taken as it is). See DecodeValues for the representation.
func (d *decoder) value(w, e *node) (any, error) {
	switch e.kind {
	case KindReserved:
		if w.kind != KindReserved {
			if err := d.skip(w); err != nil {
				return nil, err
			}
		}
		return Reserved{}, d.charge(1)
	case KindOpt:
		return d.optValue(w, e)
	case KindEmpty:
		if w.kind == KindEmpty {
			return nil, d.invalid("a value of type empty cannot occur")
		}
		return nil, d.mismatch(w, "empty")
	case KindFuture:
		return Reserved{}, d.skip(w)
	case KindInt:
		if w.kind == KindNat {
			v, err := d.readNatAsInt()
			if err != nil {
				return nil, err
			}
			return v, d.charge(costBox)
		}
	case KindPrincipal:
		if w.kind == KindService {
			e = w
		}
	}
	if w.kind != e.kind {
		return nil, d.mismatch(w, e)
	}
	switch e.kind {
	case KindNull:
		return Null{}, d.charge(1)
	case KindBool:
		return d.readBool()
	case KindNat:
		v, err := d.readNat()
		if err != nil {
			return nil, err
		}
		return v, d.charge(costBox)
	case KindInt:
		v, err := d.readInt()
		if err != nil {
			return nil, err
		}
		return v, d.charge(costBox)
	case KindNat8, KindNat16, KindNat32, KindNat64, KindInt8, KindInt16, KindInt32, KindInt64,
		KindFloat32, KindFloat64:
		return d.fixedValue(e.kind)
	case KindText:
		b, err := d.readText()
		if err != nil {
			return nil, err
		}
		return string(b), d.charge(costBox)
	case KindPrincipal, KindService:
		if e.kind == KindService && e != w {
			if ok, err := d.isSubtype(w, e); err != nil {
				return nil, err
			} else if !ok {
				return nil, d.mismatch(w, e)
			}
		}
		p, err := d.readPrincipal()
		if err != nil {
			return nil, err
		}
		return p, d.charge(costBox)
	case KindFunc:
		if e != w {
			if ok, err := d.isSubtype(w, e); err != nil {
				return nil, err
			} else if !ok {
				return nil, d.mismatch(w, e)
			}
		}
		f, err := d.readFunc()
		if err != nil {
			return nil, err
		}
		return f, d.charge(costVariant)
	}
	if err := d.enter(); err != nil {
		return nil, err
	}
	var v any
	err := d.charge(1)
	if err == nil {
		switch e.kind {
		case KindVec:
			v, err = d.vecValue(w, e)
		case KindRecord:
			v, err = d.recordValue(w, e)
		case KindVariant:
			v, err = d.variantValue(w, e)
		default:
			err = d.invalid("internal error: cannot decode %s", e.kind)
		}
	}
	d.depth--
	return v, err
}

func (d *decoder) fixedValue(k Kind) (any, error) {
	size := fixedSize(k)
	b, err := d.readFixed(size, k.String())
	if err != nil {
		return nil, err
	}
	if err := d.charge(costBox); err != nil {
		return nil, err
	}
	switch k {
	case KindNat8:
		return b[0], nil
	case KindNat16:
		return le16(b), nil
	case KindNat32:
		return le32(b), nil
	case KindNat64:
		return le64(b), nil
	case KindInt8:
		return int8(b[0]), nil
	case KindInt16:
		return int16(le16(b)), nil
	case KindInt32:
		return int32(le32(b)), nil
	case KindInt64:
		return int64(le64(b)), nil
	case KindFloat32:
		return math.Float32frombits(le32(b)), nil
	default:
		return math.Float64frombits(le64(b)), nil
	}
}

// optValue decodes a value of wire type w at an opt type e, with the coercions of the spec: null
// and reserved give null; an opt value, or any other value, whose content does not coerce to
// e's content type is skipped and gives null.
func (d *decoder) optValue(w, e *node) (any, error) {
	if err := d.charge(1); err != nil {
		return nil, err
	}
	switch w.kind {
	case KindNull, KindReserved:
		return Opt{}, nil
	case KindOpt:
		some, err := d.readOptFlag()
		if err != nil || !some {
			return Opt{}, err
		}
		w = w.elem
	}
	if err := d.enter(); err != nil {
		return nil, err
	}
	v, err := d.optSomeValue(w, e)
	d.depth--
	return v, err
}

// optSomeValue decodes the content of an opt value, or gives null if it does not coerce.
func (d *decoder) optSomeValue(w, e *node) (any, error) {
	start := d.pos
	v, err := d.value(w, e.elem)
	if err == nil {
		return Opt{Value: v, Valid: true}, d.charge(costOptValue)
	}
	if !isMismatch(err) {
		return nil, err
	}
	d.pos = start
	if err := d.charge(10); err != nil {
		return nil, err
	}
	return Opt{}, d.skip(w)
}

func (d *decoder) vecValue(w, e *node) (any, error) {
	count, err := d.length(w.elem.minSize, "vec length")
	if err != nil {
		return nil, err
	}
	if e.elem.kind == KindNat8 {
		if count > 0 && w.elem.kind != KindNat8 {
			return nil, d.mismatch(w, "blob")
		}
		if err := d.charge(1 + count + costBox); err != nil {
			return nil, err
		}
		b, err := d.readBytes(count, "blob")
		if err != nil {
			return nil, err
		}
		return append([]byte{}, b...), nil
	}
	if err := d.chargeN(uint64(count), 3+costSlot); err != nil {
		return nil, err
	}
	out := make([]any, count)
	for i := range out {
		if out[i], err = d.value(w.elem, e.elem); err != nil {
			return nil, withPath(err, "element "+strconv.Itoa(i))
		}
	}
	return out, nil
}

func (d *decoder) recordValue(w, e *node) (any, error) {
	if err := d.chargeN(uint64(len(e.fields)), costField); err != nil {
		return nil, err
	}
	out := make(Record, 0, len(e.fields))
	i, j := 0, 0
	for i < len(w.fields) || j < len(e.fields) {
		switch {
		case j == len(e.fields) || i < len(w.fields) && w.fields[i].id < e.fields[j].id:
			if err := d.charge(4); err != nil {
				return nil, err
			}
			if err := d.skip(w.fields[i].typ); err != nil {
				return nil, withPath(err, "field "+fieldLabel(w.fields[i]))
			}
			i++
		case i == len(w.fields) || e.fields[j].id < w.fields[i].id:
			ef := e.fields[j]
			if !nullish(ef.typ.kind) {
				return nil, d.fail(ErrTypeMismatch, "record field %s of type %v is missing", fieldLabel(ef), typeArg{ef.typ})
			}
			out = append(out, FieldValue{ID: ef.id, Name: ef.name, Value: nullValue(ef.typ.kind)})
			j++
		default:
			if err := d.charge(4); err != nil {
				return nil, err
			}
			ef := e.fields[j]
			v, err := d.value(w.fields[i].typ, ef.typ)
			if err != nil {
				return nil, withPath(err, "field "+fieldLabel(ef))
			}
			out = append(out, FieldValue{ID: ef.id, Name: ef.name, Value: v})
			i++
			j++
		}
	}
	return out, nil
}

func nullValue(k Kind) any {
	switch k {
	case KindNull:
		return Null{}
	case KindReserved:
		return Reserved{}
	}
	return Opt{}
}

func (d *decoder) variantValue(w, e *node) (any, error) {
	if w.kind != KindVariant {
		return nil, d.mismatch(w, e)
	}
	i, err := d.readVariantIndex(w)
	if err != nil {
		return nil, err
	}
	wf := w.fields[i]
	j, ok := findField(e.fields, wf.id)
	if !ok {
		return nil, d.fail(ErrTypeMismatch, "variant alternative %s is not in the expected type", fieldLabel(wf))
	}
	ef := e.fields[j]
	v, err := d.value(wf.typ, ef.typ)
	if err != nil {
		return nil, withPath(err, "alternative "+fieldLabel(ef))
	}
	return Variant{ID: ef.id, Name: ef.name, Value: v}, d.charge(costVariant)
}

func findField(fs []field, id uint32) (int, bool) {
	i := sort.Search(len(fs), func(i int) bool { return fs[i].id >= id })
	return i, i < len(fs) && fs[i].id == id
}
