package envelope

import (
	"errors"
	"fmt"
	"math/big"

	"github.com/icws/icws/ic/cbor"
	"github.com/icws/icws/ic/identity"
	"github.com/icws/icws/ic/principal"
	"github.com/icws/icws/ic/requestid"
)

// ErrMalformed is wrapped by every error of Decode: the body is not a valid
// request envelope. A replica answers it with HTTP 400.
var ErrMalformed = errors.New("envelope: malformed request")

// Request is a decoded request envelope, as a replica receives it.
type Request struct {
	// ID is hash_of_map of RawContent: every field that arrived, unknown
	// ones included.
	ID requestid.ID
	// Content holds the known content fields, typed.
	Content Content
	// RawContent is the content map as decoded (see requestid.HashOfMap for
	// the value types).
	RawContent map[string]any
	// SenderPubKey, SenderSig and SenderDelegation are nil when absent.
	SenderPubKey     []byte
	SenderSig        []byte
	SenderDelegation []identity.SignedDelegation
}

func malformed(format string, args ...any) error {
	return fmt.Errorf("%w: "+format, append([]any{ErrMalformed}, args...)...)
}

// Decode parses a request body (CBOR, self-describe tag optional) strictly:
// the envelope may hold only content, sender_pubkey, sender_sig and
// sender_delegation; content needs request_type (call, query or read_state),
// sender, ingress_expiry (a nat of at most 64 bits) and, for call and query,
// canister_id, method_name and arg, for read_state paths; nonce is optional.
// Known fields must have their types, principals at most 29 bytes, nonce at
// most 32 bytes, paths at most 1000 of at most 127 labels, sender_delegation
// at most 20 entries; sender_pubkey and sender_sig come together, and
// sender_delegation only with them. Unknown content fields are kept in
// RawContent and hashed into ID, so they must be of hashable types (no null,
// bool or float).
//
// Decode does not authenticate; call Verify.
func Decode(body []byte) (*Request, error) {
	var top any
	if err := cbor.Unmarshal(body, &top); err != nil {
		return nil, malformed("%w", err)
	}
	env, ok := top.(map[string]any)
	if !ok {
		return nil, malformed("envelope is %s, want a map", cbor.Kind(top))
	}
	r := &Request{}
	for k, v := range env {
		var err error
		switch k {
		case "content":
			m, ok := v.(map[string]any)
			if !ok {
				return nil, malformed("content is %s, want a map", cbor.Kind(v))
			}
			r.RawContent = m
		case "sender_pubkey":
			r.SenderPubKey, err = blobField("sender_pubkey", v)
		case "sender_sig":
			r.SenderSig, err = blobField("sender_sig", v)
		case "sender_delegation":
			r.SenderDelegation, err = delegationsField(v)
		default:
			err = malformed("unknown envelope field %q", k)
		}
		if err != nil {
			return nil, err
		}
	}
	if r.RawContent == nil {
		return nil, malformed("envelope has no content")
	}
	if (r.SenderPubKey == nil) != (r.SenderSig == nil) {
		return nil, malformed("sender_pubkey and sender_sig must both be present or both absent")
	}
	if r.SenderDelegation != nil && r.SenderPubKey == nil {
		return nil, malformed("sender_delegation without sender_pubkey and sender_sig")
	}
	if err := r.Content.fromMap(r.RawContent); err != nil {
		return nil, err
	}
	id, err := requestid.HashOfMap(r.RawContent)
	if err != nil {
		return nil, malformed("content: %w", err)
	}
	r.ID = id
	return r, nil
}

func blobField(name string, v any) ([]byte, error) {
	b, ok := v.([]byte)
	if !ok {
		return nil, malformed("%s is %s, want a blob", name, cbor.Kind(v))
	}
	return b, nil
}

func delegationsField(v any) ([]identity.SignedDelegation, error) {
	arr, ok := v.([]any)
	if !ok {
		return nil, malformed("sender_delegation is %s, want an array", cbor.Kind(v))
	}
	if len(arr) > identity.MaxDelegations {
		return nil, malformed("sender_delegation has %d delegations, at most %d are allowed", len(arr), identity.MaxDelegations)
	}
	out := make([]identity.SignedDelegation, len(arr))
	for i, e := range arr {
		sd, err := identity.SignedDelegationFromValue(e)
		if err != nil {
			return nil, malformed("sender_delegation %d: %w", i, err)
		}
		out[i] = sd
	}
	return out, nil
}

