package replica

import (
	"net/http"
	"time"

	"github.com/icws/icws/ic/envelope"
)

// handleCall serves POST /api/v2/canister/<ecid>/call (sync false: 202 once accepted) and the
// v3/v4 forms (sync true: 200 with a certificate of the request's status once it is replied or
// rejected, 202 if that takes longer than SyncCallTimeout).
func (r *Replica) handleCall(sync bool) http.HandlerFunc {
	return func(w http.ResponseWriter, req *http.Request) {
		ecid, rq, herr := r.readRequest(w, req, "effective canister id", envelope.RequestTypeCall)
		if herr != nil {
			writeError(w, herr)
			return
		}
		callee := rq.Content.CanisterID
		if o, ok := r.admit(callee); !ok {
			// Rejected before execution, as the IC's ingress filter does: nothing is certified.
			r.writeNonReplicatedReject(w, sync, o)
			return
		}
		m, err := r.submit(&ingress{
			id:       rq.ID,
			sender:   rq.Content.Sender,
			ecid:     ecid,
			canister: callee,
			method:   rq.Content.MethodName,
			arg:      rq.Content.Arg,
			expiry:   rq.Content.IngressExpiry,
		})
		if err != nil {
			plainError(w, http.StatusServiceUnavailable, "Service is overloaded, try again later.")
			return
		}
		if !sync {
			w.WriteHeader(http.StatusAccepted)
			return
		}
		t := time.NewTimer(SyncCallTimeout)
		defer t.Stop()
		select {
		case <-m.done:
		case <-t.C:
			// No body: agent-js decodes any non-empty 202 body as CBOR.
			w.WriteHeader(http.StatusAccepted)
			return
		case <-r.stop:
			w.WriteHeader(http.StatusAccepted)
			return
		case <-req.Context().Done():
			return // the client is gone
		}
		r.mu.RLock()
		cert := r.state.statusCertificate(m.id)
		r.mu.RUnlock()
		r.writeValue(w, envelope.CallResponse{Status: envelope.StatusReplied, Certificate: cert})
	}
}

// writeNonReplicatedReject answers a call rejected before execution: v2 with 200 and
// {reject_code, reject_message, error_code}, v3/v4 with 200 and the same plus
// status "non_replicated_rejection".
func (r *Replica) writeNonReplicatedReject(w http.ResponseWriter, sync bool, o outcome) {
	if sync {
		r.writeValue(w, envelope.CallResponse{
			Status:        envelope.StatusNonReplicatedRejection,
			RejectCode:    o.rejectCode,
			RejectMessage: o.rejectMsg,
			ErrorCode:     o.errorCode,
		})
		return
	}
	r.writeValue(w, envelope.RejectResponse{
		RejectCode:    o.rejectCode,
		RejectMessage: o.rejectMsg,
		ErrorCode:     o.errorCode,
	})
}
