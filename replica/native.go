package replica

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"log/slog"
	"slices"

	"github.com/icws/icws/cdk"
	"github.com/icws/icws/ic/principal"
	"github.com/icws/icws/replica/wasmhost"
)

// errNativeSnapshot is returned by the snapshot methods of a native canister: its state is Go
// memory, which the replica cannot serialise.
var errNativeSnapshot = errors.New("replica: a native (Go) canister's state cannot be snapshotted")

// native runs a cdk.Canister compiled into the replica as a wasmhost.Instance, so that the
// replica executes native and Wasm canisters alike. Updates, init and timers are transactions
// through cdk.Transactional; queries run concurrently with each other (the cdk contract: query
// code does not write state).
type native struct {
	code *cdk.Canister
	info *wasmhost.ModuleInfo
	log  *slog.Logger
	name string
}

var _ wasmhost.Instance = (*native)(nil)

// newNative wraps code. Its module hash is derived from the canister's name, so that tools that
// read module_hash (icp-cli decides between install and upgrade by it) see an installed canister.
func newNative(name string, code *cdk.Canister, log *slog.Logger) *native {
	info := &wasmhost.ModuleInfo{
		Hash:     sha256.Sum256([]byte("icws native canister " + name)),
		HasInit:  code.Init != nil,
		HasTimer: code.Timer != nil,
		Metadata: map[string]wasmhost.Metadata{},
	}
	for m := range code.Updates {
		info.Updates = append(info.Updates, m)
	}
	for m := range code.Queries {
		info.Queries = append(info.Queries, m)
	}
	slices.Sort(info.Updates)
	slices.Sort(info.Queries)
	return &native{code: code, info: info, log: log, name: name}
}

// Run implements wasmhost.Instance.
func (n *native) Run(_ context.Context, m *wasmhost.Message) *wasmhost.Result {
	var (
		method cdk.Method
		kind   msgKind
	)
	switch m.Entry {
	case wasmhost.EntryInit:
		method, kind = n.code.Init, kindInit
	case wasmhost.EntryTimer:
		method, kind = n.code.Timer, kindTimer
	case wasmhost.EntryUpdate:
		method, kind = n.code.Updates[m.Method], kindUpdate
		if method == nil {
			// As on the IC, a query method may be called as an update: it runs in replicated
			// mode, and must not change anything.
			if q := n.code.Queries[m.Method]; q != nil {
				method, kind = q, kindQuery
			}
		}
	case wasmhost.EntryQuery:
		method, kind = n.code.Queries[m.Method], kindQuery
	}
	if method == nil {
		return &wasmhost.Result{} // nothing to run: the replica checked the method exists
	}
	s := &system{
		kind:     kind,
		caller:   m.Caller,
		self:     m.Self,
		time:     m.Time,
		arg:      m.Arg,
		method:   m.Method,
		log:      n.log,
		name:     n.name,
		timer:    m.Timer,
		dataCert: m.DataCertificate,
	}
	st := n.code.State
	if kind == kindQuery {
		st = nil
	}
	if st != nil {
		if t := guard(st.Begin); t != nil {
			return trapResult(t)
		}
	}
	t := invoke(method, s)
	if t == nil && st != nil {
		t = guard(st.Commit)
	}
	if t != nil {
		if st != nil {
			if rt := guard(st.Rollback); rt != nil {
				n.log.Error("canister Rollback panicked; its state may be inconsistent",
					"canister", n.name, "panic", rt.message)
			}
		}
		return trapResult(t)
	}
	res := &wasmhost.Result{
		Replied:       s.replied,
		Reply:         s.reply,
		Rejected:      s.answered && !s.replied,
		RejectMessage: s.rejectMsg,
	}
	if s.certSet {
		res.CertifiedData, res.CertifiedDataSet = s.certData, true
	}
	if s.timerSet {
		res.Timer, res.TimerSet = s.timer, true
	}
	return res
}

func trapResult(t *trapInfo) *wasmhost.Result {
	kind := wasmhost.TrapWasm
	if t.explicit {
		kind = wasmhost.TrapExplicit
	}
	return &wasmhost.Result{Trap: t.message, TrapKind: kind}
}

// Stable implements wasmhost.Instance: a native canister has no stable memory.
func (n *native) Stable() []byte { return nil }

// Snapshot implements wasmhost.Instance.
func (n *native) Snapshot() ([]byte, error) { return nil, errNativeSnapshot }

// Restore implements wasmhost.Instance.
func (n *native) Restore([]byte) error { return errNativeSnapshot }

// Close implements wasmhost.Instance.
func (n *native) Close(context.Context) error { return nil }

// preUpgrade runs the canister's PreUpgrade, as an upgrade would, to save its state: ok is false
// if it has none. It changes nothing: what the hook asks of the system (certified data, the
// timer) is dropped, and a trap is an error.
func (n *native) preUpgrade(self principal.Principal, now uint64) (saved []byte, ok bool, err error) {
	if n.code.PreUpgrade == nil {
		return nil, false, nil
	}
	s := &system{kind: kindPreUpgrade, caller: principal.Anonymous(), self: self, time: now, log: n.log, name: n.name}
	t := guard(func() {
		defer func() { s.finished = true }()
		saved = n.code.PreUpgrade(s)
	})
	if t != nil {
		return nil, false, fmt.Errorf("canister_pre_upgrade trapped: %s", t.message)
	}
	if saved == nil {
		saved = []byte{}
	}
	return saved, true, nil
}

// postUpgrade runs the canister's PostUpgrade with what its PreUpgrade saved, in a transaction
// of its State, and returns what it set (certified data, the timer) or its trap.
func (n *native) postUpgrade(m *wasmhost.Message, saved []byte) *wasmhost.Result {
	s := &system{kind: kindPostUpgrade, caller: m.Caller, self: m.Self, time: m.Time, arg: m.Arg, log: n.log, name: n.name, timer: m.Timer}
	st := n.code.State
	if st != nil {
		if t := guard(st.Begin); t != nil {
			return trapResult(t)
		}
	}
	t := invoke(func(ic cdk.System) { n.code.PostUpgrade(ic, saved) }, s)
	if t == nil && st != nil {
		t = guard(st.Commit)
	}
	if t != nil {
		if st != nil {
			_ = guard(st.Rollback)
		}
		return trapResult(t)
	}
	res := &wasmhost.Result{}
	if s.certSet {
		res.CertifiedData, res.CertifiedDataSet = s.certData, true
	}
	if s.timerSet {
		res.Timer, res.TimerSet = s.timer, true
	}
	return res
}
