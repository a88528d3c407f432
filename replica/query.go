package replica

import (
	"crypto/ed25519"
	"fmt"
	"net/http"

	"github.com/icws/icws/ic/envelope"
	"github.com/icws/icws/ic/principal"
)

// handleQuery serves POST /api/v2|v3/canister/<ecid>/query: it runs the query against the state
// of the last round and answers replied or rejected, signed by the node key.
func (r *Replica) handleQuery(w http.ResponseWriter, req *http.Request) {
	ecid, rq, herr := r.readRequest(w, req, "effective canister id", envelope.RequestTypeQuery)
	if herr != nil {
		writeError(w, herr)
		return
	}
	var o outcome
	r.mu.RLock()
	if rq.Content.CanisterID == principal.Management() && rq.Content.MethodName == "fetch_canister_logs" {
		o = r.fetchLogs(rq.Content.Sender, ecid, rq.Content.Arg)
	} else if isStandin(rq.Content.CanisterID) {
		o = r.standin(rq.Content.CanisterID, rq.Content.Sender, rq.Content.MethodName, rq.Content.Arg, true, r.state.time)
	} else if c := r.byID[rq.Content.CanisterID]; c == nil {
		o = canisterNotFound(rq.Content.CanisterID)
		if rq.Content.CanisterID == principal.Management() {
			o = outcome{
				rejectCode: envelope.DestinationInvalid,
				errorCode:  errCanisterMethodNotFound,
				rejectMsg:  fmt.Sprintf("The management canister has no query method %q; call it as an update.", rq.Content.MethodName),
			}
		}
	} else {
		o = c.query(req.Context(), rq.Content.Sender, rq.Content.MethodName, rq.Content.Arg, r.state.time, r.dataCertificateLocked(c))
	}
	r.mu.RUnlock()
	resp := envelope.QueryResponse{Status: envelope.StatusReplied}
	if o.replied {
		resp.Reply = &envelope.QueryReply{Arg: o.reply}
	} else {
		resp.Status = envelope.StatusRejected
		resp.RejectCode = o.rejectCode
		resp.RejectMessage = o.rejectMsg
		resp.ErrorCode = o.errorCode
	}
	ts := r.nowNanos()
	msg, err := envelope.QueryResponseSigningMessage(&resp, rq.ID, ts)
	if err != nil {
		r.log.Error("replica: sign query response", "err", err)
		plainError(w, http.StatusInternalServerError, "Could not sign the query response: "+err.Error())
		return
	}
	resp.Signatures = []envelope.NodeSignature{{
		Timestamp: ts,
		Signature: ed25519.Sign(r.keys.node, msg),
		Identity:  r.nodeID,
	}}
	r.writeValue(w, resp)
}

// dataCertificateLocked returns the data certificate of c for the last round, building it once
// per round. The caller holds r.mu for reading.
func (r *Replica) dataCertificateLocked(c *canister) []byte {
	if p := c.dataCert.Load(); p != nil {
		return *p
	}
	cert := r.state.dataCertificate(c.id)
	c.dataCert.Store(&cert)
	return cert
}

// nowNanos returns the clock as nanoseconds since 1970.
func (r *Replica) nowNanos() uint64 {
	t := r.clock().UnixNano()
	if t < 0 {
		return 0
	}
	return uint64(t)
}
