package hashtree

import (
	"bytes"
	"errors"
	"fmt"
	"math/bits"
	"math/rand/v2"
	"reflect"
	"slices"
	"testing"
)

// wellFormed reports whether every forest of n has strictly increasing labels, no leaf beside other
// nodes, and fork depth at most ceil(log2(children)).
func wellFormed(t *testing.T, n Node) {
	t.Helper()
	if _, ok := n.(Leaf); ok {
		return
	}
	elems := Flatten(n)
	for i, e := range elems {
		l, ok := e.(Labeled)
		if !ok {
			t.Fatalf("child %d is %T, want Labeled", i, e)
		}
		if i > 0 && bytes.Compare(elems[i-1].(Labeled).Label, l.Label) >= 0 {
			t.Fatalf("labels %q, %q out of order", elems[i-1].(Labeled).Label, l.Label)
		}
		wellFormed(t, l.Tree)
	}
	if d, max := forkDepth(n), bits.Len(uint(len(elems)-1)); len(elems) > 1 && d > max {
		t.Fatalf("fork depth %d for %d children, want at most %d", d, len(elems), max)
	}
}

func forkDepth(n Node) int {
	if f, ok := n.(Fork); ok {
		return 1 + max(forkDepth(f.Left), forkDepth(f.Right))
	}
	return 0
}

func TestBuilder(t *testing.T) {
	var b Builder
	if got := b.Tree(); got != (Empty{}) {
		t.Fatalf("empty builder gives %#v", got)
	}
	for _, kv := range []struct{ path, value string }{
		{"d", "morning"}, {"a/y", "world"}, {"b", "good"}, {"a/x", "hello"}, {"b", "better"},
	} {
		p := bytes.Split([]byte(kv.path), []byte("/"))
		if err := b.Insert(p, []byte(kv.value)); err != nil {
			t.Fatalf("Insert %s: %v", kv.path, err)
		}
	}
	if err := b.InsertTree(path("c"), Empty{}); err != nil {
		t.Fatal(err)
	}
	tree := b.Tree()
	wellFormed(t, tree)
	want := fork(
		fork(label("a", fork(label("x", leaf("hello")), label("y", leaf("world")))), label("b", leaf("better"))),
		fork(label("c", empty()), label("d", leaf("morning"))),
	)
	if !reflect.DeepEqual(tree, want) {
		t.Errorf("Tree() = %#v", tree)
	}

	conflicts := []struct {
		name string
		do   func() error
	}{
		{"below a value", func() error { return b.Insert(path("b", "x"), nil) }},
		{"below a graft", func() error { return b.Insert(path("c", "x"), nil) }},
		{"value over children", func() error { return b.Insert(path("a"), nil) }},
		{"graft over children", func() error { return b.InsertTree(path("a"), Empty{}) }},
		{"empty path", func() error { return b.Insert(nil, nil) }},
	}
	for _, c := range conflicts {
		if err := c.do(); !errors.Is(err, ErrConflict) {
			t.Errorf("%s: %v, want ErrConflict", c.name, err)
		}
	}
	// A value replaces a graft and the other way round.
	if err := b.Insert(path("c"), []byte("v")); err != nil {
		t.Fatal(err)
	}
	if r := LookupString(b.Tree(), "c"); r.Status != Found || string(r.Value) != "v" {
		t.Errorf("c = %v %q", r.Status, r.Value)
	}
	if err := b.InsertTree(path("c"), repeated(1)); err != nil {
		t.Fatal(err)
	}
	if r := LookupString(b.Tree(), "c"); r.Status != Unknown {
		t.Errorf("c = %v", r.Status)
	}
	if err := b.Insert([][]byte{{0xff, 0}}, nil); err != nil {
		t.Fatal(err)
	}
	if err := b.Insert([][]byte{{0xff, 0}, {1}}, nil); err == nil || err.Error() != "hashtree: path conflicts with an existing entry: /ff00 holds a value" {
		t.Errorf("error message: %v", err)
	}
}

