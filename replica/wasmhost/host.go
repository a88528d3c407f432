package wasmhost

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"log/slog"
	"sort"
	"strings"
	"sync"

	"github.com/samyfodil/wazy"
	"github.com/samyfodil/wazy/api"

	"github.com/icws/icws/ic/principal"
	icwasm "github.com/icws/icws/ic/wasm"
	"github.com/icws/icws/ic/wasm/instrument"
)

// Options configure a Host.
type Options struct {
	Limits  Limits
	RootKey []byte              // ic0.root_key_*: the replica's root public key (DER)
	Subnet  principal.Principal // ic0.subnet_self_*
	Logger  *slog.Logger
	// CacheDir, if not empty, keeps compiled modules on disk (shared by hosts and processes that
	// name the same directory), so that a module is compiled once, not at every start.
	CacheDir string
	// Unmetered compiles modules without the instruction charges (instrument.Unmetered): the
	// counter stays at the limit, nothing hits it, Instructions reads 0. For measuring the
	// metering overhead only; a replica always meters.
	Unmetered bool
}

// wazyHost is the Host on the wazy engine. Each word size has its own runtime, whose "ic0"
// host module has that word size's signatures.
type wazyHost struct {
	opts    Options
	rootKey []byte
	subnet  principal.Principal

	mu       sync.Mutex
	closed   bool
	runtimes [2]wazy.Runtime // [0] wasm32, [1] wasm64
	cache    wazy.CompilationCache
	compiled map[[32]byte]*module
}

// New returns a Host that compiles with the wazy compiler and caches compiled modules by hash.
func New(ctx context.Context, opts Options) (Host, error) {
	h := &wazyHost{opts: opts, rootKey: opts.RootKey, subnet: opts.Subnet,
		cache: wazy.NewCompilationCache(), compiled: make(map[[32]byte]*module)}
	if opts.CacheDir != "" {
		c, err := wazy.NewCompilationCacheWithDir(opts.CacheDir)
		if err != nil {
			return nil, fmt.Errorf("wasmhost: the compilation cache in %s: %w", opts.CacheDir, err)
		}
		h.cache = c
	}
	for i := range h.runtimes {
		cfg := wazy.NewRuntimeConfigCompiler().
			WithCoreFeatures(api.CoreFeaturesV2 | api.CoreFeatureMemory64).
			WithCustomSections(true).
			WithCompilationCache(h.cache)
		r := wazy.NewRuntimeWithConfig(ctx, cfg)
		if err := h.instantiateIC0(ctx, r, i == 1); err != nil {
			return nil, fmt.Errorf("wasmhost: the ic0 module: %w", err)
		}
		if err := instantiateMetering(ctx, r); err != nil {
			return nil, fmt.Errorf("wasmhost: the metering module: %w", err)
		}
		h.runtimes[i] = r
	}
	return h, nil
}

// execKey finds the running message's exec in a host function's context.
type execKey struct{}

func (h *wazyHost) instantiateIC0(ctx context.Context, r wazy.Runtime, wasm64 bool) error {
	impl := make(map[string]ic0Func)
	for _, f := range ic0Funcs() {
		impl[f.name] = f
	}
	b := r.NewHostModuleBuilder("ic0")
	for _, def := range icwasm.IC0 {
		f, ok := impl[def.Name]
		if !ok {
			return fmt.Errorf("ic0.%s has no implementation", def.Name)
		}
		if def.Wasm32Only && wasm64 {
			continue
		}
		ft := def.Type(wasm64)
		params, results := valueTypes(ft.Params), valueTypes(ft.Results)
		masks := make([]uint64, len(params))
		for i, t := range params {
			masks[i] = ^uint64(0)
			if t == api.ValueTypeI32 {
				masks[i] = 0xffff_ffff // the compiler leaves garbage in the upper bits
			}
		}
		fn := func(ctx context.Context, m api.Module, stack []uint64) {
			x, _ := ctx.Value(execKey{}).(*exec)
			if x == nil {
				panic(fmt.Errorf("wasmhost: ic0.%s called outside a message", f.name))
			}
			var args [8]uint64
			for i := range params {
				args[i] = stack[i] & masks[i]
			}
			v := x.call0(f, args[:len(params)])
			if len(results) > 0 {
				if results[0] == api.ValueTypeI32 {
					v &= 0xffff_ffff
				}
				stack[0] = v
			}
		}
		b.NewFunctionBuilder().WithGoModuleFunction(api.GoModuleFunc(fn), params, results).Export(f.name)
	}
	_, err := b.Instantiate(ctx)
	return err
}

func valueTypes(ts []icwasm.ValType) []api.ValueType {
	out := make([]api.ValueType, len(ts))
	for i, t := range ts {
		out[i] = api.ValueTypeI32
		if t == icwasm.I64 {
			out[i] = api.ValueTypeI64
		}
	}
	return out
}

