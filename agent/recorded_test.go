package agent

// Tests against recorded mainnet responses (ic-interface.md §5.3), served from a loopback HTTP
// server, through the agent's own request and verification path, with the clock set to the time
// the responses were recorded.

import (
	"bytes"
	"encoding/hex"
	"errors"
	"strings"
	"testing"

	"github.com/icws/icws/ic/certificate"
	"github.com/icws/icws/ic/envelope"
	"github.com/icws/icws/ic/hashtree"
	"github.com/icws/icws/ic/principal"
	"github.com/icws/icws/ic/requestid"
)

const (
	// The agent-js SAMPLE_CERT_BYTES: the status of a rejected call to ivg37, delegated by the
	// root subnet to subnet qxesv, whose ranges are jrlun-jiaaa-aaaab-aaaaa-cai ..
	// v2nog-2aaaa-aaaab-p777q-cai.
	sampleCertFile      = "ivg37_rejected_register.hex"
	sampleCertTime      = "2022-02-23T07:38:01Z" // the certificate's /time is 07:38:00.652
	sampleRequestID     = "edad510eaaa08ed2acd4781324e6446269da6753ec17760f206bbe81c465ff52"
	sampleRejectMessage = "Canister ivg37-qiaaa-aaaab-aaaga-cai has no update method 'register'"
)

var (
	ivg37 = principal.MustDecode("ivg37-qiaaa-aaaab-aaaga-cai")
	ryjl3 = principal.MustDecode("ryjl3-tyaaa-aaaaa-aaaba-cai")
)

func newRecordedAgent(t *testing.T, cert []byte, at string) (*Agent, *certServer) {
	t.Helper()
	srv := newCertServer(t, cert)
	a, err := New(Config{URL: srv.URL, Clock: fixedClock(t, at), PollInterval: 1})
	if err != nil {
		t.Fatal(err)
	}
	return a, srv
}

func TestRecordedDelegatedCertificate(t *testing.T) {
	checkNoGoroutineLeak(t)
	ctx := testContext(t)
	a, srv := newRecordedAgent(t, readHex(t, sampleCertFile), sampleCertTime)
	id, err := requestid.Parse(sampleRequestID)
	if err != nil {
		t.Fatal(err)
	}
	paths := [][][]byte{{[]byte("request_status"), id[:]}}

	cert, err := a.ReadState(ctx, ivg37, paths)
	if err != nil {
		t.Fatalf("ReadState(ivg37): %v", err)
	}
	if got := <-srv.requests; got != "/api/v2/canister/ivg37-qiaaa-aaaab-aaaga-cai/read_state" {
		t.Errorf("request path %q", got)
	}
	if cert.Delegation == nil || !bytes.Equal(cert.Delegation.SubnetID, principal.MustDecode("qxesv-zoxpm-vc64m-zxguk-5sj74-35vrb-tbgwg-pcird-5gr26-62oxl-cae").Bytes()) {
		t.Errorf("delegation %+v, want subnet qxesv", cert.Delegation)
	}
	if r := cert.Lookup([]byte("request_status"), id[:], []byte("status")); r.Status != hashtree.Found || string(r.Value) != "rejected" {
		t.Errorf("status lookup %v %q", r.Status, r.Value)
	}

	// The same certificate read as a call's status: a certified reject.
	tr, err := a.getTrust(ctx)
	if err != nil {
		t.Fatal(err)
	}
	_, err = a.poll(ctx, tr, ivg37, signed{id: id, expiry: ^uint64(0) >> 1})
	var re *RejectError
	if !errors.As(err, &re) {
		t.Fatalf("poll: got %v, want a *RejectError", err)
	}
	want := RejectError{Code: envelope.DestinationInvalid, Message: sampleRejectMessage, Certified: true, RequestID: id}
	if *re != want {
		t.Errorf("reject %+v, want %+v", *re, want)
	}
	if msg := re.Error(); !strings.HasPrefix(msg, "canister rejected the call: reject code 3 (DESTINATION_INVALID)") || !strings.Contains(msg, sampleRejectMessage) {
		t.Errorf("Error() = %q", msg)
	}
}

func TestRecordedCertificateOutsideRanges(t *testing.T) {
	ctx := testContext(t)
	a, _ := newRecordedAgent(t, readHex(t, sampleCertFile), sampleCertTime)
	id, _ := requestid.Parse(sampleRequestID)
	for _, hexID := range []string{"00000000000000020101", "00000000003000020101", "00000000001fffff0101", "00000000003000000101"} {
		raw, _ := hex.DecodeString(hexID)
		canister, err := principal.FromBytes(raw)
		if err != nil {
			t.Fatal(err)
		}
		_, err = a.ReadState(ctx, canister, [][][]byte{{[]byte("request_status"), id[:]}})
		if !errors.Is(err, ErrUntrusted) || !errors.Is(err, certificate.ErrNotAuthorized) {
			t.Errorf("ReadState(%s) = %v, want ErrUntrusted and certificate.ErrNotAuthorized", canister, err)
		}
	}
	// The edges of the delegated range are inside.
	for _, text := range []string{"jrlun-jiaaa-aaaab-aaaaa-cai", "v2nog-2aaaa-aaaab-p777q-cai"} {
		if _, err := a.ReadState(ctx, principal.MustDecode(text), nil); err != nil {
			t.Errorf("ReadState(%s): %v", text, err)
		}
	}
}

