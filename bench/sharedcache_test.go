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

// realChannelFrames returns S8 frames as a gateway would send them to a subscriber of the bench
// canister's channel in an in-process replica: one frame of three published messages.
func realChannelFrames(t testing.TB) (frame []byte, checks *sharedChecks) {
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
	var client uint64
	if err := ga.Call(ctx, id, protocol.MethodRegister, []byte(key.Public().(ed25519.PublicKey)), &client); err != nil {
		t.Fatal(err)
	}
	s1 := protocol.FirstMessage{CanisterID: id.String(), ClientID: client}.Marshal()
	var ok bool
	if err := ga.Call(ctx, id, protocol.MethodOpen, agent.Args{s1, ed25519.Sign(key, s1)}, &ok); err != nil || !ok {
		t.Fatalf("ws_open: %v, %v", ok, err)
	}
	ctl := protocol.ChannelControl{Subscribe: canister.Channel}
	sub := protocol.SignClientMessage(key, &protocol.WebsocketMessage{ClientID: client, Timestamp: uint64(time.Now().UnixNano()), Service: true, Message: ctl.Marshal()})
	if err := ga.Call(ctx, id, protocol.MethodMessage, sub, &ok); err != nil || !ok {
		t.Fatalf("subscribe: %v, %v", ok, err)
	}
	var first, subscribers uint64
	if err := oa.Call(ctx, id, canister.MethodPublish, agent.Args{uint32(3), uint32(32)}, &first, &subscribers); err != nil {
		t.Fatal(err)
	}
	var res protocol.ChannelMessages
	if err := ga.Query(ctx, id, protocol.MethodGetChannelMessages, []protocol.ChannelFrom{{Channel: canister.Channel, From: first}}, &res); err != nil {
		t.Fatal(err)
	}
	if len(res.Channels) != 1 || len(res.Channels[0].Vals) != 3 {
		t.Fatalf("channel answer %+v, want one batch of 3", res.Channels)
	}
	b := res.Channels[0]
	frame = (&protocol.ChannelFrame{Channel: b.Channel, First: b.First, Vals: b.Vals, Cert: res.Cert, Tree: b.Tree}).Marshal()
	if checks, err = newSharedChecks(rep.RootKey(), id); err != nil {
		t.Fatal(err)
	}
	return frame, checks
}

// TestSharedChecksChannel: the lean client's checks of an S8 frame accept the genuine frame,
// once per frame from the shared cache, and refuse every kind of forgery.
func TestSharedChecksChannel(t *testing.T) {
	frame, checks := realChannelFrames(t)
	for range 2 {
		ms, err := checks.checkChannel(frame, canister.Channel, nil)
		if err != nil {
			t.Fatal(err)
		}
		if len(ms) != 3 || ms[1].seq != ms[0].seq+1 || ms[2].seq != ms[0].seq+2 {
			t.Fatalf("messages %+v, want 3 in seq order", ms)
		}
		for i, m := range ms {
			if kind, n, err := canister.ParsePayload(m.payload); err != nil || kind != canister.Broadcast || n != uint64(i) {
				t.Errorf("message %d: payload %q %d (%v), want broadcast %d", i, kind, n, err, i)
			}
		}
	}
	if len(checks.certs) != 1 || len(checks.trees) != 1 {
		t.Errorf("%d certificates and %d trees checked for one frame read twice, want 1 each", len(checks.certs), len(checks.trees))
	}
	tamper := func(edit func(f *protocol.ChannelFrame)) []byte {
		f, err := protocol.DecodeChannelFrame(frame)
		if err != nil {
			t.Fatal(err)
		}
		f.Cert, f.Tree = clone(f.Cert), clone(f.Tree)
		vals := make([][]byte, len(f.Vals))
		for i, v := range f.Vals {
			vals[i] = clone(v)
		}
		f.Vals = vals
		edit(&f)
		return f.Marshal()
	}
	for _, tc := range []struct {
		name    string
		frame   []byte
		channel string
		want    error
	}{
		{"garbage", []byte("\xa1\x63key\x01"), canister.Channel, errMalformed},
		{"val", tamper(func(f *protocol.ChannelFrame) { f.Vals[1][len(f.Vals[1])-1] ^= 1 }), canister.Channel, errTampered},
		{"reordered", tamper(func(f *protocol.ChannelFrame) { f.Vals[0], f.Vals[1] = f.Vals[1], f.Vals[0] }), canister.Channel, errTampered},
		{"renumbered", tamper(func(f *protocol.ChannelFrame) { f.First++ }), canister.Channel, errTampered},
		{"tree", tamper(func(f *protocol.ChannelFrame) { f.Tree[len(f.Tree)-1] ^= 1 }), canister.Channel, errTampered},
		{"signature", tamper(func(f *protocol.ChannelFrame) { f.Cert[len(f.Cert)-1] ^= 1 }), canister.Channel, errCertificate},
		{"another channel", frame, "other", errForeign},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := checks.checkChannel(tc.frame, tc.channel, nil); !errors.Is(err, tc.want) {
				t.Errorf("checkChannel = %v, want %v", err, tc.want)
			}
		})
	}
}

func FuzzSharedChecksChannel(f *testing.F) {
	frame, checks := realChannelFrames(f)
	f.Add(frame)
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, b []byte) {
		// Never panics; a frame passes only with the genuine messages.
		ms, err := checks.checkChannel(b, canister.Channel, nil)
		for i, m := range ms {
			if kind, n, perr := canister.ParsePayload(m.payload); err != nil || perr != nil || kind != canister.Broadcast || n != uint64(i) {
				t.Errorf("a frame passed with payload %d %q %d (%v, %v)", i, kind, n, err, perr)
			}
		}
	})
}
