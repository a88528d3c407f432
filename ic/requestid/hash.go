package requestid

import (
	"bytes"
	"crypto/sha256"
	"errors"
	"fmt"
	"math/big"
	"slices"

	"github.com/icws/icws/ic/leb128"
	"github.com/icws/icws/ic/principal"
)

// MaxDepth is the deepest nesting of arrays and maps that HashValue and
// HashOfMap accept; deeper values (or cyclic maps) are refused.
const MaxDepth = 128

// ErrUnsupportedValue is returned (wrapped) for a value that has no
// representation-independent hash (nil, bool, float, struct, ...).
var ErrUnsupportedValue = errors.New("requestid: unsupported value")

// ErrTooDeep is returned (wrapped) when values nest deeper than MaxDepth.
var ErrTooDeep = errors.New("requestid: value nested too deeply")

// HashOfMap returns the representation-independent hash of m, which is the
// request id when m is a request's content. Every entry is hashed; there is no
// notion of an absent optional field other than a missing key.
//
// Values may be:
//   - []byte, ID, [32]byte: blob, hashed as is;
//   - string: text, hashed as UTF-8;
//   - uint, uint8, uint16, uint32, uint64: nat, hashed as shortest unsigned LEB128;
//   - int, int8, int16, int32, int64: int, hashed as shortest signed LEB128
//     (the hash differs from the nat of the same value);
//   - *big.Int, big.Int: nat (unsigned LEB128) when >= 0, else int (signed LEB128);
//   - principal.Principal: its raw bytes;
//   - []any, [][]byte, [][][]byte, []string, []uint64, []principal.Principal,
//     []map[string]any: arrays, hashed as the hash of the concatenated element hashes;
//   - map[string]any: nested map, hashed with HashOfMap.
//
// This covers everything the IC's CBOR decoding (fxamacker/cbor through
// ic/cbor) yields for a request: unsigned ints as uint64, negative ints as
// int64, big numbers as big.Int, byte strings as []byte, text as string,
// arrays as []any and maps as map[string]any. Anything else is refused with
// ErrUnsupportedValue.
func HashOfMap(m map[string]any) (ID, error) {
	return hashMap(m, 0)
}

// HashValue returns the representation-independent hash of one value, with
// the rules of HashOfMap.
func HashValue(v any) ([32]byte, error) {
	return hashValue(v, 0)
}

func comparePairs(a, b [64]byte) int { return bytes.Compare(a[:], b[:]) }

func hashMap(m map[string]any, depth int) (ID, error) {
	if depth > MaxDepth {
		return ID{}, fmt.Errorf("%w (more than %d levels)", ErrTooDeep, MaxDepth)
	}
	var stack [16][64]byte
	pairs := stack[:0]
	if len(m) > len(stack) {
		pairs = make([][64]byte, 0, len(m))
	}
	for k, v := range m {
		vh, err := hashValue(v, depth+1)
		if err != nil {
			return ID{}, fmt.Errorf("field %q: %w", k, err)
		}
		var p [64]byte
		kh := sumString(k)
		copy(p[:32], kh[:])
		copy(p[32:], vh[:])
		pairs = append(pairs, p)
	}
	return SumPairs(pairs), nil
}

// SumPairs sorts the 64-byte (key hash ‖ value hash) pairs of a map in place
// and returns the hash of their concatenation: the last two steps of
// hash_of_map. Callers that hash fixed field sets without building a map use
// it with precomputed key hashes.
func SumPairs(pairs [][64]byte) ID {
	slices.SortFunc(pairs, comparePairs)
	h := sha256.New()
	for i := range pairs {
		h.Write(pairs[i][:])
	}
	var id ID
	h.Sum(id[:0])
	return id
}

// SumString returns SHA-256 of the UTF-8 bytes of s: the hash of a text value
// and of a map key.
func SumString(s string) [32]byte { return sumString(s) }

func sumString(s string) [32]byte {
	return sha256.Sum256([]byte(s))
}

