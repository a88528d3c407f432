package hashtree_test

import (
	"fmt"

	"github.com/icws/icws/ic/hashtree"
)

// Build a tree, prune it to a witness for two paths (one present, one absent), and look paths up
// in the witness.
func ExamplePrune() {
	var b hashtree.Builder
	for _, kv := range [][2]string{{"alice", "1"}, {"bob", "2"}, {"carol", "3"}} {
		if err := b.Insert([][]byte{[]byte("balances"), []byte(kv[0])}, []byte(kv[1])); err != nil {
			panic(err)
		}
	}
	tree := b.Tree()
	witness := hashtree.Prune(tree,
		[][]byte{[]byte("balances"), []byte("bob")},
		[][]byte{[]byte("balances"), []byte("dave")})

	fmt.Println(hashtree.Digest(witness) == hashtree.Digest(tree))
	for _, name := range []string{"bob", "dave", "alice", "carol"} {
		r := hashtree.LookupString(witness, "balances", name)
		fmt.Printf("%s: %v %q\n", name, r.Status, r.Value)
	}
	// Output:
	// true
	// bob: Found "2"
	// dave: Absent ""
	// alice: Unknown ""
	// carol: Unknown ""
}
