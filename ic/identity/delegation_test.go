package identity_test

import (
	"bytes"
	"encoding/hex"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/icws/icws/ic/cbor"
	"github.com/icws/icws/ic/identity"
	"github.com/icws/icws/ic/principal"
	"github.com/icws/icws/ic/requestid"
)

// TestDelegationHash checks the agent-js request_id.test.ts delegation vector.
func TestDelegationHash(t *testing.T) {
	d := identity.Delegation{
		PubKey:     unhex(t, "302a300506032b6570032100819d9fe3ac251039f934cdc925da0b019848af9d650d4136fb5d955cff17f78e"),
		Expiration: 1611365875951000000,
		Targets: []principal.Principal{
			mustFromBytes(t, unhex(t, "000000000030004d0101")),
			mustFromBytes(t, unhex(t, "000000000020002b0101")),
		},
	}
	const want = "f0c66015041eccb5528fc7fd817bb4d0707369d7e1383d3cdaa074b2b2236824"
	h := d.Hash()
	if got := hex.EncodeToString(h[:]); got != want {
		t.Fatalf("Hash = %s, want %s", got, want)
	}
	sig := d.Signable()
	if !bytes.HasPrefix(sig, unhex(t, "1a69632d726571756573742d617574682d64656c65676174696f6e")) || !bytes.HasSuffix(sig, h[:]) {
		t.Fatalf("Signable = %x", sig)
	}
	// Hash agrees with the generic hash of the decoded CBOR map, with and
	// without targets, and with empty targets.
	for _, targets := range [][]principal.Principal{d.Targets, nil, {}} {
		d.Targets = targets
		enc, err := cbor.MarshalUntagged(d)
		if err != nil {
			t.Fatal(err)
		}
		var generic map[string]any
		if err := cbor.Unmarshal(enc, &generic); err != nil {
			t.Fatal(err)
		}
		if _, present := generic["targets"]; present != (targets != nil) {
			t.Fatalf("targets %v: present in CBOR = %v", targets, present)
		}
		want, err := requestid.HashOfMap(generic)
		if err != nil {
			t.Fatal(err)
		}
		if got := d.Hash(); got != [32]byte(want) {
			t.Fatalf("targets %v: Hash %x, generic %s", targets, got, want)
		}
	}
}

func mustFromBytes(t testing.TB, b []byte) principal.Principal {
	t.Helper()
	p, err := principal.FromBytes(b)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func TestSignedDelegationCBOR(t *testing.T) {
	sd := identity.SignedDelegation{
		Delegation: identity.Delegation{PubKey: []byte{1, 2}, Expiration: 5, Targets: []principal.Principal{principal.CanisterID(1)}},
		Signature:  []byte{9},
	}
	enc, err := cbor.MarshalUntagged(sd)
	if err != nil {
		t.Fatal(err)
	}
	// {"delegation": {"pubkey": h'0102', "expiration": 5, "targets": [h'00000000000000010101']}, "signature": h'09'}
	const golden = "a2" + "6a64656c65676174696f6e" + "a3" + "667075626b6579" + "420102" + "6a65787069726174696f6e" + "05" +
		"677461726765747381" + "4a00000000000000010101" + "697369676e6174757265" + "4109"
	if got := hex.EncodeToString(enc); got != golden {
		t.Fatalf("encoding\n got %s\nwant %s", got, golden)
	}
	var back identity.SignedDelegation
	if err := cbor.Unmarshal(enc, &back); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(back.Signature, sd.Signature) || back.Delegation.Expiration != 5 ||
		len(back.Delegation.Targets) != 1 || back.Delegation.Targets[0] != principal.CanisterID(1) {
		t.Fatalf("round trip = %+v", back)
	}
}

func TestDelegationFromValueErrors(t *testing.T) {
	good := func() map[string]any {
		return map[string]any{"pubkey": []byte{1}, "expiration": uint64(1)}
	}
	tests := map[string]struct {
		v    any
		want string
	}{
		"not a map":       {[]any{}, "want a map"},
		"unknown field":   {func() any { m := good(); m["senders"] = []any{}; return m }(), `unknown field "senders"`},
		"no pubkey":       {map[string]any{"expiration": uint64(1)}, `no field "pubkey"`},
		"no expiration":   {map[string]any{"pubkey": []byte{1}}, `no field "expiration"`},
		"pubkey text":     {map[string]any{"pubkey": "x", "expiration": uint64(1)}, "pubkey is text"},
		"expiration neg":  {map[string]any{"pubkey": []byte{1}, "expiration": int64(-1)}, "expiration is a negative int"},
		"targets map":     {func() any { m := good(); m["targets"] = map[string]any{}; return m }(), "targets is a map"},
		"target text":     {func() any { m := good(); m["targets"] = []any{"aaaaa-aa"}; return m }(), "target 0 is text"},
		"target too long": {func() any { m := good(); m["targets"] = []any{make([]byte, 30)}; return m }(), "target 0"},
		"too many targets": {func() any {
			m := good()
			ts := make([]any, identity.MaxTargets+1)
			for i := range ts {
				ts[i] = []byte{1}
			}
			m["targets"] = ts
			return m
		}(), "1001 targets"},
	}
	for name, tc := range tests {
		_, err := identity.DelegationFromValue(tc.v)
		if !errors.Is(err, identity.ErrInvalidDelegation) || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: err = %v, want ErrInvalidDelegation mentioning %q", name, err, tc.want)
		}
	}
	if _, err := identity.SignedDelegationFromValue(map[string]any{"delegation": good()}); err == nil {
		t.Error("signed delegation without signature accepted")
	}
	if _, err := identity.SignedDelegationFromValue(map[string]any{"delegation": good(), "signature": []byte{}, "x": uint64(1)}); err == nil {
		t.Error("signed delegation with an unknown field accepted")
	}
	if _, err := identity.SignedDelegationFromValue(map[string]any{"delegation": good(), "signature": "s"}); err == nil {
		t.Error("text signature accepted")
	}
}

