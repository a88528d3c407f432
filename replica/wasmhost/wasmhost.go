// Package wasmhost runs IC Wasm canister modules: it compiles a module (wasm32 or wasm64), gives it
// the ic0 system API, runs one message at a time as a transaction, meters instructions, and keeps
// the canister's memory, globals and stable memory between messages.
//
// It knows nothing of HTTP, rounds, certification or other canisters: the replica hands it one
// Message and gets back one Result. Everything a message asks of the world outside the canister
// (the reply, certified data, the timer, calls to other canisters) comes back in the Result and is
// the replica's to apply; a trapped message leaves the canister exactly as it was.
//
// This file is the contract between the replica and the host (written first, so that both sides
// can be built at once); the implementation lives beside it.
package wasmhost

import (
	"context"
	"errors"

	"github.com/icws/icws/ic/principal"
)

// Entry is the kind of entry point a Message runs. It decides which ic0 calls are allowed
// (interface spec, "Overview of imports").
type Entry int

const (
	EntryInit           Entry = iota // canister_init
	EntryUpdate                      // canister_update <name>
	EntryQuery                       // canister_query <name> (also composite queries, replicated or not)
	EntryTimer                       // canister_global_timer
	EntryPreUpgrade                  // canister_pre_upgrade
	EntryPostUpgrade                 // canister_post_upgrade
	EntryInspectMessage              // canister_inspect_message
	EntryReplyCallback               // the reply callback of a call the canister made
	EntryRejectCallback              // the reject callback of a call the canister made
	EntryCleanup                     // the cleanup callback of a call whose callback trapped
)

// Status is the canister's run status, as ic0.canister_status reports it.
type Status int

const (
	StatusRunning  Status = 1
	StatusStopping Status = 2
	StatusStopped  Status = 3
)

// Limits are the per-message instruction limits and the module limits checked at Load.
// A zero field means the IC's limit (DefaultUpdateLimit, …).
type Limits struct {
	Update  uint64 // update, timer, callbacks: 40 B on the IC
	Query   uint64 // query: 5 B
	Install uint64 // init, pre- and post-upgrade: 300 B
}

// The IC's instruction limits of an application subnet, used where Limits has a zero.
const (
	DefaultUpdateLimit  = 40_000_000_000
	DefaultQueryLimit   = 5_000_000_000
	DefaultInstallLimit = 300_000_000_000
)

// Message is one execution of an entry point.
type Message struct {
	Entry  Entry
	Method string // the method name (EntryUpdate, EntryQuery, EntryInspectMessage)
	Caller principal.Principal
	Self   principal.Principal
	Arg    []byte // the argument (Candid), or the reply data in EntryReplyCallback
	Time   uint64 // IC time, ns since the epoch (ic0.time)

	// Replicated is false for a query answered by one node (ic0.in_replicated_execution).
	Replicated bool
	// DataCertificate is the certificate of the canister's certified data, set only for a
	// non-replicated query (ic0.data_certificate_*).
	DataCertificate []byte
	// Controllers are the canister's controllers (ic0.is_controller).
	Controllers []principal.Principal
	Status      Status // ic0.canister_status
	Version     uint64 // ic0.canister_version
	Timer       uint64 // the global timer as the message starts (returned by ic0.global_timer_set)
	// Cycles is the balance ic0.canister_cycle_balance* reports; cycles are not charged.
	Cycles uint64

	// RejectCode and RejectMessage are the reject a EntryRejectCallback handles.
	RejectCode    uint32
	RejectMessage string
	// Callback is the callback to run for EntryReplyCallback, EntryRejectCallback and
	// EntryCleanup, as the canister registered it in Result.Calls.
	Callback Callback
	// CyclesRefunded is ic0.msg_cycles_refunded in a callback.
	CyclesRefunded uint64
}

// Callback is a function of the module's table with its environment (ic0.call_new).
type Callback struct {
	Reply, Reject CallbackFunc
	Cleanup       *CallbackFunc // nil if the canister set none (ic0.call_on_cleanup)
}

// CallbackFunc is one table index and its env argument.
type CallbackFunc struct {
	Fun uint64
	Env uint64
}

// Call is a call the canister made with ic0.call_new … ic0.call_perform. The replica delivers it
// and later runs Callback with the callee's answer.
type Call struct {
	Callee   principal.Principal
	Method   string
	Arg      []byte
	Cycles   uint64
	Callback Callback
	// BestEffortTimeout is the seconds given to ic0.call_with_best_effort_response, 0 if none.
	BestEffortTimeout uint32
}

