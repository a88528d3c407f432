package client

import (
	"fmt"
	"time"

	"github.com/icws/icws/ic/certificate"
	"github.com/icws/icws/ic/hashtree"
	"github.com/icws/icws/ic/principal"
)

// newCertFunc returns the certificate check of the verifier: full verification against rootKey
// (BLS signature, delegation and its age, canister ranges for canister, the certificate's time
// within maxAge and maxSkew of now), then the canister's certified data and the certificate's
// time, which the verifier checks again for every later message that comes with the same
// certificate. Time errors wrap certificate.ErrStale or certificate.ErrFuture.
//
// The Verifier's own certificate cache is off: the verifier's cache in front of it answers a
// repeated certificate by comparing bytes, without parsing or hashing it again.
func newCertFunc(rootKey []byte, canister principal.Principal, now func() time.Time, maxAge, maxSkew time.Duration) (certFunc, error) {
	v, err := certificate.NewVerifier(certificate.VerifierConfig{
		RootKey:              rootKey,
		MaxAge:               maxAge,
		MaxFutureSkew:        maxSkew,
		Clock:                now,
		CertificateCacheSize: -1,
	})
	if err != nil {
		return nil, err
	}
	path := [][]byte{[]byte("canister"), canister.Bytes(), []byte("certified_data")}
	return func(b []byte) (certInfo, error) {
		c, err := v.Verify(b, canister)
		if err != nil {
			return certInfo{}, err
		}
		r := c.Lookup(path...)
		if r.Status != hashtree.Found {
			return certInfo{}, fmt.Errorf("the certificate has no certified data for canister %s (lookup: %v)", canister, r.Status)
		}
		t, err := c.Time()
		if err != nil {
			return certInfo{}, err
		}
		return certInfo{certifiedData: r.Value, time: t}, nil
	}, nil
}