// chainFixture builds sender → k1 → k2 → ... with the given number of links.
type chainFixture struct {
	sender *identity.Ed25519
	keys   []identity.Identity
	chain  []identity.SignedDelegation
}

var (
	now     = time.Unix(1_700_000_000, 0)
	later   = uint64(now.Add(time.Hour).UnixNano())
	canA    = principal.CanisterID(1)
	canB    = principal.CanisterID(2)
	seedFor = func(i int) []byte { return bytes.Repeat([]byte{byte(i + 1)}, 32) }
)

func newChain(t *testing.T, links int, mutate func(i int, d *identity.Delegation)) chainFixture {
	t.Helper()
	sender, err := identity.Ed25519FromSeed(seedFor(100))
	if err != nil {
		t.Fatal(err)
	}
	f := chainFixture{sender: sender}
	var signer identity.Identity = sender
	for i := range links {
		next, err := identity.Ed25519FromSeed(seedFor(i))
		if err != nil {
			t.Fatal(err)
		}
		d := identity.Delegation{PubKey: next.PublicKey(), Expiration: later}
		if mutate != nil {
			mutate(i, &d)
		}
		sd, err := identity.SignDelegation(signer, d)
		if err != nil {
			t.Fatal(err)
		}
		f.chain = append(f.chain, sd)
		f.keys = append(f.keys, next)
		signer = next
	}
	return f
}

func TestVerifyDelegationsAccept(t *testing.T) {
	tests := map[string]struct {
		links  int
		mutate func(i int, d *identity.Delegation)
	}{
		"empty chain":            {0, nil},
		"one link":               {1, nil},
		"two links":              {2, nil},
		"twenty links (maximum)": {identity.MaxDelegations, nil},
		"targets contain canister": {2, func(i int, d *identity.Delegation) {
			d.Targets = []principal.Principal{canB, canA}
		}},
		"expires exactly now": {1, func(i int, d *identity.Delegation) { d.Expiration = uint64(now.UnixNano()) }},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			f := newChain(t, tc.links, tc.mutate)
			key, err := identity.VerifyDelegations(f.sender.PublicKey(), f.chain, now, canA)
			if err != nil {
				t.Fatalf("VerifyDelegations: %v", err)
			}
			want := f.sender.PublicKey()
			if tc.links > 0 {
				want = f.keys[len(f.keys)-1].PublicKey()
			}
			if !bytes.Equal(key, want) {
				t.Fatalf("signing key %x, want %x", key, want)
			}
		})
	}
}

