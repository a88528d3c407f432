package candid

import (
	"bytes"
	"encoding/hex"
	"math/big"
	"reflect"
	"strings"
	"testing"

	"github.com/icws/icws/ic/leb128"
	"github.com/icws/icws/ic/principal"
)

func unhex(t testing.TB, s string) []byte {
	t.Helper()
	b, err := hex.DecodeString(strings.ReplaceAll(s, " ", ""))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

type nonceRecord struct {
	Nonce uint64 `candid:"nonce"`
}

type okErr struct {
	Ok  *Null   `candid:"Ok,variant"`
	Err *string `candid:"Err,variant"`
}

type gatewayRecord struct {
	IsAnonymous      bool                `candid:"is_anonymous"`
	GatewayPrincipal principal.Principal `candid:"gateway_principal"`
}

func ptr[T any](v T) *T { return &v }

// TestGoldenDfinityCandid checks byte-exact encodings produced by @dfinity/candid 3.4.3
// (ic-interface.md §6.8), and that they decode back to the same values.
func TestGoldenDfinityCandid(t *testing.T) {
	tests := []struct {
		name string
		args []any
		hex  string
	}{
		{"()", nil, "4449444c0000"},
		{"record {nonce = 5 : nat64}", []any{nonceRecord{Nonce: 5}}, "4449444c016c01ef9999fe097801000500000000000000"},
		{"variant {Ok}", []any{okErr{Ok: &Null{}}}, "4449444c016b02bc8a017fc5fed20171010000"},
		{"variant {Err = \"x\"}", []any{okErr{Err: ptr("x")}}, "4449444c016b02bc8a017fc5fed201710100010178"},
		{"record {is_anonymous; gateway_principal}", []any{gatewayRecord{true, principal.Anonymous()}},
			"4449444c016c02f3eec6b4026898e98ef90a7e010001010401"},
		{"null : opt text", []any{(*string)(nil)}, "4449444c016e71010000"},
		{"opt \"hi\"", []any{ptr("hi")}, "4449444c016e71010001026869"},
		{"blob \"\\01\\02\\03\"", []any{[]byte{1, 2, 3}}, "4449444c016d7b010003010203"},
		{"(\"hello\", 300 : nat)", []any{"hello", NatOf(300)}, "4449444c0002717d0568656c6c6fac02"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			want := unhex(t, tt.hex)
			got, err := Marshal(tt.args...)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(got, want) {
				t.Fatalf("Marshal = %x, want %x", got, want)
			}
			ptrs := make([]any, len(tt.args))
			for i, a := range tt.args {
				ptrs[i] = reflect.New(reflect.TypeOf(a)).Interface()
			}
			if err := Unmarshal(want, ptrs...); err != nil {
				t.Fatal(err)
			}
			for i, p := range ptrs {
				if got := reflect.ValueOf(p).Elem().Interface(); !reflect.DeepEqual(got, tt.args[i]) {
					t.Errorf("argument %d decoded as %#v, want %#v", i, got, tt.args[i])
				}
			}
		})
	}
}

