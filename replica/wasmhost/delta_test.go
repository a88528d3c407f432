package wasmhost_test

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"testing"

	"github.com/icws/icws/replica/wasmhost"
)

// TestDeltas: a Checkpoint and the Deltas after it rebuild the instance's Snapshot exactly, a
// fresh instance restored from them goes on where the first one was, and a delta holds the pages
// the messages changed, not the whole heap.
func TestDeltas(t *testing.T) {
	for _, mc := range compilers {
		t.Run(mc.name, func(t *testing.T) {
			c := newCanister(t, mc.pkg)
			inc := c.inst.(wasmhost.Incremental)
			cp, err := inc.Checkpoint()
			if err != nil {
				t.Fatal(err)
			}
			var deltas [][]byte
			for k := range 3 {
				c.nat(wasmhost.EntryUpdate, "inc")
				if k == 1 {
					if r := c.run(wasmhost.EntryUpdate, "stableWrite", noArgs); r.Trap != "" {
						t.Fatal(r.Trap)
					}
				}
				c.run(wasmhost.EntryUpdate, "incThenTrap", noArgs) // rolled back: not in the delta
				d, err := inc.Delta()
				if err != nil {
					t.Fatal(err)
				}
				if len(d) > len(cp)/4 {
					t.Errorf("delta %d is %d bytes, the checkpoint %d", k, len(d), len(cp))
				}
				deltas = append(deltas, d)
			}
			want, _ := c.inst.Snapshot()
			got, err := wasmhost.ApplyDeltas(cp, deltas...)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(got, want) {
				t.Fatalf("checkpoint + deltas (%d bytes) differ from the snapshot (%d bytes)", len(got), len(want))
			}
			fresh, err := c.mod.Instantiate(context.Background(), nil)
			if err != nil {
				t.Fatal(err)
			}
			if err := fresh.Restore(got); err != nil {
				t.Fatal(err)
			}
			c.inst = fresh
			if n := c.nat(wasmhost.EntryQuery, "get"); n != 3 {
				t.Errorf("get on the restored instance = %d, want 3", n)
			}
			if n := c.nat(wasmhost.EntryUpdate, "inc"); n != 4 {
				t.Errorf("inc on the restored instance = %d, want 4", n)
			}
			for name, bad := range map[string][]byte{
				"truncated delta": deltas[0][:len(deltas[0])-1],
				"extra byte":      append(bytes.Clone(deltas[0]), 0),
				"not a delta":     []byte("hello"),
			} {
				if _, err := wasmhost.ApplyDeltas(cp, bad); !errors.Is(err, wasmhost.ErrBadSnapshot) {
					t.Errorf("%s: %v, want ErrBadSnapshot", name, err)
				}
			}
		})
	}
}

// FuzzApplyDeltas feeds ApplyDeltas a delta of outside bytes: an error or a snapshot, never a
// panic. The checkpoint is a hand-made snapshot of two heap pages, so that workers start at once.
func FuzzApplyDeltas(f *testing.F) {
	hash := bytes.Repeat([]byte{1}, 32)
	cp := append([]byte("icws-wasm-snapshot-1\n"), hash...)
	cp = append(cp, 1, 0, 0, 0, 0, 0, 0, 0, 0) // one global
	cp = binary.AppendUvarint(cp, 2*4096)
	cp = append(cp, make([]byte, 2*4096)...)
	cp = append(cp, 0) // no stable memory
	d := append([]byte("icws-wasm-delta-1\n"), hash...)
	d = append(d, 1, 7, 0, 0, 0, 0, 0, 0, 0)
	d = binary.AppendUvarint(d, 3*4096)
	d = append(d, 1, 2) // one page: page 2 (grown)
	d = append(d, bytes.Repeat([]byte{9}, 4096)...)
	d = append(d, 0x80, 0x20, 1, 0) // stable memory of 4096 bytes, one page: page 0
	d = append(d, bytes.Repeat([]byte{5}, 4096)...)
	if _, err := wasmhost.ApplyDeltas(cp, d); err != nil {
		f.Fatalf("the seed delta: %v", err)
	}
	f.Add(d)
	f.Add(d[:len(d)/2])
	f.Fuzz(func(t *testing.T, delta []byte) {
		snap, err := wasmhost.ApplyDeltas(cp, delta)
		if err == nil && len(snap) == 0 {
			t.Fatal("no error and no snapshot")
		}
	})
}
