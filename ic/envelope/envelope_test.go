package envelope_test

import (
	"bytes"
	"encoding/hex"
	"errors"
	"testing"
	"time"

	"github.com/icws/icws/ic/cbor"
	"github.com/icws/icws/ic/envelope"
	"github.com/icws/icws/ic/identity"
	"github.com/icws/icws/ic/principal"
	"github.com/icws/icws/ic/requestid"
)

func specContent(t testing.TB) envelope.Content {
	t.Helper()
	cid, err := principal.FromBytes(unhex(t, "00000000000004d2"))
	if err != nil {
		t.Fatal(err)
	}
	return envelope.Content{
		RequestType:   envelope.RequestTypeCall,
		Sender:        principal.Anonymous(),
		IngressExpiry: 1685570400000000000,
		CanisterID:    cid,
		MethodName:    "hello",
		Arg:           []byte("DIDL\x00\xfd*"),
	}
}

func TestSpecRequestID(t *testing.T) {
	c := specContent(t)
	const want = "1d1091364d6bb8a6c16b203ee75467d59ead468f523eb058880ae8ec80e2b101"
	if got := c.RequestID().String(); got != want {
		t.Fatalf("RequestID = %s, want %s", got, want)
	}
	// The anonymous envelope of the spec content: tag, {content: {...}} in
	// our field order, ingress_expiry in its shortest form.
	env, err := envelope.Sign(identity.Anonymous(), c)
	if err != nil {
		t.Fatal(err)
	}
	body, err := env.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	golden := "d9d9f7" + "a1" + "67636f6e74656e74" + "a6" +
		"6c726571756573745f74797065" + "6463616c6c" +
		"6673656e646572" + "4104" +
		"6e696e67726573735f657870697279" + "1b1764595927e9c000" +
		"6b63616e69737465725f6964" + "4800000000000004d2" +
		"6b6d6574686f645f6e616d65" + "6568656c6c6f" +
		"63617267" + "474449444c00fd2a"
	if got := hex.EncodeToString(body); got != golden {
		t.Fatalf("body\n got %s\nwant %s", got, golden)
	}
	checkAgentJSSubset(t, body)
}

// contents covers every request type and optional field.
func contents(t testing.TB) map[string]envelope.Content {
	base := specContent(t)
	withNonce := base
	withNonce.Nonce = bytes.Repeat([]byte{7}, 16)
	emptyNonce := base
	emptyNonce.Nonce = []byte{}
	nilArg := base
	nilArg.Arg = nil
	query := base
	query.RequestType = envelope.RequestTypeQuery
	query.Arg = bytes.Repeat([]byte{0xab}, 300)
	rs := envelope.Content{
		RequestType:   envelope.RequestTypeReadState,
		Sender:        principal.Anonymous(),
		IngressExpiry: 1 << 62,
		Paths:         [][][]byte{{[]byte("time")}, {}, {[]byte("request_status"), bytes.Repeat([]byte{1}, 32)}},
	}
	rsEmpty := rs
	rsEmpty.Paths = nil
	rsNonce := rs
	rsNonce.Nonce = []byte{1, 2, 3}
	return map[string]envelope.Content{
		"call": base, "call with nonce": withNonce, "call with empty nonce": emptyNonce,
		"call with nil arg": nilArg, "query": query, "read_state": rs,
		"read_state without paths": rsEmpty, "read_state with nonce": rsNonce,
	}
}

