package protocol

import (
	"strconv"
	"strings"
)

// SessionEnd says why a canister no longer has a client open at the calling gateway. It is the
// one part of the canister↔gateway contract that travels in a trap: the canister traps ws_message
// with SessionEnd.Trap's text, and the gateway, reading the reject, recovers the value with
// ParseSessionEnd and closes the client with CloseSessionEnded instead of counting a bad message.
type SessionEnd uint8

// Reasons a session ended.
const (
	// SessionUnknownClient: the canister has no such client (closed by its owner, expired).
	SessionUnknownClient SessionEnd = iota + 1
	// SessionNotOpen: the client is registered but has no open connection.
	SessionNotOpen
	// SessionOtherGateway: the client is open through another gateway.
	SessionOtherGateway
)

// sessionEndMarker starts the machine-readable part of a SessionEnd trap: the marker, the reason's
// number, and "]".
const sessionEndMarker = "[icws-session-end:"

// ParseSessionEnd finds, e.g. "ws_message: client 7 is not open [icws-session-end:2]".
func (e SessionEnd) Trap(method string, client uint64) string {
	id := strconv.FormatUint(client, 10)
	var text string
	switch e {
	case SessionUnknownClient:
		text = "unknown client " + id
	case SessionNotOpen:
		text = "client " + id + " is not open"
	case SessionOtherGateway:
		text = "client " + id + " is bound to another gateway"
	default:
		text = "client " + id + ": session ended"
	}
	return method + ": " + text + " " + sessionEndMarker + strconv.Itoa(int(e)) + "]"
}

// ParseSessionEnd finds a SessionEnd in a reject message (the IC wraps trap texts, so the marker
// may be anywhere in it). It reports false for any other reject.
func ParseSessionEnd(rejectMessage string) (SessionEnd, bool) {
	i := strings.LastIndex(rejectMessage, sessionEndMarker)
	if i < 0 {
		return 0, false
	}
	rest := rejectMessage[i+len(sessionEndMarker):]
	j := strings.IndexByte(rest, ']')
	if j < 0 {
		return 0, false
	}
	n, err := strconv.ParseUint(rest[:j], 10, 8)
	if err != nil {
		return 0, false
	}
	e := SessionEnd(n)
	if e < SessionUnknownClient || e > SessionOtherGateway {
		return 0, false
	}
	return e, true
}
