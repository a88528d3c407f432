package envelope_test

import (
	"bytes"
	"testing"
	"time"

	"github.com/icws/icws/ic/envelope"
	"github.com/icws/icws/ic/requestid"
)

var knownContentFields = map[string]bool{
	"request_type": true, "sender": true, "nonce": true, "ingress_expiry": true,
	"canister_id": true, "method_name": true, "arg": true, "paths": true,
}

func FuzzDecode(f *testing.F) {
	for _, id := range identities(f) {
		for _, c := range contents(f) {
			c.IngressExpiry = uint64(testNow.Add(time.Minute).UnixNano())
			env, err := envelope.Sign(id, c)
			if err != nil {
				f.Fatal(err)
			}
			body, err := env.Marshal()
			if err != nil {
				f.Fatal(err)
			}
			f.Add(body)
		}
	}
	f.Add([]byte{})
	f.Add([]byte{0xd9, 0xd9, 0xf7, 0xa0})
	f.Add([]byte{0xa1, 0x67, 'c', 'o', 'n', 't', 'e', 'n', 't', 0xa0})
	f.Fuzz(func(t *testing.T, body []byte) {
		r, err := envelope.Decode(body)
		if err != nil {
			return
		}
		id, err := requestid.HashOfMap(r.RawContent)
		if err != nil || id != r.ID {
			t.Fatalf("ID %s is not hash_of_map(RawContent) %s (%v)", r.ID, id, err)
		}
		_ = r.Verify(testNow) // must not panic
		expected := 0
		for k := range r.RawContent {
			if knownContentFields[k] {
				expected++
			}
		}
		onlyKnown := expected == len(r.RawContent)
		if onlyKnown && fieldsMatchType(r) && r.Content.RequestID() != r.ID {
			t.Fatalf("typed request id %s differs from generic %s", r.Content.RequestID(), r.ID)
		}
		// Re-encoding what was decoded decodes again, to the same typed id.
		env := &envelope.Envelope{Content: r.Content, SenderPubKey: r.SenderPubKey, SenderSig: r.SenderSig, SenderDelegation: r.SenderDelegation}
		again, err := env.Marshal()
		if err != nil {
			t.Fatalf("re-encode: %v", err)
		}
		r2, err := envelope.Decode(again)
		if err != nil {
			t.Fatalf("re-decode of %x: %v", again, err)
		}
		if r2.ID != r.Content.RequestID() || !bytes.Equal(r2.SenderSig, r.SenderSig) || len(r2.SenderDelegation) != len(r.SenderDelegation) {
			t.Fatal("re-decode differs")
		}
		for i := range r.SenderDelegation {
			if r2.SenderDelegation[i].Delegation.Hash() != r.SenderDelegation[i].Delegation.Hash() {
				t.Fatalf("delegation %d changed in a round trip", i)
			}
		}
	})
}

// fieldsMatchType reports whether the raw content holds exactly the fields
// its request type uses (plus an optional nonce).
func fieldsMatchType(r *envelope.Request) bool {
	_, hasPaths := r.RawContent["paths"]
	_, hasCanister := r.RawContent["canister_id"]
	_, hasMethod := r.RawContent["method_name"]
	_, hasArg := r.RawContent["arg"]
	if r.Content.RequestType == envelope.RequestTypeReadState {
		return !hasCanister && !hasMethod && !hasArg
	}
	return !hasPaths
}