func TestVerifyDelegationsReject(t *testing.T) {
	tests := map[string]struct {
		build   func(t *testing.T) chainFixture
		wantErr error
		wantMsg string
	}{
		"expired": {
			build: func(t *testing.T) chainFixture {
				return newChain(t, 2, func(i int, d *identity.Delegation) {
					if i == 1 {
						d.Expiration = uint64(now.UnixNano()) - 1
					}
				})
			},
			wantErr: identity.ErrDelegationExpired, wantMsg: "delegation 1 has expired",
		},
		"wrong signature": {
			build: func(t *testing.T) chainFixture {
				f := newChain(t, 2, nil)
				f.chain[1].Signature = bytes.Clone(f.chain[1].Signature)
				f.chain[1].Signature[0] ^= 1
				return f
			},
			wantErr: identity.ErrInvalidSignature, wantMsg: "delegation 1",
		},
		"signed by the wrong key": {
			build: func(t *testing.T) chainFixture {
				f := newChain(t, 1, nil)
				other, _ := identity.Ed25519FromSeed(seedFor(50))
				sd, _ := identity.SignDelegation(other, f.chain[0].Delegation)
				f.chain[0] = sd
				return f
			},
			wantErr: identity.ErrInvalidSignature, wantMsg: "delegation 0",
		},
		"tampered after signing": {
			build: func(t *testing.T) chainFixture {
				f := newChain(t, 1, nil)
				f.chain[0].Delegation.Expiration++
				return f
			},
			wantErr: identity.ErrInvalidSignature,
		},
		"target mismatch": {
			build: func(t *testing.T) chainFixture {
				return newChain(t, 2, func(i int, d *identity.Delegation) {
					if i == 1 {
						d.Targets = []principal.Principal{canB}
					}
				})
			},
			wantErr: identity.ErrDelegationTarget, wantMsg: "delegation 1",
		},
		"empty targets allow nothing": {
			build: func(t *testing.T) chainFixture {
				return newChain(t, 1, func(i int, d *identity.Delegation) { d.Targets = []principal.Principal{} })
			},
			wantErr: identity.ErrDelegationTarget,
		},
		"too long": {
			build:   func(t *testing.T) chainFixture { return newChain(t, identity.MaxDelegations+1, nil) },
			wantErr: identity.ErrDelegationChainTooLong, wantMsg: "got 21 delegations",
		},
		"cycle back to sender": {
			build: func(t *testing.T) chainFixture {
				f := newChain(t, 1, nil)
				d := identity.Delegation{PubKey: f.sender.PublicKey(), Expiration: later}
				sd, _ := identity.SignDelegation(f.keys[0], d)
				f.chain = append(f.chain, sd)
				return f
			},
			wantErr: identity.ErrDelegationCycle, wantMsg: "sender key",
		},
		"repeated key": {
			build: func(t *testing.T) chainFixture {
				f := newChain(t, 2, nil)
				d := identity.Delegation{PubKey: f.keys[0].PublicKey(), Expiration: later}
				sd, _ := identity.SignDelegation(f.keys[1], d)
				f.chain = append(f.chain, sd)
				return f
			},
			wantErr: identity.ErrDelegationCycle, wantMsg: "delegations 0 and 2",
		},
		"self delegation": {
			build: func(t *testing.T) chainFixture {
				f := newChain(t, 1, nil)
				d := identity.Delegation{PubKey: f.keys[0].PublicKey(), Expiration: later}
				sd, _ := identity.SignDelegation(f.keys[0], d)
				f.chain = append(f.chain, sd)
				return f
			},
			wantErr: identity.ErrDelegationCycle,
		},
		"too many targets": {
			build: func(t *testing.T) chainFixture {
				f := newChain(t, 1, nil)
				f.chain[0].Delegation.Targets = make([]principal.Principal, identity.MaxTargets+1)
				return f
			},
			wantErr: identity.ErrInvalidDelegation,
		},
		"unsupported key in chain": {
			build: func(t *testing.T) chainFixture {
				f := newChain(t, 1, nil)
				// Delegate from the Ed25519 key to a BLS12-381 key, then from it.
				k1 := unhex(t, "308182301d060d2b0601040182dc7c0503010201060c2b0601040182dc7c05030201036100"+strings.Repeat("11", 96))
				sd, _ := identity.SignDelegation(f.keys[0], identity.Delegation{PubKey: k1, Expiration: later})
				f.chain = append(f.chain, sd, identity.SignedDelegation{
					Delegation: identity.Delegation{PubKey: seedFor(7), Expiration: later},
					Signature:  make([]byte, 64),
				})
				return f
			},
			wantErr: identity.ErrUnsupportedKey, wantMsg: "BLS12-381",
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			f := tc.build(t)
			_, err := identity.VerifyDelegations(f.sender.PublicKey(), f.chain, now, canA)
			if !errors.Is(err, tc.wantErr) {
				t.Fatalf("err = %v, want %v", err, tc.wantErr)
			}
			if !strings.Contains(err.Error(), tc.wantMsg) {
				t.Fatalf("err = %q, want it to mention %q", err, tc.wantMsg)
			}
		})
	}
}