// TestFieldHashes checks field ids against ic-interface.md §6.4 and poc-protocol.md §3.
func TestFieldHashes(t *testing.T) {
	tests := []struct {
		name string
		id   uint32
		leb  string
	}{
		{"foo", 5097222, "868eb702"},
		{"bar", 4895187, "d3e3aa02"},
		{"Ok", 17724, "bc8a01"},
		{"Err", 3456837, "c5fed201"},
		{"Foo", 3505894, ""},
		{"Bar", 3303859, ""},
		{"☃", 11272781, "cd84b005"},
		{"nonce", 2680573167, "ef9999fe09"},
		{"content", 427265337, ""},
		{"client_principal", 1384677498, ""},
		{"client_nonce", 3921324219, ""},
		{"client_key", 1025972843, ""},
		{"gateway_principal", 647083891, "f3eec6b402"},
		{"is_anonymous", 2938352792, ""},
		{"sequence_num", 352253448, ""},
		{"timestamp", 2781795542, ""},
		{"is_service_message", 2815490792, ""},
		{"messages", 889051340, ""},
		{"cert", 1102915300, ""},
		{"tree", 1292081502, ""},
		{"key", 5343647, ""},
		{"msg", 5446209, ""},
		{"is_end_of_queue", 3733147138, ""},
		{"client_id", 0xc805e88f, ""},
		{"val", 0x0059dee1, ""},
		{"", 0, ""},
	}
	for _, tt := range tests {
		if got := Hash(tt.name); got != tt.id {
			t.Errorf("Hash(%q) = %d, want %d", tt.name, got, tt.id)
		}
		if tt.leb != "" {
			if got := hex.EncodeToString(leb128.AppendUint(nil, uint64(tt.id))); got != tt.leb {
				t.Errorf("LEB128 of the id of %q = %s, want %s", tt.name, got, tt.leb)
			}
		}
	}
}

// TestGoldenWebSocketProtocol checks the Candid argument bytes of poc-protocol.md §4.4.
func TestGoldenWebSocketProtocol(t *testing.T) {
	pk := make([]byte, 32)
	for i := range pk {
		pk[i] = byte(i + 1)
	}
	m, s := []byte("message bytes"), bytes.Repeat([]byte{0xab}, 200)
	tests := []struct {
		name string
		args []any
		want []byte
	}{
		{"ws_get_messages(16)", []any{uint64(16)}, unhex(t, "4449444c0001781000000000000000")},
		{"ws_register(pk)", []any{pk}, append(unhex(t, "4449444c016d7b010020"), pk...)},
		{"ws_open(m, s)", []any{m, s}, func() []byte {
			b := unhex(t, "4449444c016d7b020000")
			b = append(leb128.AppendUint(b, uint64(len(m))), m...)
			return append(leb128.AppendUint(b, uint64(len(s))), s...)
		}()},
		{"bool true", []any{true}, unhex(t, "4449444c00017e01")},
		{"()", nil, unhex(t, "4449444c0000")},
	}
	for _, tt := range tests {
		got, err := Marshal(tt.args...)
		if err != nil {
			t.Fatalf("%s: %v", tt.name, err)
		}
		if !bytes.Equal(got, tt.want) {
			t.Errorf("%s: Marshal = %x, want %x", tt.name, got, tt.want)
		}
	}
	var gm, gs []byte
	if err := Unmarshal(tests[2].want, &gm, &gs); err != nil || !bytes.Equal(gm, m) || !bytes.Equal(gs, s) {
		t.Errorf("Unmarshal ws_open args = %q, %x, %v", gm, gs, err)
	}
	var nonce uint64
	if err := Unmarshal(tests[0].want, &nonce); err != nil || nonce != 16 {
		t.Errorf("Unmarshal ws_get_messages arg = %d, %v", nonce, err)
	}
}

// Message and CertMessages are the seed protocol's types (poc-protocol.md §3):
//
//	type Message = record { client_id: nat64; key: text; val: blob; };
//	type CertMessages = record { messages: vec Message; cert: blob; tree: blob; };
type Message struct {
	ClientID uint64 `candid:"client_id"`
	Key      string `candid:"key"`
	Val      []byte `candid:"val"`
}

type CertMessages struct {
	Messages []Message `candid:"messages"`
	Cert     []byte    `candid:"cert"`
	Tree     []byte    `candid:"tree"`
}

func sampleCertMessages(n, valSize int) CertMessages {
	cm := CertMessages{Cert: bytes.Repeat([]byte{0xce}, 300), Tree: bytes.Repeat([]byte{0x7e}, 500)}
	for i := range n {
		cm.Messages = append(cm.Messages, Message{
			ClientID: uint64(16 + i),
			Key:      "2vxsx-fae_" + strings.Repeat("0", 18) + string(rune('a'+i%26)) + "0",
			Val:      bytes.Repeat([]byte{byte(i)}, valSize),
		})
	}
	return cm
}

