package wasmhost

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"

	"github.com/samyfodil/wazy"
	"github.com/samyfodil/wazy/api"

	"github.com/icws/icws/ic/principal"
	"github.com/icws/icws/ic/wasm/instrument"
)

// exec is the state of one running message, reached by the ic0 functions.
type exec struct {
	rootKey []byte              // ic0.root_key_*
	subnet  principal.Principal // ic0.subnet_self_*
	meter   meter               // the running message's instruction count
	m       *Message
	ctx     ctxSet
	fn      string // the ic0 function being called, for messages
	memory  guestMemory
	stable  *stableMem

	res      *Result
	replyBuf []byte
	pending  *Call
	limit    uint64 // the message's instruction limit, the metering counter's start value
}

// guestMemory is the module's Wasm memory as the ic0 functions see it, on any engine.
type guestMemory interface {
	// Read64 returns the byteCount bytes at offset (a view, not a copy), or false if they are
	// out of bounds.
	Read64(offset, byteCount uint64) ([]byte, bool)
}

// meter reads the metering counter of the instance running x.
type meter interface {
	instructions(x *exec) uint64
}

// instance is one canister on the wazy engine.
type instance struct {
	mod     *module
	wm      api.Module
	memory  api.Memory
	table   api.Table
	globals []api.Global
	stable  stableMem
	// counter is the metering counter (instrument.CounterExport): set to the message's limit
	// before it runs, decreased by the instrumented code.
	counter api.MutableGlobal

	// shadow is the heap as of the last committed message. After a message, the pages that
	// differ are copied back (a trap or a query) or into the shadow (a commit).
	shadow []byte
	// dirtyHeap and dirtyStable are the pages committed messages changed since the last
	// Checkpoint or Delta (Incremental).
	dirtyHeap, dirtyStable dirtySet

	mu sync.Mutex
}

const heapPage = 4 << 10

// Instantiate implements Module.
func (m *module) Instantiate(ctx context.Context, stable []byte) (Instance, error) {
	return m.instantiate(ctx, stable, nil)
}

// InstantiateKeep implements Module.
func (m *module) InstantiateKeep(ctx context.Context, old Instance) (Instance, error) {
	o, ok := old.(*instance)
	if !ok {
		return nil, fmt.Errorf("wasmhost: InstantiateKeep of a %T, want an instance of this host", old)
	}
	o.mu.Lock()
	heap := append([]byte(nil), o.shadow...)
	stable := append([]byte(nil), o.stable.data...)
	o.mu.Unlock()
	return m.instantiate(ctx, stable, heap)
}

// instantiate makes an instance; if heap is not nil, it replaces the Wasm memory before the
// start function runs.
func (m *module) instantiate(ctx context.Context, stable, heap []byte) (Instance, error) {
	m.mu.Lock()
	m.count++
	name := fmt.Sprintf("canister-%d-%x", m.count, m.info.Hash[:6])
	m.mu.Unlock()
	inst := &instance{mod: m}
	inst.stable.data = append([]byte(nil), stable...)
	x := &exec{rootKey: m.host.rootKey, subnet: m.host.subnet, meter: inst, m: &Message{}, ctx: cStart, stable: &inst.stable, res: &Result{}}
	ctx = context.WithValue(ctx, execKey{}, x)
	wm, err := m.rt.InstantiateModule(ctx, m.cm, wazy.NewModuleConfig().WithName(name).WithStartFunctions())
	if err != nil {
		return nil, &InvalidModuleError{Rule: "Wasm module cannot be instantiated: " + firstLine(err.Error())}
	}
	inst.wm = wm
	inst.memory = wm.Memory()
	x.memory = inst.memory
	if inst.memory == nil {
		_ = wm.Close(ctx)
		return nil, &InvalidModuleError{Rule: "Wasm module defines no memory"}
	}
	inst.table = wm.ExportedTable(tableExport)
	if inst.table == nil {
		inst.table = wm.ExportedTable("table")
	}
	for g := uint64(0); g < m.globals; g++ {
		inst.globals = append(inst.globals, wm.ExportedGlobal(globalExportPrefix+strconv.FormatUint(g, 10)))
	}
	if heap != nil {
		if cur := inst.memory.Size64(); uint64(len(heap)) > cur {
			if _, ok := inst.memory.Grow64((uint64(len(heap)) - cur + 64<<10 - 1) / (64 << 10)); !ok {
				_ = wm.Close(ctx)
				return nil, fmt.Errorf("wasmhost: the new module's memory cannot hold the old heap of %d bytes", len(heap))
			}
		}
		mem, _ := inst.memory.Read64(0, inst.memory.Size64())
		copy(mem, heap)
		clear(mem[len(heap):])
	}
	inst.counter, _ = wm.ExportedGlobal(instrument.CounterExport).(api.MutableGlobal)
	if inst.counter == nil {
		_ = wm.Close(ctx)
		return nil, fmt.Errorf("wasmhost: the module has no metering counter %q", instrument.CounterExport)
	}
	start := wm.ExportedFunction(instrument.StartExport)
	if start == nil {
		start = wm.ExportedFunction(startExport)
	}
	if start != nil {
		x.limit = m.host.limit(EntryInit)
		inst.counter.Set(uint64(int64(x.limit)))
		if _, err := start.Call(ctx); err != nil {
			_ = wm.Close(ctx)
			if x.res.Trap == "" {
				_, x.res.Trap = classify(ctx, err)
			}
			return nil, fmt.Errorf("wasmhost: the module's start function trapped: %s", x.res.Trap)
		}
	}
	inst.shadow = inst.heapCopy()
	inst.dirtyHeap.all, inst.dirtyStable.all = true, true
	return inst, nil
}