// Compile implements Host.
func (h *wazyHost) Compile(ctx context.Context, wasm []byte) (Module, error) {
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
	// Metering as the IC does it: the module is rewritten to count its own instructions.
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
	prepared := withStateExports(raw, l)
	r := h.runtimes[b2u(l.wasm64)]
	cm, err := r.CompileModule(ctx, prepared)
	if err != nil {
		return nil, &InvalidModuleError{Rule: "Wasm module is not valid: " + err.Error()}
	}
	m := &module{host: h, rt: r, cm: cm, info: moduleInfo(hash, cm, l.wasm64), globals: l.importedGlobals + l.definedGlobals}
	for _, imp := range cm.ImportedFunctions() {
		mod, name, _ := imp.Import()
		if mod != "ic0" && (mod != instrument.TrapModule || name != instrument.TrapName) {
			return nil, &InvalidModuleError{Rule: fmt.Sprintf("Wasm module imports function %q from %q; only the ic0 module is allowed", name, mod)}
		}
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	if old, ok := h.compiled[hash]; ok {
		_ = cm.Close(ctx)
		return old, nil
	}
	h.compiled[hash] = m
	return m, nil
}

func moduleInfo(hash [32]byte, cm wazy.CompiledModule, wasm64 bool) *ModuleInfo {
	info := &ModuleInfo{Hash: hash, Wasm64: wasm64, Metadata: make(map[string]Metadata)}
	for name := range cm.ExportedFunctions() {
		info.addExport(name)
	}
	for _, cs := range cm.CustomSections() {
		info.addCustom(cs.Name(), cs.Data())
	}
	info.sort()
	return info
}

// addExport records the entry point that the function export name is, if it is one.
func (info *ModuleInfo) addExport(name string) {
	switch {
	case strings.HasPrefix(name, "canister_update "):
		info.Updates = append(info.Updates, strings.TrimPrefix(name, "canister_update "))
	case strings.HasPrefix(name, "canister_query "):
		info.Queries = append(info.Queries, strings.TrimPrefix(name, "canister_query "))
	case strings.HasPrefix(name, "canister_composite_query "):
		info.Queries = append(info.Queries, strings.TrimPrefix(name, "canister_composite_query "))
	case name == "canister_init":
		info.HasInit = true
	case name == "canister_global_timer":
		info.HasTimer = true
	case name == "canister_pre_upgrade":
		info.HasPreUpgrade = true
	case name == "canister_post_upgrade":
		info.HasPostUpgrade = true
	case name == "canister_inspect_message":
		info.HasInspectMessage = true
	}
}

// addCustom records the custom section name if it is icp:public or icp:private metadata.
func (info *ModuleInfo) addCustom(name string, data []byte) {
	if n, ok := strings.CutPrefix(name, "icp:public "); ok {
		info.Metadata[n] = Metadata{Public: true, Data: data}
	} else if n, ok := strings.CutPrefix(name, "icp:private "); ok {
		info.Metadata[n] = Metadata{Data: data}
	}
}

func (info *ModuleInfo) sort() {
	sort.Strings(info.Updates)
	sort.Strings(info.Queries)
}

// Close implements Host.
func (h *wazyHost) Close(ctx context.Context) error {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.closed {
		return nil
	}
	h.closed = true
	var errs []error
	for _, r := range h.runtimes {
		errs = append(errs, r.Close(ctx))
	}
	errs = append(errs, h.cache.Close(ctx))
	return errors.Join(errs...)
}

// module is a compiled module.
type module struct {
	host    *wazyHost
	rt      wazy.Runtime
	cm      wazy.CompiledModule
	info    *ModuleInfo
	globals uint64

	mu    sync.Mutex
	count uint64
}

// Info implements Module.
func (m *module) Info() *ModuleInfo { return m.info }

// Close implements Module. The compiled code stays in the host's cache.
func (m *module) Close(context.Context) error { return nil }

// instantiateMetering gives instrumented modules the function they call when the metering
// counter goes below zero: it traps the message with the IC's instruction-limit reject.
func instantiateMetering(ctx context.Context, r wazy.Runtime) error {
	fn := func(ctx context.Context, _ api.Module, _ []uint64) {
		x, _ := ctx.Value(execKey{}).(*exec)
		if x == nil {
			panic(errors.New("wasmhost: the metering counter ran out outside a message"))
		}
		x.fail(TrapInstructionLimit, "Canister exceeded the limit of %d instructions for single message execution.", x.limit)
	}
	_, err := r.NewHostModuleBuilder(instrument.TrapModule).
		NewFunctionBuilder().WithGoModuleFunction(api.GoModuleFunc(fn), nil, nil).Export(instrument.TrapName).
		Instantiate(ctx)
	return err
}

// limit is the instruction limit of a message of entry e (Options.Limits, the IC's where zero).
func (h *wazyHost) limit(e Entry) uint64 { return h.opts.Limits.of(e) }

// of is the instruction limit of a message of entry e: l's, or the IC's where l has a zero.
func (l Limits) of(e Entry) uint64 {
	v, def := l.Update, uint64(DefaultUpdateLimit)
	switch e {
	case EntryQuery:
		v, def = l.Query, DefaultQueryLimit
	case EntryInit, EntryPreUpgrade, EntryPostUpgrade:
		v, def = l.Install, DefaultInstallLimit
	}
	if v == 0 {
		return def
	}
	return v
}
