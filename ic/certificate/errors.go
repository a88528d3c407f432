package certificate

import (
	"errors"
	"fmt"
	"time"

	"github.com/icws/icws/ic/principal"
)

// Sentinel errors. Every error of Parse and Verifier wraps one of them; test with errors.Is.
var (
	// ErrMalformed: the certificate (or its delegation certificate, or a value it certifies such as
	// /time or the canister ranges) is not well-formed CBOR of the expected shape.
	ErrMalformed = errors.New("malformed certificate")
	// ErrBadSignature: a BLS signature does not verify. Either the data was tampered with or the
	// verifier has the wrong root key.
	ErrBadSignature = errors.New("certificate signature does not verify")
	// ErrBadKey: the root key or a subnet key is not a DER-wrapped BLS12-381 G2 public key.
	ErrBadKey = errors.New("invalid BLS public key")
	// ErrNestedDelegation: the delegation certificate carries a delegation of its own.
	ErrNestedDelegation = errors.New("delegation certificate has a delegation of its own (only one level is allowed)")
	// ErrInvalidDelegation: the delegation certificate does not reveal what it must (the subnet's
	// public key, its canister ranges), or is for another subnet than the one asked for.
	ErrInvalidDelegation = errors.New("invalid subnet delegation")
	// ErrNotAuthorized: the delegation does not cover the canister (it is outside the subnet's
	// canister ranges). Returned as a *NotAuthorizedError.
	ErrNotAuthorized = errors.New("certificate not authorized")
	// ErrStale: the certificate (or its delegation) is older than the maximum age. Returned as a
	// *TimeError.
	ErrStale = errors.New("certificate is too old")
	// ErrFuture: the certificate's time is ahead of the local clock by more than the allowed skew.
	// Returned as a *TimeError.
	ErrFuture = errors.New("certificate time is in the future")
)

// NotAuthorizedError says that a delegated certificate speaks for a subnet whose canister ranges do
// not include the canister. It matches ErrNotAuthorized with errors.Is.
type NotAuthorizedError struct {
	Canister principal.Principal
	Subnet   principal.Principal
	Reason   string // why, e.g. "outside the subnet's canister ranges"
}

// Error returns "certificate not authorized for canister <id>: ...".
func (e *NotAuthorizedError) Error() string {
	return fmt.Sprintf("certificate not authorized for canister %s: %s of subnet %s (was the certificate fetched for another canister?)",
		e.Canister, e.Reason, e.Subnet)
}

// Is reports whether target is ErrNotAuthorized.
func (e *NotAuthorizedError) Is(target error) bool { return target == ErrNotAuthorized }

// TimeError says that a certificate's /time is outside the accepted window. It matches ErrStale
// or ErrFuture with errors.Is.
type TimeError struct {
	Time       time.Time     // the certificate's /time
	Now        time.Time     // the local clock
	Limit      time.Duration // the maximum age, or the allowed future skew
	Future     bool          // the certificate is from the future (else: too old)
	Delegation bool          // the time is that of the delegation certificate
}

// Error describes the failure and what to check.
func (e *TimeError) Error() string {
	what := "certificate"
	if e.Delegation {
		what = "delegation certificate"
	}
	if e.Future {
		return fmt.Sprintf("%s time %s is %s ahead of the local clock %s (at most %s allowed): is the local clock synchronized?",
			what, e.Time.UTC().Format(time.RFC3339Nano), e.Time.Sub(e.Now).Round(time.Millisecond), e.Now.UTC().Format(time.RFC3339Nano), e.Limit)
	}
	return fmt.Sprintf("%s time %s is %s older than the local clock %s (at most %s allowed): is the local clock synchronized, or is the replica's clock frozen?",
		what, e.Time.UTC().Format(time.RFC3339Nano), e.Now.Sub(e.Time).Round(time.Millisecond), e.Now.UTC().Format(time.RFC3339Nano), e.Limit)
}

// Is reports whether target is ErrFuture (for a time in the future) or ErrStale (otherwise).
func (e *TimeError) Is(target error) bool {
	if e.Future {
		return target == ErrFuture
	}
	return target == ErrStale
}