// Result is what a message produced. If Trap is set, nothing else applies: the canister's
// memory, globals and stable memory are as they were before the message.
type Result struct {
	// Trap is the trap message (ic0.trap's text, or the host's description of another trap such
	// as "instruction limit exceeded"); empty if the message did not trap.
	Trap string
	// TrapKind says what trapped.
	TrapKind TrapKind

	Replied bool   // ic0.msg_reply was called
	Reply   []byte // the reply data
	// Rejected is true if ic0.msg_reject was called; RejectMessage is its text.
	Rejected      bool
	RejectMessage string

	CertifiedData    []byte // the certified data set, if CertifiedDataSet
	CertifiedDataSet bool
	Timer            uint64 // the global timer set, if TimerSet
	TimerSet         bool

	Calls []Call // calls performed, in order

	// Accepted is set by ic0.accept_message in EntryInspectMessage.
	Accepted bool

	Instructions uint64   // instructions the message used (the metering counter)
	Prints       []string // ic0.debug_print messages, in order (also kept when the message trapped)
}

// TrapKind classifies a trap for the replica's reject code and error code.
type TrapKind int

const (
	TrapNone              TrapKind = iota
	TrapExplicit                   // ic0.trap: IC0503
	TrapWasm                       // unreachable, out of bounds, …: IC0502
	TrapInstructionLimit           // IC0522
	TrapContractViolation          // a system call made where it is not allowed: IC0504
	TrapOutOfMemory                // IC0501 or a failed memory grow
)

// Module is a compiled module, ready to be instantiated. It is safe for concurrent use.
type Module interface {
	// Info describes the module's entry points and metadata.
	Info() *ModuleInfo
	// Instantiate makes a fresh canister from the module, with the given stable memory (nil for
	// none) carried over from an upgrade. It runs the module's start function but no entry point.
	Instantiate(ctx context.Context, stable []byte) (Instance, error)
	// InstantiateKeep makes the upgraded canister of install_code's wasm_memory_persistence =
	// opt keep (Motoko's enhanced orthogonal persistence): a fresh instance of this module with
	// old's Wasm memory and stable memory (globals start afresh). old is left unchanged.
	InstantiateKeep(ctx context.Context, old Instance) (Instance, error)
	Close(ctx context.Context) error
}

// ModuleInfo lists what a module exports and the metadata the replica serves from read_state.
type ModuleInfo struct {
	Hash    [32]byte // SHA-256 of the module as installed (the gzipped bytes if it was gzipped)
	Updates []string // names of canister_update exports
	Queries []string // names of canister_query and canister_composite_query exports
	// Has reports the optional entry points the module exports.
	HasInit, HasTimer, HasPreUpgrade, HasPostUpgrade, HasInspectMessage bool
	// Metadata is the module's icp:public and icp:private custom sections, by name without the
	// prefix (e.g. "candid:service").
	Metadata map[string]Metadata
	Wasm64   bool
}

// Metadata is one icp:public or icp:private custom section.
type Metadata struct {
	Public bool
	Data   []byte
}

// Instance is one canister's live state. Its methods must not be called concurrently, except
// that queries (Run of EntryQuery) may run while no other message runs.
type Instance interface {
	// Run executes m. Updates, init, timers, upgrade hooks and callbacks commit unless they trap;
	// a query never changes the instance.
	Run(ctx context.Context, m *Message) *Result
	// Stable returns a copy of the stable memory (for an upgrade and for persistence).
	Stable() []byte
	// Snapshot returns the instance's whole state (heap, globals, stable memory) as bytes that
	// Restore accepts, to persist a canister across replica restarts.
	Snapshot() ([]byte, error)
	// Restore replaces the instance's state by a Snapshot of an instance of the same module.
	Restore(snapshot []byte) error
	Close(ctx context.Context) error
}

// Host compiles modules; one Host serves a replica and caches compiled code.
type Host interface {
	// Compile checks the module against the IC's rules (gzip-compressed modules accepted),
	// instruments it for metering and compiles it. An *InvalidModuleError says which rule failed.
	Compile(ctx context.Context, wasm []byte) (Module, error)
	Close(ctx context.Context) error
}

// InvalidModuleError is a module that the IC would refuse to install.
type InvalidModuleError struct {
	// Rule is the rule that failed, in the words of the IC's message.
	Rule string
}

// Error implements error.
func (e *InvalidModuleError) Error() string { return "invalid Wasm module: " + e.Rule }

// ErrClosed is returned after Close.
var ErrClosed = errors.New("wasmhost: closed")
