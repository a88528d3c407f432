package candid

import (
	"bytes"
	"errors"
	"math"
	"math/big"
	"reflect"
	"strings"
	"sync"
	"testing"

	"github.com/icws/icws/ic/principal"
)

type allPrims struct {
	B    bool                `candid:"b"`
	S    string              `candid:"s"`
	U8   uint8               `candid:"u8"`
	U16  uint16              `candid:"u16"`
	U32  uint32              `candid:"u32"`
	U64  uint64              `candid:"u64"`
	I8   int8                `candid:"i8"`
	I16  int16               `candid:"i16"`
	I32  int32               `candid:"i32"`
	I64  int64               `candid:"i64"`
	F32  float32             `candid:"f32"`
	F64  float64             `candid:"f64"`
	N    Nat                 `candid:"n"`
	I    Int                 `candid:"i"`
	Nul  Null                `candid:"nul"`
	Res  Reserved            `candid:"res"`
	P    principal.Principal `candid:"p"`
	Blob []byte              `candid:"blob"`
	Hash [4]byte             `candid:"hash"`
	Opt  *string             `candid:"opt"`
	Vec  []int16             `candid:"vec"`
	Arr  [2]bool             `candid:"arr"`
	Tup  struct {
		A string `candid:"0"`
		B uint8  `candid:"1"`
	} `candid:"tup"`
	Skip   int `candid:"-"`
	hidden int
}

func TestRoundTripAllTypes(t *testing.T) {
	bigNat, _ := new(big.Int).SetString("123456789012345678901234567890", 10)
	bigInt, _ := new(big.Int).SetString("-98765432109876543210987654321", 10)
	n, _ := NatFromBig(bigNat)
	in := allPrims{
		B: true, S: "héllo ☃", U8: 255, U16: 65535, U32: 1 << 31, U64: math.MaxUint64,
		I8: -128, I16: -2, I32: math.MinInt32, I64: math.MinInt64, F32: 1.5, F64: -math.Pi,
		N: n, I: IntFromBig(bigInt), P: principal.CanisterID(7), Blob: []byte{0, 1, 2},
		Hash: [4]byte{9, 8, 7, 6}, Opt: ptr("x"), Vec: []int16{-1, 0, 1}, Arr: [2]bool{true, false},
		Skip: 5, hidden: 6,
	}
	in.Tup.A, in.Tup.B = "a", 2
	b, err := Marshal(in)
	if err != nil {
		t.Fatal(err)
	}
	var out allPrims
	if err := Unmarshal(b, &out); err != nil {
		t.Fatal(err)
	}
	in.Skip, in.hidden = 0, 0
	if !reflect.DeepEqual(out, in) {
		t.Errorf("round trip:\n got %#v\nwant %#v", out, in)
	}
	typ, err := TypeOf(in)
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range []string{"u64 : nat64", "n : nat", "i : int", "p : principal", "blob : blob",
		"hash : blob", "opt : opt text", "vec : vec int16", "arr : vec bool", "tup : record { 0 : text; 1 : nat8 }",
		"res : reserved", "nul : null", "f32 : float32"} {
		if !strings.Contains(typ.String(), s) {
			t.Errorf("type %s lacks %q", typ, s)
		}
	}
}

type result struct {
	Ok  *uint64 `candid:"Ok,variant"`
	Err *string `candid:"Err,variant"`
}

type markedVariant struct {
	_    struct{} `candid:",variant"`
	A    *Null
	B    *Nat `candid:"b"`
	Skip *int `candid:"-"`
}

func TestVariants(t *testing.T) {
	for _, v := range []result{{Ok: ptr(uint64(7))}, {Err: ptr("bad")}} {
		b, err := Marshal(v)
		if err != nil {
			t.Fatal(err)
		}
		var out result
		out.Ok = ptr(uint64(99)) // decoding clears the other alternative
		if err := Unmarshal(b, &out); err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(out, v) {
			t.Errorf("got %+v, want %+v", out, v)
		}
	}
	for _, bad := range []result{{}, {Ok: ptr(uint64(1)), Err: ptr("x")}} {
		if _, err := Marshal(bad); !errors.Is(err, ErrInvalidValue) {
			t.Errorf("Marshal(%+v) err = %v, want ErrInvalidValue", bad, err)
		}
	}
	typ, err := TypeOf(markedVariant{})
	if err != nil {
		t.Fatal(err)
	}
	if got := typ.String(); got != "variant { A; b : nat }" {
		t.Errorf("marked variant type = %s", got)
	}
	b, err := Marshal(markedVariant{B: ptr(NatOf(3))})
	if err != nil {
		t.Fatal(err)
	}
	var mv markedVariant
	if err := Unmarshal(b, &mv); err != nil || mv.B == nil || !mv.B.Equal(NatOf(3)) {
		t.Errorf("marked variant round trip = %+v, %v", mv, err)
	}
}

