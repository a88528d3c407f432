package wasmhost_test

import (
	"testing"

	"github.com/icws/icws/ic/candid"
	"github.com/icws/icws/replica/wasmhost"
)

// TestMotokoStableRollback: a trap undoes stable memory writes and growth; a commit keeps them.
func TestMotokoStableRollback(t *testing.T) {
	for _, mc := range compilers {
		t.Run(mc.name, func(t *testing.T) {
			c := newCanister(t, mc.pkg)
			size := func() uint64 {
				var n uint64
				if err := candid.Unmarshal(c.run(wasmhost.EntryQuery, "stableSize", noArgs).Reply, &n); err != nil {
					t.Fatal(err)
				}
				return n
			}
			byte0 := func() uint8 {
				var b uint8
				if err := candid.Unmarshal(c.run(wasmhost.EntryQuery, "stableByte", noArgs).Reply, &b); err != nil {
					t.Fatal(err)
				}
				return b
			}
			before := size()
			if r := c.run(wasmhost.EntryUpdate, "stableWriteTrap", noArgs); r.TrapKind != wasmhost.TrapExplicit {
				t.Fatalf("stableWriteTrap: %+v", r)
			}
			if got := size(); got != before {
				t.Fatalf("stable size after a trap = %d, want %d", got, before)
			}
			if r := c.run(wasmhost.EntryUpdate, "stableWrite", noArgs); r.Trap != "" {
				t.Fatalf("stableWrite: %s", r.Trap)
			}
			if got := size(); got != before+1 {
				t.Fatalf("stable size = %d, want %d", got, before+1)
			}
			if got := byte0(); got != 7 {
				t.Fatalf("stable byte 0 = %d, want 7", got)
			}
			if r := c.run(wasmhost.EntryUpdate, "stableWriteTrap", noArgs); r.TrapKind != wasmhost.TrapExplicit {
				t.Fatalf("stableWriteTrap: %+v", r)
			}
			if got := byte0(); got != 7 {
				t.Fatalf("stable byte 0 after a trap = %d, want 7", got)
			}
		})
	}
}
