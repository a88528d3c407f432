package certificate

import (
	"bytes"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/icws/icws/ic/bls"
	"github.com/icws/icws/ic/hashtree"
	"github.com/icws/icws/ic/principal"
)

var testNow = time.Date(2026, 1, 2, 3, 4, 5, 6, time.UTC)

func testKey(t testing.TB, seed byte) *bls.SecretKey {
	t.Helper()
	k, err := bls.GenerateKey(bytes.Repeat([]byte{seed}, 32))
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func testRootKey(t testing.TB) *bls.SecretKey { return testKey(t, 1) }

// stateTree is a small state tree with /time and the certified data of a canister.
func stateTree(t testing.TB, now time.Time, canister principal.Principal) hashtree.Node {
	t.Helper()
	var b hashtree.Builder
	if err := b.Insert([][]byte{[]byte("time")}, EncodeTime(now)); err != nil {
		t.Fatal(err)
	}
	if err := b.Insert([][]byte{[]byte("canister"), canister.Bytes(), []byte("certified_data")}, []byte("hello")); err != nil {
		t.Fatal(err)
	}
	return b.Tree()
}

func TestSignVerifyRootKey(t *testing.T) {
	root := testRootKey(t)
	canister := principal.CanisterID(7)
	raw, err := Sign(root, stateTree(t, testNow, canister))
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.HasPrefix(raw, []byte{0xd9, 0xd9, 0xf7, 0xa2}) {
		t.Errorf("encoding starts %x", raw[:4])
	}
	v := newVerifier(t, VerifierConfig{RootKey: root.PublicKeyDER(), Clock: func() time.Time { return testNow }})
	c, err := v.Verify(raw, canister)
	if err != nil {
		t.Fatal(err)
	}
	if r := c.Lookup([]byte("canister"), canister.Bytes(), []byte("certified_data")); r.Status != hashtree.Found || string(r.Value) != "hello" {
		t.Errorf("certified_data = %v %q", r.Status, r.Value)
	}
	if tm, _ := c.Time(); !tm.Equal(testNow) {
		t.Errorf("time %v", tm)
	}
	// Without a delegation, any canister is fine (the root subnet speaks for all).
	if _, err := v.Verify(raw, principal.CanisterID(1<<40)); err != nil {
		t.Error(err)
	}
	other := newVerifier(t, VerifierConfig{RootKey: testKey(t, 2).PublicKeyDER(), Clock: func() time.Time { return testNow }})
	if _, err := other.Verify(raw, canister); !errors.Is(err, ErrBadSignature) {
		t.Errorf("other root key: %v", err)
	}
	// A certificate without /time fails only when time checks are on.
	noTime, _ := Sign(root, hashtree.Labeled{Label: []byte("x"), Tree: hashtree.Leaf("y")})
	if _, err := v.Verify(noTime, canister); !errors.Is(err, ErrMalformed) {
		t.Errorf("no /time: %v", err)
	}
	lax := newVerifier(t, VerifierConfig{RootKey: root.PublicKeyDER(), MaxAge: -1})
	if _, err := lax.Verify(noTime, canister); err != nil {
		t.Errorf("no /time, no time checks: %v", err)
	}
}

func TestSignVerifyDelegated(t *testing.T) {
	root, subnetKey := testRootKey(t), testKey(t, 3)
	subnet := principal.SelfAuthenticating(subnetKey.PublicKeyDER())
	inside, below, above := principal.CanisterID(0x200005), principal.CanisterID(0x1fffff), principal.CanisterID(0x300000)
	ranges := []Range{{Start: principal.CanisterID(0x100000), End: principal.CanisterID(0x100010)},
		{Start: principal.CanisterID(0x200000), End: principal.CanisterID(0x2fffff)}}
	for _, layout := range []Layout{LayoutBoth, LayoutSubnet, LayoutSharded} {
		d, err := NewDelegation(root, DelegationSpec{Subnet: subnet, PublicKey: subnetKey.PublicKeyDER(), Ranges: ranges,
			Time: testNow.Add(-time.Hour), Layout: layout})
		if err != nil {
			t.Fatal(err)
		}
		raw, err := SignDelegated(subnetKey, stateTree(t, testNow, inside), d)
		if err != nil {
			t.Fatal(err)
		}
		v := newVerifier(t, VerifierConfig{RootKey: root.PublicKeyDER(), Clock: func() time.Time { return testNow }})
		for _, tt := range []struct {
			canister principal.Principal
			want     error
		}{
			{inside, nil}, {principal.CanisterID(0x100010), nil}, {below, ErrNotAuthorized}, {above, ErrNotAuthorized},
			{principal.CanisterID(0), ErrNotAuthorized}, {principal.Principal{}, nil},
		} {
			_, err := v.Verify(raw, tt.canister)
			if !errors.Is(err, tt.want) || (tt.want == nil) != (err == nil) {
				t.Errorf("layout %d, canister %s: %v, want %v", layout, tt.canister, err, tt.want)
			}
		}
		if _, err := v.VerifyForSubnet(raw, subnet); err != nil {
			t.Errorf("layout %d: VerifyForSubnet: %v", layout, err)
		}
		if v.cache.len() != 1 {
			t.Errorf("layout %d: %d cached delegations, want 1", layout, v.cache.len())
		}
		// The subnet key cannot sign as root, and the root key cannot sign as the subnet.
		if _, err := SignDelegated(root, stateTree(t, testNow, inside), d); err != nil {
			t.Fatal(err)
		}
		forged, _ := SignDelegated(root, stateTree(t, testNow, inside), d)
		if _, err := v.Verify(forged, inside); !errors.Is(err, ErrBadSignature) {
			t.Errorf("layout %d: certificate signed by the wrong key: %v", layout, err)
		}
		// A verifier with another root key rejects the delegation.
		w := newVerifier(t, VerifierConfig{RootKey: testKey(t, 9).PublicKeyDER(), Clock: func() time.Time { return testNow }})
		if _, err := w.Verify(raw, inside); !errors.Is(err, ErrBadSignature) {
			t.Errorf("layout %d: wrong root: %v", layout, err)
		}
	}
}

// delegationFrom signs a hand-made delegation tree with root.
func delegationFrom(t *testing.T, root *bls.SecretKey, subnet principal.Principal, entries map[string][]byte) *Delegation {
	t.Helper()
	var b hashtree.Builder
	for p, v := range entries {
		path := bytes.Split([]byte(p), []byte("/"))
		for i, l := range path {
			if string(l) == "<subnet>" {
				path[i] = subnet.Bytes()
			}
		}
		if err := b.Insert(path, v); err != nil {
			t.Fatal(err)
		}
	}
	cert, err := Sign(root, b.Tree())
	if err != nil {
		t.Fatal(err)
	}
	return &Delegation{SubnetID: subnet.Bytes(), Certificate: cert}
}

func TestDelegationFailures(t *testing.T) {
	root, subnetKey := testRootKey(t), testKey(t, 3)
	subnet := principal.SelfAuthenticating(subnetKey.PublicKeyDER())
	canister := principal.CanisterID(0x200005)
	good := EncodeRanges([]Range{{Start: principal.CanisterID(0x200000), End: principal.CanisterID(0x2fffff)}})
	now := EncodeTime(testNow)
	pk := subnetKey.PublicKeyDER()
	ed25519DER := append([]byte("\x30\x2a\x30\x05\x06\x03\x2b\x65\x70\x03\x21\x00"), make([]byte, 32)...)
	shard := func(id uint64) string { return "canister_ranges/<subnet>/" + string(principal.CanisterID(id).Bytes()) }

	rangesA := EncodeRanges([]Range{{Start: principal.CanisterID(0x100), End: principal.CanisterID(0x1ff)}})
	rangesC := EncodeRanges([]Range{{Start: principal.CanisterID(0x300), End: principal.CanisterID(0x3ff)}})

	tests := []struct {
		name     string
		entries  map[string][]byte
		canister principal.Principal
		want     error
	}{
		{"no public key", map[string][]byte{"subnet/<subnet>/canister_ranges": good, "time": now}, canister, ErrInvalidDelegation},
		{"Ed25519 subnet key", map[string][]byte{"subnet/<subnet>/canister_ranges": good, "subnet/<subnet>/public_key": ed25519DER, "time": now}, canister, ErrBadKey},
		{"raw subnet key", map[string][]byte{"subnet/<subnet>/canister_ranges": good, "subnet/<subnet>/public_key": subnetKey.PublicKey(), "time": now}, canister, ErrBadKey},
		{"no ranges", map[string][]byte{"subnet/<subnet>/public_key": pk, "time": now}, canister, ErrInvalidDelegation},
		{"no ranges, subnet read", map[string][]byte{"subnet/<subnet>/public_key": pk, "time": now}, principal.Principal{}, nil},
		{"malformed ranges", map[string][]byte{"subnet/<subnet>/canister_ranges": []byte("\x81\x82\x41\x01"), "subnet/<subnet>/public_key": pk, "time": now}, canister, ErrMalformed},
		{"no time", map[string][]byte{"subnet/<subnet>/canister_ranges": good, "subnet/<subnet>/public_key": pk}, canister, ErrMalformed},
		{"shards: in first", map[string][]byte{shard(0x100): rangesA, shard(0x300): rangesC, "subnet/<subnet>/public_key": pk, "time": now}, principal.CanisterID(0x150), nil},
		{"shards: in second", map[string][]byte{shard(0x100): rangesA, shard(0x300): rangesC, "subnet/<subnet>/public_key": pk, "time": now}, principal.CanisterID(0x3ff), nil},
		{"shards: between", map[string][]byte{shard(0x100): rangesA, shard(0x300): rangesC, "subnet/<subnet>/public_key": pk, "time": now}, principal.CanisterID(0x250), ErrNotAuthorized},
		{"shards: below all", map[string][]byte{shard(0x100): rangesA, shard(0x300): rangesC, "subnet/<subnet>/public_key": pk, "time": now}, principal.CanisterID(0x50), ErrNotAuthorized},
		{"shards win over the old layout", map[string][]byte{shard(0x100): rangesA, "subnet/<subnet>/canister_ranges": good, "subnet/<subnet>/public_key": pk, "time": now}, canister, ErrNotAuthorized},
		{"malformed shard", map[string][]byte{shard(0x100): []byte("x"), "subnet/<subnet>/public_key": pk, "time": now}, principal.CanisterID(0x150), ErrMalformed},
		{"malformed other shard", map[string][]byte{shard(0x100): rangesA, shard(0x300): []byte("x"), "subnet/<subnet>/public_key": pk, "time": now}, principal.CanisterID(0x150), nil},
	}
	for _, tt := range tests {
		d := delegationFrom(t, root, subnet, tt.entries)
		raw, err := SignDelegated(subnetKey, stateTree(t, testNow, canister), d)
		if err != nil {
			t.Fatal(err)
		}
		v := newVerifier(t, VerifierConfig{RootKey: root.PublicKeyDER(), Clock: func() time.Time { return testNow }})
		_, err = v.Verify(raw, tt.canister)
		if !errors.Is(err, tt.want) || (tt.want == nil) != (err == nil) {
			t.Errorf("%s: %v, want %v", tt.name, err, tt.want)
		}
	}

	// A delegation whose certificate has a delegation of its own.
	d, err := NewDelegation(root, DelegationSpec{Subnet: subnet, PublicKey: pk, Ranges: []Range{{Start: canister, End: canister}}, Time: testNow})
	if err != nil {
		t.Fatal(err)
	}
	inner, _ := Parse(d.Certificate)
	inner.Delegation = d
	nestedCert, _ := inner.Marshal()
	raw, _ := SignDelegated(subnetKey, stateTree(t, testNow, canister), &Delegation{SubnetID: subnet.Bytes(), Certificate: nestedCert})
	v := newVerifier(t, VerifierConfig{RootKey: root.PublicKeyDER(), Clock: func() time.Time { return testNow }})
	if _, err := v.Verify(raw, canister); !errors.Is(err, ErrNestedDelegation) {
		t.Errorf("nested: %v", err)
	}
	// The delegation is for another subnet than the one claimed.
	otherSubnet := principal.SelfAuthenticating(root.PublicKeyDER())
	raw, _ = SignDelegated(subnetKey, stateTree(t, testNow, canister), &Delegation{SubnetID: otherSubnet.Bytes(), Certificate: d.Certificate})
	if _, err := v.Verify(raw, canister); !errors.Is(err, ErrInvalidDelegation) {
		t.Errorf("subnet mismatch: %v", err)
	}
	if _, err := NewDelegation(root, DelegationSpec{Subnet: subnet, PublicKey: pk}); err == nil {
		t.Error("NewDelegation without ranges")
	}
	if _, err := NewDelegation(root, DelegationSpec{Subnet: subnet, PublicKey: pk[1:], Ranges: []Range{{}}}); err == nil {
		t.Error("NewDelegation with a bad key")
	}
}

func TestDelegationCache(t *testing.T) {
	root, subnetKey := testRootKey(t), testKey(t, 3)
	subnet := principal.SelfAuthenticating(subnetKey.PublicKeyDER())
	canister := principal.CanisterID(5)
	certs := make([][]byte, 3)
	for i := range certs {
		d, err := NewDelegation(root, DelegationSpec{Subnet: subnet, PublicKey: subnetKey.PublicKeyDER(),
			Ranges: []Range{{Start: canister, End: canister}}, Time: testNow.Add(-time.Duration(i) * time.Minute)})
		if err != nil {
			t.Fatal(err)
		}
		certs[i], _ = SignDelegated(subnetKey, stateTree(t, testNow, canister), d)
	}
	v := newVerifier(t, VerifierConfig{RootKey: root.PublicKeyDER(), Clock: func() time.Time { return testNow }, DelegationCacheSize: 2})
	var wg sync.WaitGroup
	errs := make(chan error, 30)
	for i := range 30 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if _, err := v.Verify(certs[i%3], canister); err != nil {
				errs <- err
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	if n := v.cache.len(); n != 2 {
		t.Errorf("cache holds %d delegations, want 2", n)
	}
	// A cached delegation still gets its time and range checks.
	if _, err := v.Verify(certs[0], principal.CanisterID(6)); !errors.Is(err, ErrNotAuthorized) {
		t.Errorf("cached, other canister: %v", err)
	}
	late := newVerifier(t, VerifierConfig{RootKey: root.PublicKeyDER(), Clock: func() time.Time { return testNow.Add(31 * 24 * time.Hour) }, MaxAge: 365 * 24 * time.Hour})
	for range 2 {
		if _, err := late.Verify(certs[0], canister); !errors.Is(err, ErrStale) {
			t.Errorf("old delegation: %v", err)
		}
	}
	off := newVerifier(t, VerifierConfig{RootKey: root.PublicKeyDER(), Clock: func() time.Time { return testNow }, DelegationCacheSize: -1})
	if _, err := off.Verify(certs[0], canister); err != nil || off.cache != nil {
		t.Errorf("no cache: %v", err)
	}
}

func TestRangesEncoding(t *testing.T) {
	ranges := []Range{{Start: principal.CanisterID(0x200000), End: principal.CanisterID(0x2fffff)}}
	enc := EncodeRanges(ranges)
	// The value of /subnet/<qxesv>/canister_ranges in the agent-js sample certificate.
	if want := "d9d9f781824a000000000020000001014a00000000002fffff0101"; fmt.Sprintf("%x", enc) != want {
		t.Errorf("EncodeRanges = %x", enc)
	}
	got, err := DecodeRanges(enc)
	if err != nil || len(got) != 1 || got[0] != ranges[0] {
		t.Errorf("DecodeRanges = %v, %v", got, err)
	}
	for _, bad := range []string{"", "80ff", "d9d9f7", "a0", "8182410141", "818241014102ff", "81824101", "81834101410141", "818261616162",
		"81825e" + "00", "81825820" + fmt.Sprintf("%064x", 0) + "4101", "d8188180", "9f", "8180"} {
		b := []byte(nil)
		fmt.Sscanf(bad, "%x", &b)
		if _, err := DecodeRanges(b); !errors.Is(err, ErrMalformed) {
			t.Errorf("DecodeRanges(%s) = %v", bad, err)
		}
	}
	if got, err := DecodeRanges([]byte{0x80}); err != nil || len(got) != 0 {
		t.Errorf("empty ranges: %v %v", got, err)
	}
}

func TestCertificateCache(t *testing.T) {
	raw := sampleCert(t)
	now := time.Unix(0, sampleTimeNs)
	v := newVerifier(t, VerifierConfig{Clock: func() time.Time { return now }, CertificateCacheSize: 2})
	canister := principal.MustDecode(ivg37)
	for range 3 {
		if _, err := v.Verify(raw, canister); err != nil {
			t.Fatal(err)
		}
	}
	if v.certs.len() != 1 {
		t.Fatalf("%d cached certificates, want 1", v.certs.len())
	}
	// A hit still checks the time, and is per canister.
	now = now.Add(10 * time.Minute)
	if _, err := v.Verify(raw, canister); !errors.Is(err, ErrStale) {
		t.Errorf("cached certificate, 10 minutes later: %v", err)
	}
	now = time.Unix(0, sampleTimeNs)
	if _, err := v.Verify(raw, principal.MustDecode(ryjl3)); !errors.Is(err, ErrNotAuthorized) {
		t.Errorf("cached certificate, other canister: %v", err)
	}
	if _, err := v.VerifyForSubnet(raw, principal.MustDecode(qxesv)); err != nil {
		t.Fatal(err)
	}
	if _, err := v.Verify(raw, principal.Principal{}); err != nil {
		t.Fatal(err)
	}
	if v.certs.len() != 2 {
		t.Errorf("%d cached certificates, want 2 (the bound)", v.certs.len())
	}
	off := newVerifier(t, VerifierConfig{Clock: func() time.Time { return now }, CertificateCacheSize: -1})
	if _, err := off.Verify(raw, canister); err != nil || off.certs != nil {
		t.Errorf("no cache: %v", err)
	}
}
