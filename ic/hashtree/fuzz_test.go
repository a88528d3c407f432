package hashtree

import (
	"bytes"
	"testing"
)

// FuzzUnmarshal: Unmarshal never panics; what it accepts re-encodes to a canonical form that
// decodes to the same tree, and lookups and Prune work on it without panicking.
func FuzzUnmarshal(f *testing.F) {
	for _, h := range []string{
		specTreeHex, specPrunedHex, "8100", "d9d9f78100", "820343010203", "8204" + "5820" + specRootHex,
		"830241618100", "8301d9d9f781008100", "9f00ff", "8303404040", "d818820340", "811b0000000100000000",
		"83018301830241618100830241628100830241638203410a",
	} {
		f.Add(mustHex(f, h))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		n, err := Unmarshal(b)
		if err != nil {
			return
		}
		enc, err := Marshal(n)
		if err != nil {
			t.Fatal(err)
		}
		n2, err := Unmarshal(enc)
		if err != nil {
			t.Fatalf("re-encoding rejected: %v", err)
		}
		enc2, _ := Marshal(n2)
		if !bytes.Equal(enc, enc2) || Digest(n) != Digest(n2) {
			t.Fatal("round trip changed the tree")
		}
		p := [][]byte{[]byte("a"), []byte("b")}
		want := Lookup(n, p...)
		w := Prune(n, p, [][]byte{[]byte("c")})
		if Digest(w) != Digest(n) {
			t.Fatal("Prune changed the digest")
		}
		if got := Lookup(w, p...); !sameLookup(got, want) {
			t.Fatalf("Lookup on witness %v, on tree %v", got, want)
		}
		LookupSubtree(n, p...)
		Flatten(n)
	})
}
