package omnia

import (
	"strconv"

	"github.com/icws/icws/ic/candid"
	"github.com/icws/icws/ic/principal"
)

// ClientKey names one connection: the client's principal (the caller of its ws_open) and the
// random nonce its IcWebSocket drew (Candid `record { client_principal: principal;
// client_nonce: nat64 }`).
type ClientKey struct {
	// Principal is the client's IC principal, the sender of its signed calls.
	Principal principal.Principal `candid:"client_principal"`
	// Nonce is the client's random connection nonce.
	Nonce uint64 `candid:"client_nonce"`
}

// String returns the key as `<principal text>_<nonce>`, the form Omnia's libraries log it in.
func (k ClientKey) String() string {
	return k.Principal.String() + "_" + strconv.FormatUint(k.Nonce, 10)
}

// Equal reports whether k and o name the same connection.
func (k ClientKey) Equal(o ClientKey) bool {
	return k.Nonce == o.Nonce && k.Principal.Equal(o.Principal)
}

// WebsocketMessage is the envelope of every message in both directions (Candid `record {
// client_key: ClientKey; sequence_num: nat64; timestamp: nat64; is_service_message: bool;
// content: blob }`). In ws_message it travels as Candid; canister → client it travels as the CBOR
// of MarshalCBOR, whose SHA-256 is certified.
type WebsocketMessage struct {
	// Key is the connection the message belongs to.
	Key ClientKey `candid:"client_key"`
	// SequenceNum counts messages per direction and connection; the first is 1.
	SequenceNum uint64 `candid:"sequence_num"`
	// Timestamp is the sender's time in nanoseconds since the epoch (informational).
	Timestamp uint64 `candid:"timestamp"`
	// IsServiceMessage says Content is a Candid ServiceMessage, not application data.
	IsServiceMessage bool `candid:"is_service_message"`
	// Content is the application message (Candid of the application's type) or the service
	// message.
	Content []byte `candid:"content"`
}

// OpenArgs is the argument of ws_open (Candid `record { client_nonce: nat64; gateway_principal:
// principal }`), called by the client through the gateway it names.
type OpenArgs struct {
	// ClientNonce is the nonce of the client's new ClientKey.
	ClientNonce uint64 `candid:"client_nonce"`
	// GatewayPrincipal is the gateway the client is connected to, from its handshake frame.
	GatewayPrincipal principal.Principal `candid:"gateway_principal"`
}

// CloseArgs is the argument of ws_close (Candid `record { client_key: ClientKey }`), called by
// the client's gateway when the client's socket ends.
type CloseArgs struct {
	// Key is the connection that ended.
	Key ClientKey `candid:"client_key"`
}

// MessageArgs is the first argument of ws_message (Candid `record { msg: WebsocketMessage }`),
// called by the client through its gateway. The second argument, `opt AppMessage`, only publishes
// the application's message type in the interface; clients send null.
type MessageArgs struct {
	// Msg is the client's message.
	Msg WebsocketMessage `candid:"msg"`
}

// GetMessagesArgs is the argument of ws_get_messages (Candid `record { nonce: nat64 }`): the
// nonce of the first message the polling gateway wants.
type GetMessagesArgs struct {
	// Nonce is the first outgoing nonce wanted, 0 at the start, then one past the last received.
	Nonce uint64 `candid:"nonce"`
}

// OutputMessage is one queued canister message as ws_get_messages returns it
// (CanisterOutputMessage, Candid `record { client_key: ClientKey; key: text; content: blob }`).
type OutputMessage struct {
	// Key is the client the message is for.
	Key ClientKey `candid:"client_key"`
	// MessageKey is the message's key in the certified tree, `<gateway>_<nonce, 20 digits>`.
	MessageKey string `candid:"key"`
	// Content is the CBOR WebsocketMessage (MarshalCBOR) whose SHA-256 is certified under
	// MessageKey.
	Content []byte `candid:"content"`
}

// CertifiedMessages is the Ok result of ws_get_messages (CanisterOutputCertifiedMessages,
// Candid `record { messages: vec CanisterOutputMessage; cert: blob; tree: blob; is_end_of_queue:
// bool }`): a batch, one certificate and one witness covering all of it.
type CertifiedMessages struct {
	// Messages are the batch in nonce order.
	Messages []OutputMessage `candid:"messages"`
	// Cert is the canister's data certificate; empty when Messages is.
	Cert []byte `candid:"cert"`
	// Tree is the self-describe CBOR hash tree labeled("websocket", range witness of the batch's
	// keys); empty when Messages is.
	Tree []byte `candid:"tree"`
	// IsEndOfQueue says the batch reaches the end of the gateway's queue.
	IsEndOfQueue bool `candid:"is_end_of_queue"`
}

// CanisterError is the Err alternative of a result: the canister refused the call and says why.
type CanisterError struct {
	// Text is the canister's message, e.g. "client with principal ... doesn't have an open
	// connection".
	Text string
}

// Error returns the canister's text, prefixed.
func (e *CanisterError) Error() string { return "omnia: canister refused: " + e.Text }

// result is the Candid `variant { Ok: null; Err: text }`.
type result struct {
	Ok  *candid.Null `candid:"Ok,variant"`
	Err *string      `candid:"Err,variant"`
}

// messagesResult is the Candid `variant { Ok: CanisterOutputCertifiedMessages; Err: text }`.
type messagesResult struct {
	Ok  *CertifiedMessages `candid:"Ok,variant"`
	Err *string            `candid:"Err,variant"`
}
