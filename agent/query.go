package agent

import (
	"context"
	"crypto/ed25519"
	"fmt"
	"net/http"
	"time"

	"github.com/icws/icws/ic/certificate"
	"github.com/icws/icws/ic/envelope"
	"github.com/icws/icws/ic/hashtree"
	"github.com/icws/icws/ic/identity"
	"github.com/icws/icws/ic/principal"
	"github.com/icws/icws/ic/requestid"
)

// QueryRaw calls the query method of canister with the Candid-encoded arg and returns the
// Candid-encoded reply. Unless Config.DisableQuerySignatureCheck is set, the answer is accepted
// only if every node signature on it is valid, recent, and made by a node of the subnet that
// hosts canister (node keys are read from the certified /subnet subtree and cached for five
// minutes). A reject is returned as *RejectError, with Certified false. A query of the
// management canister (fetch_canister_logs) is sent to the effective canister id of its
// argument, as for CallRaw.
func (a *Agent) QueryRaw(ctx context.Context, canister principal.Principal, method string, arg []byte) ([]byte, error) {
	t, err := a.getTrust(ctx)
	if err != nil {
		return nil, err
	}
	ecid := canister
	if canister == principal.Management() {
		ecid = ManagementTarget(arg) // fetch_canister_logs: sent to the canister it reads
	}
	return withClockSync(ctx, a, t, endpoint{id: ecid}, func() ([]byte, error) {
		return a.query(ctx, t, canister, ecid, method, arg)
	})
}

func (a *Agent) query(ctx context.Context, t *trust, canister, ecid principal.Principal, method string, arg []byte) ([]byte, error) {
	req, err := a.sign(requestQuery, canister, method, arg, nil)
	if err != nil {
		return nil, err
	}
	res, err := a.post(ctx, canisterPath("v2", ecid, "query"), req.body)
	if err != nil {
		return nil, err
	}
	if res.status != http.StatusOK {
		return nil, newHTTPError(res.url, res.status, res.body)
	}
	return a.queryAnswer(ctx, t, ecid, req.id, res)
}

// queryAnswer decodes and verifies the 200 answer of a query.
func (a *Agent) queryAnswer(ctx context.Context, t *trust, ecid principal.Principal, id requestid.ID, res response) ([]byte, error) {
	qr, err := envelope.DecodeQueryResponse(res.body)
	if err != nil {
		return nil, invalidf("query answer of %s: %w", res.url, err)
	}
	if qr.Status == envelope.StatusRejected && qr.RejectCode == 0 {
		return nil, invalidf("query answer of %s: status %q without a reject code", res.url, qr.Status)
	}
	if a.verifyQueries {
		if err := a.verifyQuerySignatures(ctx, t, ecid, id, qr); err != nil {
			return nil, err
		}
	}
	if qr.Status == envelope.StatusRejected {
		return nil, &RejectError{Code: qr.RejectCode, Message: qr.RejectMessage, ErrorCode: qr.ErrorCode, RequestID: id}
	}
	return qr.Reply.Arg, nil
}

// verifyQuerySignatures checks the node signatures of a query answer.
func (a *Agent) verifyQuerySignatures(ctx context.Context, t *trust, ecid principal.Principal, id requestid.ID, qr *envelope.QueryResponse) error {
	if len(qr.Signatures) == 0 {
		return fmt.Errorf("%w: the query answer carries no node signature (for a replica that does not sign queries, set Config.DisableQuerySignatureCheck)", ErrUntrusted)
	}
	keys, err := a.nodeKeys(ctx, t, ecid, nil)
	if err != nil {
		return err
	}
	if len(qr.Signatures) > len(keys.nodes) {
		return fmt.Errorf("%w: the query answer has %d node signatures but subnet %s has %d nodes", ErrUntrusted, len(qr.Signatures), keys.subnet, len(keys.nodes))
	}
	now := a.now()
	refetched := false
	for _, s := range qr.Signatures {
		ts := time.Unix(0, int64(s.Timestamp))
		if s.Timestamp > 1<<63-1 || ts.Before(now.Add(-a.maxCertAge)) || ts.After(now.Add(a.maxCertAge)) {
			return fmt.Errorf("%w: the query signature of node %s is dated %s, more than %v from the local clock (%s); is this computer's clock synchronized?",
				ErrUntrusted, s.Identity, ts.UTC().Format(time.RFC3339Nano), a.maxCertAge, now.UTC().Format(time.RFC3339Nano))
		}
		key, ok := keys.nodes[s.Identity]
		if !ok && !refetched {
			// The subnet may have gained a node since the keys were cached.
			refetched = true
			if keys, err = a.nodeKeys(ctx, t, ecid, keys); err != nil {
				return err
			}
			key, ok = keys.nodes[s.Identity]
		}
		if !ok {
			return fmt.Errorf("%w: the query answer is signed by %s, which is not a node of subnet %s", ErrUntrusted, s.Identity, keys.subnet)
		}
		msg, err := envelope.QueryResponseSigningMessage(qr, id, s.Timestamp)
		if err != nil {
			return invalidf("query answer: %w", err)
		}
		if !ed25519.Verify(key, msg, s.Signature) {
			return fmt.Errorf("%w: the query signature of node %s is invalid", ErrUntrusted, s.Identity)
		}
	}
	return nil
}

