package envelope_test

import (
	"bytes"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/icws/icws/ic/cbor"
	"github.com/icws/icws/ic/envelope"
	"github.com/icws/icws/ic/identity"
	"github.com/icws/icws/ic/principal"
	"github.com/icws/icws/ic/requestid"
)

// TestDecodeAgentJSShape decodes a call built the way @dfinity/agent 3.4.3
// builds it: keys in its insertion order (request_type, canister_id,
// method_name, arg, sender, ingress_expiry, nonce), ingress_expiry in the
// 8-byte form, a 16-byte nonce, then sender_pubkey and sender_sig.
func TestDecodeAgentJSShape(t *testing.T) {
	id, err := identity.Ed25519FromSeed(bytes.Repeat([]byte{9}, 32))
	if err != nil {
		t.Fatal(err)
	}
	canister := principal.MustDecode("ryjl3-tyaaa-aaaaa-aaaba-cai")
	arg := []byte("DIDL\x00\x01\x71\x05world")
	nonce := bytes.Repeat([]byte{0x5a}, 16)
	// agent-js rounds the expiry down to a whole minute.
	expiry := uint64(testNow.Add(5 * time.Minute).Truncate(time.Minute).UnixNano())

	// The signer's view: request id from a map it built itself.
	rid, err := requestid.HashOfMap(map[string]any{
		"request_type": "call", "canister_id": canister.Bytes(), "method_name": "greet", "arg": arg,
		"sender": id.Sender().Bytes(), "ingress_expiry": expiry, "nonce": nonce,
	})
	if err != nil {
		t.Fatal(err)
	}
	sig, _ := id.Sign(rid.Signable())

	w := &cborBuilder{}
	w.raw(0xd9, 0xd9, 0xf7).mapHead(3)
	w.text("content").mapHead(7).
		text("request_type").text("call").
		text("canister_id").bytes(canister.Bytes()).
		text("method_name").text("greet").
		text("arg").bytes(arg).
		text("sender").bytes(id.Sender().Bytes()).
		text("ingress_expiry").uint64Long(expiry).
		text("nonce").bytes(nonce)
	w.text("sender_pubkey").bytes(id.PublicKey())
	w.text("sender_sig").bytes(sig)

	r, err := envelope.Decode(w.b)
	if err != nil {
		t.Fatalf("Decode: %v", err)
	}
	if r.ID != rid {
		t.Fatalf("request id %s, want %s", r.ID, rid)
	}
	c := r.Content
	if c.RequestType != "call" || c.CanisterID != canister || c.MethodName != "greet" || !bytes.Equal(c.Arg, arg) ||
		c.Sender != id.Sender() || c.IngressExpiry != expiry || !bytes.Equal(c.Nonce, nonce) {
		t.Fatalf("content = %+v", c)
	}
	if c.RequestID() != rid {
		t.Fatal("typed request id differs")
	}
	if err := r.Verify(testNow); err != nil {
		t.Fatalf("Verify: %v", err)
	}
	// Without the self-describe tag it decodes the same.
	r2, err := envelope.Decode(w.b[3:])
	if err != nil || r2.ID != rid {
		t.Fatalf("untagged: %v", err)
	}
}

