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
)

func TestCheckIngressExpiry(t *testing.T) {
	now := testNow
	ns := func(t time.Time) uint64 { return uint64(t.UnixNano()) }
	for _, ok := range []uint64{ns(now), ns(now.Add(4 * time.Minute)), ns(now.Add(5*time.Minute + 30*time.Second))} {
		if err := envelope.CheckIngressExpiry(ok, now); err != nil {
			t.Errorf("expiry %d rejected: %v", ok, err)
		}
	}
	for _, bad := range []uint64{0, ns(now) - 1, ns(now.Add(5*time.Minute+30*time.Second)) + 1, ^uint64(0)} {
		err := envelope.CheckIngressExpiry(bad, now)
		var ee *envelope.ExpiryError
		if !errors.As(err, &ee) || !strings.HasPrefix(err.Error(), "Invalid request expiry: ") {
			t.Errorf("expiry %d: err = %v", bad, err)
		}
	}
	// The wording of the IC replica (dfinity/ic rs/validator), as quoted in
	// agent-js e2e/node/basic/syncTime.test.ts, with the replica's eight
	// spaces after "Provided expiry:".
	err := envelope.CheckIngressExpiry(ns(time.Date(2025, 5, 1, 12, 38, 0, 0, time.UTC)), now)
	const want = "Invalid request expiry: Specified ingress_expiry not within expected range: " +
		"Minimum allowed expiry: 2025-05-01 23:55:18.005285297 UTC, " +
		"Maximum allowed expiry: 2025-05-02 00:00:48.005285297 UTC, " +
		"Provided expiry:        2025-05-01 12:38:00 UTC"
	if err == nil || err.Error() != want {
		t.Fatalf("message\n got %q\nwant %q", err, want)
	}
	// Fractions are printed with 3, 6 or 9 digits, like chrono.
	msNow := time.Date(2025, 5, 1, 0, 0, 0, 120_000_000, time.UTC)
	usExpiry := uint64(time.Date(2025, 1, 1, 0, 0, 0, 123_000, time.UTC).UnixNano())
	err = envelope.CheckIngressExpiry(usExpiry, msNow)
	if !strings.Contains(err.Error(), "Minimum allowed expiry: 2025-05-01 00:00:00.120 UTC") ||
		!strings.Contains(err.Error(), "Provided expiry:        2025-01-01 00:00:00.000123 UTC") {
		t.Fatalf("fraction formats: %q", err)
	}
	if err := envelope.CheckIngressExpiry(^uint64(0), now); !strings.Contains(err.Error(), "18446744073709551615ns") {
		t.Fatalf("overflowing expiry: %q", err)
	}
}

