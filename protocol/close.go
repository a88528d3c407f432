package protocol

import "strconv"

// CloseCode is the status code of the WebSocket Close frame a gateway sends to a client. Codes
// fall in two classes: Reconnect reports whether the client should open a new connection
// (after a backoff, possibly through another gateway) or stop and report the error.
type CloseCode uint16

// Close codes sent by the gateway. The 1xxx codes are RFC 6455's; 4000–4099 are icws's.
const (
	// CloseNormal: the connection ended as asked (the client closed). Stop.
	CloseNormal CloseCode = 1000
	// CloseGoingAway: the gateway is shutting down. Reconnect (elsewhere).
	CloseGoingAway CloseCode = 1001
	// CloseMessageTooBig: a frame was larger than the gateway accepts (the IC's ingress limit
	// minus envelope overhead). Stop: resending the same message cannot succeed.
	CloseMessageTooBig CloseCode = 1009
	// CloseInternalError: the gateway failed unexpectedly. Reconnect.
	CloseInternalError CloseCode = 1011

	// CloseBadFirstMessage: the first frame was not a well-formed, correctly signed S2 (or was a
	// text frame). Stop.
	CloseBadFirstMessage CloseCode = 4000
	// CloseOpenRefused: the canister refused ws_open (unknown client, wrong canister id, bad
	// signature, expired registration). Stop: register again before a new attempt.
	CloseOpenRefused CloseCode = 4001
	// CloseUnknownCanister: the first message names a canister this gateway does not serve or
	// that does not exist. Stop.
	CloseUnknownCanister CloseCode = 4002
	// CloseTooSlow: the client did not read its messages fast enough and its queue at the
	// gateway overflowed. Reconnect (the canister keeps what was not fetched for a while).
	CloseTooSlow CloseCode = 4003
	// CloseRateLimited: the client sent faster than the gateway allows. Reconnect after a backoff.
	CloseRateLimited CloseCode = 4004
	// CloseHandshakeTimeout: no first message in time. Reconnect.
	CloseHandshakeTimeout CloseCode = 4005
	// CloseTooManyBadMessages: too many frames that were malformed or that the canister refused
	// (bad signature, replay, reorder). Stop.
	CloseTooManyBadMessages CloseCode = 4006
	// CloseCanisterUnavailable: the canister could not be reached, or calls to it kept failing.
	// Reconnect after a backoff.
	CloseCanisterUnavailable CloseCode = 4007
	// CloseSessionEnded: the canister no longer has this client open at this gateway: it closed
	// it (the client's owner or the application called close, the registration expired) or the
	// client was moved to another gateway. Stop.
	CloseSessionEnded CloseCode = 4008
	// CloseOriginNotAllowed: the gateway does not serve pages of the browser's web origin (the
	// Origin header of the upgrade). The reason names the origin and the gateway flag that
	// allows it. Stop: the page must be served from an allowed origin, or the gateway told to
	// allow this one.
	CloseOriginNotAllowed CloseCode = 4009
)

// CloseAbnormal (RFC 6455's 1006) is never sent in a Close frame: it is how a connection that
// ended without one (the TCP connection dropped, the peer died) is reported and counted.
const CloseAbnormal CloseCode = 1006

// CloseCodes returns every close code a gateway sends, in increasing order: the list that
// counters by close code (the gateway's icws_gateway_closes_total) are built from. A new code is
// added here and in the constants above.
func CloseCodes() []CloseCode {
	return []CloseCode{
		CloseNormal, CloseGoingAway, CloseMessageTooBig, CloseInternalError,
		CloseBadFirstMessage, CloseOpenRefused, CloseUnknownCanister, CloseTooSlow,
		CloseRateLimited, CloseHandshakeTimeout, CloseTooManyBadMessages,
		CloseCanisterUnavailable, CloseSessionEnded, CloseOriginNotAllowed,
	}
}

// Reconnect reports whether a client seeing this code should connect again. Unknown codes in
// 4000–4099 stop; other unknown codes (network failures, 1006) reconnect.
func (c CloseCode) Reconnect() bool {
	switch c {
	case CloseGoingAway, CloseInternalError, CloseTooSlow, CloseRateLimited,
		CloseHandshakeTimeout, CloseCanisterUnavailable:
		return true
	case CloseNormal, CloseMessageTooBig, CloseBadFirstMessage, CloseOpenRefused,
		CloseUnknownCanister, CloseTooManyBadMessages, CloseSessionEnded, CloseOriginNotAllowed:
		return false
	}
	return c < 4000 || c > 4099
}

// Reason is the short text the gateway puts in the Close frame (at most 123 bytes by RFC 6455).
func (c CloseCode) Reason() string {
	switch c {
	case CloseNormal:
		return "normal closure"
	case CloseGoingAway:
		return "gateway going away"
	case CloseMessageTooBig:
		return "message too big"
	case CloseInternalError:
		return "gateway internal error"
	case CloseBadFirstMessage:
		return "bad first message"
	case CloseOpenRefused:
		return "ws_open refused by the canister"
	case CloseUnknownCanister:
		return "unknown canister"
	case CloseTooSlow:
		return "too slow: client queue overflow"
	case CloseRateLimited:
		return "rate limited"
	case CloseHandshakeTimeout:
		return "handshake timeout"
	case CloseTooManyBadMessages:
		return "too many bad messages"
	case CloseCanisterUnavailable:
		return "canister unavailable"
	case CloseSessionEnded:
		return "session ended by the canister"
	case CloseOriginNotAllowed:
		return "origin not allowed"
	}
	return "close code " + strconv.Itoa(int(c))
}

// String returns the code and its reason, e.g. "4003 (too slow: client queue overflow)".
func (c CloseCode) String() string {
	return strconv.Itoa(int(c)) + " (" + c.Reason() + ")"
}
