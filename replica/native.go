package replica

import (
	"context"
	"crypto/sha256"
	"encoding/binary"
	"fmt"
	"log/slog"
	"slices"

	"github.com/icws/icws/cdk"
	"github.com/icws/icws/ic/principal"
	"github.com/icws/icws/replica/wasmhost"
)

// native runs a cdk.Canister compiled into the replica as a wasmhost.Instance, so that the
// replica executes native and Wasm canisters alike. Updates, init and timers are transactions
// through cdk.Transactional; queries run concurrently with each other (the cdk contract: query
// code does not write state).
type native struct {
	code *cdk.Canister
	info *wasmhost.ModuleInfo
	log  *slog.Logger
	name string
	// stable is the stable memory the canister's PreUpgrade wrote for an install_code upgrade
	// (cdkStableImage), which the new (Wasm) code's PostUpgrade reads; nil before one.
	stable []byte
}

var _ wasmhost.Instance = (*native)(nil)

// newNative wraps code. Its module hash is derived from the canister's name, so that tools that
// read module_hash (icp-cli decides between install and upgrade by it) see an installed canister.
func newNative(name string, code *cdk.Canister, log *slog.Logger) *native {
	info := &wasmhost.ModuleInfo{
		Hash:           sha256.Sum256([]byte("icws native canister " + name)),
		HasInit:        code.Init != nil,
		HasTimer:       code.Timer != nil,
		HasPreUpgrade:  code.PreUpgrade != nil,
		HasPostUpgrade: code.PostUpgrade != nil,
		Metadata:       map[string]wasmhost.Metadata{},
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
	case wasmhost.EntryPreUpgrade:
		// An install_code upgrade replaces the native code with a Wasm module (the same
		// canister built by icws build): PreUpgrade's bytes go to stable memory as cdk/ic0
		// writes them, where the new code's PostUpgrade reads them.
		saved, ok, err := n.preUpgrade(m.Self, m.Time)
		if err != nil {
			return &wasmhost.Result{Trap: err.Error(), TrapKind: wasmhost.TrapExplicit}
		}
		if ok {
			n.stable = cdkStableImage(saved)
		}
		return &wasmhost.Result{}
	case wasmhost.EntryPostUpgrade:
		if n.code.PostUpgrade == nil {
			return &wasmhost.Result{}
		}
		return n.postUpgrade(m, cdkStableSaved(n.stable))
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

// Stable implements wasmhost.Instance: a native canister has stable memory only once its
// PreUpgrade ran for an upgrade.
func (n *native) Stable() []byte { return n.stable }

// Snapshot implements wasmhost.Instance. The Go memory of a native canister cannot be
// serialised, and PreUpgrade (which an upgrade runs after Snapshot) changes none of it; so the
// snapshot is of the stable memory only, which is what an upgrade that fails must restore.
func (n *native) Snapshot() ([]byte, error) { return append([]byte{}, n.stable...), nil }

// Restore implements wasmhost.Instance: it restores what Snapshot saved.
func (n *native) Restore(b []byte) error {
	n.stable = nil
	if len(b) > 0 {
		n.stable = slices.Clone(b)
	}
	return nil
}

// cdkStableMagic starts the stable memory of a cdk canister's PreUpgrade (cdk/ic0): the magic,
// the length of the saved bytes (uint64, little-endian), the bytes, in whole 64 KiB pages.
const cdkStableMagic = "ICWS-CDK"

// cdkStableImage lays saved out in stable memory as cdk/ic0's PreUpgrade does.
func cdkStableImage(saved []byte) []byte {
	const page = 1 << 16
	n := len(cdkStableMagic) + 8 + len(saved)
	b := make([]byte, (n+page-1)/page*page)
	copy(b, cdkStableMagic)
	binary.LittleEndian.PutUint64(b[len(cdkStableMagic):], uint64(len(saved)))
	copy(b[len(cdkStableMagic)+8:], saved)
	return b
}

// cdkStableSaved returns the bytes a cdkStableImage holds, nil if b is not one.
func cdkStableSaved(b []byte) []byte {
	h := len(cdkStableMagic) + 8
	if len(b) < h || string(b[:len(cdkStableMagic)]) != cdkStableMagic {
		return nil
	}
	n := binary.LittleEndian.Uint64(b[len(cdkStableMagic):])
	if n > uint64(len(b)-h) {
		return nil
	}
	return b[h : h+int(n)]
}

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
