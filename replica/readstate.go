package replica

import (
	"bytes"
	"net/http"

	"github.com/icws/icws/ic/envelope"
	"github.com/icws/icws/ic/principal"
	"github.com/icws/icws/ic/requestid"
)

// readScope tells the canister read_state endpoint from the subnet one.
type readScope int

const (
	scopeCanister readScope = iota
	scopeSubnet
)

// handleReadState serves POST /api/v2|v3/canister/<ecid>/read_state and
// /api/v2|v3/subnet/<subnet id>/read_state: a certificate of the last round revealing the
// requested paths and /time, everything else pruned.
func (r *Replica) handleReadState(scope readScope) http.HandlerFunc {
	what := "effective canister id"
	if scope == scopeSubnet {
		what = "subnet id"
	}
	return func(w http.ResponseWriter, req *http.Request) {
		ecid, rq, herr := r.readRequest(w, req, what, envelope.RequestTypeReadState)
		if herr != nil {
			writeError(w, herr)
			return
		}
		statusID, herr := r.checkPaths(rq, scope, ecid)
		if herr != nil {
			writeError(w, herr)
			return
		}
		r.mu.RLock()
		cert := r.state.certificate(rq.Content.Paths, statusID)
		r.mu.RUnlock()
		r.writeValue(w, envelope.ReadStateResponse{Certificate: cert})
	}
}

var (
	labelModuleHash       = []byte("module_hash")
	labelControllers      = []byte("controllers")
	labelMetadata         = []byte("metadata")
	labelNode             = []byte("node")
	labelPublicKey        = []byte("public_key")
	labelCanisterRanges   = []byte("canister_ranges")
	labelAPIBoundaryNodes = []byte("api_boundary_nodes")
)

// statusFields are the labels below /request_status/<id> that may be requested.
var statusFields = [][]byte{
	[]byte("status"), []byte("reply"), []byte("reject_code"), []byte("reject_message"), []byte("error_code"),
}

// checkPaths checks that the paths of a read_state request are among those the IC allows, and
// that the sender may read them. It returns the request id named by /request_status paths, if
// any. Failures, worded after the DFINITY replica:
//
//   - a path of no allowed form: 404 "Invalid path requested.";
//   - /canister/<id>/... for another canister than the URL's: 400;
//   - a request id that is not 32 bytes, or two different ones: 400;
//   - the status of another sender's request, or of a request to another effective canister id,
//     or to a canister outside the delegation targets: 403.
func (r *Replica) checkPaths(rq *envelope.Request, scope readScope, ecid principal.Principal) (*requestid.ID, *httpError) {
	var statusID *requestid.ID
	for _, p := range rq.Content.Paths {
		if len(p) == 0 {
			return nil, errorf(http.StatusNotFound, "Invalid path requested.")
		}
		switch {
		case match(p, labelTime):
		case bytes.Equal(p[0], labelSubnet) && subnetPath(p[1:]):
		case bytes.Equal(p[0], labelAPIBoundaryNodes) && boundaryNodePath(p[1:]):
		case scope == scopeSubnet && bytes.Equal(p[0], labelCanisterRanges) && len(p) <= 3:
		case scope == scopeCanister && bytes.Equal(p[0], labelCanister) && canisterPath(p[1:]):
			cid, err := principal.FromBytes(p[1])
			if err != nil {
				return nil, errorf(http.StatusBadRequest, "Could not parse principal ID: %v.", err)
			}
			if cid != ecid {
				return nil, errorf(http.StatusBadRequest, "Effective principal id in URL %s does not match requested principal id: %s.", ecid, cid)
			}
			if len(p) == 4 {
				if herr := r.checkMetadataAccess(rq.Content.Sender, cid, string(p[3])); herr != nil {
					return nil, herr
				}
			}
		case scope == scopeCanister && bytes.Equal(p[0], labelRequestStatus) && statusPath(p[1:]):
			id, err := requestid.FromBytes(p[1])
			if err != nil {
				return nil, errorf(http.StatusBadRequest, "Invalid request id in paths. Maybe the request ID is not of %d bytes in length?!", requestid.Size)
			}
			if statusID != nil && *statusID != id {
				return nil, errorf(http.StatusBadRequest, "More than one non-unique request ID exists in request_status paths: %s and %s.", *statusID, id)
			}
			statusID = &id
			if herr := r.checkStatusAccess(rq, id, ecid); herr != nil {
				return nil, herr
			}
		default:
			return nil, errorf(http.StatusNotFound, "Invalid path requested.")
		}
	}
	return statusID, nil
}

