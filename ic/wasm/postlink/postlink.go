// Package postlink turns a module that Go's toolchain built for wasip1 (-buildmode=c-shared,
// //go:wasmexport) into a module the Internet Computer installs.
//
// Link leaves only ic0 imports: each WASI function Go's runtime imports becomes an internal
// function that does what a canister can (no arguments, no environment, a deterministic clock
// and random stream that every replica computes alike, stdout and stderr to ic0.debug_print) or
// traps naming what the canister tried (sleeping, files, sockets, exiting). It makes Go's
// _initialize the start function, so the runtime is ready before canister_init or
// canister_post_upgrade, renames the exports to their IC names (the names //go:wasmexport cannot
// spell), merges Go's data segments (one per symbol) into few, and adds the Candid interface
// as the icp:public candid:service section. It removes what the IC does not read: the custom
// sections other than icp:public/icp:private metadata (unless Options.KeepNames) and the bodies
// of functions no code can reach. The result passes wasm.CheckIC.
package postlink

import (
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/icws/icws/ic/leb128"
	"github.com/icws/icws/ic/wasm"
)

// ErrLink is wrapped by every error of Link.
var ErrLink = errors.New("postlink")

// Options say what Link does beyond what every module needs.
type Options struct {
	// Exports maps an export's name in the Go module to its IC name, e.g. "icws_update_0" to
	// "canister_update ws_open". Every Go export other than memory and _initialize must be named.
	Exports map[string]string
	// Candid is the canister's Candid service description, stored as the custom section
	// "icp:public candid:service"; empty adds none.
	Candid string
	// MaxDataGap is the largest gap, in bytes, between two data segments that are merged into
	// one (filled with zeros); 0 means 64.
	MaxDataGap uint64
	// KeepNames keeps the custom sections the IC does not read: the name section (function
	// names in traps' backtraces and in `icws build --size`), producers, go:buildid and any
	// DWARF (.debug_*). By default Link removes every custom section but the icp:public and
	// icp:private metadata, as ic-wasm shrink does.
	KeepNames bool
}

// Report is what Link did.
type Report struct {
	WASIReplaced   []string // the WASI imports replaced, in the module's order
	DataBefore     int      // data segments before merging
	DataAfter      int      // and after
	ImportsIC0     []string // the ic0 imports of the result
	ExportsRenamed int
	Stripped       []string // the custom sections removed (Options.KeepNames keeps them)
	StrippedBytes  int      // their size, names and contents
	Unreachable    int      // functions no code can run, whose bodies became a trap
}

// unreachableBody is the body a function no code can run gets: no locals, unreachable, end.
var unreachableBody = []byte{0, 0x00, opEnd}

// isMetadata reports whether a custom section is IC metadata, which Link keeps.
func isMetadata(name string) bool {
	return strings.HasPrefix(name, "icp:public ") || strings.HasPrefix(name, "icp:private ")
}

// The WASI errno values the stand-ins return.
const (
	errnoSuccess = 0
	errnoBadf    = 8
)

// wasiModule is the module name of the imports Go's wasip1 port makes.
const wasiModule = "wasi_snapshot_preview1"

// stand-in globals, set by Link.
type env struct {
	trap, print uint32 // ic0.trap and ic0.debug_print
	clock, rng  uint32 // the globals of the clock (ns) and the random stream's state
}

// standIn is the body of the internal function that replaces a WASI import.
type standIn func(e env) []byte

// trapping returns a stand-in that traps with the message.
func trapping(message string) standIn {
	return func(e env) []byte { return newAsm(0, 0).trapWith(e.trap, message).done() }
}

// returning returns a stand-in that only returns errno.
func returning(errno int32) standIn {
	return func(env) []byte { return newAsm(0, 0).i32(errno).done() }
}

