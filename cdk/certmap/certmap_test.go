package certmap

import (
	"bytes"
	"encoding/hex"
	"fmt"
	"math/rand/v2"
	"reflect"
	"sort"
	"testing"

	"github.com/icws/icws/ic/hashtree"
)

// Vectors of poc-protocol.md §4.4 and §5: keys of the seed gateway, values SHA-256 of the
// messages' CBOR.
const (
	gw      = "h5ag3-gxvkr-a3wjw-wfhg4-ysa3d-z56v7-i26nf-2qscz-k2vmc-6yvhj-bqe"
	k16     = gw + "_00000000000000000016"
	k17     = gw + "_00000000000000000017"
	k18     = gw + "_00000000000000000018"
	sha16   = "f513a1185a031a7c1bf87fd99d4959245db7849f5cf375f6c46a521b54c0b896"
	sha17   = "c8dab31969c638b2cf7bc633a3831055e0537ffbc02742e0af86d7f32e6e86c3"
	label   = "websocket"
	tagHex  = "d9d9f7"
	certOne = "4fe911632bf6555cb033808a2a99a86b4ef5747d8b51fe3616ecf5b36c4a8a30"
	certTwo = "c229ce827e0ffa838ee00c4cd4bea3bffb15583cb799a73442b3365a65b88e89"
)

