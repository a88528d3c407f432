package omnia

// This file holds the three WebSocket frames between an Omnia client (ic-websocket-js 0.5) and a
// gateway: the gateway's handshake, the client's {envelope} frames and the gateway's
// {key, content, cert, tree} frames. The gateway owns them; the canister never sees them.
// ClientFrame and DecodeClientFrame are in clientframe.go, which wasip1 (canister) builds leave
// out.

import (
	"errors"
	"fmt"

	"github.com/icws/icws/ic/cbor"
	"github.com/icws/icws/ic/principal"
	"github.com/icws/icws/protocol"
)

// ErrBadFrame is wrapped by the errors of DecodeHandshake, DecodeClientFrame and DecodeFrame: the
// bytes are not the frame they should be.
var ErrBadFrame = errors.New("omnia: malformed frame")

func badFrame(format string, args ...any) error {
	return fmt.Errorf("%w: "+format, append([]any{ErrBadFrame}, args...)...)
}

// Field names of the frames.
const (
	fieldGatewayPrincipal = "gateway_principal"
	fieldEnvelope         = "envelope"
)

// AppendHandshake appends the gateway's first frame to dst: serde_cbor's encoding, with the
// self-describe tag, of the map {gateway_principal: <principal bytes>}. For a 29-byte principal
// it is d9d9f7 a1 71 "gateway_principal" 58 1d <29 bytes>. The client names this principal in its
// ws_open arguments.
func AppendHandshake(dst []byte, gateway principal.Principal) []byte {
	dst = append(dst, cbor.SelfDescribePrefix...)
	dst = cbor.AppendHead(dst, cbor.MajorMap, 1)
	dst = cbor.AppendText(dst, fieldGatewayPrincipal)
	return cbor.AppendBytes(dst, gateway.Bytes())
}

// Handshake returns the gateway's first frame (see AppendHandshake).
func Handshake(gateway principal.Principal) []byte {
	return AppendHandshake(make([]byte, 0, 3+1+18+2+gateway.Len()), gateway)
}

// DecodeHandshake decodes a gateway's first frame and returns its principal. The tag is optional;
// the map must hold gateway_principal as a byte string of at most 29 bytes and nothing else.
func DecodeHandshake(b []byte) (principal.Principal, error) {
	var m map[string]cbor.RawMessage
	if err := cbor.Unmarshal(b, &m); err != nil {
		return principal.Principal{}, badFrame("handshake: %w", err)
	}
	raw, ok := m[fieldGatewayPrincipal]
	if !ok || len(m) != 1 {
		return principal.Principal{}, badFrame("handshake: want a map with the one key %q, got %d keys", fieldGatewayPrincipal, len(m))
	}
	var pb []byte
	if err := cbor.Unmarshal(raw, &pb); err != nil {
		return principal.Principal{}, badFrame("handshake: gateway_principal is not a byte string: %w", err)
	}
	p, err := principal.FromBytes(pb)
	if err != nil {
		return principal.Principal{}, badFrame("handshake: gateway_principal: %w", err)
	}
	return p, nil
}

// AppendClientFrame appends the client frame {envelope: body} to dst, where body is an encoded
// request envelope (a leading self-describe tag is dropped): the frame ic-websocket-js sends,
// self-describe tag first. Go clients and tests use it.
func AppendClientFrame(dst, body []byte) []byte {
	if len(body) >= 3 && string(body[:3]) == cbor.SelfDescribePrefix {
		body = body[3:]
	}
	dst = append(dst, cbor.SelfDescribePrefix...)
	dst = cbor.AppendHead(dst, cbor.MajorMap, 1)
	dst = cbor.AppendText(dst, fieldEnvelope)
	return append(dst, body...)
}

// Frame is the gateway's frame for one canister message, {key, content, cert, tree}
// (CanisterToClientMessage of Omnia's gateway): Content is the canister's CBOR WebsocketMessage,
// exactly as certified; Cert and Tree are the certificate and witness of its poll's batch.
type Frame struct {
	Key     string
	Content []byte
	Cert    []byte
	Tree    []byte
}

