package envelope

import (
	"errors"
	"fmt"

	"github.com/icws/icws/ic/cbor"
	"github.com/icws/icws/ic/principal"
)

// Response status values.
const (
	StatusReplied                = "replied"                  // query and v3/v4 call
	StatusRejected               = "rejected"                 // query
	StatusNonReplicatedRejection = "non_replicated_rejection" // v3/v4 call
)

// Replica health values of Status.ReplicaHealthStatus.
const (
	HealthHealthy  = "healthy"
	HealthStarting = "starting"
)

// ErrMalformedResponse is wrapped by the errors of the Decode*Response
// functions.
var ErrMalformedResponse = errors.New("envelope: malformed response")

// Status is the body of GET /api/v2/status. Empty fields are omitted; a
// development replica must send RootKey (the 133-byte DER BLS key).
type Status struct {
	RootKey             []byte `cbor:"root_key,omitempty"`
	ImplVersion         string `cbor:"impl_version,omitempty"`
	ImplHash            string `cbor:"impl_hash,omitempty"`
	ReplicaHealthStatus string `cbor:"replica_health_status,omitempty"`
	CertifiedHeight     uint64 `cbor:"certified_height,omitempty"`
}

// QueryReply is the reply of a successful query: {arg: blob}.
type QueryReply struct {
	Arg []byte `cbor:"arg"`
}

// NodeSignature is a node's signature of a query response:
// {timestamp: nat (ns), signature: blob, identity: principal}. See
// QueryResponseSigningMessage.
type NodeSignature struct {
	Timestamp uint64              `cbor:"timestamp"`
	Signature []byte              `cbor:"signature"`
	Identity  principal.Principal `cbor:"identity"`
}

// QueryResponse is the body of a query answer. Status StatusReplied carries
// Reply; StatusRejected carries RejectCode, RejectMessage and, if non-empty,
// ErrorCode. Signatures is omitted when empty.
type QueryResponse struct {
	Status        string          `cbor:"status"`
	Reply         *QueryReply     `cbor:"reply"`
	RejectCode    RejectCode      `cbor:"reject_code"`
	RejectMessage string          `cbor:"reject_message"`
	ErrorCode     string          `cbor:"error_code"`
	Signatures    []NodeSignature `cbor:"signatures"`
}

// ReadStateResponse is the body of a read_state answer: {certificate: blob}.
type ReadStateResponse struct {
	Certificate []byte `cbor:"certificate"`
}

// CallResponse is the 200 body of a v3/v4 (synchronous) call: either
// {status: "replied", certificate} or {status: "non_replicated_rejection",
// reject_code, reject_message, error_code?}. The status is "replied" even
// when the certified request status is "rejected".
type CallResponse struct {
	Status        string     `cbor:"status"`
	Certificate   []byte     `cbor:"certificate"`
	RejectCode    RejectCode `cbor:"reject_code"`
	RejectMessage string     `cbor:"reject_message"`
	ErrorCode     string     `cbor:"error_code"`
}

// RejectResponse is the 200 body of a v2 call rejected before execution:
// {reject_code, reject_message, error_code?}.
type RejectResponse struct {
	RejectCode    RejectCode `cbor:"reject_code"`
	RejectMessage string     `cbor:"reject_message"`
	ErrorCode     string     `cbor:"error_code,omitempty"`
}

// Wire forms with exactly the fields of each variant; nil blobs become
// empty blobs (never CBOR null, which @dfinity/agent does not expect).

type queryRepliedWire struct {
	Status     string          `cbor:"status"`
	Reply      QueryReply      `cbor:"reply"`
	Signatures []NodeSignature `cbor:"signatures,omitempty"`
}

type rejectWire struct {
	Status        string          `cbor:"status"`
	RejectCode    RejectCode      `cbor:"reject_code"`
	RejectMessage string          `cbor:"reject_message"`
	ErrorCode     string          `cbor:"error_code,omitempty"`
	Signatures    []NodeSignature `cbor:"signatures,omitempty"`
}

