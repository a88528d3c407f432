package replica

import (
	"bytes"
	"context"
	"crypto/rand"
	"github.com/icws/icws/internal/testenv"
	"io"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/icws/icws/cdk"
	"github.com/icws/icws/ic/candid"
	"github.com/icws/icws/ic/cbor"
	"github.com/icws/icws/ic/certificate"
	"github.com/icws/icws/ic/envelope"
	"github.com/icws/icws/ic/hashtree"
	"github.com/icws/icws/ic/identity"
	"github.com/icws/icws/ic/leb128"
	"github.com/icws/icws/ic/principal"
	"github.com/icws/icws/ic/requestid"
)

// fakeClock is a clock that tests move by hand.
type fakeClock struct{ ns atomic.Int64 }

func newFakeClock() *fakeClock {
	c := &fakeClock{}
	c.ns.Store(time.Now().UnixNano())
	return c
}

func (c *fakeClock) Now() time.Time          { return time.Unix(0, c.ns.Load()) }
func (c *fakeClock) Advance(d time.Duration) { c.ns.Add(int64(d)) }

// harness is a replica serving the test canister "counter" on loopback, with a client identity.
type harness struct {
	t       testing.TB
	r       *Replica
	st      *counterState
	cid     principal.Principal
	ident   identity.Identity
	now     func() time.Time
	client  *http.Client
	verify  *certificate.Verifier
	baseURL string
}

type harnessOpt func(*Config)

func withClock(c *fakeClock) harnessOpt { return func(cfg *Config) { cfg.Clock = c.Now } }

// newMemHarness is newHarness with the replica served in memory (internal/testenv's
// HandlerTransport, no listener), for tests in a testing/synctest bubble: there a goroutine
// blocked on a real socket would stop the fake clock, and synctest.Wait can wait for the round
// loop instead of polling for what it does.
func newMemHarness(t testing.TB, opts ...harnessOpt) *harness {
	t.Helper()
	return newHarnessOn(t, true, opts...)
}

// withWasmCounter replaces the native counter by the Motoko counter (testdata of wasmhost) as
// the Wasm module wasm: same name, same inc and get methods.
func withWasmCounter(wasm []byte) harnessOpt {
	return func(cfg *Config) { cfg.Canisters = []CanisterSpec{{Name: "counter", Wasm: wasm}} }
}

func newHarness(t testing.TB, opts ...harnessOpt) *harness {
	t.Helper()
	return newHarnessOn(t, false, opts...)
}

func newHarnessOn(t testing.TB, inMemory bool, opts ...harnessOpt) *harness {
	t.Helper()
	code, st := newCounter()
	cfg := Config{
		Canisters: []CanisterSpec{
			{Name: "counter", New: func() *cdk.Canister { return code }},
		},
	}
	for _, o := range opts {
		o(&cfg)
	}
	start := Start
	if inMemory {
		start = func(context.Context, Config) (*Replica, error) { return New(cfg) }
	}
	r, err := start(context.Background(), cfg)
	if err != nil {
		t.Fatalf("Start: %v", err)
	}
	t.Cleanup(func() { r.Close() })
	cid, ok := r.CanisterID("counter")
	if !ok {
		t.Fatal("no canister id for counter")
	}
	ident, err := identity.GenerateEd25519()
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now
	if cfg.Clock != nil {
		now = cfg.Clock
	}
	v, err := certificate.NewVerifier(certificate.VerifierConfig{RootKey: r.RootKey(), Clock: now})
	if err != nil {
		t.Fatal(err)
	}
	h := &harness{
		t: t, r: r, st: st, cid: cid, ident: ident, now: now,
		client:  &http.Client{Timeout: 30 * time.Second},
		verify:  v,
		baseURL: r.URL(),
	}
	if inMemory {
		h.client = &http.Client{Transport: &testenv.HandlerTransport{Handler: r.Handler()}}
		h.baseURL = "http://replica.test"
	}
	return h
}

