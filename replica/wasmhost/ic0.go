package wasmhost

import (
	"encoding/binary"
	"fmt"

	"github.com/icws/icws/ic/principal"
)

// ctxSet is a set of contexts (execution modes) in which an ic0 function may be called.
type ctxSet uint32

// The contexts of the interface spec's "Overview of imports" (s is the start function).
const (
	cInit ctxSet = 1 << iota // canister_init, canister_post_upgrade (I)
	cPreUpgrade
	cUpdate
	cRQuery  // replicated query
	cNRQuery // non-replicated query
	cReply
	cReject
	cCleanup
	cTimer
	cInspect
	cStart

	cAll    = cInit | cPreUpgrade | cUpdate | cRQuery | cNRQuery | cReply | cReject | cCleanup | cTimer | cInspect
	cAllS   = cAll | cStart
	cQuery  = cRQuery | cNRQuery
	cCalls  = cUpdate | cReply | cReject | cTimer | cNRQuery // composite queries may call
	cState  = cInit | cPreUpgrade | cUpdate | cReply | cReject | cCleanup | cTimer
	cAnswer = cUpdate | cQuery | cReply | cReject
)

// mode names the context as the IC's contract-violation messages do.
func (c ctxSet) mode() string {
	switch c {
	case cInit:
		return "init"
	case cPreUpgrade:
		return "pre_upgrade"
	case cUpdate:
		return "update"
	case cRQuery:
		return "replicated query"
	case cNRQuery:
		return "non-replicated query"
	case cReply:
		return "reply callback"
	case cReject:
		return "reject callback"
	case cCleanup:
		return "cleanup"
	case cTimer:
		return "system task"
	case cInspect:
		return "inspect message"
	case cStart:
		return "start"
	}
	return "unknown"
}

// ic0Func is what one function of the ic0 module does and where it may be called; its
// signature is ic/wasm's (wasm.IC0). args holds the parameters, masked to their width.
type ic0Func struct {
	name    string
	allowed ctxSet
	run     func(x *exec, args []uint64) uint64
}