// AppendFrameHead appends the start of a Frame to dst: the map head, "key": key, and "content"
// with the head of a byte string of contentLen bytes. The frame goes on with the content, then
// AppendFrameTail's bytes. A gateway writes the three parts separately so that the content and the
// batch's shared tail are never copied per client; Frame.AppendCBOR joins them. The encoding is
// serde_cbor::to_vec's for the struct (no self-describe tag, shortest heads, fields in order).
func AppendFrameHead(dst []byte, key string, contentLen int) []byte {
	dst = cbor.AppendHead(dst, cbor.MajorMap, 4)
	dst = cbor.AppendText(dst, "key")
	dst = cbor.AppendText(dst, key)
	dst = cbor.AppendText(dst, "content")
	return cbor.AppendHead(dst, cbor.MajorBytes, uint64(contentLen))
}

// FrameHeadSize is the length of AppendFrameHead's output.
func FrameHeadSize(key string, contentLen int) int {
	return 1 + 4 + cbor.HeadLen(uint64(len(key))) + len(key) + 8 + cbor.HeadLen(uint64(contentLen))
}

// AppendFrameTail appends the end of a Frame to dst: "cert": cert, "tree": tree. It is the same for
// every message of one ws_get_messages answer, and the same bytes as the seed protocol's S6 tail.
func AppendFrameTail(dst, cert, tree []byte) []byte { return protocol.AppendCertTail(dst, cert, tree) }

// FrameTailSize is the length of AppendFrameTail's output.
func FrameTailSize(cert, tree []byte) int { return protocol.CertTailSize(cert, tree) }

// Size is the length of f's encoding.
func (f *Frame) Size() int {
	return FrameHeadSize(f.Key, len(f.Content)) + len(f.Content) + FrameTailSize(f.Cert, f.Tree)
}

// AppendCBOR appends the encoding of f to dst.
func (f *Frame) AppendCBOR(dst []byte) []byte {
	dst = AppendFrameHead(dst, f.Key, len(f.Content))
	dst = append(dst, f.Content...)
	return AppendFrameTail(dst, f.Cert, f.Tree)
}

// Marshal returns the encoding of f.
func (f *Frame) Marshal() []byte { return f.AppendCBOR(make([]byte, 0, f.Size())) }

// frameWire is Frame as ic/cbor decodes it; nil pointers are missing fields.
type frameWire struct {
	Key     *string `cbor:"key"`
	Content *[]byte `cbor:"content"`
	Cert    *[]byte `cbor:"cert"`
	Tree    *[]byte `cbor:"tree"`
}

// DecodeFrame decodes a gateway's {key, content, cert, tree} frame (tag optional). Every field
// must be present with its type (key text, the others byte strings); other keys are refused.
func DecodeFrame(b []byte) (Frame, error) {
	var m map[string]cbor.RawMessage
	if err := cbor.Unmarshal(b, &m); err != nil {
		return Frame{}, badFrame("canister message frame: %w", err)
	}
	for k := range m {
		switch k {
		case "key", "content", "cert", "tree":
		default:
			return Frame{}, badFrame("canister message frame: unknown key %q", k)
		}
	}
	var w frameWire
	if err := cbor.Unmarshal(b, &w); err != nil {
		return Frame{}, badFrame("canister message frame: %w", err)
	}
	switch {
	case w.Key == nil:
		return Frame{}, badFrame("canister message frame: no key")
	case w.Content == nil:
		return Frame{}, badFrame("canister message frame: no content")
	case w.Cert == nil:
		return Frame{}, badFrame("canister message frame: no cert")
	case w.Tree == nil:
		return Frame{}, badFrame("canister message frame: no tree")
	}
	return Frame{Key: *w.Key, Content: *w.Content, Cert: *w.Cert, Tree: *w.Tree}, nil
}