// content returns a call or query content for the counter canister, expiring in 4 minutes.
func (h *harness) content(typ, method string, arg []byte) envelope.Content {
	nonce := make([]byte, 16)
	rand.Read(nonce)
	return envelope.Content{
		RequestType:   typ,
		Nonce:         nonce,
		IngressExpiry: uint64(h.now().Add(4 * time.Minute).UnixNano()),
		CanisterID:    h.cid,
		MethodName:    method,
		Arg:           arg,
	}
}

func (h *harness) readStateContent(paths ...[][]byte) envelope.Content {
	return envelope.Content{
		RequestType:   envelope.RequestTypeReadState,
		IngressExpiry: uint64(h.now().Add(4 * time.Minute).UnixNano()),
		Paths:         paths,
	}
}

// sign returns the body of c signed by id, and its request id.
func (h *harness) sign(id identity.Identity, c envelope.Content) ([]byte, requestid.ID) {
	h.t.Helper()
	env, err := envelope.Sign(id, c)
	if err != nil {
		h.t.Fatalf("sign: %v", err)
	}
	b, err := env.Marshal()
	if err != nil {
		h.t.Fatalf("marshal: %v", err)
	}
	return b, env.RequestID()
}

// post sends body to path with the CBOR content type.
func (h *harness) post(path string, body []byte) (int, []byte, http.Header) {
	h.t.Helper()
	return h.do("POST", path, "application/cbor", body)
}

func (h *harness) do(method, path, contentType string, body []byte) (int, []byte, http.Header) {
	h.t.Helper()
	req, err := http.NewRequest(method, h.baseURL+path, bytes.NewReader(body))
	if err != nil {
		h.t.Fatal(err)
	}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	resp, err := h.client.Do(req)
	if err != nil {
		h.t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		h.t.Fatal(err)
	}
	return resp.StatusCode, b, resp.Header
}

func endpoint(version string, cid principal.Principal, endpoint string) string {
	return "/api/" + version + "/canister/" + cid.String() + "/" + endpoint
}

// callResult is a certified call outcome.
type callResult struct {
	id         requestid.ID
	status     string
	reply      []byte
	rejectCode uint64
	rejectMsg  string
	errorCode  string
	cert       *certificate.Certificate
}

// readStatus extracts the status of request id from a verified certificate.
func (h *harness) readStatus(cert *certificate.Certificate, id requestid.ID) callResult {
	h.t.Helper()
	res := callResult{id: id, cert: cert}
	look := func(field string) hashtree.Result {
		return cert.Lookup([]byte("request_status"), id[:], []byte(field))
	}
	s := look("status")
	if s.Status != hashtree.Found {
		return res
	}
	res.status = string(s.Value)
	switch res.status {
	case "replied":
		res.reply = look("reply").Value
	case "rejected":
		code, _, err := leb128.Uint(look("reject_code").Value)
		if err != nil {
			h.t.Fatalf("reject_code: %v", err)
		}
		res.rejectCode = code
		res.rejectMsg = string(look("reject_message").Value)
		res.errorCode = string(look("error_code").Value)
	}
	return res
}

// call makes a v3 call as the harness identity and returns the certified outcome.
func (h *harness) call(method string, args ...any) callResult {
	h.t.Helper()
	return h.callAs(h.ident, "v3", method, args...)
}

func (h *harness) callAs(id identity.Identity, version, method string, args ...any) callResult {
	h.t.Helper()
	a, err := candid.Marshal(args...)
	if err != nil {
		h.t.Fatal(err)
	}
	body, rid := h.sign(id, h.content(envelope.RequestTypeCall, method, a))
	return h.syncCall(version, body, rid)
}

