// Package protocol is the icws wire protocol shared by the canister library, the gateway and the
// clients: the CBOR messages S1–S6 of the seed protocol (byte-compatible with it), the Candid
// records of ws_get_messages, message keys, Ed25519 signing and verification over exact bytes,
// the gateway's close codes, and the flow-control allowances gateways give and clients keep to
// (MaxPendingFrames and the others in limits.go).
//
// Messages keep the exact bytes where signatures and certification need them: decoding S2 gives
// the raw S1 bytes and the signature, decoding S5 the raw S4 bytes and the signature, and S6 the
// raw S4 bytes whose SHA-256 is certified. Decoders accept keys in any order, an optional
// self-describe tag, and unknown keys (ignored); they refuse missing fields, wrong types,
// duplicate keys, indefinite lengths and trailing bytes with an error wrapping ErrMalformed or
// ErrMissingField. Byte slices in decoded values alias the input.
//
// docs/PROTOCOL.md is the full description, exact to the byte.
package protocol