type list struct {
	Head Int   `candid:"head"`
	Tail *list `candid:"tail"`
}

func TestRecursiveGoType(t *testing.T) {
	in := &list{Head: IntOf(1), Tail: &list{Head: IntOf(2), Tail: &list{Head: IntOf(-3)}}}
	b, err := Marshal(in)
	if err != nil {
		t.Fatal(err)
	}
	// opt record {head: int; tail: <self>}: the opt is a cycle head and gets index 0.
	want := unhex(t, "4449444c02 6e01 6c02 a0d2aca804 7c 90eddae704 00 0100"+"01 01 01 02 01 7d 00")
	if !bytes.Equal(b, want) {
		t.Errorf("Marshal = %x, want %x", b, want)
	}
	var out *list
	if err := Unmarshal(b, &out); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(out, in) {
		t.Errorf("got %+v", out)
	}
	typ, _ := TypeOf(in)
	if got := typ.String(); got != "μt0.opt record { head : int; tail : t0 }" {
		t.Errorf("TypeOf = %s", got)
	}
}

func TestRecTypeAndGenericValues(t *testing.T) {
	intT := Prim(KindInt)
	lst := Rec(func(self Type) Type {
		return OptOf(RecordOf(Field{Name: "head", Type: intT}, Field{Name: "tail", Type: self}))
	})
	val := Opt{Valid: true, Value: Record{
		{ID: Hash("head"), Name: "head", Value: IntOf(5)},
		{ID: Hash("tail"), Name: "tail", Value: Opt{}},
	}}
	b, err := EncodeValues([]Type{lst}, []any{val})
	if err != nil {
		t.Fatal(err)
	}
	// Same bytes as the Go type list.
	goBytes, _ := Marshal(&list{Head: IntOf(5)})
	if !bytes.Equal(b, goBytes) {
		t.Errorf("EncodeValues = %x, Marshal = %x", b, goBytes)
	}
	got, err := DecodeValues(b, lst)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got[0], val) {
		t.Errorf("DecodeValues = %#v, want %#v", got[0], val)
	}
	types, vals, err := Decode(b)
	if err != nil || len(types) != 1 || types[0].Kind() != KindOpt {
		t.Fatalf("Decode = %v, %v, %v", types, vals, err)
	}
	if !Subtype(types[0], lst) || !Subtype(lst, types[0]) {
		t.Errorf("wire type %s and %s should be subtypes of each other", types[0], lst)
	}
}

// Versions of a record: v2 adds fields; v1 readers skip them, v2 readers of v1 data get null.
type recordV1 struct {
	Name string `candid:"name"`
}

type recordV2 struct {
	Name  string   `candid:"name"`
	Age   *uint8   `candid:"age"`
	Notes []string `candid:"notes"`
	Kind  *struct {
		A *Null `candid:"a,variant"`
		B *Null `candid:"b,variant"`
	} `candid:"kind"`
	Count Int `candid:"count"`
}