func TestDelegationExpiredError(t *testing.T) {
	f := newChain(t, 1, func(i int, d *identity.Delegation) { d.Expiration = 1 })
	_, err := identity.VerifyDelegations(f.sender.PublicKey(), f.chain, now, canA)
	var de *identity.DelegationExpiredError
	if !errors.As(err, &de) || de.Index != 0 || de.Expiration != 1 || !de.Now.Equal(now) {
		t.Fatalf("err = %#v", err)
	}
}

func TestDelegatedIdentity(t *testing.T) {
	f := newChain(t, 2, nil)
	inner := f.keys[1]
	d, err := identity.NewDelegated(inner, f.sender.PublicKey(), f.chain)
	if err != nil {
		t.Fatal(err)
	}
	if d.Sender() != f.sender.Sender() || !bytes.Equal(d.PublicKey(), f.sender.PublicKey()) || len(d.Delegations()) != 2 {
		t.Fatal("delegated identity does not present the sender")
	}
	msg := []byte("\x0Aic-request some id")
	sig, err := d.Sign(msg)
	if err != nil {
		t.Fatal(err)
	}
	key, err := identity.VerifyDelegations(d.PublicKey(), d.Delegations(), now, canA)
	if err != nil {
		t.Fatal(err)
	}
	if err := identity.VerifySignature(key, msg, sig); err != nil {
		t.Fatalf("request signature: %v", err)
	}
	if err := identity.VerifySignature(d.PublicKey(), msg, sig); err == nil {
		t.Fatal("signature of the inner key verified under the sender key")
	}

	if _, err := identity.NewDelegated(f.keys[0], f.sender.PublicKey(), f.chain); err == nil {
		t.Error("accepted an inner key that is not the chain's last key")
	}
	if _, err := identity.NewDelegated(inner, f.sender.PublicKey(), nil); err == nil {
		t.Error("accepted an empty chain")
	}
	if _, err := identity.NewDelegated(identity.Anonymous(), f.sender.PublicKey(), f.chain); err == nil {
		t.Error("accepted an anonymous inner identity")
	}
}

func TestChainTargets(t *testing.T) {
	f := newChain(t, 3, func(i int, d *identity.Delegation) {
		switch i {
		case 0:
			d.Targets = []principal.Principal{canA, canB}
		case 2:
			d.Targets = []principal.Principal{canB}
		}
	})
	if _, err := identity.VerifyDelegationChain(f.sender.PublicKey(), f.chain, now); err != nil {
		t.Fatal(err)
	}
	ts := identity.ChainTargets(f.chain)
	if ts.All() || ts.Contains(canA) || !ts.Contains(canB) || ts.Contains(principal.CanisterID(3)) {
		t.Fatalf("targets: all=%v A=%v B=%v", ts.All(), ts.Contains(canA), ts.Contains(canB))
	}
	if !identity.ChainTargets(nil).All() || !identity.ChainTargets(nil).Contains(canA) {
		t.Fatal("an empty chain must allow everything")
	}
}
