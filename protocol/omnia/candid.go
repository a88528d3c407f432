package omnia

import (
	"fmt"
	"strings"

	"github.com/icws/icws/ic/candid"
)

// Candid method names of the canister interface (ic-websocket-cdk 0.4's ws_types.did).
const (
	MethodOpen        = "ws_open"         // (CanisterWsOpenArguments) -> (CanisterWsOpenResult)
	MethodClose       = "ws_close"        // (CanisterWsCloseArguments) -> (CanisterWsCloseResult)
	MethodMessage     = "ws_message"      // (CanisterWsMessageArguments, opt AppMessage) -> (CanisterWsMessageResult)
	MethodGetMessages = "ws_get_messages" // (CanisterWsGetMessagesArguments) -> (CanisterWsGetMessagesResult) query
)

// CandidTypes are the type definitions of ws_types.did. A canister's service description is
// CandidTypes, its application message type named AppMessage, and CandidService (see
// CandidInterface).
const CandidTypes = `type ClientPrincipal = principal;
type GatewayPrincipal = principal;
type ClientKey = record { client_principal : ClientPrincipal; client_nonce : nat64 };
type WebsocketMessage = record {
  client_key : ClientKey; sequence_num : nat64; timestamp : nat64; is_service_message : bool; content : blob;
};
type CanisterOutputMessage = record { client_key : ClientKey; key : text; content : blob };
type CanisterOutputCertifiedMessages = record {
  messages : vec CanisterOutputMessage; cert : blob; tree : blob; is_end_of_queue : bool;
};
type CanisterWsOpenArguments = record { client_nonce : nat64; gateway_principal : GatewayPrincipal };
type CanisterWsOpenResult = variant { Ok : null; Err : text };
type CanisterWsCloseArguments = record { client_key : ClientKey };
type CanisterWsCloseResult = variant { Ok : null; Err : text };
type CanisterWsMessageArguments = record { msg : WebsocketMessage };
type CanisterWsMessageResult = variant { Ok : null; Err : text };
type CanisterWsGetMessagesArguments = record { nonce : nat64 };
type CanisterWsGetMessagesResult = variant { Ok : CanisterOutputCertifiedMessages; Err : text };
`

// CandidService is the service part of the interface; it names the application's message type
// AppMessage, which the canister defines.
const CandidService = `service : {
  "ws_open" : (CanisterWsOpenArguments) -> (CanisterWsOpenResult);
  "ws_close" : (CanisterWsCloseArguments) -> (CanisterWsCloseResult);
  "ws_message" : (CanisterWsMessageArguments, opt AppMessage) -> (CanisterWsMessageResult);
  "ws_get_messages" : (CanisterWsGetMessagesArguments) -> (CanisterWsGetMessagesResult) query;
}
`

// CandidInterface returns the canister's service description for an application message type
// given in Candid, e.g. `record { text : text; timestamp : nat64 }`. ic-websocket-js reads the
// type from the second argument of ws_message.
func CandidInterface(appMessage string) string {
	return "type AppMessage = " + appMessage + ";\n" + CandidTypes + CandidService
}

// must returns b. Marshal fails only for Go types without a Candid mapping or for text that is
// not UTF-8; the encoders below pass only this package's fixed types, whose text fields they make
// valid first, so err is always nil (the golden tests encode every type).
func must(b []byte, err error) []byte {
	if err != nil {
		panic("omnia: encoding a fixed Candid type failed: " + err.Error())
	}
	return b
}

// EncodeOpenArgs encodes the argument of ws_open.
func EncodeOpenArgs(a OpenArgs) []byte { return must(candid.Marshal(a)) }

// EncodeCloseArgs encodes the argument of ws_close.
func EncodeCloseArgs(a CloseArgs) []byte { return must(candid.Marshal(a)) }

// EncodeMessageArgs encodes the two arguments of ws_message as ic-websocket-js does: the record
// and a null of type `opt null` for the application message type.
func EncodeMessageArgs(a MessageArgs) []byte { return must(candid.Marshal(a, (*candid.Null)(nil))) }

// EncodeGetMessagesArgs encodes the argument of ws_get_messages.
func EncodeGetMessagesArgs(a GetMessagesArgs) []byte { return must(candid.Marshal(a)) }

// EncodeServiceMessage encodes a service message, the Content of a WebsocketMessage with
// IsServiceMessage set. m must have exactly one alternative set, and a Close a known reason.
func EncodeServiceMessage(m ServiceMessage) ([]byte, error) {
	if m.Kind() == "" {
		return nil, fmt.Errorf("%w: a service message needs exactly one of Open, Ack, KeepAlive, Close set", ErrMalformed)
	}
	w := serviceWire{Open: m.Open, Ack: m.Ack, KeepAlive: m.KeepAlive}
	if m.Close != nil {
		var r reasonWire
		switch m.Close.Reason {
		case ReasonWrongSequenceNumber:
			r.WrongSequenceNumber = &candid.Null{}
		case ReasonInvalidServiceMessage:
			r.InvalidServiceMessage = &candid.Null{}
		case ReasonKeepAliveTimeout:
			r.KeepAliveTimeout = &candid.Null{}
		case ReasonClosedByApplication:
			r.ClosedByApplication = &candid.Null{}
		default:
			return nil, fmt.Errorf("%w: unknown close reason %d", ErrMalformed, m.Close.Reason)
		}
		w.Close = &closeWire{Reason: r}
	}
	return must(candid.Marshal(w)), nil
}