func TestBalanced(t *testing.T) {
	for n := 0; n <= 70; n++ {
		nodes := make([]Node, n)
		for i := range nodes {
			nodes[i] = Labeled{Label: []byte(fmt.Sprintf("%03d", i)), Tree: Empty{}}
		}
		tree := Balanced(nodes)
		if got := Flatten(tree); !reflect.DeepEqual(got, nodes) && !(n == 0 && len(got) == 0) {
			t.Fatalf("n=%d: order changed", n)
		}
		wellFormed(t, tree)
	}
}

// randomTree builds a random well-formed tree from paths over a small alphabet, so that labels
// collide, share prefixes and include the empty label.
func randomTree(r *rand.Rand) (Node, [][][]byte) {
	var b Builder
	var paths [][][]byte
	for range r.IntN(40) {
		p := randomPath(r)
		var err error
		if r.IntN(10) == 0 {
			err = b.InsertTree(p, Empty{})
		} else {
			err = b.Insert(p, []byte(fmt.Sprint(r.IntN(1000))))
		}
		if err == nil {
			paths = append(paths, p)
		}
	}
	return b.Tree(), paths
}

func randomPath(r *rand.Rand) [][]byte {
	p := make([][]byte, 1+r.IntN(3))
	for i := range p {
		l := make([]byte, r.IntN(3))
		for j := range l {
			l[j] = "abc"[r.IntN(3)]
		}
		p[i] = l
	}
	return p
}

func sameLookup(a, b Result) bool {
	return a.Status == b.Status && bytes.Equal(a.Value, b.Value)
}

// Prune keeps the digest and the answers for requested paths and their prefixes, never
// contradicts the full tree for other paths, and reveals requested subtrees completely. The same
// holds when the input is itself a witness (it contains Pruned nodes).
func TestPruneProperties(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	for iter := range 3000 {
		tree, present := randomTree(r)
		if iter%3 == 0 && len(present) > 0 { // start from a witness
			var keep [][][]byte
			for range 1 + r.IntN(4) {
				keep = append(keep, present[r.IntN(len(present))])
			}
			tree = Prune(tree, keep...)
		}
		var req [][][]byte
		for range r.IntN(5) {
			if len(present) > 0 && r.IntN(2) == 0 {
				p := present[r.IntN(len(present))]
				req = append(req, p[:1+r.IntN(len(p))]) // a present path or a prefix of one
			} else {
				req = append(req, randomPath(r))
			}
		}
		w := Prune(tree, req...)
		if Digest(w) != Digest(tree) {
			t.Fatalf("iter %d: digest changed\ntree %#v\nreq %q\nwitness %#v", iter, tree, req, w)
		}
		for _, p := range req {
			for k := 0; k <= len(p); k++ {
				q := p[:k]
				if got, want := Lookup(w, q...), Lookup(tree, q...); !sameLookup(got, want) {
					t.Fatalf("iter %d: Lookup %q = %v, full tree %v\ntree %#v\nreq %q\nwitness %#v", iter, q, got, want, tree, req, w)
				}
				gs, gst := LookupSubtree(w, q...)
				ws, wst := LookupSubtree(tree, q...)
				if gst != wst || (gst == Found && Digest(gs) != Digest(ws)) {
					t.Fatalf("iter %d: LookupSubtree %q = %v, full tree %v", iter, q, gst, wst)
				}
				if k == len(p) && wst == Found && !reflect.DeepEqual(gs, ws) {
					t.Fatalf("iter %d: subtree at %q not fully revealed", iter, q)
				}
			}
		}
		for range 5 {
			q := randomPath(r)
			got, want := Lookup(w, q...), Lookup(tree, q...)
			if got.Status != Unknown && !sameLookup(got, want) {
				t.Fatalf("iter %d: witness says %v for %q, full tree %v", iter, got, q, want)
			}
		}
		// Pruning a witness again for the same paths changes nothing.
		if again := Prune(w, req...); !reflect.DeepEqual(again, w) && len(req) > 0 {
			t.Fatalf("iter %d: Prune is not idempotent", iter)
		}
	}
}

