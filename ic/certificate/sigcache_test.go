package certificate

import (
	"errors"
	"testing"
	"time"

	"github.com/icws/icws/ic/hashtree"
	"github.com/icws/icws/ic/principal"
)

// TestSignatureCacheSameRound verifies two certificates cut from one signed state tree (pruned to
// different paths, so different bytes, same root hash and signature): the second costs no BLS
// verification, and a certificate whose tree differs from the signed one still fails.
func TestSignatureCacheSameRound(t *testing.T) {
	root := testRootKey(t)
	canister := principal.CanisterID(7)
	full := stateTree(t, testNow, canister)
	signed, err := Sign(root, full)
	if err != nil {
		t.Fatal(err)
	}
	c, err := Parse(signed)
	if err != nil {
		t.Fatal(err)
	}
	pruned := Certificate{Tree: hashtree.Prune(full, [][]byte{[]byte("time")}), Signature: c.Signature}
	prunedBytes, err := pruned.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	if string(prunedBytes) == string(signed) {
		t.Fatal("pruning changed nothing; the test needs two different encodings of one round")
	}
	v := newVerifier(t, VerifierConfig{RootKey: root.PublicKeyDER(), Clock: func() time.Time { return testNow }})
	for _, b := range [][]byte{signed, prunedBytes} {
		if _, err := v.Verify(b, canister); err != nil {
			t.Fatal(err)
		}
	}
	if n := v.sigs.len(); n != 1 {
		t.Errorf("signature cache holds %d entries after two certificates of one round, want 1", n)
	}
	// Same signature over a different tree: the root hash differs, so the cache cannot vouch for it.
	forged := Certificate{Tree: hashtree.Labeled{Label: []byte("time"), Tree: hashtree.Leaf{1}}, Signature: c.Signature}
	forgedBytes, err := forged.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := v.Verify(forgedBytes, canister); !errors.Is(err, ErrBadSignature) {
		t.Fatalf("forged tree with a cached signature: err = %v, want ErrBadSignature", err)
	}
}

// TestSignatureSingleFlight verifies one round's certificate from many goroutines at once: every
// verification succeeds, and a certificate with a bad signature fails in all of them.
func TestSignatureSingleFlight(t *testing.T) {
	root := testRootKey(t)
	canister := principal.CanisterID(7)
	good, err := Sign(root, stateTree(t, testNow, canister))
	if err != nil {
		t.Fatal(err)
	}
	c, err := Parse(good)
	if err != nil {
		t.Fatal(err)
	}
	c.Signature = append([]byte(nil), c.Signature...)
	c.Signature[5] ^= 1
	bad, err := c.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	v := newVerifier(t, VerifierConfig{RootKey: root.PublicKeyDER(), Clock: func() time.Time { return testNow }})
	const n = 16
	errs := make(chan error, 2*n)
	for range n {
		go func() { _, err := v.Verify(good, canister); errs <- err }()
		go func() {
			if _, err := v.Verify(bad, canister); err == nil {
				errs <- errors.New("a bad signature was accepted")
			} else {
				errs <- nil
			}
		}()
	}
	for range 2 * n {
		if err := <-errs; err != nil {
			t.Error(err)
		}
	}
	if len(v.flight) != 0 {
		t.Errorf("%d checks still in flight", len(v.flight))
	}
}