// ic0Funcs implements every function of wasm.IC0, the ic0 system API of the interface spec.
func ic0Funcs() []ic0Func {
	copyOut := func(field func(x *exec) []byte) func(x *exec, a []uint64) uint64 {
		return func(x *exec, a []uint64) uint64 { x.copyOut(a[0], a[1], a[2], field(x)); return 0 }
	}
	size := func(field func(x *exec) []byte) func(x *exec, a []uint64) uint64 {
		return func(x *exec, _ []uint64) uint64 { return uint64(len(field(x))) }
	}
	cycles128 := func(v func(x *exec) uint64) func(x *exec, a []uint64) uint64 {
		return func(x *exec, a []uint64) uint64 { x.write128(a[len(a)-1], v(x)); return 0 }
	}
	zero := func(*exec, []uint64) uint64 { return 0 }
	arg := func(x *exec) []byte { return x.m.Arg }
	caller := func(x *exec) []byte { return x.m.Caller.Bytes() }
	self := func(x *exec) []byte { return x.m.Self.Bytes() }
	rejectMsg := func(x *exec) []byte { return []byte(x.m.RejectMessage) }
	method := func(x *exec) []byte { return []byte(x.m.Method) }
	cert := func(x *exec) []byte { return x.m.DataCertificate }
	rootKey := func(x *exec) []byte { return x.rootKey }
	subnet := func(x *exec) []byte { return x.subnet.Bytes() }
	balance := func(x *exec) uint64 { return x.m.Cycles }
	return []ic0Func{
		{"msg_arg_data_size", cInit | cUpdate | cQuery | cReply | cInspect, size(arg)},
		{"msg_arg_data_copy", cInit | cUpdate | cQuery | cReply | cInspect, copyOut(arg)},
		{"msg_caller_size", cAll, size(caller)},
		{"msg_caller_copy", cAll, copyOut(caller)},
		{"msg_reject_code", cReject, func(x *exec, _ []uint64) uint64 { return uint64(x.m.RejectCode) }},
		{"msg_reject_msg_size", cReject, size(rejectMsg)},
		{"msg_reject_msg_copy", cReject, copyOut(rejectMsg)},
		{"msg_deadline", cAnswer, zero},
		{"msg_reply_data_append", cAnswer, (*exec).replyAppend},
		{"msg_reply", cAnswer, (*exec).reply},
		{"msg_reject", cAnswer, (*exec).reject},
		{"msg_cycles_available", cUpdate | cReply | cReject, zero},
		{"msg_cycles_available128", cUpdate | cReply | cReject, cycles128(func(*exec) uint64 { return 0 })},
		{"msg_cycles_refunded", cReply | cReject, func(x *exec, _ []uint64) uint64 { return x.m.CyclesRefunded }},
		{"msg_cycles_refunded128", cReply | cReject, cycles128(func(x *exec) uint64 { return x.m.CyclesRefunded })},
		{"msg_cycles_accept", cUpdate | cReply | cReject, zero},
		{"msg_cycles_accept128", cUpdate | cReply | cReject, cycles128(func(*exec) uint64 { return 0 })},
		{"cycles_burn128", cState, cycles128(func(*exec) uint64 { return 0 })},
		{"canister_self_size", cAll, size(self)},
		{"canister_self_copy", cAll, copyOut(self)},
		{"canister_cycle_balance", cAll, func(x *exec, _ []uint64) uint64 { return balance(x) }},
		{"canister_cycle_balance128", cAll, cycles128(balance)},
		{"canister_liquid_cycle_balance128", cAll, cycles128(balance)},
		{"canister_status", cAll, func(x *exec, _ []uint64) uint64 { return uint64(x.m.Status) }},
		{"canister_version", cAll, func(x *exec, _ []uint64) uint64 { return x.m.Version }},
		{"subnet_self_size", cAll, size(subnet)},
		{"subnet_self_copy", cAll, copyOut(subnet)},
		{"msg_method_name_size", cInspect, size(method)},
		{"msg_method_name_copy", cInspect, copyOut(method)},
		{"accept_message", cInspect, (*exec).acceptMessage},
		{"call_new", cCalls, (*exec).callNew},
		{"call_on_cleanup", cCalls, (*exec).callOnCleanup},
		{"call_data_append", cCalls, (*exec).callDataAppend},
		{"call_with_best_effort_response", cCalls, (*exec).callBestEffort},
		{"call_cycles_add", cCalls, func(x *exec, a []uint64) uint64 { return x.callCycles(0, a[0]) }},
		{"call_cycles_add128", cCalls, func(x *exec, a []uint64) uint64 { return x.callCycles(a[0], a[1]) }},
		{"call_perform", cCalls, (*exec).callPerform},
		{"stable_size", cAllS, (*exec).stableSize32},
		{"stable_grow", cAllS, (*exec).stableGrow32},
		{"stable_write", cAllS, (*exec).stableWrite},
		{"stable_read", cAllS, (*exec).stableRead},
		{"stable64_size", cAllS, (*exec).stableSize},
		{"stable64_grow", cAllS, (*exec).stableGrow},
		{"stable64_write", cAllS, (*exec).stableWrite},
		{"stable64_read", cAllS, (*exec).stableRead},
		{"root_key_size", cAll, size(rootKey)},
		{"root_key_copy", cAll, copyOut(rootKey)},
		{"certified_data_set", cState, (*exec).certifiedDataSet},
		{"data_certificate_present", cAll, func(x *exec, _ []uint64) uint64 { return b2u(x.m.DataCertificate != nil) }},
		{"data_certificate_size", cNRQuery, size(cert)},
		{"data_certificate_copy", cNRQuery, copyOut(cert)},
		{"time", cAll, func(x *exec, _ []uint64) uint64 { return x.m.Time }},
		{"global_timer_set", cState, (*exec).globalTimerSet},
		{"performance_counter", cAllS, (*exec).performanceCounter},
		{"is_controller", cAll, (*exec).isController},
		{"in_replicated_execution", cAll, func(x *exec, _ []uint64) uint64 { return b2u(x.m.Replicated) }},
		{"cost_call", cAll, cycles128(func(*exec) uint64 { return 0 })},
		{"cost_create_canister", cAll, cycles128(func(*exec) uint64 { return 0 })},
		{"cost_http_request", cAll, cycles128(func(*exec) uint64 { return 0 })},
		{"cost_sign_with_ecdsa", cAll, func(x *exec, a []uint64) uint64 { x.write128(a[3], 0); return 0 }},
		{"cost_sign_with_schnorr", cAll, func(x *exec, a []uint64) uint64 { x.write128(a[3], 0); return 0 }},
		{"cost_vetkd_derive_key", cAll, func(x *exec, a []uint64) uint64 { x.write128(a[3], 0); return 0 }},
		{"mint_cycles128", cUpdate | cReply | cReject, cycles128(func(*exec) uint64 { return 0 })},
		{"debug_print", cAllS, (*exec).debugPrint},
		{"trap", cAllS, (*exec).trapCall},
	}
}

