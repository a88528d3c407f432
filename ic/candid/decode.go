package candid

import (
	"encoding/binary"
	"math"
	"math/big"
	"unicode/utf8"

	"github.com/icws/icws/ic/leb128"
	"github.com/icws/icws/ic/principal"
)

// Decoding limits.
const (
	// DefaultQuota is the decoding cost quota used when DecodeOptions.Quota is 0. It is the
	// quota the official conformance suite is run with.
	DefaultQuota = 20_000_000
	// MaxDepth is how deeply values (and types, in subtype checks) may nest.
	MaxDepth = 512
	// MaxTypeTable is the greatest number of entries a message's type table may have.
	MaxTypeTable = 10_000
)

// magic starts every message.
const magic = "DIDL"

// DecodeOptions configures decoding. The zero value gives the defaults.
type DecodeOptions struct {
	// Quota bounds the work and memory spent on one message, in cost units; 0 or less means
	// DefaultQuota.
	// The cost model follows the Rust implementation's: 4 per byte of the header, then per
	// value: the byte length of nat, int, nat<N>, int<N>, float<N>; 1 for bool, null, reserved;
	// 1 + the length of text and blob; max(30, length) for a principal; 1 for opt (plus 10 when a
	// value that does not coerce is skipped under opt); 1 + 3 per element for vec; 1 + 4 per
	// field for record; 5 for variant; 1 + the length of a future value; the type table's size for
	// every function or service subtype check. Skipped values (extra arguments and fields) cost
	// the same as decoded ones. On top of this, every byte of memory the decoder allocates for
	// the result costs one unit, so a message never makes the decoder allocate much more than
	// Quota bytes.
	Quota int
}

// decoder reads one message. It lives on the caller's stack for the duration of one call.
type decoder struct {
	data  []byte
	pos   int
	quota int
	depth int
	table []node // the message's type table
	args  []*node
	sub   *subtyper
}

func newDecoder(data []byte, o DecodeOptions) decoder {
	q := o.Quota
	if q <= 0 {
		q = DefaultQuota
	}
	return decoder{data: data, quota: q}
}

func (d *decoder) fail(kind error, format string, args ...any) *DecodeError {
	return &DecodeError{Offset: d.pos, Err: kind, format: format, args: args}
}

func (d *decoder) invalid(format string, args ...any) error {
	return d.fail(ErrInvalid, format, args...)
}

// mismatch reports a wire value of type w where expected (a *node, *codec or string) is wanted.
func (d *decoder) mismatch(w *node, expected any) error {
	switch e := expected.(type) {
	case *node:
		expected = typeArg{e}
	case *codec:
		expected = codecArg{e}
	}
	return d.fail(ErrTypeMismatch, "cannot decode %v as %v", typeArg{w}, expected)
}

// charge spends n cost units.
func (d *decoder) charge(n int) error {
	if n > d.quota || n < 0 {
		d.quota = 0
		return d.fail(ErrLimit, "decoding cost exceeds the quota")
	}
	d.quota -= n
	return nil
}

// chargeN spends count*unit cost units without overflowing.
func (d *decoder) chargeN(count uint64, unit int) error {
	if unit > 0 && count > uint64(d.quota/unit) {
		d.quota = 0
		return d.fail(ErrLimit, "decoding cost exceeds the quota (%d elements)", count)
	}
	return d.charge(int(count) * unit)
}

func (d *decoder) enter() error {
	d.depth++
	if d.depth > MaxDepth {
		return d.fail(ErrLimit, "values nest deeper than %d levels", MaxDepth)
	}
	return nil
}

func (d *decoder) remaining() int { return len(d.data) - d.pos }

func (d *decoder) need(n int, what string) error {
	if n > d.remaining() || n < 0 {
		return d.invalid("input too short for %s: %d bytes needed, %d left", what, n, d.remaining())
	}
	return nil
}

func (d *decoder) readByte(what string) (byte, error) {
	if d.pos >= len(d.data) {
		return 0, d.invalid("input too short for %s", what)
	}
	b := d.data[d.pos]
	d.pos++
	return b, nil
}

