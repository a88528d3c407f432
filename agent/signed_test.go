package agent

import (
	"crypto/rand"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/icws/icws/ic/candid"
	"github.com/icws/icws/ic/envelope"
	"github.com/icws/icws/ic/identity"
	"github.com/icws/icws/ic/principal"
	"github.com/icws/icws/ic/requestid"
)

// clientCall signs a call of method on canister by id, as a client would before handing it to a
// relay: the envelope's bytes and request id.
func clientCall(t testing.TB, id identity.Identity, canister principal.Principal, method string, arg []byte) ([]byte, requestid.ID) {
	t.Helper()
	nonce := make([]byte, 16)
	rand.Read(nonce)
	env, err := envelope.Sign(id, envelope.Content{
		RequestType:   envelope.RequestTypeCall,
		Sender:        id.Sender(),
		Nonce:         nonce,
		IngressExpiry: uint64(time.Now().Add(4 * time.Minute).UnixNano()),
		CanisterID:    canister,
		MethodName:    method,
		Arg:           arg,
	})
	if err != nil {
		t.Fatal(err)
	}
	body, err := env.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	return body, env.RequestID()
}

// A relay (this agent, with its own identity) submits calls signed by a client: the canister sees
// the client as the caller, replies and rejects come back, and nothing is polled.
func TestReplicaSubmitSigned(t *testing.T) {
	ctx := testContext(t)
	r := startReplica(t, 0)
	relay := newAgent(t, r.URL(), Config{RootKey: r.RootKey(), Identity: testIdentity(t)})
	client := testIdentity(t)
	enc := func(v ...any) []byte {
		b, err := candid.Marshal(v...)
		if err != nil {
			t.Fatal(err)
		}
		return b
	}

	body, id := clientCall(t, client, r.canister, "whoami", enc())
	reply, err := relay.SubmitSigned(ctx, r.canister, id, body)
	if err != nil {
		t.Fatalf("SubmitSigned(whoami): %v", err)
	}
	var who principal.Principal
	if err := candid.Unmarshal(reply, &who); err != nil || !who.Equal(client.Sender()) {
		t.Fatalf("whoami = %s, %v; want the client %s, not the relay %s", who, err, client.Sender(), relay.Sender())
	}

	body, id = clientCall(t, client, r.canister, "reject", enc("no thanks"))
	if _, err := relay.SubmitSigned(ctx, r.canister, id, body); !isCertifiedReject(err, "no thanks") {
		t.Errorf("SubmitSigned(reject) = %v, want the certified reject", err)
	}

	// A tampered signature: refused before execution, with the IC's 4xx.
	body, id = clientCall(t, client, r.canister, "inc", enc())
	bad := append([]byte(nil), body...)
	bad[len(bad)-1] ^= 1
	var he *HTTPError
	if _, err := relay.SubmitSigned(ctx, r.canister, id, bad); !errors.As(err, &he) || he.StatusCode/100 != 4 {
		t.Errorf("tampered SubmitSigned = %v, want an HTTP 4xx", err)
	}

	// v2 only, and a v3 that answers 202: accepted, outcome unknown (read_state of another
	// sender's request is forbidden, so there is no polling).
	for _, tc := range []struct {
		name   string
		action func(path string) proxyAction
	}{
		{"v2", func(path string) proxyAction {
			if strings.HasPrefix(path, "/api/v3/") {
				return proxyNotFound
			}
			return proxyPass
		}},
		{"v3 202", func(path string) proxyAction {
			if strings.HasPrefix(path, "/api/v3/") && strings.HasSuffix(path, "/call") {
				return proxyAccepted
			}
			return proxyPass
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := newProxy(t, r.URL(), tc.action, nil)
			a := newAgent(t, p.URL, Config{RootKey: r.RootKey(), Identity: testIdentity(t)})
			body, id := clientCall(t, client, r.canister, "inc", enc())
			if _, err := a.SubmitSigned(ctx, r.canister, id, body); !errors.Is(err, ErrOutcomeUnknown) {
				t.Fatalf("SubmitSigned = %v, want ErrOutcomeUnknown", err)
			}
		})
	}
}