func TestCertMessagesRoundTrip(t *testing.T) {
	cm := sampleCertMessages(3, 100)
	b, err := Marshal(cm)
	if err != nil {
		t.Fatal(err)
	}
	// The type table: blob, Message (fields sorted: key, val, client_id), vec Message, CertMessages
	// (messages, cert, tree); the blob entry is shared by val, cert and tree.
	wantHeader := "4449444c04" + "6d7b" +
		"6c03" + "9f93c602" + "71" + "e1bde702" + "00" + "8fd197c00c" + "78" +
		"6d01" +
		"6c03" + "ccb1f7a703" + "02" + "e4cdf48d04" + "00" + "deb28ee804" + "00" +
		"0103"
	if got := hex.EncodeToString(b[:len(wantHeader)/2]); got != wantHeader {
		t.Errorf("header = %s\nwant     %s", got, wantHeader)
	}
	var out CertMessages
	if err := Unmarshal(b, &out); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(out, cm) {
		t.Errorf("round trip = %#v, want %#v", out, cm)
	}

	// The same value with the type table in the order a Rust encoder writes it (outer types
	// first), which needs forward references.
	rust := unhex(t, "4449444c04"+
		"6c03"+"ccb1f7a703"+"01"+"e4cdf48d04"+"03"+"deb28ee804"+"03"+
		"6d02"+
		"6c03"+"9f93c602"+"71"+"e1bde702"+"03"+"8fd197c00c"+"78"+
		"6d7b"+
		"0100")
	rust = append(rust, b[len(wantHeader)/2:]...)
	var out2 CertMessages
	if err := Unmarshal(rust, &out2); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(out2, cm) {
		t.Errorf("decoding the Rust-ordered table = %#v, want %#v", out2, cm)
	}

	// The generic decoder sees the same values.
	typ, err := TypeOf(cm)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := typ.String(), "record { messages : vec record { key : text; val : blob; client_id : nat64 }; cert : blob; tree : blob }"; got != want {
		t.Errorf("TypeOf = %s, want %s", got, want)
	}
	vals, err := DecodeValues(rust, typ)
	if err != nil {
		t.Fatal(err)
	}
	msgs, _ := vals[0].(Record).Get("messages")
	first := msgs.([]any)[0].(Record)
	if id, _ := first.Get("client_id"); id != uint64(16) {
		t.Errorf("generic messages[0].client_id = %#v", id)
	}
}

