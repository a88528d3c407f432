package hashtree

import (
	"bytes"
	"encoding/hex"
	"errors"
	"reflect"
	"strings"
	"testing"

	"github.com/fxamacker/cbor/v2"
)

func TestUnmarshalAccepts(t *testing.T) {
	tests := []struct {
		name string
		hex  string
		want Node
	}{
		{"empty", "8100", Empty{}},
		{"tagged empty", "d9d9f78100", Empty{}},
		{"leaf", "820343010203", Leaf{1, 2, 3}},
		{"empty leaf", "820340", Leaf{}},
		{"labeled", "830241618100", Labeled{Label: []byte("a"), Tree: Empty{}}},
		{"empty label", "830240820340", Labeled{Label: []byte{}, Tree: Leaf{}}},
		{"fork", "830181008100", Fork{Left: Empty{}, Right: Empty{}}},
		{"tag on inner node", "8301d9d9f781008100", Fork{Left: Empty{}, Right: Empty{}}},
		{"non-minimal array head", "980100", Empty{}}, // array(1) with a one-byte length
		{"non-minimal type", "81180000"[:6], Empty{}},
		{"pruned", "8204" + "5820" + strings.Repeat("ab", 32), Pruned(bytes.Repeat([]byte{0xab}, 32))},
		{"long leaf", "820359012c" + strings.Repeat("00", 300), Leaf(make([]byte, 300))},
	}
	for _, tt := range tests {
		got, err := Unmarshal(mustHex(t, tt.hex))
		if err != nil {
			t.Errorf("%s: %v", tt.name, err)
			continue
		}
		if !reflect.DeepEqual(got, tt.want) {
			t.Errorf("%s: got %#v, want %#v", tt.name, got, tt.want)
		}
	}
}

func TestUnmarshalRejects(t *testing.T) {
	deep := strings.Repeat("8301", MaxDepth) + "8100" + strings.Repeat("8100", MaxDepth)
	okDeep := strings.Repeat("8301", MaxDepth-1) + "8100" + strings.Repeat("8100", MaxDepth-1)
	if _, err := Unmarshal(mustHex(t, okDeep)); err != nil {
		t.Fatalf("tree of depth MaxDepth rejected: %v", err)
	}
	tests := []struct {
		name, hex, msg string
	}{
		{"nothing", "", "unexpected end"},
		{"not an array", "00", "must be an array"},
		{"map", "a0", "must be an array"},
		{"empty array", "80", "0 elements"},
		{"four elements", "8401818181", "4 elements"},
		{"empty with extra", "820000", "type 0 has 2 elements"},
		{"fork arity 2", "82018100", "type 1 has 2 elements"},
		{"labeled arity 2", "82024161", "type 2 has 2 elements"},
		{"leaf arity 1", "8103", "type 3 has 1 elements"},
		{"leaf arity 3", "8303404040", "type 3 has 3 elements"},
		{"pruned arity 1", "8104", "type 4 has 1 elements"},
		{"unknown type", "8105", "0 to 4"},
		{"negative type", "8120", "0 to 4"},
		{"text type", "816130", "0 to 4"},
		{"big type", "811b0000000100000000", "0 to 4"},
		{"text label", "830261618100", "label must be a byte string"},
		{"array label", "830280" + "8100", "label must be a byte string"},
		{"text leaf", "82036161", "leaf value must be a byte string"},
		{"uint leaf", "820301", "leaf value must be a byte string"},
		{"pruned 31 bytes", "8204581f" + strings.Repeat("00", 31), "pruned hash has 31 bytes"},
		{"pruned 33 bytes", "82045821" + strings.Repeat("00", 33), "pruned hash has 33 bytes"},
		{"pruned text", "82047820" + strings.Repeat("30", 32), "pruned hash must be a byte string"},
		{"indefinite array", "9f00ff", "indefinite"},
		{"indefinite bytes", "82035f4101ff", "indefinite"},
		{"reserved", "1c", "reserved"},
		{"other tag", "d818820340", "unexpected CBOR tag 24"},
		{"bignum tag", "c2820340", "unexpected CBOR tag 2"},
		{"two self-describe tags", "d9d9f7d9d9f78100", "must be an array"},
		{"trailing bytes", "810000", "1 trailing bytes"},
		{"second tree", "81008100", "2 trailing bytes"},
		{"truncated head", "8203", "unexpected end"},
		{"truncated length", "82035901", "unexpected end"},
		{"leaf past end", "82034501", "runs past the end"},
		{"huge length", "82035bffffffffffffffff", "runs past the end"},
		{"truncated fork", "83018100", "unexpected end"},
		{"too deep", deep, "deeper than"},
	}
	for _, tt := range tests {
		n, err := Unmarshal(mustHex(t, tt.hex))
		if err == nil {
			t.Errorf("%s: accepted as %#v", tt.name, n)
			continue
		}
		if !errors.Is(err, ErrMalformed) || !strings.Contains(err.Error(), tt.msg) {
			t.Errorf("%s: error %q, want ErrMalformed mentioning %q", tt.name, err, tt.msg)
		}
	}
}