// TestDecodeUnknownContentField: a field the replica does not know (the
// 2026 sender_info) is hashed into the request id, so the signature made
// over the full content verifies.
func TestDecodeUnknownContentField(t *testing.T) {
	id, _ := identity.Ed25519FromSeed(bytes.Repeat([]byte{3}, 32))
	content := map[string]any{
		"request_type": "query", "sender": id.Sender().Bytes(), "ingress_expiry": uint64(testNow.Add(time.Minute).UnixNano()),
		"canister_id": principal.CanisterID(1).Bytes(), "method_name": "m", "arg": []byte{},
		"sender_info": map[string]any{"info": []byte{1}, "signer": []byte{2}, "sig": []byte{3}},
	}
	rid, _ := requestid.HashOfMap(content)
	sig, _ := id.Sign(rid.Signable())
	body, err := cbor.Marshal(map[string]any{"content": content, "sender_pubkey": id.PublicKey(), "sender_sig": sig})
	if err != nil {
		t.Fatal(err)
	}
	r, err := envelope.Decode(body)
	if err != nil {
		t.Fatal(err)
	}
	if r.ID != rid || r.Content.RequestID() == rid {
		t.Fatalf("id %s (want %s); typed id must differ, it lacks sender_info", r.ID, rid)
	}
	if _, ok := r.RawContent["sender_info"]; !ok {
		t.Fatal("sender_info dropped from RawContent")
	}
	if err := r.Verify(testNow); err != nil {
		t.Fatal(err)
	}
}

func validContent() map[string]any {
	return map[string]any{
		"request_type": "call", "sender": []byte{4}, "ingress_expiry": uint64(1),
		"canister_id": []byte{1}, "method_name": "m", "arg": []byte{},
	}
}

func validReadState() map[string]any {
	return map[string]any{
		"request_type": "read_state", "sender": []byte{4}, "ingress_expiry": uint64(1),
		"paths": []any{[]any{[]byte("time")}},
	}
}

func with(m map[string]any, k string, v any) map[string]any {
	if v == nil {
		delete(m, k)
	} else {
		m[k] = v
	}
	return m
}