// TestRequestIDMatchesGenericHash is the agent/replica agreement: the typed
// RequestID equals hash_of_map of the content as a replica decodes it.
func TestRequestIDMatchesGenericHash(t *testing.T) {
	for name, c := range contents(t) {
		t.Run(name, func(t *testing.T) {
			want := c.RequestID()
			fromMap, err := requestid.HashOfMap(c.Map())
			if err != nil || fromMap != want {
				t.Fatalf("HashOfMap(Map()) = %s, %v; RequestID = %s", fromMap, err, want)
			}
			enc, err := c.MarshalCBOR()
			if err != nil {
				t.Fatal(err)
			}
			var generic map[string]any
			if err := cbor.Unmarshal(enc, &generic); err != nil {
				t.Fatal(err)
			}
			fromWire, err := requestid.HashOfMap(generic)
			if err != nil || fromWire != want {
				t.Fatalf("HashOfMap(decoded) = %s, %v; RequestID = %s", fromWire, err, want)
			}
			env := &envelope.Envelope{Content: c}
			body, err := env.Marshal()
			if err != nil {
				t.Fatal(err)
			}
			checkAgentJSSubset(t, body)
			r, err := envelope.Decode(body)
			if err != nil {
				t.Fatal(err)
			}
			if r.ID != want || r.Content.RequestID() != want {
				t.Fatalf("Decode: ID %s, typed %s, want %s", r.ID, r.Content.RequestID(), want)
			}
		})
	}
}

func TestContentFieldsPerType(t *testing.T) {
	want := map[string][]string{
		envelope.RequestTypeCall:      {"request_type", "sender", "ingress_expiry", "canister_id", "method_name", "arg"},
		envelope.RequestTypeQuery:     {"request_type", "sender", "ingress_expiry", "canister_id", "method_name", "arg"},
		envelope.RequestTypeReadState: {"request_type", "sender", "ingress_expiry", "paths"},
	}
	for rt, fields := range want {
		c := envelope.Content{RequestType: rt, Sender: principal.Anonymous(), Paths: [][][]byte{{[]byte("time")}},
			CanisterID: principal.CanisterID(1), MethodName: "m", Arg: []byte{1}}
		for _, nonce := range [][]byte{nil, {1}} {
			c.Nonce = nonce
			enc, _ := c.MarshalCBOR()
			var m map[string]any
			if err := cbor.Unmarshal(enc, &m); err != nil {
				t.Fatal(err)
			}
			wantN := len(fields)
			if nonce != nil {
				wantN++
				if _, ok := m["nonce"]; !ok {
					t.Errorf("%s: nonce missing", rt)
				}
			}
			if len(m) != wantN {
				t.Errorf("%s nonce=%v: %d fields %v, want %v", rt, nonce, len(m), m, fields)
			}
			for _, f := range fields {
				if _, ok := m[f]; !ok {
					t.Errorf("%s: field %s missing", rt, f)
				}
			}
		}
	}
}

// identities returns one signer of each kind and the chain's canister.
func identities(t testing.TB) map[string]identity.Identity {
	ed, err := identity.Ed25519FromSeed(bytes.Repeat([]byte{1}, 32))
	if err != nil {
		t.Fatal(err)
	}
	p256, err := identity.GenerateP256()
	if err != nil {
		t.Fatal(err)
	}
	session, err := identity.GenerateP256()
	if err != nil {
		t.Fatal(err)
	}
	d, err := identity.SignDelegation(ed, identity.Delegation{
		PubKey: session.PublicKey(), Expiration: uint64(testNow.Add(time.Hour).UnixNano()),
		Targets: []principal.Principal{principal.CanisterID(5), specContent(t).CanisterID},
	})
	if err != nil {
		t.Fatal(err)
	}
	delegated, err := identity.NewDelegated(session, ed.PublicKey(), []identity.SignedDelegation{d})
	if err != nil {
		t.Fatal(err)
	}
	return map[string]identity.Identity{
		"anonymous": identity.Anonymous(), "ed25519": ed, "p256": p256, "delegated": delegated,
	}
}

var testNow = time.Date(2025, 5, 1, 23, 55, 18, 5285297, time.UTC)

