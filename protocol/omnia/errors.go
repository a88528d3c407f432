package omnia

import "errors"

// Sentinel errors of the Omnia protocol; the errors returned wrap them and say what was wrong.
var (
	// ErrMalformed is an argument, result, service message or CBOR message that does not decode
	// as its type.
	ErrMalformed = errors.New("omnia: malformed message")
	// ErrBadKey is a certified-tree message key that is not `<gateway principal>_<20 digits>`.
	ErrBadKey = errors.New("omnia: bad message key")
)
