package replica

import (
	"time"

	"github.com/icws/icws/cdk"
	"github.com/icws/icws/ic/candid"
	"github.com/icws/icws/ic/principal"
)

// counterState is the test canister's state, with snapshots for rollback.
type counterState struct {
	count       uint64
	timerFired  uint64
	notes       []string
	saved       counterSnapshot
	begun       int // Begin calls, to check that queries never call it
	rolledBack  int
	initCaller  principal.Principal
	initialized bool
}

type counterSnapshot struct {
	count, timerFired uint64
	notes             int
}

func (s *counterState) Begin() {
	s.begun++
	s.saved = counterSnapshot{count: s.count, timerFired: s.timerFired, notes: len(s.notes)}
}
func (s *counterState) Commit() {}
func (s *counterState) Rollback() {
	s.rolledBack++
	s.count, s.timerFired, s.notes = s.saved.count, s.saved.timerFired, s.notes[:s.saved.notes]
}

func reply(ic cdk.System, args ...any) {
	b, err := candid.Marshal(args...)
	if err != nil {
		cdk.Trapf(ic, "encode reply: %v", err)
	}
	ic.Reply(b)
}

func arg(ic cdk.System, ptrs ...any) {
	if err := candid.Unmarshal(ic.Arg(), ptrs...); err != nil {
		cdk.Trapf(ic, "decode argument: %v", err)
	}
}

// newCounter is the test canister:
//
//	inc : () -> (nat64)                   count += 1
//	inc_then_trap : (text) -> ()          count += 1, sets certified data and a timer, then traps
//	inc_then_panic : () -> ()             count += 1, then a nil-map panic
//	reject : (text) -> ()                 rejects with the text
//	no_reply : () -> ()                   count += 1 and returns without answering
//	set_certified : (blob) -> ()          sets certified data
//	set_timer : (nat64) -> (nat64)        sets the global timer to now + delay, returns the old one
//	whoami : () -> (principal)            the caller
//	get : () -> (nat64) query             count
//	greet : (text) -> (text) query        "Hello, <name>!"
//	timer_fired : () -> (nat64) query     how often the timer ran
//	cert : () -> (blob, blob) query       certified data is not in the state: the data certificate
//	now : () -> (nat64) query             ic.Time()
//	query_set_certified : () -> () query  traps: certified data cannot change in a query
//	query_set_timer : () -> () query      traps likewise
//	whoami_q : () -> (principal) query    the caller
func newCounter() (*cdk.Canister, *counterState) {
	st := &counterState{}
	c := &cdk.Canister{
		Init: func(ic cdk.System) {
			st.initialized = true
			st.initCaller = ic.Caller()
			ic.SetCertifiedData([]byte("init"))
		},
		Updates: map[string]cdk.Method{
			"inc": func(ic cdk.System) {
				st.count++
				reply(ic, st.count)
			},
			"inc_then_trap": func(ic cdk.System) {
				var msg string
				arg(ic, &msg)
				st.count++
				st.notes = append(st.notes, "trapped")
				ic.SetCertifiedData([]byte("trapped"))
				ic.SetGlobalTimer(ic.Time() + 1)
				ic.Trap(msg)
			},
			"inc_then_panic": func(ic cdk.System) {
				st.count++
				var m map[string]int
				//lint:ignore SA5000 a deliberate Go panic inside a canister, to test that it becomes a trap
				m["boom"] = 1
			},
			"reject": func(ic cdk.System) {
				var msg string
				arg(ic, &msg)
				ic.Reject(msg)
			},
			"no_reply": func(ic cdk.System) {
				st.count++
			},
			"set_certified": func(ic cdk.System) {
				var data []byte
				arg(ic, &data)
				ic.SetCertifiedData(data)
				reply(ic)
			},
			"set_timer": func(ic cdk.System) {
				var delay uint64
				arg(ic, &delay)
				prev := ic.SetGlobalTimer(ic.Time() + delay)
				reply(ic, prev)
			},
			"whoami": func(ic cdk.System) {
				reply(ic, ic.Caller())
			},
			"double_reply": func(ic cdk.System) {
				reply(ic)
				reply(ic)
			},
		},
		Queries: map[string]cdk.Method{
			"get": func(ic cdk.System) {
				reply(ic, st.count)
			},
			"greet": func(ic cdk.System) {
				var name string
				arg(ic, &name)
				reply(ic, "Hello, "+name+"!")
			},
			"timer_fired": func(ic cdk.System) {
				reply(ic, st.timerFired)
			},
			"cert": func(ic cdk.System) {
				c := ic.DataCertificate()
				if c == nil {
					c = []byte{}
				}
				reply(ic, c)
			},
			"now": func(ic cdk.System) {
				reply(ic, ic.Time())
			},
			"query_set_certified": func(ic cdk.System) {
				ic.SetCertifiedData([]byte("x"))
				reply(ic)
			},
			"query_set_timer": func(ic cdk.System) {
				ic.SetGlobalTimer(1)
				reply(ic)
			},
			"whoami_q": func(ic cdk.System) {
				reply(ic, ic.Caller())
			},
		},
		Timer: func(ic cdk.System) {
			st.timerFired++
			ic.Print("timer fired at " + time.Unix(0, int64(ic.Time())).UTC().String())
		},
		State: st,
	}
	return c, st
}
