//go:build wasmtime

package wasmhost

// The second engine: wasmtime (the IC's own engine family, Cranelift), through the cgo binding
// github.com/bytecodealliance/wasmtime-go. It is built only with the build tag wasmtime, so that
// CGO_ENABLED=0 builds and the default tests never need it. It runs the same instrumented module
// as the wazy host, with the same ic0 functions (ic0.go), the same transactions (rollbackHeap,
// commitHeap) and the same snapshots; the metering counter lives in the module, so both engines
// count the same instructions. Wasmtime's own fuel is switched on as well, for comparison only
// (FuelReporter).

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"math"
	"strconv"
	"sync"

	wt "github.com/bytecodealliance/wasmtime-go/v39"

	icwasm "github.com/icws/icws/ic/wasm"
	"github.com/icws/icws/ic/wasm/instrument"
)

// FuelReporter is implemented by the instances of the wasmtime host: LastFuel is the wasmtime
// fuel (about one unit per Wasm operator) that the last Run or start function consumed.
type FuelReporter interface {
	LastFuel() uint64
}

// fuelBudget is the fuel a message starts with: far above any instruction limit, so that the
// metering counter, not the fuel, stops a runaway message.
const fuelBudget = 1 << 62

// wtHost is the Host on the wasmtime engine. One engine serves both word sizes; each has its own
// linker, whose "ic0" functions have that word size's signatures.
type wtHost struct {
	opts    Options
	engine  *wt.Engine
	linkers [2]*wt.Linker // [0] wasm32, [1] wasm64

	mu       sync.Mutex
	closed   bool
	compiled map[[32]byte]*wtModule
}

// NewWasmtime returns a Host on the wasmtime engine (cgo; build tag wasmtime). It accepts the
// same modules as New and gives the same Results, instruction counts included.
// Options.CacheDir is not used: wasmtime compiles each module once per Host.
func NewWasmtime(ctx context.Context, opts Options) (Host, error) {
	cfg := wt.NewConfig()
	cfg.SetWasmMemory64(true)
	cfg.SetWasmBulkMemory(true)
	cfg.SetWasmMultiValue(true)
	cfg.SetWasmReferenceTypes(true)
	cfg.SetConsumeFuel(true)
	cfg.SetCraneliftNanCanonicalization(true) // as the IC configures wasmtime: deterministic NaNs
	h := &wtHost{opts: opts, engine: wt.NewEngineWithConfig(cfg), compiled: make(map[[32]byte]*wtModule)}
	for i := range h.linkers {
		l := wt.NewLinker(h.engine)
		if err := h.defineIC0(l, i == 1); err != nil {
			return nil, fmt.Errorf("wasmhost: the wasmtime ic0 module: %w", err)
		}
		err := l.FuncNew(instrument.TrapModule, instrument.TrapName, wt.NewFuncType(nil, nil),
			func(c *wt.Caller, _ []wt.Val) ([]wt.Val, *wt.Trap) {
				x := callerExec(c)
				if x == nil {
					return nil, wt.NewTrap("wasmhost: the metering counter ran out outside a message")
				}
				return nil, wtTrap(x, func() {
					x.fail(TrapInstructionLimit, "Canister exceeded the limit of %d instructions for single message execution.", x.limit)
				})
			})
		if err != nil {
			return nil, fmt.Errorf("wasmhost: the wasmtime metering module: %w", err)
		}
		h.linkers[i] = l
	}
	return h, nil
}

// callerExec is the message running in the store of a host call, nil if none.
func callerExec(c *wt.Caller) *exec {
	inst, _ := c.Data().(*wtInstance)
	if inst == nil {
		return nil
	}
	return inst.cur
}

// wtTrap runs fn, which may trap by x.fail, and returns the trap that unwinds wasmtime's stack
// (nil if fn returned). A panic of another kind becomes a Wasm trap that names it.
func wtTrap(x *exec, fn func()) (trap *wt.Trap) {
	defer func() {
		if r := recover(); r != nil {
			if _, ok := r.(trapSignal); !ok && x.res.TrapKind == TrapNone {
				x.res.TrapKind, x.res.Trap = TrapWasm, fmt.Sprintf("ic0.%s: host function failed: %v", x.fn, r)
			}
			trap = wt.NewTrap(x.res.Trap)
		}
	}()
	fn()
	return nil
}

