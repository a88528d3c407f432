package hashtree

import (
	"fmt"
	"testing"
)

func benchTree(n int) (Node, [][]byte) {
	var b Builder
	var last [][]byte
	for i := range n {
		last = [][]byte{[]byte("canister"), []byte(fmt.Sprintf("%010d", i)), []byte("certified_data")}
		if err := b.Insert(last, []byte("0123456789abcdef0123456789abcdef")); err != nil {
			panic(err)
		}
	}
	return b.Tree(), last
}

func BenchmarkDigest(b *testing.B) {
	tree, _ := benchTree(1000)
	b.ReportAllocs()
	for b.Loop() {
		Digest(tree)
	}
}

func BenchmarkLookup(b *testing.B) {
	tree, p := benchTree(1000)
	b.ReportAllocs()
	for b.Loop() {
		if Lookup(tree, p...).Status != Found {
			b.Fatal("not found")
		}
	}
}

func BenchmarkUnmarshal(b *testing.B) {
	enc, _ := Marshal(specTree())
	b.ReportAllocs()
	b.SetBytes(int64(len(enc)))
	for b.Loop() {
		if _, err := Unmarshal(enc); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkPrune(b *testing.B) {
	tree, p := benchTree(1000)
	b.ReportAllocs()
	for b.Loop() {
		Prune(tree, p)
	}
}