// fromMap fills c from a generic content map, checking the known fields.
func (c *Content) fromMap(m map[string]any) error {
	rt, err := textField(m, "request_type")
	if err != nil {
		return err
	}
	switch rt {
	case RequestTypeCall, RequestTypeQuery, RequestTypeReadState:
	default:
		return malformed("content: request_type %q, want %q, %q or %q", rt, RequestTypeCall, RequestTypeQuery, RequestTypeReadState)
	}
	c.RequestType = rt
	if c.Sender, err = principalField(m, "sender"); err != nil {
		return err
	}
	if v, ok := m["nonce"]; ok {
		b, ok := v.([]byte)
		if !ok {
			return malformed("content: nonce is %s, want a blob", cbor.Kind(v))
		}
		if len(b) > MaxNonceSize {
			return malformed("content: nonce is %d bytes, at most %d are allowed", len(b), MaxNonceSize)
		}
		c.Nonce = b
	}
	v, ok := m["ingress_expiry"]
	if !ok {
		return malformed("content has no field %q", "ingress_expiry")
	}
	switch x := v.(type) {
	case uint64:
		c.IngressExpiry = x
	case big.Int, *big.Int:
		return malformed("content: ingress_expiry does not fit in 64 bits")
	default:
		return malformed("content: ingress_expiry is %s, want a nat", cbor.Kind(v))
	}
	if c.isReadState() {
		return c.pathsFromMap(m)
	}
	if c.CanisterID, err = principalField(m, "canister_id"); err != nil {
		return err
	}
	if c.MethodName, err = textField(m, "method_name"); err != nil {
		return err
	}
	v, ok = m["arg"]
	if !ok {
		return malformed("content has no field %q", "arg")
	}
	if c.Arg, ok = v.([]byte); !ok {
		return malformed("content: arg is %s, want a blob", cbor.Kind(v))
	}
	return nil
}

func (c *Content) pathsFromMap(m map[string]any) error {
	v, ok := m["paths"]
	if !ok {
		return malformed("content has no field %q", "paths")
	}
	arr, ok := v.([]any)
	if !ok {
		return malformed("content: paths is %s, want an array", cbor.Kind(v))
	}
	if len(arr) > MaxPaths {
		return malformed("content: %d paths, at most %d are allowed", len(arr), MaxPaths)
	}
	c.Paths = make([][][]byte, len(arr))
	for i, pv := range arr {
		labels, ok := pv.([]any)
		if !ok {
			return malformed("content: path %d is %s, want an array", i, cbor.Kind(pv))
		}
		if len(labels) > MaxLabelsPerPath {
			return malformed("content: path %d has %d labels, at most %d are allowed", i, len(labels), MaxLabelsPerPath)
		}
		path := make([][]byte, len(labels))
		for j, lv := range labels {
			l, ok := lv.([]byte)
			if !ok {
				return malformed("content: path %d label %d is %s, want a blob", i, j, cbor.Kind(lv))
			}
			path[j] = l
		}
		c.Paths[i] = path
	}
	return nil
}

func textField(m map[string]any, name string) (string, error) {
	v, ok := m[name]
	if !ok {
		return "", malformed("content has no field %q", name)
	}
	s, ok := v.(string)
	if !ok {
		return "", malformed("content: %s is %s, want text", name, cbor.Kind(v))
	}
	return s, nil
}

func principalField(m map[string]any, name string) (principal.Principal, error) {
	v, ok := m[name]
	if !ok {
		return principal.Principal{}, malformed("content has no field %q", name)
	}
	b, ok := v.([]byte)
	if !ok {
		return principal.Principal{}, malformed("content: %s is %s, want a blob (principal)", name, cbor.Kind(v))
	}
	p, err := principal.FromBytes(b)
	if err != nil {
		return principal.Principal{}, malformed("content: %s: %w", name, err)
	}
	return p, nil
}
