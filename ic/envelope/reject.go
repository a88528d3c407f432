package envelope

import "strconv"

// RejectCode classifies a reject (interface spec "Reject codes").
type RejectCode uint64

// Reject codes.
const (
	SysFatal           RejectCode = 1 // fatal system error, retry unlikely to help
	SysTransient       RejectCode = 2 // transient system error, retry may help
	DestinationInvalid RejectCode = 3 // e.g. the canister does not exist
	CanisterReject     RejectCode = 4 // explicit reject by the canister
	CanisterError      RejectCode = 5 // trap, no response, stopped canister
	SysUnknown         RejectCode = 6 // best-effort response unknown; not used on ingress
)

// String returns the spec's name of the code (SYS_FATAL ... SYS_UNKNOWN), or
// RejectCode(n) for a code it does not know.
func (c RejectCode) String() string {
	switch c {
	case SysFatal:
		return "SYS_FATAL"
	case SysTransient:
		return "SYS_TRANSIENT"
	case DestinationInvalid:
		return "DESTINATION_INVALID"
	case CanisterReject:
		return "CANISTER_REJECT"
	case CanisterError:
		return "CANISTER_ERROR"
	case SysUnknown:
		return "SYS_UNKNOWN"
	default:
		return "RejectCode(" + strconv.FormatUint(uint64(c), 10) + ")"
	}
}
