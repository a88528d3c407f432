// Package cdk is the runtime API that icws canisters are written against.
//
// It is shaped after the Internet Computer's system API (ic0): a canister is a set of exported
// methods, and while one of them runs, the canister reaches the world only through the System it is
// handed: its caller, its own id, the time, the argument, the reply or reject, certified data, the
// data certificate, debug printing and the global timer. Canister code never starts goroutines,
// never reads the wall clock and never shares globals with its host. The replica (package replica)
// is one host of this API; a Wasm build with ic0 imports is meant to be another.
package cdk

import (
	"fmt"

	"github.com/icws/icws/ic/principal"
)

// System is what a canister method may do while it runs; one System serves one message.
// A System must not be kept or used after the method returns.
type System interface {
	// Caller is the principal that sent the message (ic0.msg_caller). For the global timer it is
	// the canister itself.
	Caller() principal.Principal
	// Self is the canister's own id (ic0.canister_self).
	Self() principal.Principal
	// Time is the IC time in nanoseconds since the Unix epoch (ic0.time). It does not change
	// during one message.
	Time() uint64
	// Arg is the message's argument, Candid bytes (ic0.msg_arg_data).
	Arg() []byte
	// MethodName is the name of the method being run (ic0.msg_method_name).
	MethodName() string
	// Reply answers the message with data (ic0.msg_reply_data_append and ic0.msg_reply). A method
	// must reply or reject exactly once; a second answer traps.
	Reply(data []byte)
	// Reject answers the message with a reject of code CANISTER_REJECT (4) and the given message
	// (ic0.msg_reject).
	Reject(message string)
	// Trap aborts the message (ic0.trap): every change the message made is rolled back and the
	// caller gets a reject of code CANISTER_ERROR (5) carrying message. Trap does not return.
	Trap(message string)
	// SetCertifiedData sets the canister's certified data, at most 32 bytes
	// (ic0.certified_data_set). It traps in a query.
	SetCertifiedData(data []byte)
	// DataCertificate returns the certificate of the canister's certified data
	// (ic0.data_certificate_copy). It is nil except in a query called from outside the IC.
	DataCertificate() []byte
	// Print writes a debug message to the host's log (ic0.debug_print).
	Print(message string)
	// SetGlobalTimer asks for the canister's Timer to run at the given IC time in nanoseconds
	// (0 cancels) and returns the previous setting (ic0.global_timer_set). It traps in a query.
	SetGlobalTimer(ns uint64) uint64
}

// Method is a canister method: it reads its argument from ic and replies or rejects through it.
type Method func(ic System)

// Canister is a canister's exported entry points, the Go form of a Wasm module's
// `canister_update <name>`, `canister_query <name>`, `canister_init` and `canister_global_timer`.
type Canister struct {
	// Init runs once when the canister is installed (canister_init); nil means nothing to do.
	Init Method
	// Updates are the update methods by name (canister_update <name>).
	Updates map[string]Method
	// Queries are the query methods by name (canister_query <name>). They see the state of the
	// last committed update and must not change it.
	Queries map[string]Method
	// Timer runs when the global timer fires (canister_global_timer); nil means none.
	Timer Method
	// PreUpgrade runs before an upgrade replaces the canister's code (canister_pre_upgrade) and
	// returns the state to keep; nil (the field or the result) keeps nothing. A Wasm host writes
	// the bytes to stable memory.
	PreUpgrade func(ic System) []byte
	// PostUpgrade runs after an upgrade installed the new code (canister_post_upgrade), in place
	// of Init, with what the old code's PreUpgrade returned (nil if nothing); ic.Arg is the
	// upgrade's argument.
	PostUpgrade func(ic System, saved []byte)
	// Candid is the canister's Candid service description (a .did file's text), published as the
	// module's icp:public candid:service metadata by icws build; websocket.Server.Register sets it
	// to the WebSocket interface when it is empty.
	Candid string
	// State, when not nil, lets the host roll back what a trapped message changed. A Wasm host
	// rolls memory back by itself and never calls it.
	State Transactional
}

// Transactional is canister state that the host can roll back. Before each update, init or timer
// message the host calls Begin; after a message that returned normally, Commit; after a trap,
// Rollback, which must restore the state Begin saw. Calls never nest.
type Transactional interface {
	Begin()
	Commit()
	Rollback()
}

// TrapError is the panic value of System.Trap. Hosts recover it and turn it into a reject of code
// CANISTER_ERROR; canister code never needs to see it.
type TrapError struct {
	Message string
}

// Error implements error.
func (e *TrapError) Error() string { return "canister trapped: " + e.Message }

// Trapf traps with a formatted message.
func Trapf(ic System, format string, args ...any) {
	ic.Trap(fmt.Sprintf(format, args...))
}
