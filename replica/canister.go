package replica

import (
	"context"
	"fmt"
	"log/slog"
	"slices"
	"sync/atomic"

	"github.com/icws/icws/ic/envelope"
	"github.com/icws/icws/ic/hashtree"
	"github.com/icws/icws/ic/principal"
	"github.com/icws/icws/replica/wasmhost"
)

// fixedCycles is the balance every canister reports: cycles are not charged here, but the
// system calls that read and move them work.
const fixedCycles = 100_000_000_000_000

// canister is one hosted canister: native Go code or a Wasm module, or empty (created but not
// installed). Everything in it is touched only by rounds (with the replica's state lock held for
// writing) and by queries (with it held for reading).
type canister struct {
	name string // the name it was registered under, "" for a canister created by a call
	id   principal.Principal
	log  *slog.Logger

	controllers []principal.Principal
	status      wasmhost.Status
	version     uint64 // canister_version: bumped by every change of code, settings or status
	settings    settings

	// The installed code; inst is nil while the canister is empty.
	inst     wasmhost.Instance
	info     *wasmhost.ModuleInfo
	module   wasmhost.Module // nil for native code
	wasmSize int             // bytes of the module as installed

	chunks map[[32]byte][]byte // the chunk store (upload_chunk)

	// The canister history (canister_info): the last MaxHistory changes, and how many there
	// were in all. The log (fetch_canister_logs): records of at most MaxLogBytes in all.
	history      []canisterChange
	totalChanges uint64
	logs         []logRecord
	logBytes     int
	nextLogIdx   uint64

	// With Config.StateDir: persistDirty says the canister changed this round, sinceCheckpoint
	// since the last checkpoint; fullNext that its next journal record must be whole (new code,
	// or a delta was lost); pendingModule is a module installed and not yet written to its file.
	persistDirty, sinceCheckpoint, fullNext bool
	pendingModule                           []byte

	// Replicated state kept by the replica; written only in rounds.
	certifiedData []byte
	certDirty     bool          // the certified subtree (data, controllers, module) changed since the last certification
	tree          hashtree.Node // the certified subtree /canister/<id> as of the last certification
	treeDigest    [32]byte
	timer         uint64 // the global timer, IC time in ns; 0 = inactive

	// open counts call contexts of messages to this canister that are not closed yet; stoppers
	// are the stop_canister calls waiting for it to reach zero.
	open     int
	stoppers []*callContext

	// dataCert caches the data certificate of the last round; reset by every round.
	dataCert atomic.Pointer[[]byte]
}

// settings are the canister settings that the replica keeps but does not enforce.
type settings struct {
	computeAllocation   uint64
	memoryAllocation    uint64
	freezingThreshold   uint64
	reservedCyclesLimit uint64
	wasmMemoryLimit     uint64
	wasmMemoryThreshold uint64
	logVisibility       logVisibility
	environment         []environmentVariable
}

func defaultSettings() settings {
	return settings{
		freezingThreshold:   2_592_000,
		reservedCyclesLimit: 5_000_000_000_000,
		wasmMemoryLimit:     3 << 30,
		logVisibility:       logVisibility{Controllers: &candidNull},
	}
}

// moduleHash returns the SHA-256 of the installed module, nil if the canister is empty.
func (c *canister) moduleHash() []byte {
	if c.info == nil {
		return nil
	}
	return c.info.Hash[:]
}

// isController reports whether p controls c.
func (c *canister) isController(p principal.Principal) bool {
	return slices.Contains(c.controllers, p)
}

// hasUpdate and hasQuery report whether the installed code exports the method.
func (c *canister) hasUpdate(method string) bool {
	return c.info != nil && slices.Contains(c.info.Updates, method)
}

func (c *canister) hasQuery(method string) bool {
	return c.info != nil && slices.Contains(c.info.Queries, method)
}

// message builds the Message of an entry point of c with the fields the replica knows.
func (c *canister) message(entry wasmhost.Entry, caller principal.Principal, method string, arg []byte, now uint64) *wasmhost.Message {
	return &wasmhost.Message{
		Entry:       entry,
		Method:      method,
		Caller:      caller,
		Self:        c.id,
		Arg:         arg,
		Time:        now,
		Replicated:  true,
		Controllers: c.controllers,
		Status:      c.status,
		Version:     c.version,
		Timer:       c.timer,
		Cycles:      fixedCycles,
	}
}

