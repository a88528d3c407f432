package canister_test

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/binary"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/icws/icws/agent"
	"github.com/icws/icws/bench/canister"
	"github.com/icws/icws/ic/candid"
	"github.com/icws/icws/ic/identity"
	"github.com/icws/icws/ic/principal"
	"github.com/icws/icws/protocol"
	"github.com/icws/icws/replica"
)

func TestPayload(t *testing.T) {
	for _, tc := range []struct {
		kind byte
		n    uint64
		size int
		want string // hex-free: the first bytes
	}{
		{canister.Welcome, 16, canister.HeaderSize, "W\x00\x00\x00\x00\x00\x00\x00\x10"},
		{canister.Broadcast, 1 << 40, 12, "B\x00\x00\x01\x00\x00\x00\x00\x00\x09\x0a\x0b"},
		{canister.Upstream, 7, 3, "U\x00\x00\x00\x00\x00\x00\x00\x07"}, // never shorter than the header
	} {
		p := canister.AppendPayload(nil, tc.kind, tc.n, tc.size)
		if string(p) != tc.want {
			t.Errorf("AppendPayload(%q, %d, %d) = %q, want %q", tc.kind, tc.n, tc.size, p, tc.want)
		}
		kind, n, err := canister.ParsePayload(p)
		if err != nil || kind != tc.kind || n != tc.n {
			t.Errorf("ParsePayload(%q) = %q, %d, %v", p, kind, n, err)
		}
	}
	for _, bad := range []string{"", "B\x00", "X\x00\x00\x00\x00\x00\x00\x00\x01"} {
		if _, _, err := canister.ParsePayload([]byte(bad)); err == nil {
			t.Errorf("ParsePayload(%q) succeeded", bad)
		}
	}
}

func FuzzParsePayload(f *testing.F) {
	f.Add([]byte("W\x00\x00\x00\x00\x00\x00\x00\x10"))
	f.Add([]byte("B\x00\x00\x01\x00\x00\x00\x00\x00\x09\x0a\x0b"))
	f.Add([]byte("U"))
	f.Fuzz(func(t *testing.T, p []byte) {
		kind, n, err := canister.ParsePayload(p)
		if err != nil {
			return
		}
		if q := canister.AppendPayload(nil, kind, n, len(p)); !bytes.Equal(q[:canister.HeaderSize], p[:canister.HeaderSize]) {
			t.Errorf("header %q re-encodes as %q", p[:canister.HeaderSize], q[:canister.HeaderSize])
		}
	})
}

// fixture is the load canister in an in-process replica, with its owner, a gateway identity and
// one open client.
type fixture struct {
	ctx      context.Context
	rep      *replica.Replica
	id       principal.Principal
	owner    *agent.Agent
	gateway  *agent.Agent
	stranger *agent.Agent
	key      ed25519.PrivateKey
	client   uint64
}

func newFixture(t *testing.T) *fixture {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	ownerID, _ := identity.GenerateEd25519()
	arg, err := candid.Marshal(ownerID.Sender())
	if err != nil {
		t.Fatal(err)
	}
	rep, err := replica.Start(ctx, replica.Config{Canisters: []replica.CanisterSpec{{Name: "bench", New: canister.New, Arg: arg}}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { rep.Close() })
	f := &fixture{ctx: ctx, rep: rep}
	f.id, _ = rep.CanisterID("bench")
	newAgent := func(id identity.Identity) *agent.Agent {
		a, err := agent.New(agent.Config{URL: rep.URL(), Identity: id, RootKey: rep.RootKey()})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(a.CloseIdleConnections)
		return a
	}
	gwID, _ := identity.GenerateEd25519()
	strangerID, _ := identity.GenerateEd25519()
	f.owner, f.gateway, f.stranger = newAgent(ownerID), newAgent(gwID), newAgent(strangerID)

	// A client registers, and the "gateway" opens it as a gateway would.
	_, f.key, _ = ed25519.GenerateKey(rand.Reader)
	if err := f.stranger.Call(ctx, f.id, protocol.MethodRegister, []byte(f.key.Public().(ed25519.PublicKey)), &f.client); err != nil {
		t.Fatal(err)
	}
	s1 := protocol.FirstMessage{CanisterID: f.id.String(), ClientID: f.client}.Marshal()
	var ok bool
	if err := f.gateway.Call(ctx, f.id, protocol.MethodOpen, agent.Args{s1, ed25519.Sign(f.key, s1)}, &ok); err != nil || !ok {
		t.Fatalf("ws_open: %v, %v", ok, err)
	}
	return f
}

// messages returns the payloads queued for the gateway from nonce on.
func (f *fixture) messages(t *testing.T) [][]byte {
	t.Helper()
	var res protocol.CertMessages
	if err := f.gateway.Query(f.ctx, f.id, protocol.MethodGetMessages, uint64(0), &res); err != nil {
		t.Fatal(err)
	}
	var out [][]byte
	for _, m := range res.Messages {
		wm, err := protocol.DecodeWebsocketMessage(m.Val)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, wm.Message)
	}
	return out
}

