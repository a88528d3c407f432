package client

import (
	"errors"
	"fmt"
	"strconv"

	"github.com/icws/icws/protocol"
)

// ErrClosed is returned by every method of a Conn after Close was called.
var ErrClosed = errors.New("client: connection closed")

// ErrNotGateway is wrapped by the error of Dial or Reconnect when the gateway's URL answered the
// WebSocket handshake with an HTML page: a web server (such as icws dev's demo page), not a gateway.
var ErrNotGateway = errors.New("this URL serves web pages, not an icws gateway")

// Kind names the check a message from the gateway failed.
type Kind int

// The checks of Recv, in the order they run (see the package doc). Each failed check is a
// *VerifyError with one of these kinds.
const (
	// Malformed: the frame is not a cert message (S6), or its certified val (S4) does not decode.
	Malformed Kind = iota + 1
	// BadCertificate: the certificate does not verify: it does not decode, its BLS signature is
	// wrong, its delegation or canister ranges do not cover the canister, it has no certified
	// data for the canister, or it is signed by another root key than the one configured.
	BadCertificate
	// Tampered: the witness tree does not decode, its root hash is not the canister's certified
	// data, it does not hold ["websocket", key], or the value there is not SHA-256(val). The
	// gateway changed the message, its key or its proof.
	Tampered
	// Foreign: a genuine message for another client (its client id is not ours).
	Foreign
	// Replay: a genuine message of ours that was already delivered (its sequence number is below
	// the next one).
	Replay
	// Gap: a genuine message of ours that skips sequence numbers: one or more messages before it
	// were lost or withheld.
	Gap
	// Stale: the certificate's time or the message's timestamp is older than the configured
	// bound: the message was delivered late.
	Stale
	// Future: the certificate's time or the message's timestamp is ahead of the local clock by
	// more than the configured skew. The local clock is probably wrong.
	Future
	// Withheld: the gateway holds messages back. Either no certified message arrived for
	// Config.HeartbeatTimeout (since the socket opened, or since the last one), or the canister's
	// acknowledgements show that a message the client wrote more than Config.AckTimeout before
	// a heartbeat never reached it (the gateway swallowed it).
	Withheld
)

// String returns the kind's name in lower case, such as "tampered".
func (k Kind) String() string {
	switch k {
	case Malformed:
		return "malformed"
	case BadCertificate:
		return "bad certificate"
	case Tampered:
		return "tampered"
	case Foreign:
		return "foreign"
	case Replay:
		return "replay"
	case Gap:
		return "gap"
	case Stale:
		return "stale"
	case Future:
		return "future"
	case Withheld:
		return "withheld"
	}
	return "kind(" + strconv.Itoa(int(k)) + ")"
}

// Fatal reports whether a failed check of this kind ends the connection's stream. Only Foreign
// and Replay are not fatal: they drop a genuine message that is not ours to take, and nothing is
// lost. Every other kind means that a message due to us was forged, lost, withheld or delivered
// out of its time bound, so the stream can no longer be trusted to be complete.
func (k Kind) Fatal() bool { return k != Foreign && k != Replay }

// VerifyError is a message from the gateway that failed a check of Recv. The message was
// dropped; nothing of it was returned.
//
// If Fatal reports false (Foreign, Replay), the connection goes on and the next Recv reads the
// next message. If it reports true, the stream stopped: every later Recv returns the same error
// and Send fails. The socket stays open (closing it would make the gateway end the client's
// session at the canister), so that Reconnect can resume through another gateway, with the same
// client id and the next sequence number: the canister delivers what this gateway lost or
// withheld. Close ends the session instead.
type VerifyError struct {
	// Kind is the check that failed.
	Kind Kind
	// Key is the certified-map key the frame named, if it could be read.
	Key string
	// Seq is the sequence number in the message, for Foreign, Replay, Gap, Stale and Future
	// (checks that run after the message was authenticated); otherwise 0.
	Seq uint64
	// Detail says what exactly failed, such as "witness root 4fe9… is not the certified data
	// 1a2b…" or "sequence number 7, want 5".
	Detail string
	// Err is the underlying error, if any (a decoding or certificate error).
	Err error
}

// Error implements error.
func (e *VerifyError) Error() string {
	s := "client: message " + e.Kind.String()
	if e.Key != "" {
		s += " (key " + strconv.Quote(e.Key) + ")"
	}
	if e.Detail != "" {
		s += ": " + e.Detail
	}
	if e.Err != nil {
		s += ": " + e.Err.Error()
	}
	return s
}

// Unwrap returns the underlying error.
func (e *VerifyError) Unwrap() error { return e.Err }

// Fatal reports whether the connection's stream ended with this error; see Kind.Fatal.
func (e *VerifyError) Fatal() bool { return e.Kind.Fatal() }

// CloseError is the end of a connection by the gateway: the code and reason of its Close frame,
// or code 1006 when the connection dropped without one.
type CloseError struct {
	// Code is the close code. The icws codes are documented in package protocol.
	Code protocol.CloseCode
	// Reason is the text the gateway sent (possibly empty), or what ended the connection.
	Reason string
	// Err is the network error that ended a connection without a Close frame, or nil.
	Err error
}

// Error implements error. It names the code, what it means and the gateway's reason.
func (e *CloseError) Error() string {
	s := "client: gateway closed the connection: " + e.Code.String()
	if e.Reason != "" && e.Reason != e.Code.Reason() {
		s += ": " + e.Reason
	}
	if e.Err != nil {
		s += ": " + e.Err.Error()
	}
	if e.Code.Reconnect() {
		s += " (reconnect)"
	}
	return s
}

// Unwrap returns the network error, if any.
func (e *CloseError) Unwrap() error { return e.Err }

// Reconnect reports whether the client should connect again (possibly through another
// gateway), as package protocol classes the code.
func (e *CloseError) Reconnect() bool { return e.Code.Reconnect() }

// CanisterClosedError is the canister's own end of the connection: it sent a service message
// closing it (its application closed the client, or the canister refused what the client sent).
// It is the last thing Recv returns; the session is over and Reconnect cannot resume it.
type CanisterClosedError struct {
	// Reason is the canister's text.
	Reason string
}

// Error implements error.
func (e *CanisterClosedError) Error() string {
	return "client: the canister closed the connection: " + e.Reason
}

// CloseStatus returns the close code of err if it is or wraps a *CloseError, and -1 otherwise.
func CloseStatus(err error) int {
	var ce *CloseError
	if errors.As(err, &ce) {
		return int(ce.Code)
	}
	return -1
}

// IsFatal reports whether err ends the stream of Recv: true for everything except a nil error and
// a non-fatal *VerifyError (Foreign, Replay), after which Recv may simply be called again.
func IsFatal(err error) bool {
	if err == nil {
		return false
	}
	var ve *VerifyError
	if errors.As(err, &ve) {
		return ve.Fatal()
	}
	var ce *ChannelError
	if errors.As(err, &ce) {
		return false // one subscription ended; the connection goes on
	}
	return true
}

func verifyErrorf(kind Kind, key string, err error, format string, args ...any) *VerifyError {
	return &VerifyError{Kind: kind, Key: key, Detail: fmt.Sprintf(format, args...), Err: err}
}