// EncodeResult encodes the result of ws_open, ws_close and ws_message: Ok when err is nil, else
// Err with err's text (a *CanisterError's Text as it is). Invalid UTF-8 in the text is replaced.
func EncodeResult(err error) []byte {
	if err == nil {
		return must(candid.Marshal(result{Ok: &candid.Null{}}))
	}
	text := errText(err)
	return must(candid.Marshal(result{Err: &text}))
}

// EncodeGetMessagesResult encodes the Ok result of ws_get_messages. Message keys must be valid
// UTF-8 (Key's are).
func EncodeGetMessagesResult(m CertifiedMessages) ([]byte, error) {
	b, err := candid.Marshal(messagesResult{Ok: &m})
	if err != nil {
		return nil, fmt.Errorf("omnia: encoding ws_get_messages result: %w", err)
	}
	return b, nil
}

// EncodeGetMessagesError encodes the Err result of ws_get_messages with err's text.
func EncodeGetMessagesError(err error) []byte {
	text := errText(err)
	return must(candid.Marshal(messagesResult{Err: &text}))
}

func errText(err error) string {
	text := err.Error()
	if ce, ok := err.(*CanisterError); ok {
		text = ce.Text
	}
	return strings.ToValidUTF8(text, "\uFFFD")
}

func decode(what string, b []byte, v any) error {
	if err := candid.Unmarshal(b, v); err != nil {
		return fmt.Errorf("%w: %s: %w", ErrMalformed, what, err)
	}
	return nil
}

// DecodeOpenArgs decodes the argument of ws_open.
func DecodeOpenArgs(b []byte) (OpenArgs, error) {
	var a OpenArgs
	err := decode("ws_open argument (want record { client_nonce: nat64; gateway_principal: principal })", b, &a)
	return a, err
}

// DecodeCloseArgs decodes the argument of ws_close.
func DecodeCloseArgs(b []byte) (CloseArgs, error) {
	var a CloseArgs
	err := decode("ws_close argument (want record { client_key: ClientKey })", b, &a)
	return a, err
}

// DecodeMessageArgs decodes the first argument of ws_message; the second (opt AppMessage),
// which clients send as null, and any further ones are ignored.
func DecodeMessageArgs(b []byte) (MessageArgs, error) {
	var a MessageArgs
	err := decode("ws_message argument (want record { msg: WebsocketMessage }, opt AppMessage)", b, &a)
	return a, err
}

// DecodeGetMessagesArgs decodes the argument of ws_get_messages.
func DecodeGetMessagesArgs(b []byte) (GetMessagesArgs, error) {
	var a GetMessagesArgs
	err := decode("ws_get_messages argument (want record { nonce: nat64 })", b, &a)
	return a, err
}

// DecodeServiceMessage decodes the Content of a service message.
func DecodeServiceMessage(b []byte) (ServiceMessage, error) {
	var w serviceWire
	if err := decode("service message (want WebsocketServiceMessageContent)", b, &w); err != nil {
		return ServiceMessage{}, err
	}
	m := ServiceMessage{Open: w.Open, Ack: w.Ack, KeepAlive: w.KeepAlive}
	if w.Close != nil {
		r := w.Close.Reason
		switch {
		case r.WrongSequenceNumber != nil:
			m.Close = &CloseMessage{Reason: ReasonWrongSequenceNumber}
		case r.InvalidServiceMessage != nil:
			m.Close = &CloseMessage{Reason: ReasonInvalidServiceMessage}
		case r.KeepAliveTimeout != nil:
			m.Close = &CloseMessage{Reason: ReasonKeepAliveTimeout}
		default:
			m.Close = &CloseMessage{Reason: ReasonClosedByApplication}
		}
	}
	return m, nil
}

// DecodeResult decodes the result of ws_open, ws_close and ws_message: nil for Ok, a
// *CanisterError for Err, and an error wrapping ErrMalformed for anything else.
func DecodeResult(b []byte) error {
	var r result
	if err := decode("result (want variant { Ok: null; Err: text })", b, &r); err != nil {
		return err
	}
	if r.Err != nil {
		return &CanisterError{Text: *r.Err}
	}
	return nil
}

// DecodeGetMessagesResult decodes the result of ws_get_messages: the batch for Ok, a
// *CanisterError for Err, and an error wrapping ErrMalformed for anything else. A batch without
// is_end_of_queue (CDK before 0.3.1) has IsEndOfQueue true, as Omnia's gateway reads it.
func DecodeGetMessagesResult(b []byte) (CertifiedMessages, error) {
	var r messagesResultIn
	if err := decode("ws_get_messages result (want variant { Ok: CanisterOutputCertifiedMessages; Err: text })", b, &r); err != nil {
		return CertifiedMessages{}, err
	}
	if r.Err != nil {
		return CertifiedMessages{}, &CanisterError{Text: *r.Err}
	}
	m := CertifiedMessages{Messages: r.Ok.Messages, Cert: r.Ok.Cert, Tree: r.Ok.Tree, IsEndOfQueue: true}
	if r.Ok.IsEndOfQueue != nil {
		m.IsEndOfQueue = *r.Ok.IsEndOfQueue
	}
	return m, nil
}

// messagesResultIn is messagesResult for decoding: is_end_of_queue may be absent.
type messagesResultIn struct {
	Ok *struct {
		Messages     []OutputMessage `candid:"messages"`
		Cert         []byte          `candid:"cert"`
		Tree         []byte          `candid:"tree"`
		IsEndOfQueue *bool           `candid:"is_end_of_queue"`
	} `candid:"Ok,variant"`
	Err *string `candid:"Err,variant"`
}
