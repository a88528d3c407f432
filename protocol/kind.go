package protocol

import (
	"strconv"
)

// Protocol flow of the seed protocol, with icws's additions marked (+). C is the client, G the
// gateway, K the canister; Sn are the messages of messages.go.
//
// Registration (C → K, an ordinary update call, no gateway involved):
//
//   - C generates an Ed25519 key and calls ws_register(public key) → client_id.
//
// Login (the first WebSocket frame):
//
//   - C → G: S2 {client_canister_id: S1 bytes, sig}; S1 names the canister and client_id
//     (+ open_nonce, strictly increasing, against replay).
//   - G → K: ws_get_client_key(client_id), checks sig over S1, then ws_open(S1, sig) as an
//     update call. K binds the client to the calling gateway.
//   - (+) G → C: a Close frame with a CloseCode when any step fails.
//
// Steady state:
//
//   - C → G: S5 {sig, val: S4}; G checks shape and client id, then K's ws_message(S5), in order,
//     one at a time per client.
//   - G → K: ws_get_messages(nonce) polls; K answers the certified batch; G → C one S6
//     {key, val: S4, cert, tree} per message, the certificate and tree shared by the batch.
//   - Each S4 has a Kind (KindOf): KindApp for the application, (+) KindAck service messages
//     carrying the next sequence number expected, and (+) KindClose, the canister's last word.
//
// Logout:
//
//   - C closes the socket, or G closes it with a CloseCode; G → K: ws_close(client_id).
//   - (+) K ends a session on its own (owner close, expiry, moved to another gateway): its
//     ws_message then traps with a SessionEnd (session.go), and G closes with CloseSessionEnded.

// Kind is what a WebsocketMessage (S4) is to the protocol: application data or one of the service
// messages. It is computed only by WebsocketMessage.Kind and KindOf.
type Kind uint8

// Message kinds.
const (
	// KindApp is an application message: its payload goes to the application.
	KindApp Kind = iota + 1
	// KindAck is a service message carrying an ack (the next sequence number expected).
	KindAck
	// KindClose is the canister's close notice: a service message with a reason, the last
	// message of the connection.
	KindClose
)

// String returns the kind's name.
func (k Kind) String() string {
	switch k {
	case KindApp:
		return "app"
	case KindAck:
		return "ack"
	case KindClose:
		return "close"
	}
	return "kind(" + strconv.Itoa(int(k)) + ")"
}

// Kind returns m's kind.
func (m *WebsocketMessage) Kind() Kind {
	switch {
	case !m.Service:
		return KindApp
	case m.Close != "":
		return KindClose
	}
	return KindAck
}

// KindOf returns the kind of the encoded S4 val and, for KindClose, the canister's reason.
// Application messages are told apart by IsServiceMessage, which reads the map's keys only. A
// val that does not decode is KindApp: the gateway relays it as it came and the client, which
// verifies and decodes every message, refuses it.
func KindOf(val []byte) (Kind, string) {
	if !IsServiceMessage(val) {
		return KindApp, "" // a service message always has "ack"
	}
	m, err := DecodeWebsocketMessage(val)
	if err != nil {
		return KindApp, ""
	}
	return m.Kind(), m.Close
}
