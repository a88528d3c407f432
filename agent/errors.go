package agent

import (
	"errors"
	"fmt"
	"net/http"
	"strings"
	"unicode/utf8"

	"github.com/icws/icws/ic/envelope"
	"github.com/icws/icws/ic/requestid"
)

// Sentinel errors. Each error the agent returns for one of these conditions wraps the sentinel, so
// errors.Is(err, ErrUntrusted) tells a refused response from a transport failure.
var (
	// ErrUntrusted is wrapped by every error about a response that failed verification: a
	// certificate whose signature, delegation, canister ranges or time is wrong, or a query whose
	// node signatures do not check out. The response was refused and none of its content was used;
	// the cause (for instance an error of package certificate) is wrapped as well.
	ErrUntrusted = errors.New("agent: response failed verification")
	// ErrInvalidResponse is wrapped when a response cannot be decoded or lacks a required field.
	ErrInvalidResponse = errors.New("agent: invalid response")
	// ErrRequestDone is returned when the IC reports a call as "done": it completed, but its reply
	// was already pruned from the state and cannot be read any more.
	ErrRequestDone = errors.New("agent: the call completed but its reply is no longer available")
	// ErrCallExpired is returned when a call's ingress expiry passed while the IC still had no
	// status for it: the call was not executed and never will be.
	ErrCallExpired = errors.New("agent: the call expired before the IC executed it")
	// ErrRootKeyNotFetched is wrapped when Config.FetchRootKey is set and the root key could not
	// be read from the replica's /api/v2/status.
	ErrRootKeyNotFetched = errors.New("agent: could not fetch the root key")
)

// RejectError is the error of a call or query that the IC or the canister rejected. Certified
// reports whether the reject came in a certificate (the final status of an update call) rather
// than as an uncertified answer of one replica (a query, or a call refused before execution).
type RejectError struct {
	// Code is the reject code: 4 (CANISTER_REJECT) for an explicit reject by the canister, 5
	// (CANISTER_ERROR) for a trap, 1 to 3 for system errors.
	Code envelope.RejectCode
	// Message is the reject message: the canister's text for code 4, the trap text for code 5.
	Message string
	// ErrorCode is the implementation's error code such as "IC0503"; it may be empty.
	ErrorCode string
	// Certified is true when the reject was read from a verified certificate.
	Certified bool
	// RequestID is the id of the rejected request.
	RequestID requestid.ID
}

// Error implements error.
func (e *RejectError) Error() string {
	var b strings.Builder
	b.WriteString("canister rejected the call: reject code ")
	fmt.Fprintf(&b, "%d (%s)", uint64(e.Code), e.Code)
	if e.ErrorCode != "" {
		b.WriteString(", error code " + e.ErrorCode)
	}
	if !e.Certified {
		b.WriteString(", uncertified")
	}
	b.WriteString(": ")
	b.WriteString(e.Message)
	return b.String()
}

// HTTPError is the error of an HTTP answer that the IC interface does not define as a result: a
// 4xx or 5xx status, or an unexpected 2xx. Body holds the start of the answer's text.
type HTTPError struct {
	// StatusCode is the HTTP status code.
	StatusCode int
	// Body is the beginning of the response body (at most maxErrorBody bytes, valid UTF-8).
	Body string
	// URL is the request's URL.
	URL string
}

// Error implements error.
func (e *HTTPError) Error() string {
	msg := fmt.Sprintf("agent: %s answered %d %s", e.URL, e.StatusCode, http.StatusText(e.StatusCode))
	if e.Body != "" {
		msg += ": " + e.Body
	}
	switch {
	case e.StatusCode == http.StatusTooManyRequests || e.StatusCode == http.StatusServiceUnavailable:
		msg += " (the IC is overloaded; retry later)"
	case e.StatusCode == http.StatusForbidden:
		msg += " (the request's signature or sender was refused; check the identity)"
	}
	return msg
}

// Temporary reports whether retrying the same request later may succeed.
func (e *HTTPError) Temporary() bool {
	switch e.StatusCode {
	case http.StatusTooManyRequests, http.StatusBadGateway, http.StatusServiceUnavailable, http.StatusGatewayTimeout:
		return true
	}
	return false
}

// maxErrorBody is the most of an error body kept in an HTTPError.
const maxErrorBody = 512

func newHTTPError(url string, status int, body []byte) *HTTPError {
	if len(body) > maxErrorBody {
		body = body[:maxErrorBody]
	}
	s := strings.ToValidUTF8(string(body), string(utf8.RuneError))
	return &HTTPError{StatusCode: status, Body: strings.TrimSpace(s), URL: url}
}

// expiryRefusalPrefix starts the text of the 400 answer the IC gives to a request whose
// ingress_expiry is outside the window it accepts.
const expiryRefusalPrefix = "Invalid request expiry"

// isExpiryRefusal reports whether err is the IC's refusal of a request's ingress expiry, which a
// skewed local clock causes.
func isExpiryRefusal(err error) (*HTTPError, bool) {
	var he *HTTPError
	if errors.As(err, &he) && he.StatusCode == http.StatusBadRequest &&
		strings.Contains(he.Body, expiryRefusalPrefix) {
		return he, true
	}
	return nil, false
}

func invalidf(format string, args ...any) error {
	return fmt.Errorf("%w: "+format, append([]any{ErrInvalidResponse}, args...)...)
}
