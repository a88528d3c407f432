// Package envelope holds the wire types of the Internet Computer HTTP
// interface: request envelopes and their contents (built and signed by an
// agent, decoded and authenticated by a replica), and the response bodies of
// the status, call, query and read_state endpoints.
//
// Every body is CBOR with the self-describe tag 55799 in front, map keys are
// text, and nothing uses floats or other tags, so that @dfinity/agent's
// decoder accepts what a replica built on this package answers.
package envelope

import (
	"crypto/sha256"
	"errors"
	"fmt"

	"github.com/icws/icws/ic/cbor"
	"github.com/icws/icws/ic/identity"
	"github.com/icws/icws/ic/principal"
	"github.com/icws/icws/ic/requestid"
)

// Request types (the request_type field of a content map).
const (
	RequestTypeCall      = "call"
	RequestTypeQuery     = "query"
	RequestTypeReadState = "read_state"
)

// ContentType is the media type of every request body and CBOR response.
const ContentType = "application/cbor"

// Limits the IC places on request contents (the sender_delegation limit is
// identity.MaxDelegations).
const (
	MaxNonceSize     = 32   // bytes in nonce
	MaxPaths         = 1000 // paths in a read_state request
	MaxLabelsPerPath = 127  // labels in one read_state path
)

// ErrUnknownRequestType is returned (wrapped) for a request_type other than
// call, query and read_state.
var ErrUnknownRequestType = errors.New("envelope: unknown request_type")

// Content is a request's content map. Which fields are on the wire depends
// on RequestType: call and query carry CanisterID, MethodName and Arg;
// read_state carries Paths. Nonce is sent only when non-nil.
type Content struct {
	RequestType   string              // request_type: "call", "query" or "read_state"
	Sender        principal.Principal // sender
	Nonce         []byte              // nonce, optional (nil: absent), at most 32 bytes
	IngressExpiry uint64              // ingress_expiry, ns since 1970
	CanisterID    principal.Principal // canister_id (call, query)
	MethodName    string              // method_name (call, query)
	Arg           []byte              // arg (call, query), Candid
	Paths         [][][]byte          // paths (read_state)
}

// Key hashes of the content fields, computed once (read-only).
var (
	keyRequestType   = requestid.SumString("request_type")
	keySender        = requestid.SumString("sender")
	keyNonce         = requestid.SumString("nonce")
	keyIngressExpiry = requestid.SumString("ingress_expiry")
	keyCanisterID    = requestid.SumString("canister_id")
	keyMethodName    = requestid.SumString("method_name")
	keyArg           = requestid.SumString("arg")
	keyPaths         = requestid.SumString("paths")
)

func (c *Content) isReadState() bool { return c.RequestType == RequestTypeReadState }

// RequestID returns hash_of_map of the content exactly as MarshalCBOR writes
// it: the id the sender signs and the replica recomputes.
func (c *Content) RequestID() requestid.ID {
	var pairs [7][64]byte
	n := 0
	put := func(k, v [32]byte) {
		copy(pairs[n][:32], k[:])
		copy(pairs[n][32:], v[:])
		n++
	}
	put(keyRequestType, requestid.SumString(c.RequestType))
	put(keySender, sha256.Sum256(c.Sender.Bytes()))
	if c.Nonce != nil {
		put(keyNonce, sha256.Sum256(c.Nonce))
	}
	put(keyIngressExpiry, requestid.SumNat(c.IngressExpiry))
	if c.isReadState() {
		outer := sha256.New()
		for _, path := range c.Paths {
			inner := sha256.New()
			for _, label := range path {
				h := sha256.Sum256(label)
				inner.Write(h[:])
			}
			var ph [32]byte
			inner.Sum(ph[:0])
			outer.Write(ph[:])
		}
		var h [32]byte
		outer.Sum(h[:0])
		put(keyPaths, h)
	} else {
		put(keyCanisterID, sha256.Sum256(c.CanisterID.Bytes()))
		put(keyMethodName, requestid.SumString(c.MethodName))
		put(keyArg, sha256.Sum256(c.Arg))
	}
	return requestid.SumPairs(pairs[:n])
}

// Map returns the content as the generic map MarshalCBOR writes (principals
// as []byte, ingress_expiry as uint64): what a replica's generic decoding of
// it yields. requestid.HashOfMap(c.Map()) equals c.RequestID().
func (c *Content) Map() map[string]any {
	m := map[string]any{
		"request_type":   c.RequestType,
		"sender":         c.Sender.Bytes(),
		"ingress_expiry": c.IngressExpiry,
	}
	if c.Nonce != nil {
		m["nonce"] = c.Nonce
	}
	if c.isReadState() {
		paths := make([]any, len(c.Paths))
		for i, p := range c.Paths {
			labels := make([]any, len(p))
			for j, l := range p {
				labels[j] = l
			}
			paths[i] = labels
		}
		m["paths"] = paths
	} else {
		m["canister_id"] = c.CanisterID.Bytes()
		m["method_name"] = c.MethodName
		m["arg"] = nonNil(c.Arg)
	}
	return m
}

func nonNil(b []byte) []byte {
	if b == nil {
		return []byte{}
	}
	return b
}

// MarshalCBOR encodes the content map (untagged), with the fields of its
// request type; see Content.
func (c *Content) MarshalCBOR() ([]byte, error) {
	return c.appendCBOR(make([]byte, 0, c.sizeHint())), nil
}

func (c *Content) sizeHint() int {
	n := 96 + len(c.Nonce) + len(c.MethodName) + len(c.Arg) + 2*principal.MaxLength
	for _, p := range c.Paths {
		for _, l := range p {
			n += len(l) + 3
		}
		n += 3
	}
	return n
}