// checkStatusAccess allows reading the status of request id if it is unknown, or if it was sent
// by the same sender to the same effective canister id, within the delegation targets.
func (r *Replica) checkStatusAccess(rq *envelope.Request, id requestid.ID, ecid principal.Principal) *httpError {
	m := r.lookupIngress(id)
	if m == nil {
		return nil
	}
	if m.sender != rq.Content.Sender {
		return errorf(http.StatusForbidden, "The user tries to access Request ID not signed by the caller.")
	}
	if m.ecid != ecid {
		return errorf(http.StatusForbidden, "Request %s was sent to effective canister id %s, not %s.", id, m.ecid, ecid)
	}
	if !rq.Targets().Contains(m.canister) {
		return errorf(http.StatusForbidden, "The user tries to access request IDs for canisters not belonging to sender delegation targets.")
	}
	return nil
}

func match(p [][]byte, labels ...[]byte) bool {
	if len(p) != len(labels) {
		return false
	}
	for i := range p {
		if !bytes.Equal(p[i], labels[i]) {
			return false
		}
	}
	return true
}

// subnetPath: "", <id>, <id>/public_key, <id>/canister_ranges, <id>/node, <id>/node/<node>,
// <id>/node/<node>/public_key (after /subnet).
func subnetPath(rest [][]byte) bool {
	switch len(rest) {
	case 0, 1:
		return true
	case 2:
		return bytes.Equal(rest[1], labelPublicKey) || bytes.Equal(rest[1], labelCanisterRanges) || bytes.Equal(rest[1], labelNode)
	case 3:
		return bytes.Equal(rest[1], labelNode)
	case 4:
		return bytes.Equal(rest[1], labelNode) && bytes.Equal(rest[3], labelPublicKey)
	}
	return false
}

// boundaryNodePath: "", <node>, <node>/{domain,ipv4_address,ipv6_address} (after
// /api_boundary_nodes).
func boundaryNodePath(rest [][]byte) bool {
	switch len(rest) {
	case 0, 1:
		return true
	case 2:
		switch string(rest[1]) {
		case "domain", "ipv4_address", "ipv6_address":
			return true
		}
	}
	return false
}

// canisterPath: <id>/module_hash, <id>/controllers, <id>/metadata/<name> (after /canister).
func canisterPath(rest [][]byte) bool {
	switch len(rest) {
	case 2:
		return bytes.Equal(rest[1], labelModuleHash) || bytes.Equal(rest[1], labelControllers)
	case 3:
		return bytes.Equal(rest[1], labelMetadata)
	}
	return false
}

// statusPath: <id>, <id>/{status,reply,reject_code,reject_message,error_code} (after
// /request_status).
func statusPath(rest [][]byte) bool {
	switch len(rest) {
	case 1:
		return true
	case 2:
		for _, f := range statusFields {
			if bytes.Equal(rest[1], f) {
				return true
			}
		}
	}
	return false
}

// checkMetadataAccess allows reading /canister/<id>/metadata/<name> if the section is public or
// the sender controls the canister, as the IC does for icp:private sections.
func (r *Replica) checkMetadataAccess(sender, id principal.Principal, name string) *httpError {
	r.mu.RLock()
	defer r.mu.RUnlock()
	c := r.byID[id]
	if c == nil || c.info == nil {
		return nil
	}
	if md, ok := c.info.Metadata[name]; ok && !md.Public && !c.isController(sender) {
		return errorf(http.StatusForbidden, "Custom section %s can only be requested by the controllers of the canister.", name)
	}
	return nil
}