func TestUnmarshalDoesNotAlias(t *testing.T) {
	b := mustHex(t, "8302416182034162")
	n, err := Unmarshal(b)
	if err != nil {
		t.Fatal(err)
	}
	for i := range b {
		b[i] = 0
	}
	if r := LookupString(n, "a"); r.Status != Found || string(r.Value) != "b" {
		t.Errorf("tree changed with its input: %v %q", r.Status, r.Value)
	}
}

func TestMarshalRoundTrip(t *testing.T) {
	trees := []Node{
		Empty{}, nil, specTree(), specPruned(t), agentJSTree(t),
		Leaf(bytes.Repeat([]byte{1}, 70000)),
		Labeled{Label: bytes.Repeat([]byte{2}, 300), Tree: Leaf(nil)},
		&Fork{Left: &Leaf{9}, Right: (*Pruned)(nil)},
	}
	for i, tree := range trees {
		enc, err := Marshal(tree)
		if err != nil {
			t.Fatal(err)
		}
		if len(enc) != encodedSize(tree) {
			t.Errorf("tree %d: encodedSize %d, encoding has %d bytes", i, encodedSize(tree), len(enc))
		}
		dec, err := Unmarshal(enc)
		if err != nil {
			t.Fatalf("tree %d: %v", i, err)
		}
		if Digest(dec) != Digest(tree) {
			t.Errorf("tree %d: digest changed in round trip", i)
		}
		// fxamacker agrees that it is well-formed CBOR, and decodes to the same generic value.
		var generic any
		if err := cbor.Unmarshal(enc, &generic); err != nil {
			t.Errorf("tree %d: fxamacker rejects our encoding: %v", i, err)
		}
		re, _ := cbor.Marshal(generic)
		if !bytes.Equal(re, enc) {
			t.Errorf("tree %d: fxamacker re-encodes differently", i)
		}
	}
}

// A Node inside a struct, with fxamacker/cbor: Node fields encode through MarshalCBOR; Tree fields
// also decode.
func TestFxamackerStructs(t *testing.T) {
	type out struct {
		Tree Node   `cbor:"tree"`
		Sig  []byte `cbor:"signature"`
	}
	type in struct {
		Tree Tree   `cbor:"tree"`
		Sig  []byte `cbor:"signature"`
	}
	enc, err := cbor.Marshal(out{Tree: specTree(), Sig: []byte{1}})
	if err != nil {
		t.Fatal(err)
	}
	want := "a2" + "6474726565" + specTreeHex + "697369676e6174757265" + "4101"
	if hex.EncodeToString(enc) != want {
		t.Errorf("struct encoding %x\nwant %s", enc, want)
	}
	var got in
	if err := cbor.Unmarshal(enc, &got); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got.Tree.Node, specTree()) {
		t.Errorf("decoded %#v", got.Tree.Node)
	}
	// Wrapped in the self-describe tag, as certificates are.
	tagged, _ := cbor.Marshal(cbor.Tag{Number: 55799, Content: out{Tree: Leaf("x")}})
	if err := cbor.Unmarshal(tagged, &got); err != nil || !reflect.DeepEqual(got.Tree.Node, Leaf("x")) {
		t.Errorf("tagged: %v %#v", err, got.Tree.Node)
	}
	// Tree rejects what Unmarshal rejects.
	bad, _ := hex.DecodeString("a1647472656582044100")
	if err := cbor.Unmarshal(bad, &got); !errors.Is(err, ErrMalformed) {
		t.Errorf("malformed tree in struct: %v", err)
	}
	// Tree encodes as its node, and the zero Tree as Empty.
	for _, tt := range []struct {
		v    Tree
		want string
	}{{Tree{}, "8100"}, {Tree{Node: Leaf{1}}, "82034101"}} {
		b, err := cbor.Marshal(tt.v)
		if err != nil || hex.EncodeToString(b) != tt.want {
			t.Errorf("Marshal(%#v) = %x, %v", tt.v, b, err)
		}
	}
	// Each node type marshals on its own.
	for _, n := range []Node{Empty{}, Fork{}, Labeled{}, Leaf{}, Pruned{}} {
		b, err := cbor.Marshal(n)
		want, _ := Marshal(n)
		if err != nil || !bytes.Equal(b, want) {
			t.Errorf("cbor.Marshal(%T) = %x, %v", n, b, err)
		}
	}
}