func (i *instance) heapCopy() []byte {
	b, _ := i.memory.Read64(0, i.memory.Size64())
	return append([]byte(nil), b...)
}

func firstLine(s string) string {
	if i := strings.IndexByte(s, '\n'); i >= 0 {
		return s[:i]
	}
	return s
}

// entryCtx is the ic0 context of an entry point.
func entryCtx(m *Message) ctxSet {
	switch m.Entry {
	case EntryInit, EntryPostUpgrade:
		return cInit
	case EntryPreUpgrade:
		return cPreUpgrade
	case EntryUpdate:
		return cUpdate
	case EntryQuery:
		if m.Replicated {
			return cRQuery
		}
		return cNRQuery
	case EntryTimer:
		return cTimer
	case EntryInspectMessage:
		return cInspect
	case EntryReplyCallback:
		return cReply
	case EntryRejectCallback:
		return cReject
	case EntryCleanup:
		return cCleanup
	}
	return 0
}

func exportName(m *Message, info *ModuleInfo) string {
	switch m.Entry {
	case EntryInit:
		return "canister_init"
	case EntryPreUpgrade:
		return "canister_pre_upgrade"
	case EntryPostUpgrade:
		return "canister_post_upgrade"
	case EntryTimer:
		return "canister_global_timer"
	case EntryInspectMessage:
		return "canister_inspect_message"
	case EntryUpdate:
		return "canister_update " + m.Method
	case EntryQuery:
		return "canister_query " + m.Method
	}
	return ""
}

// Run implements Instance.
func (i *instance) Run(ctx context.Context, m *Message) *Result {
	i.mu.Lock()
	defer i.mu.Unlock()
	x := &exec{rootKey: i.mod.host.rootKey, subnet: i.mod.host.subnet, meter: i, m: m, ctx: entryCtx(m), memory: i.memory, stable: &i.stable, res: &Result{}}
	fn, args, res := i.entry(m)
	if res != nil {
		return res
	}
	saved := i.saveGlobals()
	i.stable.begin()
	x.limit = i.mod.host.limit(m.Entry)
	i.counter.Set(uint64(int64(x.limit)))
	_, err := fn.Call(context.WithValue(ctx, execKey{}, x), args...)
	if err != nil && x.res.TrapKind == TrapNone {
		x.res.TrapKind, x.res.Trap = classify(ctx, err)
	}
	x.res.Instructions = i.instructions(x)
	if x.res.TrapKind == TrapNone && x.pending != nil {
		x.pending = nil // a call built but never performed is dropped
	}
	if x.res.TrapKind != TrapNone || m.Entry == EntryQuery {
		i.restore(saved)
		if x.res.TrapKind != TrapNone {
			r := x.res
			*x.res = Result{Trap: r.Trap, TrapKind: r.TrapKind, Prints: r.Prints, Instructions: r.Instructions}
		}
		return x.res
	}
	i.commit()
	return x.res
}