func (d *decoder) readBytes(n int, what string) ([]byte, error) {
	if err := d.need(n, what); err != nil {
		return nil, err
	}
	b := d.data[d.pos : d.pos+n : d.pos+n]
	d.pos += n
	return b, nil
}

// uleb reads an unsigned LEB128 number of at most 64 bits.
func (d *decoder) uleb(what string) (uint64, error) {
	if d.pos < len(d.data) && d.data[d.pos] < 0x80 {
		v := d.data[d.pos]
		d.pos++
		return uint64(v), nil
	}
	v, n, err := leb128.Uint(d.data[d.pos:])
	if err != nil {
		if err == leb128.ErrOverflow {
			return 0, d.invalid("%s does not fit in 64 bits", what)
		}
		return 0, d.invalid("input too short for %s", what)
	}
	d.pos += n
	return v, nil
}

// length reads a LEB128 count of items that each take at least minSize bytes, and checks that
// the rest of the input can hold them.
func (d *decoder) length(minSize int, what string) (int, error) {
	v, err := d.uleb(what)
	if err != nil {
		return 0, err
	}
	if v > uint64(d.remaining()) && minSize > 0 || minSize > 0 && v*uint64(minSize) > uint64(d.remaining()) {
		return 0, d.invalid("%s %d exceeds the %d bytes left", what, v, d.remaining())
	}
	if v > math.MaxInt32 {
		return 0, d.fail(ErrLimit, "%s %d is too large", what, v)
	}
	return int(v), nil
}

// sleb reads a signed LEB128 number of at most 64 bits.
func (d *decoder) sleb(what string) (int64, error) {
	v, n, ok := sleb64(d.data[d.pos:])
	if !ok {
		x, n2, err := leb128.Int(d.data[d.pos:])
		if err != nil {
			if err == leb128.ErrOverflow {
				return 0, d.invalid("%s does not fit in 64 bits", what)
			}
			return 0, d.invalid("input too short for %s", what)
		}
		v, n = x, n2
	}
	d.pos += n
	return v, nil
}

// sleb64 decodes SLEB128 numbers of up to 9 bytes without allocating; ok is false otherwise.
func sleb64(b []byte) (v int64, n int, ok bool) {
	var shift uint
	for i := 0; i < len(b) && i < 9; i++ {
		c := b[i]
		v |= int64(c&0x7f) << shift
		shift += 7
		if c < 0x80 {
			if c&0x40 != 0 {
				v |= -1 << shift
			}
			return v, i + 1, true
		}
	}
	return 0, 0, false
}

// skipLEB skips one LEB128 number of any length and returns its length.
func (d *decoder) skipLEB(what string) (int, error) {
	for i := d.pos; i < len(d.data); i++ {
		if d.data[i] < 0x80 {
			n := i + 1 - d.pos
			d.pos = i + 1
			return n, nil
		}
	}
	return 0, d.invalid("input too short for %s", what)
}

func (d *decoder) readBool() (bool, error) {
	if err := d.charge(1); err != nil {
		return false, err
	}
	b, err := d.readByte("bool")
	if err != nil {
		return false, err
	}
	if b > 1 {
		d.pos--
		return false, d.invalid("bool byte is %#02x, not 0 or 1", b)
	}
	return b == 1, nil
}

func (d *decoder) readFixed(n int, what string) ([]byte, error) {
	if err := d.charge(n); err != nil {
		return nil, err
	}
	return d.readBytes(n, what)
}

func (d *decoder) readNat() (Nat, error) {
	start := d.pos
	if v, n, err := leb128.Uint(d.data[d.pos:]); err == nil {
		d.pos += n
		return Nat{small: v}, d.charge(n)
	} else if err != leb128.ErrOverflow {
		return Nat{}, d.invalid("input too short for nat")
	}
	v, n, err := leb128.BigUint(d.data[d.pos:])
	if err != nil {
		return Nat{}, d.invalid("input too short for nat")
	}
	d.pos += n
	if err := d.charge(n + n); err != nil { // the big.Int costs about as many bytes as the LEB128
		d.pos = start
		return Nat{}, err
	}
	return natFromBigOwned(v), nil
}

