// Package principal implements Internet Computer principals: the ids of users, canisters and
// subnets. A principal is at most 29 bytes; its textual form is the lower-case base32 of a CRC32
// checksum followed by the bytes, grouped by five characters with dashes.
package principal

import (
	"crypto/sha256"
	"encoding/base32"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"strings"

	"github.com/fxamacker/cbor/v2"
)

// MaxLength is the greatest number of bytes in a principal.
const MaxLength = 29

// Classes of principals, given by their last byte.
const (
	classOpaque             = 0x01
	classSelfAuthenticating = 0x02
	classAnonymous          = 0x04
)

// ErrInvalid is wrapped by every error of Decode and FromBytes.
var ErrInvalid = errors.New("invalid principal")

var encoding = base32.StdEncoding.WithPadding(base32.NoPadding)

// Principal is an IC principal. The zero value is the management canister (no bytes).
// Principals are comparable and may be used as map keys.
type Principal struct {
	raw string
}

// FromBytes returns the principal with the given bytes, at most MaxLength of them.
func FromBytes(b []byte) (Principal, error) {
	if len(b) > MaxLength {
		return Principal{}, fmt.Errorf("%w: %d bytes, at most %d allowed", ErrInvalid, len(b), MaxLength)
	}
	return Principal{raw: string(b)}, nil
}

// Decode parses the textual form of a principal, such as "ryjl3-tyaaa-aaaaa-aaaba-cai". Only the
// canonical form is accepted: lower case, dashes after every five characters, a matching checksum.
func Decode(text string) (Principal, error) {
	if len(text) > 63 {
		return Principal{}, fmt.Errorf("%w: %q is longer than 63 characters", ErrInvalid, text)
	}
	if text != strings.ToLower(text) {
		return Principal{}, fmt.Errorf("%w: %q must be lower case", ErrInvalid, text)
	}
	compact := strings.ReplaceAll(text, "-", "")
	data, err := encoding.DecodeString(strings.ToUpper(compact))
	if err != nil {
		return Principal{}, fmt.Errorf("%w: %q is not base32: %v", ErrInvalid, text, err)
	}
	if len(data) < 4 {
		return Principal{}, fmt.Errorf("%w: %q is too short to hold a checksum", ErrInvalid, text)
	}
	p, err := FromBytes(data[4:])
	if err != nil {
		return Principal{}, err
	}
	if binary.BigEndian.Uint32(data[:4]) != crc32.ChecksumIEEE(data[4:]) {
		return Principal{}, fmt.Errorf("%w: %q has a wrong checksum (a typo?)", ErrInvalid, text)
	}
	if p.String() != text {
		return Principal{}, fmt.Errorf("%w: %q is not in canonical form (expected %q)", ErrInvalid, text, p.String())
	}
	return p, nil
}

// MustDecode is like Decode but panics on error. It is meant for constants in programs and tests.
func MustDecode(text string) Principal {
	p, err := Decode(text)
	if err != nil {
		panic(err)
	}
	return p
}

// Anonymous returns the anonymous principal, "2vxsx-fae".
func Anonymous() Principal { return Principal{raw: "\x04"} }

// Management returns the management canister's id, "aaaaa-aa" (no bytes).
func Management() Principal { return Principal{} }

// SelfAuthenticating returns the principal of a DER-encoded public key: SHA-224 of the key
// followed by the byte 0x02.
func SelfAuthenticating(derPublicKey []byte) Principal {
	sum := sha256.Sum224(derPublicKey)
	return Principal{raw: string(append(sum[:], classSelfAuthenticating))}
}

// CanisterID returns the id of the canister with the given index: the index as 8 big-endian
// bytes followed by 0x01 0x01.
func CanisterID(index uint64) Principal {
	var b [10]byte
	binary.BigEndian.PutUint64(b[:8], index)
	b[8], b[9] = classOpaque, classOpaque
	return Principal{raw: string(b[:])}
}

// CanisterIndex returns the index of a canister id made by CanisterID, and false for any other
// principal.
func (p Principal) CanisterIndex() (uint64, bool) {
	if len(p.raw) != 10 || p.raw[8] != classOpaque || p.raw[9] != classOpaque {
		return 0, false
	}
	return binary.BigEndian.Uint64([]byte(p.raw[:8])), true
}

// Bytes returns a copy of the principal's bytes.
func (p Principal) Bytes() []byte { return []byte(p.raw) }

// Len returns the number of bytes in the principal.
func (p Principal) Len() int { return len(p.raw) }

// IsAnonymous reports whether p is the anonymous principal.
func (p Principal) IsAnonymous() bool { return p.raw == "\x04" }

// IsSelfAuthenticating reports whether p is the principal of a public key.
func (p Principal) IsSelfAuthenticating() bool {
	return len(p.raw) == MaxLength && p.raw[MaxLength-1] == classSelfAuthenticating
}

// Compare orders principals bytewise; a proper prefix sorts first.
func (p Principal) Compare(q Principal) int { return strings.Compare(p.raw, q.raw) }

// String returns the textual form of the principal.
func (p Principal) String() string {
	buf := make([]byte, 4, 4+len(p.raw))
	binary.BigEndian.PutUint32(buf, crc32.ChecksumIEEE([]byte(p.raw)))
	buf = append(buf, p.raw...)
	enc := strings.ToLower(encoding.EncodeToString(buf))
	var sb strings.Builder
	sb.Grow(len(enc) + len(enc)/5)
	for i := 0; i < len(enc); i += 5 {
		if i > 0 {
			sb.WriteByte('-')
		}
		sb.WriteString(enc[i:min(i+5, len(enc))])
	}
	return sb.String()
}

// MarshalText implements encoding.TextMarshaler with the textual form.
func (p Principal) MarshalText() ([]byte, error) { return []byte(p.String()), nil }

// UnmarshalText implements encoding.TextUnmarshaler with Decode.
func (p *Principal) UnmarshalText(text []byte) error {
	q, err := Decode(string(text))
	if err != nil {
		return err
	}
	*p = q
	return nil
}

// MarshalCBOR encodes the principal as a CBOR byte string, as the IC does.
func (p Principal) MarshalCBOR() ([]byte, error) { return cbor.Marshal([]byte(p.raw)) }

// UnmarshalCBOR decodes a principal from a CBOR byte string.
func (p *Principal) UnmarshalCBOR(data []byte) error {
	var b []byte
	if err := cbor.Unmarshal(data, &b); err != nil {
		return fmt.Errorf("%w: want a CBOR byte string: %v", ErrInvalid, err)
	}
	q, err := FromBytes(b)
	if err != nil {
		return err
	}
	*p = q
	return nil
}

// Equal reports whether p and q are the same principal.
func (p Principal) Equal(q Principal) bool { return p.raw == q.raw }