func TestSubtypingTyped(t *testing.T) {
	v2 := recordV2{Name: "x", Age: ptr(uint8(3)), Notes: []string{"n"}, Count: IntOf(-4)}
	b2, err := Marshal(v2)
	if err != nil {
		t.Fatal(err)
	}
	var v1 recordV1
	if err := Unmarshal(b2, &v1); err != nil || v1.Name != "x" {
		t.Errorf("v1 reading v2 = %+v, %v", v1, err)
	}
	b1, _ := Marshal(recordV1{Name: "y"})
	var back recordV2
	err = Unmarshal(b1, &back)
	if !errors.Is(err, ErrTypeMismatch) {
		t.Errorf("v2 reading v1 without the non-optional notes: err = %v, want ErrTypeMismatch", err)
	}

	// nat at int, and the special opt rule: text at opt nat is null, not an error.
	type natRec struct {
		Count Nat     `candid:"count"`
		Age   *string `candid:"age"`
	}
	type intRec struct {
		Count Int     `candid:"count"`
		Age   *uint64 `candid:"age"`
		Extra *bool   `candid:"extra"`
	}
	b, _ := Marshal(natRec{Count: NatOf(math.MaxUint64), Age: ptr("old")})
	ir := intRec{Age: ptr(uint64(1)), Extra: ptr(true)}
	if err := Unmarshal(b, &ir); err != nil {
		t.Fatal(err)
	}
	if ir.Count.String() != "18446744073709551615" || ir.Age != nil || ir.Extra != nil {
		t.Errorf("got %+v", ir)
	}

	// Missing arguments of opt type read as null; extra arguments are ignored.
	var a uint64
	var o *string
	if err := Unmarshal(unhex(t, "4449444c0002787e0500000000000000 01"), &a, &o); err != nil || a != 5 || o != nil {
		t.Errorf("got %d %v %v", a, o, err)
	}
	var s string
	if err := Unmarshal(unhex(t, "4449444c0000"), &s); !errors.Is(err, ErrTypeMismatch) {
		t.Errorf("missing text argument: err = %v", err)
	}
}

func TestDecodeIntoAny(t *testing.T) {
	b, _ := Marshal(result{Err: ptr("no")}, []uint16{1, 2})
	var v, w any
	if err := Unmarshal(b, &v, &w); err != nil {
		t.Fatal(err)
	}
	want := Variant{ID: Hash("Err"), Value: "no"}
	if !reflect.DeepEqual(v, want) {
		t.Errorf("got %#v, want %#v", v, want)
	}
	if !reflect.DeepEqual(w, []any{uint16(1), uint16(2)}) {
		t.Errorf("got %#v", w)
	}
	type withAny struct {
		X any `candid:"x"`
	}
	if _, err := Marshal(withAny{X: 1}); !errors.Is(err, ErrUnsupportedType) {
		t.Errorf("Marshal of an interface field: err = %v", err)
	}
}

func TestErrors(t *testing.T) {
	var x uint8
	tests := []struct {
		name string
		data string
		ptr  any
		want error
	}{
		{"empty", "", &x, ErrInvalid},
		{"magic", "4449444d0000", &x, ErrInvalid},
		{"trailing", "4449444c00017b0101", &x, ErrInvalid},
		{"mismatch", "4449444c00017e01", &x, ErrTypeMismatch},
		{"truncated", "4449444c00017b", &x, ErrInvalid},
		{"bad utf8", "4449444c00017102c328", new(string), ErrInvalid},
		{"principal too long", "4449444c0001680120" + strings.Repeat("00", 32), new(principal.Principal), ErrInvalid},
		{"array length", "4449444c016d7b010003010203", new([4]byte), ErrTypeMismatch},
		{"opcode 238 (truncates to opt)", "4449444c01ee017b0100" + "00", &x, ErrInvalid},
		{"opcode -274 is a future type", "4449444c01ee7d000100" + "0000", &x, ErrTypeMismatch},
		{"depth", "4449444c016e000100" + strings.Repeat("01", 600) + "00", new(any), ErrLimit},
	}
	for _, tt := range tests {
		err := Unmarshal(unhex(t, tt.data), tt.ptr)
		if !errors.Is(err, tt.want) {
			t.Errorf("%s: err = %v, want %v", tt.name, err, tt.want)
		}
		var de *DecodeError
		if !errors.As(err, &de) || de.Error() == "" {
			t.Errorf("%s: err %v is not a *DecodeError with a message", tt.name, err)
		}
	}
	if err := Unmarshal(unhex(t, "4449444c0000"), x); !errors.Is(err, ErrUnsupportedType) {
		t.Errorf("non-pointer: err = %v", err)
	}
	if _, err := Marshal(int(1)); !errors.Is(err, ErrUnsupportedType) {
		t.Errorf("Marshal(int): err = %v", err)
	}
	if err := Unmarshal(unhex(t, "4449444c0000"), new(Record)); !errors.Is(err, ErrUnsupportedType) {
		t.Errorf("Unmarshal into Record: err = %v", err)
	}
	if _, err := Marshal(map[string]int{}); !errors.Is(err, ErrUnsupportedType) {
		t.Errorf("Marshal(map): err = %v", err)
	}
	if _, err := Marshal("\xff"); !errors.Is(err, ErrInvalidValue) {
		t.Errorf("Marshal(invalid UTF-8): err = %v", err)
	}
	if _, err := Marshal(Empty{}); !errors.Is(err, ErrInvalidValue) {
		t.Errorf("Marshal(Empty): err = %v", err)
	}
	type dup struct {
		A uint8 `candid:"x"`
		B uint8 `candid:"x"`
	}
	if _, err := Marshal(dup{}); !errors.Is(err, ErrUnsupportedType) {
		t.Errorf("duplicate field ids: err = %v", err)
	}
	// The path of a nested error.
	b, _ := Marshal(CertMessages{Messages: []Message{{Key: "k"}}})
	b[bytes.LastIndexByte(b, 'k')] = 0xff // invalid UTF-8 in messages[0].key
	var cm CertMessages
	err := Unmarshal(b, &cm)
	var de *DecodeError
	if !errors.As(err, &de) || !errors.Is(err, ErrInvalid) {
		t.Fatalf("err = %v", err)
	}
	if got := strings.Join(de.Path(), " > "); got != "argument 0 > field messages > element 0 > field key" {
		t.Errorf("path = %q in %v", got, err)
	}
}