// exec runs m on the installed code and applies what it changed of the replica's state of the
// canister (certified data, the timer) unless it trapped. The caller holds the state lock for
// writing, or for reading for a non-replicated query.
func (c *canister) exec(ctx context.Context, m *wasmhost.Message) *wasmhost.Result {
	res := c.inst.Run(ctx, m)
	for _, p := range res.Prints {
		c.log.Info("canister print", "canister", c.label(), "id", c.id.String(), "message", p)
	}
	c.logRun(m, res)
	if res.TrapKind != wasmhost.TrapNone || m.Entry == wasmhost.EntryQuery {
		return res
	}
	c.apply(res)
	switch m.Entry {
	case wasmhost.EntryUpdate, wasmhost.EntryTimer, wasmhost.EntryReplyCallback, wasmhost.EntryRejectCallback:
		// The IC counts every successful execution of a message into the canister's version
		// (ic0.canister_version, canister_info), beside each change of code and settings; an
		// install's canister_init and upgrade hooks are counted once, as the install.
		c.version++
	}
	return res
}

// apply records what a message that did not trap changed of the replica's state of c.
func (c *canister) apply(res *wasmhost.Result) {
	c.persistDirty = true
	if res.CertifiedDataSet {
		c.certifiedData = res.CertifiedData
		c.certDirty = true
	}
	if res.TimerSet {
		c.timer = res.Timer
	}
}

// label names c in logs: its registered name, or its id.
func (c *canister) label() string {
	if c.name != "" {
		return c.name
	}
	return c.id.String()
}

// query runs a query method against the current state. The caller holds the state lock for
// reading.
func (c *canister) query(ctx context.Context, caller principal.Principal, method string, arg []byte, now uint64, dataCert []byte) outcome {
	if o, ok := c.refuse(method, true); !ok {
		return o
	}
	m := c.message(wasmhost.EntryQuery, caller, method, arg, now)
	m.Replicated = false
	m.DataCertificate = dataCert
	return resultOutcome(c.id, c.exec(ctx, m))
}

// refuse returns the reject of a message to method if c cannot take it (empty, stopped, no such
// method), and ok = true if it can. query says whether the message is a query.
func (c *canister) refuse(method string, query bool) (o outcome, ok bool) {
	if o, ok := refuseState(c.id, c.status, c.inst == nil, query); !ok {
		return o, false
	}
	if query {
		if !c.hasQuery(method) {
			return noMethodOutcome(c.id, "query", method), false
		}
	} else if !c.hasUpdate(method) && !c.hasQuery(method) {
		return noMethodOutcome(c.id, "update", method), false
	}
	return outcome{}, true
}

// refuseState returns the reject of a message to canister id in the given state, if it cannot
// take messages.
func refuseState(id principal.Principal, status wasmhost.Status, empty, query bool) (outcome, bool) {
	switch {
	case empty:
		return outcome{
			rejectCode: envelope.DestinationInvalid,
			errorCode:  errCanisterWasmModuleNotFound,
			rejectMsg:  fmt.Sprintf("Error from Canister %s: Attempted to execute a message, but the canister contains no Wasm module. Install code with install_code (e.g. `icp canister install %s --wasm <file>`).", id, id),
		}, false
	case status == wasmhost.StatusStopped:
		return outcome{
			rejectCode: envelope.CanisterError,
			errorCode:  errCanisterStopped,
			rejectMsg:  fmt.Sprintf("Canister %s is stopped and therefore does not have a CallContextManager; start it with start_canister.", id),
		}, false
	case status == wasmhost.StatusStopping && !query:
		return outcome{
			rejectCode: envelope.CanisterError,
			errorCode:  errCanisterStopping,
			rejectMsg:  fmt.Sprintf("Canister %s is stopping; start it with start_canister.", id),
		}, false
	}
	return outcome{}, true
}

// fireTimer runs the global timer if it is due at now, in a call context of its own (whose
// answer goes nowhere). The timer is deactivated before it runs, as on the IC.
func (r *Replica) fireTimer(ctx context.Context, c *canister, now uint64) {
	if c.timer == 0 || c.timer > now || c.inst == nil || c.status != wasmhost.StatusRunning {
		return
	}
	c.timer = 0
	if !c.info.HasTimer {
		return
	}
	cc := r.newContext(c)
	res := c.exec(ctx, c.message(wasmhost.EntryTimer, c.id, "", nil, now))
	if res.TrapKind != wasmhost.TrapNone {
		c.log.Info("canister global timer trapped", "canister", c.label(), "trap", res.Trap)
	}
	r.afterRun(cc, c, res, now)
}
