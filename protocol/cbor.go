package protocol

import (
	"fmt"
	"unicode/utf8"
)

// This file is the small CBOR codec of the icws wire messages. Every message is a flat map with
// text keys and uint, text or byte-string values, so a purpose-built codec gives exact control of
// the bytes (field order, shortest integer forms, where the self-describe tag goes) and decodes
// without reflection or allocation on the hot paths of the gateway and the clients. Generic CBOR
// (certificates, hash trees) is left to package ic/cbor.

// CBOR major types.
const (
	majorUint  = 0
	majorNeg   = 1
	majorBytes = 2
	majorText  = 3
	majorArray = 4
	majorMap   = 5
	majorTag   = 6
	majorOther = 7
)

// selfDescribe is tag 55799, the CBOR self-describe tag, as it is written: d9 d9 f7.
const selfDescribe = "\xd9\xd9\xf7"

// selfDescribeTag is the number of the self-describe tag.
const selfDescribeTag = 55799

// maxSkipDepth bounds the nesting of values skipped under unknown keys.
const maxSkipDepth = 16

// appendHead appends a CBOR head of the given major type and argument in the shortest form.
func appendHead(dst []byte, major byte, n uint64) []byte {
	m := major << 5
	switch {
	case n < 24:
		return append(dst, m|byte(n))
	case n <= 0xff:
		return append(dst, m|24, byte(n))
	case n <= 0xffff:
		return append(dst, m|25, byte(n>>8), byte(n))
	case n <= 0xffffffff:
		return append(dst, m|26, byte(n>>24), byte(n>>16), byte(n>>8), byte(n))
	default:
		return append(dst, m|27, byte(n>>56), byte(n>>48), byte(n>>40), byte(n>>32),
			byte(n>>24), byte(n>>16), byte(n>>8), byte(n))
	}
}

func appendText(dst []byte, s string) []byte {
	return append(appendHead(dst, majorText, uint64(len(s))), s...)
}

func appendBytes(dst, b []byte) []byte {
	return append(appendHead(dst, majorBytes, uint64(len(b))), b...)
}

func appendUint(dst []byte, v uint64) []byte { return appendHead(dst, majorUint, v) }

// headLen is the length of the head appendHead writes for n.
func headLen(n uint64) int {
	switch {
	case n < 24:
		return 1
	case n <= 0xff:
		return 2
	case n <= 0xffff:
		return 3
	case n <= 0xffffffff:
		return 5
	default:
		return 9
	}
}

// reader decodes CBOR from a byte slice. Errors name the byte offset.
type reader struct {
	b   []byte
	off int
}

func (r *reader) errorf(format string, args ...any) error {
	return fmt.Errorf("%w: at byte %d: %s", ErrMalformed, r.off, fmt.Sprintf(format, args...))
}

// head reads one head. Indefinite lengths and reserved additional information are refused.
func (r *reader) head() (major byte, arg uint64, err error) {
	if r.off >= len(r.b) {
		return 0, 0, r.errorf("unexpected end of input")
	}
	ib := r.b[r.off]
	major, ai := ib>>5, ib&0x1f
	var n int
	switch {
	case ai < 24:
		r.off++
		return major, uint64(ai), nil
	case ai == 24:
		n = 1
	case ai == 25:
		n = 2
	case ai == 26:
		n = 4
	case ai == 27:
		n = 8
	case ai == 31:
		return 0, 0, r.errorf("indefinite-length item (initial byte 0x%02x) is not allowed", ib)
	default:
		return 0, 0, r.errorf("reserved additional information in initial byte 0x%02x", ib)
	}
	if len(r.b)-r.off-1 < n {
		return 0, 0, r.errorf("unexpected end of input in a %d-byte argument", n)
	}
	for _, c := range r.b[r.off+1 : r.off+1+n] {
		arg = arg<<8 | uint64(c)
	}
	r.off += 1 + n
	return major, arg, nil
}

// headSkipSelfDescribe reads one head, skipping any number of self-describe tags first. Any other
// tag is an error.
func (r *reader) headSkipSelfDescribe() (major byte, arg uint64, err error) {
	for {
		start := r.off
		major, arg, err = r.head()
		if err != nil || major != majorTag {
			return major, arg, err
		}
		if arg != selfDescribeTag {
			r.off = start
			return 0, 0, r.errorf("unexpected tag %d", arg)
		}
	}
}

// span returns the next n bytes.
func (r *reader) span(n uint64, what string) ([]byte, error) {
	if n > uint64(len(r.b)-r.off) {
		return nil, r.errorf("%s of %d bytes runs past the end of the input", what, n)
	}
	s := r.b[r.off : r.off+int(n)]
	r.off += int(n)
	return s, nil
}

func (r *reader) uint(field string) (uint64, error) {
	major, arg, err := r.headSkipSelfDescribe()
	if err != nil {
		return 0, fmt.Errorf("field %q: %w", field, err)
	}
	if major != majorUint {
		return 0, fmt.Errorf("field %q: %w", field, r.errorf("want an unsigned integer, got %s", majorName(major)))
	}
	return arg, nil
}

// bytes reads a byte string; the result aliases the input.
func (r *reader) bytes(field string) ([]byte, error) {
	major, arg, err := r.headSkipSelfDescribe()
	if err != nil {
		return nil, fmt.Errorf("field %q: %w", field, err)
	}
	if major != majorBytes {
		return nil, fmt.Errorf("field %q: %w", field, r.errorf("want a byte string, got %s", majorName(major)))
	}
	b, err := r.span(arg, "byte string")
	if err != nil {
		return nil, fmt.Errorf("field %q: %w", field, err)
	}
	return b, nil
}