func (d *decoder) readInt() (Int, error) {
	if v, n, ok := sleb64(d.data[d.pos:]); ok {
		d.pos += n
		return Int{small: v}, d.charge(n)
	}
	v, n, err := leb128.BigInt(d.data[d.pos:])
	if err != nil {
		return Int{}, d.invalid("input too short for int")
	}
	d.pos += n
	return intFromBigOwned(v), d.charge(n + n)
}

// readNatAsInt reads a nat value where an int is expected.
func (d *decoder) readNatAsInt() (Int, error) {
	v, err := d.readNat()
	if err != nil {
		return Int{}, err
	}
	if v.big == nil {
		if v.small <= math.MaxInt64 {
			return Int{small: int64(v.small)}, nil
		}
		return Int{big: new(big.Int).SetUint64(v.small)}, nil
	}
	return Int{big: v.big}, nil
}

// readText reads text and returns its bytes, which alias the input.
func (d *decoder) readText() ([]byte, error) {
	l, err := d.length(1, "text length")
	if err != nil {
		return nil, err
	}
	if err := d.charge(1 + l); err != nil {
		return nil, err
	}
	b, _ := d.readBytes(l, "text")
	if !utf8.Valid(b) {
		d.pos -= l
		return nil, d.invalid("text is not valid UTF-8")
	}
	return b, nil
}

// readPrincipalBytes reads the value of a principal or service reference.
func (d *decoder) readPrincipalBytes() ([]byte, error) {
	flag, err := d.readByte("principal")
	if err != nil {
		return nil, err
	}
	if flag != 1 {
		d.pos--
		if flag == 0 {
			return nil, d.invalid("opaque references are not supported")
		}
		return nil, d.invalid("principal flag is %#02x, not 1", flag)
	}
	l, err := d.length(1, "principal length")
	if err != nil {
		return nil, err
	}
	if l > principal.MaxLength {
		return nil, d.invalid("principal has %d bytes, at most %d allowed", l, principal.MaxLength)
	}
	if err := d.charge(max(30, l)); err != nil {
		return nil, err
	}
	return d.readBytes(l, "principal")
}

func (d *decoder) readPrincipal() (principal.Principal, error) {
	b, err := d.readPrincipalBytes()
	if err != nil {
		return principal.Principal{}, err
	}
	p, err := principal.FromBytes(b)
	if err != nil {
		return principal.Principal{}, d.invalid("%v", err)
	}
	return p, nil
}

func (d *decoder) readFunc() (Func, error) {
	flag, err := d.readByte("function reference")
	if err != nil {
		return Func{}, err
	}
	if flag != 1 {
		d.pos--
		if flag == 0 {
			return Func{}, d.invalid("opaque references are not supported")
		}
		return Func{}, d.invalid("function reference flag is %#02x, not 1", flag)
	}
	if err := d.charge(2); err != nil {
		return Func{}, err
	}
	p, err := d.readPrincipal()
	if err != nil {
		return Func{}, err
	}
	m, err := d.readText()
	if err != nil {
		return Func{}, err
	}
	return Func{Service: p, Method: string(m)}, nil
}

// readOptFlag reads the flag byte of an opt value.
func (d *decoder) readOptFlag() (bool, error) {
	b, err := d.readByte("opt")
	if err != nil {
		return false, err
	}
	if b > 1 {
		d.pos--
		return false, d.invalid("opt flag is %#02x, not 0 or 1", b)
	}
	return b == 1, nil
}

// readVariantIndex reads the alternative index of a variant of wire type w.
func (d *decoder) readVariantIndex(w *node) (int, error) {
	if err := d.charge(5); err != nil {
		return 0, err
	}
	start := d.pos
	i, err := d.uleb("variant index")
	if err != nil {
		return 0, err
	}
	if i >= uint64(len(w.fields)) {
		d.pos = start
		return 0, d.invalid("variant index %d out of range (%d alternatives)", i, len(w.fields))
	}
	return int(i), nil
}

