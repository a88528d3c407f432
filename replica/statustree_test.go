package replica

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"math/rand/v2"
	"testing"

	"github.com/icws/icws/ic/hashtree"
	"github.com/icws/icws/ic/requestid"
)

func testID(i int) requestid.ID {
	var b [8]byte
	binary.BigEndian.PutUint64(b[:], uint64(i))
	return requestid.ID(sha256.Sum256(b[:]))
}

// checkForest checks that the forest is sorted, that the cached digest matches a full rehash, and
// that witnesses prove presence and absence with the right digest.
func checkForest(t *testing.T, st *statusTree, present map[requestid.ID]bool, probes []requestid.ID) {
	t.Helper()
	d := st.digest()
	full := st.full()
	if got := hashtree.Digest(full); got != d {
		t.Fatalf("cached digest %x != full digest %x", d, got)
	}
	elems := hashtree.Flatten(full)
	if len(elems) != st.len() || len(present) != st.len() {
		t.Fatalf("forest has %d elements, len %d, want %d", len(elems), st.len(), len(present))
	}
	for i := 1; i < len(elems); i++ {
		a, b := elems[i-1].(hashtree.Labeled), elems[i].(hashtree.Labeled)
		if bytes.Compare(a.Label, b.Label) >= 0 {
			t.Fatalf("labels out of order at %d", i)
		}
	}
	for _, id := range probes {
		w := st.witness(id)
		if hashtree.Digest(w) != d {
			t.Fatalf("witness of %s has another digest", id)
		}
		// The witness as hashtree.Prune refines it, as read_state does.
		pw := hashtree.Prune(w, [][]byte{id[:], []byte("status")})
		if hashtree.Digest(pw) != d {
			t.Fatalf("pruned witness of %s has another digest", id)
		}
		res := hashtree.Lookup(pw, id[:], []byte("status"))
		want := hashtree.Absent
		if present[id] {
			want = hashtree.Found
		}
		if res.Status != want {
			t.Fatalf("lookup %s: %v, want %v", id, res.Status, want)
		}
	}
}

func TestStatusTreeRandom(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	var st statusTree
	present := map[requestid.ID]bool{}
	checkForest(t, &st, present, []requestid.ID{testID(-1)})
	var all []requestid.ID
	for round := 0; round < 60; round++ {
		for k := rng.IntN(20); k > 0; k-- {
			id := testID(len(all))
			all = append(all, id)
			o := outcome{replied: true, reply: []byte{byte(round)}}
			st.put(newStatusEntry(id, statusForest(statusReplied, &o)))
			present[id] = true
		}
		for k := rng.IntN(10); k > 0 && len(all) > 0; k-- {
			id := all[rng.IntN(len(all))]
			st.remove(id)
			delete(present, id)
		}
		if round%7 == 0 && len(all) > 0 { // replace an entry
			id := all[rng.IntN(len(all))]
			if present[id] {
				o := outcome{rejectCode: 4, rejectMsg: "no", errorCode: "IC0406"}
				st.put(newStatusEntry(id, statusForest(statusRejected, &o)))
			}
		}
		probes := []requestid.ID{testID(-1 - round), {}, {0xff, 0xff}}
		for k := 0; k < 5 && len(all) > 0; k++ {
			probes = append(probes, all[rng.IntN(len(all))])
		}
		checkForest(t, &st, present, probes)
	}
	for _, id := range all {
		st.remove(id)
		delete(present, id)
	}
	checkForest(t, &st, present, []requestid.ID{testID(0)})
}

func BenchmarkStatusTreePut(b *testing.B) {
	var st statusTree
	o := outcome{replied: true, reply: []byte("DIDL\x00\x00")}
	for i := 0; i < 100000; i++ {
		st.put(newStatusEntry(testID(i), statusForest(statusReplied, &o)))
	}
	st.digest()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		id := testID(100000 + i)
		st.put(newStatusEntry(id, statusForest(statusReplied, &o)))
		st.remove(testID(i))
		st.digest()
	}
}

// BenchmarkStatusTreeFullRehash is what a round would cost without cached digests: rehashing
// the whole /request_status forest (100,000 statuses; compare BenchmarkStatusTreePut).
func BenchmarkStatusTreeFullRehash(b *testing.B) {
	var st statusTree
	o := outcome{replied: true, reply: []byte("DIDL\x00\x00")}
	for i := 0; i < 100000; i++ {
		st.put(newStatusEntry(testID(i), statusForest(statusReplied, &o)))
	}
	full := st.full()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		hashtree.Digest(full)
	}
}