// subnetPaths is the read_state request for the /subnet subtree.
var subnetPaths = [][][]byte{{[]byte("subnet")}}

// nodeKeys returns the node keys of ecid's subnet, from the cache or from a read_state of
// /subnet. stale, if not nil, is a result the caller found incomplete: it is not reused.
func (a *Agent) nodeKeys(ctx context.Context, t *trust, ecid principal.Principal, stale *subnetKeys) (*subnetKeys, error) {
	return a.keys.get(ctx, ecid, a.now, stale, func(ctx context.Context) (*subnetKeys, error) {
		return a.fetchNodeKeys(ctx, t, ecid)
	})
}

// fetchNodeKeys reads the node keys of ecid's subnet from a verified certificate. The subnet is the
// certificate's delegated subnet, or the root subnet (the self-authenticating id of the root key)
// when there is no delegation; ecid must be in that subnet's canister ranges.
func (a *Agent) fetchNodeKeys(ctx context.Context, t *trust, ecid principal.Principal) (*subnetKeys, error) {
	cert, err := a.readState(ctx, t, t.verifier, endpoint{id: ecid}, subnetPaths)
	if err != nil {
		return nil, fmt.Errorf("agent: reading the node keys of %s's subnet: %w", ecid, err)
	}
	subnet := t.rootSubnet
	if cert.Delegation != nil {
		// The verifier checked that ecid is in the delegated subnet's ranges.
		if subnet, err = principal.FromBytes(cert.Delegation.SubnetID); err != nil {
			return nil, fmt.Errorf("%w: delegation subnet id: %w", ErrUntrusted, err)
		}
	} else if err := certificate.CheckCanisterRanges(cert.Tree, subnet, ecid); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrUntrusted, err)
	}
	sid := subnet.Bytes()
	nodes, st := hashtree.LookupSubtree(cert.Tree, []byte("subnet"), sid, []byte("node"))
	if st != hashtree.Found {
		return nil, fmt.Errorf("%w: the /subnet certificate has no node keys for subnet %s (%s)", ErrUntrusted, subnet, st)
	}
	keys := &subnetKeys{subnet: subnet, nodes: make(map[principal.Principal]ed25519.PublicKey)}
	for _, child := range hashtree.Flatten(nodes) {
		l, ok := child.(hashtree.Labeled)
		if !ok {
			continue // a pruned node: its key is unknown, so its signatures will be refused
		}
		node, err := principal.FromBytes(l.Label)
		if err != nil {
			return nil, fmt.Errorf("%w: node id under /subnet/%s/node: %w", ErrUntrusted, subnet, err)
		}
		r := hashtree.Lookup(l.Tree, []byte("public_key"))
		if r.Status != hashtree.Found {
			continue
		}
		pk, err := identity.Ed25519PublicKeyFromDER(r.Value)
		if err != nil {
			return nil, fmt.Errorf("%w: key of node %s: %w", ErrUntrusted, node, err)
		}
		keys.nodes[node] = pk
	}
	if len(keys.nodes) == 0 {
		return nil, fmt.Errorf("%w: the /subnet certificate reveals no node key of subnet %s", ErrUntrusted, subnet)
	}
	return keys, nil
}
