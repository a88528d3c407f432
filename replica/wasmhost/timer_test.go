package wasmhost_test

import (
	"context"
	"testing"

	"github.com/icws/icws/replica/wasmhost"
)

func TestMotokoTimer(t *testing.T) {
	for _, mc := range compilers {
		t.Run(mc.name, func(t *testing.T) {
			c := newCanister(t, mc.pkg)
			r := c.run(wasmhost.EntryUpdate, "setTimer", marshal(t, uint64(1_000_000_000)))
			if !r.Replied || !r.TimerSet || r.Timer != c.time+1_000_000_000 {
				t.Fatalf("setTimer at %d: %+v", c.time, r)
			}
			c.time = r.Timer
			m := c.msg(wasmhost.EntryTimer, "", nil)
			m.Timer = r.Timer
			r = c.inst.Run(context.Background(), m)
			// Motoko runs the expired job through calls to itself; deliver them, bounded.
			queue := r.Calls
			for n := 0; len(queue) > 0; n++ {
				if n == 20 {
					t.Fatal("more than 20 self-calls for one timer")
				}
				call := queue[0]
				queue = queue[1:]
				if call.Callee != self {
					t.Fatalf("timer call to %v, want self", call.Callee)
				}
				mm := c.msg(wasmhost.EntryUpdate, call.Method, call.Arg)
				mm.Caller = self
				rr := c.inst.Run(context.Background(), mm)
				if rr.Trap != "" || !rr.Replied {
					t.Fatalf("%s: %+v", call.Method, rr)
				}
				queue = append(queue, rr.Calls...)
				cb := c.msg(wasmhost.EntryReplyCallback, "", rr.Reply)
				cb.Callback = call.Callback
				cr := c.inst.Run(context.Background(), cb)
				if cr.Trap != "" {
					t.Fatalf("callback: %s", cr.Trap)
				}
				queue = append(queue, cr.Calls...)
			}
			if got := c.nat(wasmhost.EntryQuery, "get"); got != 100 {
				t.Fatalf("count after the timer = %d, want 100", got)
			}
		})
	}
}
