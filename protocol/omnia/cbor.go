package omnia

import (
	"fmt"

	"github.com/icws/icws/ic/cbor"
	"github.com/icws/icws/ic/principal"
)

// MarshalCBOR returns m as the CDK certifies and clients decode it, exactly serde_cbor's layout
// of the Rust struct: the self-describe tag d9d9f7, then a map of 5 text keys in field order
// (client_key, sequence_num, timestamp, is_service_message, content); client_key a map of
// client_principal (byte string) and client_nonce; integers in their shortest form; the
// flag f4/f5; content a byte string.
func (m WebsocketMessage) MarshalCBOR() []byte {
	p := m.Key.Principal.Bytes()
	b := make([]byte, 0, 96+len(p)+len(m.Content))
	b = append(b, cbor.SelfDescribePrefix...)
	b = cbor.AppendHead(b, cbor.MajorMap, 5)
	b = cbor.AppendText(b, "client_key")
	b = cbor.AppendHead(b, cbor.MajorMap, 2)
	b = cbor.AppendText(b, "client_principal")
	b = cbor.AppendBytes(b, p)
	b = cbor.AppendText(b, "client_nonce")
	b = cbor.AppendHead(b, cbor.MajorUint, m.Key.Nonce)
	b = cbor.AppendText(b, "sequence_num")
	b = cbor.AppendHead(b, cbor.MajorUint, m.SequenceNum)
	b = cbor.AppendText(b, "timestamp")
	b = cbor.AppendHead(b, cbor.MajorUint, m.Timestamp)
	b = cbor.AppendText(b, "is_service_message")
	if m.IsServiceMessage {
		b = append(b, 0xf5)
	} else {
		b = append(b, 0xf4)
	}
	b = cbor.AppendText(b, "content")
	return cbor.AppendBytes(b, m.Content)
}

// cborMessage is WebsocketMessage for the generic decoder; pointers find missing fields.
type cborMessage struct {
	Key *struct {
		Principal *[]byte `cbor:"client_principal"`
		Nonce     *uint64 `cbor:"client_nonce"`
	} `cbor:"client_key"`
	SequenceNum      *uint64 `cbor:"sequence_num"`
	Timestamp        *uint64 `cbor:"timestamp"`
	IsServiceMessage *bool   `cbor:"is_service_message"`
	Content          *[]byte `cbor:"content"`
}

// UnmarshalWebsocketMessage decodes the CBOR of a WebsocketMessage, as MarshalCBOR writes it or
// with keys in any order, without the self-describe tag or with unknown keys (ignored). Missing
// fields, wrong types, duplicate keys and trailing bytes are errors wrapping ErrMalformed.
func UnmarshalWebsocketMessage(b []byte) (WebsocketMessage, error) {
	var c cborMessage
	if err := cbor.Unmarshal(b, &c); err != nil {
		return WebsocketMessage{}, fmt.Errorf("%w: WebsocketMessage CBOR: %w", ErrMalformed, err)
	}
	var miss string
	switch {
	case c.Key == nil:
		miss = "client_key"
	case c.Key.Principal == nil:
		miss = "client_key.client_principal"
	case c.Key.Nonce == nil:
		miss = "client_key.client_nonce"
	case c.SequenceNum == nil:
		miss = "sequence_num"
	case c.Timestamp == nil:
		miss = "timestamp"
	case c.IsServiceMessage == nil:
		miss = "is_service_message"
	case c.Content == nil:
		miss = "content"
	}
	if miss != "" {
		return WebsocketMessage{}, fmt.Errorf("%w: WebsocketMessage CBOR: missing field %q", ErrMalformed, miss)
	}
	p, err := principal.FromBytes(*c.Key.Principal)
	if err != nil {
		return WebsocketMessage{}, fmt.Errorf("%w: WebsocketMessage CBOR: client_principal: %w", ErrMalformed, err)
	}
	return WebsocketMessage{
		Key:              ClientKey{Principal: p, Nonce: *c.Key.Nonce},
		SequenceNum:      *c.SequenceNum,
		Timestamp:        *c.Timestamp,
		IsServiceMessage: *c.IsServiceMessage,
		Content:          *c.Content,
	}, nil
}
