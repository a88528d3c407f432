package certificate

import (
	"testing"

	"github.com/icws/icws/ic/principal"
)

// BenchmarkVerify verifies the agent-js mainnet sample certificate (with a delegation).
func BenchmarkVerify(b *testing.B) {
	raw := sampleCert(b)
	canister := principal.MustDecode(ivg37)
	b.Run("delegation-cached", func(b *testing.B) {
		v := newVerifier(b, VerifierConfig{Clock: fixedClock(sampleTimeNs), CertificateCacheSize: -1})
		if _, err := v.Verify(raw, canister); err != nil {
			b.Fatal(err)
		}
		b.ReportAllocs()
		for b.Loop() {
			if _, err := v.Verify(raw, canister); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("no-cache", func(b *testing.B) {
		v := newVerifier(b, VerifierConfig{Clock: fixedClock(sampleTimeNs), DelegationCacheSize: -1, CertificateCacheSize: -1})
		b.ReportAllocs()
		for b.Loop() {
			if _, err := v.Verify(raw, canister); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("certificate-cached", func(b *testing.B) {
		v := newVerifier(b, VerifierConfig{Clock: fixedClock(sampleTimeNs)})
		b.ReportAllocs()
		for b.Loop() {
			if _, err := v.Verify(raw, canister); err != nil {
				b.Fatal(err)
			}
		}
	})
}

func BenchmarkParse(b *testing.B) {
	raw := sampleCert(b)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Parse(raw); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkSign signs a small state tree (/time and one canister's certified data).
func BenchmarkSign(b *testing.B) {
	key := testRootKey(b)
	tree := stateTree(b, testNow, principal.CanisterID(7))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Sign(key, tree); err != nil {
			b.Fatal(err)
		}
	}
}
