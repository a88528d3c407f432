package certificate

import (
	"bytes"
	"encoding/hex"
	"errors"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/icws/icws/ic/cbor"
	"github.com/icws/icws/ic/hashtree"
	"github.com/icws/icws/ic/principal"
)

// Facts of the agent-js sample certificate (ic-interface.md §5.3 item 1).
const (
	sampleTimeNs         = 1645601880652705378 // 2022-02-23T07:38:00.652705378Z
	sampleDelegationNs   = 1645093069668391957 // 2022-02-17T10:17:49.668391957Z
	sampleRootHash       = "b294b418b11ebe5dd7dd1dcb099e4e0372b9a42aef7a7a37fb4f25667d705ea9"
	sampleDelegationRoot = "e6c01e909b4923345ce5970962bcfe3004bfd8474a21dae28f50692502f46d90"
	sampleRequestID      = "edad510eaaa08ed2acd4781324e6446269da6753ec17760f206bbe81c465ff52"
	ivg37                = "ivg37-qiaaa-aaaab-aaaga-cai"
	ryjl3                = "ryjl3-tyaaa-aaaaa-aaaba-cai"
	qxesv                = "qxesv-zoxpm-vc64m-zxguk-5sj74-35vrb-tbgwg-pcird-5gr26-62oxl-cae"
	uzr34                = "uzr34-akd3s-xrdag-3ql62-ocgoh-ld2ao-tamcv-54e7j-krwgb-2gm4z-oqe"
	o3ow2                = "o3ow2-2ipam-6fcjo-3j5vt-fzbge-2g7my-5fz2m-p4o2t-dwlc4-gt2q7-5ae"
)