// fixedSize returns the value size of a fixed-size primitive, or -1.
func fixedSize(k Kind) int {
	switch k {
	case KindNull, KindReserved:
		return 0
	case KindBool, KindNat8, KindInt8:
		return 1
	case KindNat16, KindInt16:
		return 2
	case KindNat32, KindInt32, KindFloat32:
		return 4
	case KindNat64, KindInt64, KindFloat64:
		return 8
	}
	return -1
}

// skip checks and skips one value of wire type w.
func (d *decoder) skip(w *node) error {
	switch w.kind {
	case KindNull, KindReserved:
		return d.charge(1)
	case KindBool:
		_, err := d.readBool()
		return err
	case KindNat8, KindNat16, KindNat32, KindNat64, KindInt8, KindInt16, KindInt32, KindInt64,
		KindFloat32, KindFloat64:
		_, err := d.readFixed(fixedSize(w.kind), w.kind.String())
		return err
	case KindNat, KindInt:
		n, err := d.skipLEB(w.kind.String())
		if err != nil {
			return err
		}
		return d.charge(n)
	case KindText:
		_, err := d.readText()
		return err
	case KindEmpty:
		return d.invalid("a value of type empty cannot occur")
	case KindPrincipal, KindService:
		_, err := d.readPrincipalBytes()
		return err
	case KindFunc:
		_, err := d.readFunc()
		return err
	case KindFuture:
		m, err := d.length(1, "future value length")
		if err != nil {
			return err
		}
		if _, err := d.uleb("future value reference count"); err != nil {
			return err
		}
		if err := d.charge(1 + m); err != nil {
			return err
		}
		_, err = d.readBytes(m, "future value")
		return err
	}
	if w.fixed >= 0 && d.depth+w.nest < MaxDepth {
		if err := d.charge(w.fixedCost); err != nil {
			return err
		}
		_, err := d.readBytes(w.fixed, w.kind.String())
		return err
	}
	if err := d.enter(); err != nil {
		return err
	}
	err := d.skipComposite(w)
	d.depth--
	return err
}

func (d *decoder) skipComposite(w *node) error {
	if err := d.charge(1); err != nil {
		return err
	}
	switch w.kind {
	case KindOpt:
		some, err := d.readOptFlag()
		if err != nil || !some {
			return err
		}
		return d.skip(w.elem)
	case KindVec:
		count, err := d.length(w.elem.minSize, "vec length")
		if err != nil {
			return err
		}
		if e := w.elem; e.kind == KindBool || e.fixed >= 0 && d.depth+e.nest < MaxDepth {
			size, cost := 1, 1
			if e.kind != KindBool {
				size, cost = e.fixed, e.fixedCost
			}
			if err := d.chargeN(uint64(count), 3+cost); err != nil {
				return err
			}
			b, err := d.readBytes(count*size, "vec")
			if err != nil {
				return err
			}
			if w.elem.kind == KindBool {
				for i, c := range b {
					if c > 1 {
						d.pos -= len(b) - i
						return d.invalid("bool byte is %#02x, not 0 or 1", c)
					}
				}
			}
			return nil
		}
		for range count {
			if err := d.charge(3); err != nil {
				return err
			}
			if err := d.skip(w.elem); err != nil {
				return err
			}
		}
		return nil
	case KindRecord:
		for _, f := range w.fields {
			if err := d.charge(4); err != nil {
				return err
			}
			if err := d.skip(f.typ); err != nil {
				return err
			}
		}
		return nil
	case KindVariant:
		i, err := d.readVariantIndex(w)
		if err != nil {
			return err
		}
		return d.skip(w.fields[i].typ)
	}
	return d.invalid("internal error: cannot skip %s", w.kind)
}

func le16(b []byte) uint16 { return binary.LittleEndian.Uint16(b) }
func le32(b []byte) uint32 { return binary.LittleEndian.Uint32(b) }
func le64(b []byte) uint64 { return binary.LittleEndian.Uint64(b) }

// nullish reports whether null <: t: t is null, reserved or an opt type.
func nullish(k Kind) bool { return k == KindNull || k == KindReserved || k == KindOpt }