func b2u(b bool) uint64 {
	if b {
		return 1
	}
	return 0
}

// call0 runs the ic0 function f with its masked arguments in the message x, trapping (by
// unwinding with trapSignal) if f is not allowed in x's context.
func (x *exec) call0(f ic0Func, args []uint64) uint64 {
	x.fn = f.name
	if x.ctx&f.allowed == 0 {
		x.fail(TrapContractViolation, "%q cannot be executed in %s mode", "ic0_"+f.name, x.ctx.mode())
	}
	return f.run(x, args)
}

// trapSignal unwinds the engine's stack out of a host function; exec.trap holds the reason.
type trapSignal struct{}

// fail records a trap and unwinds.
func (x *exec) fail(kind TrapKind, format string, args ...any) {
	if x.res.TrapKind == TrapNone {
		x.res.TrapKind = kind
		x.res.Trap = fmt.Sprintf(format, args...)
	}
	panic(trapSignal{})
}

// mem returns size bytes of guest memory at ptr, trapping if they are out of bounds.
func (x *exec) mem(fn string, ptr, size uint64) []byte {
	b, ok := x.memory.Read64(ptr, size)
	if !ok {
		x.fail(TrapWasm, "ic0.%s: memory range [%d, %d+%d) is out of bounds", fn, ptr, ptr, size)
	}
	return b
}

// copyOut implements the *_copy functions: data[offset:offset+size] to dst.
func (x *exec) copyOut(dst, offset, size uint64, data []byte) {
	if offset > uint64(len(data)) || size > uint64(len(data))-offset {
		x.fail(TrapContractViolation, "ic0.%s: src=%d + length=%d exceeds the slice size=%d", x.fn, offset, size, len(data))
	}
	copy(x.mem(x.fn, dst, size), data[offset:offset+size])
}

func (x *exec) write128(dst, low uint64) {
	b := x.mem(x.fn, dst, 16)
	binary.LittleEndian.PutUint64(b, low)
	binary.LittleEndian.PutUint64(b[8:], 0)
}

// maxReply is the IC's limit on a reply or reject (2 MiB, plus a little for the envelope).
const maxReply = 2 << 20

func (x *exec) answered() {
	if x.res.Replied || x.res.Rejected || x.m.Entry == EntryCleanup {
		x.fail(TrapContractViolation, "ic0.%s: the message has already been replied or rejected", x.fn)
	}
}

func (x *exec) replyAppend(a []uint64) uint64 {
	x.answered()
	if uint64(len(x.replyBuf))+a[1] > maxReply {
		x.fail(TrapContractViolation, "ic0.msg_reply_data_append: application payload size (%d) cannot be larger than %d", uint64(len(x.replyBuf))+a[1], maxReply)
	}
	x.replyBuf = append(x.replyBuf, x.mem(x.fn, a[0], a[1])...)
	return 0
}

func (x *exec) reply([]uint64) uint64 {
	x.answered()
	x.res.Replied = true
	x.res.Reply = x.replyBuf
	if x.res.Reply == nil {
		x.res.Reply = []byte{}
	}
	return 0
}

func (x *exec) reject(a []uint64) uint64 {
	x.answered()
	if a[1] > maxReply {
		x.fail(TrapContractViolation, "ic0.msg_reject: reject message of %d bytes is too long", a[1])
	}
	x.res.Rejected = true
	x.res.RejectMessage = string(x.mem(x.fn, a[0], a[1]))
	return 0
}

func (x *exec) acceptMessage([]uint64) uint64 {
	if x.res.Accepted {
		x.fail(TrapContractViolation, "ic0.accept_message: the message was already accepted")
	}
	x.res.Accepted = true
	return 0
}

