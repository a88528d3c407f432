package bench

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"errors"
	"testing"
	"testing/synctest"
	"time"

	"golang.org/x/time/rate"

	"github.com/icws/icws/agent"
	"github.com/icws/icws/bench/canister"
	icwsclient "github.com/icws/icws/client"
	"github.com/icws/icws/ic/candid"
	"github.com/icws/icws/ic/identity"
	"github.com/icws/icws/ic/principal"
	"github.com/icws/icws/protocol"
	"github.com/icws/icws/replica"
)

// openClient starts an in-process replica with the bench canister, registers a client and opens
// it through a gateway identity; it returns what the caller needs to make that client's frames.
// The replica closes when the test ends.
type openClient struct {
	rep    *replica.Replica
	id     principal.Principal // the canister
	gw, ow *agent.Agent        // the gateway's and the canister owner's agents
	key    ed25519.PrivateKey  // the client's
	client uint64
}

func startOpenClient(ctx context.Context, t testing.TB) *openClient {
	t.Helper()
	owner, _ := identity.GenerateEd25519()
	arg, err := candid.Marshal(owner.Sender())
	if err != nil {
		t.Fatal(err)
	}
	rep, err := replica.Start(ctx, replica.Config{Canisters: []replica.CanisterSpec{{Name: "bench", New: canister.New, Arg: arg}}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { rep.Close() })
	o := &openClient{rep: rep}
	o.id, _ = rep.CanisterID("bench")
	gw, _ := identity.GenerateEd25519()
	agentOf := func(i identity.Identity) *agent.Agent {
		a, err := agent.New(agent.Config{URL: rep.URL(), Identity: i, RootKey: rep.RootKey()})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(a.CloseIdleConnections)
		return a
	}
	o.gw, o.ow = agentOf(gw), agentOf(owner)
	_, o.key, _ = ed25519.GenerateKey(rand.Reader)
	if err := o.gw.Call(ctx, o.id, protocol.MethodRegister, []byte(o.key.Public().(ed25519.PublicKey)), &o.client); err != nil {
		t.Fatal(err)
	}
	s1 := protocol.FirstMessage{CanisterID: o.id.String(), ClientID: o.client}.Marshal()
	var ok bool
	if err := o.gw.Call(ctx, o.id, protocol.MethodOpen, agent.Args{s1, ed25519.Sign(o.key, s1)}, &ok); err != nil || !ok {
		t.Fatalf("ws_open: %v, %v", ok, err)
	}
	return o
}

// realFrames returns S6 frames as a gateway would send them for one client of a load canister in
// an in-process replica: the welcome and three broadcasts, in one batch, and the root key.
func realFrames(t testing.TB) (frames [][]byte, client uint64, newVerifier func(id, next uint64) *icwsclient.Verifier) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	o := startOpenClient(ctx, t)
	rep, id, ga, oa, client := o.rep, o.id, o.gw, o.ow, o.client
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
	return frames, client, verifiers(t, rep.RootKey(), id)
}

