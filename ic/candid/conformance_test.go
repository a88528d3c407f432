package candid

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/icws/icws/ic/principal"
)

// conformanceFiles are the official test files copied from dfinity/candid test/ (commit ffef7cbc),
// with the number of assertions each holds.
var conformanceFiles = map[string]int{
	"prim.test.did":      168,
	"construct.test.did": 164,
	"subtypes.test.did":  58, // 62 lines start with assert; 4 of them are inside the header comment
	"reference.test.did": 50,
	"spacebomb.test.did": 17,
	"overshoot.test.did": 10,
}

type conformanceCounts struct {
	total, checked, typed, roundTrips int
	textualOnly                       int // all inputs textual: needs a textual-value parser
	noGoType                          int // types with no Go mapping: checked generically only
}

// TestConformance runs every assertion of the official Candid test suite that has a blob input.
// Decoding uses DecodeValues at the asserted types (and, where the types have a Go mapping, also
// Unmarshal into dynamically built Go types); successful decodes are also re-encoded and decoded
// again. The only assertions not checked are those whose inputs are all textual.
func TestConformance(t *testing.T) {
	var sum conformanceCounts
	for name, want := range conformanceFiles {
		t.Run(strings.TrimSuffix(name, ".test.did"), func(t *testing.T) {
			src, err := os.ReadFile(filepath.Join("testdata", name))
			if err != nil {
				t.Fatal(err)
			}
			f, err := parseDidTest(string(src))
			if err != nil {
				t.Fatalf("parse: %v", err)
			}
			if len(f.asserts) != want {
				t.Fatalf("parsed %d assertions, want %d", len(f.asserts), want)
			}
			var c conformanceCounts
			for _, a := range f.asserts {
				c.total++
				runAssert(t, name, a, &c)
			}
			t.Logf("%s: %d assertions: %d checked (%d also through Go types, %d round trips), "+
				"skipped %d textual-only; %d checked without Go types (func/service/recursive)",
				name, c.total, c.checked, c.typed, c.roundTrips, c.textualOnly, c.noGoType)
			sum.total += c.total
			sum.checked += c.checked
			sum.typed += c.typed
			sum.roundTrips += c.roundTrips
			sum.textualOnly += c.textualOnly
			sum.noGoType += c.noGoType
		})
	}
	t.Logf("conformance total: %d assertions, %d checked (%d also through Go types, %d round trips), "+
		"%d skipped as textual-only", sum.total, sum.checked, sum.typed, sum.roundTrips, sum.textualOnly)
	if sum.checked+sum.textualOnly != sum.total {
		t.Errorf("%d assertions neither checked nor skipped", sum.total-sum.checked-sum.textualOnly)
	}
}

func runAssert(t *testing.T, file string, a didAssert, c *conformanceCounts) {
	t.Helper()
	where := fmt.Sprintf("%s:%d %q: %s %s %s", file, a.line, a.desc, a.left.pretty, a.op, a.source)
	var blobs []string
	for _, in := range []*didInput{&a.left, a.right} {
		if in != nil && in.blob {
			blobs = append(blobs, in.data)
		}
	}
	if len(blobs) == 0 {
		c.textualOnly++
		return
	}
	c.checked++
	types := make([]Type, len(a.types))
	for i, n := range a.types {
		types[i] = Type{n}
	}
	goTypes, goOK := goTypesFor(a.types)
	if goOK {
		c.typed++
	} else {
		c.noGoType++
	}
	var results [][]any
	for _, data := range blobs {
		vals, err := DecodeValues([]byte(data), types...)
		wantOK := a.op != "!:"
		if (err == nil) != wantOK {
			t.Errorf("%s\n\tDecodeValues: got err = %v, want success = %v", where, err, wantOK)
			continue
		}
		if goOK {
			checkTyped(t, where, []byte(data), types, goTypes, vals, err)
		}
		if err != nil {
			continue
		}
		results = append(results, vals)
		if roundTrip(t, where, types, vals) {
			c.roundTrips++
		}
	}
	if len(results) == 2 {
		eq := reflect.DeepEqual(results[0], results[1])
		if (a.op == "==") != eq {
			t.Errorf("%s\n\tvalues %#v and %#v: equal = %v", where, results[0], results[1], eq)
		}
	}
}

// roundTrip encodes decoded values again at the same types and checks they decode unchanged.
func roundTrip(t *testing.T, where string, types []Type, vals []any) bool {
	t.Helper()
	enc, err := EncodeValues(types, vals)
	if err != nil {
		t.Errorf("%s\n\tEncodeValues(%#v): %v", where, vals, err)
		return false
	}
	again, err := DecodeValues(enc, types...)
	if err != nil {
		t.Errorf("%s\n\tdecoding the re-encoded %x: %v", where, enc, err)
		return false
	}
	if !reflect.DeepEqual(vals, again) && fmt.Sprintf("%#v", vals) != fmt.Sprintf("%#v", again) {
		t.Errorf("%s\n\tround trip changed %#v into %#v", where, vals, again)
		return false
	}
	return true
}