func (r *reader) text(field string) (string, error) {
	major, arg, err := r.headSkipSelfDescribe()
	if err != nil {
		return "", fmt.Errorf("field %q: %w", field, err)
	}
	if major != majorText {
		return "", fmt.Errorf("field %q: %w", field, r.errorf("want a text string, got %s", majorName(major)))
	}
	b, err := r.span(arg, "text string")
	if err != nil {
		return "", fmt.Errorf("field %q: %w", field, err)
	}
	if !utf8.Valid(b) {
		return "", fmt.Errorf("field %q: %w", field, r.errorf("text is not valid UTF-8"))
	}
	return string(b), nil
}

// skip skips one data item of any kind, nested at most maxSkipDepth deep.
func (r *reader) skip(depth int) error {
	if depth > maxSkipDepth {
		return r.errorf("nested deeper than %d levels", maxSkipDepth)
	}
	major, arg, err := r.head()
	if err != nil {
		return err
	}
	switch major {
	case majorUint, majorNeg, majorOther:
		// The argument was the whole item (simple values, floats and integers).
		return nil
	case majorBytes:
		_, err = r.span(arg, "byte string")
		return err
	case majorText:
		b, err := r.span(arg, "text string")
		if err == nil && !utf8.Valid(b) {
			err = r.errorf("text is not valid UTF-8")
		}
		return err
	case majorTag:
		return r.skip(depth + 1)
	case majorArray, majorMap:
		n := arg
		if major == majorMap {
			if n > uint64(len(r.b)) {
				return r.errorf("map of %d entries is longer than the input", n)
			}
			n *= 2
		}
		if n > uint64(len(r.b)-r.off) {
			return r.errorf("container of %d items is longer than the input", n)
		}
		for i := uint64(0); i < n; i++ {
			if err := r.skip(depth + 1); err != nil {
				return err
			}
		}
		return nil
	}
	return r.errorf("unknown major type %d", major)
}

// decodeMap decodes a whole input that must be one CBOR map with text keys (self-describe tags
// allowed before it and before any value). It calls field for every key; field reads the value
// with r and returns known=false, having read nothing, for keys it does not know, whose values
// are skipped. Duplicate keys and trailing bytes are errors. The returned bit set has bit i set
// when field reported index i as seen; callers use it to find missing fields.
func decodeMap(what string, b []byte, field func(r *reader, key []byte) (index int, known bool, err error)) (seen uint32, err error) {
	r := reader{b: b}
	major, n, err := r.headSkipSelfDescribe()
	if err != nil {
		return 0, fmt.Errorf("%s: %w", what, err)
	}
	if major != majorMap {
		return 0, fmt.Errorf("%s: %w", what, r.errorf("want a map, got %s", majorName(major)))
	}
	if n > uint64(len(b)) {
		return 0, fmt.Errorf("%s: %w", what, r.errorf("map of %d entries is longer than the input", n))
	}
	var unknown map[string]struct{}
	for i := uint64(0); i < n; i++ {
		kmajor, klen, err := r.head()
		if err != nil {
			return 0, fmt.Errorf("%s: %w", what, err)
		}
		if kmajor != majorText {
			return 0, fmt.Errorf("%s: %w", what, r.errorf("map key is %s, want a text string", majorName(kmajor)))
		}
		kb, err := r.span(klen, "map key")
		if err != nil {
			return 0, fmt.Errorf("%s: %w", what, err)
		}
		if !utf8.Valid(kb) {
			return 0, fmt.Errorf("%s: %w", what, r.errorf("map key is not valid UTF-8"))
		}
		idx, known, err := field(&r, kb)
		if err != nil {
			return 0, fmt.Errorf("%s: %w", what, err)
		}
		if known {
			if seen&(1<<idx) != 0 {
				return 0, fmt.Errorf("%s: %w", what, r.errorf("duplicate key %q", kb))
			}
			seen |= 1 << idx
			continue
		}
		if unknown == nil {
			unknown = make(map[string]struct{})
		}
		key := string(kb)
		if _, dup := unknown[key]; dup {
			return 0, fmt.Errorf("%s: %w", what, r.errorf("duplicate key %q", key))
		}
		unknown[key] = struct{}{}
		if err := r.skip(0); err != nil {
			return 0, fmt.Errorf("%s: value of unknown key %q: %w", what, key, err)
		}
	}
	if r.off != len(b) {
		return 0, fmt.Errorf("%s: %w", what, r.errorf("%d trailing bytes after the map", len(b)-r.off))
	}
	return seen, nil
}

// missing returns an error naming the first field in names whose bit is not in seen.
func missing(what string, seen uint32, names ...string) error {
	for i, name := range names {
		if seen&(1<<i) == 0 {
			return fmt.Errorf("%s: %w: %q", what, ErrMissingField, name)
		}
	}
	return nil
}

func majorName(major byte) string {
	switch major {
	case majorUint:
		return "an unsigned integer"
	case majorNeg:
		return "a negative integer"
	case majorBytes:
		return "a byte string"
	case majorText:
		return "a text string"
	case majorArray:
		return "an array"
	case majorMap:
		return "a map"
	case majorTag:
		return "a tag"
	default:
		return "a simple value or float"
	}
}