func (c *Content) appendCBOR(b []byte) []byte {
	fields := uint64(6) // request_type, sender, ingress_expiry, canister_id, method_name, arg
	if c.isReadState() {
		fields = 4 // request_type, sender, ingress_expiry, paths
	}
	if c.Nonce != nil {
		fields++
	}
	b = appendHead(b, majorMap, fields)
	b = appendText(b, "request_type")
	b = appendText(b, c.RequestType)
	b = appendText(b, "sender")
	b = appendBytes(b, c.Sender.Bytes())
	if c.Nonce != nil {
		b = appendText(b, "nonce")
		b = appendBytes(b, c.Nonce)
	}
	b = appendText(b, "ingress_expiry")
	b = appendUint(b, c.IngressExpiry)
	if c.isReadState() {
		b = appendText(b, "paths")
		b = appendHead(b, majorArray, uint64(len(c.Paths)))
		for _, p := range c.Paths {
			b = appendHead(b, majorArray, uint64(len(p)))
			for _, l := range p {
				b = appendBytes(b, l)
			}
		}
		return b
	}
	b = appendText(b, "canister_id")
	b = appendBytes(b, c.CanisterID.Bytes())
	b = appendText(b, "method_name")
	b = appendText(b, c.MethodName)
	b = appendText(b, "arg")
	return appendBytes(b, c.Arg)
}

// validate checks what Sign requires of a content before signing it.
func (c *Content) validate() error {
	switch c.RequestType {
	case RequestTypeCall, RequestTypeQuery, RequestTypeReadState:
	default:
		return fmt.Errorf("%w %q", ErrUnknownRequestType, c.RequestType)
	}
	if len(c.Nonce) > MaxNonceSize {
		return fmt.Errorf("envelope: nonce is %d bytes, at most %d are allowed", len(c.Nonce), MaxNonceSize)
	}
	if c.isReadState() {
		if len(c.Paths) > MaxPaths {
			return fmt.Errorf("envelope: %d paths, at most %d are allowed", len(c.Paths), MaxPaths)
		}
		for i, p := range c.Paths {
			if len(p) > MaxLabelsPerPath {
				return fmt.Errorf("envelope: path %d has %d labels, at most %d are allowed", i, len(p), MaxLabelsPerPath)
			}
		}
	}
	return nil
}

// Envelope is a request body: {content, sender_pubkey?, sender_sig?,
// sender_delegation?}. An anonymous request carries the content only.
type Envelope struct {
	Content          Content
	SenderPubKey     []byte                      // DER public key; nil when anonymous
	SenderSig        []byte                      // signature over `\x0Aic-request` ‖ request id; nil when anonymous
	SenderDelegation []identity.SignedDelegation // omitted when empty
}

// Sign builds the envelope of c for id. c.Sender is set to id.Sender(). For
// the anonymous identity the envelope holds the content only; otherwise it
// carries id's public key, its signature over `\x0Aic-request` ‖ request id,
// and id's delegations.
func Sign(id identity.Identity, c Content) (*Envelope, error) {
	c.Sender = id.Sender()
	if err := c.validate(); err != nil {
		return nil, err
	}
	env := &Envelope{Content: c}
	pub := id.PublicKey()
	if pub == nil {
		return env, nil
	}
	rid := c.RequestID()
	sig, err := id.Sign(rid.Signable())
	if err != nil {
		return nil, fmt.Errorf("envelope: sign request %s: %w", rid, err)
	}
	env.SenderPubKey = pub
	env.SenderSig = sig
	env.SenderDelegation = id.Delegations()
	return env, nil
}

// RequestID returns the request id of the envelope's content.
func (e *Envelope) RequestID() requestid.ID { return e.Content.RequestID() }

// MarshalCBOR encodes the envelope map (untagged).
func (e *Envelope) MarshalCBOR() ([]byte, error) {
	return e.appendCBOR(make([]byte, 0, e.Content.sizeHint()+len(e.SenderPubKey)+len(e.SenderSig)+64))
}

// Marshal returns the request body: the self-describe tag and the envelope.
func (e *Envelope) Marshal() ([]byte, error) {
	b := make([]byte, 0, len(cbor.SelfDescribePrefix)+e.Content.sizeHint()+len(e.SenderPubKey)+len(e.SenderSig)+64)
	b = append(b, cbor.SelfDescribePrefix...)
	return e.appendCBOR(b)
}

func (e *Envelope) appendCBOR(b []byte) ([]byte, error) {
	fields := uint64(1)
	if e.SenderPubKey != nil {
		fields++
	}
	if e.SenderSig != nil {
		fields++
	}
	if len(e.SenderDelegation) > 0 {
		fields++
	}
	b = appendHead(b, majorMap, fields)
	b = appendText(b, "content")
	b = e.Content.appendCBOR(b)
	if e.SenderPubKey != nil {
		b = appendText(b, "sender_pubkey")
		b = appendBytes(b, e.SenderPubKey)
	}
	if e.SenderSig != nil {
		b = appendText(b, "sender_sig")
		b = appendBytes(b, e.SenderSig)
	}
	if len(e.SenderDelegation) > 0 {
		b = appendText(b, "sender_delegation")
		b = appendHead(b, majorArray, uint64(len(e.SenderDelegation)))
		for i := range e.SenderDelegation {
			d, err := e.SenderDelegation[i].MarshalCBOR()
			if err != nil {
				return nil, fmt.Errorf("envelope: sender_delegation %d: %w", i, err)
			}
			b = append(b, d...)
		}
	}
	return b, nil
}
