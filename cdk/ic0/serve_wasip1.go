//go:build wasip1

package ic0

import (
	"encoding/binary"
	"fmt"
	"runtime"
	"slices"
	"unsafe"

	"github.com/icws/icws/cdk"
	"github.com/icws/icws/ic/principal"
)

// Methods names a canister's update and query methods in the order of the module's exports:
// export icws_update_<i> runs Updates[i], icws_query_<i> runs Queries[i]. icws build generates
// it from the canister's method maps, sorted, and post-links the exports to the IC's names.
type Methods struct {
	Updates []string
	Queries []string
}

// canister is the one canister a module serves. It is package state because a Wasm module's
// exports are package-level functions; nothing else in the module may change it.
var canister struct {
	code    *cdk.Canister
	methods Methods
	err     string // why Serve refused the canister; every entry point traps with it
}

// Serve makes c the canister the module runs, with its methods in the order of methods. It is
// called once, from the main package's init (icws build generates that call). A mismatch between
// c and methods makes every entry point trap saying so: the module was built from other source.
func Serve(c *cdk.Canister, methods Methods) {
	canister.code, canister.methods = c, methods
	if c == nil {
		canister.err = "ic0.Serve: the canister is nil"
		return
	}
	check := func(kind string, m map[string]cdk.Method, want []string) {
		got := make([]string, 0, len(m))
		for name := range m {
			got = append(got, name)
		}
		slices.Sort(got)
		if !slices.Equal(got, want) && canister.err == "" {
			canister.err = fmt.Sprintf("ic0.Serve: the canister's %s methods are %q, the module exports %q: rebuild it with icws build", kind, got, want)
		}
	}
	check("update", c.Updates, methods.Updates)
	check("query", c.Queries, methods.Queries)
}

// Init runs the canister's Init (export icws_init, post-linked to canister_init).
func Init() { run("canister_init", false, func(s *system) { call(s, canister.code.Init) }) }

// Timer runs the canister's Timer (canister_global_timer).
func Timer() { run("canister_global_timer", false, func(s *system) { call(s, canister.code.Timer) }) }

// Update runs update method i of Methods (canister_update <name>).
func Update(i int) {
	name := canister.methods.Updates[i]
	run(name, false, func(s *system) { canister.code.Updates[name](s) })
}

// Query runs query method i of Methods (canister_query <name>).
func Query(i int) {
	name := canister.methods.Queries[i]
	run(name, true, func(s *system) { canister.code.Queries[name](s) })
}

// stableMagic starts the stable memory that PreUpgrade writes: the magic, then the length of the
// saved bytes (uint64, little-endian), then the bytes.
const stableMagic = "ICWS-CDK"

// PreUpgrade runs the canister's PreUpgrade and writes what it returns to stable memory
// (canister_pre_upgrade).
func PreUpgrade() {
	run("canister_pre_upgrade", false, func(s *system) {
		if canister.code.PreUpgrade == nil {
			return
		}
		saved := canister.code.PreUpgrade(s)
		if saved == nil {
			return
		}
		head := make([]byte, 16)
		copy(head, stableMagic)
		binary.LittleEndian.PutUint64(head[8:], uint64(len(saved)))
		need := (16 + uint64(len(saved)) + 65535) / 65536
		if have := stable64Size(); have < need && stable64Grow(need-have) == ^uint64(0) {
			s.Trap(fmt.Sprintf("canister_pre_upgrade: stable memory cannot grow to %d pages for %d bytes of state", need, len(saved)))
		}
		stable64Write(0, uint64(uintptr(ptr(head))), 16)
		if len(saved) > 0 {
			stable64Write(16, uint64(uintptr(ptr(saved))), uint64(len(saved)))
		}
	})
}

