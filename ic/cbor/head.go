package cbor

import (
	"encoding/binary"
	"errors"
)

// Major types of CBOR data items (RFC 8949 §3.1).
const (
	MajorUint   byte = 0
	MajorNeg    byte = 1
	MajorBytes  byte = 2
	MajorText   byte = 3
	MajorArray  byte = 4
	MajorMap    byte = 5
	MajorTag    byte = 6
	MajorSimple byte = 7
)

// Errors of Head.
var (
	// ErrTruncated means the input ends inside a data item's head.
	ErrTruncated = errors.New("cbor: unexpected end of input")
	// ErrIndefinite means a head announces an indefinite length, which the IC never uses.
	ErrIndefinite = errors.New("cbor: indefinite-length items are not allowed")
	// ErrReserved means a head uses a reserved additional-information value (28 to 30).
	ErrReserved = errors.New("cbor: reserved additional information")
)

// AppendHead appends the head of a data item of the given major type and argument (a value,
// a length or a count) in the shortest form. Hand-written encoders of fixed shapes (wire frames,
// certificates) build on it and on AppendText and AppendBytes.
func AppendHead(dst []byte, major byte, n uint64) []byte {
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

// HeadLen is the number of bytes AppendHead writes for the argument n.
func HeadLen(n uint64) int {
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

// AppendText appends s as a CBOR text string.
func AppendText(dst []byte, s string) []byte {
	return append(AppendHead(dst, MajorText, uint64(len(s))), s...)
}

// AppendBytes appends b as a CBOR byte string.
func AppendBytes(dst, b []byte) []byte {
	return append(AppendHead(dst, MajorBytes, uint64(len(b))), b...)
}

// Head decodes the head of the data item at the start of b: its major type, its argument and the
// number of bytes the head takes. Integers in a longer form than needed are accepted. The
// argument of a string is its length, which the caller must check against what remains of b.
func Head(b []byte) (major byte, arg uint64, n int, err error) {
	if len(b) == 0 {
		return 0, 0, 0, ErrTruncated
	}
	major, info := b[0]>>5, b[0]&0x1f
	size := 0
	switch {
	case info < 24:
		return major, uint64(info), 1, nil
	case info == 24:
		size = 1
	case info == 25:
		size = 2
	case info == 26:
		size = 4
	case info == 27:
		size = 8
	case info == 31:
		return 0, 0, 0, ErrIndefinite
	default:
		return 0, 0, 0, ErrReserved
	}
	if len(b) < 1+size {
		return 0, 0, 0, ErrTruncated
	}
	switch size {
	case 1:
		arg = uint64(b[1])
	case 2:
		arg = uint64(binary.BigEndian.Uint16(b[1:]))
	case 4:
		arg = uint64(binary.BigEndian.Uint32(b[1:]))
	default:
		arg = binary.BigEndian.Uint64(b[1:])
	}
	return major, arg, 1 + size, nil
}

// AppendBytesFunc appends a CBOR byte string whose content fill appends to the slice it is given
// (and returns), without building the content apart first: it reserves a head, lets fill append,
// then writes the head of the content's length in the shortest form, moving the content if that
// head is not the reserved size. The result equals AppendBytes(dst, content).
func AppendBytesFunc(dst []byte, fill func([]byte) []byte) []byte {
	const reserved = 3 // the head of 256 to 65,535 bytes, the usual size of what encoders fill
	start := len(dst)
	dst = fill(append(dst, 0, 0, 0))
	n := len(dst) - start - reserved
	h := HeadLen(uint64(n))
	switch {
	case h < reserved:
		copy(dst[start+h:], dst[start+reserved:])
		dst = dst[:len(dst)-(reserved-h)]
	case h > reserved:
		dst = append(dst, make([]byte, h-reserved)...)
		copy(dst[start+h:], dst[start+reserved:start+reserved+n])
	}
	AppendHead(dst[start:start], MajorBytes, uint64(n))
	return dst
}
