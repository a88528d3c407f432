package agent

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"errors"
	"testing"
	"time"

	"github.com/icws/icws/ic/cbor"
	"github.com/icws/icws/ic/envelope"
	"github.com/icws/icws/ic/principal"
	"github.com/icws/icws/ic/requestid"
)

// FuzzCallAnswer feeds arbitrary bodies to the handling of a /api/v3 call answer, for the request
// whose certified status is the recorded mainnet certificate (a reject). Whatever the body, the
// agent must not panic, and must never report a certified outcome other than the genuine one.
func FuzzCallAnswer(f *testing.F) {
	cert := readHex(f, sampleCertFile)
	genuine, err := cbor.Marshal(envelope.CallResponse{Status: envelope.StatusReplied, Certificate: cert})
	if err != nil {
		f.Fatal(err)
	}
	f.Add(genuine)
	uncertified, _ := cbor.Marshal(envelope.CallResponse{Status: envelope.StatusNonReplicatedRejection, RejectCode: 3, RejectMessage: "no"})
	f.Add(uncertified)
	f.Add([]byte{})
	f.Add([]byte("\xd9\xd9\xf7\xa0"))
	a, err := New(Config{URL: "https://icp-api.io", Clock: fixedClock(f, sampleCertTime)})
	if err != nil {
		f.Fatal(err)
	}
	tr := a.trust.Load()
	id, _ := requestid.Parse(sampleRequestID)
	want := RejectError{Code: envelope.DestinationInvalid, Message: sampleRejectMessage, Certified: true, RequestID: id}
	f.Fuzz(func(t *testing.T, body []byte) {
		reply, final, err := a.syncAnswer(tr, ivg37, id, response{status: 200, body: body, url: "fuzz"})
		var re *RejectError
		switch {
		case err == nil && final:
			t.Fatalf("accepted a reply %x", reply)
		case errors.As(err, &re):
			if re.Certified && *re != want {
				t.Fatalf("certified reject %+v, want %+v", *re, want)
			}
		case err == nil: // not final: the certificate shows the call pending, which this one cannot
			t.Fatal("a pending status from a certificate that says rejected")
		case !errors.Is(err, ErrUntrusted) && !errors.Is(err, ErrInvalidResponse):
			t.Fatalf("unexpected error: %v", err)
		}
	})
}

// FuzzQueryAnswer feeds arbitrary bodies to the handling of a query answer, with the keys of the
// subnet's (one) node known. A reply is accepted only if it is the one the node signed.
func FuzzQueryAnswer(f *testing.F) {
	pub, priv, err := ed25519.GenerateKey(bytes.NewReader(make([]byte, 64)))
	if err != nil {
		f.Fatal(err)
	}
	node := principal.SelfAuthenticating(append([]byte("node"), pub...))
	ecid := principal.CanisterID(1)
	id := requestid.ID{1, 2, 3}
	now := time.Date(2025, 5, 1, 12, 0, 0, 0, time.UTC)
	sign := func(qr *envelope.QueryResponse) []byte {
		ts := uint64(now.UnixNano())
		msg, err := envelope.QueryResponseSigningMessage(qr, id, ts)
		if err != nil {
			f.Fatal(err)
		}
		qr.Signatures = []envelope.NodeSignature{{Timestamp: ts, Signature: ed25519.Sign(priv, msg), Identity: node}}
		b, err := cbor.Marshal(qr)
		if err != nil {
			f.Fatal(err)
		}
		return b
	}
	genuineReply := []byte("DIDL\x00\x01\x71\x02hi")
	f.Add(sign(&envelope.QueryResponse{Status: envelope.StatusReplied, Reply: &envelope.QueryReply{Arg: genuineReply}}))
	f.Add(sign(&envelope.QueryResponse{Status: envelope.StatusRejected, RejectCode: 4, RejectMessage: "no", ErrorCode: "IC0406"}))
	f.Add([]byte("\xd9\xd9\xf7\xa1\x66status\x67replied"))

	a, err := New(Config{URL: "http://127.0.0.1:1", Clock: func() time.Time { return now }})
	if err != nil {
		f.Fatal(err)
	}
	tr := a.trust.Load()
	// The node keys, as if fetched.
	done := make(chan struct{})
	close(done)
	a.keys.entries = map[principal.Principal]*keyEntry{ecid: {
		done:    done,
		keys:    &subnetKeys{subnet: tr.rootSubnet, nodes: map[principal.Principal]ed25519.PublicKey{node: pub}},
		expires: now.Add(time.Hour),
	}}
	ctx := context.Background()
	f.Fuzz(func(t *testing.T, body []byte) {
		reply, err := a.queryAnswer(ctx, tr, ecid, id, response{status: 200, body: body, url: "fuzz"})
		var re *RejectError
		switch {
		case err == nil:
			if !bytes.Equal(reply, genuineReply) {
				t.Fatalf("accepted the reply %x", reply)
			}
		case errors.As(err, &re):
			if *re != (RejectError{Code: 4, Message: "no", ErrorCode: "IC0406", RequestID: id}) {
				t.Fatalf("accepted the reject %+v", *re)
			}
		case errors.Is(err, ErrRootKeyNotFetched) || isContextErr(err):
			t.Fatalf("unexpected error: %v", err)
		}
	})
}

// FuzzParseMinimumExpiry checks that any refusal text is handled without a panic.
func FuzzParseMinimumExpiry(f *testing.F) {
	f.Add("Invalid request expiry: Specified ingress_expiry not within expected range: Minimum allowed expiry: 2025-05-01 23:55:18.005285297 UTC, Maximum allowed expiry: 2025-05-02 00:00:48.005285297 UTC")
	f.Add("Minimum allowed expiry: 18446744073709551615")
	f.Add("Minimum allowed expiry:")
	f.Fuzz(func(t *testing.T, body string) {
		parseMinimumExpiry(body)
	})
}
