package candid

import (
	"errors"
	"math/big"

	"github.com/icws/icws/ic/principal"
)

// Nat is a Candid nat: a natural number of any size. The zero value is 0. A Nat is immutable and
// may be copied; values up to 2^64-1 are held without allocation.
type Nat struct {
	small uint64
	big   *big.Int // nil unless the value exceeds 64 bits; never modified
}

// NatOf returns the Nat of v.
func NatOf(v uint64) Nat { return Nat{small: v} }

// NatFromBig returns the Nat of v, which must not be negative. v is copied.
func NatFromBig(v *big.Int) (Nat, error) {
	if v.Sign() < 0 {
		return Nat{}, errors.New("candid: negative value for nat")
	}
	return natFromBigOwned(new(big.Int).Set(v)), nil
}

// natFromBigOwned takes ownership of v, which is not negative.
func natFromBigOwned(v *big.Int) Nat {
	if v.IsUint64() {
		return Nat{small: v.Uint64()}
	}
	return Nat{big: v}
}

// Big returns n as a new big.Int.
func (n Nat) Big() *big.Int {
	if n.big != nil {
		return new(big.Int).Set(n.big)
	}
	return new(big.Int).SetUint64(n.small)
}

// Uint64 returns n and whether it fits in 64 bits.
func (n Nat) Uint64() (uint64, bool) { return n.small, n.big == nil }

// Equal reports whether n and m are the same number.
func (n Nat) Equal(m Nat) bool {
	if n.big == nil || m.big == nil {
		return n.big == nil && m.big == nil && n.small == m.small
	}
	return n.big.Cmp(m.big) == 0
}

// String returns n in decimal.
func (n Nat) String() string { return n.Big().String() }

// Int is a Candid int: an integer of any size. The zero value is 0. An Int is immutable and may be
// copied; values that fit in 64 bits are held without allocation.
type Int struct {
	small int64
	big   *big.Int // nil unless the value exceeds 64 bits; never modified
}

// IntOf returns the Int of v.
func IntOf(v int64) Int { return Int{small: v} }

// IntFromBig returns the Int of v. v is copied.
func IntFromBig(v *big.Int) Int { return intFromBigOwned(new(big.Int).Set(v)) }

func intFromBigOwned(v *big.Int) Int {
	if v.IsInt64() {
		return Int{small: v.Int64()}
	}
	return Int{big: v}
}

// Big returns i as a new big.Int.
func (i Int) Big() *big.Int {
	if i.big != nil {
		return new(big.Int).Set(i.big)
	}
	return big.NewInt(i.small)
}

// Int64 returns i and whether it fits in 64 bits.
func (i Int) Int64() (int64, bool) { return i.small, i.big == nil }

// Equal reports whether i and j are the same number.
func (i Int) Equal(j Int) bool {
	if i.big == nil || j.big == nil {
		return i.big == nil && j.big == nil && i.small == j.small
	}
	return i.big.Cmp(j.big) == 0
}

// String returns i in decimal.
func (i Int) String() string { return i.Big().String() }

// Null is the Candid null type and its only value.
type Null struct{}

// Reserved is the Candid reserved type. Any value decodes at reserved (and is discarded); it
// encodes as nothing.
type Reserved struct{}

// Empty is the Candid empty type, which has no values: decoding at it always fails and encoding
// it is an error. It is useful in variant alternatives that must never occur.
type Empty struct{}

// Opt is the generic value of an opt type (see DecodeValues): Valid is false for null.
type Opt struct {
	Value any
	Valid bool
}

// Record is the generic value of a record type (see DecodeValues): its fields sorted by id.
type Record []FieldValue

// FieldValue is one field of a Record.
type FieldValue struct {
	ID    uint32
	Name  string // the name from the expected type, if it has one
	Value any
}

// Get returns the value of the field with the given name and whether it is present.
func (r Record) Get(name string) (any, bool) { return r.GetID(Hash(name)) }

// GetID returns the value of the field with the given id and whether it is present.
func (r Record) GetID(id uint32) (any, bool) {
	for _, f := range r {
		if f.ID == id {
			return f.Value, true
		}
	}
	return nil, false
}

// Variant is the generic value of a variant type (see DecodeValues).
type Variant struct {
	ID    uint32
	Name  string // the name from the expected type, if it has one
	Value any
}

// Func is a function reference: a public method of a service.
type Func struct {
	Service principal.Principal
	Method  string
}
