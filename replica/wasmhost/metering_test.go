package wasmhost_test

import (
	"strings"
	"testing"

	"github.com/icws/icws/replica/wasmhost"
)

// TestMetering runs real Motoko modules under low instruction limits: counts are reported and
// deterministic, a runaway message traps with the IC's instruction-limit reject and leaves the
// canister as it was, and the canister goes on serving.
func TestMetering(t *testing.T) {
	limits := wasmhost.Limits{Update: 50_000_000, Query: 20_000_000}
	for _, mc := range compilers {
		t.Run(mc.name, func(t *testing.T) {
			a := newCanisterWith(t, mc.pkg, wasmhost.Options{Limits: limits})
			b := newCanisterWith(t, mc.pkg, wasmhost.Options{Limits: limits})

			// The same message on two fresh canisters uses the same instructions.
			ra, rb := a.run(wasmhost.EntryUpdate, "inc", noArgs), b.run(wasmhost.EntryUpdate, "inc", noArgs)
			if !ra.Replied || !rb.Replied {
				t.Fatalf("inc: %+v / %+v", ra, rb)
			}
			if ra.Instructions == 0 || ra.Instructions != rb.Instructions {
				t.Fatalf("inc used %d and %d instructions, want the same non-zero count", ra.Instructions, rb.Instructions)
			}
			q := a.run(wasmhost.EntryQuery, "get", noArgs)
			if !q.Replied || q.Instructions == 0 || q.Instructions >= limits.Query {
				t.Fatalf("get: replied %v, %d instructions", q.Replied, q.Instructions)
			}

			t.Logf("instructions: inc %d, get %d", ra.Instructions, q.Instructions)
			for _, c := range []struct {
				entry  wasmhost.Entry
				method string
				limit  uint64
			}{{wasmhost.EntryUpdate, "spin", limits.Update}, {wasmhost.EntryQuery, "spinQuery", limits.Query}} {
				r := a.run(c.entry, c.method, noArgs)
				if r.TrapKind != wasmhost.TrapInstructionLimit {
					t.Fatalf("%s: trap kind %v (%q), want the instruction limit", c.method, r.TrapKind, r.Trap)
				}
				if !strings.Contains(r.Trap, "exceeded the limit of") || r.Instructions <= c.limit {
					t.Errorf("%s: trap %q after %d instructions (limit %d)", c.method, r.Trap, r.Instructions, c.limit)
				}
				if r.Replied {
					t.Errorf("%s: a trapped message replied", c.method)
				}
			}
			// Nothing of the runaway messages stayed, and the canister still answers.
			if got := a.nat(wasmhost.EntryUpdate, "inc"); got != 2 {
				t.Fatalf("inc after the runaway messages = %d, want 2", got)
			}
		})
	}
}

// TestUnmetered checks Options.Unmetered: the same Motoko call that a metered host counts in
// instructions runs unmetered with a count of 0.
func TestUnmetered(t *testing.T) {
	for _, tc := range []struct {
		name      string
		unmetered bool
	}{{"metered", false}, {"unmetered", true}} {
		t.Run(tc.name, func(t *testing.T) {
			c := newCanisterWith(t, "motoko", wasmhost.Options{Unmetered: tc.unmetered})
			r := c.run(wasmhost.EntryUpdate, "inc", noArgs)
			if !r.Replied {
				t.Fatalf("inc: %+v", r)
			}
			if got := r.Instructions == 0; got != tc.unmetered {
				t.Fatalf("inc used %d instructions (unmetered %v)", r.Instructions, tc.unmetered)
			}
		})
	}
}
