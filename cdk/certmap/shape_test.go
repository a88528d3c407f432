package certmap

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"
)

// entries returns m's keys and values in key order.
func entries(m *Map) ([]string, [][]byte) {
	var keys []string
	var values [][]byte
	m.Ascend("", func(k string, v []byte) bool {
		keys, values = append(keys, k), append(values, v)
		return true
	})
	return keys, values
}

// TestShapeRoundTrip saves maps built by random inserts and deletes as entries plus shape and
// rebuilds them: the same tree, node for node, the same root hash and witnesses, and the rebuilt
// map keeps working under further changes.
func TestShapeRoundTrip(t *testing.T) {
	rng := rand.New(rand.NewPCG(7, 8))
	for round := 0; round < 40; round++ {
		var m Map
		n := rng.IntN(400)
		for op := 0; op < 3*n; op++ {
			key := fmt.Sprintf("k%04d", rng.IntN(n+1))
			if rng.IntN(3) == 0 {
				m.Delete(key)
			} else {
				m.Insert(key, []byte(fmt.Sprint(rng.Int())))
			}
		}
		m.RootHash()
		keys, values := entries(&m)
		shape := m.AppendShape(nil)
		r, err := FromShape(shape, keys, values)
		if err != nil {
			t.Fatalf("round %d (%d keys): %v", round, len(keys), err)
		}
		checkMap(t, &r)
		if dump(r.root) != dump(m.root) || r.RootHash() != m.RootHash() || r.Len() != m.Len() {
			t.Fatalf("round %d: the rebuilt map differs", round)
		}
		if len(keys) > 1 {
			a, b := keys[0], keys[len(keys)/2]
			if fmt.Sprint(r.WitnessRange(a, b)) != fmt.Sprint(m.WitnessRange(a, b)) {
				t.Fatalf("round %d: witnesses differ", round)
			}
		}
		for op := 0; op < 50; op++ {
			key := fmt.Sprintf("k%04d", rng.IntN(n+10))
			if rng.IntN(2) == 0 {
				if m.Delete(key) != r.Delete(key) {
					t.Fatalf("Delete(%q) disagrees", key)
				}
			} else {
				v := []byte{byte(op)}
				m.Insert(key, v)
				r.Insert(key, v)
			}
		}
		checkMap(t, &r)
		m.RootHash()
		if dump(r.root) != dump(m.root) || r.RootHash() != m.RootHash() {
			t.Fatalf("round %d: the maps differ after more changes", round)
		}
	}
}

func TestFromShapeRefuses(t *testing.T) {
	k := func(n int) []string {
		var keys []string
		for i := 0; i < n; i++ {
			keys = append(keys, fmt.Sprintf("k%05d", i))
		}
		return keys
	}
	v := func(n int) [][]byte { return make([][]byte, n) }
	const b, l, r, red = 0, ShapeLeft, ShapeRight, ShapeRed
	for _, tc := range []struct {
		name   string
		shape  []byte
		keys   []string
		values [][]byte
		want   string
	}{
		{"values", []byte{b}, k(1), v(2), "1 keys but 2 values"},
		{"count", []byte{b, b}, k(1), v(1), "2 nodes for 1 keys"},
		{"order", []byte{b | l, red}, []string{"b", "a"}, v(2), `key 1 ("a") is not above`},
		{"equal keys", []byte{b | l, red}, []string{"a", "a"}, v(2), "is not above"},
		{"bits", []byte{8}, k(1), v(1), "unknown bits 0x8"},
		{"red root", []byte{red}, k(1), v(1), "the root is red"},
		{"red right", []byte{b | r, red}, k(2), v(2), "node 0 has a red right child"},
		{"two reds", []byte{b | l, red | l, red}, k(3), v(3), "node 1 and its left child are both red"},
		{"black heights", []byte{b | l, b}, k(2), v(2), "node 0 has black heights 1 and 0"},
		{"missing node", []byte{b | l | r, b | l}, k(2), v(2), "a node is missing after 2"},
		{"ends early", []byte{b, b}, k(2), v(2), "the tree ends after 1 of 2 nodes"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := FromShape(tc.shape, tc.keys, tc.values)
			if !errors.Is(err, ErrBadShape) || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error = %v, want ErrBadShape saying %q", err, tc.want)
			}
		})
	}
	deep := make([]byte, 200)
	for i := range deep {
		deep[i] = ShapeLeft
	}
	deep[len(deep)-1] = 0
	if _, err := FromShape(deep, k(200), v(200)); !errors.Is(err, ErrBadShape) || !strings.Contains(err.Error(), "deeper than 128") {
		t.Fatalf("deep chain: %v", err)
	}
}

// FuzzFromShape checks that no shape makes FromShape panic and that every accepted one is a valid
// tree that AppendShape writes back unchanged.
func FuzzFromShape(f *testing.F) {
	var m Map
	for i := 0; i < 20; i++ {
		m.Insert(fmt.Sprintf("k%02d", i), []byte{byte(i)})
	}
	f.Add(m.AppendShape(nil))
	f.Add([]byte{})
	f.Add([]byte{ShapeLeft, ShapeRed})
	f.Fuzz(func(t *testing.T, shape []byte) {
		if len(shape) > 1<<12 {
			return
		}
		keys := make([]string, len(shape))
		values := make([][]byte, len(shape))
		for i := range keys {
			keys[i] = fmt.Sprintf("k%05d", i)
		}
		r, err := FromShape(shape, keys, values)
		if err != nil {
			if !errors.Is(err, ErrBadShape) {
				t.Fatalf("error without ErrBadShape: %v", err)
			}
			return
		}
		checkMap(t, &r)
		if got := r.AppendShape(nil); string(got) != string(shape) {
			t.Fatalf("AppendShape = %x, want %x", got, shape)
		}
	})
}
