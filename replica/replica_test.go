package replica

import (
	"bytes"
	"context"
	"crypto/sha256"
	"net/http"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/icws/icws/cdk"
	"github.com/icws/icws/ic/candid"
	"github.com/icws/icws/ic/envelope"
	"github.com/icws/icws/ic/hashtree"
	"github.com/icws/icws/ic/identity"
	"github.com/icws/icws/ic/principal"
)

func TestCanisterIDs(t *testing.T) {
	for i, want := range []string{
		"bkyz2-fmaaa-aaaaa-qaaaq-cai",
		"bd3sg-teaaa-aaaaa-qaaba-cai",
		"be2us-64aaa-aaaaa-qaabq-cai",
	} {
		if got := canisterIDAt(i).String(); got != want {
			t.Errorf("canister %d: %s, want %s", i, got, want)
		}
	}
	first, last := CanisterRange()
	if first.String() != "bnz7o-iuaaa-aaaaa-qaaaa-cai" {
		t.Errorf("range starts at %s", first)
	}
	if !inRange(canisterIDAt(0)) || !inRange(last) || inRange(principal.CanisterID(2)) {
		t.Error("inRange is wrong")
	}
}

func TestStatusEndpoint(t *testing.T) {
	h := newHarness(t)
	code, body, hdr := h.do("GET", "/api/v2/status", "", nil)
	if code != http.StatusOK {
		t.Fatalf("status: %d %s", code, body)
	}
	if !bytes.HasPrefix(body, []byte("\xd9\xd9\xf7")) {
		t.Fatalf("status body lacks the self-describe tag: %x", body[:3])
	}
	if ct := hdr.Get("Content-Type"); ct != "application/cbor" {
		t.Errorf("Content-Type %q", ct)
	}
	if hdr.Get("Access-Control-Allow-Origin") != "*" {
		t.Error("no CORS header")
	}
	var st envelope.Status
	if err := decodeCBOR(body, &st); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(st.RootKey, h.r.RootKey()) || len(st.RootKey) != 133 {
		t.Fatalf("root_key %x, want %x", st.RootKey, h.r.RootKey())
	}
	if st.ReplicaHealthStatus != "healthy" {
		t.Errorf("health %q", st.ReplicaHealthStatus)
	}
	if h.r.SubnetID() != principal.SelfAuthenticating(h.r.RootKey()) {
		t.Error("subnet id is not the self-authenticating id of the root key")
	}
}

func TestCORSPreflight(t *testing.T) {
	h := newHarness(t)
	req, _ := http.NewRequest("OPTIONS", h.baseURL+endpoint("v3", h.cid, "call"), nil)
	req.Header.Set("Origin", "http://example.com")
	req.Header.Set("Access-Control-Request-Method", "POST")
	req.Header.Set("Access-Control-Request-Headers", "content-type")
	resp, err := h.client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("preflight: %d", resp.StatusCode)
	}
	for k, want := range map[string]string{
		"Access-Control-Allow-Origin":  "*",
		"Access-Control-Allow-Methods": "GET, POST",
		"Access-Control-Allow-Headers": "Authorization, Accept, Content-Type",
	} {
		if got := resp.Header.Get(k); got != want {
			t.Errorf("%s: %q, want %q", k, got, want)
		}
	}
}

func TestUpdateAndQuery(t *testing.T) {
	h := newHarness(t)
	for i := uint64(1); i <= 3; i++ {
		res := h.call("inc")
		if res.status != "replied" {
			t.Fatalf("inc: status %q (%s)", res.status, res.rejectMsg)
		}
		var n uint64
		if err := candid.Unmarshal(res.reply, &n); err != nil || n != i {
			t.Fatalf("inc reply %d (%v), want %d", n, err, i)
		}
		// The certificate reveals the status and /time, and nothing else.
		if r := res.cert.Lookup([]byte("canister"), h.cid.Bytes(), []byte("certified_data")); r.Status != hashtree.Unknown {
			t.Errorf("certified_data in a call certificate: %v", r.Status)
		}
		if _, err := res.cert.Time(); err != nil {
			t.Fatal(err)
		}
	}
	var n uint64
	h.queryValue("get", nil, &n)
	if n != 3 {
		t.Fatalf("get = %d, want 3", n)
	}
	var greeting string
	h.queryValue("greet", "world", &greeting)
	if greeting != "Hello, world!" {
		t.Fatalf("greet = %q", greeting)
	}
	var who principal.Principal
	h.queryValue("whoami_q", nil, &who)
	if who != h.ident.Sender() {
		t.Fatalf("query caller %s, want %s", who, h.ident.Sender())
	}
	res := h.call("whoami")
	if err := candid.Unmarshal(res.reply, &who); err != nil || who != h.ident.Sender() {
		t.Fatalf("update caller %s (%v), want %s", who, err, h.ident.Sender())
	}
	// Anonymous calls work too.
	res = h.callAs(identity.Anonymous(), "v4", "whoami")
	if err := candid.Unmarshal(res.reply, &who); err != nil || !who.IsAnonymous() {
		t.Fatalf("anonymous caller %s (%v)", who, err)
	}
	if !h.st.initialized || !h.st.initCaller.IsAnonymous() {
		t.Error("canister_init did not run with the anonymous caller")
	}
}