// entry finds the function to run, or the Result of a message with nothing to run.
func (i *instance) entry(m *Message) (api.Function, []uint64, *Result) {
	info := i.mod.info
	switch m.Entry {
	case EntryReplyCallback, EntryRejectCallback, EntryCleanup:
		cb := m.Callback.Reply
		switch m.Entry {
		case EntryRejectCallback:
			cb = m.Callback.Reject
		case EntryCleanup:
			if m.Callback.Cleanup == nil {
				return nil, nil, &Result{}
			}
			cb = *m.Callback.Cleanup
		}
		if i.table == nil || cb.Fun >= uint64(i.table.Size()) {
			return nil, nil, &Result{TrapKind: TrapWasm, Trap: fmt.Sprintf("callback function %d is not in the module's table", cb.Fun)}
		}
		f := i.table.Function(uint32(cb.Fun))
		if f == nil {
			return nil, nil, &Result{TrapKind: TrapWasm, Trap: fmt.Sprintf("callback function %d of the table is null", cb.Fun)}
		}
		env := cb.Env
		if !info.Wasm64 {
			env &= 0xffff_ffff
		}
		return f, []uint64{env}, nil
	}
	name := exportName(m, info)
	f := i.wm.ExportedFunction(name)
	if f == nil && m.Entry == EntryQuery {
		f = i.wm.ExportedFunction("canister_composite_query " + m.Method)
	}
	if f == nil {
		switch m.Entry {
		case EntryUpdate:
			return nil, nil, &Result{TrapKind: TrapContractViolation, Trap: fmt.Sprintf("Canister has no update method '%s'.", m.Method)}
		case EntryQuery:
			return nil, nil, &Result{TrapKind: TrapContractViolation, Trap: fmt.Sprintf("Canister has no query method '%s'.", m.Method)}
		case EntryInspectMessage:
			return nil, nil, &Result{Accepted: true}
		}
		return nil, nil, &Result{}
	}
	return f, nil, nil
}

func classify(ctx context.Context, err error) (TrapKind, string) {
	if ctx.Err() != nil {
		return TrapWasm, "canister execution was cancelled: " + ctx.Err().Error()
	}
	msg := firstLine(err.Error())
	msg = strings.TrimSuffix(msg, " (recovered by wazy)")
	if strings.Contains(msg, "out of memory") || strings.Contains(msg, "memory limit") {
		return TrapOutOfMemory, msg
	}
	return TrapWasm, msg
}

func (i *instance) saveGlobals() []uint64 {
	v := make([]uint64, len(i.globals))
	for k, g := range i.globals {
		if g != nil {
			v[k] = g.Get()
		}
	}
	return v
}

// restore undoes the last message: heap pages that differ from the shadow, globals, stable.
func (i *instance) restore(globals []uint64) {
	for k, g := range i.globals {
		if mg, ok := g.(api.MutableGlobal); ok {
			mg.Set(globals[k])
		}
	}
	i.stable.rollback()
	heap, _ := i.memory.Read64(0, i.memory.Size64())
	rollbackHeap(heap, i.shadow)
}

// rollbackHeap puts the pages of heap that differ from shadow back as they were; memory grown
// since (heap beyond shadow) is zero again, as grown memory cannot shrink.
func rollbackHeap(heap, shadow []byte) {
	n := min(len(heap), len(shadow))
	for off := 0; off < n; off += heapPage {
		end := min(off+heapPage, n)
		if !bytes.Equal(heap[off:end], shadow[off:end]) {
			copy(heap[off:end], shadow[off:end])
		}
	}
	clear(heap[n:])
}

// commit makes the heap the new shadow.
func (i *instance) commit() {
	commitStable(&i.stable, &i.dirtyStable)
	heap, _ := i.memory.Read64(0, i.memory.Size64())
	i.shadow = commitHeap(heap, i.shadow, &i.dirtyHeap)
}

// commitStable commits the message's stable-memory writes, marking the pages they touched.
func commitStable(s *stableMem, dirty *dirtySet) {
	for g := range s.undo {
		dirty.add(g)
	}
	for g := uint64(s.oldSize) / undoPage; g*undoPage < uint64(len(s.data)); g++ {
		dirty.add(g) // grown
	}
	s.commit()
}

