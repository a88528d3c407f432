package envelope_test

import (
	"encoding/hex"
	"fmt"
	"testing"
)

func unhex(t testing.TB, s string) []byte {
	t.Helper()
	b, err := hex.DecodeString(s)
	if err != nil {
		t.Fatalf("bad hex %q: %v", s, err)
	}
	return b
}

// cborBuilder writes CBOR by hand, the way another implementation might
// (non-canonical key order, non-minimal integer heads), for test inputs.
type cborBuilder struct{ b []byte }

func (w *cborBuilder) head(major byte, n uint64) *cborBuilder {
	switch {
	case n < 24:
		w.b = append(w.b, major<<5|byte(n))
	case n < 1<<8:
		w.b = append(w.b, major<<5|24, byte(n))
	case n < 1<<16:
		w.b = append(w.b, major<<5|25, byte(n>>8), byte(n))
	default:
		w.b = append(w.b, major<<5|26, byte(n>>24), byte(n>>16), byte(n>>8), byte(n))
	}
	return w
}
func (w *cborBuilder) raw(b ...byte) *cborBuilder { w.b = append(w.b, b...); return w }
func (w *cborBuilder) text(s string) *cborBuilder {
	w.head(3, uint64(len(s)))
	w.b = append(w.b, s...)
	return w
}
func (w *cborBuilder) bytes(b []byte) *cborBuilder {
	w.head(2, uint64(len(b)))
	w.b = append(w.b, b...)
	return w
}
func (w *cborBuilder) mapHead(n int) *cborBuilder { return w.head(5, uint64(n)) }
func (w *cborBuilder) arrHead(n int) *cborBuilder { return w.head(4, uint64(n)) }

// uint64Long writes v in the 8-byte form (0x1b), as @dfinity/agent writes
// BigInt values such as ingress_expiry.
func (w *cborBuilder) uint64Long(v uint64) *cborBuilder {
	w.b = append(w.b, 0x1b, byte(v>>56), byte(v>>48), byte(v>>40), byte(v>>32), byte(v>>24), byte(v>>16), byte(v>>8), byte(v))
	return w
}

// checkAgentJSSubset walks one CBOR item and fails unless it stays inside
// what @dfinity/cbor 0.2.x accepts (ic-interface.md §1.2): tag 55799 only,
// and only at the very start; text map keys; no floats; no indefinite
// lengths.
func checkAgentJSSubset(t *testing.T, b []byte) {
	t.Helper()
	if len(b) < 3 || string(b[:3]) != "\xd9\xd9\xf7" {
		t.Fatalf("body does not start with tag 55799: %x", b)
	}
	rest, err := walk(b[3:], 0)
	if err != nil {
		t.Fatalf("outside the agent-js CBOR subset: %v (%x)", err, b)
	}
	if len(rest) != 0 {
		t.Fatalf("%d trailing bytes", len(rest))
	}
}

func walk(b []byte, depth int) ([]byte, error) {
	if depth > 64 {
		return nil, fmt.Errorf("too deep")
	}
	if len(b) == 0 {
		return nil, fmt.Errorf("truncated")
	}
	major, info := b[0]>>5, b[0]&31
	b = b[1:]
	var n uint64
	switch {
	case info < 24:
		n = uint64(info)
	case info <= 27:
		size := 1 << (info - 24)
		if len(b) < size {
			return nil, fmt.Errorf("truncated head")
		}
		for _, c := range b[:size] {
			n = n<<8 | uint64(c)
		}
		b = b[size:]
	default:
		return nil, fmt.Errorf("indefinite length or reserved info %d", info)
	}
	switch major {
	case 0, 1:
		return b, nil
	case 2, 3:
		if uint64(len(b)) < n {
			return nil, fmt.Errorf("truncated string")
		}
		return b[n:], nil
	case 4:
		var err error
		for range n {
			if b, err = walk(b, depth+1); err != nil {
				return nil, err
			}
		}
		return b, nil
	case 5:
		var err error
		for range n {
			if len(b) == 0 || b[0]>>5 != 3 {
				return nil, fmt.Errorf("map key is not text")
			}
			if b, err = walk(b, depth+1); err != nil {
				return nil, err
			}
			if b, err = walk(b, depth+1); err != nil {
				return nil, err
			}
		}
		return b, nil
	case 6:
		return nil, fmt.Errorf("tag %d inside the body", n)
	default:
		if info >= 25 && info <= 27 {
			return nil, fmt.Errorf("float")
		}
		return b, nil // false, true, null, undefined
	}
}
