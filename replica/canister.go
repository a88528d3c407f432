package replica

import (
	"fmt"
	"log/slog"
	"sync/atomic"

	"github.com/icws/icws/cdk"
	"github.com/icws/icws/ic/principal"
)

// canister is one hosted canister. Its code and state are touched only by rounds (with the
// replica's state lock held for writing) and by queries (with it held for reading).
type canister struct {
	name string
	id   principal.Principal
	code *cdk.Canister
	log  *slog.Logger

	// Replicated state kept by the replica; written only in rounds.
	certifiedData []byte
	certDirty     bool   // certifiedData changed since the last certification
	timer         uint64 // the global timer, IC time in ns; 0 = inactive

	// dataCert caches the data certificate of the last round; reset by every round.
	dataCert atomic.Pointer[[]byte]
}

// run executes one replicated message (update, init or timer) and commits or rolls back its
// effects. It returns the outcome (meaningless for init and timer messages other than a trap).
func (c *canister) run(kind msgKind, m cdk.Method, caller principal.Principal, method string, arg []byte, now uint64) (outcome, *trapInfo) {
	s := &system{
		kind:   kind,
		caller: caller,
		self:   c.id,
		time:   now,
		arg:    arg,
		method: method,
		log:    c.log,
		name:   c.name,
		timer:  c.timer,
	}
	st := c.code.State
	if st != nil {
		if t := guard(st.Begin); t != nil {
			return trapOutcome(c.id, t), t
		}
	}
	t := invoke(m, s)
	if t == nil && st != nil {
		t = guard(st.Commit)
	}
	if t != nil {
		if st != nil {
			if rt := guard(st.Rollback); rt != nil {
				c.log.Error("canister Rollback panicked; its state may be inconsistent",
					"canister", c.name, "panic", rt.message)
			}
		}
		return trapOutcome(c.id, t), t
	}
	if s.certSet {
		c.certifiedData = s.certData
		c.certDirty = true
	}
	if s.timerSet {
		c.timer = s.timer
	}
	return answerOutcome(s), nil
}

// update runs an update message and returns its outcome.
func (c *canister) update(caller principal.Principal, method string, arg []byte, now uint64) outcome {
	if m, ok := c.code.Updates[method]; ok && m != nil {
		o, _ := c.run(kindUpdate, m, caller, method, arg, now)
		return o
	}
	// As on the IC, a query method may be called as an update: it runs in replicated mode, and
	// whatever it changes is discarded (here: it must not change anything, and cannot set
	// certified data or timers).
	if _, ok := c.code.Queries[method]; ok {
		return c.query(caller, method, arg, now, nil)
	}
	return noMethodOutcome(c.id, kindUpdate, method)
}

// init runs canister_init, if the canister has one.
func (c *canister) init(caller principal.Principal, arg []byte, now uint64) error {
	if c.code.Init == nil {
		return nil
	}
	if _, t := c.run(kindInit, c.code.Init, caller, "canister_init", arg, now); t != nil {
		return fmt.Errorf("canister %s (%s) trapped in canister_init: %s", c.name, c.id, t.message)
	}
	return nil
}

// fireTimer runs the global timer if it is due at now. The timer is deactivated before it runs,
// as on the IC; a trapping timer stays deactivated.
func (c *canister) fireTimer(now uint64) {
	if c.timer == 0 || c.timer > now {
		return
	}
	c.timer = 0
	if c.code.Timer == nil {
		return
	}
	if _, t := c.run(kindTimer, c.code.Timer, c.id, "canister_global_timer", nil, now); t != nil {
		c.log.Info("canister global timer trapped", "canister", c.name, "trap", t.message)
	}
}

// query runs a query method against the current state. The caller holds the state lock for
// reading. Nothing the query does reaches the state: certified data and timer changes trap, and
// the Go state must not be written by query code (the cdk contract).
func (c *canister) query(caller principal.Principal, method string, arg []byte, now uint64, dataCert []byte) outcome {
	m, ok := c.code.Queries[method]
	if !ok || m == nil {
		return noMethodOutcome(c.id, kindQuery, method)
	}
	s := &system{
		kind:     kindQuery,
		caller:   caller,
		self:     c.id,
		time:     now,
		arg:      arg,
		method:   method,
		log:      c.log,
		name:     c.name,
		timer:    c.timer,
		dataCert: dataCert,
	}
	if t := invoke(m, s); t != nil {
		return trapOutcome(c.id, t)
	}
	return answerOutcome(s)
}
