package hashtree

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"reflect"
	"testing"
)

// Test helpers that build trees by hand.
func fork(l, r Node) Node         { return Fork{Left: l, Right: r} }
func label(l string, t Node) Node { return Labeled{Label: []byte(l), Tree: t} }
func leaf(v string) Node          { return Leaf(v) }
func empty() Node                 { return Empty{} }
func pruned(t testing.TB, h string) Node {
	t.Helper()
	b, err := hex.DecodeString(h)
	if err != nil || len(b) != 32 {
		t.Fatalf("bad pruned hash %q", h)
	}
	return Pruned(b)
}
func repeated(b byte) Node { return Pruned(bytes.Repeat([]byte{b}, 32)) }

func mustHex(t testing.TB, s string) []byte {
	t.Helper()
	b, err := hex.DecodeString(s)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func path(labels ...string) [][]byte {
	p := make([][]byte, len(labels))
	for i, l := range labels {
		p[i] = []byte(l)
	}
	return p
}

// Spec §Certification "Example" (also agent-js certificate.test.ts and ic-certification tests).
const (
	specTreeHex   = "8301830183024161830183018302417882034568656c6c6f810083024179820345776f726c6483024162820344676f6f648301830241638100830241648203476d6f726e696e67"
	specPrunedHex = "83018301830241618301820458201b4feff9bef8131788b0c9dc6dbad6e81e524249c879e9f10f71ce3749f5a63883024179820345776f726c6483024162820458207b32ac0c6ba8ce35ac82c255fc7906f7fc130dab2a090f80fe12f9c2cae83ba6830182045820ec8324b8a1f1ac16bd2e806edba78006479c9877fed4eb464a25485465af601d830241648203476d6f726e696e67"
	specRootHex   = "eb5c5b2195e62d996b84c9bcc8259d19a83786a2f59e0878cec84c811f669aa0"
)

func specTree() Node {
	return fork(
		fork(
			label("a", fork(
				fork(label("x", leaf("hello")), empty()),
				label("y", leaf("world")),
			)),
			label("b", leaf("good")),
		),
		fork(label("c", empty()), label("d", leaf("morning"))),
	)
}

func specPruned(t testing.TB) Node {
	return fork(
		fork(
			label("a", fork(
				pruned(t, "1b4feff9bef8131788b0c9dc6dbad6e81e524249c879e9f10f71ce3749f5a638"),
				label("y", leaf("world")),
			)),
			label("b", pruned(t, "7b32ac0c6ba8ce35ac82c255fc7906f7fc130dab2a090f80fe12f9c2cae83ba6")),
		),
		fork(
			pruned(t, "ec8324b8a1f1ac16bd2e806edba78006479c9877fed4eb464a25485465af601d"),
			label("d", leaf("morning")),
		),
	)
}

func TestDomainSeparatedHashes(t *testing.T) {
	tests := []struct {
		name string
		got  [32]byte
		want string
	}{
		{"empty", EmptyHash(), "4e3ed35c4e2d1ee89996483fb6260a64cffb6c47dbab216e7930e82f8190d120"},
		{"digest of Empty", Digest(Empty{}), "4e3ed35c4e2d1ee89996483fb6260a64cffb6c47dbab216e7930e82f8190d120"},
		{"digest of nil", Digest(nil), "4e3ed35c4e2d1ee89996483fb6260a64cffb6c47dbab216e7930e82f8190d120"},
		// ic-certification hash_tree tests: works_with_simple_tree.
		{"simple tree", Digest(fork(label("label 1", empty()), fork(repeated(1), Leaf{1, 2, 3, 4, 5, 6}))),
			"69cf325d0f20505b261821a7e77ff72fb9a8753a7964f0b587553bfb44e72532"},
		{"spec tree", Digest(specTree()), specRootHex},
		{"spec tree via pointers", Digest(&Fork{Left: (*Fork)(nil), Right: &Labeled{Label: []byte("x")}}),
			hex.EncodeToString(func() []byte {
				h := Digest(fork(empty(), label("x", empty())))
				return h[:]
			}())},
	}
	for _, tt := range tests {
		if got := hex.EncodeToString(tt.got[:]); got != tt.want {
			t.Errorf("%s: got %s, want %s", tt.name, got, tt.want)
		}
	}
	// A long leaf takes the streaming path of hash3; compare with the short path's definition.
	for _, n := range []int{0, 238, 239, 240, 1000} {
		v := bytes.Repeat([]byte{7}, n)
		if LeafHash(v) != sha256.Sum256(append([]byte("\x10ic-hashtree-leaf"), v...)) {
			t.Errorf("LeafHash of %d bytes is wrong", n)
		}
		h := sha256.Sum256(v)
		if LabeledHash(v, h) != sha256.Sum256(append(append([]byte("\x13ic-hashtree-labeled"), v...), h[:]...)) {
			t.Errorf("LabeledHash of a %d-byte label is wrong", n)
		}
	}
}

func TestSpecExample(t *testing.T) {
	tree, err := Unmarshal(mustHex(t, specTreeHex))
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(tree, specTree()) {
		t.Errorf("decoded tree = %#v", tree)
	}
	if got := Digest(tree); hex.EncodeToString(got[:]) != specRootHex {
		t.Errorf("root hash %x", got)
	}
	enc, _ := Marshal(specTree())
	if hex.EncodeToString(enc) != specTreeHex {
		t.Errorf("Marshal = %x", enc)
	}

	p, err := Unmarshal(mustHex(t, specPrunedHex))
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(p, specPruned(t)) {
		t.Errorf("decoded pruned tree = %#v", p)
	}
	if Digest(p) != Digest(tree) {
		t.Error("pruned tree has another root hash")
	}
	lookups := []struct {
		path   []string
		status Status
		value  string
	}{
		{[]string{"a", "a"}, Unknown, ""},
		{[]string{"a", "y"}, Found, "world"},
		{[]string{"aa"}, Absent, ""},
		{[]string{"ax"}, Absent, ""},
		{[]string{"b"}, Unknown, ""},
		{[]string{"bb"}, Unknown, ""},
		{[]string{"d"}, Found, "morning"},
		{[]string{"e"}, Absent, ""},
	}
	for _, l := range lookups {
		got := LookupString(p, l.path...)
		if got.Status != l.status || string(got.Value) != l.value {
			t.Errorf("pruned lookup %v = %v %q, want %v %q", l.path, got.Status, got.Value, l.status, l.value)
		}
	}

	// Pruning the full tree for the same paths gives exactly the spec's pruned tree.
	w := Prune(tree, path("a", "y"), path("ax"), path("d"))
	enc, _ = Marshal(w)
	if hex.EncodeToString(enc) != specPrunedHex {
		t.Errorf("Prune = %x\nwant    %s", enc, specPrunedHex)
	}
}

// The tree of agent-js certificate.test.ts "lookup_path and find_label".
func agentJSTree(t testing.TB) Node {
	return fork(
		fork(
			fork(
				label("a", pruned(t, "1b842dfc254abb83e61bcdd7b7c24492322a2e1b006e6d20b88bedd147c248fc")),
				label("c", leaf("hello")),
			),
			label("d", fork(
				label("1", leaf("42")),
				pruned(t, "5ec92bd71f697eee773919200a9718c4719495a4c6bba52acc408bd79b4bf57f"),
			)),
		),
		fork(label("e", leaf("world")), label("g", empty())),
	)
}

func TestLookupAgentJS(t *testing.T) {
	tree := agentJSTree(t)
	tests := []struct {
		path   []string
		status Status
		value  string
	}{
		{[]string{"a"}, Unknown, ""}, // the subtree at a is pruned
		{[]string{"a", "1"}, Unknown, ""},
		{[]string{"a", "2"}, Unknown, ""},
		{[]string{"b"}, Absent, ""},
		{[]string{"c"}, Found, "hello"},
		{[]string{"d"}, Error, ""}, // a subtree, not a value
		{[]string{"d", "1"}, Found, "42"},
		{[]string{"d", "2"}, Unknown, ""},
		{[]string{"e"}, Found, "world"},
		{[]string{"f"}, Absent, ""},
		{[]string{"g"}, Absent, ""}, // Empty (agent-js answers Found [Empty]; the spec says Absent)
		{[]string{"g", "1"}, Absent, ""},
		{[]string{"g", "2"}, Absent, ""},
		{[]string{"c", "x"}, Absent, ""}, // below a leaf
		{[]string{}, Error, ""},
		{[]string{"0"}, Absent, ""},
		{[]string{"h"}, Absent, ""},
	}
	for _, tt := range tests {
		got := LookupString(tree, tt.path...)
		if got.Status != tt.status || string(got.Value) != tt.value {
			t.Errorf("Lookup %v = %v %q, want %v %q", tt.path, got.Status, got.Value, tt.status, tt.value)
		}
	}

	subtrees := []struct {
		path   []string
		status Status
		want   Node
	}{
		{[]string{}, Found, tree},
		{[]string{"a"}, Found, pruned(t, "1b842dfc254abb83e61bcdd7b7c24492322a2e1b006e6d20b88bedd147c248fc")},
		{[]string{"a", "x"}, Unknown, nil},
		{[]string{"b"}, Absent, nil},
		{[]string{"d", "1"}, Found, leaf("42")},
		{[]string{"g"}, Found, empty()},
	}
	for _, tt := range subtrees {
		got, status := LookupSubtree(tree, path(tt.path...)...)
		if status != tt.status || !reflect.DeepEqual(got, tt.want) {
			t.Errorf("LookupSubtree %v = %v %#v, want %v %#v", tt.path, status, got, tt.status, tt.want)
		}
	}

	// agent-js: single-node trees and incomplete paths.
	single := []struct {
		tree   Node
		path   []string
		status Status
	}{
		{empty(), nil, Absent},
		{repeated(0x1b), nil, Unknown},
		{fork(label("a", leaf("value")), empty()), nil, Error},
		{fork(label("a", fork(empty(), empty())), empty()), []string{"a"}, Error},
		{fork(label("a", fork(label("b", leaf("value")), empty())), empty()), []string{"a"}, Error},
		{leaf("v"), []string{"a"}, Absent},
		{nil, []string{"a"}, Absent},
	}
	for _, tt := range single {
		if got := LookupString(tt.tree, tt.path...); got.Status != tt.status {
			t.Errorf("Lookup %v in %#v = %v, want %v", tt.path, tt.tree, got.Status, tt.status)
		}
	}
}

// The lookup tests of dfinity/response-verification packages/ic-certification hash_tree/tests.rs.
func TestLookupICCertification(t *testing.T) {
	leaf6 := Leaf{1, 2, 3, 4, 5, 6}
	l35 := func() Node { return fork(label("label 3", leaf6), label("label 5", empty())) }
	trees := []Node{
		1: fork(label("label 1", empty()), fork(repeated(1), l35())),
		2: fork(label("label 1", empty()), fork(l35(), repeated(1))),
		3: fork(repeated(0), fork(repeated(1), l35())),
		4: fork(repeated(0), fork(l35(), repeated(1))),
		5: fork(fork(repeated(1), l35()), label("label 7", empty())),
		6: fork(fork(l35(), repeated(1)), label("label 7", empty())),
		7: fork(fork(repeated(1), l35()), repeated(0)),
		8: fork(fork(l35(), repeated(1)), repeated(0)),
	}
	const (
		F = Found
		A = Absent
		U = Unknown
		x = Status(0) // not tested upstream
	)
	// paths[i][j] = expected Lookup of "label j" in tree i; label 3 is always Found leaf6.
	paths := [][]Status{
		1: {A, A, U, F, A, A, A, x, x},
		2: {A, A, A, F, A, A, U, x, x},
		3: {x, x, U, F, A, A, A, x, x},
		4: {x, x, U, F, A, A, U, x, x},
		5: {x, x, U, F, A, A, A, A, A},
		6: {x, x, A, F, A, A, U, A, A},
		7: {x, x, U, F, A, A, U, x, x},
		8: {x, x, A, F, A, A, U, x, x},
	}
	for i := 1; i <= 8; i++ {
		for j, want := range paths[i] {
			if want == x {
				continue
			}
			l := []byte("label " + string(rune('0'+j)))
			got := Lookup(trees[i], l)
			if got.Status != want {
				t.Errorf("tree %d: Lookup(%s) = %v, want %v", i, l, got.Status, want)
			}
			if want == Found && !bytes.Equal(got.Value, leaf6) {
				t.Errorf("tree %d: Lookup(%s) value %x", i, l, got.Value)
			}
			// lookup_subtree: the same, except that Empty subtrees are Found.
			sub, st := LookupSubtree(trees[i], l)
			wantSub := want
			if (j == 1 || j == 5 || j == 7) && want == Absent {
				wantSub = Found
			}
			if st != wantSub {
				t.Errorf("tree %d: LookupSubtree(%s) = %v, want %v", i, l, st, wantSub)
			}
			if st == Found && j == 3 && !reflect.DeepEqual(sub, leaf6) {
				t.Errorf("tree %d: LookupSubtree(%s) = %#v", i, l, sub)
			}
			if st == Found && j != 3 && !reflect.DeepEqual(sub, Empty{}) {
				t.Errorf("tree %d: LookupSubtree(%s) = %#v", i, l, sub)
			}
		}
	}
}

func TestLookupMalformed(t *testing.T) {
	tests := []struct {
		name string
		tree Node
		path string
		want Status
	}{
		{"labels decreasing", fork(label("b", leaf("1")), label("a", leaf("2"))), "c", Error},
		{"decided before the fault", fork(label("b", leaf("1")), label("a", leaf("2"))), "a", Absent},
		{"labels repeated", fork(label("a", leaf("1")), label("a", leaf("2"))), "b", Error},
		{"found before the fault", fork(label("a", leaf("1")), label("a", leaf("2"))), "a", Found},
		{"leaf then label", fork(leaf("1"), label("a", leaf("2"))), "a", Error},
		{"label then leaf", fork(label("a", leaf("2")), leaf("1")), "b", Error},
		{"leaf then pruned", fork(leaf("1"), repeated(3)), "b", Error},
		{"pruned then leaf", fork(repeated(3), leaf("1")), "b", Error},
		{"leaf beside empty", fork(leaf("1"), empty()), "b", Absent},
		{"empty label sorts first", fork(label("", leaf("1")), label("a", leaf("2"))), "", Found},
		{"empty label twice", fork(label("", leaf("1")), label("", leaf("2"))), "a", Error},
		{"proper prefix sorts first", fork(label("canister", leaf("1")), label("canister_ranges", leaf("2"))), "canister_ranges", Found},
		{"between prefix and longer", fork(label("canister", leaf("1")), label("canister_ranges", leaf("2"))), "canister_r", Absent},
	}
	for _, tt := range tests {
		if got := LookupString(tt.tree, tt.path); got.Status != tt.want {
			t.Errorf("%s: %v, want %v", tt.name, got.Status, tt.want)
		}
	}
}

func TestStatusString(t *testing.T) {
	for s, want := range map[Status]string{Found: "Found", Absent: "Absent", Unknown: "Unknown", Error: "Error", 0: "Status(0)"} {
		if s.String() != want {
			t.Errorf("%d.String() = %q", s, s.String())
		}
	}
}

func TestFlatten(t *testing.T) {
	got := Flatten(fork(fork(empty(), label("a", empty())), fork(repeated(1), empty())))
	want := []Node{label("a", empty()), repeated(1)}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("Flatten = %#v", got)
	}
	if got := Flatten(Empty{}); len(got) != 0 {
		t.Errorf("Flatten(Empty) = %#v", got)
	}
	if got := Flatten(leaf("v")); !reflect.DeepEqual(got, []Node{leaf("v")}) {
		t.Errorf("Flatten(Leaf) = %#v", got)
	}
}