// checkTyped decodes data with Unmarshal into Go values of goTypes, checks it succeeds exactly
// when the generic decoding did, and that Marshal of the result decodes to the same generic
// values.
func checkTyped(t *testing.T, where string, data []byte, types []Type, goTypes []reflect.Type, vals []any, genericErr error) {
	t.Helper()
	ptrs := make([]any, len(goTypes))
	for i, gt := range goTypes {
		ptrs[i] = reflect.New(gt).Interface()
	}
	err := Unmarshal(data, ptrs...)
	if (err == nil) != (genericErr == nil) {
		t.Errorf("%s\n\tUnmarshal into %v: err = %v, but DecodeValues err = %v", where, goTypes, err, genericErr)
		return
	}
	if err != nil {
		return
	}
	args := make([]any, len(ptrs))
	for i, p := range ptrs {
		args[i] = reflect.ValueOf(p).Elem().Interface()
	}
	enc, err := Marshal(args...)
	if err != nil {
		if containsEmptyOrReserved(types) {
			return // values of these types cannot always be written back from Go
		}
		t.Errorf("%s\n\tMarshal of the Unmarshal result: %v", where, err)
		return
	}
	again, err := DecodeValues(enc, types...)
	if err != nil {
		t.Errorf("%s\n\tdecoding Marshal output %x at the expected types: %v", where, enc, err)
		return
	}
	if !reflect.DeepEqual(vals, again) && fmt.Sprintf("%#v", vals) != fmt.Sprintf("%#v", again) {
		t.Errorf("%s\n\ttyped path gave %#v, generic path %#v", where, again, vals)
	}
}

func containsEmptyOrReserved(types []Type) bool {
	for _, t := range types {
		if strings.Contains(t.String(), "empty") {
			return true
		}
	}
	return false
}

// goTypesFor builds Go types that map to the given Candid types, with reflect.StructOf for
// records and variants. It fails for func, service and recursive types.
func goTypesFor(ns []*node) ([]reflect.Type, bool) {
	out := make([]reflect.Type, len(ns))
	for i, n := range ns {
		gt, ok := goTypeFor(n, map[*node]bool{})
		if !ok {
			return nil, false
		}
		out[i] = gt
	}
	return out, true
}

func goTypeFor(n *node, open map[*node]bool) (reflect.Type, bool) {
	switch n.kind {
	case KindNull:
		return nullType, true
	case KindBool:
		return reflect.TypeFor[bool](), true
	case KindNat:
		return natType, true
	case KindInt:
		return intType, true
	case KindNat8:
		return reflect.TypeFor[uint8](), true
	case KindNat16:
		return reflect.TypeFor[uint16](), true
	case KindNat32:
		return reflect.TypeFor[uint32](), true
	case KindNat64:
		return reflect.TypeFor[uint64](), true
	case KindInt8:
		return reflect.TypeFor[int8](), true
	case KindInt16:
		return reflect.TypeFor[int16](), true
	case KindInt32:
		return reflect.TypeFor[int32](), true
	case KindInt64:
		return reflect.TypeFor[int64](), true
	case KindFloat32:
		return reflect.TypeFor[float32](), true
	case KindFloat64:
		return reflect.TypeFor[float64](), true
	case KindText:
		return reflect.TypeFor[string](), true
	case KindReserved:
		return reservedType, true
	case KindEmpty:
		return emptyType, true
	case KindPrincipal:
		return reflect.TypeFor[principal.Principal](), true
	}
	if open[n] {
		return nil, false
	}
	open[n] = true
	defer delete(open, n)
	switch n.kind {
	case KindOpt:
		e, ok := goTypeFor(n.elem, open)
		if !ok {
			return nil, false
		}
		return reflect.PointerTo(e), true
	case KindVec:
		if n.elem.kind == KindNat8 {
			return reflect.TypeFor[[]byte](), true
		}
		e, ok := goTypeFor(n.elem, open)
		if !ok {
			return nil, false
		}
		return reflect.SliceOf(e), true
	case KindRecord, KindVariant:
		sfs := make([]reflect.StructField, 0, len(n.fields)+1)
		for i, f := range n.fields {
			ft, ok := goTypeFor(f.typ, open)
			if !ok {
				return nil, false
			}
			tag := fmt.Sprintf(`candid:"%d"`, f.id)
			if n.kind == KindVariant {
				ft = reflect.PointerTo(ft)
				tag = fmt.Sprintf(`candid:"%d,variant"`, f.id)
			}
			sfs = append(sfs, reflect.StructField{Name: fmt.Sprintf("F%d", i), Type: ft, Tag: reflect.StructTag(tag)})
		}
		if n.kind == KindVariant && len(n.fields) == 0 {
			sfs = append(sfs, reflect.StructField{Name: "X", Type: reflect.TypeFor[struct{}](), Tag: `candid:"-,variant"`})
		}
		return reflect.StructOf(sfs), true
	}
	return nil, false
}

// TestConformanceFilesPresent guards against an empty or truncated testdata directory.
func TestConformanceFilesPresent(t *testing.T) {
	for name := range conformanceFiles {
		b, err := os.ReadFile(filepath.Join("testdata", name))
		if err != nil || !bytes.Contains(b, []byte("assert")) {
			t.Errorf("testdata/%s missing or empty: %v", name, err)
		}
	}
}
