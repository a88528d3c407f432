package websocket

import (
	"fmt"
	"testing"

	"github.com/icws/icws/protocol"
)

// TestSizedPoll: with ws_get_messages' second argument (docs/PROTOCOL.md §13.3) a batch is sized
// by the budget, not by MaxBatch; without it, or with null, it is the seed's 50.
func TestSizedPoll(t *testing.T) {
	f := newFixture(t, Config{})
	c := f.register(1)
	f.mustOpen(f.gwA, c)
	for i := range 200 {
		if ok, err := f.send(f.gwA, c, fmt.Sprint(i)); !ok || err != nil {
			t.Fatal(ok, err)
		}
	}
	all := f.poll(f.gwA, 0)
	if len(all.Messages) != DefaultMaxBatch {
		t.Fatalf("seed poll: %d messages, want %d", len(all.Messages), DefaultMaxBatch)
	}
	_, first, _ := protocol.ParseKey(all.Messages[0].Key)
	cost := func(ms []protocol.Message) int {
		n := 0
		for _, m := range ms {
			n += protocol.SizedPollCost(len(m.Key), len(m.Val))
		}
		return n
	}
	full := f.pollArgs(f.gwA, first, ptr(uint64(protocol.PollBytes)))
	if len(full.Messages) != 201 { // the reopen service message and 200 echoes
		t.Fatalf("sized poll: %d messages, want 201", len(full.Messages))
	}
	three := cost(full.Messages[:3])
	for _, tc := range []struct {
		name   string
		budget any
		want   int
	}{
		{"null budget", (*uint64)(nil), DefaultMaxBatch},
		{"budget of three", ptr(uint64(three)), 3},
		{"budget just under three", ptr(uint64(three - 1)), 2},
		{"budget 1: at least one", ptr(uint64(1)), 1},
		{"budget above the cap is capped", ptr(uint64(1 << 40)), 201},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cm := f.pollArgs(f.gwA, first, tc.budget)
			if len(cm.Messages) != tc.want {
				t.Fatalf("%d messages, want %d", len(cm.Messages), tc.want)
			}
		})
	}
}

func ptr[T any](v T) *T { return &v }
