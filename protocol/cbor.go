package protocol

import (
	"fmt"
	"unicode/utf8"

	"github.com/icws/icws/ic/cbor"
)

// This file is the CBOR reader of the icws wire messages; the writers build on ic/cbor's
// AppendHead, AppendText and AppendBytes. Every message is a flat map with text keys and uint,
// text or byte-string values, so a purpose-built codec gives exact control of the bytes (field
// order, shortest integer forms, where the self-describe tag goes) and decodes without reflection
// or allocation on the hot paths of the gateway and the clients. Generic CBOR (certificates, hash
// trees) is left to ic/cbor's Marshal and Unmarshal.

// maxSkipDepth bounds the nesting of values skipped under unknown keys.
const maxSkipDepth = 16

func appendUint(dst []byte, v uint64) []byte { return cbor.AppendHead(dst, cbor.MajorUint, v) }

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
	major, arg, n, err := cbor.Head(r.b[r.off:])
	if err != nil {
		return 0, 0, r.errorf("%v", err)
	}
	r.off += n
	return major, arg, nil
}

// headSkipSelfDescribe reads one head, skipping any number of self-describe tags first. Any other
// tag is an error.
func (r *reader) headSkipSelfDescribe() (major byte, arg uint64, err error) {
	for {
		start := r.off
		major, arg, err = r.head()
		if err != nil || major != cbor.MajorTag {
			return major, arg, err
		}
		if arg != cbor.SelfDescribeTag {
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
	if major != cbor.MajorUint {
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
	if major != cbor.MajorBytes {
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
	if major != cbor.MajorText {
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
	case cbor.MajorUint, cbor.MajorNeg, cbor.MajorSimple:
		// The argument was the whole item (simple values, floats and integers).
		return nil
	case cbor.MajorBytes:
		_, err = r.span(arg, "byte string")
		return err
	case cbor.MajorText:
		b, err := r.span(arg, "text string")
		if err == nil && !utf8.Valid(b) {
			err = r.errorf("text is not valid UTF-8")
		}
		return err
	case cbor.MajorTag:
		return r.skip(depth + 1)
	case cbor.MajorArray, cbor.MajorMap:
		n := arg
		if major == cbor.MajorMap {
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
	if major != cbor.MajorMap {
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
		if kmajor != cbor.MajorText {
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
	case cbor.MajorUint:
		return "an unsigned integer"
	case cbor.MajorNeg:
		return "a negative integer"
	case cbor.MajorBytes:
		return "a byte string"
	case cbor.MajorText:
		return "a text string"
	case cbor.MajorArray:
		return "an array"
	case cbor.MajorMap:
		return "a map"
	case cbor.MajorTag:
		return "a tag"
	default:
		return "a simple value or float"
	}
}
