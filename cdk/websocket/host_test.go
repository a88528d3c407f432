package websocket

import (
	"errors"
	"fmt"
	"testing"

	"github.com/icws/icws/cdk"
	"github.com/icws/icws/ic/candid"
	"github.com/icws/icws/ic/principal"
)

// host runs a canister the way the replica does, in memory: Begin/Commit/Rollback around every
// update and timer message, certified data and the global timer kept outside the canister, and a
// stand-in data certificate for queries. It is the unit-test host of the runtime API.
type host struct {
	t         testing.TB
	self      principal.Principal
	code      *cdk.Canister
	now       uint64
	certified []byte
	timer     uint64
	prints    []string
	certCalls int // SetCertifiedData calls, trapped messages included
}

// sys is one message's cdk.System.
type sys struct {
	h        *host
	query    bool
	caller   principal.Principal
	method   string
	arg      []byte
	reply    []byte
	answered bool
	cert     []byte
	certSet  bool
	timer    uint64
	timerSet bool
}

func (s *sys) Caller() principal.Principal { return s.caller }
func (s *sys) Self() principal.Principal   { return s.h.self }
func (s *sys) Time() uint64                { return s.h.now }
func (s *sys) Arg() []byte                 { return s.arg }
func (s *sys) MethodName() string          { return s.method }
func (s *sys) Print(m string)              { s.h.prints = append(s.h.prints, m) }
func (s *sys) Trap(m string)               { panic(&cdk.TrapError{Message: m}) }

func (s *sys) Reply(b []byte) {
	if s.answered {
		s.Trap("replied twice")
	}
	s.answered, s.reply = true, b
}

func (s *sys) Reject(m string) { s.Trap("reject: " + m) }

func (s *sys) SetCertifiedData(b []byte) {
	if s.query {
		s.Trap("SetCertifiedData in a query")
	}
	if len(b) > 32 {
		s.Trap("certified data longer than 32 bytes")
	}
	s.cert, s.certSet = append([]byte(nil), b...), true
	s.h.certCalls++
}

// DataCertificate stands in for the replica's certificate: the certified data itself, so a test
// can check a witness against it.
func (s *sys) DataCertificate() []byte {
	if !s.query {
		return nil
	}
	return append([]byte("cert:"), s.h.certified...)
}

func (s *sys) SetGlobalTimer(ns uint64) uint64 {
	if s.query {
		s.Trap("SetGlobalTimer in a query")
	}
	old := s.timer
	s.timer, s.timerSet = ns, true
	return old
}

func newHost(t testing.TB, code *cdk.Canister, self principal.Principal) *host {
	return &host{t: t, self: self, code: code, now: 1684411200123456789}
}

// run executes method; it returns the reply, or the trap message as an error.
func (h *host) run(kind string, caller principal.Principal, method string, arg []byte) (reply []byte, err error) {
	var m cdk.Method
	s := &sys{h: h, caller: caller, method: method, arg: arg, timer: h.timer}
	switch kind {
	case "update":
		m = h.code.Updates[method]
	case "query":
		m = h.code.Queries[method]
		s.query = true
	case "timer":
		m = h.code.Timer
	}
	if m == nil {
		h.t.Fatalf("no %s method %q", kind, method)
	}
	st := h.code.State
	if !s.query {
		st.Begin()
	}
	trap := func() (trap *cdk.TrapError) {
		defer func() {
			if r := recover(); r != nil {
				if te, ok := r.(*cdk.TrapError); ok {
					trap = te
					return
				}
				trap = &cdk.TrapError{Message: fmt.Sprint(r)}
			}
		}()
		m(s)
		if !s.answered && kind != "timer" {
			s.Trap("no reply")
		}
		return nil
	}()
	if s.query {
		if trap != nil {
			return nil, errors.New(trap.Message)
		}
		return s.reply, nil
	}
	if trap != nil {
		st.Rollback()
		return nil, errors.New(trap.Message)
	}
	st.Commit()
	if s.certSet {
		h.certified = s.cert
	}
	if s.timerSet {
		h.timer = s.timer
	}
	return s.reply, nil
}

// advance moves time forward and fires the timer when due.
func (h *host) advance(d uint64) error {
	h.now += d
	if h.timer != 0 && h.timer <= h.now {
		h.timer = 0
		_, err := h.run("timer", h.self, "canister_global_timer", nil)
		return err
	}
	return nil
}

func (h *host) call(caller principal.Principal, method string, out any, args ...any) error {
	h.t.Helper()
	arg, err := candid.Marshal(args...)
	if err != nil {
		h.t.Fatal(err)
	}
	r, err := h.run("update", caller, method, arg)
	if err != nil {
		return err
	}
	if out != nil {
		if err := candid.Unmarshal(r, out); err != nil {
			h.t.Fatalf("%s reply: %v", method, err)
		}
	}
	return nil
}

func (h *host) query(caller principal.Principal, method string, out any, args ...any) error {
	h.t.Helper()
	arg, err := candid.Marshal(args...)
	if err != nil {
		h.t.Fatal(err)
	}
	r, err := h.run("query", caller, method, arg)
	if err != nil {
		return err
	}
	if err := candid.Unmarshal(r, out); err != nil {
		h.t.Fatalf("%s reply: %v", method, err)
	}
	return nil
}