func wtValTypes(ts []icwasm.ValType) []*wt.ValType {
	out := make([]*wt.ValType, len(ts))
	for i, t := range ts {
		out[i] = wt.NewValType(wt.KindI32)
		if t == icwasm.I64 {
			out[i] = wt.NewValType(wt.KindI64)
		}
	}
	return out
}

func (h *wtHost) defineIC0(l *wt.Linker, wasm64 bool) error {
	impl := make(map[string]ic0Func)
	for _, f := range ic0Funcs() {
		impl[f.name] = f
	}
	for _, def := range icwasm.IC0 {
		f, ok := impl[def.Name]
		if !ok {
			return fmt.Errorf("ic0.%s has no implementation", def.Name)
		}
		if def.Wasm32Only && wasm64 {
			continue
		}
		ft := def.Type(wasm64)
		results := ft.Results
		fn := func(c *wt.Caller, in []wt.Val) ([]wt.Val, *wt.Trap) {
			x := callerExec(c)
			if x == nil {
				return nil, wt.NewTrap(fmt.Sprintf("wasmhost: ic0.%s called outside a message", f.name))
			}
			var args [8]uint64
			for i, v := range in {
				if v.Kind() == wt.KindI32 {
					args[i] = uint64(uint32(v.I32()))
				} else {
					args[i] = uint64(v.I64())
				}
			}
			var v uint64
			if trap := wtTrap(x, func() { v = x.call0(f, args[:len(in)]) }); trap != nil {
				return nil, trap
			}
			if len(results) == 0 {
				return nil, nil
			}
			if results[0] == icwasm.I64 {
				return []wt.Val{wt.ValI64(int64(v))}, nil
			}
			return []wt.Val{wt.ValI32(int32(uint32(v)))}, nil
		}
		if err := l.FuncNew("ic0", f.name, wt.NewFuncType(wtValTypes(ft.Params), wtValTypes(ft.Results)), fn); err != nil {
			return fmt.Errorf("ic0.%s: %w", f.name, err)
		}
	}
	return nil
}

// limit is the instruction limit of a message of entry e.
func (h *wtHost) limit(e Entry) uint64 { return h.opts.Limits.of(e) }

// Compile implements Host.
func (h *wtHost) Compile(ctx context.Context, wasm []byte) (Module, error) {
	hash := sha256.Sum256(wasm)
	h.mu.Lock()
	if h.closed {
		h.mu.Unlock()
		return nil, ErrClosed
	}
	if m, ok := h.compiled[hash]; ok {
		h.mu.Unlock()
		return m, nil
	}
	h.mu.Unlock()

	decoded, _, err := icwasm.DecodeIC(wasm)
	if err != nil {
		return nil, &InvalidModuleError{Rule: err.Error()}
	}
	for _, imp := range decoded.Imports {
		if imp.Kind == icwasm.KindFunc && imp.Module != "ic0" {
			return nil, &InvalidModuleError{Rule: fmt.Sprintf("Wasm module imports function %q from %q; only the ic0 module is allowed", imp.Name, imp.Module)}
		}
	}
	rewrite := instrument.Instrument
	if h.opts.Unmetered {
		rewrite = instrument.Unmetered
	}
	if err := rewrite(decoded); err != nil {
		return nil, &InvalidModuleError{Rule: "Wasm module cannot be instrumented: " + err.Error()}
	}
	raw := decoded.Encode()
	l, err := scanLayout(raw)
	if err != nil {
		return nil, err
	}
	wm, err := wt.NewModule(h.engine, withStateExports(raw, l))
	if err != nil {
		return nil, &InvalidModuleError{Rule: "Wasm module is not valid: " + firstLine(err.Error())}
	}
	info := &ModuleInfo{Hash: hash, Wasm64: l.wasm64, Metadata: make(map[string]Metadata)}
	for _, e := range decoded.Exports {
		if e.Kind == icwasm.KindFunc {
			info.addExport(e.Name)
		}
	}
	for _, s := range decoded.Sections {
		if s.Custom != nil {
			info.addCustom(s.Custom.Name, s.Custom.Data)
		}
	}
	info.sort()
	m := &wtModule{host: h, mod: wm, linker: h.linkers[b2u(l.wasm64)], info: info, globals: l.importedGlobals + l.definedGlobals}
	h.mu.Lock()
	defer h.mu.Unlock()
	if old, ok := h.compiled[hash]; ok {
		wm.Close()
		return old, nil
	}
	h.compiled[hash] = m
	return m, nil
}