// verifiers returns a constructor of Verifiers of the canister that share one cache, as the lean
// clients of a run do.
func verifiers(t testing.TB, rootKey []byte, canister principal.Principal) func(id, next uint64) *icwsclient.Verifier {
	cache := icwsclient.NewSharedCache(canister, 0)
	return func(id, next uint64) *icwsclient.Verifier {
		v, err := icwsclient.NewVerifier(icwsclient.VerifierConfig{RootKey: rootKey, Canister: canister, ClientID: id, Next: next, Cache: cache})
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
}

// kindOf returns the kind of a check's error, or 0 if it is not a *client.VerifyError.
func kindOf(err error) icwsclient.Kind {
	var ve *icwsclient.VerifyError
	if errors.As(err, &ve) {
		return ve.Kind
	}
	return 0
}

// TestSharedChecks: the lean clients' checks (client.Verifier with a shared cache) accept the
// genuine frames, verifying the batch's certificate and witness once for several clients, and
// refuse every kind of forgery with its kind.
func TestSharedChecks(t *testing.T) {
	frames, client, newVerifier := realFrames(t)
	v := newVerifier(client, 0)
	for i, f := range frames {
		m, err := v.Check(f)
		if err != nil {
			t.Fatalf("frame %d: %v", i, err)
		}
		kind, n, err := canister.ParsePayload(m.Message)
		if err != nil || (i == 0 && kind != canister.Welcome) || (i > 0 && (kind != canister.Broadcast || n != uint64(i-1))) {
			t.Errorf("frame %d: payload %q %d (%v)", i, kind, n, err)
		}
	}
	// A second client of the same batch (here: the same client's stream again) hits the cache.
	if _, err := newVerifier(client, 1).Check(frames[1]); err != nil {
		t.Fatal(err)
	}
	if certs, trees := v.Cache().Len(); certs != 1 || trees != 1 {
		t.Errorf("%d certificates and %d trees checked for one batch, want 1 each", certs, trees)
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
		want  icwsclient.Kind
	}{
		{"garbage", []byte("\xa1\x63key\x01"), client, 1, icwsclient.Malformed},
		{"val", tamper(func(cm *protocol.CertMessage) { cm.Val[len(cm.Val)-1] ^= 1 }), client, 1, icwsclient.Tampered},
		{"key of another message", tamper(func(cm *protocol.CertMessage) { cm.Key = other.Key }), client, 1, icwsclient.Tampered},
		{"tree", tamper(func(cm *protocol.CertMessage) { cm.Tree[len(cm.Tree)-1] ^= 1 }), client, 1, icwsclient.Tampered},
		{"signature", tamper(func(cm *protocol.CertMessage) { cm.Cert[len(cm.Cert)-1] ^= 1 }), client, 1, icwsclient.BadCertificate},
		{"foreign", frames[1], client + 1, 1, icwsclient.Foreign},
		{"replay", frames[1], client, 2, icwsclient.Replay},
		{"gap", frames[2], client, 1, icwsclient.Gap},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := newVerifier(tc.id, tc.next).Check(tc.frame); kindOf(err) != tc.want {
				t.Errorf("Check = %v, want kind %v", err, tc.want)
			}
		})
	}
}

func clone(b []byte) []byte { return append([]byte(nil), b...) }

func FuzzSharedChecks(f *testing.F) {
	frames, client, newVerifier := realFrames(f)
	for _, fr := range frames {
		f.Add(fr)
	}
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, frame []byte) {
		// Never panics; a frame passes only if it is one of the genuine ones.
		if m, err := newVerifier(client, 1).Check(frame); err == nil {
			if kind, n, err := canister.ParsePayload(m.Message); err != nil || kind != canister.Broadcast || n != 0 {
				t.Errorf("a frame passed with payload %q %d (%v)", kind, n, err)
			}
		}
	})
}

// realChannelFrames returns S8 frames as a gateway would send them to a subscriber of the bench
// canister's channel in an in-process replica: one frame of three published messages.
func realChannelFrames(t testing.TB) (frame []byte, newVerifier func(id, next uint64) *icwsclient.Verifier) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	o := startOpenClient(ctx, t)
	rep, id, ga, oa, key, client := o.rep, o.id, o.gw, o.ow, o.key, o.client
	var ok bool
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
	return frame, verifiers(t, rep.RootKey(), id)
}

