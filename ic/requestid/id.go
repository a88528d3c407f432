// Package requestid implements the representation-independent hash of the
// Internet Computer HTTP interface (hash_of_map) and the request ids built on
// it.
//
// A request id is hash_of_map of a request's content map. Both sides of the
// interface need it: an agent to sign what it sends, a replica to check what
// arrived. A replica must hash every field that arrived, including fields it
// does not know, so HashOfMap accepts the generic values a CBOR decoder
// produces as well as the Go types an agent builds.
package requestid

import (
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
)

// Size is the length of a request id in bytes.
const Size = 32

// DomainSeparator is prepended to a request id to form the message that the
// sender signs (`\x0Aic-request`).
const DomainSeparator = "\x0Aic-request"

// ErrInvalidID is returned (wrapped) when a request id cannot be parsed.
var ErrInvalidID = errors.New("requestid: invalid request id")

// ID is a request id: the SHA-256 hash_of_map of a request's content.
// It is comparable and usable as a map key.
type ID [Size]byte

// String returns the id as lower-case hex without a prefix.
func (id ID) String() string {
	return hex.EncodeToString(id[:])
}

// Bytes returns a copy of the id's 32 bytes.
func (id ID) Bytes() []byte {
	b := make([]byte, Size)
	copy(b, id[:])
	return b
}

// Signable returns the bytes a sender signs for this request:
// `\x0Aic-request` followed by the id.
func (id ID) Signable() []byte {
	b := make([]byte, 0, len(DomainSeparator)+Size)
	b = append(b, DomainSeparator...)
	return append(b, id[:]...)
}

// MarshalText encodes the id as lower-case hex.
func (id ID) MarshalText() ([]byte, error) {
	b := make([]byte, hex.EncodedLen(Size))
	hex.Encode(b, id[:])
	return b, nil
}

// UnmarshalText parses hex text as accepted by Parse.
func (id *ID) UnmarshalText(text []byte) error {
	v, err := Parse(string(text))
	if err != nil {
		return err
	}
	*id = v
	return nil
}

// Parse parses a request id from 64 hex digits, optionally prefixed by "0x"
// or "0X". Both letter cases are accepted.
func Parse(s string) (ID, error) {
	h := s
	if strings.HasPrefix(h, "0x") || strings.HasPrefix(h, "0X") {
		h = h[2:]
	}
	var id ID
	if len(h) != 2*Size {
		return id, fmt.Errorf("%w: %q has %d hex digits, want %d", ErrInvalidID, s, len(h), 2*Size)
	}
	if _, err := hex.Decode(id[:], []byte(h)); err != nil {
		return ID{}, fmt.Errorf("%w: %q: %w", ErrInvalidID, s, err)
	}
	return id, nil
}

// FromBytes returns the id held in b, which must be exactly 32 bytes long.
func FromBytes(b []byte) (ID, error) {
	var id ID
	if len(b) != Size {
		return id, fmt.Errorf("%w: %d bytes, want %d", ErrInvalidID, len(b), Size)
	}
	copy(id[:], b)
	return id, nil
}