// Close implements Host.
func (h *wtHost) Close(context.Context) error {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.closed {
		return nil
	}
	h.closed = true
	for _, m := range h.compiled {
		m.mod.Close()
	}
	for _, l := range h.linkers {
		l.Close()
	}
	h.engine.Close()
	return nil
}

// wtModule is a module compiled by wasmtime.
type wtModule struct {
	host    *wtHost
	mod     *wt.Module
	linker  *wt.Linker
	info    *ModuleInfo
	globals uint64
}

// Info implements Module.
func (m *wtModule) Info() *ModuleInfo { return m.info }

// Close implements Module. The compiled code stays with the host until it closes.
func (m *wtModule) Close(context.Context) error { return nil }

// Instantiate implements Module.
func (m *wtModule) Instantiate(ctx context.Context, stable []byte) (Instance, error) {
	return m.instantiate(ctx, stable, nil)
}

// InstantiateKeep implements Module.
func (m *wtModule) InstantiateKeep(ctx context.Context, old Instance) (Instance, error) {
	o, ok := old.(*wtInstance)
	if !ok {
		return nil, fmt.Errorf("wasmhost: InstantiateKeep of a %T, want an instance of the wasmtime host", old)
	}
	o.mu.Lock()
	heap := append([]byte(nil), o.shadow...)
	stable := append([]byte(nil), o.stable.data...)
	o.mu.Unlock()
	return m.instantiate(ctx, stable, heap)
}

// wtInstance is one canister on the wasmtime engine: a store of its own with one instance.
type wtInstance struct {
	mod     *wtModule
	store   *wt.Store
	inst    *wt.Instance
	memory  *wt.Memory
	table   *wt.Table
	globals []*wt.Global
	counter *wt.Global
	stable  stableMem
	shadow  []byte // the heap as of the last committed message
	dirty   [2]dirtySet
	cur     *exec // the running message, for the host functions
	fuel    uint64

	mu sync.Mutex
}

// Read64 implements guestMemory over the store's memory.
func (i *wtInstance) Read64(off, n uint64) ([]byte, bool) {
	d := i.memory.UnsafeData(i.store)
	if off > uint64(len(d)) || n > uint64(len(d))-off {
		return nil, false
	}
	return d[off : off+n : off+n], true
}

func (i *wtInstance) heap() []byte { return i.memory.UnsafeData(i.store) }

// instructions implements meter.
func (i *wtInstance) instructions(x *exec) uint64 {
	used := int64(x.limit) - i.counter.Get(i.store).I64()
	if used < 0 {
		return 0
	}
	return uint64(used)
}

// LastFuel implements FuelReporter.
func (i *wtInstance) LastFuel() uint64 {
	i.mu.Lock()
	defer i.mu.Unlock()
	return i.fuel
}