func TestV2CallAndPoll(t *testing.T) {
	h := newHarness(t)
	a, _ := candid.Marshal()
	body, rid := h.sign(h.ident, h.content("call", "inc", a))
	code, resp, _ := h.post(endpoint("v2", h.cid, "call"), body)
	if code != http.StatusAccepted || len(resp) != 0 {
		t.Fatalf("v2 call: %d %q", code, resp)
	}
	// Poll as agents do: read_state of /request_status/<id>, bounded.
	deadline := time.Now().Add(10 * time.Second)
	for {
		cert, code, msg := h.readState(h.ident, h.cid, [][]byte{[]byte("request_status"), rid[:]})
		if cert == nil {
			t.Fatalf("read_state: %d %s", code, msg)
		}
		res := h.readStatus(cert, rid)
		if res.status == "replied" {
			var n uint64
			if err := candid.Unmarshal(res.reply, &n); err != nil || n != 1 {
				t.Fatalf("reply %d %v", n, err)
			}
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("status still %q", res.status)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func TestReject(t *testing.T) {
	h := newHarness(t)
	msg := "no thanks: ünïcödé, 'quotes' and \"double quotes\"\nsecond line"
	res := h.call("reject", msg)
	if res.status != "rejected" || res.rejectCode != 4 || res.rejectMsg != msg || res.errorCode != "IC0406" {
		t.Fatalf("reject: %+v", res)
	}
	qr := h.query("greet", uint64(7)) // wrong argument type: the canister traps while decoding
	if qr.Status != "rejected" || qr.RejectCode != 5 || qr.ErrorCode != "IC0503" {
		t.Fatalf("greet with a bad argument: %+v", qr)
	}
	mustContain(t, qr.RejectMessage, "decode argument")
}

func TestTrapRollsBack(t *testing.T) {
	h := newHarness(t)
	h.call("inc")
	h.call("set_certified", []byte("before"))
	res := h.call("inc_then_trap", "boom!")
	if res.status != "rejected" || res.rejectCode != 5 || res.errorCode != "IC0503" {
		t.Fatalf("trap: %+v", res)
	}
	mustContain(t, res.rejectMsg, "boom!")
	mustContain(t, res.rejectMsg, h.cid.String())

	res = h.call("inc_then_panic")
	if res.status != "rejected" || res.rejectCode != 5 || res.errorCode != "IC0502" {
		t.Fatalf("panic: %+v", res)
	}
	mustContain(t, res.rejectMsg, "canister panicked: assignment to entry in nil map")

	var n uint64
	h.queryValue("get", nil, &n)
	if n != 1 {
		t.Fatalf("count %d after traps, want 1 (rolled back)", n)
	}
	if h.st.rolledBack != 2 || len(h.st.notes) != 0 {
		t.Fatalf("rollbacks %d, notes %v", h.st.rolledBack, h.st.notes)
	}
	// Certified data and the timer set by the trapped message are discarded.
	var cert []byte
	h.queryValue("cert", nil, &cert)
	c, err := h.verify.Verify(cert, h.cid)
	if err != nil {
		t.Fatal(err)
	}
	if got := c.Lookup([]byte("canister"), h.cid.Bytes(), []byte("certified_data")); string(got.Value) != "before" {
		t.Fatalf("certified data %q (%v), want \"before\"", got.Value, got.Status)
	}
	h.r.mu.RLock()
	timer := h.r.byName["counter"].timer
	h.r.mu.RUnlock()
	if timer != 0 {
		t.Fatalf("timer %d set by a trapped message", timer)
	}
}

func TestDidNotReplyAndDoubleReply(t *testing.T) {
	h := newHarness(t)
	res := h.call("no_reply")
	if res.status != "rejected" || res.rejectCode != 5 || res.errorCode != "IC0506" {
		t.Fatalf("no_reply: %+v", res)
	}
	var n uint64
	h.queryValue("get", nil, &n)
	if n != 1 {
		t.Fatalf("count %d: a message without reply still commits", n)
	}
	res = h.call("double_reply")
	if res.status != "rejected" || res.rejectCode != 5 {
		t.Fatalf("double_reply: %+v", res)
	}
	mustContain(t, res.rejectMsg, "already answered")
}

func TestQueryCannotMutate(t *testing.T) {
	h := newHarness(t)
	begun := h.st.begun // canister_init's
	for _, m := range []string{"query_set_certified", "query_set_timer"} {
		qr := h.query(m)
		if qr.Status != "rejected" || qr.RejectCode != 5 || qr.ErrorCode != "IC0503" {
			t.Fatalf("%s: %+v", m, qr)
		}
		mustContain(t, qr.RejectMessage, "cannot be called in a query")
	}
	if h.st.begun != begun {
		t.Errorf("queries called Begin %d times", h.st.begun-begun)
	}
	// A query method called as an update runs, replicated, without changing anything.
	res := h.call("greet", "update")
	var s string
	if err := candid.Unmarshal(res.reply, &s); err != nil || s != "Hello, update!" {
		t.Fatalf("greet as update: %+v %v", res, err)
	}
	// DataCertificate is nil outside non-replicated queries.
	res = h.call("cert")
	var cert []byte
	if err := candid.Unmarshal(res.reply, &cert); err != nil || len(cert) != 0 {
		t.Fatalf("data certificate in an update: %d bytes %v", len(cert), err)
	}
}

func TestUnknownMethodAndCanister(t *testing.T) {
	h := newHarness(t)
	res := h.call("nope")
	if res.status != "rejected" || res.rejectCode != 3 || res.errorCode != "IC0536" {
		t.Fatalf("unknown update: %+v", res)
	}
	mustContain(t, res.rejectMsg, "has no update method 'nope'")
	qr := h.query("nope")
	if qr.Status != "rejected" || qr.RejectCode != 3 || qr.ErrorCode != "IC0536" {
		t.Fatalf("unknown query: %+v", qr)
	}
	mustContain(t, qr.RejectMessage, "has no query method 'nope'")

	// A canister id in the range that hosts nothing: rejected before execution.
	other := canisterIDAt(5)
	a, _ := candid.Marshal()
	c := h.content("call", "inc", a)
	c.CanisterID = other
	body, _ := h.sign(h.ident, c)
	for _, v := range []string{"v2", "v3"} {
		code, resp, _ := h.post(endpoint(v, other, "call"), body)
		if code != http.StatusOK {
			t.Fatalf("%s call to a missing canister: %d %s", v, code, resp)
		}
		var m map[string]any
		if err := decodeCBOR(resp, &m); err != nil {
			t.Fatal(err)
		}
		if m["reject_code"] != uint64(3) || m["error_code"] != "IC0301" {
			t.Fatalf("%s: %v", v, m)
		}
		if v == "v3" && m["status"] != "non_replicated_rejection" {
			t.Fatalf("v3: %v", m)
		}
	}
	c.RequestType = "query"
	body, rid := h.sign(h.ident, c)
	code, resp, _ := h.post(endpoint("v2", other, "query"), body)
	if code != http.StatusOK {
		t.Fatalf("query to a missing canister: %d %s", code, resp)
	}
	qr, err := envelope.DecodeQueryResponse(resp)
	if err != nil {
		t.Fatal(err)
	}
	if qr.Status != "rejected" || qr.RejectCode != 3 || qr.ErrorCode != "IC0301" {
		t.Fatalf("query to a missing canister: %+v", qr)
	}
	h.checkQuerySignature(qr, rid)
}

// TestReplay sends the same signed call twice: it runs once, and both answers carry its status.
func TestReplay(t *testing.T) {
	h := newHarness(t)
	a, _ := candid.Marshal()
	body, rid := h.sign(h.ident, h.content("call", "inc", a))
	first := h.syncCall("v3", body, rid)
	second := h.syncCall("v3", body, rid)
	if first.status != "replied" || second.status != "replied" || !bytes.Equal(first.reply, second.reply) {
		t.Fatalf("replay: %+v / %+v", first, second)
	}
	code, _, _ := h.post(endpoint("v2", h.cid, "call"), body)
	if code != http.StatusAccepted {
		t.Fatalf("v2 replay: %d", code)
	}
	h.call("whoami") // a later round
	var n uint64
	h.queryValue("get", nil, &n)
	if n != 1 {
		t.Fatalf("count %d, the replayed call ran more than once", n)
	}
}

func TestReadState(t *testing.T) {
	h := newHarness(t)
	res := h.call("inc")

	// /time on any effective canister id, even one that does not exist (agent-js syncs its
	// clock on ryjl3-tyaaa-aaaaa-aaaba-cai).
	ledger := principal.MustDecode("ryjl3-tyaaa-aaaaa-aaaba-cai")
	cert, code, msg := h.readState(identity.Anonymous(), ledger, path("time"))
	if cert == nil {
		t.Fatalf("read_state /time: %d %s", code, msg)
	}
	if ts, err := cert.Time(); err != nil || time.Since(ts) > time.Minute {
		t.Fatalf("certified time %v %v", ts, err)
	}
	if got := hashtree.Flatten(cert.Tree); len(got) != 2 {
		// Only /time is revealed: the other three top-level branches are pruned into one.
		t.Logf("top-level forest of a /time certificate: %d nodes", len(got))
	}
	if r := cert.Lookup([]byte("subnet")); r.Status != hashtree.Unknown {
		t.Errorf("/subnet revealed in a /time certificate: %v", r.Status)
	}

	// ["subnet"] reveals the node keys fully, the ranges and the public key (agent-js
	// fetchNodeKeys).
	cert, code, msg = h.readState(h.ident, h.cid, path("subnet"))
	if cert == nil {
		t.Fatalf("read_state /subnet: %d %s", code, msg)
	}
	sub := h.r.SubnetID().Bytes()
	if r := cert.Lookup([]byte("subnet"), sub, []byte("public_key")); !bytes.Equal(r.Value, h.r.RootKey()) {
		t.Errorf("subnet public key: %v", r.Status)
	}
	if r := cert.Lookup([]byte("subnet"), sub, []byte("node"), h.r.NodeID().Bytes(), []byte("public_key")); !bytes.Equal(r.Value, h.r.NodeKey()) || len(r.Value) != 44 {
		t.Errorf("node key: %v", r.Status)
	}
	nodes, st := hashtree.LookupSubtree(cert.Tree, []byte("subnet"), sub, []byte("node"))
	if st != hashtree.Found {
		t.Fatalf("node subtree: %v", st)
	}
	for _, n := range hashtree.Flatten(nodes) {
		if _, ok := n.(hashtree.Labeled); !ok {
			t.Fatalf("node subtree has a %T child (must be fully revealed)", n)
		}
	}
	ranges := cert.Lookup([]byte("subnet"), sub, []byte("canister_ranges"))
	if ranges.Status != hashtree.Found {
		t.Fatalf("canister ranges: %v", ranges.Status)
	}
	var rs [][][]byte
	if err := decodeCBOR(ranges.Value, &rs); err != nil || len(rs) != 3 { // the stand-ins' and the replica's
		t.Fatalf("ranges %x: %v", ranges.Value, err)
	}
	if lo, hi := rs[2][0], rs[2][1]; bytes.Compare(lo, h.cid.Bytes()) > 0 || bytes.Compare(hi, h.cid.Bytes()) < 0 {
		t.Fatalf("canister %s outside the ranges", h.cid)
	}

	// The same via the subnet endpoint.
	body, _ := h.sign(h.ident, h.readStateContent(path("subnet"), path("time")))
	code, resp, _ := h.post("/api/v2/subnet/"+h.r.SubnetID().String()+"/read_state", body)
	if code != http.StatusOK {
		t.Fatalf("subnet read_state: %d %s", code, resp)
	}

	// request_status: readable by the sender; an absent id is proven absent.
	cert, _, _ = h.readState(h.ident, h.cid, [][]byte{[]byte("request_status"), res.id[:]})
	if got := h.readStatus(cert, res.id); got.status != "replied" {
		t.Fatalf("status %q", got.status)
	}
	missing := testID(12345)
	cert, _, _ = h.readState(h.ident, h.cid, [][]byte{[]byte("request_status"), missing[:], []byte("status")})
	if r := cert.Lookup([]byte("request_status"), missing[:], []byte("status")); r.Status != hashtree.Absent {
		t.Fatalf("missing request: %v, want Absent", r.Status)
	}

	other, _ := identity.GenerateEd25519()
	errCases := []struct {
		name  string
		id    identity.Identity
		ecid  principal.Principal
		paths [][][]byte
		code  int
		text  string
	}{
		{"another sender's request", other, h.cid, [][][]byte{{[]byte("request_status"), res.id[:]}}, 403,
			"The user tries to access Request ID not signed by the caller."},
		{"request id of 31 bytes", h.ident, h.cid, [][][]byte{{[]byte("request_status"), res.id[:31]}}, 400,
			"Invalid request id in paths."},
		{"two request ids", h.ident, h.cid, [][][]byte{{[]byte("request_status"), res.id[:]}, {[]byte("request_status"), missing[:]}}, 400,
			"More than one non-unique request ID"},
		{"certified_data", h.ident, h.cid, [][][]byte{path("canister", string(h.cid.Bytes()), "certified_data")}, 404,
			"Invalid path requested."},
		{"unknown top label", h.ident, h.cid, [][][]byte{path("secrets")}, 404, "Invalid path requested."},
		{"empty path", h.ident, h.cid, [][][]byte{{}}, 404, "Invalid path requested."},
		{"another canister's module hash", h.ident, h.cid, [][][]byte{path("canister", string(ledger.Bytes()), "module_hash")}, 400,
			"does not match requested principal id"},
	}
	for _, tc := range errCases {
		t.Run(tc.name, func(t *testing.T) {
			cert, code, msg := h.readState(tc.id, tc.ecid, tc.paths...)
			if cert != nil || code != tc.code {
				t.Fatalf("got %d %q, want %d", code, msg, tc.code)
			}
			mustContain(t, msg, tc.text)
		})
	}
	// Module hash of the effective canister: allowed; a native canister's is derived from its
	// name, so that deploy tools see it installed.
	cert, code, msg = h.readState(h.ident, h.cid, path("canister", string(h.cid.Bytes()), "module_hash"))
	if cert == nil {
		t.Fatalf("module_hash: %d %s", code, msg)
	}
	want := sha256.Sum256([]byte("icws native canister " + "counter"))
	if r := cert.Lookup([]byte("canister"), h.cid.Bytes(), []byte("module_hash")); r.Status != hashtree.Found || !bytes.Equal(r.Value, want[:]) {
		t.Fatalf("module_hash: %v %x, want %x", r.Status, r.Value, want)
	}
}

func TestDataCertificate(t *testing.T) {
	h := newHarness(t)
	var cert []byte
	h.queryValue("cert", nil, &cert)
	c, err := h.verify.Verify(cert, h.cid)
	if err != nil {
		t.Fatalf("data certificate: %v", err)
	}
	if r := c.Lookup([]byte("canister"), h.cid.Bytes(), []byte("certified_data")); string(r.Value) != "init" {
		t.Fatalf("certified data after init %q (%v)", r.Value, r.Status)
	}
	h.call("set_certified", []byte("0123456789abcdef0123456789abcdef"))
	h.queryValue("cert", nil, &cert)
	c, err = h.verify.Verify(cert, h.cid)
	if err != nil {
		t.Fatal(err)
	}
	if r := c.Lookup([]byte("canister"), h.cid.Bytes(), []byte("certified_data")); string(r.Value) != "0123456789abcdef0123456789abcdef" {
		t.Fatalf("certified data %q (%v)", r.Value, r.Status)
	}
	if r := c.Lookup([]byte("request_status")); r.Status == hashtree.Found {
		t.Fatal("request statuses revealed in a data certificate")
	}
	res := h.call("set_certified", bytes.Repeat([]byte{1}, 33))
	if res.status != "rejected" || res.rejectCode != 5 {
		t.Fatalf("33 bytes of certified data: %+v", res)
	}
}

func TestTimerAndClock(t *testing.T) {
	clock := newFakeClock()
	h := newHarness(t, withClock(clock))
	res := h.call("set_timer", uint64(time.Minute))
	var prev uint64
	if err := candid.Unmarshal(res.reply, &prev); err != nil || prev != 0 {
		t.Fatalf("set_timer: %+v %v", res, err)
	}
	var now uint64
	h.queryValue("now", nil, &now)
	// The time of the last round: the injected clock (plus a few ns, as round times increase
	// strictly).
	if d := int64(now) - clock.Now().UnixNano(); d > 1000 || d < -1000 {
		t.Fatalf("query time %d is not the injected clock %d", now, clock.Now().UnixNano())
	}
	h.call("inc") // a round before the timer is due
	var fired uint64
	h.queryValue("timer_fired", nil, &fired)
	if fired != 0 {
		t.Fatal("timer fired early")
	}
	clock.Advance(time.Minute + time.Second)
	h.call("inc") // the next round runs the due timer after the message
	h.queryValue("timer_fired", nil, &fired)
	if fired != 1 {
		t.Fatalf("timer fired %d times, want 1", fired)
	}
	h.call("inc")
	h.queryValue("timer_fired", nil, &fired)
	if fired != 1 {
		t.Fatalf("timer fired again (%d): it must deactivate", fired)
	}
}

func TestRequestStatusExpiry(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		clock := newFakeClock()
		h := newMemHarness(t, withClock(clock))
		a, _ := candid.Marshal()
		body, rid := h.sign(h.ident, h.content("call", "inc", a))
		if res := h.syncCall("v3", body, rid); res.status != "replied" {
			t.Fatalf("inc: %+v", res)
		}
		clock.Advance(4*time.Minute + 59*time.Second)
		h.call("whoami") // a round: still kept (5 minutes after completion)
		cert, _, _ := h.readState(h.ident, h.cid, [][]byte{[]byte("request_status"), rid[:]})
		if got := h.readStatus(cert, rid); got.status != "replied" {
			t.Fatalf("status after 4m59s: %q", got.status)
		}
		clock.Advance(2 * time.Second)
		h.call("whoami") // this round prunes it
		cert, _, _ = h.readState(h.ident, h.cid, [][]byte{[]byte("request_status"), rid[:], []byte("status")})
		if r := cert.Lookup([]byte("request_status"), rid[:], []byte("status")); r.Status != hashtree.Absent {
			t.Fatalf("status after 5m01s: %v, want Absent", r.Status)
		}
		// The round forgets the pruned request's id just after it publishes the state: wait for the
		// round loop to be idle (the read above can come in between).
		synctest.Wait()
		if h.r.lookupIngress(rid) != nil {
			t.Fatal("pruned request still known after the round that pruned it")
		}
		// Its replay is refused: it has expired.
		code, resp, _ := h.post(endpoint("v3", h.cid, "call"), body)
		if code != http.StatusBadRequest {
			t.Fatalf("replay after expiry: %d %s", code, resp)
		}
		mustContain(t, string(resp), "Invalid request expiry: ")
		h.r.mu.RLock()
		n := h.r.state.statuses.len()
		h.r.mu.RUnlock()
		if n != 2 { // the two whoami
			t.Fatalf("%d statuses kept, want 2", n)
		}
	})
}

// TestRoundsCoalesce queues many calls while a round cannot run, and checks that they share few
// rounds (and so few signatures).
func TestRoundsCoalesce(t *testing.T) {
	h := newHarness(t)
	a, _ := candid.Marshal()
	const calls = 50
	bodies := make([][]byte, calls)
	for i := range bodies {
		bodies[i], _ = h.sign(h.ident, h.content("call", "inc", a))
	}
	h.r.mu.Lock()
	start := h.r.state.height
	for _, b := range bodies {
		if code, resp, _ := h.post(endpoint("v2", h.cid, "call"), b); code != http.StatusAccepted {
			h.r.mu.Unlock()
			t.Fatalf("v2 call: %d %s", code, resp)
		}
	}
	h.r.mu.Unlock()
	h.call("whoami") // queued after the 50: done once they are
	var n uint64
	h.queryValue("get", nil, &n)
	if n != calls {
		t.Fatalf("count %d, want %d", n, calls)
	}
	h.r.mu.RLock()
	rounds := h.r.state.height - start
	h.r.mu.RUnlock()
	// At most: the round that was waiting for the lock, one for the rest, one for whoami, and
	// idle rounds meanwhile.
	if rounds > 5 {
		t.Fatalf("%d calls took %d rounds", calls, rounds)
	}
}

func TestStateDirKeepsKeys(t *testing.T) {
	dir := t.TempDir()
	start := func() *Replica {
		r, err := Start(context.Background(), Config{StateDir: dir})
		if err != nil {
			t.Fatal(err)
		}
		return r
	}
	r1 := start()
	key1, node1 := r1.RootKey(), r1.NodeID()
	r1.Close()
	r2 := start()
	defer r2.Close()
	if !bytes.Equal(r2.RootKey(), key1) || r2.NodeID() != node1 {
		t.Fatal("keys changed across a restart with the same state dir")
	}
	for _, f := range []string{rootKeyFile, nodeKeyFile} {
		fi, err := os.Stat(filepath.Join(dir, f))
		if err != nil {
			t.Fatal(err)
		}
		if fi.Mode().Perm() != 0o600 {
			t.Errorf("%s has mode %v", f, fi.Mode().Perm())
		}
	}
	der, err := os.ReadFile(filepath.Join(dir, rootKeyDERFile))
	if err != nil || !bytes.Equal(der, key1) {
		t.Fatalf("root_key.der: %v", err)
	}
	r3, err := Start(context.Background(), Config{})
	if err != nil {
		t.Fatal(err)
	}
	defer r3.Close()
	if bytes.Equal(r3.RootKey(), key1) {
		t.Fatal("a replica without state dir reused a key")
	}
}

func TestConfigErrors(t *testing.T) {
	mk := func() *cdk.Canister { c, _ := newCounter(); return c }
	trapInit := func() *cdk.Canister {
		return &cdk.Canister{Init: func(ic cdk.System) { ic.Trap("no init for you") }}
	}
	for name, cfg := range map[string]Config{
		"no name":       {Canisters: []CanisterSpec{{New: mk}}},
		"duplicate":     {Canisters: []CanisterSpec{{Name: "a", New: mk}, {Name: "a", New: mk}}},
		"nil New":       {Canisters: []CanisterSpec{{Name: "a"}}},
		"init traps":    {Canisters: []CanisterSpec{{Name: "a", New: trapInit}}},
		"negative time": {RoundTime: -time.Second},
	} {
		if r, err := New(cfg); err == nil {
			r.Close()
			t.Errorf("%s: no error", name)
		}
	}
}

// TestConcurrentTraffic mixes updates, queries and reads from many goroutines (run with -race).
func TestConcurrentTraffic(t *testing.T) {
	h := newHarness(t)
	const workers, each = 8, 10
	var wg sync.WaitGroup
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < each; i++ {
				h.call("inc")
				var n uint64
				h.queryValue("get", nil, &n)
				var cert []byte
				h.queryValue("cert", nil, &cert)
				if _, err := h.verify.Verify(cert, h.cid); err != nil {
					t.Error(err)
					return
				}
			}
		}()
	}
	wg.Wait()
	var n uint64
	h.queryValue("get", nil, &n)
	if n != workers*each {
		t.Fatalf("count %d, want %d", n, workers*each)
	}
}

