package replica

import (
	"bytes"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/icws/icws/ic/candid"
	"github.com/icws/icws/ic/envelope"
	"github.com/icws/icws/ic/identity"
	"github.com/icws/icws/ic/principal"
)

// delegatedIdentity returns an identity that sends as owner through a session key, with one
// delegation of the given expiry and targets.
func delegatedIdentity(t *testing.T, owner *identity.Ed25519, expiry time.Time, targets []principal.Principal) identity.Identity {
	t.Helper()
	session, err := identity.GenerateEd25519()
	if err != nil {
		t.Fatal(err)
	}
	sd, err := identity.SignDelegation(owner, identity.Delegation{
		PubKey:     session.PublicKey(),
		Expiration: uint64(expiry.UnixNano()),
		Targets:    targets,
	})
	if err != nil {
		t.Fatal(err)
	}
	d, err := identity.NewDelegated(session, owner.PublicKey(), []identity.SignedDelegation{sd})
	if err != nil {
		t.Fatal(err)
	}
	return d
}

// marshalEnv encodes an envelope built by hand.
func marshalEnv(t *testing.T, env *envelope.Envelope) []byte {
	t.Helper()
	b, err := env.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestCallErrors checks every way a call can be refused before it is queued: the HTTP status and
// the message that says what was wrong.
func TestCallErrors(t *testing.T) {
	h := newHarness(t)
	owner := h.ident.(*identity.Ed25519)
	arg, _ := candid.Marshal()
	good := func() envelope.Content { return h.content("call", "whoami", arg) }
	callPath := endpoint("v3", h.cid, "call")

	type tc struct {
		name        string
		path        string
		contentType string
		body        func() []byte
		code        int
		text        string // the body starts with or contains this
	}
	cases := []tc{
		{name: "missing content type", contentType: "-", body: func() []byte { b, _ := h.sign(h.ident, good()); return b },
			code: 400, text: "Unexpected content-type, expected application/cbor."},
		{name: "wrong content type", contentType: "application/json", body: func() []byte { b, _ := h.sign(h.ident, good()); return b },
			code: 400, text: "Unexpected content-type, expected application/cbor."},
		{name: "not CBOR", body: func() []byte { return []byte("hello") },
			code: 400, text: "Could not parse body as call message: envelope: malformed request"},
		{name: "empty body", body: func() []byte { return nil },
			code: 400, text: "Could not parse body as call message: "},
		{name: "CBOR but no envelope", body: func() []byte { return []byte("\xd9\xd9\xf7\xa1\x63foo\x01") },
			code: 400, text: "unknown envelope field \"foo\""},
		{name: "query sent to call", body: func() []byte {
			c := good()
			c.RequestType = "query"
			b, _ := h.sign(h.ident, c)
			return b
		}, code: 400, text: `request_type is "query", this endpoint takes "call"`},
		{name: "bad signature", body: func() []byte {
			env, _ := envelope.Sign(h.ident, good())
			env.SenderSig[0] ^= 1
			return marshalEnv(t, env)
		}, code: 403, text: "Failed to authenticate request 0x"},
		{name: "sender is not the key's principal", body: func() []byte {
			c := good()
			env, _ := envelope.Sign(h.ident, c)
			env.Content.Sender = principal.SelfAuthenticating([]byte("someone else"))
			rid := env.Content.RequestID()
			env.SenderSig, _ = h.ident.Sign(rid.Signable())
			return marshalEnv(t, env)
		}, code: 403, text: "sender does not match the public key"},
		{name: "missing signature", body: func() []byte {
			env, _ := envelope.Sign(h.ident, good())
			env.SenderPubKey, env.SenderSig = nil, nil
			return marshalEnv(t, env)
		}, code: 403, text: "missing signature"},
		{name: "anonymous with a signature", body: func() []byte {
			env, _ := envelope.Sign(h.ident, good())
			env.Content.Sender = principal.Anonymous()
			rid := env.Content.RequestID()
			env.SenderSig, _ = h.ident.Sign(rid.Signable())
			return marshalEnv(t, env)
		}, code: 403, text: "signature is not allowed for the anonymous user"},
		{name: "expired", body: func() []byte {
			c := good()
			c.IngressExpiry = uint64(time.Now().Add(-time.Minute).UnixNano())
			b, _ := h.sign(h.ident, c)
			return b
		}, code: 400, text: "Invalid request expiry: Specified ingress_expiry not within expected range: Minimum allowed expiry: "},
		{name: "expiry too far ahead", body: func() []byte {
			c := good()
			c.IngressExpiry = uint64(time.Now().Add(6 * time.Minute).UnixNano())
			b, _ := h.sign(h.ident, c)
			return b
		}, code: 400, text: "Invalid request expiry: Specified ingress_expiry not within expected range: "},
		{name: "canister id differs from the URL", path: endpoint("v3", canisterIDAt(1), "call"),
			body: func() []byte { b, _ := h.sign(h.ident, good()); return b },
			code: 400, text: fmt.Sprintf("Specified CanisterId %s does not match effective canister id in URL %s", h.cid, canisterIDAt(1))},
		{name: "bad effective canister id", path: "/api/v3/canister/not-a-principal/call",
			body: func() []byte { b, _ := h.sign(h.ident, good()); return b },
			code: 400, text: "Invalid effective canister id in URL"},
		{name: "body too large", body: func() []byte { return make([]byte, MaxBodySize+1) },
			code: 413, text: "Request body is too large"},
		{name: "argument too large", body: func() []byte {
			c := good()
			c.Arg = make([]byte, MaxIngressSize)
			b, _ := h.sign(h.ident, c)
			return b
		}, code: 413, text: "is too large. Message byte size"},
		{name: "delegation to other canisters", body: func() []byte {
			d := delegatedIdentity(t, owner, time.Now().Add(time.Hour), []principal.Principal{canisterIDAt(3)})
			b, _ := h.sign(d, good())
			return b
		}, code: 403, text: "canister is not one of the delegation targets"},
		{name: "expired delegation", body: func() []byte {
			d := delegatedIdentity(t, owner, time.Now().Add(-time.Minute), nil)
			b, _ := h.sign(d, good())
			return b
		}, code: 400, text: "Invalid request expiry: Specified sender delegation has expired"},
		{name: "delegation signed by another key", body: func() []byte {
			stranger, _ := identity.GenerateEd25519()
			d := delegatedIdentity(t, stranger, time.Now().Add(time.Hour), nil)
			env, _ := envelope.Sign(d, good())
			env.SenderPubKey = owner.PublicKey() // claims to be owner
			env.Content.Sender = owner.Sender()
			rid := env.Content.RequestID()
			env.SenderSig, _ = d.Sign(rid.Signable())
			return marshalEnv(t, env)
		}, code: 403, text: "Failed to authenticate request 0x"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			p := c.path
			if p == "" {
				p = callPath
			}
			ct := c.contentType
			switch ct {
			case "":
				ct = "application/cbor"
			case "-":
				ct = ""
			}
			code, resp, hdr := h.do("POST", p, ct, c.body())
			if code != c.code {
				t.Fatalf("HTTP %d %q, want %d", code, resp, c.code)
			}
			if !strings.Contains(string(resp), c.text) {
				t.Fatalf("body %q does not contain %q", resp, c.text)
			}
			if got := hdr.Get("Content-Type"); !strings.HasPrefix(got, "text/plain") {
				t.Errorf("Content-Type %q", got)
			}
			if hdr.Get("Access-Control-Allow-Origin") != "*" {
				t.Error("no CORS header on an error")
			}
		})
	}

	t.Run("valid delegation", func(t *testing.T) {
		d := delegatedIdentity(t, owner, time.Now().Add(time.Hour), []principal.Principal{h.cid})
		res := h.callAs(d, "v3", "whoami")
		var who principal.Principal
		if err := candid.Unmarshal(res.reply, &who); err != nil || who != owner.Sender() {
			t.Fatalf("caller %s (%v), want the delegating principal %s", who, err, owner.Sender())
		}
	})
	t.Run("exact expiry text", func(t *testing.T) {
		c := good()
		c.IngressExpiry = 1
		b, _ := h.sign(h.ident, c)
		_, resp, _ := h.post(callPath, b)
		want := "Invalid request expiry: Specified ingress_expiry not within expected range: Minimum allowed expiry: "
		if !strings.HasPrefix(string(resp), want) || !strings.HasSuffix(string(resp), "Provided expiry:        1970-01-01 00:00:00.000000001 UTC") {
			t.Fatalf("expiry text %q", resp)
		}
	})
}