func (m *wtModule) instantiate(ctx context.Context, stable, heap []byte) (Instance, error) {
	inst := &wtInstance{mod: m}
	inst.store = wt.NewStoreWithData(m.host.engine, inst)
	inst.stable.data = append([]byte(nil), stable...)
	fail := func(err error) (Instance, error) {
		inst.store.Close()
		return nil, err
	}
	if err := inst.store.SetFuel(fuelBudget); err != nil {
		return fail(fmt.Errorf("wasmhost: wasmtime fuel: %w", err))
	}
	wi, err := m.linker.Instantiate(inst.store, m.mod)
	if err != nil {
		return fail(&InvalidModuleError{Rule: "Wasm module cannot be instantiated: " + firstLine(err.Error())})
	}
	inst.inst = wi
	export := func(name string) *wt.Extern { return wi.GetExport(inst.store, name) }
	if e := export("memory"); e != nil && e.Memory() != nil {
		inst.memory = e.Memory()
	}
	for _, e := range wi.Exports(inst.store) {
		if inst.memory == nil && e.Memory() != nil {
			inst.memory = e.Memory()
		}
	}
	if inst.memory == nil {
		return fail(&InvalidModuleError{Rule: "Wasm module defines no memory (or does not export it)"})
	}
	for _, name := range []string{tableExport, "table"} {
		if e := export(name); e != nil && e.Table() != nil {
			inst.table = e.Table()
			break
		}
	}
	for g := uint64(0); g < m.globals; g++ {
		var gl *wt.Global
		if e := export(globalExportPrefix + strconv.FormatUint(g, 10)); e != nil {
			gl = e.Global()
		}
		inst.globals = append(inst.globals, gl)
	}
	if e := export(instrument.CounterExport); e != nil {
		inst.counter = e.Global()
	}
	if inst.counter == nil {
		return fail(fmt.Errorf("wasmhost: the module has no metering counter %q", instrument.CounterExport))
	}
	if heap != nil {
		if cur := uint64(len(inst.heap())); uint64(len(heap)) > cur {
			if _, err := inst.memory.Grow(inst.store, (uint64(len(heap))-cur+64<<10-1)/(64<<10)); err != nil {
				return fail(fmt.Errorf("wasmhost: the new module's memory cannot hold the old heap of %d bytes: %w", len(heap), err))
			}
		}
		mem := inst.heap()
		copy(mem, heap)
		clear(mem[len(heap):])
	}
	var start *wt.Func
	for _, name := range []string{instrument.StartExport, startExport} {
		if start = wi.GetFunc(inst.store, name); start != nil {
			break
		}
	}
	if start != nil {
		x := &exec{rootKey: m.host.opts.RootKey, subnet: m.host.opts.Subnet, meter: inst, m: &Message{}, ctx: cStart,
			memory: inst, stable: &inst.stable, res: &Result{}, limit: m.host.limit(EntryInit)}
		if err := inst.call(ctx, x, start); err != nil {
			return fail(fmt.Errorf("wasmhost: the module's start function trapped: %s", x.res.Trap))
		}
	}
	inst.shadow = append([]byte(nil), inst.heap()...)
	return inst, nil
}

// call runs f as the message x: counter and fuel set, the trap classified into x.res.
func (i *wtInstance) call(ctx context.Context, x *exec, f *wt.Func, args ...any) error {
	if err := i.counter.Set(i.store, wt.ValI64(int64(x.limit))); err != nil {
		return fmt.Errorf("wasmhost: setting the metering counter: %w", err)
	}
	if err := i.store.SetFuel(fuelBudget); err != nil {
		return fmt.Errorf("wasmhost: wasmtime fuel: %w", err)
	}
	i.cur = x
	_, err := f.Call(i.store, args...)
	i.cur = nil
	if left, ferr := i.store.GetFuel(); ferr == nil {
		i.fuel = fuelBudget - left
	}
	if err != nil && x.res.TrapKind == TrapNone {
		x.res.TrapKind, x.res.Trap = classify(ctx, err)
		var trap *wt.Trap
		if errors.As(err, &trap) {
			x.res.Trap = firstLine(trap.Message())
		}
	}
	return err
}

// Run implements Instance.
func (i *wtInstance) Run(ctx context.Context, m *Message) *Result {
	i.mu.Lock()
	defer i.mu.Unlock()
	x := &exec{rootKey: i.mod.host.opts.RootKey, subnet: i.mod.host.opts.Subnet, meter: i, m: m, ctx: entryCtx(m),
		memory: i, stable: &i.stable, res: &Result{}, limit: i.mod.host.limit(m.Entry)}
	fn, args, res := i.entry(m)
	if res != nil {
		return res
	}
	saved := i.saveGlobals()
	i.stable.begin()
	_ = i.call(ctx, x, fn, args...)
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
	commitStable(&i.stable, &i.dirty[1])
	i.shadow = commitHeap(i.heap(), i.shadow, &i.dirty[0])
	return x.res
}