func TestSignDecodeVerify(t *testing.T) {
	for idName, id := range identities(t) {
		for cName, c := range contents(t) {
			t.Run(idName+"/"+cName, func(t *testing.T) {
				c.IngressExpiry = uint64(testNow.Add(4 * time.Minute).UnixNano())
				env, err := envelope.Sign(id, c)
				if err != nil {
					t.Fatal(err)
				}
				if env.Content.Sender != id.Sender() {
					t.Fatal("Sign did not set the sender")
				}
				body, err := env.Marshal()
				if err != nil {
					t.Fatal(err)
				}
				checkAgentJSSubset(t, body)
				r, err := envelope.Decode(body)
				if err != nil {
					t.Fatal(err)
				}
				if r.ID != env.RequestID() {
					t.Fatalf("decoded id %s, signed id %s", r.ID, env.RequestID())
				}
				if idName == "anonymous" {
					if r.SenderPubKey != nil || r.SenderSig != nil || r.SenderDelegation != nil {
						t.Fatal("anonymous envelope carries a key, signature or delegation")
					}
				} else if !bytes.Equal(r.SenderPubKey, id.PublicKey()) || len(r.SenderDelegation) != len(id.Delegations()) {
					t.Fatal("key or delegations lost")
				}
				if err := r.Verify(testNow); err != nil {
					t.Fatalf("Verify: %v", err)
				}
				// One flipped bit in the signed content is caught.
				if idName != "anonymous" {
					tampered := *r
					tampered.ID[0] ^= 1
					var ae *envelope.AuthError
					if err := tampered.Verify(testNow); !errors.As(err, &ae) || !errors.Is(err, identity.ErrInvalidSignature) {
						t.Fatalf("tampered id: %v", err)
					}
				}
			})
		}
	}
}

func TestSignRejectsBadContent(t *testing.T) {
	c := specContent(t)
	c.RequestType = "update"
	if _, err := envelope.Sign(identity.Anonymous(), c); !errors.Is(err, envelope.ErrUnknownRequestType) {
		t.Fatalf("unknown type: %v", err)
	}
	c = specContent(t)
	c.Nonce = make([]byte, 33)
	if _, err := envelope.Sign(identity.Anonymous(), c); err == nil {
		t.Fatal("33-byte nonce accepted")
	}
	c = envelope.Content{RequestType: envelope.RequestTypeReadState, Paths: make([][][]byte, envelope.MaxPaths+1)}
	if _, err := envelope.Sign(identity.Anonymous(), c); err == nil {
		t.Fatal("1001 paths accepted")
	}
	c.Paths = [][][]byte{make([][]byte, envelope.MaxLabelsPerPath+1)}
	if _, err := envelope.Sign(identity.Anonymous(), c); err == nil {
		t.Fatal("128 labels accepted")
	}
}

func BenchmarkRequestID(b *testing.B) {
	c := envelope.Content{
		RequestType: envelope.RequestTypeCall, Sender: principal.SelfAuthenticating([]byte("k")),
		Nonce: make([]byte, 16), IngressExpiry: 1685570400000000000, CanisterID: principal.CanisterID(1),
		MethodName: "ws_message", Arg: make([]byte, 200),
	}
	b.ReportAllocs()
	for b.Loop() {
		_ = c.RequestID()
	}
}

func BenchmarkSignMarshal(b *testing.B) {
	id, _ := identity.Ed25519FromSeed(make([]byte, 32))
	c := envelope.Content{
		RequestType: envelope.RequestTypeCall, Nonce: make([]byte, 16), IngressExpiry: 1685570400000000000,
		CanisterID: principal.CanisterID(1), MethodName: "ws_message", Arg: make([]byte, 200),
	}
	b.ReportAllocs()
	for b.Loop() {
		env, err := envelope.Sign(id, c)
		if err != nil {
			b.Fatal(err)
		}
		if _, err := env.Marshal(); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkDecode(b *testing.B) {
	id, _ := identity.Ed25519FromSeed(make([]byte, 32))
	env, _ := envelope.Sign(id, envelope.Content{
		RequestType: envelope.RequestTypeCall, Nonce: make([]byte, 16), IngressExpiry: uint64(testNow.Add(time.Minute).UnixNano()),
		CanisterID: principal.CanisterID(1), MethodName: "ws_message", Arg: make([]byte, 200),
	})
	body, _ := env.Marshal()
	b.ReportAllocs()
	b.SetBytes(int64(len(body)))
	for b.Loop() {
		if _, err := envelope.Decode(body); err != nil {
			b.Fatal(err)
		}
	}
}
