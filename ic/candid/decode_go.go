package candid

import (
	"math"
	"reflect"
	"strconv"

	"github.com/icws/icws/ic/principal"
)

// decodeGo decodes one value of wire type w into v, an addressable value of c's Go type.
func (d *decoder) decodeGo(w *node, c *codec, v reflect.Value) error {
	switch c.kind {
	case gkAny:
		x, err := d.value(w, w)
		if err != nil {
			return err
		}
		v.Set(reflect.ValueOf(x))
		return nil
	case gkReserved:
		if w.kind != KindReserved {
			if err := d.skip(w); err != nil {
				return err
			}
		}
		return d.charge(1)
	case gkOpt:
		return d.optGo(w, c, v)
	case gkEmpty:
		if w.kind == KindEmpty {
			return d.invalid("a value of type empty cannot occur")
		}
		return d.mismatch(w, "empty")
	case gkInt:
		if w.kind == KindNat {
			x, err := d.readNatAsInt()
			if err != nil {
				return err
			}
			*v.Addr().Interface().(*Int) = x
			return nil
		}
	case gkPrincipal:
		if w.kind == KindService {
			p, err := d.readPrincipal()
			if err != nil {
				return err
			}
			*v.Addr().Interface().(*principal.Principal) = p
			return nil
		}
	}
	if w.kind != c.ck {
		return d.mismatch(w, c)
	}
	switch c.kind {
	case gkNull:
		return d.charge(1)
	case gkBool:
		b, err := d.readBool()
		if err != nil {
			return err
		}
		v.SetBool(b)
		return nil
	case gkUint8, gkUint16, gkUint32, gkUint64:
		b, err := d.readFixed(fixedSize(w.kind), w.kind.String())
		if err != nil {
			return err
		}
		switch len(b) {
		case 1:
			v.SetUint(uint64(b[0]))
		case 2:
			v.SetUint(uint64(le16(b)))
		case 4:
			v.SetUint(uint64(le32(b)))
		default:
			v.SetUint(le64(b))
		}
		return nil
	case gkInt8, gkInt16, gkInt32, gkInt64:
		b, err := d.readFixed(fixedSize(w.kind), w.kind.String())
		if err != nil {
			return err
		}
		switch len(b) {
		case 1:
			v.SetInt(int64(int8(b[0])))
		case 2:
			v.SetInt(int64(int16(le16(b))))
		case 4:
			v.SetInt(int64(int32(le32(b))))
		default:
			v.SetInt(int64(le64(b)))
		}
		return nil
	case gkFloat32:
		b, err := d.readFixed(4, "float32")
		if err != nil {
			return err
		}
		v.SetFloat(float64(math.Float32frombits(le32(b))))
		return nil
	case gkFloat64:
		b, err := d.readFixed(8, "float64")
		if err != nil {
			return err
		}
		v.SetFloat(math.Float64frombits(le64(b)))
		return nil
	case gkNat:
		x, err := d.readNat()
		if err != nil {
			return err
		}
		*v.Addr().Interface().(*Nat) = x
		return nil
	case gkInt:
		x, err := d.readInt()
		if err != nil {
			return err
		}
		*v.Addr().Interface().(*Int) = x
		return nil
	case gkString:
		b, err := d.readText()
		if err != nil {
			return err
		}
		v.SetString(string(b))
		return nil
	case gkPrincipal:
		p, err := d.readPrincipal()
		if err != nil {
			return err
		}
		*v.Addr().Interface().(*principal.Principal) = p
		return nil
	case gkBytes, gkByteArray:
		return d.bytesGo(w, c, v)
	}
	if err := d.enter(); err != nil {
		return err
	}
	err := d.charge(1)
	if err == nil {
		switch c.kind {
		case gkVec, gkArray:
			err = d.vecGo(w, c, v)
		case gkRecord:
			err = d.recordGo(w, c, v)
		case gkVariant:
			err = d.variantGo(w, c, v)
		default:
			err = d.invalid("internal error: cannot decode into %s", c.rt)
		}
	}
	d.depth--
	return err
}

// optGo decodes into a pointer (opt), with the coercions of the spec (see optValue).
func (d *decoder) optGo(w *node, c *codec, v reflect.Value) error {
	if err := d.charge(1); err != nil {
		return err
	}
	switch w.kind {
	case KindNull, KindReserved:
		v.SetZero()
		return nil
	case KindOpt:
		some, err := d.readOptFlag()
		if err != nil {
			return err
		}
		if !some {
			v.SetZero()
			return nil
		}
		w = w.elem
	}
	if err := d.enter(); err != nil {
		return err
	}
	err := d.optSomeGo(w, c, v)
	d.depth--
	return err
}

