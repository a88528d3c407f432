package client

import (
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/icws/icws/ic/principal"
	"github.com/icws/icws/protocol"
)

// TestSharedCacheConcurrent: many Verifiers of one batch, from as many goroutines, share one
// cache: the certificate is verified once, every message passes, and a forged copy of the
// certificate fails for each of them (the failure is shared as well).
func TestSharedCacheConcurrent(t *testing.T) {
	f := newFixture(t)
	const clients = 16
	cache := NewSharedCache(f.canister, 0)
	frames := make([][]byte, clients)
	var msgs = make([]struct{ id uint64 }, clients)
	for i := range msgs {
		msgs[i].id = uint64(100 + i)
	}
	for i, fr := range f.batch(t, f.now, func() (out []protocol.WebsocketMessage) {
		for _, m := range msgs {
			out = append(out, f.msg(m.id, 0, "to everyone"))
		}
		return out
	}()...) {
		frames[i] = fr
	}
	newV := func(t *testing.T, id uint64) *Verifier {
		v, err := NewVerifier(VerifierConfig{RootKey: f.rootKey, Canister: f.canister, ClientID: id, Cache: cache,
			Clock: func() time.Time { return f.now }, MaxMessageAge: time.Minute})
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
	vs := make([]*Verifier, clients)
	for i := range vs {
		vs[i] = newV(t, msgs[i].id)
	}
	var wg sync.WaitGroup
	errs := make([]error, clients)
	for i := range vs {
		wg.Go(func() {
			m, err := vs[i].Check(frames[i])
			if err == nil && (m.ClientID != msgs[i].id || vs[i].Next() != 1) {
				err = errors.New("wrong message or next")
			}
			errs[i] = err
		})
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Errorf("client %d: %v", i, err)
		}
	}
	verifications := 0
	for _, v := range vs {
		verifications += v.v.certVerifications
	}
	if certs, trees := cache.Len(); verifications != 1 || certs != 1 || trees != 1 {
		t.Errorf("%d verifications, %d certificates and %d trees cached for one batch, want 1, 1, 1", verifications, certs, trees)
	}

	// A forged certificate fails for every client; it is verified once too.
	for i := range vs {
		bad := reframe(t, frames[i], func(cm *protocol.CertMessage) { cm.Cert = append([]byte(nil), cm.Cert...); flipLast(cm.Cert) })
		var ve *VerifyError
		if _, err := newV(t, msgs[i].id).Check(bad); !errors.As(err, &ve) || ve.Kind != BadCertificate {
			t.Errorf("client %d: forged certificate: %v, want BadCertificate", i, err)
		}
	}
	if certs, _ := cache.Len(); certs != 2 {
		t.Errorf("%d certificates cached after the forged one, want 2 (its failure is remembered)", certs)
	}

	// A cache is for one canister.
	if _, err := NewVerifier(VerifierConfig{RootKey: f.rootKey, Canister: principal.CanisterID(8), Cache: cache}); err == nil {
		t.Error("NewVerifier accepted the cache of another canister")
	}
	if _, err := NewVerifier(VerifierConfig{Canister: f.canister}); err == nil {
		t.Error("NewVerifier accepted no root key")
	}
}
