//go:build !wasip1

package omnia

// A canister (GOOS=wasip1) never decodes a client frame: the gateway does. Decoding one takes
// ic/envelope, which brings in ic/identity's signature schemes (ECDSA, P-256, secp256k1 with its
// precomputed tables and their zlib): 1.3 MB of every Go canister's module, 38 % of it gzipped
// (docs/BENCHMARKS.md, "echo's module size"). So this file is not built for wasip1.

import (
	"github.com/icws/icws/ic/cbor"
	"github.com/icws/icws/ic/envelope"
	"github.com/icws/icws/ic/principal"
)

// ClientFrame is a decoded client frame {envelope: <signed request>}: a call of ws_open or
// ws_message signed by the client's own identity, which the gateway relays to the IC unchanged.
type ClientFrame struct {
	// Body is the request body to POST to the IC's call endpoint: the self-describe tag, then the
	// envelope exactly as the client encoded it (the tag is not repeated when the client put one
	// before the envelope). It aliases the frame only for the envelope part.
	Body []byte
	// Request is the decoded envelope: Request.Content holds the canister id, method name,
	// sender, arg and ingress expiry; Request.ID is the request id the IC will use.
	Request *envelope.Request
}

// CanisterID is the canister the client calls.
func (f *ClientFrame) CanisterID() principal.Principal { return f.Request.Content.CanisterID }

// Method is the method the client calls.
func (f *ClientFrame) Method() string { return f.Request.Content.MethodName }

// Sender is the client's principal: the caller the canister will see.
func (f *ClientFrame) Sender() principal.Principal { return f.Request.Content.Sender }

// Arg is the call's Candid argument.
func (f *ClientFrame) Arg() []byte { return f.Request.Content.Arg }

// DecodeClientFrame decodes a client frame: a CBOR map (self-describe tag optional) whose one key
// envelope holds a request envelope that envelope.Decode accepts, with request_type "call" and
// sender_pubkey and sender_sig present (an unsigned call would be the anonymous principal's, which
// no Omnia canister accepts). It does not verify the signature: the IC does.
func DecodeClientFrame(b []byte) (ClientFrame, error) {
	var m map[string]cbor.RawMessage
	if err := cbor.Unmarshal(b, &m); err != nil {
		return ClientFrame{}, badFrame("client frame: %w", err)
	}
	raw, ok := m[fieldEnvelope]
	if !ok {
		return ClientFrame{}, badFrame("client frame: no %q key; send {envelope: <signed call>}", fieldEnvelope)
	}
	if len(m) != 1 {
		return ClientFrame{}, badFrame("client frame: %d keys; want only %q", len(m), fieldEnvelope)
	}
	req, err := envelope.Decode(raw)
	if err != nil {
		return ClientFrame{}, badFrame("client frame: %w", err)
	}
	if req.Content.RequestType != envelope.RequestTypeCall {
		return ClientFrame{}, badFrame("client frame: request_type %q; the gateway relays only calls", req.Content.RequestType)
	}
	if req.SenderSig == nil {
		return ClientFrame{}, badFrame("client frame: the envelope is not signed (no sender_pubkey and sender_sig)")
	}
	body := []byte(raw)
	if len(body) < 3 || string(body[:3]) != cbor.SelfDescribePrefix {
		body = append(append(make([]byte, 0, 3+len(raw)), cbor.SelfDescribePrefix...), raw...)
	}
	return ClientFrame{Body: body, Request: req}, nil
}