type callRepliedWire struct {
	Status      string `cbor:"status"`
	Certificate []byte `cbor:"certificate"`
}

// MarshalCBOR encodes the fields of the reply's status (untagged).
func (r QueryReply) MarshalCBOR() ([]byte, error) {
	type plain QueryReply
	return cbor.MarshalUntagged(plain{Arg: nonNil(r.Arg)})
}

// MarshalCBOR encodes the node signature (untagged).
func (s NodeSignature) MarshalCBOR() ([]byte, error) {
	type plain NodeSignature
	p := plain(s)
	p.Signature = nonNil(p.Signature)
	return cbor.MarshalUntagged(p)
}

// MarshalCBOR encodes the fields of the response's status (untagged). It
// fails for a status other than StatusReplied and StatusRejected, or a
// replied response without Reply.
func (q QueryResponse) MarshalCBOR() ([]byte, error) {
	switch q.Status {
	case StatusReplied:
		if q.Reply == nil {
			return nil, errors.New("envelope: replied query response without reply")
		}
		return cbor.MarshalUntagged(queryRepliedWire{Status: q.Status, Reply: *q.Reply, Signatures: q.Signatures})
	case StatusRejected:
		return cbor.MarshalUntagged(rejectWire{Status: q.Status, RejectCode: q.RejectCode,
			RejectMessage: q.RejectMessage, ErrorCode: q.ErrorCode, Signatures: q.Signatures})
	default:
		return nil, fmt.Errorf("envelope: query response status %q, want %q or %q", q.Status, StatusReplied, StatusRejected)
	}
}

// MarshalCBOR encodes {certificate} (untagged).
func (r ReadStateResponse) MarshalCBOR() ([]byte, error) {
	type plain ReadStateResponse
	return cbor.MarshalUntagged(plain{Certificate: nonNil(r.Certificate)})
}

// MarshalCBOR encodes the fields of the response's status (untagged). It
// fails for a status other than StatusReplied and
// StatusNonReplicatedRejection.
func (c CallResponse) MarshalCBOR() ([]byte, error) {
	switch c.Status {
	case StatusReplied:
		return cbor.MarshalUntagged(callRepliedWire{Status: c.Status, Certificate: nonNil(c.Certificate)})
	case StatusNonReplicatedRejection:
		return cbor.MarshalUntagged(rejectWire{Status: c.Status, RejectCode: c.RejectCode,
			RejectMessage: c.RejectMessage, ErrorCode: c.ErrorCode})
	default:
		return nil, fmt.Errorf("envelope: call response status %q, want %q or %q", c.Status, StatusReplied, StatusNonReplicatedRejection)
	}
}

// DecodeQueryResponse parses a query answer body and checks that its status
// is replied (with reply) or rejected.
func DecodeQueryResponse(body []byte) (*QueryResponse, error) {
	var q QueryResponse
	if err := cbor.Unmarshal(body, &q); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrMalformedResponse, err)
	}
	switch q.Status {
	case StatusReplied:
		if q.Reply == nil {
			return nil, fmt.Errorf("%w: replied query response without reply", ErrMalformedResponse)
		}
	case StatusRejected:
	default:
		return nil, fmt.Errorf("%w: query response status %q", ErrMalformedResponse, q.Status)
	}
	return &q, nil
}

// DecodeCallResponse parses a v3/v4 call answer body (HTTP 200) and checks
// that it is replied (with a certificate) or non_replicated_rejection.
func DecodeCallResponse(body []byte) (*CallResponse, error) {
	var c CallResponse
	if err := cbor.Unmarshal(body, &c); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrMalformedResponse, err)
	}
	switch c.Status {
	case StatusReplied:
		if len(c.Certificate) == 0 {
			return nil, fmt.Errorf("%w: replied call response without certificate", ErrMalformedResponse)
		}
	case StatusNonReplicatedRejection:
	default:
		return nil, fmt.Errorf("%w: call response status %q", ErrMalformedResponse, c.Status)
	}
	return &c, nil
}