func TestRoundTimePacing(t *testing.T) {
	h := newHarness(t, func(c *Config) { c.RoundTime = 20 * time.Millisecond })
	for i := 0; i < 3; i++ {
		if res := h.call("inc"); res.status != "replied" {
			t.Fatalf("inc: %+v", res)
		}
	}
}

// TestStateRootMatchesFullTree checks that the incrementally hashed root that rounds sign is the
// digest of the whole state tree, and that it is well formed.
func TestStateRootMatchesFullTree(t *testing.T) {
	h := newHarness(t)
	for i := 0; i < 20; i++ {
		h.call("inc")
	}
	h.call("reject", "x")
	h.call("set_certified", []byte("data"))
	h.r.mu.RLock()
	defer h.r.mu.RUnlock()
	st := &h.r.state
	full := top(st.canisters, st.statuses.full(), st.subnet, st.time)
	if got := hashtree.Digest(full); got != st.root {
		t.Fatalf("signed root %x != digest of the full tree %x", st.root, got)
	}
	if r := hashtree.Lookup(full, []byte("canister"), h.cid.Bytes(), []byte("certified_data")); string(r.Value) != "data" {
		t.Fatalf("certified data: %v %q", r.Status, r.Value)
	}
	if r := hashtree.Lookup(full, []byte("time")); r.Status != hashtree.Found {
		t.Fatalf("/time: %v", r.Status)
	}
}
