package replica

import (
	"bytes"
	"fmt"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/icws/icws/cdk"
	"github.com/icws/icws/ic/candid"
	"github.com/icws/icws/ic/cbor"
	"github.com/icws/icws/ic/envelope"
	"github.com/icws/icws/ic/identity"
	"github.com/icws/icws/ic/requestid"
)

// fuzzEndpoints are the POST endpoints FuzzHandler feeds; %s is the counter canister or, for the
// subnet endpoint, the subnet.
var fuzzEndpoints = []string{
	"/api/v2/canister/%s/call",
	"/api/v3/canister/%s/call",
	"/api/v4/canister/%s/call",
	"/api/v2/canister/%s/query",
	"/api/v3/canister/%s/query",
	"/api/v2/canister/%s/read_state",
	"/api/v3/canister/%s/read_state",
	"/api/v2/subnet/%s/read_state",
}

// fuzzClock is a fixed time, so that the seed envelopes stay within their expiry.
var fuzzClock = time.Unix(1_800_000_000, 0)

// fuzzSeeds returns real request bodies: calls, queries and read_states, signed and anonymous.
func fuzzSeeds(t testing.TB, r *Replica) [][]byte {
	seed := bytes.Repeat([]byte{7}, 32)
	id, err := identity.Ed25519FromSeed(seed)
	if err != nil {
		t.Fatal(err)
	}
	cid, _ := r.CanisterID("counter")
	expiry := uint64(fuzzClock.Add(4 * time.Minute).UnixNano())
	noArg, _ := candid.Marshal()
	text, _ := candid.Marshal("fuzz")
	var out [][]byte
	add := func(who identity.Identity, c envelope.Content) {
		env, err := envelope.Sign(who, c)
		if err != nil {
			t.Fatal(err)
		}
		b, err := env.Marshal()
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, b)
	}
	for _, who := range []identity.Identity{id, identity.Anonymous()} {
		add(who, envelope.Content{RequestType: "call", Nonce: []byte{1, 2, 3}, IngressExpiry: expiry, CanisterID: cid, MethodName: "inc", Arg: noArg})
		add(who, envelope.Content{RequestType: "call", IngressExpiry: expiry, CanisterID: cid, MethodName: "reject", Arg: text})
		add(who, envelope.Content{RequestType: "query", IngressExpiry: expiry, CanisterID: cid, MethodName: "greet", Arg: text})
		add(who, envelope.Content{RequestType: "query", IngressExpiry: expiry, CanisterID: cid, MethodName: "cert", Arg: noArg})
		rid := requestid.ID{1}
		add(who, envelope.Content{RequestType: "read_state", IngressExpiry: expiry, Paths: [][][]byte{
			path("time"), path("subnet"), {[]byte("request_status"), rid[:]},
		}})
		add(who, envelope.Content{RequestType: "read_state", IngressExpiry: expiry, Paths: [][][]byte{
			path("canister", string(cid.Bytes()), "module_hash"),
		}})
	}
	return out
}

// FuzzHandler feeds arbitrary bodies to every endpoint of the HTTP interface. The replica must
// never panic, and must answer with one of the statuses of the interface (and CBOR when 200).
func FuzzHandler(f *testing.F) {
	code, _ := newCounter()
	r, err := New(Config{
		Canisters: []CanisterSpec{{Name: "counter", New: func() *cdk.Canister { return code }}},
		Clock:     func() time.Time { return fuzzClock },
	})
	if err != nil {
		f.Fatal(err)
	}
	f.Cleanup(func() { r.Close() })
	for _, s := range fuzzSeeds(f, r) {
		for i := range fuzzEndpoints {
			f.Add(uint8(i), s)
		}
	}
	f.Add(uint8(0), []byte{})
	f.Add(uint8(5), []byte("\xd9\xd9\xf7\xa1\x67content\xa0"))
	cid, _ := r.CanisterID("counter")
	h := r.Handler()
	f.Fuzz(func(t *testing.T, which uint8, body []byte) {
		ep := fuzzEndpoints[int(which)%len(fuzzEndpoints)]
		target := cid.String()
		if bytes.Contains([]byte(ep), []byte("/subnet/")) {
			target = r.SubnetID().String()
		}
		req := httptest.NewRequest("POST", fmt.Sprintf(ep, target), bytes.NewReader(body))
		req.Header.Set("Content-Type", "application/cbor")
		w := httptest.NewRecorder()
		start := time.Now()
		h.ServeHTTP(w, req)
		if d := time.Since(start); d > 2*SyncCallTimeout {
			t.Fatalf("%s took %v: %d %s", ep, d, w.Code, w.Body.String())
		}
		switch w.Code {
		case http.StatusOK:
			var v any
			if err := cbor.Unmarshal(w.Body.Bytes(), &v); err != nil {
				t.Fatalf("200 with a body that is not CBOR: %v", err)
			}
		case http.StatusAccepted, http.StatusBadRequest, http.StatusForbidden, http.StatusNotFound,
			http.StatusRequestEntityTooLarge:
		default:
			t.Fatalf("unexpected status %d: %s", w.Code, w.Body.String())
		}
	})
}

// FuzzCdkStable feeds cdkStableSaved the stable memory a native canister's upgrade hands on:
// it never panics, and what it finds re-encodes to an image it reads back the same.
func FuzzCdkStable(f *testing.F) {
	for _, s := range [][]byte{nil, {}, []byte("state"), bytes.Repeat([]byte{7}, 1<<16)} {
		f.Add(cdkStableImage(s))
	}
	f.Add([]byte("ICWS-CDK\xff\xff\xff\xff\xff\xff\xff\xff"))
	f.Add([]byte("ICWS-CD"))
	f.Fuzz(func(t *testing.T, b []byte) {
		saved := cdkStableSaved(b)
		if saved == nil {
			return
		}
		img := cdkStableImage(saved)
		if len(img)%(1<<16) != 0 || !bytes.Equal(cdkStableSaved(img), saved) {
			t.Fatalf("round trip of %d saved bytes failed", len(saved))
		}
	})
}