// commitHeap copies the pages of heap that differ from shadow into it, marks them in dirty and
// returns the new shadow (grown if the memory grew).
func commitHeap(heap, shadow []byte, dirty *dirtySet) []byte {
	n := min(len(heap), len(shadow))
	for off := 0; off < n; off += heapPage {
		end := min(off+heapPage, n)
		if !bytes.Equal(heap[off:end], shadow[off:end]) {
			copy(shadow[off:end], heap[off:end])
			dirty.add(uint64(off / heapPage))
		}
	}
	for off := n; off < len(heap); off += heapPage {
		dirty.add(uint64(off / heapPage))
	}
	return append(shadow, heap[n:]...)
}

// instructions is what the running message x has used so far: its limit less the counter. A
// message stopped by the limit has used more than its limit (the counter is negative).
func (i *instance) instructions(x *exec) uint64 {
	used := int64(x.limit) - int64(i.counter.Get())
	if used < 0 {
		return 0
	}
	return uint64(used)
}

// Stable implements Instance.
func (i *instance) Stable() []byte {
	i.mu.Lock()
	defer i.mu.Unlock()
	return append([]byte(nil), i.stable.data...)
}

const snapshotMagic = "icws-wasm-snapshot-1\n"

// Snapshot implements Instance: magic, module hash, globals, heap, stable memory.
func (i *instance) Snapshot() ([]byte, error) {
	i.mu.Lock()
	defer i.mu.Unlock()
	b := append([]byte(snapshotMagic), i.mod.info.Hash[:]...)
	b = binary.AppendUvarint(b, uint64(len(i.globals)))
	for _, v := range i.saveGlobals() {
		b = binary.LittleEndian.AppendUint64(b, v)
	}
	b = binary.AppendUvarint(b, uint64(len(i.shadow)))
	b = append(b, i.shadow...)
	b = binary.AppendUvarint(b, uint64(len(i.stable.data)))
	return append(b, i.stable.data...), nil
}

// ErrBadSnapshot is a snapshot that Restore cannot use.
var ErrBadSnapshot = errors.New("wasmhost: bad snapshot")

// Restore implements Instance.
func (i *instance) Restore(snap []byte) error {
	i.mu.Lock()
	defer i.mu.Unlock()
	r := &reader{b: snap}
	if !bytes.HasPrefix(snap, []byte(snapshotMagic)) || len(snap) < len(snapshotMagic)+32 {
		return fmt.Errorf("%w: not an icws Wasm snapshot", ErrBadSnapshot)
	}
	r.off = len(snapshotMagic)
	if !bytes.Equal(snap[r.off:r.off+32], i.mod.info.Hash[:]) {
		return fmt.Errorf("%w: it is of another module (hash %x, want %x)", ErrBadSnapshot, snap[r.off:r.off+32], i.mod.info.Hash)
	}
	r.off += 32
	n, err := r.uleb()
	if err != nil || n != uint64(len(i.globals)) || uint64(len(snap)-r.off) < 8*n {
		return fmt.Errorf("%w: globals do not match the module", ErrBadSnapshot)
	}
	globals := make([]uint64, n)
	for k := range globals {
		globals[k] = binary.LittleEndian.Uint64(snap[r.off:])
		r.off += 8
	}
	hn, err := r.uleb()
	if err != nil || hn > uint64(len(snap)-r.off) {
		return fmt.Errorf("%w: truncated heap", ErrBadSnapshot)
	}
	heap := snap[r.off : r.off+int(hn)]
	r.off += int(hn)
	sn, err := r.uleb()
	if err != nil || sn != uint64(len(snap)-r.off) {
		return fmt.Errorf("%w: truncated stable memory", ErrBadSnapshot)
	}
	if cur := i.memory.Size64(); uint64(len(heap)) > cur {
		if _, ok := i.memory.Grow64((uint64(len(heap)) - cur) / (64 << 10)); !ok {
			return fmt.Errorf("%w: cannot grow memory to %d bytes", ErrBadSnapshot, len(heap))
		}
	}
	i.shadow = append(i.shadow[:0], heap...)
	i.stable.data = append([]byte(nil), snap[r.off:]...)
	clear(i.stable.undo)
	i.stable.begin() // restore rolls stable memory back to its size as of begin: the snapshot's
	i.restore(globals)
	i.dirtyHeap.all, i.dirtyStable.all = true, true
	return nil
}

// Close implements Instance.
func (i *instance) Close(ctx context.Context) error { return i.wm.Close(ctx) }