func TestRoutingErrors(t *testing.T) {
	h := newHarness(t)
	for _, c := range []struct {
		method, path string
		code         int
	}{
		{"GET", "/", 404},
		{"POST", "/api/v5/canister/" + h.cid.String() + "/call", 404},
		{"POST", "/api/v4/canister/" + h.cid.String() + "/query", 404},
		{"POST", "/api/v2/canister/" + h.cid.String() + "/unknown", 404},
		{"GET", "/api/v2/canister/" + h.cid.String() + "/call", 405},
		{"POST", "/api/v2/status", 405},
	} {
		code, body, _ := h.do(c.method, c.path, "application/cbor", nil)
		if code != c.code {
			t.Errorf("%s %s: %d %q, want %d", c.method, c.path, code, body, c.code)
		}
	}
}

// TestQueryAndReadStateErrors checks the request checks on the query and read_state endpoints.
func TestQueryAndReadStateErrors(t *testing.T) {
	h := newHarness(t)
	arg, _ := candid.Marshal()
	q := h.content("query", "get", arg)
	qBody, _ := h.sign(h.ident, q)
	expired := q
	expired.IngressExpiry = uint64(time.Now().Add(-time.Second).UnixNano())
	expiredBody, _ := h.sign(h.ident, expired)
	rs := h.readStateContent(path("time"))
	rsBody, _ := h.sign(h.ident, rs)
	manyPaths := h.readStateContent()
	for i := 0; i <= MaxPaths; i++ {
		manyPaths.Paths = append(manyPaths.Paths, path("time"))
	}
	manyPaths.Sender = principal.Anonymous()
	env := &envelope.Envelope{Content: manyPaths}
	manyBody := marshalEnv(t, env) // anonymous: Sign would refuse the content

	// Anonymous read_state is answered whatever its expiry (the spec allows it; agent-js reads
	// /time anonymously to fix its clock).
	oldAnon := h.readStateContent(path("time"))
	oldAnon.IngressExpiry = uint64(time.Now().Add(-time.Hour).UnixNano())
	oldAnon.Sender = principal.Anonymous()
	if code, resp, _ := h.post(endpoint("v2", h.cid, "read_state"), marshalEnv(t, &envelope.Envelope{Content: oldAnon})); code != 200 {
		t.Fatalf("anonymous read_state with an old expiry: %d %s", code, resp)
	}
	signedOld, _ := h.sign(h.ident, oldAnon)

	for _, c := range []struct {
		name, path, ct string
		body           []byte
		code           int
		text           string
	}{
		{"query content type", endpoint("v2", h.cid, "query"), "text/plain", qBody, 400, "Unexpected content-type, expected application/cbor."},
		{"query bad CBOR", endpoint("v3", h.cid, "query"), "application/cbor", []byte{0xff}, 400, "Could not parse body as query message: "},
		{"query expired", endpoint("v2", h.cid, "query"), "application/cbor", expiredBody, 400, "Invalid request expiry: "},
		{"query wrong ecid", endpoint("v2", canisterIDAt(2), "query"), "application/cbor", qBody, 400, "does not match effective canister id"},
		{"call sent to query", endpoint("v2", h.cid, "query"), "application/cbor", func() []byte {
			c := q
			c.RequestType = "call"
			b, _ := h.sign(h.ident, c)
			return b
		}(), 400, `request_type is "call"`},
		{"read_state expired", endpoint("v2", h.cid, "read_state"), "application/cbor", signedOld, 400, "Invalid request expiry: "},
		{"read_state content type", endpoint("v2", h.cid, "read_state"), "", rsBody, 400, "Unexpected content-type"},
		{"read_state bad CBOR", endpoint("v3", h.cid, "read_state"), "application/cbor", []byte("\xd9\xd9\xf7\x82"), 400, "Could not parse body as read request: "},
		{"read_state too many paths", endpoint("v2", h.cid, "read_state"), "application/cbor", manyBody, 400, "at most 1000 are allowed"},
		{"read_state a query", endpoint("v2", h.cid, "read_state"), "application/cbor", qBody, 400, `request_type is "query"`},
		{"subnet read_state of a canister path", "/api/v2/subnet/" + h.r.SubnetID().String() + "/read_state", "application/cbor", func() []byte {
			b, _ := h.sign(h.ident, h.readStateContent(path("canister", string(h.cid.Bytes()), "module_hash")))
			return b
		}(), 404, "Invalid path requested."},
	} {
		t.Run(c.name, func(t *testing.T) {
			code, resp, _ := h.do("POST", c.path, c.ct, c.body)
			if code != c.code || !bytes.Contains(resp, []byte(c.text)) {
				t.Fatalf("HTTP %d %q, want %d and %q", code, resp, c.code, c.text)
			}
		})
	}
}