// syncCall posts a signed v3/v4 call body and verifies the certificate in the answer.
func (h *harness) syncCall(version string, body []byte, rid requestid.ID) callResult {
	h.t.Helper()
	code, resp, _ := h.post(endpoint(version, h.cid, "call"), body)
	if code != http.StatusOK {
		h.t.Fatalf("call: HTTP %d: %s", code, resp)
	}
	cr, err := envelope.DecodeCallResponse(resp)
	if err != nil {
		h.t.Fatalf("call response: %v", err)
	}
	if cr.Status != envelope.StatusReplied {
		h.t.Fatalf("call response status %q (%d %s)", cr.Status, cr.RejectCode, cr.RejectMessage)
	}
	cert, err := h.verify.Verify(cr.Certificate, h.cid)
	if err != nil {
		h.t.Fatalf("verify call certificate: %v", err)
	}
	return h.readStatus(cert, rid)
}

// query runs a query as the harness identity, checks the node signature and returns the
// response.
func (h *harness) query(method string, args ...any) *envelope.QueryResponse {
	h.t.Helper()
	a, err := candid.Marshal(args...)
	if err != nil {
		h.t.Fatal(err)
	}
	body, rid := h.sign(h.ident, h.content(envelope.RequestTypeQuery, method, a))
	code, resp, _ := h.post(endpoint("v2", h.cid, "query"), body)
	if code != http.StatusOK {
		h.t.Fatalf("query %s: HTTP %d: %s", method, code, resp)
	}
	qr, err := envelope.DecodeQueryResponse(resp)
	if err != nil {
		h.t.Fatalf("query response: %v", err)
	}
	h.checkQuerySignature(qr, rid)
	return qr
}

func (h *harness) checkQuerySignature(qr *envelope.QueryResponse, rid requestid.ID) {
	h.t.Helper()
	if len(qr.Signatures) != 1 {
		h.t.Fatalf("query response has %d signatures, want 1", len(qr.Signatures))
	}
	sig := qr.Signatures[0]
	if sig.Identity != h.r.NodeID() {
		h.t.Fatalf("query signed by %s, want node %s", sig.Identity, h.r.NodeID())
	}
	msg, err := envelope.QueryResponseSigningMessage(qr, rid, sig.Timestamp)
	if err != nil {
		h.t.Fatal(err)
	}
	if err := identity.VerifySignature(h.r.NodeKey(), msg, sig.Signature); err != nil {
		h.t.Fatalf("query signature: %v", err)
	}
}

// queryValue runs a query that must reply and decodes the reply into ptrs.
func (h *harness) queryValue(method string, arg any, ptrs ...any) {
	h.t.Helper()
	var qr *envelope.QueryResponse
	if arg == nil {
		qr = h.query(method)
	} else {
		qr = h.query(method, arg)
	}
	if qr.Status != envelope.StatusReplied {
		h.t.Fatalf("query %s rejected: %d %s", method, qr.RejectCode, qr.RejectMessage)
	}
	if err := candid.Unmarshal(qr.Reply.Arg, ptrs...); err != nil {
		h.t.Fatalf("query %s reply: %v", method, err)
	}
}

// readState reads paths at the canister endpoint as id and verifies the certificate.
func (h *harness) readState(id identity.Identity, ecid principal.Principal, paths ...[][]byte) (*certificate.Certificate, int, string) {
	h.t.Helper()
	body, _ := h.sign(id, h.readStateContent(paths...))
	code, resp, _ := h.post("/api/v2/canister/"+ecid.String()+"/read_state", body)
	if code != http.StatusOK {
		return nil, code, string(resp)
	}
	var rs envelope.ReadStateResponse
	if err := decodeCBOR(resp, &rs); err != nil {
		h.t.Fatalf("read_state response: %v", err)
	}
	cert, err := h.verify.Verify(rs.Certificate, principal.Principal{})
	if err != nil {
		h.t.Fatalf("verify read_state certificate: %v", err)
	}
	return cert, code, ""
}

func decodeCBOR(b []byte, v any) error { return cbor.Unmarshal(b, v) }

func path(labels ...string) [][]byte {
	p := make([][]byte, len(labels))
	for i, l := range labels {
		p[i] = []byte(l)
	}
	return p
}

func mustContain(t testing.TB, s, sub string) {
	t.Helper()
	if !strings.Contains(s, sub) {
		t.Fatalf("%q does not contain %q", s, sub)
	}
}
