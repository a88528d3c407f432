package protocol

import "errors"

// Sentinel errors of the wire protocol; the errors returned wrap them and say what was wrong.
var (
	// ErrMalformed is bad CBOR, a wrong type, a duplicate key or trailing bytes.
	ErrMalformed = errors.New("protocol: malformed message")
	// ErrMissingField is a message without one of its required keys.
	ErrMissingField = errors.New("protocol: missing field")
	// ErrBadSignature is a signature that does not verify (or is not 64 bytes).
	ErrBadSignature = errors.New("protocol: bad signature")
	// ErrBadPublicKey is a client key that is not a usable Ed25519 public key.
	ErrBadPublicKey = errors.New("protocol: bad public key")
	// ErrBadKey is a certified-map message key that is not `<gateway>_<20 digits>`.
	ErrBadKey = errors.New("protocol: bad message key")
)