func sampleCert(t testing.TB) []byte {
	t.Helper()
	h, err := os.ReadFile("testdata/agentjs_sample_cert.hex")
	if err != nil {
		t.Fatal(err)
	}
	b, err := hex.DecodeString(strings.TrimSpace(string(h)))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// readResponse returns the certificate of a read_state response body in testdata.
func readResponse(t testing.TB, name string) []byte {
	t.Helper()
	b, err := os.ReadFile("testdata/" + name)
	if err != nil {
		t.Fatal(err)
	}
	var resp struct {
		Certificate []byte `cbor:"certificate"`
	}
	if err := cbor.Unmarshal(b, &resp); err != nil || len(resp.Certificate) == 0 {
		t.Fatalf("%s: not a read_state response: %v", name, err)
	}
	return resp.Certificate
}

func fixedClock(ns int64) func() time.Time {
	return func() time.Time { return time.Unix(0, ns) }
}

func newVerifier(t testing.TB, cfg VerifierConfig) *Verifier {
	t.Helper()
	v, err := NewVerifier(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

func TestMainnetSample(t *testing.T) {
	raw := sampleCert(t)
	v := newVerifier(t, VerifierConfig{Clock: fixedClock(sampleTimeNs)})
	c, err := v.Verify(raw, principal.MustDecode(ivg37))
	if err != nil {
		t.Fatal(err)
	}
	if got := c.RootHash(); hex.EncodeToString(got[:]) != sampleRootHash {
		t.Errorf("root hash %x", got)
	}
	if tm, err := c.Time(); err != nil || tm.UnixNano() != sampleTimeNs {
		t.Errorf("Time = %v, %v", tm, err)
	}
	rid, _ := hex.DecodeString(sampleRequestID)
	lookups := []struct {
		label, value string
	}{
		{"reject_code", "\x03"},
		{"reject_message", "Canister ivg37-qiaaa-aaaab-aaaga-cai has no update method 'register'"},
		{"status", "rejected"},
	}
	for _, l := range lookups {
		r := c.Lookup([]byte("request_status"), rid, []byte(l.label))
		if r.Status != hashtree.Found || string(r.Value) != l.value {
			t.Errorf("%s = %v %q", l.label, r.Status, r.Value)
		}
	}
	if r := c.Lookup([]byte("request_status"), rid, []byte("reply")); r.Status != hashtree.Absent {
		t.Errorf("reply = %v, want Absent", r.Status)
	}
	if got := principal.MustDecode(qxesv).Bytes(); !bytes.Equal(c.Delegation.SubnetID, got) {
		t.Errorf("subnet id %x", c.Delegation.SubnetID)
	}
	dc, err := Parse(c.Delegation.Certificate)
	if err != nil {
		t.Fatal(err)
	}
	if got := dc.RootHash(); hex.EncodeToString(got[:]) != sampleDelegationRoot {
		t.Errorf("delegation root hash %x", got)
	}
	if tm, _ := dc.Time(); tm.UnixNano() != sampleDelegationNs {
		t.Errorf("delegation time %v", tm)
	}
	// Parse and Marshal are inverse on this (canonically encoded) certificate.
	if enc, err := c.Marshal(); err != nil || !bytes.Equal(enc, raw) {
		t.Errorf("Marshal differs from the original: %v", err)
	}
}

func TestMainnetSampleAuthorization(t *testing.T) {
	raw := sampleCert(t)
	v := newVerifier(t, VerifierConfig{Clock: fixedClock(sampleTimeNs)})
	for _, id := range []string{"00000000002000000101", "000000000020000c0101", "00000000002fffff0101"} {
		b, _ := hex.DecodeString(id)
		p, _ := principal.FromBytes(b)
		if _, err := v.Verify(raw, p); err != nil {
			t.Errorf("canister %s in range: %v", p, err)
		}
	}
	for _, id := range []string{"00000000000000020101", "00000000003000020101", "00000000002fffff010100"} {
		b, _ := hex.DecodeString(id)
		p, _ := principal.FromBytes(b)
		_, err := v.Verify(raw, p)
		var nae *NotAuthorizedError
		if !errors.Is(err, ErrNotAuthorized) || !errors.As(err, &nae) || nae.Canister != p {
			t.Errorf("canister %s out of range: %v", p, err)
		}
	}
	_, err := v.Verify(raw, principal.MustDecode(ryjl3))
	if want := "certificate not authorized for canister " + ryjl3; err == nil || !strings.HasPrefix(err.Error(), want) {
		t.Errorf("error %q, want prefix %q", err, want)
	}
	// Subnet reads: the zero principal skips the range check; VerifyForSubnet checks the subnet.
	if _, err := v.Verify(raw, principal.Principal{}); err != nil {
		t.Errorf("zero principal: %v", err)
	}
	if _, err := v.VerifyForSubnet(raw, principal.MustDecode(qxesv)); err != nil {
		t.Errorf("VerifyForSubnet: %v", err)
	}
	if _, err := v.VerifyForSubnet(raw, principal.MustDecode(uzr34)); !errors.Is(err, ErrInvalidDelegation) {
		t.Errorf("VerifyForSubnet for another subnet: %v", err)
	}
}

func TestMainnetSampleFreshness(t *testing.T) {
	raw := sampleCert(t)
	canister := principal.MustDecode(ivg37)
	tests := []struct {
		name   string
		now    int64
		maxAge time.Duration
		want   error
		deleg  bool
	}{
		{"at its time", sampleTimeNs, 0, nil, false},
		{"4 minutes later", sampleTimeNs + int64(4*time.Minute), 0, nil, false},
		{"10 minutes later", sampleTimeNs + int64(10*time.Minute), 0, ErrStale, false},
		{"a year later", sampleTimeNs + int64(365*24*time.Hour), 0, ErrStale, true},
		{"a year later, checks off", sampleTimeNs + int64(365*24*time.Hour), -1, nil, false},
		{"4 minutes earlier", sampleTimeNs - int64(4*time.Minute), 0, nil, false},
		{"10 minutes earlier", sampleTimeNs - int64(10*time.Minute), 0, ErrFuture, false},
		{"10 minutes later, max age 1 h", sampleTimeNs + int64(10*time.Minute), time.Hour, nil, false},
		{"31 days after the delegation, max age 1 year", sampleDelegationNs + int64(31*24*time.Hour), 365 * 24 * time.Hour, ErrStale, true},
		{"29 days after the delegation, max age 1 year", sampleDelegationNs + int64(29*24*time.Hour), 365 * 24 * time.Hour, nil, false},
		{"before the delegation", sampleDelegationNs - int64(time.Hour), 365 * 24 * time.Hour, ErrFuture, true},
	}
	for _, tt := range tests {
		v := newVerifier(t, VerifierConfig{Clock: fixedClock(tt.now), MaxAge: tt.maxAge})
		_, err := v.Verify(raw, canister)
		if !errors.Is(err, tt.want) || (tt.want == nil) != (err == nil) {
			t.Errorf("%s: %v, want %v", tt.name, err, tt.want)
			continue
		}
		var te *TimeError
		if err != nil && (!errors.As(err, &te) || te.Delegation != tt.deleg) {
			t.Errorf("%s: %#v, want a *TimeError with Delegation=%v", tt.name, err, tt.deleg)
		}
		if err != nil && !strings.Contains(err.Error(), "clock") {
			t.Errorf("%s: message %q gives no hint", tt.name, err)
		}
	}
	v := newVerifier(t, VerifierConfig{Clock: fixedClock(sampleTimeNs + int64(10*time.Minute))})
	_, err := v.Verify(raw, canister)
	want := "certificate time 2022-02-23T07:38:00.652705378Z is 10m0s older than the local clock 2022-02-23T07:48:00.652705378Z (at most 5m0s allowed): is the local clock synchronized, or is the replica's clock frozen?"
	if err == nil || err.Error() != want {
		t.Errorf("message %q", err)
	}
}

func TestMainnetSampleTampered(t *testing.T) {
	raw := sampleCert(t)
	canister := principal.MustDecode(ivg37)

	wrongRoot := newVerifier(t, VerifierConfig{RootKey: testRootKey(t).PublicKeyDER(), Clock: fixedClock(sampleTimeNs)})
	if _, err := wrongRoot.Verify(raw, canister); !errors.Is(err, ErrBadSignature) || !strings.Contains(err.Error(), "--fetch-root-key") {
		t.Errorf("wrong root key: %v", err)
	}

	c, _ := Parse(raw)
	c.Signature = make([]byte, SignatureSize)
	zeroSig, _ := c.Marshal()
	v := newVerifier(t, VerifierConfig{Clock: fixedClock(sampleTimeNs)})
	if _, err := v.Verify(zeroSig, canister); !errors.Is(err, ErrBadSignature) {
		t.Errorf("zero signature: %v", err)
	}

	// Every single-bit change anywhere is rejected. A changed delegation has another cache key, so
	// the cache (which saves the unchanged delegation's verification) cannot hide it.
	type failure struct {
		bit int
		err error
	}
	var (
		mu       sync.Mutex
		failures []failure
		wg       sync.WaitGroup
	)
	const workers = 4
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			v := newVerifier(t, VerifierConfig{Clock: fixedClock(sampleTimeNs), DelegationCacheSize: 1 << 14})
			b := make([]byte, len(raw))
			for bit := w; bit < 8*len(raw); bit += workers {
				copy(b, raw)
				b[bit/8] ^= 1 << (bit % 8)
				if _, err := v.Verify(b, canister); err == nil {
					mu.Lock()
					failures = append(failures, failure{bit, err})
					mu.Unlock()
				}
			}
		}()
	}
	wg.Wait()
	for _, f := range failures {
		t.Errorf("flipping bit %d (byte %d) still verifies", f.bit, f.bit/8)
	}
}

// The agent-rs read_state responses and the tests of ic-agent/src/agent/agent_test.rs.
func TestAgentRSResponses(t *testing.T) {
	tests := []struct {
		file     string
		canister string // empty: VerifyForSubnet(subnet)
		subnet   string
		want     error
	}{
		{"ivg37_time.bin", ivg37, "", nil},                                        // check_subnet_range_with_valid_range (sharded)
		{"ivg37_time.bin", ryjl3, "", ErrNotAuthorized},                           // check_subnet_range_with_unauthorized_range
		{"ivg37_time_pruned_ranges.bin", ivg37, "", ErrInvalidDelegation},         // check_subnet_range_with_pruned_range
		{"ivg37_delegated_v2.bin", ivg37, "", nil},                                // check_subnet_range_fallback_valid_range
		{"ivg37_delegated_v2.bin", ryjl3, "", ErrNotAuthorized},                   // check_subnet_range_fallback_unauthorized_range
		{"ivg37_delegated_v2_pruned_subnet.bin", ivg37, "", ErrInvalidDelegation}, // check_subnet_range_fallback_pruned_range
		{"224od_subnet.bin", "224od-giaaa-aaaao-ae5vq-cai", "", nil},
		{"224od_subnet.bin", "rdmx6-jaaaa-aaaaa-aaadq-cai", "", ErrNotAuthorized}, // wrong_subnet_query_certificate
		{"224od_subnet.bin", "", o3ow2, nil},
		{"uzr34_node_keys.bin", "", uzr34, nil},
		{"uzr34_node_keys.bin", "", o3ow2, ErrInvalidDelegation},
		{"uzr34_node_keys.bin", "rdmx6-jaaaa-aaaaa-aaadq-cai", "", ErrInvalidDelegation}, // reveals no ranges
		{"o3ow2_subnet_key.bin", "", o3ow2, nil},
	}
	for _, tt := range tests {
		raw := readResponse(t, tt.file)
		c, err := Parse(raw)
		if err != nil {
			t.Fatalf("%s: %v", tt.file, err)
		}
		tm, err := c.Time()
		if err != nil {
			t.Fatal(err)
		}
		v := newVerifier(t, VerifierConfig{Clock: func() time.Time { return tm.Add(time.Second) }})
		if tt.canister != "" {
			_, err = v.Verify(raw, principal.MustDecode(tt.canister))
		} else {
			_, err = v.VerifyForSubnet(raw, principal.MustDecode(tt.subnet))
		}
		if !errors.Is(err, tt.want) || (tt.want == nil) != (err == nil) {
			t.Errorf("%s for %s%s: %v, want %v", tt.file, tt.canister, tt.subnet, err, tt.want)
		}
	}

	// The sharded layout: the shard is the one labeled jrlun-jiaaa-aaaab-aaaaa-cai.
	c, _ := Parse(readResponse(t, "ivg37_time.bin"))
	dc, _ := Parse(c.Delegation.Certificate)
	r := dc.Lookup([]byte("canister_ranges"), c.Delegation.SubnetID, principal.MustDecode("jrlun-jiaaa-aaaab-aaaaa-cai").Bytes())
	ranges, err := DecodeRanges(r.Value)
	if err != nil || len(ranges) != 1 || ranges[0].Start.String() != "jrlun-jiaaa-aaaab-aaaaa-cai" || ranges[0].End.String() != "v2nog-2aaaa-aaaab-p777q-cai" {
		t.Errorf("shard ranges %v, %v", ranges, err)
	}
}

// Nested delegations are rejected: agent-js "certificate verification fails on nested
// delegations" and agent-rs too_many_delegations.
func TestNestedDelegationMainnet(t *testing.T) {
	withSubnet, err := os.ReadFile("testdata/with_subnet_key.bin")
	if err != nil {
		t.Fatal(err)
	}
	c, err := Parse(withSubnet)
	if err != nil {
		t.Fatal(err)
	}
	tm, _ := c.Time()
	v := newVerifier(t, VerifierConfig{Clock: func() time.Time { return tm }})
	// The certificate itself is valid (II canister on uzr34).
	if _, err := v.Verify(withSubnet, principal.MustDecode("rdmx6-jaaaa-aaaaa-aaadq-cai")); err != nil {
		t.Fatalf("with_subnet_key.bin: %v", err)
	}
	nested := Certificate{Tree: c.Tree, Signature: c.Signature, Delegation: &Delegation{
		SubnetID: principal.MustDecode(uzr34).Bytes(), Certificate: withSubnet,
	}}
	enc, _ := nested.Marshal()
	if _, err := v.Verify(enc, principal.MustDecode("rdmx6-jaaaa-aaaaa-aaadq-cai")); !errors.Is(err, ErrNestedDelegation) {
		t.Errorf("agent-js nested delegation: %v", err)
	}

	raw := readResponse(t, "uzr34_node_keys.bin")
	c, _ = Parse(raw)
	self := Certificate{Tree: c.Tree, Signature: c.Signature, Delegation: &Delegation{SubnetID: c.Delegation.SubnetID, Certificate: raw}}
	enc, _ = self.Marshal()
	tm, _ = c.Time()
	v = newVerifier(t, VerifierConfig{Clock: func() time.Time { return tm }})
	if _, err := v.VerifyForSubnet(enc, principal.MustDecode(uzr34)); !errors.Is(err, ErrNestedDelegation) {
		t.Errorf("agent-rs too_many_delegations: %v", err)
	}
}

func TestMainnetRootKey(t *testing.T) {
	k := MainnetRootKey()
	if len(k) != 133 || principal.SelfAuthenticating(k).String() != "tdb26-jop6k-aogll-7ltgs-eruif-6kk7m-qpktf-gdiqx-mxtrf-vb5e6-eqe" {
		t.Errorf("mainnet root key %x", k)
	}
	k[0] = 0
	if MainnetRootKey()[0] != 0x30 {
		t.Error("MainnetRootKey returns shared memory")
	}
	v := newVerifier(t, VerifierConfig{})
	if !bytes.Equal(v.RootKey(), MainnetRootKey()) || v.RootSubnet().String() != "tdb26-jop6k-aogll-7ltgs-eruif-6kk7m-qpktf-gdiqx-mxtrf-vb5e6-eqe" {
		t.Error("default root key is not mainnet's")
	}
	if _, err := NewVerifier(VerifierConfig{RootKey: k}); !errors.Is(err, ErrBadKey) {
		t.Errorf("bad root key: %v", err)
	}
}
