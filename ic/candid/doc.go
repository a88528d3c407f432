// Package candid implements the Candid binary format (spec: dfinity/candid spec/Candid.md), the
// argument and reply encoding of Internet Computer canisters.
//
// Marshal encodes Go values, one per argument; Unmarshal decodes into Go values, applying the
// spec's subtyping rules so that a message written against a newer or older interface still
// decodes where the spec says it should. For tools that work without Go types, Type describes
// Candid types at run time; DecodeValues, Decode and EncodeValues work on generic values.
//
// # Go types and Candid types
//
//	bool                     bool
//	string                   text (must be valid UTF-8)
//	[]byte, [N]byte          blob (vec nat8); [N]byte needs exactly N bytes when decoding
//	uint8 .. uint64          nat8 .. nat64
//	int8 .. int64            int8 .. int64
//	float32, float64         float32, float64
//	candid.Nat, candid.Int   nat, int (unbounded)
//	candid.Null              null
//	candid.Reserved          reserved (decoding skips any value)
//	candid.Empty             empty
//	principal.Principal      principal
//	*T                       opt T (nil is null)
//	[]T, [N]T                vec T
//	struct                   record, or variant (below)
//	any                      decoding only: the value as it is on the wire, as a generic value
//
// A pointer is an opt: Marshal(&msg) encodes opt record { ... }, not the record; pass the value.
// Unmarshal takes pointers to the destinations, as usual.
//
// int and uint have no mapping (their size differs between platforms); maps, channels,
// functions and complex numbers neither.
//
// A struct is a record of its exported fields. A field's Candid name is given by its tag,
// `candid:"name"`, and is otherwise the Go field name; the field id is Hash(name). A tag that is
// a decimal number, `candid:"0"`, gives the id itself, for tuples. The tag `candid:"-"` leaves a
// field out.
//
// A struct is a variant when one of its fields carries the tag option variant. Each exported
// field is then an alternative and must be a pointer: when encoding exactly one must be non-nil;
// decoding sets exactly one. An alternative without data has type *candid.Null.
//
//	type Result struct {
//		Ok  *uint64 `candid:"Ok,variant"`
//		Err *string `candid:"Err,variant"`
//	}
//
// A blank marker field marks a variant as well: _ struct{} `candid:",variant"`.
//
// Recursive Go types (type List struct{ Head Int; Tail *List }) give recursive Candid types.
//
// # Decoding limits
//
// Decoding checks sizes eagerly against the input and meters its work and allocations with a
// quota (DecodeOptions.Quota, by default 20,000,000 units, about as many bytes), so hostile input
// such as a vector of a billion nulls fails fast instead of exhausting memory. Values nest at
// most MaxDepth levels and type tables hold at most MaxTypeTable entries.
//
// # Encoding
//
// Marshal writes composite types once each in the type table (identical types are shared),
// record fields in order of their ids and variant alternatives by their position in the sorted
// list of alternatives. The type table of each Go argument list is computed once and cached.
package candid
