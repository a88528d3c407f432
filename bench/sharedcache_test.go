package bench

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"errors"
	"testing"
	"time"

	"github.com/icws/icws/agent"
	"github.com/icws/icws/bench/canister"
	"github.com/icws/icws/ic/candid"
	"github.com/icws/icws/ic/identity"
	"github.com/icws/icws/protocol"
	"github.com/icws/icws/replica"
)

// realFrames returns S6 frames as a gateway would send them for one client of a load canister in
// an in-process replica: the welcome and three broadcasts, in one batch, and the root key.
func realFrames(t testing.TB) (frames [][]byte, client uint64, checks *sharedChecks) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	owner, _ := identity.GenerateEd25519()
	arg, err := candid.Marshal(owner.Sender())
	if err != nil {
		t.Fatal(err)
	}
	rep, err := replica.Start(ctx, replica.Config{Canisters: []replica.CanisterSpec{{Name: "bench", New: canister.New, Arg: arg}}})
	if err != nil {
		t.Fatal(err)
	}
	defer rep.Close()
	id, _ := rep.CanisterID("bench")
	gw, _ := identity.GenerateEd25519()
	agentOf := func(i identity.Identity) *agent.Agent {
		a, err := agent.New(agent.Config{URL: rep.URL(), Identity: i, RootKey: rep.RootKey()})
		if err != nil {
			t.Fatal(err)
		}
		return a
	}
	ga, oa := agentOf(gw), agentOf(owner)
	defer ga.CloseIdleConnections()
	defer oa.CloseIdleConnections()
	_, key, _ := ed25519.GenerateKey(rand.Reader)
	if err := ga.Call(ctx, id, protocol.MethodRegister, []byte(key.Public().(ed25519.PublicKey)), &client); err != nil {
		t.Fatal(err)
	}
	s1 := protocol.FirstMessage{CanisterID: id.String(), ClientID: client}.Marshal()
	var ok bool
	if err := ga.Call(ctx, id, protocol.MethodOpen, agent.Args{s1, ed25519.Sign(key, s1)}, &ok); err != nil || !ok {
		t.Fatalf("ws_open: %v, %v", ok, err)
	}
	if err := oa.Call(ctx, id, canister.MethodBroadcast, agent.Args{uint32(3), uint32(32)}); err != nil {
		t.Fatal(err)
	}
	var res protocol.CertMessages
	if err := ga.Query(ctx, id, protocol.MethodGetMessages, uint64(0), &res); err != nil {
		t.Fatal(err)
	}
	if len(res.Messages) != 4 {
		t.Fatalf("%d messages, want the welcome and 3 broadcasts", len(res.Messages))
	}
	for _, m := range res.Messages {
		cm := protocol.CertMessage{Key: m.Key, Val: m.Val, Cert: res.Cert, Tree: res.Tree}
		frames = append(frames, cm.Marshal())
	}
	if checks, err = newSharedChecks(rep.RootKey(), id); err != nil {
		t.Fatal(err)
	}
	return frames, client, checks
}

func TestSharedChecks(t *testing.T) {
	frames, client, checks := realFrames(t)
	for i, f := range frames {
		m, err := checks.check(f, client, uint64(i))
		if err != nil {
			t.Fatalf("frame %d: %v", i, err)
		}
		kind, n, err := canister.ParsePayload(m.Message)
		if err != nil || (i == 0 && kind != canister.Welcome) || (i > 0 && (kind != canister.Broadcast || n != uint64(i-1))) {
			t.Errorf("frame %d: payload %q %d (%v)", i, kind, n, err)
		}
	}
	if len(checks.certs) != 1 || len(checks.trees) != 1 {
		t.Errorf("%d certificates and %d trees checked for one batch, want 1 each", len(checks.certs), len(checks.trees))
	}

	tamper := func(f func(cm *protocol.CertMessage)) []byte {
		cm, err := protocol.DecodeCertMessage(frames[1])
		if err != nil {
			t.Fatal(err)
		}
		cm.Val, cm.Cert, cm.Tree = clone(cm.Val), clone(cm.Cert), clone(cm.Tree)
		f(&cm)
		return cm.Marshal()
	}
	other, _ := protocol.DecodeCertMessage(frames[2])
	for _, tc := range []struct {
		name  string
		frame []byte
		id    uint64
		next  uint64
		want  error
	}{
		{"garbage", []byte("\xa1\x63key\x01"), client, 1, errMalformed},
		{"val", tamper(func(cm *protocol.CertMessage) { cm.Val[len(cm.Val)-1] ^= 1 }), client, 1, errTampered},
		{"key of another message", tamper(func(cm *protocol.CertMessage) { cm.Key = other.Key }), client, 1, errTampered},
		{"tree", tamper(func(cm *protocol.CertMessage) { cm.Tree[len(cm.Tree)-1] ^= 1 }), client, 1, errTampered},
		{"signature", tamper(func(cm *protocol.CertMessage) { cm.Cert[len(cm.Cert)-1] ^= 1 }), client, 1, errCertificate},
		{"foreign", frames[1], client + 1, 1, errForeign},
		{"replay", frames[1], client, 2, errSequence},
		{"gap", frames[2], client, 1, errSequence},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := checks.check(tc.frame, tc.id, tc.next); !errors.Is(err, tc.want) {
				t.Errorf("check = %v, want %v", err, tc.want)
			}
		})
	}
}

func clone(b []byte) []byte { return append([]byte(nil), b...) }

func FuzzSharedChecks(f *testing.F) {
	frames, client, checks := realFrames(f)
	for _, fr := range frames {
		f.Add(fr)
	}
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, frame []byte) {
		// Never panics; a frame passes only if it is one of the genuine ones.
		if m, err := checks.check(frame, client, 1); err == nil {
			if kind, n, err := canister.ParsePayload(m.Message); err != nil || kind != canister.Broadcast || n != 0 {
				t.Errorf("a frame passed with payload %q %d (%v)", kind, n, err)
			}
		}
	})
}
