package certificate

import (
	"bytes"
	"os"
	"testing"
	"time"

	"github.com/icws/icws/ic/principal"
)

// FuzzParse: parsing and verifying outside bytes never panics; what parses re-encodes to a
// certificate with the same content.
func FuzzParse(f *testing.F) {
	f.Add(sampleCert(f))
	for _, name := range []string{"ivg37_time.bin", "ivg37_time_pruned_ranges.bin", "ivg37_delegated_v2_pruned_subnet.bin", "224od_subnet.bin"} {
		f.Add(readResponse(f, name))
	}
	if b, err := os.ReadFile("testdata/with_subnet_key.bin"); err == nil {
		f.Add(b)
	}
	root, subnetKey := testKey(f, 1), testKey(f, 3)
	subnet := principal.SelfAuthenticating(subnetKey.PublicKeyDER())
	d, err := NewDelegation(root, DelegationSpec{Subnet: subnet, PublicKey: subnetKey.PublicKeyDER(),
		Ranges: []Range{{Start: principal.CanisterID(1), End: principal.CanisterID(9)}}, Time: testNow})
	if err != nil {
		f.Fatal(err)
	}
	own, _ := SignDelegated(subnetKey, stateTree(f, testNow, principal.CanisterID(5)), d)
	f.Add(own)
	plain, _ := Sign(root, stateTree(f, testNow, principal.CanisterID(5)))
	f.Add(plain)
	for _, s := range []string{"", "\xd9\xd9\xf7\xa0", "\xa2\x64tree\x81\x00\x69signature\x40", "\xa1\x63foo\x9f\xff"} {
		f.Add([]byte(s))
	}

	mainnet := newVerifier(f, VerifierConfig{Clock: fixedClock(sampleTimeNs)})
	ownV := newVerifier(f, VerifierConfig{RootKey: root.PublicKeyDER(), Clock: func() time.Time { return testNow }})
	canisters := []principal.Principal{principal.MustDecode(ivg37), principal.CanisterID(5), {}}
	f.Fuzz(func(t *testing.T, b []byte) {
		c, err := Parse(b)
		if err == nil {
			enc, err := c.Marshal()
			if err != nil {
				t.Fatal(err)
			}
			c2, err := Parse(enc)
			if err != nil {
				t.Fatalf("re-encoding rejected: %v", err)
			}
			if c2.RootHash() != c.RootHash() || !bytes.Equal(c2.Signature, c.Signature) || (c2.Delegation == nil) != (c.Delegation == nil) {
				t.Fatal("re-encoding changed the certificate")
			}
			c.Time()
		}
		for _, v := range []*Verifier{mainnet, ownV} {
			for _, p := range canisters {
				v.Verify(b, p)
			}
			v.VerifyForSubnet(b, subnet)
		}
	})
}

// FuzzDecodeRanges: DecodeRanges never panics, and what it accepts re-encodes to an equivalent
// value.
func FuzzDecodeRanges(f *testing.F) {
	f.Add(EncodeRanges([]Range{{Start: principal.CanisterID(0x200000), End: principal.CanisterID(0x2fffff)}}))
	f.Add([]byte{0x80})
	f.Add([]byte("\x81\x82\x41\x01\x5f\xff"))
	f.Fuzz(func(t *testing.T, b []byte) {
		ranges, err := DecodeRanges(b)
		if err != nil {
			return
		}
		again, err := DecodeRanges(EncodeRanges(ranges))
		if err != nil || len(again) != len(ranges) {
			t.Fatalf("re-encoding: %v", err)
		}
		for i := range ranges {
			if again[i] != ranges[i] {
				t.Fatal("re-encoding changed a range")
			}
		}
	})
}
