// Package leb128 implements the LEB128 variable-length integer encodings used by Candid, request
// ids and the IC state tree: unsigned (ULEB128) and signed (SLEB128), for 64-bit and big integers.
//
// Note that encoding/binary's Uvarint is ULEB128, but its Varint is zig-zag, not SLEB128.
package leb128

import (
	"errors"
	"math/big"
)

// Errors returned by the decoders.
var (
	// ErrTruncated means the input ended inside a number.
	ErrTruncated = errors.New("leb128: input ends inside a number")
	// ErrOverflow means the number does not fit in 64 bits.
	ErrOverflow = errors.New("leb128: number does not fit in 64 bits")
)

// AppendUint appends the ULEB128 encoding of v to dst.
func AppendUint(dst []byte, v uint64) []byte {
	for v >= 0x80 {
		dst = append(dst, byte(v)|0x80)
		v >>= 7
	}
	return append(dst, byte(v))
}

// AppendInt appends the SLEB128 encoding of v to dst.
func AppendInt(dst []byte, v int64) []byte {
	for {
		b := byte(v & 0x7f)
		v >>= 7
		if (v == 0 && b&0x40 == 0) || (v == -1 && b&0x40 != 0) {
			return append(dst, b)
		}
		dst = append(dst, b|0x80)
	}
}

// AppendBigUint appends the ULEB128 encoding of v, which must not be negative, to dst.
func AppendBigUint(dst []byte, v *big.Int) []byte {
	if v.IsUint64() {
		return AppendUint(dst, v.Uint64())
	}
	x := new(big.Int).Set(v)
	m := big.NewInt(0x7f)
	var b big.Int
	for x.Cmp(m) > 0 {
		dst = append(dst, byte(b.And(x, m).Uint64())|0x80)
		x.Rsh(x, 7)
	}
	return append(dst, byte(x.Uint64()))
}

// AppendBigInt appends the SLEB128 encoding of v to dst.
func AppendBigInt(dst []byte, v *big.Int) []byte {
	if v.IsInt64() {
		return AppendInt(dst, v.Int64())
	}
	x := new(big.Int).Set(v)
	m := big.NewInt(0x7f)
	var t big.Int
	for {
		b := byte(t.And(x, m).Uint64()) // And on negative numbers uses two's complement
		x.Rsh(x, 7)                     // arithmetic shift
		if (x.Sign() == 0 && b&0x40 == 0) || (x.Cmp(big.NewInt(-1)) == 0 && b&0x40 != 0) {
			return append(dst, b)
		}
		dst = append(dst, b|0x80)
	}
}

// Uint decodes a ULEB128 number at the start of b and returns it with the number of bytes read.
// Overlong encodings (trailing 0x80 groups) are accepted as long as the value fits in 64 bits.
func Uint(b []byte) (v uint64, n int, err error) {
	var shift uint
	for i, c := range b {
		low := uint64(c & 0x7f)
		if shift >= 64 || (shift == 63 && low > 1) {
			if low != 0 {
				return 0, 0, ErrOverflow
			}
		} else {
			v |= low << shift
		}
		if c < 0x80 {
			return v, i + 1, nil
		}
		shift += 7
	}
	return 0, 0, ErrTruncated
}

// Int decodes an SLEB128 number at the start of b and returns it with the number of bytes read.
func Int(b []byte) (v int64, n int, err error) {
	x, n, err := BigInt(b)
	if err != nil {
		return 0, 0, err
	}
	if !x.IsInt64() {
		return 0, 0, ErrOverflow
	}
	return x.Int64(), n, nil
}

// BigUint decodes a ULEB128 number of any size at the start of b.
func BigUint(b []byte) (*big.Int, int, error) {
	if v, n, err := Uint(b); err == nil {
		return new(big.Int).SetUint64(v), n, nil
	} else if err != ErrOverflow {
		return nil, 0, err
	}
	end := 0
	for end < len(b) && b[end] >= 0x80 {
		end++
	}
	if end == len(b) {
		return nil, 0, ErrTruncated
	}
	v := new(big.Int)
	var d big.Int
	for i := end; i >= 0; i-- {
		v.Lsh(v, 7)
		v.Or(v, d.SetUint64(uint64(b[i]&0x7f)))
	}
	return v, end + 1, nil
}

// BigInt decodes an SLEB128 number of any size at the start of b.
func BigInt(b []byte) (*big.Int, int, error) {
	end := 0
	for end < len(b) && b[end] >= 0x80 {
		end++
	}
	if end == len(b) {
		return nil, 0, ErrTruncated
	}
	n := end + 1
	if n <= 9 {
		var v int64
		for i := end; i >= 0; i-- {
			v = v<<7 | int64(b[i]&0x7f)
		}
		bits := uint(7 * n)
		if b[end]&0x40 != 0 {
			v -= 1 << bits
		}
		return big.NewInt(v), n, nil
	}
	v := new(big.Int)
	var d big.Int
	for i := end; i >= 0; i-- {
		v.Lsh(v, 7)
		v.Or(v, d.SetUint64(uint64(b[i]&0x7f)))
	}
	if b[end]&0x40 != 0 {
		v.Sub(v, new(big.Int).Lsh(big.NewInt(1), uint(7*n)))
	}
	return v, n, nil
}