func TestBroadcast(t *testing.T) {
	f := newFixture(t)
	var first, clients uint64
	if err := f.owner.Call(f.ctx, f.id, canister.MethodBroadcast, agent.Args{uint32(3), uint32(20)}, &first, &clients); err != nil {
		t.Fatal(err)
	}
	if first != 0 || clients != 1 {
		t.Errorf("broadcast = %d, %d; want 0, 1", first, clients)
	}
	if err := f.owner.Call(f.ctx, f.id, canister.MethodBroadcast, agent.Args{uint32(1), uint32(20)}, &first, &clients); err != nil || first != 3 {
		t.Errorf("second broadcast = %d, %v; want 3", first, err)
	}
	got := f.messages(t)
	want := [][]byte{
		canister.AppendPayload(nil, canister.Welcome, f.client, canister.HeaderSize),
		canister.AppendPayload(nil, canister.Broadcast, 0, 20),
		canister.AppendPayload(nil, canister.Broadcast, 1, 20),
		canister.AppendPayload(nil, canister.Broadcast, 2, 20),
		canister.AppendPayload(nil, canister.Broadcast, 3, 20),
	}
	if len(got) != len(want) {
		t.Fatalf("%d messages, want %d", len(got), len(want))
	}
	for i := range want {
		if !bytes.Equal(got[i], want[i]) {
			t.Errorf("message %d = %q, want %q", i, got[i], want[i])
		}
	}
}

func TestBroadcastRefusals(t *testing.T) {
	f := newFixture(t)
	for _, tc := range []struct {
		name  string
		a     *agent.Agent
		count uint32
		size  uint32
		want  string
	}{
		{"stranger", f.stranger, 1, 20, "is not the bench's owner"},
		{"gateway", f.gateway, 1, 20, "is not the bench's owner"},
		{"small", f.owner, 1, canister.HeaderSize - 1, "size 8"},
		{"large", f.owner, 1, canister.MaxSize + 1, "size 65537"},
		{"too many", f.owner, canister.MaxCount + 1, 20, "more than"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.a.Call(f.ctx, f.id, canister.MethodBroadcast, agent.Args{tc.count, tc.size})
			var re *agent.RejectError
			if !errors.As(err, &re) || !strings.Contains(re.Message, tc.want) {
				t.Errorf("broadcast(%d, %d) = %v, want a reject with %q", tc.count, tc.size, err, tc.want)
			}
		})
	}
	// Nothing went out but the welcome.
	if got := f.messages(t); len(got) != 1 {
		t.Errorf("%d messages queued, want only the welcome", len(got))
	}
}

func TestUpstreamSamples(t *testing.T) {
	f := newFixture(t)
	send := func(seq uint64, payload []byte) (bool, error) {
		frame := protocol.SignClientMessage(f.key, &protocol.WebsocketMessage{ClientID: f.client, SequenceNum: seq, Message: payload})
		var ok bool
		err := f.gateway.Call(f.ctx, f.id, protocol.MethodMessage, frame, &ok)
		return ok, err
	}
	sent := time.Now().Add(-50 * time.Millisecond)
	if ok, err := send(0, canister.AppendPayload(nil, canister.Upstream, uint64(sent.UnixNano()), 32)); !ok || err != nil {
		t.Fatalf("ws_message: %v, %v", ok, err)
	}
	// A payload of another kind traps and records nothing.
	if _, err := send(1, canister.AppendPayload(nil, canister.Broadcast, 1, 32)); err == nil {
		t.Error("a broadcast payload from a client was accepted")
	}
	var samples []uint32
	var total uint64
	if err := f.stranger.Query(f.ctx, f.id, canister.MethodSamples, uint64(0), &samples, &total); err != nil {
		t.Fatal(err)
	}
	if total != 1 || len(samples) != 1 {
		t.Fatalf("samples = %v, total %d; want one", samples, total)
	}
	if us := time.Duration(samples[0]) * time.Microsecond; us < 50*time.Millisecond || us > 30*time.Second {
		t.Errorf("latency %v, want at least the 50ms the message was back-dated", us)
	}
	if err := f.stranger.Query(f.ctx, f.id, canister.MethodSamples, uint64(5), &samples, &total); err != nil || len(samples) != 0 || total != 1 {
		t.Errorf("samples from 5 = %v, %d, %v; want none of 1", samples, total, err)
	}
}

func TestPayloadLayout(t *testing.T) {
	p := canister.AppendPayload(nil, canister.Upstream, 0x0102030405060708, 16)
	if len(p) != 16 || binary.BigEndian.Uint64(p[1:9]) != 0x0102030405060708 {
		t.Errorf("payload %x", p)
	}
}