// zeroSizes stores 0 at both pointer parameters (args_sizes_get, environ_sizes_get: no
// arguments, no environment).
func zeroSizes(env) []byte {
	return newAsm(0, 0).
		localGet(0).i32(0).mem(opI32Store, 0).
		localGet(1).i32(0).mem(opI32Store, 0).
		i32(errnoSuccess).done()
}

// clockTimeGet(id, precision, result): every clock advances by 1 µs a reading, the same on
// every replica. Go's scheduler and garbage collector read the clocks (the collector the wall
// clock too, so it cannot trap); time.Now therefore tells no real time in a canister, whose
// time is the IC's consensus time, ic0.time, that cdk.System.Time reads.
func clockTimeGet(e env) []byte {
	a := newAsm(0, 0)
	a.globalGet(e.clock).i64(1000).op(opI64Add).globalSet(e.clock)
	a.localGet(2).globalGet(e.clock).mem(opI64Store, 0)
	return a.i32(errnoSuccess).done()
}

// randomGet(buf, len) fills buf from a linear congruential stream seeded by a constant, so
// that every replica draws the same bytes (Go seeds its map hashes and math/rand from it).
// crypto/rand's bytes are therefore not secret: a canister needs raw_rand for those.
func randomGet(e env) []byte {
	const i = 2 // the local counter, after the two parameters
	a := newAsm(1, wasm.I32)
	a.op(opBlock, blockVoid, opLoop, blockVoid)
	a.localGet(i).localGet(1).op(opI32GeU).brIf(1)
	a.globalGet(e.rng).i64(6364136223846793005).op(opI64Mul).i64(1442695040888963407).op(opI64Add).globalSet(e.rng)
	a.localGet(0).localGet(i).op(opI32Add).globalGet(e.rng).i64(33).op(opI64ShrU).op(opWrapI64).mem(opStore8, 0)
	a.localGet(i).i32(1).op(opI32Add).localSet(i)
	a.br(0).op(opEnd, opEnd)
	return a.i32(errnoSuccess).done()
}

// fdWrite(fd, iovs, n, nwritten) prints each buffer written to stdout or stderr with
// ic0.debug_print (a Go panic's message reaches the canister's log); other descriptors are bad.
func fdWrite(e env) []byte {
	const i, total, iov = 4, 5, 6
	a := newAsm(3, wasm.I32)
	a.localGet(0).i32(1).op(opI32Eq).localGet(0).i32(2).op(opI32Eq).op(0x72 /* i32.or */, opI32Eqz, opIf, blockVoid)
	a.i32(errnoBadf).op(opReturn, opEnd)
	a.op(opBlock, blockVoid, opLoop, blockVoid)
	a.localGet(i).localGet(2).op(opI32GeU).brIf(1)
	a.localGet(1).localGet(i).i32(8).op(opI32Mul).op(opI32Add).localSet(iov)
	a.localGet(iov).mem(opI32Load, 0).localGet(iov).mem(opI32Load, 4).call(e.print)
	a.localGet(total).localGet(iov).mem(opI32Load, 4).op(opI32Add).localSet(total)
	a.localGet(i).i32(1).op(opI32Add).localSet(i)
	a.br(0).op(opEnd, opEnd)
	a.localGet(3).localGet(total).mem(opI32Store, 0)
	return a.i32(errnoSuccess).done()
}

// standIns are the WASI functions Link replaces, by name.
var standIns = map[string]standIn{
	"sched_yield":         returning(errnoSuccess),
	"args_sizes_get":      zeroSizes,
	"args_get":            returning(errnoSuccess),
	"environ_sizes_get":   zeroSizes,
	"environ_get":         returning(errnoSuccess),
	"clock_time_get":      clockTimeGet,
	"random_get":          randomGet,
	"fd_write":            fdWrite,
	"fd_close":            returning(errnoBadf),
	"fd_fdstat_get":       returning(errnoBadf),
	"fd_fdstat_set_flags": returning(errnoBadf),
	"fd_prestat_get":      returning(errnoBadf), // no preopened directories
	"fd_prestat_dir_name": returning(errnoBadf),
	"proc_exit":           trapping("the Go program exited (os.Exit, or a fatal runtime error such as a deadlock or running out of memory; its output is in the canister's debug log)"),
	"poll_oneoff":         trapping("a goroutine waited (time.Sleep, a timer, or a channel, lock or WaitGroup nothing else will release): a canister message cannot block"),
}