// optSomeGo decodes the content of an opt value, or gives null if it does not coerce.
func (d *decoder) optSomeGo(w *node, c *codec, v reflect.Value) error {
	if err := d.charge(int(c.elem.rt.Size())); err != nil {
		return err
	}
	start := d.pos
	p := reflect.New(c.elem.rt)
	err := d.decodeGo(w, c.elem, p.Elem())
	if err == nil {
		v.Set(p)
		return nil
	}
	if !isMismatch(err) {
		return err
	}
	d.pos = start
	if err := d.charge(10); err != nil {
		return err
	}
	v.SetZero()
	return d.skip(w)
}

func (d *decoder) bytesGo(w *node, c *codec, v reflect.Value) error {
	count, err := d.length(w.elem.minSize, "vec length")
	if err != nil {
		return err
	}
	if count > 0 && w.elem.kind != KindNat8 {
		return d.mismatch(w, "blob")
	}
	if c.kind == gkByteArray && count != c.length {
		return d.fail(ErrTypeMismatch, "blob has %d bytes, %s needs %d", count, c.rt, c.length)
	}
	if err := d.charge(1 + count); err != nil {
		return err
	}
	b, err := d.readBytes(count, "blob")
	if err != nil {
		return err
	}
	if c.kind == gkByteArray {
		copy(v.Bytes(), b)
		return nil
	}
	if err := d.charge(count); err != nil {
		return err
	}
	v.SetBytes(append(make([]byte, 0, count), b...))
	return nil
}

func (d *decoder) vecGo(w *node, c *codec, v reflect.Value) error {
	count, err := d.length(w.elem.minSize, "vec length")
	if err != nil {
		return err
	}
	if c.kind == gkArray && count != c.length {
		return d.fail(ErrTypeMismatch, "vec has %d elements, %s needs %d", count, c.rt, c.length)
	}
	if err := d.chargeN(uint64(count), 3+int(c.elem.rt.Size())); err != nil {
		return err
	}
	s := v
	if c.kind == gkVec {
		s = reflect.MakeSlice(c.rt, count, count)
	}
	// Elements that carry no data (null into Null, anything fixed-size into Reserved) are
	// charged and skipped at once.
	if e := w.elem; e.fixed >= 0 && d.depth+e.nest < MaxDepth &&
		(c.elem.kind == gkReserved || c.elem.kind == gkNull && e.kind == KindNull) {
		if err := d.chargeN(uint64(count), e.fixedCost+1); err != nil {
			return err
		}
		if _, err := d.readBytes(count*e.fixed, "vec"); err != nil {
			return err
		}
		if c.kind == gkVec {
			v.Set(s)
		}
		return nil
	}
	for i := range count {
		if err := d.decodeGo(w.elem, c.elem, s.Index(i)); err != nil {
			return withPath(err, "element "+strconv.Itoa(i))
		}
	}
	if c.kind == gkVec {
		v.Set(s)
	}
	return nil
}

func (d *decoder) recordGo(w *node, c *codec, v reflect.Value) error {
	i, j := 0, 0
	for i < len(w.fields) || j < len(c.fields) {
		switch {
		case j == len(c.fields) || i < len(w.fields) && w.fields[i].id < c.fields[j].id:
			if err := d.charge(4); err != nil {
				return err
			}
			if err := d.skip(w.fields[i].typ); err != nil {
				return withPath(err, "field "+fieldLabel(w.fields[i]))
			}
			i++
		case i == len(w.fields) || c.fields[j].id < w.fields[i].id:
			f := c.fields[j]
			switch f.c.kind {
			case gkNull, gkReserved, gkOpt, gkAny:
				v.Field(f.index).SetZero()
			default:
				return d.fail(ErrTypeMismatch, "record field %s of type %v is missing", f.label(), codecArg{f.c})
			}
			j++
		default:
			if err := d.charge(4); err != nil {
				return err
			}
			f := c.fields[j]
			if err := d.decodeGo(w.fields[i].typ, f.c, v.Field(f.index)); err != nil {
				return withPath(err, "field "+f.label())
			}
			i++
			j++
		}
	}
	return nil
}

func (d *decoder) variantGo(w *node, c *codec, v reflect.Value) error {
	i, err := d.readVariantIndex(w)
	if err != nil {
		return err
	}
	wf := w.fields[i]
	j := 0
	for j < len(c.fields) && c.fields[j].id < wf.id {
		j++
	}
	if j == len(c.fields) || c.fields[j].id != wf.id {
		return d.fail(ErrTypeMismatch, "variant alternative %s is not in %s", fieldLabel(wf), c.rt)
	}
	f := c.fields[j]
	if err := d.charge(int(f.c.rt.Size())); err != nil {
		return err
	}
	p := reflect.New(f.c.rt)
	if err := d.decodeGo(wf.typ, f.c, p.Elem()); err != nil {
		return withPath(err, "alternative "+f.label())
	}
	v.SetZero()
	v.Field(f.index).Set(p)
	return nil
}

func (f fieldCodec) label() string {
	if f.name != "" {
		return quoteName(f.name)
	}
	return strconv.FormatUint(uint64(f.id), 10)
}