// entry finds the function to run, or the Result of a message with nothing to run.
func (i *wtInstance) entry(m *Message) (*wt.Func, []any, *Result) {
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
		if i.table == nil || cb.Fun >= i.table.Size(i.store) {
			return nil, nil, &Result{TrapKind: TrapWasm, Trap: fmt.Sprintf("callback function %d is not in the module's table", cb.Fun)}
		}
		v, err := i.table.Get(i.store, cb.Fun)
		if err != nil || v.Funcref() == nil {
			return nil, nil, &Result{TrapKind: TrapWasm, Trap: fmt.Sprintf("callback function %d of the table is null", cb.Fun)}
		}
		if info.Wasm64 {
			return v.Funcref(), []any{int64(cb.Env)}, nil
		}
		return v.Funcref(), []any{int32(uint32(cb.Env))}, nil
	}
	f := i.inst.GetFunc(i.store, exportName(m, info))
	if f == nil && m.Entry == EntryQuery {
		f = i.inst.GetFunc(i.store, "canister_composite_query "+m.Method)
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

func (i *wtInstance) saveGlobals() []uint64 {
	v := make([]uint64, len(i.globals))
	for k, g := range i.globals {
		if g == nil {
			continue
		}
		switch val := g.Get(i.store); val.Kind() {
		case wt.KindI32:
			v[k] = uint64(uint32(val.I32()))
		case wt.KindI64:
			v[k] = uint64(val.I64())
		case wt.KindF32:
			v[k] = uint64(math.Float32bits(val.F32()))
		case wt.KindF64:
			v[k] = math.Float64bits(val.F64())
		}
	}
	return v
}

// restore undoes the last message: the mutable globals, stable memory and the heap.
func (i *wtInstance) restore(globals []uint64) {
	for k, g := range i.globals {
		if g == nil || !g.Type(i.store).Mutable() {
			continue
		}
		var val wt.Val
		switch g.Get(i.store).Kind() {
		case wt.KindI32:
			val = wt.ValI32(int32(uint32(globals[k])))
		case wt.KindI64:
			val = wt.ValI64(int64(globals[k]))
		case wt.KindF32:
			val = wt.ValF32(math.Float32frombits(uint32(globals[k])))
		case wt.KindF64:
			val = wt.ValF64(math.Float64frombits(globals[k]))
		default:
			continue
		}
		_ = g.Set(i.store, val)
	}
	i.stable.rollback()
	rollbackHeap(i.heap(), i.shadow)
}

// Stable implements Instance.
func (i *wtInstance) Stable() []byte {
	i.mu.Lock()
	defer i.mu.Unlock()
	return append([]byte(nil), i.stable.data...)
}

// Snapshot implements Instance, in the wazy host's format.
func (i *wtInstance) Snapshot() ([]byte, error) {
	i.mu.Lock()
	defer i.mu.Unlock()
	img := &snapshotImage{hash: i.mod.info.Hash[:], globals: i.saveGlobals(), heap: i.shadow, stable: i.stable.data}
	return img.encode(), nil
}

// Restore implements Instance.
func (i *wtInstance) Restore(snap []byte) error {
	i.mu.Lock()
	defer i.mu.Unlock()
	img, err := parseSnapshot(snap)
	if err != nil {
		return err
	}
	if string(img.hash) != string(i.mod.info.Hash[:]) {
		return fmt.Errorf("%w: it is of another module (hash %x, want %x)", ErrBadSnapshot, img.hash, i.mod.info.Hash)
	}
	if len(img.globals) != len(i.globals) {
		return fmt.Errorf("%w: globals do not match the module", ErrBadSnapshot)
	}
	if cur := uint64(len(i.heap())); uint64(len(img.heap)) > cur {
		if _, err := i.memory.Grow(i.store, (uint64(len(img.heap))-cur)/(64<<10)); err != nil {
			return fmt.Errorf("%w: cannot grow memory to %d bytes: %w", ErrBadSnapshot, len(img.heap), err)
		}
	}
	i.shadow = append(i.shadow[:0], img.heap...)
	i.stable.data = append([]byte(nil), img.stable...)
	clear(i.stable.undo)
	i.stable.begin()
	i.restore(img.globals)
	return nil
}

// Close implements Instance.
func (i *wtInstance) Close(context.Context) error {
	i.store.Close()
	return nil
}
