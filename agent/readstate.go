package agent

import (
	"context"
	"fmt"
	"time"

	"github.com/icws/icws/ic/cbor"
	"github.com/icws/icws/ic/certificate"
	"github.com/icws/icws/ic/envelope"
	"github.com/icws/icws/ic/hashtree"
	"github.com/icws/icws/ic/principal"
)

// ReadState reads paths of the IC's certified state through the read_state endpoint of canister
// (the effective canister id: the canister the paths are about, or any canister on the subnet)
// and returns the verified certificate. Each path is a list of labels, such as
// {[]byte("canister"), canister.Bytes(), []byte("module_hash")}. The certificate always holds
// /time as well. Values are read with the certificate's Lookup; a path the IC did not reveal
// looks up as Unknown.
//
// The certificate was checked against the root key, with its delegation, the canister's
// membership in the delegated subnet's canister ranges, and its freshness.
func (a *Agent) ReadState(ctx context.Context, canister principal.Principal, paths [][][]byte) (*certificate.Certificate, error) {
	t, err := a.getTrust(ctx)
	if err != nil {
		return nil, err
	}
	return a.readState(ctx, t, t.verifier, endpoint{id: canister}, paths)
}

// ReadSubnetState reads paths of a subnet's certified state through the subnet's read_state
// endpoint (/api/v2/subnet/<subnet>/read_state) and returns the verified certificate. A
// certificate delegated to another subnet than the one asked for is refused.
func (a *Agent) ReadSubnetState(ctx context.Context, subnet principal.Principal, paths [][][]byte) (*certificate.Certificate, error) {
	t, err := a.getTrust(ctx)
	if err != nil {
		return nil, err
	}
	return a.readState(ctx, t, t.verifier, endpoint{id: subnet, subnet: true}, paths)
}

// endpoint is where a read_state request goes: the endpoint of a canister (an effective canister
// id) or of a subnet.
type endpoint struct {
	id     principal.Principal
	subnet bool
}

func (e endpoint) path() string {
	if e.subnet {
		return subnetPath("v2", e.id, "read_state")
	}
	return canisterPath("v2", e.id, "read_state")
}

// verify verifies a certificate read from the endpoint: for a canister, its delegation must
// cover the canister; for a subnet, it must be the subnet's.
func (e endpoint) verify(v *certificate.Verifier, raw []byte) (*certificate.Certificate, error) {
	if e.subnet {
		return v.VerifyForSubnet(raw, e.id)
	}
	return v.Verify(raw, e.id)
}

// readState signs, sends and verifies a read_state request with verifier v, syncing the clock and
// retrying once if the IC refuses the request's expiry.
func (a *Agent) readState(ctx context.Context, t *trust, v *certificate.Verifier, ep endpoint, paths [][][]byte) (*certificate.Certificate, error) {
	return withClockSync(ctx, a, t, ep, func() (*certificate.Certificate, error) {
		return a.readStateOnce(ctx, t, v, ep, paths)
	})
}

// readStateOnce is one read_state exchange.
func (a *Agent) readStateOnce(ctx context.Context, t *trust, v *certificate.Verifier, ep endpoint, paths [][][]byte) (*certificate.Certificate, error) {
	req, err := a.sign(requestReadState, principal.Principal{}, "", nil, paths)
	if err != nil {
		return nil, err
	}
	raw, err := a.postReadState(ctx, ep.path(), req.body)
	if err != nil {
		return nil, err
	}
	cert, err := ep.verify(v, raw)
	if err != nil {
		return nil, a.untrusted(t, "the read_state certificate", err)
	}
	return cert, nil
}

// postReadState sends a read_state request and returns the encoded certificate of the answer.
func (a *Agent) postReadState(ctx context.Context, path string, body []byte) ([]byte, error) {
	res, err := a.post(ctx, path, body)
	if err != nil {
		return nil, err
	}
	if res.status != 200 {
		return nil, newHTTPError(res.url, res.status, res.body)
	}
	var rs envelope.ReadStateResponse
	if err := cbor.Unmarshal(res.body, &rs); err != nil {
		return nil, invalidf("read_state answer of %s: %w", res.url, err)
	}
	if len(rs.Certificate) == 0 {
		return nil, invalidf("read_state answer of %s has no certificate", res.url)
	}
	return rs.Certificate, nil
}

// Status returns the replica's /api/v2/status. Its root key is not trusted by the agent unless
// Config.FetchRootKey is set.
func (a *Agent) Status(ctx context.Context) (*envelope.Status, error) {
	res, err := a.get(ctx, "/api/v2/status")
	if err != nil {
		return nil, err
	}
	if res.status != 200 {
		return nil, newHTTPError(res.url, res.status, res.body)
	}
	var st envelope.Status
	if err := cbor.Unmarshal(res.body, &st); err != nil {
		return nil, invalidf("status answer of %s: %w", res.url, err)
	}
	return &st, nil
}

// timePaths is the read_state request for /time alone.
var timePaths = [][][]byte{{[]byte("time")}}

// Time returns the IC's certified time, read through the read_state endpoint of canister (any
// canister the IC routes; on mainnet the ICP ledger, ryjl3-tyaaa-aaaaa-aaaba-cai, is the
// customary choice). The certificate's signature, delegation and ranges are verified but not its
// freshness, since this is how a skewed clock is measured; the measured skew is kept for later
// ingress expiries.
func (a *Agent) Time(ctx context.Context, canister principal.Principal) (time.Time, error) {
	t, err := a.getTrust(ctx)
	if err != nil {
		return time.Time{}, err
	}
	ep := endpoint{id: canister}
	return withClockSync(ctx, a, t, ep, func() (time.Time, error) {
		return a.measureTime(ctx, t, ep)
	})
}

// measureTime reads the certified /time once and records the skew from the local clock.
func (a *Agent) measureTime(ctx context.Context, t *trust, ep endpoint) (time.Time, error) {
	cert, err := a.readStateOnce(ctx, t, t.timeless, ep, timePaths)
	if err != nil {
		return time.Time{}, err
	}
	icTime, err := cert.Time()
	if err != nil {
		return time.Time{}, a.untrusted(t, "the /time certificate", err)
	}
	a.setSkew(icTime.Sub(a.now()))
	return icTime, nil
}

// CertifiedData verifies a canister's data certificate (what ic0.data_certificate gives a query
// called from outside the IC, which a canister passes on in its reply) and returns the certified
// data it holds for canister, /canister/<canister>/certified_data. The certificate is checked like
// every other: root key, delegation and canister ranges, freshness. Certified data cannot be read
// with read_state; this is the way to obtain it.
func (a *Agent) CertifiedData(ctx context.Context, canister principal.Principal, dataCertificate []byte) ([]byte, error) {
	t, err := a.getTrust(ctx)
	if err != nil {
		return nil, err
	}
	cert, err := t.verifier.Verify(dataCertificate, canister)
	if err != nil {
		return nil, a.untrusted(t, "the data certificate", err)
	}
	r := cert.Lookup([]byte("canister"), canister.Bytes(), []byte("certified_data"))
	if r.Status != hashtree.Found {
		return nil, fmt.Errorf("%w: the data certificate holds no certified data of canister %s (%s)", ErrUntrusted, canister, r.Status)
	}
	return append([]byte(nil), r.Value...), nil
}