// PostUpgrade reads what the old code's PreUpgrade saved and runs the canister's PostUpgrade
// with it (canister_post_upgrade).
func PostUpgrade() {
	run("canister_post_upgrade", false, func(s *system) {
		if canister.code.PostUpgrade == nil {
			return
		}
		var saved []byte
		if stable64Size() > 0 {
			head := make([]byte, 16)
			stable64Read(uint64(uintptr(ptr(head))), 0, 16)
			if string(head[:8]) == stableMagic {
				n := binary.LittleEndian.Uint64(head[8:])
				if n > stable64Size()*65536-16 {
					s.Trap(fmt.Sprintf("canister_post_upgrade: stable memory says %d bytes of state were saved, more than it holds", n))
				}
				saved = make([]byte, n)
				if n > 0 {
					stable64Read(uint64(uintptr(ptr(saved))), 16, n)
				}
			}
		}
		canister.code.PostUpgrade(s, saved)
	})
}

// call runs m if it is set.
func call(s *system, m cdk.Method) {
	if m != nil {
		m(s)
	}
}

// run runs one entry point: it traps with Serve's error, turns a Go panic into a trap carrying
// its message, and traps when the method leaves a goroutine behind (the IC ends a message when
// its method returns; a goroutine cannot outlive it).
func run(entry string, query bool, body func(*system)) {
	if canister.err != "" {
		trapString(canister.err)
	}
	s := &system{method: entry, query: query}
	before := runtime.NumGoroutine()
	func() {
		defer func() {
			if r := recover(); r != nil {
				trapString(fmt.Sprintf("%s: panic: %v", entry, r))
			}
		}()
		body(s)
	}()
	if n := runtime.NumGoroutine(); n > before {
		trapString(fmt.Sprintf("%s: the method left %d goroutine(s) running; a canister message ends when its method returns, so work must finish inside it", entry, n-before))
	}
}

// trapString traps with message (ic0.trap); it does not return.
func trapString(message string) {
	trap(sptr(message), uint32(len(message)))
	panic("unreachable: ic0.trap returned")
}

// system is cdk.System over the ic0 imports, for one message.
type system struct {
	method string
	query  bool
	arg    []byte
	argSet bool
}

func (s *system) Caller() principal.Principal {
	return s.principal("msg_caller", msgCallerSize(), msgCallerCopy)
}

func (s *system) Self() principal.Principal {
	return s.principal("canister_self", canisterSelfSize(), canisterSelfCopy)
}

// principal reads a principal through an ic0 size/copy pair.
func (s *system) principal(name string, size uint32, copyFn func(dst unsafe.Pointer, off, n uint32)) principal.Principal {
	b := make([]byte, size)
	copyFn(ptr(b), 0, uint32(len(b)))
	p, err := principal.FromBytes(b)
	if err != nil {
		s.Trap(name + ": " + err.Error())
	}
	return p
}

func (s *system) Time() uint64 { return icTime() }

func (s *system) Arg() []byte {
	if !s.argSet {
		s.arg = make([]byte, msgArgDataSize())
		msgArgDataCopy(ptr(s.arg), 0, uint32(len(s.arg)))
		s.argSet = true
	}
	return s.arg
}

func (s *system) MethodName() string { return s.method }

func (s *system) Reply(data []byte) {
	if len(data) > 0 {
		msgReplyDataAppend(ptr(data), uint32(len(data)))
	}
	msgReply()
}

func (s *system) Reject(message string) { msgReject(sptr(message), uint32(len(message))) }

func (s *system) Trap(message string) { trapString(message) }

func (s *system) SetCertifiedData(data []byte) { certifiedDataSet(ptr(data), uint32(len(data))) }

func (s *system) DataCertificate() []byte {
	if dataCertificatePresent() == 0 {
		return nil
	}
	b := make([]byte, dataCertificateSize())
	dataCertificateCopy(ptr(b), 0, uint32(len(b)))
	return b
}

func (s *system) Print(message string) { debugPrint(sptr(message), uint32(len(message))) }

func (s *system) SetGlobalTimer(ns uint64) uint64 { return globalTimerSet(ns) }
