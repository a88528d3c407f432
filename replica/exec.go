package replica

import (
	"fmt"
	"log/slog"

	"github.com/icws/icws/cdk"
	"github.com/icws/icws/ic/envelope"
	"github.com/icws/icws/ic/principal"
	"github.com/icws/icws/replica/wasmhost"
)

// Error codes of the IC, as DFINITY's replica reports them.
const (
	errCanisterIDAlreadyExists    = "IC0205"
	errCanisterNotFound           = "IC0301"
	errCanisterRejectedMessage    = "IC0406"
	errUnknownManagementMessage   = "IC0407"
	errInvalidManagementPayload   = "IC0408"
	errCanisterTrapped            = "IC0502"
	errCanisterCalledTrap         = "IC0503"
	errCanisterContractViolation  = "IC0504"
	errCanisterInvalidWasm        = "IC0505"
	errCanisterDidNotReply        = "IC0506"
	errCanisterOutOfMemory        = "IC0507"
	errCanisterStopped            = "IC0508"
	errCanisterStopping           = "IC0509"
	errCanisterNotStopped         = "IC0510"
	errCanisterInvalidController  = "IC0512"
	errCanisterInstructionLimit   = "IC0522"
	errCanisterMethodNotFound     = "IC0536"
	errCanisterWasmModuleNotFound = "IC0537"
)

// MaxCertifiedDataSize is the largest certified data a canister may set, in bytes.
const MaxCertifiedDataSize = 32

// msgKind is the kind of message a System serves; it decides which system calls are allowed.
type msgKind int

const (
	kindUpdate msgKind = iota
	kindQuery
	kindInit
	kindTimer
	kindPreUpgrade
	kindPostUpgrade
)

func (k msgKind) String() string {
	switch k {
	case kindUpdate:
		return "update"
	case kindQuery:
		return "query"
	case kindInit:
		return "canister_init"
	case kindPreUpgrade:
		return "canister_pre_upgrade"
	case kindPostUpgrade:
		return "canister_post_upgrade"
	default:
		return "canister_global_timer"
	}
}

// answers reports whether a message of kind k has a caller to answer.
func (k msgKind) answers() bool { return k == kindUpdate || k == kindQuery }

// outcome is what one message produced: a reply, a reject or a trap.
type outcome struct {
	replied    bool
	reply      []byte
	rejectCode envelope.RejectCode
	rejectMsg  string
	errorCode  string
}

// system implements cdk.System for one message. Changes to certified data and the global timer
// are buffered here and applied by the caller only if the message did not trap.
type system struct {
	kind   msgKind
	caller principal.Principal
	self   principal.Principal
	time   uint64
	arg    []byte
	method string
	log    *slog.Logger
	name   string // the canister's registered name, for logs

	// dataCert is returned by DataCertificate (queries only).
	dataCert []byte

	answered  bool
	replied   bool
	reply     []byte
	rejectMsg string

	certSet  bool
	certData []byte

	timer    uint64 // the canister's global timer as this message sees it
	timerSet bool

	finished bool // the method returned; later calls are misuse
}

var _ cdk.System = (*system)(nil)

// trap aborts the message, like ic0.trap.
func (s *system) trap(format string, args ...any) {
	panic(&cdk.TrapError{Message: fmt.Sprintf(format, args...)})
}

func (s *system) Caller() principal.Principal { return s.caller }
func (s *system) Self() principal.Principal   { return s.self }
func (s *system) Time() uint64                { return s.time }
func (s *system) MethodName() string          { return s.method }

func (s *system) Arg() []byte {
	// The argument is shared with the caller's request; hand out a copy so that a canister that
	// keeps or changes it cannot reach into the replica.
	return append([]byte(nil), s.arg...)
}

func (s *system) Reply(data []byte) {
	s.checkLive("Reply")
	if !s.kind.answers() {
		s.trap("ic0.msg_reply cannot be called in %s", s.kind)
	}
	if s.answered {
		s.trap("ic0.msg_reply: the message was already answered")
	}
	s.answered, s.replied = true, true
	s.reply = append(make([]byte, 0, len(data)), data...)
}

func (s *system) Reject(message string) {
	s.checkLive("Reject")
	if !s.kind.answers() {
		s.trap("ic0.msg_reject cannot be called in %s", s.kind)
	}
	if s.answered {
		s.trap("ic0.msg_reject: the message was already answered")
	}
	s.answered = true
	s.rejectMsg = message
}

func (s *system) Trap(message string) {
	s.checkLive("Trap")
	panic(&cdk.TrapError{Message: message})
}

func (s *system) SetCertifiedData(data []byte) {
	s.checkLive("SetCertifiedData")
	if s.kind == kindQuery {
		s.trap("ic0.certified_data_set cannot be called in a query")
	}
	if s.kind == kindPreUpgrade {
		s.trap("ic0.certified_data_set cannot be called in canister_pre_upgrade")
	}
	if len(data) > MaxCertifiedDataSize {
		s.trap("ic0.certified_data_set: certified data is %d bytes, at most %d allowed", len(data), MaxCertifiedDataSize)
	}
	s.certSet = true
	s.certData = append(make([]byte, 0, len(data)), data...)
}