// trapNames are WASI functions a canister cannot use at all: they trap naming the function.
var trapNames = []string{
	"fd_read", "fd_pread", "fd_pwrite", "fd_seek", "fd_tell", "fd_sync", "fd_datasync", "fd_advise",
	"fd_allocate", "fd_filestat_get", "fd_filestat_set_size", "fd_filestat_set_times", "fd_readdir",
	"fd_renumber", "path_open", "path_create_directory", "path_filestat_get", "path_filestat_set_times",
	"path_link", "path_readlink", "path_remove_directory", "path_rename", "path_symlink",
	"path_unlink_file", "clock_res_get", "sock_accept", "sock_recv", "sock_send", "sock_shutdown",
	"proc_raise",
}

func standInFor(name string) (standIn, bool) {
	if s, ok := standIns[name]; ok {
		return s, true
	}
	if slices.Contains(trapNames, name) {
		return trapping(fmt.Sprintf("WASI %s: a canister has no files, sockets or processes (os and net do not work on the IC)", name)), true
	}
	return nil, false
}

// Link post-links a Go wasip1 module (see the package comment).
func Link(module []byte, opts Options) ([]byte, *Report, error) {
	m, err := wasm.Decode(module)
	if err != nil {
		return nil, nil, fmt.Errorf("%w: %w", ErrLink, err)
	}
	if m.Is64() {
		return nil, nil, fmt.Errorf("%w: the module has 64-bit memory; Go's wasip1 port builds wasm32", ErrLink)
	}
	rep := &Report{DataBefore: len(m.Data)}

	// Which imports go, and the ic0 functions their stand-ins call.
	var wasi []string
	for _, im := range m.Imports {
		switch {
		case im.Kind != wasm.KindFunc:
			return nil, nil, fmt.Errorf("%w: the module imports %s from %s: only functions can be imported", ErrLink, im.Name, im.Module)
		case im.Module == wasiModule:
			if _, ok := standInFor(im.Name); !ok {
				return nil, nil, fmt.Errorf("%w: the module imports WASI function %s, which has no stand-in on the IC (a Go version newer than icws knows?)", ErrLink, im.Name)
			}
			wasi = append(wasi, im.Name)
		case im.Module != "ic0":
			return nil, nil, fmt.Errorf("%w: the module imports %s.%s: a canister can import only from ic0", ErrLink, im.Module, im.Name)
		}
	}
	for _, name := range []string{"trap", "debug_print"} {
		if _, ok := m.ImportIndex("ic0", name); !ok {
			f, _ := wasm.LookupIC0(name)
			if _, err := m.AddImport("ic0", name, f.Type(false)); err != nil {
				return nil, nil, fmt.Errorf("%w: %w", ErrLink, err)
			}
		}
	}
	for _, name := range wasi {
		if _, err := m.ReplaceImport(wasiModule, name, []byte{0, 0x00, opEnd}); err != nil {
			return nil, nil, fmt.Errorf("%w: %w", ErrLink, err)
		}
	}
	// ReplaceImport appends each stand-in as the last function: they are the last len(wasi).
	e := env{
		clock: m.AddGlobal(wasm.Global{Type: wasm.I64, Mutable: true, Init: []byte{0x42, 0, opEnd}}),
		rng:   m.AddGlobal(wasm.Global{Type: wasm.I64, Mutable: true, Init: append(leb128.AppendInt([]byte{0x42}, 0x1c3_5eed), opEnd)}),
	}
	e.trap, _ = m.ImportIndex("ic0", "trap")
	e.print, _ = m.ImportIndex("ic0", "debug_print")
	first := uint32(m.NumImportedFuncs() + len(m.Funcs) - len(wasi))
	for i, name := range wasi {
		s, _ := standInFor(name)
		if err := m.ReplaceFunction(first+uint32(i), s(e)); err != nil {
			return nil, nil, fmt.Errorf("%w: %w", ErrLink, err)
		}
	}
	rep.WASIReplaced = wasi

	// _initialize (Go's runtime and package initialisation) becomes the start function.
	var initIdx *uint32
	for _, ex := range slices.Clone(m.Exports) {
		switch {
		case ex.Name == "_initialize":
			idx := ex.Index
			initIdx = &idx
			if err := m.RemoveExport(ex.Name); err != nil {
				return nil, nil, fmt.Errorf("%w: %w", ErrLink, err)
			}
		case ex.Kind != wasm.KindFunc:
		case opts.Exports[ex.Name] != "":
			if err := m.RenameExport(ex.Name, opts.Exports[ex.Name]); err != nil {
				return nil, nil, fmt.Errorf("%w: %w", ErrLink, err)
			}
			rep.ExportsRenamed++
		default:
			return nil, nil, fmt.Errorf("%w: export %q has no IC name (a //go:wasmexport icws build did not generate?)", ErrLink, ex.Name)
		}
	}
	if initIdx == nil {
		return nil, nil, fmt.Errorf("%w: the module exports no _initialize: build it with -buildmode=c-shared", ErrLink)
	}
	if m.Start != nil {
		return nil, nil, fmt.Errorf("%w: the module already has a start function", ErrLink)
	}
	if rep.ExportsRenamed != len(opts.Exports) {
		var missing []string
		for from := range opts.Exports {
			if !slices.ContainsFunc(m.Exports, func(x wasm.Export) bool { return x.Name == opts.Exports[from] }) {
				missing = append(missing, from)
			}
		}
		slices.Sort(missing)
		return nil, nil, fmt.Errorf("%w: the module does not export %s", ErrLink, strings.Join(missing, ", "))
	}
	m.SetStart(*initIdx)

	gap := opts.MaxDataGap
	if gap == 0 {
		gap = 64
	}
	if err := m.MergeData(gap); err != nil {
		return nil, nil, fmt.Errorf("%w: %w", ErrLink, err)
	}
	rep.DataAfter = len(m.Data)

	// Functions no export, start, table entry or call reaches (Go's linker leaves none today: its
	// table holds every function that has an address) lose their bodies.
	dead, err := m.Unreachable()
	if err != nil {
		return nil, nil, fmt.Errorf("%w: finding unreachable functions: %w", ErrLink, err)
	}
	imported := uint32(m.NumImportedFuncs())
	for _, f := range dead {
		if len(m.Codes[f-imported].Body) > len(unreachableBody) {
			if err := m.ReplaceFunction(f, unreachableBody); err != nil {
				return nil, nil, fmt.Errorf("%w: %w", ErrLink, err)
			}
		}
	}
	rep.Unreachable = len(dead)
	if !opts.KeepNames {
		for _, c := range m.StripCustomSections(isMetadata) {
			rep.Stripped = append(rep.Stripped, c.Name)
			rep.StrippedBytes += len(c.Name) + len(c.Data)
		}
	}
	if opts.Candid != "" {
		m.SetCustomSection("icp:public candid:service", []byte(opts.Candid))
	}
	for _, im := range m.Imports {
		rep.ImportsIC0 = append(rep.ImportsIC0, im.Name)
	}
	out := m.Encode()
	if _, _, err := wasm.DecodeIC(out); err != nil {
		return nil, nil, fmt.Errorf("%w: the post-linked module breaks an IC rule: %w", ErrLink, err)
	}
	return out, rep, nil
}
