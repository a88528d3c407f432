package certificate

import (
	"bytes"
	"fmt"

	"github.com/icws/icws/ic/cbor"
	"github.com/icws/icws/ic/hashtree"
	"github.com/icws/icws/ic/principal"
)

// Limits of the certificate decoder.
const (
	cborNull      = 0xf6
	maxSkipDepth  = 16 // nesting allowed inside ignored map values
	maxMapEntries = 16 // certificates have 2 or 3 keys; a few unknown ones are tolerated
)

// Parse decodes a certificate: the self-describe tag (optional), then a map with the keys "tree"
// (a hash tree), "signature" (a 48-byte byte string) and optionally "delegation" (a map with
// "subnet_id", a byte string of at most 29 bytes, and "certificate", a byte string; or null, as
// agent-rs writes an absent delegation). Parse is
// strict: indefinite lengths, duplicate or non-text keys, missing or mistyped fields, tags other
// than 55799 and trailing bytes are errors (wrapping ErrMalformed); keys it does not know are
// skipped. The delegation certificate is kept as bytes, not parsed. Parse does not verify anything;
// see Verifier. The result does not share memory with b.
func Parse(b []byte) (*Certificate, error) {
	return parse(bytes.Clone(b))
}

// parse is Parse without the copy: the result aliases b.
func parse(b []byte) (*Certificate, error) {
	r := reader{data: b}
	c := &Certificate{}
	var haveTree, haveSig, haveDelegation bool
	err := r.mapEntries("certificate", func(key string) error {
		switch key {
		case "tree":
			if haveTree {
				return r.errorf("duplicate key %q", key)
			}
			haveTree = true
			n, size, err := hashtree.UnmarshalPrefix(r.data[r.off:])
			if err != nil {
				return fmt.Errorf("%w: tree: %w", ErrMalformed, err)
			}
			r.off += size
			c.Tree = n
		case "signature":
			if haveSig {
				return r.errorf("duplicate key %q", key)
			}
			haveSig = true
			sig, err := r.bytes("signature")
			if err != nil {
				return err
			}
			if len(sig) != SignatureSize {
				return r.errorf("signature has %d bytes, want %d", len(sig), SignatureSize)
			}
			c.Signature = sig
		case "delegation":
			if haveDelegation {
				return r.errorf("duplicate key %q", key)
			}
			haveDelegation = true
			if r.off < len(r.data) && r.data[r.off] == cborNull {
				r.off++ // serde_cbor (agent-rs) writes an absent delegation as null
				return nil
			}
			d, err := r.delegation()
			if err != nil {
				return err
			}
			c.Delegation = d
		default:
			return r.skip(0)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	if r.off != len(r.data) {
		return nil, r.errorf("%d trailing bytes after the certificate", len(r.data)-r.off)
	}
	if !haveTree {
		return nil, fmt.Errorf("%w: no tree", ErrMalformed)
	}
	if !haveSig {
		return nil, fmt.Errorf("%w: no signature", ErrMalformed)
	}
	return c, nil
}

func (r *reader) delegation() (*Delegation, error) {
	d := &Delegation{}
	var haveSubnet, haveCert bool
	err := r.mapEntries("delegation", func(key string) error {
		switch key {
		case "subnet_id":
			if haveSubnet {
				return r.errorf("duplicate key %q", key)
			}
			haveSubnet = true
			id, err := r.bytes("delegation subnet_id")
			if err != nil {
				return err
			}
			if len(id) > principal.MaxLength {
				return r.errorf("delegation subnet_id has %d bytes, at most %d allowed", len(id), principal.MaxLength)
			}
			d.SubnetID = id
		case "certificate":
			if haveCert {
				return r.errorf("duplicate key %q", key)
			}
			haveCert = true
			cert, err := r.bytes("delegation certificate")
			if err != nil {
				return err
			}
			d.Certificate = cert
		default:
			return r.skip(0)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	if !haveSubnet || !haveCert {
		return nil, fmt.Errorf("%w: delegation lacks subnet_id or certificate", ErrMalformed)
	}
	return d, nil
}

// reader is a strict reader of the few CBOR shapes in certificates.
type reader struct {
	data []byte
	off  int
}

func (r *reader) errorf(format string, args ...any) error {
	return fmt.Errorf("%w: at offset %d: %s", ErrMalformed, r.off, fmt.Sprintf(format, args...))
}

// head reads one CBOR head; it rejects indefinite lengths and reserved values.
func (r *reader) head() (major byte, arg uint64, err error) {
	major, arg, n, err := cbor.Head(r.data[r.off:])
	if err != nil {
		return 0, 0, r.errorf("%v", err)
	}
	r.off += n
	return major, arg, nil
}

// headSkippingTag reads a head, first skipping one self-describe tag; other tags are errors.
func (r *reader) headSkippingTag() (byte, uint64, error) {
	start := r.off
	major, arg, err := r.head()
	if err != nil || major != cbor.MajorTag {
		return major, arg, err
	}
	if arg != cbor.SelfDescribeTag {
		r.off = start
		return 0, 0, r.errorf("unexpected CBOR tag %d", arg)
	}
	return r.head()
}

// payload returns the n bytes of a string item whose head was just read.
func (r *reader) payload(n uint64, what string) ([]byte, error) {
	if n > uint64(len(r.data)-r.off) {
		return nil, r.errorf("%s of %d bytes runs past the end of input", what, n)
	}
	b := r.data[r.off : r.off+int(n) : r.off+int(n)]
	r.off += int(n)
	return b, nil
}

// bytes reads a byte string, optionally preceded by the self-describe tag.
func (r *reader) bytes(what string) ([]byte, error) {
	start := r.off
	major, n, err := r.headSkippingTag()
	if err != nil {
		return nil, err
	}
	if major != cbor.MajorBytes {
		r.off = start
		return nil, r.errorf("%s must be a byte string, found major type %d", what, major)
	}
	return r.payload(n, what)
}

// mapEntries reads a map with text keys, calling value for each key with the reader at the value.
// Duplicate keys are left to the callback.
func (r *reader) mapEntries(what string, value func(key string) error) error {
	start := r.off
	major, n, err := r.headSkippingTag()
	if err != nil {
		return err
	}
	if major != cbor.MajorMap {
		r.off = start
		return r.errorf("%s must be a map, found major type %d", what, major)
	}
	if n > maxMapEntries {
		r.off = start
		return r.errorf("%s map has %d entries, at most %d allowed", what, n, maxMapEntries)
	}
	for range n {
		kstart := r.off
		major, kn, err := r.head()
		if err != nil {
			return err
		}
		if major != cbor.MajorText {
			r.off = kstart
			return r.errorf("%s map key must be a text string, found major type %d", what, major)
		}
		key, err := r.payload(kn, "map key")
		if err != nil {
			return err
		}
		if err := value(string(key)); err != nil {
			return err
		}
	}
	return nil
}

// skip reads over one well-formed item (the value of an unknown key), with definite lengths, no
// tags other than 55799, and nesting at most maxSkipDepth.
func (r *reader) skip(depth int) error {
	if depth > maxSkipDepth {
		return r.errorf("ignored value nested deeper than %d levels", maxSkipDepth)
	}
	major, arg, err := r.headSkippingTag()
	if err != nil {
		return err
	}
	switch major {
	case cbor.MajorUint, cbor.MajorNeg:
		return nil
	case cbor.MajorBytes, cbor.MajorText:
		_, err := r.payload(arg, "string")
		return err
	case cbor.MajorArray, cbor.MajorMap:
		items := arg
		if major == cbor.MajorMap {
			if arg > uint64(len(r.data)) {
				return r.errorf("map of %d entries runs past the end of input", arg)
			}
			items = 2 * arg
		}
		if items > uint64(len(r.data)-r.off) { // every item takes at least one byte
			return r.errorf("container of %d items runs past the end of input", items)
		}
		for range items {
			if err := r.skip(depth + 1); err != nil {
				return err
			}
		}
		return nil
	case cbor.MajorSimple:
		if arg < 20 || arg > 23 || r.data[r.off-1] != cbor.MajorSimple<<5|byte(arg) {
			return r.errorf("only false, true, null and undefined are allowed among simple values")
		}
		return nil
	default: // another tag after 55799
		return r.errorf("unexpected CBOR tag %d", arg)
	}
}