func (s *system) DataCertificate() []byte {
	if s.dataCert == nil {
		return nil
	}
	return append([]byte(nil), s.dataCert...)
}

func (s *system) Print(message string) {
	s.log.Info("canister print", "canister", s.name, "id", s.self.String(), "message", message)
}

func (s *system) SetGlobalTimer(ns uint64) uint64 {
	s.checkLive("SetGlobalTimer")
	if s.kind == kindQuery {
		s.trap("ic0.global_timer_set cannot be called in a query")
	}
	prev := s.timer
	s.timer, s.timerSet = ns, true
	return prev
}

// checkLive refuses system calls after the method returned (a canister kept its System).
// Such a call cannot trap the message any more; it panics, and the panic is the canister's.
func (s *system) checkLive(call string) {
	if s.finished {
		panic(fmt.Sprintf("replica: canister %s called System.%s after its method returned", s.name, call))
	}
}

// trapInfo describes a trapped message.
type trapInfo struct {
	message  string
	explicit bool // ic0.trap (cdk Trap) rather than another panic
}

// invoke runs m with s and recovers a trap or any other panic.
func invoke(m cdk.Method, s *system) (trap *trapInfo) {
	defer func() {
		s.finished = true
		if v := recover(); v != nil {
			trap = trapOf(v)
		}
	}()
	m(s)
	return nil
}

// guard runs f (a Transactional hook of canister code) and recovers a panic.
func guard(f func()) (trap *trapInfo) {
	defer func() {
		if v := recover(); v != nil {
			trap = trapOf(v)
		}
	}()
	f()
	return nil
}

func trapOf(v any) *trapInfo {
	if te, ok := v.(*cdk.TrapError); ok {
		return &trapInfo{message: te.Message, explicit: true}
	}
	return &trapInfo{message: fmt.Sprintf("canister panicked: %v", v)}
}

// trapOutcome is the reject a trapped message produces, in the IC's words for each kind of trap.
func trapOutcome(self principal.Principal, res *wasmhost.Result) outcome {
	o := outcome{rejectCode: envelope.CanisterError}
	switch res.TrapKind {
	case wasmhost.TrapExplicit:
		o.errorCode = errCanisterCalledTrap
		o.rejectMsg = fmt.Sprintf("Error from Canister %s: Canister called `ic0.trap` with message: '%s'.", self, res.Trap)
	case wasmhost.TrapInstructionLimit:
		o.errorCode = errCanisterInstructionLimit
		o.rejectMsg = fmt.Sprintf("Error from Canister %s: %s", self, res.Trap)
	case wasmhost.TrapContractViolation:
		o.errorCode = errCanisterContractViolation
		o.rejectMsg = fmt.Sprintf("Error from Canister %s: Canister violated contract: %s", self, res.Trap)
	case wasmhost.TrapOutOfMemory:
		o.errorCode = errCanisterOutOfMemory
		o.rejectMsg = fmt.Sprintf("Error from Canister %s: Canister ran out of memory: %s", self, res.Trap)
	default:
		o.errorCode = errCanisterTrapped
		o.rejectMsg = fmt.Sprintf("Error from Canister %s: Canister trapped: %s.", self, res.Trap)
	}
	return o
}

// resultOutcome is the outcome of a message that ran: its reply or reject, a trap, or "did not
// reply".
func resultOutcome(self principal.Principal, res *wasmhost.Result) outcome {
	switch {
	case res.TrapKind != wasmhost.TrapNone:
		return trapOutcome(self, res)
	case res.Replied:
		return replyOutcome(res.Reply)
	case res.Rejected:
		return outcome{rejectCode: envelope.CanisterReject, errorCode: errCanisterRejectedMessage, rejectMsg: res.RejectMessage}
	}
	return outcome{
		rejectCode: envelope.CanisterError,
		errorCode:  errCanisterDidNotReply,
		rejectMsg:  fmt.Sprintf("Error from Canister %s: Canister did not reply to the call.", self),
	}
}

// emptyReply is the Candid encoding of no values, "()".
var emptyReply = []byte("DIDL\x00\x00")

// replyOutcome is a reply with data.
func replyOutcome(data []byte) outcome { return outcome{replied: true, reply: data} }

func noMethodOutcome(self principal.Principal, kind, method string) outcome {
	return outcome{
		rejectCode: envelope.DestinationInvalid,
		errorCode:  errCanisterMethodNotFound,
		rejectMsg:  fmt.Sprintf("Error from Canister %s: Canister has no %s method '%s'.", self, kind, method),
	}
}

func canisterNotFound(id principal.Principal) outcome {
	return outcome{
		rejectCode: envelope.DestinationInvalid,
		errorCode:  errCanisterNotFound,
		rejectMsg:  fmt.Sprintf("Canister %s not found", id),
	}
}