func TestRecordedCertificateStale(t *testing.T) {
	ctx := testContext(t)
	// The same certificate, a day after it was made: too old.
	a, _ := newRecordedAgent(t, readHex(t, sampleCertFile), "2022-02-24T07:38:01Z")
	_, err := a.ReadState(ctx, ivg37, nil)
	if !errors.Is(err, ErrUntrusted) || !errors.Is(err, certificate.ErrStale) {
		t.Fatalf("got %v, want ErrUntrusted and certificate.ErrStale", err)
	}
	if !strings.Contains(err.Error(), "clock") {
		t.Errorf("the error does not point at the clock: %v", err)
	}
	// A day before: from the future.
	a, _ = newRecordedAgent(t, readHex(t, sampleCertFile), "2022-02-22T07:38:01Z")
	if _, err := a.ReadState(ctx, ivg37, nil); !errors.Is(err, certificate.ErrFuture) {
		t.Fatalf("got %v, want certificate.ErrFuture", err)
	}
}

func TestRecordedCertificateWrongRootKey(t *testing.T) {
	ctx := testContext(t)
	srv := newCertServer(t, readHex(t, sampleCertFile))
	// A valid BLS key that is not the mainnet key: the replica's key of another test vector.
	other := readHex(t, "mainnetSystem.hex")
	c, err := certificate.Parse(other)
	if err != nil {
		t.Fatal(err)
	}
	key := c.Lookup([]byte("subnet"), principal.MustDecode("pae4o-o6dxf-xki7q-ezclx-znyd6-fnk6w-vkv5z-5lfwh-xym2i-otrrw-fqe").Bytes(), []byte("public_key"))
	if key.Status != hashtree.Found {
		t.Fatalf("subnet key lookup: %v", key.Status)
	}
	a, err := New(Config{URL: srv.URL, RootKey: key.Value, Clock: fixedClock(t, sampleCertTime)})
	if err != nil {
		t.Fatal(err)
	}
	_, err = a.ReadState(ctx, ivg37, nil)
	if !errors.Is(err, ErrUntrusted) || !errors.Is(err, certificate.ErrBadSignature) {
		t.Fatalf("got %v, want ErrUntrusted and certificate.ErrBadSignature", err)
	}
}

// The /subnet answers of agent-js's golden certificates: node keys of the root subnet (no
// delegation) and of an application subnet (delegated).
func TestRecordedNodeKeys(t *testing.T) {
	tests := []struct {
		file, at, canister string
		subnet             string
		nodes              int
		someNode           string
	}{
		{"mainnetSystem.hex", "2023-09-27T19:58:19.412Z", "ryjl3-tyaaa-aaaaa-aaaba-cai",
			"tdb26-jop6k-aogll-7ltgs-eruif-6kk7m-qpktf-gdiqx-mxtrf-vb5e6-eqe", 40,
			"ego73-sreyv-vpdjs-gxxxh-jormr-swyro-toj4x-obghz-sbk32-duwid-dae"},
		{"mainnetApplication.hex", "2023-09-27T19:38:58.129Z", "erxue-5aaaa-aaaab-qaagq-cai",
			"pae4o-o6dxf-xki7q-ezclx-znyd6-fnk6w-vkv5z-5lfwh-xym2i-otrrw-fqe", 13,
			"djil5-54fkt-55svu-26a7h-ttflx-dqn6u-3w3j6-zyuwg-cfwuo-7oi46-uae"},
	}
	for _, tt := range tests {
		t.Run(tt.file, func(t *testing.T) {
			ctx := testContext(t)
			a, srv := newRecordedAgent(t, readHex(t, tt.file), tt.at)
			tr, err := a.getTrust(ctx)
			if err != nil {
				t.Fatal(err)
			}
			canister := principal.MustDecode(tt.canister)
			keys, err := a.nodeKeys(ctx, tr, canister, nil)
			if err != nil {
				t.Fatalf("nodeKeys: %v", err)
			}
			if keys.subnet.String() != tt.subnet || len(keys.nodes) != tt.nodes {
				t.Errorf("subnet %s with %d nodes, want %s with %d", keys.subnet, len(keys.nodes), tt.subnet, tt.nodes)
			}
			if k := keys.nodes[principal.MustDecode(tt.someNode)]; len(k) != 32 {
				t.Errorf("node %s: key %x", tt.someNode, k)
			}
			// Cached: a second lookup makes no request.
			if _, err := a.nodeKeys(ctx, tr, canister, nil); err != nil {
				t.Fatal(err)
			}
			if n := len(srv.requests); n != 1 {
				t.Errorf("%d requests, want 1 (the keys should be cached)", n)
			}
		})
	}
}

func TestRecordedNodeKeysOutsideRanges(t *testing.T) {
	ctx := testContext(t)
	// rdmx6 (canister 7, Internet Identity) is not on the root subnet, whose certificate has no
	// delegation: the certificate verifies, but its subnet does not host the canister.
	a, _ := newRecordedAgent(t, readHex(t, "mainnetSystem.hex"), "2023-09-27T19:58:19.412Z")
	tr, err := a.getTrust(ctx)
	if err != nil {
		t.Fatal(err)
	}
	_, err = a.nodeKeys(ctx, tr, principal.MustDecode("rdmx6-jaaaa-aaaaa-aaadq-cai"), nil)
	if !errors.Is(err, ErrUntrusted) || !errors.Is(err, certificate.ErrNotAuthorized) {
		t.Fatalf("got %v, want ErrUntrusted for a canister outside the ranges", err)
	}
	// With a delegation, the verifier itself refuses.
	a, _ = newRecordedAgent(t, readHex(t, "mainnetApplication.hex"), "2023-09-27T19:38:58.129Z")
	if tr, err = a.getTrust(ctx); err != nil {
		t.Fatal(err)
	}
	_, err = a.nodeKeys(ctx, tr, ryjl3, nil)
	if !errors.Is(err, ErrUntrusted) || !errors.Is(err, certificate.ErrNotAuthorized) {
		t.Fatalf("got %v, want ErrUntrusted and certificate.ErrNotAuthorized", err)
	}
}