func unhex(t testing.TB, s string) []byte {
	t.Helper()
	b, err := hex.DecodeString(s)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func certified(m *Map) string {
	h := hashtree.LabeledHash([]byte(label), m.RootHash())
	return hex.EncodeToString(h[:])
}

func taggedTree(t *testing.T, n hashtree.Node) string {
	t.Helper()
	b, err := hashtree.Marshal(hashtree.Labeled{Label: []byte(label), Tree: n})
	if err != nil {
		t.Fatal(err)
	}
	return tagHex + hex.EncodeToString(b)
}

func lf(t *testing.T, key, sha string) hashtree.Node {
	return hashtree.Labeled{Label: []byte(key), Tree: hashtree.Leaf(unhex(t, sha))}
}

func TestSeedVectorOneKey(t *testing.T) {
	var m Map
	m.Insert(k16, unhex(t, sha16))
	root := m.RootHash()
	if got := hex.EncodeToString(root[:]); got != "e83f83c07bbd086d110fb9e38213431ad9de04be8b06f9b985d47d54c21df4dd" {
		t.Errorf("root = %s", got)
	}
	if got := certified(&m); got != certOne {
		t.Errorf("certified data = %s, want %s", got, certOne)
	}
	w := m.WitnessRange(k16, k16)
	if !reflect.DeepEqual(w, lf(t, k16, sha16)) {
		t.Errorf("witness = %#v", w)
	}
	want := tagHex + "8302" + "49776562736f636b6574" + "8302" + "5854" + hex.EncodeToString([]byte(k16)) + "8203" + "5820" + sha16
	if got := taggedTree(t, w); got != want {
		t.Errorf("tree:\n got %s\nwant %s", got, want)
	}
	if len(want)/2 != 139 {
		t.Errorf("tree is %d bytes, want 139", len(want)/2)
	}
}

func TestSeedVectorTwoKeys(t *testing.T) {
	var m Map
	m.Insert(k16, unhex(t, sha16))
	m.Insert(k17, unhex(t, sha17))
	if m.root.key != k17 || m.root.left == nil || m.root.left.key != k16 {
		t.Fatalf("shape: root %q", m.root.key)
	}
	if got := certified(&m); got != certTwo {
		t.Errorf("certified data = %s, want %s", got, certTwo)
	}
	w := m.WitnessRange(k16, k17)
	if !reflect.DeepEqual(w, hashtree.Fork{Left: lf(t, k16, sha16), Right: lf(t, k17, sha17)}) {
		t.Errorf("witness = %#v", w)
	}
	want := tagHex + "8302" + "49776562736f636b6574" + "8301" +
		"8302" + "5854" + hex.EncodeToString([]byte(k16)) + "8203" + "5820" + sha16 +
		"8302" + "5854" + hex.EncodeToString([]byte(k17)) + "8203" + "5820" + sha17
	if got := taggedTree(t, w); got != want {
		t.Errorf("tree:\n got %s\nwant %s", got, want)
	}
}

func TestSeedVectorThreeKeys(t *testing.T) {
	var m Map
	v18 := bytes.Repeat([]byte{0x18}, 32)
	m.Insert(k16, unhex(t, sha16))
	m.Insert(k17, unhex(t, sha17))
	m.Insert(k18, v18)
	if m.root.key != k17 || m.root.left.key != k16 || m.root.right.key != k18 {
		t.Fatalf("shape: root %q", m.root.key)
	}
	w := m.WitnessRange(k17, k18)
	want := hashtree.Fork{
		Left: hashtree.Pruned(hashtree.LabeledHash([]byte(k16), hashtree.LeafHash(unhex(t, sha16)))),
		Right: hashtree.Fork{
			Left:  lf(t, k17, sha17),
			Right: hashtree.Labeled{Label: []byte(k18), Tree: hashtree.Leaf(v18)},
		},
	}
	if !reflect.DeepEqual(w, want) {
		t.Errorf("witness = %#v", w)
	}
	if hashtree.Digest(w) != m.RootHash() {
		t.Error("witness digest differs from the root hash")
	}
}

func TestEmpty(t *testing.T) {
	var m Map
	if m.RootHash() != hashtree.EmptyHash() || m.Len() != 0 {
		t.Error("empty map")
	}
	if _, ok := m.Get("x"); ok || m.Delete("x") {
		t.Error("empty map has x")
	}
	for _, w := range []hashtree.Node{m.Witness("x"), m.WitnessRange("a", "z"), m.Keys()} {
		if hashtree.Digest(w) != hashtree.EmptyHash() {
			t.Errorf("witness %#v of the empty map", w)
		}
	}
}

// checkMap brings m's hashes up to date and verifies the tree.
func checkMap(t *testing.T, m *Map) {
	t.Helper()
	m.RootHash()
	if m.root != nil && m.root.red {
		t.Fatal("red root")
	}
	check(t, m.root, nil, nil, false)
}

// check verifies the LLRB invariants and every cached hash, and returns the black height. The
// tree must have been hashed (no stale node).
func check(t *testing.T, n *node, lo, hi *string, parentRed bool) int {
	t.Helper()
	if n == nil {
		return 1
	}
	if n.dirty {
		t.Fatalf("stale mark left at %q", n.key)
	}
	if lo != nil && n.key <= *lo || hi != nil && n.key >= *hi {
		t.Fatalf("key %q out of order", n.key)
	}
	if isRed(n.right) {
		t.Fatalf("right-leaning red link at %q", n.key)
	}
	if parentRed && n.red {
		t.Fatalf("two red links in a row at %q", n.key)
	}
	if n.data != dataHash(n.key, n.value) {
		t.Fatalf("stale data hash at %q", n.key)
	}
	saved := n.subtree
	n.update()
	if saved != n.subtree {
		t.Fatalf("stale subtree hash at %q", n.key)
	}
	l := check(t, n.left, lo, &n.key, n.red)
	r := check(t, n.right, &n.key, hi, n.red)
	if l != r {
		t.Fatalf("black heights %d and %d at %q", l, r, n.key)
	}
	if !n.red {
		l++
	}
	return l
}

func sortedKeys(ref map[string][]byte) []string {
	keys := make([]string, 0, len(ref))
	for k := range ref {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

func TestRandomAgainstMap(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	for round := 0; round < 20; round++ {
		// m is hashed now and then, eager after every change: lazy hashing must agree.
		var m, eager Map
		ref := map[string][]byte{}
		n := 1 + rng.IntN(300)
		for op := 0; op < 4*n; op++ {
			if rng.IntN(8) == 0 {
				m.RootHash()
			}
			key := fmt.Sprintf("k%04d", rng.IntN(n))
			if rng.IntN(3) == 0 {
				_, had := ref[key]
				if m.Delete(key) != had || eager.Delete(key) != had {
					t.Fatalf("Delete(%q) disagrees with the reference", key)
				}
				delete(ref, key)
			} else {
				v := []byte(fmt.Sprint(rng.Int()))
				m.Insert(key, v)
				eager.Insert(key, v)
				ref[key] = v
			}
			eager.RootHash()
		}
		checkMap(t, &m)
		if m.RootHash() != eager.RootHash() || dump(m.root) != dump(eager.root) {
			t.Fatal("the lazily hashed map differs from the one hashed after every change")
		}
		if m.Len() != len(ref) {
			t.Fatalf("Len = %d, want %d", m.Len(), len(ref))
		}
		keys := sortedKeys(ref)
		var got []string
		m.Ascend("", func(k string, v []byte) bool {
			if !bytes.Equal(v, ref[k]) {
				t.Fatalf("Ascend value of %q", k)
			}
			got = append(got, k)
			return true
		})
		if len(keys) > 0 && !reflect.DeepEqual(got, keys) {
			t.Fatalf("Ascend gave %d keys, want %d", len(got), len(keys))
		}
		root := m.RootHash()
		if d := hashtree.Digest(m.Keys()); d != root {
			t.Fatal("Keys() digest differs from the root hash")
		}
		for i := 0; i < 20; i++ {
			a, b := fmt.Sprintf("k%04d", rng.IntN(n+2)), fmt.Sprintf("k%04d", rng.IntN(n+2))
			if a > b {
				a, b = b, a
			}
			w := m.WitnessRange(a, b)
			if hashtree.Digest(w) != root {
				t.Fatalf("WitnessRange(%q, %q) digest differs from the root hash", a, b)
			}
			for j := 0; j <= n+1; j++ {
				k := fmt.Sprintf("k%04d", j)
				if k < a || k > b {
					continue
				}
				r := hashtree.Lookup(w, []byte(k))
				v, ok := ref[k]
				switch {
				case ok && (r.Status != hashtree.Found || !bytes.Equal(r.Value, v)):
					t.Fatalf("WitnessRange(%q, %q): %q is %v", a, b, k, r.Status)
				case !ok && r.Status != hashtree.Absent:
					t.Fatalf("WitnessRange(%q, %q): missing %q is %v, want Absent", a, b, k, r.Status)
				}
			}
			k := fmt.Sprintf("k%04d", rng.IntN(n+2))
			w = m.Witness(k)
			if hashtree.Digest(w) != root {
				t.Fatalf("Witness(%q) digest differs from the root hash", k)
			}
			r := hashtree.Lookup(w, []byte(k))
			if v, ok := ref[k]; ok {
				if r.Status != hashtree.Found || !bytes.Equal(r.Value, v) {
					t.Fatalf("Witness(%q): %v", k, r.Status)
				}
			} else if r.Status != hashtree.Absent {
				t.Fatalf("Witness(%q) of a missing key: %v, want Absent", k, r.Status)
			}
		}
		for _, k := range keys {
			if v, ok := m.Get(k); !ok || !bytes.Equal(v, ref[k]) {
				t.Fatalf("Get(%q)", k)
			}
		}
		if len(keys) > 0 {
			from := keys[len(keys)/2]
			if k, _, ok := m.First(from); !ok || k != from {
				t.Fatalf("First(%q) = %q", from, k)
			}
		}
	}
}

// dump describes the tree's exact shape, colours, hashes and stale marks.
func dump(n *node) string {
	if n == nil {
		return "."
	}
	return fmt.Sprintf("(%s %s %v %x %x %v %s)", dump(n.left), n.key, n.red, n.value, n.subtree[:4], n.dirty, dump(n.right))
}

func TestRollbackRestoresExactTree(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	var m Map
	for i := 0; i < 200; i++ {
		m.Insert(fmt.Sprintf("k%04d", rng.IntN(300)), []byte{byte(i)})
	}
	for round := 0; round < 200; round++ {
		// The tree Begin sees may hold stale hashes (changes committed but not yet hashed), and
		// the transaction may hash them: Rollback must restore hashes and marks alike.
		before, size := dump(m.root), m.Len()
		var root [32]byte
		if rng.IntN(4) == 0 {
			root = m.RootHash()
			before = dump(m.root)
		}
		m.Begin()
		for op := 0; op < 1+rng.IntN(40); op++ {
			key := fmt.Sprintf("k%04d", rng.IntN(300))
			switch rng.IntN(5) {
			case 0, 1:
				m.Delete(key)
			case 2, 3:
				m.Insert(key, []byte{byte(op), byte(round)})
			default:
				m.RootHash()
			}
		}
		if rng.IntN(2) == 0 {
			m.Rollback()
			if got := dump(m.root); got != before || m.Len() != size {
				t.Fatalf("round %d: rollback did not restore the tree", round)
			}
			if root != ([32]byte{}) && m.RootHash() != root {
				t.Fatalf("round %d: root hash after rollback differs", round)
			}
		} else {
			m.Commit()
		}
		if rng.IntN(3) == 0 {
			checkMap(t, &m)
		}
	}
	checkMap(t, &m)
}

func BenchmarkInsertDelete(b *testing.B) {
	for _, size := range []int{1000, 100000} {
		b.Run(fmt.Sprint(size), func(b *testing.B) {
			var m Map
			val := bytes.Repeat([]byte{7}, 32)
			key := func(i int) string { return fmt.Sprintf("%s_%020d", gw, i) }
			for i := 0; i < size; i++ {
				m.Insert(key(i), val)
			}
			keys := make([]string, b.N+size)
			for i := range keys {
				keys[i] = key(i)
			}
			b.ReportAllocs()
			b.ResetTimer()
			// A sliding window, as the message queue uses the map: insert the newest, delete the
			// oldest, certify.
			for i := 0; i < b.N; i++ {
				m.Insert(keys[size+i], val)
				m.Delete(keys[i])
				m.RootHash()
			}
		})
	}
}

// BenchmarkBatch1000 is one broadcast message's work on the map: 1,000 inserts and 1,000 deletes
// on a sliding window of 1,000 keys, then one root hash.
func BenchmarkBatch1000(b *testing.B) {
	const size, batch = 1000, 1000
	var m Map
	val := bytes.Repeat([]byte{7}, 32)
	keys := make([]string, size+batch*(b.N+1))
	for i := range keys {
		keys[i] = fmt.Sprintf("%s_%020d", gw, i)
	}
	for i := 0; i < size; i++ {
		m.Insert(keys[i], val)
	}
	m.RootHash()
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		for j := i * batch; j < (i+1)*batch; j++ {
			m.Insert(keys[size+j], val)
			m.Delete(keys[j])
		}
		m.RootHash()
	}
}

func BenchmarkWitnessRange50(b *testing.B) {
	var m Map
	val := bytes.Repeat([]byte{7}, 32)
	for i := 0; i < 10000; i++ {
		m.Insert(fmt.Sprintf("%s_%020d", gw, i), val)
	}
	first, last := fmt.Sprintf("%s_%020d", gw, 5000), fmt.Sprintf("%s_%020d", gw, 5049)
	b.ReportAllocs()
	for i := 0; i < b.N; i++ {
		_ = m.WitnessRange(first, last)
	}
}