// TestSharedChecksChannel: the lean client's checks of an S8 frame accept the genuine frame,
// once per frame from the shared cache, and refuse every kind of forgery.
func TestSharedChecksChannel(t *testing.T) {
	frame, newVerifier := realChannelFrames(t)
	for c := range uint64(2) { // two subscribers: the second reads the verdicts from the cache
		v := newVerifier(c, 0)
		ms, err := v.CheckChannel(frame)
		if err != nil {
			t.Fatal(err)
		}
		if len(ms) != 3 || ms[1].Seq != ms[0].Seq+1 || ms[2].Seq != ms[0].Seq+2 || ms[0].Channel != canister.Channel {
			t.Fatalf("messages %+v, want 3 of channel %q in seq order", ms, canister.Channel)
		}
		for i, m := range ms {
			if kind, n, err := canister.ParsePayload(m.Payload); err != nil || kind != canister.Broadcast || n != uint64(i) {
				t.Errorf("message %d: payload %q %d (%v), want broadcast %d", i, kind, n, err, i)
			}
		}
		if certs, trees := v.Cache().Len(); certs != 1 || trees != 1 {
			t.Errorf("subscriber %d: %d certificates and %d trees checked for one frame, want 1 each", c, certs, trees)
		}
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
		name  string
		frame []byte
		want  icwsclient.Kind
	}{
		{"garbage", []byte("\xa1\x63key\x01"), icwsclient.Malformed},
		{"val", tamper(func(f *protocol.ChannelFrame) { f.Vals[1][len(f.Vals[1])-1] ^= 1 }), icwsclient.Tampered},
		{"reordered", tamper(func(f *protocol.ChannelFrame) { f.Vals[0], f.Vals[1] = f.Vals[1], f.Vals[0] }), icwsclient.Tampered},
		{"renumbered", tamper(func(f *protocol.ChannelFrame) { f.First++ }), icwsclient.Tampered},
		{"renamed", tamper(func(f *protocol.ChannelFrame) { f.Channel = "other" }), icwsclient.Tampered},
		{"tree", tamper(func(f *protocol.ChannelFrame) { f.Tree[len(f.Tree)-1] ^= 1 }), icwsclient.Tampered},
		{"signature", tamper(func(f *protocol.ChannelFrame) { f.Cert[len(f.Cert)-1] ^= 1 }), icwsclient.BadCertificate},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := newVerifier(9, 0).CheckChannel(tc.frame); kindOf(err) != tc.want {
				t.Errorf("CheckChannel = %v, want kind %v", err, tc.want)
			}
		})
	}
}

func FuzzSharedChecksChannel(f *testing.F) {
	frame, newVerifier := realChannelFrames(f)
	f.Add(frame)
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, b []byte) {
		// Never panics; a frame passes only with the genuine messages.
		ms, err := newVerifier(1, 0).CheckChannel(b)
		for i, m := range ms {
			if kind, n, perr := canister.ParsePayload(m.Payload); err != nil || perr != nil || kind != canister.Broadcast || n != uint64(i) {
				t.Errorf("a frame passed with payload %d %q %d (%v, %v)", i, kind, n, err, perr)
			}
		}
	})
}

// TestLeanPace: a sending lean client writes at most protocol.MaxPendingFrames messages beyond
// the canister's acknowledgement, and the next as soon as an acknowledgement makes room.
func TestLeanPace(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		p := &leanPace{lim: rate.NewLimiter(rate.Inf, 1), room: make(chan struct{})}
		ctx := context.Background()
		for seq := uint64(0); seq < protocol.MaxPendingFrames; seq++ {
			if err := p.wait(ctx, seq); err != nil {
				t.Fatal(err)
			}
		}
		done := make(chan error, 1)
		go func() { done <- p.wait(ctx, protocol.MaxPendingFrames) }()
		synctest.Wait()
		select {
		case err := <-done:
			t.Fatalf("message %d written with nothing acknowledged: %v", protocol.MaxPendingFrames, err)
		default:
		}
		p.ack(1)
		synctest.Wait()
		select {
		case err := <-done:
			if err != nil {
				t.Fatal(err)
			}
		default:
			t.Fatal("the acknowledgement did not make room")
		}
		cctx, cancel := context.WithCancel(ctx)
		go func() { done <- p.wait(cctx, protocol.MaxPendingFrames+1) }()
		synctest.Wait()
		cancel()
		if err := <-done; !errors.Is(err, context.Canceled) {
			t.Fatalf("wait after its context ended: %v", err)
		}
	})
}