func TestPruneSmall(t *testing.T) {
	tree := specTree()
	tests := []struct {
		name  string
		paths [][][]byte
		want  Node
	}{
		{"no paths", nil, Pruned(Digest(tree))},
		{"root", [][][]byte{{}}, tree},
		{"absent before first", [][][]byte{path("0")}, fork(
			fork(label("a", Pruned(Digest(specTree().(Fork).Left.(Fork).Left.(Labeled).Tree))), Pruned(Digest(label("b", leaf("good"))))),
			Pruned(Digest(specTree().(Fork).Right)))},
		{"below a leaf", [][][]byte{path("b", "x")}, fork(
			fork(Pruned(Digest(specTree().(Fork).Left.(Fork).Left)), label("b", leaf("good"))),
			Pruned(Digest(specTree().(Fork).Right)))},
		{"below empty", [][][]byte{path("c", "x")}, fork(
			Pruned(Digest(specTree().(Fork).Left)),
			fork(label("c", empty()), Pruned(Digest(label("d", leaf("morning"))))))},
		{"after last", [][][]byte{path("e")}, fork(
			Pruned(Digest(specTree().(Fork).Left)),
			fork(Pruned(Digest(label("c", empty()))), label("d", Pruned(LeafHash([]byte("morning"))))))},
	}
	for _, tt := range tests {
		got := Prune(tree, tt.paths...)
		if !reflect.DeepEqual(got, tt.want) {
			t.Errorf("%s: got %#v\nwant %#v", tt.name, got, tt.want)
		}
	}

	// Empty runs between revealed neighbors stay, so that the neighbors remain adjacent.
	sparse := fork(label("a", leaf("1")), fork(fork(empty(), empty()), label("c", leaf("3"))))
	w := Prune(sparse, path("b"))
	want := fork(label("a", Pruned(LeafHash([]byte("1")))), fork(fork(empty(), empty()), label("c", Pruned(LeafHash([]byte("3"))))))
	if !reflect.DeepEqual(w, want) {
		t.Errorf("sparse: %#v", w)
	}
	if LookupString(w, "b").Status != Absent {
		t.Error("absence of b not proven")
	}
}

func TestPruneRange(t *testing.T) {
	var labels [][]byte // every label of at most 2 letters over "abc", the alphabet of randomTree
	labels = append(labels, []byte{})
	for _, a := range "abc" {
		labels = append(labels, []byte{byte(a)})
		for _, b := range "abc" {
			labels = append(labels, []byte{byte(a), byte(b)})
		}
	}
	r := rand.New(rand.NewPCG(3, 4))
	for iter := range 2000 {
		tree, present := randomTree(r)
		var prefix [][]byte
		if len(present) > 0 && r.IntN(3) > 0 {
			p := present[r.IntN(len(present))]
			prefix = p[:r.IntN(len(p))]
		}
		first, last := labels[r.IntN(len(labels))], labels[r.IntN(len(labels))]
		if bytes.Compare(first, last) > 0 {
			first, last = last, first
		}
		w := PruneRange(tree, prefix, first, last)
		if Digest(w) != Digest(tree) {
			t.Fatalf("iter %d: digest changed", iter)
		}
		for _, l := range labels {
			if bytes.Compare(l, first) < 0 || bytes.Compare(l, last) > 0 {
				continue
			}
			q := append(slices.Clone(prefix), l)
			if got, want := Lookup(w, q...), Lookup(tree, q...); !sameLookup(got, want) {
				t.Fatalf("iter %d: Lookup %q = %v, full tree %v\ntree %#v\nwitness %#v", iter, q, got, want, tree, w)
			}
			gs, gst := LookupSubtree(w, q...)
			ws, wst := LookupSubtree(tree, q...)
			if gst != wst || (wst == Found && !reflect.DeepEqual(gs, ws)) {
				t.Fatalf("iter %d: LookupSubtree %q = %v, full tree %v", iter, q, gst, wst)
			}
		}
	}
	// The spec tree: the range [b, c] reveals b and c and proves nothing else is between.
	w := PruneRange(specTree(), nil, []byte("b"), []byte("c"))
	want := fork(
		fork(label("a", Pruned(Digest(specTree().(Fork).Left.(Fork).Left.(Labeled).Tree))), label("b", leaf("good"))),
		fork(label("c", empty()), label("d", Pruned(LeafHash([]byte("morning"))))),
	)
	if !reflect.DeepEqual(w, want) {
		t.Errorf("PruneRange(spec, b, c) = %#v", w)
	}
	if LookupString(w, "bb").Status != Absent {
		t.Error("bb not proven absent")
	}
}
