package envelope

import (
	"fmt"

	"github.com/icws/icws/ic/requestid"
)

// ResponseDomainSeparator is prepended to the hash of a query response to
// form the message a node signs (`\x0Bic-response`).
const ResponseDomainSeparator = "\x0Bic-response"

// QueryResponseSigningMessage returns the bytes a node signs (Ed25519, node
// key) for resp at timestamp (ns), and an agent verifies:
// `\x0Bic-response` ‖ hash_of_map of
//   - {status: "replied", reply: {arg}, timestamp, request_id}, or
//   - {status: "rejected", reject_code, reject_message, error_code (omitted
//     when empty), timestamp, request_id},
//
// where request_id is the query's request id as a blob. Signatures in
// resp are ignored.
func QueryResponseSigningMessage(resp *QueryResponse, requestID requestid.ID, timestamp uint64) ([]byte, error) {
	m := map[string]any{
		"status":     resp.Status,
		"timestamp":  timestamp,
		"request_id": requestID[:],
	}
	switch resp.Status {
	case StatusReplied:
		if resp.Reply == nil {
			return nil, fmt.Errorf("envelope: replied query response without reply")
		}
		m["reply"] = map[string]any{"arg": nonNil(resp.Reply.Arg)}
	case StatusRejected:
		m["reject_code"] = uint64(resp.RejectCode)
		m["reject_message"] = resp.RejectMessage
		if resp.ErrorCode != "" {
			m["error_code"] = resp.ErrorCode
		}
	default:
		return nil, fmt.Errorf("envelope: query response status %q, want %q or %q", resp.Status, StatusReplied, StatusRejected)
	}
	h, err := requestid.HashOfMap(m)
	if err != nil {
		return nil, fmt.Errorf("envelope: hash query response: %w", err)
	}
	msg := make([]byte, 0, len(ResponseDomainSeparator)+len(h))
	msg = append(msg, ResponseDomainSeparator...)
	return append(msg, h[:]...), nil
}