// SumNat returns the hash of a nat value: SHA-256 of its shortest unsigned
// LEB128 encoding.
func SumNat(v uint64) [32]byte {
	var buf [10]byte
	return sha256.Sum256(leb128.AppendUint(buf[:0], v))
}

// SumInt returns the hash of an int value: SHA-256 of its shortest signed
// LEB128 encoding.
func SumInt(v int64) [32]byte {
	var buf [10]byte
	return sha256.Sum256(leb128.AppendInt(buf[:0], v))
}

func sumBig(v *big.Int) [32]byte {
	if v.Sign() >= 0 {
		return sha256.Sum256(leb128.AppendBigUint(nil, v))
	}
	return sha256.Sum256(leb128.AppendBigInt(nil, v))
}

// sumArray hashes an array whose element hashes come from elem.
func sumArray(n int, elem func(i int) ([32]byte, error)) ([32]byte, error) {
	h := sha256.New()
	for i := 0; i < n; i++ {
		eh, err := elem(i)
		if err != nil {
			return [32]byte{}, fmt.Errorf("element %d: %w", i, err)
		}
		h.Write(eh[:])
	}
	var out [32]byte
	h.Sum(out[:0])
	return out, nil
}

func hashValue(v any, depth int) ([32]byte, error) {
	if depth > MaxDepth {
		return [32]byte{}, fmt.Errorf("%w (more than %d levels)", ErrTooDeep, MaxDepth)
	}
	switch x := v.(type) {
	case []byte:
		return sha256.Sum256(x), nil
	case string:
		return sumString(x), nil
	case uint64:
		return SumNat(x), nil
	case int64:
		return SumInt(x), nil
	case principal.Principal:
		return sha256.Sum256(x.Bytes()), nil
	case map[string]any:
		id, err := hashMap(x, depth)
		return [32]byte(id), err
	case []any:
		return sumArray(len(x), func(i int) ([32]byte, error) { return hashValue(x[i], depth+1) })
	case ID:
		return sha256.Sum256(x[:]), nil
	case [32]byte:
		return sha256.Sum256(x[:]), nil
	case uint:
		return SumNat(uint64(x)), nil
	case uint8:
		return SumNat(uint64(x)), nil
	case uint16:
		return SumNat(uint64(x)), nil
	case uint32:
		return SumNat(uint64(x)), nil
	case int:
		return SumInt(int64(x)), nil
	case int8:
		return SumInt(int64(x)), nil
	case int16:
		return SumInt(int64(x)), nil
	case int32:
		return SumInt(int64(x)), nil
	case *big.Int:
		if x == nil {
			return [32]byte{}, fmt.Errorf("%w: nil *big.Int", ErrUnsupportedValue)
		}
		return sumBig(x), nil
	case big.Int:
		return sumBig(&x), nil
	case [][]byte:
		return sumArray(len(x), func(i int) ([32]byte, error) { return sha256.Sum256(x[i]), nil })
	case [][][]byte:
		return sumArray(len(x), func(i int) ([32]byte, error) {
			return sumArray(len(x[i]), func(j int) ([32]byte, error) { return sha256.Sum256(x[i][j]), nil })
		})
	case []string:
		return sumArray(len(x), func(i int) ([32]byte, error) { return sumString(x[i]), nil })
	case []uint64:
		return sumArray(len(x), func(i int) ([32]byte, error) { return SumNat(x[i]), nil })
	case []principal.Principal:
		return sumArray(len(x), func(i int) ([32]byte, error) { return sha256.Sum256(x[i].Bytes()), nil })
	case []map[string]any:
		return sumArray(len(x), func(i int) ([32]byte, error) {
			id, err := hashMap(x[i], depth+1)
			return [32]byte(id), err
		})
	case nil:
		return [32]byte{}, fmt.Errorf("%w: nil", ErrUnsupportedValue)
	default:
		return [32]byte{}, fmt.Errorf("%w: Go type %T", ErrUnsupportedValue, v)
	}
}