// signedBody builds and encodes an envelope with explicit parts, bypassing
// Sign's consistency, to test Verify's checks.
func signedBody(t *testing.T, content map[string]any, pub, sig []byte, chain []identity.SignedDelegation) []byte {
	t.Helper()
	m := map[string]any{"content": content}
	if pub != nil {
		m["sender_pubkey"] = pub
		m["sender_sig"] = sig
	}
	if chain != nil {
		arr := make([]any, len(chain))
		for i, d := range chain {
			enc, err := cbor.MarshalUntagged(d)
			if err != nil {
				t.Fatal(err)
			}
			arr[i] = cbor.RawMessage(enc)
		}
		m["sender_delegation"] = arr
	}
	b, err := cbor.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestVerifyFailures(t *testing.T) {
	ed, _ := identity.Ed25519FromSeed(bytes.Repeat([]byte{1}, 32))
	other, _ := identity.Ed25519FromSeed(bytes.Repeat([]byte{2}, 32))
	session, _ := identity.Ed25519FromSeed(bytes.Repeat([]byte{3}, 32))
	expiry := uint64(testNow.Add(time.Minute).UnixNano())
	canister := principal.CanisterID(7)
	content := func(sender principal.Principal, rt string) map[string]any {
		m := map[string]any{"request_type": rt, "sender": sender.Bytes(), "ingress_expiry": expiry}
		if rt == envelope.RequestTypeReadState {
			m["paths"] = []any{}
		} else {
			m["canister_id"], m["method_name"], m["arg"] = canister.Bytes(), "m", []byte{}
		}
		return m
	}
	sign := func(signer identity.Identity, m map[string]any) []byte {
		r, err := envelope.Decode(signedBody(t, m, nil, nil, nil))
		if err != nil {
			t.Fatal(err)
		}
		sig, _ := signer.Sign(r.ID.Signable())
		return sig
	}
	delegation := func(exp uint64, targets []principal.Principal) []identity.SignedDelegation {
		d, err := identity.SignDelegation(ed, identity.Delegation{PubKey: session.PublicKey(), Expiration: exp, Targets: targets})
		if err != nil {
			t.Fatal(err)
		}
		return []identity.SignedDelegation{d}
	}
	later := uint64(testNow.Add(time.Hour).UnixNano())

	tests := map[string]struct {
		body     func() []byte
		wantAuth error  // cause of an *AuthError
		wantExp  string // substring of an *ExpiryError
	}{
		"anonymous with signature": {
			body: func() []byte {
				m := content(principal.Anonymous(), "call")
				return signedBody(t, m, ed.PublicKey(), sign(ed, m), nil)
			},
			wantAuth: envelope.ErrAnonymousSignature,
		},
		"missing signature": {
			body:     func() []byte { return signedBody(t, content(ed.Sender(), "call"), nil, nil, nil) },
			wantAuth: envelope.ErrMissingSignature,
		},
		"sender does not match key": {
			body: func() []byte {
				m := content(other.Sender(), "call")
				return signedBody(t, m, ed.PublicKey(), sign(ed, m), nil)
			},
			wantAuth: envelope.ErrSenderMismatch,
		},
		"signed by another key": {
			body: func() []byte {
				m := content(ed.Sender(), "query")
				return signedBody(t, m, ed.PublicKey(), sign(other, m), nil)
			},
			wantAuth: identity.ErrInvalidSignature,
		},
		"garbage signature": {
			body: func() []byte {
				return signedBody(t, content(ed.Sender(), "call"), ed.PublicKey(), []byte{1, 2, 3}, nil)
			},
			wantAuth: identity.ErrInvalidSignature,
		},
		"unsupported sender key": {
			body: func() []byte {
				// A BLS12-381 key: well-formed DER, not an algorithm ingress signatures use.
				k1 := unhex(t, "308182301d060d2b0601040182dc7c0503010201060c2b0601040182dc7c05030201036100"+strings.Repeat("11", 96))
				return signedBody(t, content(principal.SelfAuthenticating(k1), "call"), k1, make([]byte, 64), nil)
			},
			wantAuth: identity.ErrUnsupportedKey,
		},
		"request signed by the sender key instead of the session key": {
			body: func() []byte {
				m := content(ed.Sender(), "call")
				return signedBody(t, m, ed.PublicKey(), sign(ed, m), delegation(later, nil))
			},
			wantAuth: identity.ErrInvalidSignature,
		},
		"delegation target mismatch": {
			body: func() []byte {
				m := content(ed.Sender(), "call")
				return signedBody(t, m, ed.PublicKey(), sign(session, m), delegation(later, []principal.Principal{principal.CanisterID(8)}))
			},
			wantAuth: envelope.ErrNotInTargets,
		},
		"delegation cycle": {
			body: func() []byte {
				m := content(ed.Sender(), "call")
				d, _ := identity.SignDelegation(ed, identity.Delegation{PubKey: ed.PublicKey(), Expiration: later})
				return signedBody(t, m, ed.PublicKey(), sign(ed, m), []identity.SignedDelegation{d})
			},
			wantAuth: identity.ErrDelegationCycle,
		},
		"delegation expired": {
			body: func() []byte {
				m := content(ed.Sender(), "call")
				return signedBody(t, m, ed.PublicKey(), sign(session, m), delegation(uint64(testNow.UnixNano())-1, nil))
			},
			wantExp: "Invalid request expiry: Specified sender delegation has expired:\nProvided expiry:    2025-05-01 23:55:18.005285296 UTC\nLocal replica time: 2025-05-01 23:55:18.005285297 UTC",
		},
		"request expired": {
			body: func() []byte {
				m := content(ed.Sender(), "call")
				m["ingress_expiry"] = uint64(testNow.UnixNano()) - 1
				return signedBody(t, m, ed.PublicKey(), sign(ed, m), nil)
			},
			wantExp: "Invalid request expiry: Specified ingress_expiry not within expected range",
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			r, err := envelope.Decode(tc.body())
			if err != nil {
				t.Fatalf("Decode: %v", err)
			}
			err = r.Verify(testNow)
			if tc.wantExp != "" {
				var ee *envelope.ExpiryError
				if !errors.As(err, &ee) || !strings.HasPrefix(err.Error(), tc.wantExp) {
					t.Fatalf("err = %q, want an ExpiryError starting %q", err, tc.wantExp)
				}
				return
			}
			var ae *envelope.AuthError
			if !errors.As(err, &ae) || !errors.Is(err, tc.wantAuth) {
				t.Fatalf("err = %v, want an AuthError caused by %v", err, tc.wantAuth)
			}
			prefix := "Failed to authenticate request 0x" + r.ID.String() + " due to: "
			if !strings.HasPrefix(err.Error(), prefix) || ae.RequestID != r.ID {
				t.Fatalf("message %q, want prefix %q", err, prefix)
			}
		})
	}

	// read_state is not restricted by targets in Verify; Targets() tells.
	m := content(ed.Sender(), envelope.RequestTypeReadState)
	r, err := envelope.Decode(signedBody(t, m, ed.PublicKey(), sign(session, m), delegation(later, []principal.Principal{principal.CanisterID(8)})))
	if err != nil {
		t.Fatal(err)
	}
	if err := r.Verify(testNow); err != nil {
		t.Fatalf("read_state with targets: %v", err)
	}
	if r.Targets().Contains(canister) || !r.Targets().Contains(principal.CanisterID(8)) {
		t.Fatal("Targets() wrong")
	}
}