func (x *exec) callNew(a []uint64) uint64 {
	callee, err := principal.FromBytes(x.mem(x.fn, a[0], a[1]))
	if err != nil {
		x.fail(TrapContractViolation, "ic0.call_new: bad callee: %v", err)
	}
	x.pending = &Call{
		Callee: callee,
		Method: string(x.mem(x.fn, a[2], a[3])),
		Callback: Callback{
			Reply:  CallbackFunc{Fun: a[4], Env: a[5]},
			Reject: CallbackFunc{Fun: a[6], Env: a[7]},
		},
	}
	return 0
}

func (x *exec) call() *Call {
	if x.pending == nil {
		x.fail(TrapContractViolation, "ic0.%s: no call is being built (call ic0.call_new first)", x.fn)
	}
	return x.pending
}

func (x *exec) callOnCleanup(a []uint64) uint64 {
	c := x.call()
	if c.Callback.Cleanup != nil {
		x.fail(TrapContractViolation, "ic0.call_on_cleanup: the cleanup callback is already set")
	}
	c.Callback.Cleanup = &CallbackFunc{Fun: a[0], Env: a[1]}
	return 0
}

func (x *exec) callDataAppend(a []uint64) uint64 {
	c := x.call()
	if uint64(len(c.Arg))+a[1] > maxReply {
		x.fail(TrapContractViolation, "ic0.call_data_append: payload of %d bytes is over the %d-byte limit", uint64(len(c.Arg))+a[1], maxReply)
	}
	c.Arg = append(c.Arg, x.mem(x.fn, a[0], a[1])...)
	return 0
}

func (x *exec) callBestEffort(a []uint64) uint64 {
	c := x.call()
	if c.BestEffortTimeout != 0 {
		x.fail(TrapContractViolation, "ic0.call_with_best_effort_response: already called for this call")
	}
	c.BestEffortTimeout = max(uint32(a[0]), 1)
	return 0
}

func (x *exec) callCycles(high, low uint64) uint64 {
	c := x.call()
	if high != 0 {
		x.fail(TrapContractViolation, "ic0.%s: %d·2^64 cycles are more than the canister has", x.fn, high)
	}
	c.Cycles += low
	return 0
}

func (x *exec) callPerform([]uint64) uint64 {
	c := x.call()
	x.pending = nil
	x.res.Calls = append(x.res.Calls, *c)
	return 0
}

func (x *exec) certifiedDataSet(a []uint64) uint64 {
	if a[1] > 32 {
		x.fail(TrapContractViolation, "ic0.certified_data_set: certified data of %d bytes is over the 32-byte limit", a[1])
	}
	x.res.CertifiedData = append([]byte(nil), x.mem(x.fn, a[0], a[1])...)
	x.res.CertifiedDataSet = true
	return 0
}

func (x *exec) globalTimerSet(a []uint64) uint64 {
	old := x.m.Timer
	if x.res.TimerSet {
		old = x.res.Timer
	}
	x.res.Timer, x.res.TimerSet = a[0], true
	return old
}

func (x *exec) performanceCounter(a []uint64) uint64 {
	switch uint32(a[0]) {
	case 0, 1:
		return x.meter.instructions(x)
	}
	x.fail(TrapContractViolation, "ic0.performance_counter: unknown counter type %d", uint32(a[0]))
	return 0
}

func (x *exec) isController(a []uint64) uint64 {
	p, err := principal.FromBytes(x.mem(x.fn, a[0], a[1]))
	if err != nil {
		x.fail(TrapContractViolation, "ic0.is_controller: argument is not a principal: %v", err)
	}
	for _, c := range x.m.Controllers {
		if c == p {
			return 1
		}
	}
	return 0
}

// maxPrint is how much of one debug_print the host keeps.
const maxPrint = 64 << 10

func (x *exec) debugPrint(a []uint64) uint64 {
	b, ok := x.memory.Read64(a[0], min(a[1], maxPrint))
	if !ok { // the IC ignores a debug_print with a bad range
		return 0
	}
	x.res.Prints = append(x.res.Prints, string(b))
	return 0
}

func (x *exec) trapCall(a []uint64) uint64 {
	b, ok := x.memory.Read64(a[0], min(a[1], maxPrint))
	if !ok {
		b = []byte("(trap message out of bounds)")
	}
	x.fail(TrapExplicit, "%s", b)
	return 0
}
