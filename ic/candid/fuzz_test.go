package candid

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"testing"
)

// FuzzUnmarshal feeds arbitrary bytes to every decoder: none may panic, every error must wrap a
// sentinel, and whatever Decode accepts must encode again (EncodeValues at the wire types) into
// bytes that decode to the same values. The seed corpus is every blob of the conformance suite
// plus the golden vectors.
func FuzzUnmarshal(f *testing.F) {
	for name := range conformanceFiles {
		src, err := os.ReadFile(filepath.Join("testdata", name))
		if err != nil {
			f.Fatal(err)
		}
		df, err := parseDidTest(string(src))
		if err != nil {
			f.Fatal(err)
		}
		for _, a := range df.asserts {
			for _, in := range []*didInput{&a.left, a.right} {
				if in != nil && in.blob {
					f.Add([]byte(in.data))
				}
			}
		}
	}
	cm, _ := Marshal(sampleCertMessages(3, 10))
	f.Add(cm)
	rec, _ := Marshal(&list{Head: IntOf(1), Tail: &list{Head: IntOf(2)}})
	f.Add(rec)
	v2, _ := Marshal(recordV2{Name: "x", Age: ptr(uint8(3)), Notes: []string{"n"}, Count: IntOf(-4)})
	f.Add(v2)

	natT, textT := Prim(KindNat), Prim(KindText)
	fixedTypes := [][]Type{
		{OptOf(natT), VecOf(textT)},
		{RecordOf(Field{Name: "messages", Type: VecOf(Prim(KindReserved))})},
		{VariantOf(Field{Name: "Ok", Type: natT}, Field{Name: "Err", Type: textT})},
	}

	f.Fuzz(func(t *testing.T, data []byte) {
		checkErr := func(what string, err error) {
			if err != nil && !errors.Is(err, ErrInvalid) && !errors.Is(err, ErrTypeMismatch) && !errors.Is(err, ErrLimit) {
				t.Fatalf("%s: error %v wraps no sentinel", what, err)
			}
		}
		var (
			c   CertMessages
			a   any
			r   result
			u   []uint64
			v   recordV2
			l   *list
			p   allPrims
			b   []byte
			s   string
			opt *Nat
		)
		checkErr("CertMessages", Unmarshal(data, &c))
		checkErr("any", Unmarshal(data, &a))
		checkErr("variant", Unmarshal(data, &r))
		checkErr("[]uint64", Unmarshal(data, &u))
		checkErr("record", Unmarshal(data, &v))
		checkErr("list", Unmarshal(data, &l))
		checkErr("allPrims", Unmarshal(data, &p))
		checkErr("three", Unmarshal(data, &b, &s, &opt))
		for _, ts := range fixedTypes {
			_, err := DecodeValues(data, ts...)
			checkErr("DecodeValues", err)
		}

		types, vals, err := Decode(data)
		checkErr("Decode", err)
		if err != nil {
			return
		}
		enc, err := EncodeValues(types, vals)
		if errors.Is(err, ErrUnsupportedType) {
			return // a future type
		}
		if err != nil {
			t.Fatalf("EncodeValues of decoded %#v at %v: %v", vals, types, err)
		}
		again, err := DecodeValues(enc, types...)
		if err != nil {
			t.Fatalf("decoding re-encoded %x: %v", enc, err)
		}
		enc2, err := EncodeValues(types, again)
		if err != nil || !bytes.Equal(enc, enc2) {
			t.Fatalf("re-encoding changed %x into %x (%v)", enc, enc2, err)
		}
	})
}
