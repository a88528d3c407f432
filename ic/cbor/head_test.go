package cbor

import (
	"bytes"
	"encoding/hex"
	"errors"
	"math"
	"testing"
)

func TestHead(t *testing.T) {
	for _, n := range []uint64{0, 23, 24, 255, 256, 65535, 65536, math.MaxUint32, math.MaxUint32 + 1, math.MaxUint64} {
		for _, major := range []byte{MajorUint, MajorBytes, MajorMap, MajorTag} {
			b := AppendHead(nil, major, n)
			if len(b) != HeadLen(n) {
				t.Errorf("HeadLen(%d) = %d, AppendHead wrote %d bytes", n, HeadLen(n), len(b))
			}
			m, arg, size, err := Head(append(b, 0xff))
			if err != nil || m != major || arg != n || size != len(b) {
				t.Errorf("Head(%x) = %d, %d, %d, %v", b, m, arg, size, err)
			}
			// The same as the full decoder reads.
			if major == MajorUint {
				var v uint64
				if err := Unmarshal(b, &v); err != nil || v != n {
					t.Errorf("Unmarshal(%x) = %d, %v", b, v, err)
				}
			}
		}
	}
	if got := hex.EncodeToString(AppendText(nil, "key")); got != "636b6579" {
		t.Errorf("AppendText = %s", got)
	}
	if got := hex.EncodeToString(AppendBytes(nil, []byte{1})); got != "4101" {
		t.Errorf("AppendBytes = %s", got)
	}
	for in, want := range map[string]error{"": ErrTruncated, "19 01": ErrTruncated, "5f": ErrIndefinite, "1c": ErrReserved} {
		b, _ := hex.DecodeString(in)
		if _, _, _, err := Head(b); !errors.Is(err, want) {
			t.Errorf("Head(%s) err = %v, want %v", in, err, want)
		}
	}
	// Longer forms than needed are accepted.
	if _, arg, n, err := Head([]byte{0x1b, 0, 0, 0, 0, 0, 0, 0, 5}); err != nil || arg != 5 || n != 9 {
		t.Errorf("overlong head: %d %d %v", arg, n, err)
	}
}

// TestAppendBytesFunc: filling in place gives AppendBytes' bytes for every head size, after a
// prefix and into a slice with and without spare capacity.
func TestAppendBytesFunc(t *testing.T) {
	for _, n := range []int{0, 1, 23, 24, 255, 256, 65535, 65536, 70000} {
		content := make([]byte, n)
		for i := range content {
			content[i] = byte(i * 7)
		}
		for _, prefix := range [][]byte{nil, []byte("ab"), make([]byte, 3, 1<<17)} {
			want := AppendBytes(append([]byte(nil), prefix...), content)
			got := AppendBytesFunc(append(prefix[:len(prefix):len(prefix)], nil...), func(b []byte) []byte { return append(b, content...) })
			if !bytes.Equal(got, want) {
				t.Errorf("%d bytes after %d: AppendBytesFunc differs from AppendBytes (len %d, want %d)", n, len(prefix), len(got), len(want))
			}
			got = AppendBytesFunc(prefix, func(b []byte) []byte { return append(b, content...) })
			if !bytes.Equal(got, want) {
				t.Errorf("%d bytes after %d with spare capacity: AppendBytesFunc differs from AppendBytes", n, len(prefix))
			}
		}
	}
}