// TestGoldenAgentJS checks messages written by @dfinity/candid 3.4.3 (IDL.encode, run once with
// node; the JavaScript values are in the comments): Unmarshal reads them, and Marshal of the
// result gives the same bytes.
func TestGoldenAgentJS(t *testing.T) {
	type tuple struct {
		A string `candid:"0"`
		B uint8  `candid:"1"`
	}
	tests := []struct {
		name string
		hex  string
		ptrs func() []any
		want []any
	}{
		{ // CertMessages {messages: [{16n, 'a_00000000000000000016', [1,2,3]}, {17n, 'b', []}], cert: [9,9], tree: [7]}
			"CertMessages",
			"4449444c046d7b6c039f93c60271e1bde702008fd197c00c786d016c03ccb1f7a70302e4cdf48d0400deb28ee8040001030216615f303030303030303030303030303030303030313603010203100000000000000001620011000000000000000209090107",
			func() []any { return []any{new(CertMessages)} },
			[]any{CertMessages{Messages: []Message{{16, "a_00000000000000000016", []byte{1, 2, 3}}, {17, "b", []byte{}}},
				Cert: []byte{9, 9}, Tree: []byte{7}}},
		},
		{ // IDL.Rec List = opt record {head: int; tail: List}: [{head: 1n, tail: [{head: -2n, tail: []}]}]
			"recursive list",
			"4449444c026e016c02a0d2aca8047c90eddae7040001000101017e00",
			func() []any { return []any{new(*list)} },
			[]any{&list{Head: IntOf(1), Tail: &list{Head: IntOf(-2)}}},
		},
		{ // variant {Ok: nat64; Err: text}: {Ok: 5n}, {Err: 'bad'}
			"variants",
			"4449444c016b02bc8a0178c5fed201710200000005000000000000000103626164",
			func() []any { return []any{new(result), new(result)} },
			[]any{result{Ok: ptr(uint64(5))}, result{Err: ptr("bad")}},
		},
		{ // (nat, int, int): 123456789012345678901234567890n, -98765432109876543210n, 5n
			"big numbers",
			"4449444c00037d7c7cd295fcf1e49df8b9c3edbfc8ee319682e6d6f1d8acada57505",
			func() []any { return []any{new(Nat), new(Int), new(Int)} },
			[]any{mustNat("123456789012345678901234567890"), mustInt("-98765432109876543210"), IntOf(5)},
		},
		{ // (bool, int8, int16, int32, int64, nat16, nat32, float32, float64, null, reserved)
			"primitives",
			"4449444c000b7e777675747a7973727f7001fbd4fe90eefeff000efad5feffffffffff00286bee0000c03f00000000000002c0",
			func() []any {
				return []any{new(bool), new(int8), new(int16), new(int32), new(int64), new(uint16), new(uint32),
					new(float32), new(float64), new(Null), new(Reserved)}
			},
			[]any{true, int8(-5), int16(-300), int32(-70000), int64(-5000000000), uint16(65535), uint32(4000000000),
				float32(1.5), float64(-2.25), Null{}, Reserved{}},
		},
		{ // (principal, opt principal): ryjl3-tyaaa-aaaaa-aaaba-cai, [anonymous]
			"principals",
			"4449444c016e68026800010a0000000000000002010101010104",
			func() []any { return []any{new(principal.Principal), new(*principal.Principal)} },
			[]any{principal.MustDecode("ryjl3-tyaaa-aaaaa-aaaba-cai"), ptr(principal.Anonymous())},
		},
		{ // vec opt vec text: [[['x','y']], [], [[]]]
			"nested",
			"4449444c036d716e006d01010203010201780179000100",
			func() []any { return []any{new([]*[]string)} },
			[]any{[]*[]string{{"x", "y"}, nil, {}}},
		},
		{ // record {text; nat8}: ['t', 7]
			"tuple",
			"4449444c016c020071017b0100017407",
			func() []any { return []any{new(tuple)} },
			[]any{tuple{"t", 7}},
		},
	}
	for _, tt := range tests {
		data := unhex(t, tt.hex)
		ptrs := tt.ptrs()
		if err := Unmarshal(data, ptrs...); err != nil {
			t.Errorf("%s: %v", tt.name, err)
			continue
		}
		got := make([]any, len(ptrs))
		for i, p := range ptrs {
			got[i] = reflect.ValueOf(p).Elem().Interface()
		}
		if !reflect.DeepEqual(got, tt.want) {
			t.Errorf("%s: decoded %#v, want %#v", tt.name, got, tt.want)
		}
		enc, err := Marshal(got...)
		if err != nil || !bytes.Equal(enc, data) {
			t.Errorf("%s: Marshal = %x, %v; want the bytes of @dfinity/candid %x", tt.name, enc, err, data)
		}
	}
}

func mustNat(s string) Nat {
	b, _ := new(big.Int).SetString(s, 10)
	n, err := NatFromBig(b)
	if err != nil {
		panic(err)
	}
	return n
}

func mustInt(s string) Int {
	b, _ := new(big.Int).SetString(s, 10)
	return IntFromBig(b)
}