func TestDecodeErrors(t *testing.T) {
	enc := func(v any) []byte {
		b, err := cbor.Marshal(v)
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	env := func(content any) []byte { return enc(map[string]any{"content": content}) }
	sd := map[string]any{"delegation": map[string]any{"pubkey": []byte{1}, "expiration": uint64(1)}, "signature": []byte{2}}
	many := make([]any, 21)
	for i := range many {
		many[i] = sd
	}
	manyPaths := make([]any, 1001)
	for i := range manyPaths {
		manyPaths[i] = []any{}
	}
	longPath := make([]any, 128)
	for i := range longPath {
		longPath[i] = []byte{}
	}
	tests := map[string]struct {
		body []byte
		want string
	}{
		"empty":                 {nil, "cbor"},
		"not CBOR":              {[]byte{0xff, 0x00}, "cbor"},
		"trailing bytes":        {append(env(validContent()), 0), "cbor"},
		"not a map":             {enc([]any{}), "envelope is an array"},
		"unknown envelope key":  {enc(map[string]any{"content": validContent(), "x": uint64(1)}), `unknown envelope field "x"`},
		"no content":            {enc(map[string]any{}), "no content"},
		"content not a map":     {enc(map[string]any{"content": []byte{}}), "content is a blob"},
		"no request_type":       {env(with(validContent(), "request_type", nil)), `no field "request_type"`},
		"request_type blob":     {env(with(validContent(), "request_type", []byte("call"))), "request_type is a blob"},
		"unknown request_type":  {env(with(validContent(), "request_type", "update")), `request_type "update"`},
		"no sender":             {env(with(validContent(), "sender", nil)), `no field "sender"`},
		"sender text":           {env(with(validContent(), "sender", "2vxsx-fae")), "sender is text"},
		"sender too long":       {env(with(validContent(), "sender", make([]byte, 30))), "sender"},
		"no ingress_expiry":     {env(with(validContent(), "ingress_expiry", nil)), `no field "ingress_expiry"`},
		"negative expiry":       {env(with(validContent(), "ingress_expiry", int64(-1))), "ingress_expiry is a negative int"},
		"expiry text":           {env(with(validContent(), "ingress_expiry", "1")), "ingress_expiry is text"},
		"nonce too long":        {env(with(validContent(), "nonce", make([]byte, 33))), "nonce is 33 bytes, at most 32"},
		"nonce text":            {env(with(validContent(), "nonce", "n")), "nonce is text"},
		"no canister_id":        {env(with(validContent(), "canister_id", nil)), `no field "canister_id"`},
		"no method_name":        {env(with(validContent(), "method_name", nil)), `no field "method_name"`},
		"method_name blob":      {env(with(validContent(), "method_name", []byte("m"))), "method_name is a blob"},
		"no arg":                {env(with(validContent(), "arg", nil)), `no field "arg"`},
		"arg text":              {env(with(validContent(), "arg", "DIDL")), "arg is text"},
		"no paths":              {env(with(validReadState(), "paths", nil)), `no field "paths"`},
		"paths not array":       {env(with(validReadState(), "paths", []byte{})), "paths is a blob"},
		"path not array":        {env(with(validReadState(), "paths", []any{[]byte("time")})), "path 0 is a blob"},
		"label not blob":        {env(with(validReadState(), "paths", []any{[]any{"time"}})), "path 0 label 0 is text"},
		"too many paths":        {env(with(validReadState(), "paths", manyPaths)), "1001 paths"},
		"path too long":         {env(with(validReadState(), "paths", []any{longPath})), "128 labels"},
		"unhashable unknown":    {env(with(validContent(), "flag", true)), `field "flag"`},
		"null unknown":          {env(with(validContent(), "maybe", map[string]any{"x": nil})), `field "maybe"`},
		"pubkey without sig":    {enc(map[string]any{"content": validContent(), "sender_pubkey": []byte{1}}), "must both be present or both absent"},
		"sig without pubkey":    {enc(map[string]any{"content": validContent(), "sender_sig": []byte{1}}), "must both be present or both absent"},
		"pubkey text":           {enc(map[string]any{"content": validContent(), "sender_pubkey": "k", "sender_sig": []byte{}}), "sender_pubkey is text"},
		"delegation no key":     {enc(map[string]any{"content": validContent(), "sender_delegation": []any{sd}}), "sender_delegation without sender_pubkey"},
		"delegation not array":  {enc(map[string]any{"content": validContent(), "sender_delegation": sd}), "sender_delegation is a map"},
		"21 delegations":        {enc(map[string]any{"content": validContent(), "sender_pubkey": []byte{1}, "sender_sig": []byte{1}, "sender_delegation": many}), "21 delegations, at most 20"},
		"bad delegation":        {enc(map[string]any{"content": validContent(), "sender_pubkey": []byte{1}, "sender_sig": []byte{1}, "sender_delegation": []any{uint64(1)}}), "sender_delegation 0"},
		"null pubkey":           {enc(map[string]any{"content": validContent(), "sender_pubkey": nil, "sender_sig": nil}), "is null, want a blob"},
		"duplicate content key": {append([]byte{0xa2, 0x67}, append([]byte("content"), append([]byte{0xa0, 0x67}, append([]byte("content"), 0xa0)...)...)...), "cbor"},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			_, err := envelope.Decode(tc.body)
			if !errors.Is(err, envelope.ErrMalformed) {
				t.Fatalf("err = %v, want ErrMalformed", err)
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err = %q, want it to mention %q", err, tc.want)
			}
		})
	}
}

func TestDecodeBigExpiry(t *testing.T) {
	// ingress_expiry as a bignum (tag 2): refused, not truncated.
	w := &cborBuilder{}
	w.mapHead(1).text("content").mapHead(6).
		text("request_type").text("call").text("sender").bytes([]byte{4}).
		text("ingress_expiry").raw(0xc2).bytes([]byte{1, 0, 0, 0, 0, 0, 0, 0, 0}).
		text("canister_id").bytes([]byte{1}).text("method_name").text("m").text("arg").bytes(nil)
	_, err := envelope.Decode(w.b)
	if !errors.Is(err, envelope.ErrMalformed) || !strings.Contains(err.Error(), "tag 2 is not allowed") {
		t.Fatalf("err = %v", err)
	}
}