func TestQuota(t *testing.T) {
	b, _ := Marshal(make([]uint64, 1000))
	var out []uint64
	if err := (DecodeOptions{Quota: 1000}).Unmarshal(b, &out); !errors.Is(err, ErrLimit) {
		t.Errorf("small quota: err = %v, want ErrLimit", err)
	}
	if err := (DecodeOptions{Quota: 100_000}).Unmarshal(b, &out); err != nil || len(out) != 1000 {
		t.Errorf("enough quota: %v", err)
	}
}

func TestHeaderSharing(t *testing.T) {
	type a struct {
		X []byte `candid:"x"`
		Y []uint8
	}
	type b struct {
		X []byte `candid:"x"`
		Y []uint8
	}
	got, err := Marshal(a{}, b{}, []byte{})
	if err != nil {
		t.Fatal(err)
	}
	// One blob entry and one record entry serve all three arguments.
	want := unhex(t, "4449444c02 6d7b 6c02 59 00 78 00 03 01 01 00"+"0000 0000 00")
	if !bytes.Equal(got, want) {
		t.Errorf("Marshal = %x, want %x", got, want)
	}
}

func TestConcurrentUse(t *testing.T) {
	type fresh struct {
		A []Message `candid:"a"`
	}
	var wg sync.WaitGroup
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 50 {
				in := fresh{A: []Message{{ClientID: uint64(i), Key: "k"}}}
				b, err := Marshal(in, uint8(i))
				if err != nil {
					t.Error(err)
					return
				}
				var out fresh
				var n uint8
				if err := Unmarshal(b, &out, &n); err != nil || out.A[0].ClientID != uint64(i) || n != uint8(i) {
					t.Errorf("got %+v %d %v", out, n, err)
					return
				}
			}
		}()
	}
	wg.Wait()
}

func TestTypeString(t *testing.T) {
	f := FuncOf([]Type{Prim(KindText)}, []Type{OptOf(Prim(KindNat))}, Query)
	svc := ServiceOf(Method{Name: "get", Type: f}, Method{Name: "put it", Type: FuncOf(nil, nil, Oneway)})
	tests := []struct {
		t    Type
		want string
	}{
		{Prim(KindNat64), "nat64"},
		{VecOf(Prim(KindNat8)), "blob"},
		{TupleOf(Prim(KindBool), Prim(KindText)), "record { 0 : bool; 1 : text }"},
		{VariantOf(Field{Name: "ok"}, Field{Name: "err", Type: Prim(KindText)}), "variant { ok; err : text }"},
		{f, "func (text) -> (opt nat) query"},
		{svc, `service { get : (text) -> (opt nat) query; "put it" : () -> () oneway }`},
	}
	for _, tt := range tests {
		if got := tt.t.String(); got != tt.want {
			t.Errorf("String = %s, want %s", got, tt.want)
		}
	}
	fv := Func{Service: principal.CanisterID(1), Method: "get"}
	b, err := EncodeValues([]Type{f, svc}, []any{fv, principal.CanisterID(2)})
	if err != nil {
		t.Fatal(err)
	}
	vals, err := DecodeValues(b, f, svc)
	if err != nil || !reflect.DeepEqual(vals, []any{fv, principal.CanisterID(2)}) {
		t.Errorf("func and service values: %#v, %v", vals, err)
	}
}
