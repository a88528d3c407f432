package websocket

import (
	"bytes"
	"crypto/ed25519"
	"crypto/sha256"
	"crypto/x509"
	"encoding/hex"
	"fmt"
	"slices"
	"sort"
	"strings"
	"testing"

	"github.com/icws/icws/cdk"
	"github.com/icws/icws/ic/hashtree"
	"github.com/icws/icws/ic/principal"
	"github.com/icws/icws/protocol"
)

const (
	seedCanister = "bw4dl-smaaa-aaaaa-qaacq-cai"
	seedGateway  = "h5ag3-gxvkr-a3wjw-wfhg4-ysa3d-z56v7-i26nf-2qscz-k2vmc-6yvhj-bqe"
	// poc-protocol.md §4.4: the first message's val, and §5: certified data after one and two
	// messages, and the digest of the second message.
	goldenVal = "d9d9f7a469636c69656e745f6964106c73657175656e63655f6e756d006974696d657374616d701b17603b0fe70c4d15676d6573736167654ed9d9f7a164746578746470696e67"
	certOne   = "4fe911632bf6555cb033808a2a99a86b4ef5747d8b51fe3616ecf5b36c4a8a30"
	certTwo   = "c229ce827e0ffa838ee00c4cd4bea3bffb15583cb799a73442b3365a65b88e89"
	sha16     = "f513a1185a031a7c1bf87fd99d4959245db7849f5cf375f6c46a521b54c0b896"
	sha17     = "c8dab31969c638b2cf7bc633a3831055e0537ffbc02742e0af86d7f32e6e86c3"
)

func mustHex(t testing.TB, s string) []byte {
	t.Helper()
	b, err := hex.DecodeString(s)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func gatewayPrincipal(t testing.TB, seed byte) principal.Principal {
	var key ed25519.PrivateKey
	if seed == 0 {
		key = ed25519.NewKeyFromSeed(mustHex(t, "4ccd089b28ff96da9db6c346ec114e0f5b8a319f35aba624da8cf6ed4fb8a6fb")) // RFC 8032 test 2
	} else {
		key = ed25519.NewKeyFromSeed(bytes.Repeat([]byte{seed}, 32))
	}
	der, err := x509.MarshalPKIXPublicKey(key.Public())
	if err != nil {
		t.Fatal(err)
	}
	return principal.SelfAuthenticating(der)
}

// fixture is a canister with the library and test hooks, on the in-memory host.
type fixture struct {
	t        *testing.T
	s        *Server
	h        *host
	gwA, gwB principal.Principal
	user     principal.Principal
	received []string // "client:payload" from OnMessage
	opened   []uint64
	closed   []uint64
	trapNext bool // OnMessage sends, then traps
	gwKey    ed25519.PrivateKey
}

func newFixture(t *testing.T, cfg Config) *fixture {
	f := &fixture{t: t, gwA: gatewayPrincipal(t, 0), gwB: gatewayPrincipal(t, 9), user: gatewayPrincipal(t, 7)}
	if cfg.OnOpen == nil {
		cfg.OnOpen = func(ic cdk.System, c uint64) {
			f.opened = append(f.opened, c)
			if err := f.s.Send(ic, c, protocol.AppMessage{Text: "ping"}.Marshal()); err != nil {
				ic.Trap(err.Error())
			}
		}
	}
	cfg.OnMessage = func(ic cdk.System, c uint64, p []byte) {
		f.received = append(f.received, fmt.Sprintf("%d:%x", c, p))
		if err := f.s.Send(ic, c, p); err != nil {
			ic.Trap(err.Error())
		}
		if f.trapNext {
			ic.Trap("application trap")
		}
	}
	cfg.OnClose = func(ic cdk.System, c uint64) { f.closed = append(f.closed, c) }
	f.s = New(cfg)
	code := &cdk.Canister{Updates: map[string]cdk.Method{
		"test_send": func(ic cdk.System) {
			var id uint64
			var p []byte
			args(ic, &id, &p)
			if err := f.s.Send(ic, id, p); err != nil {
				ic.Trap(err.Error())
			}
			ic.Reply([]byte(replyUnit))
		},
		"test_close": func(ic cdk.System) {
			var id uint64
			args(ic, &id)
			if err := f.s.Close(ic, id, "bye"); err != nil {
				ic.Trap(err.Error())
			}
			ic.Reply([]byte(replyUnit))
		},
	}}
	f.s.Register(code)
	f.h = newHost(t, code, principal.MustDecode(seedCanister))
	return f
}

type testClient struct {
	id    uint64
	key   ed25519.PrivateKey
	seq   uint64
	nonce uint64 // the last open_nonce used (random test)
}

func (f *fixture) register(seed byte) *testClient {
	f.t.Helper()
	key := ed25519.NewKeyFromSeed(bytes.Repeat([]byte{seed}, 32))
	if seed == 1 {
		key = ed25519.NewKeyFromSeed(mustHex(f.t, "9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60"))
	}
	c := &testClient{key: key}
	if err := f.h.call(f.user, "ws_register", &c.id, []byte(key.Public().(ed25519.PublicKey))); err != nil {
		f.t.Fatalf("ws_register: %v", err)
	}
	return c
}

func (f *fixture) open(gw principal.Principal, c *testClient) (bool, error) {
	return f.openNonce(gw, c, 0)
}

// openNonce opens c through gw with a first message carrying open_nonce nonce (none if 0).
func (f *fixture) openNonce(gw principal.Principal, c *testClient, nonce uint64) (bool, error) {
	s1 := protocol.FirstMessage{CanisterID: seedCanister, ClientID: c.id, OpenNonce: nonce}.Marshal()
	var ok bool
	err := f.h.call(gw, "ws_open", &ok, s1, ed25519.Sign(c.key, s1))
	return ok, err
}

func (f *fixture) mustOpen(gw principal.Principal, c *testClient) {
	f.t.Helper()
	if ok, err := f.open(gw, c); !ok || err != nil {
		f.t.Fatalf("ws_open = %v, %v", ok, err)
	}
}

func (f *fixture) message(gw principal.Principal, c *testClient, seq uint64, m *protocol.WebsocketMessage) (bool, error) {
	m.ClientID, m.SequenceNum, m.Timestamp = c.id, seq, 1<<53
	var ok bool
	err := f.h.call(gw, "ws_message", &ok, protocol.SignClientMessage(c.key, m))
	return ok, err
}

func (f *fixture) send(gw principal.Principal, c *testClient, text string) (bool, error) {
	ok, err := f.message(gw, c, c.seq, &protocol.WebsocketMessage{Message: protocol.AppMessage{Text: text}.Marshal()})
	if ok {
		c.seq++
	}
	return ok, err
}

// poll fetches the gateway's batch from nonce and checks it as a client would: the witness
// against the certified data, every key's hash, key order and the gateway prefix.
func (f *fixture) poll(gw principal.Principal, nonce uint64) protocol.CertMessages {
	f.t.Helper()
	return f.pollArgs(gw, nonce)
}

// pollArgs is poll with ws_get_messages' arguments after the nonce (a sized poll's budget).
func (f *fixture) pollArgs(gw principal.Principal, nonce uint64, more ...any) protocol.CertMessages {
	f.t.Helper()
	var cm protocol.CertMessages
	if err := f.h.query(gw, "ws_get_messages", &cm, append([]any{nonce}, more...)...); err != nil {
		f.t.Fatalf("ws_get_messages: %v", err)
	}
	if len(cm.Messages) == 0 {
		if len(cm.Cert) != 0 || len(cm.Tree) != 0 {
			f.t.Fatalf("empty batch with cert %x tree %x", cm.Cert, cm.Tree)
		}
		return cm
	}
	if want := append([]byte("cert:"), f.h.certified...); !bytes.Equal(cm.Cert, want) {
		f.t.Fatalf("cert = %x, want %x", cm.Cert, want)
	}
	if !bytes.HasPrefix(cm.Tree, []byte(selfDescribe)) {
		f.t.Fatalf("tree without the self-describe tag: %x", cm.Tree)
	}
	tree, err := hashtree.Unmarshal(cm.Tree)
	if err != nil {
		f.t.Fatalf("tree: %v", err)
	}
	if d := hashtree.Digest(tree); !bytes.Equal(d[:], f.h.certified) {
		f.t.Fatalf("witness digest %x != certified data %x", d, f.h.certified)
	}
	prev := uint64(0)
	for i, m := range cm.Messages {
		g, n, err := protocol.ParseKey(m.Key)
		if err != nil || g != gw.String() || n < nonce {
			f.t.Fatalf("key %q: %v (gateway %s, nonce ≥ %d)", m.Key, err, gw, nonce)
		}
		if i > 0 && n <= prev {
			f.t.Fatalf("keys out of order: %d after %d", n, prev)
		}
		prev = n
		r := hashtree.Lookup(tree, []byte(Label), []byte(m.Key))
		sum := sha256.Sum256(m.Val)
		if r.Status != hashtree.Found || !bytes.Equal(r.Value, sum[:]) {
			f.t.Fatalf("key %q: %v in the witness", m.Key, r.Status)
		}
		w, err := protocol.DecodeWebsocketMessage(m.Val)
		if err != nil || w.ClientID != m.ClientID {
			f.t.Fatalf("val of %q: %+v, %v", m.Key, w, err)
		}
	}
	return cm
}

func (f *fixture) stats() protocol.Stats {
	var st protocol.Stats
	if err := f.h.query(principal.Anonymous(), "ws_stats", &st); err != nil {
		f.t.Fatal(err)
	}
	return st
}

func wantTrap(t *testing.T, err error, text string) {
	t.Helper()
	if err == nil || !strings.Contains(err.Error(), text) {
		t.Fatalf("error = %v, want a trap saying %q", err, text)
	}
}

// wantSessionEnd checks that err is a trap the gateway reads as the end of the session, with reason.
func wantSessionEnd(t *testing.T, err error, want protocol.SessionEnd) {
	t.Helper()
	if err == nil {
		t.Fatalf("no error, want session end %d", want)
	}
	if got, ok := protocol.ParseSessionEnd(err.Error()); !ok || got != want {
		t.Fatalf("ParseSessionEnd(%q) = %d, %v; want %d", err, got, ok, want)
	}
}

// TestSeedExample reproduces poc-protocol.md §4.4 and §5 through the methods: the first
// message's key, val, witness and certified data, and the certified data after the second.
func TestSeedExample(t *testing.T) {
	f := newFixture(t, Config{})
	if f.gwA.String() != seedGateway {
		t.Fatalf("gateway = %s", f.gwA)
	}
	c := f.register(1)
	if c.id != 16 {
		t.Fatalf("first client id = %d", c.id)
	}
	f.mustOpen(f.gwA, c)
	cm := f.poll(f.gwA, 0)
	if len(cm.Messages) != 1 {
		t.Fatalf("%d messages", len(cm.Messages))
	}
	m := cm.Messages[0]
	if m.Key != seedGateway+"_00000000000000000016" || m.ClientID != 16 {
		t.Errorf("message = %+v", m)
	}
	if got := hex.EncodeToString(m.Val); got != goldenVal {
		t.Errorf("val = %s", got)
	}
	wantTree := "d9d9f7" + "8302" + "49776562736f636b6574" + "8302" + "5854" + hex.EncodeToString([]byte(m.Key)) + "8203" + "5820" + sha16
	if got := hex.EncodeToString(cm.Tree); got != wantTree {
		t.Errorf("tree = %s", got)
	}
	if got := hex.EncodeToString(f.h.certified); got != certOne {
		t.Errorf("certified data = %s", got)
	}

	f.h.now = 1684411202000000000
	if err := f.h.call(f.user, "test_send", nil, c.id, protocol.AppMessage{Text: "ping-pong ping"}.Marshal()); err != nil {
		t.Fatal(err)
	}
	if got := hex.EncodeToString(f.h.certified); got != certTwo {
		t.Errorf("certified data after the second message = %s", got)
	}
	cm = f.poll(f.gwA, 0)
	if len(cm.Messages) != 2 {
		t.Fatalf("%d messages", len(cm.Messages))
	}
	if s := sha256.Sum256(cm.Messages[1].Val); hex.EncodeToString(s[:]) != sha17 {
		t.Errorf("second message digest = %x", s)
	}
	if got := f.poll(f.gwA, 17); len(got.Messages) != 1 || got.Messages[0].Key != cm.Messages[1].Key {
		t.Errorf("from nonce 17: %+v", got.Messages)
	}
	if got := f.poll(f.gwA, 18); len(got.Messages) != 0 {
		t.Errorf("from nonce 18: %d messages", len(got.Messages))
	}
}

func TestRegister(t *testing.T) {
	f := newFixture(t, Config{MaxClients: 3})
	a, b := f.register(1), f.register(2)
	if a.id != 16 || b.id != 17 {
		t.Errorf("ids %d, %d", a.id, b.id)
	}
	var id uint64
	wantTrap(t, f.h.call(f.user, "ws_register", &id, []byte{1, 2, 3}), "ws_register: protocol: bad public key: 3 bytes, want 32")
	wantTrap(t, f.h.call(f.user, "ws_register", &id, make([]byte, 32)), "small order")
	wantTrap(t, f.h.call(f.user, "ws_register", &id, "text"), "ws_register: bad argument")
	f.register(3)
	wantTrap(t, f.h.call(f.user, "ws_register", &id, []byte(a.key.Public().(ed25519.PublicKey))), "too many clients (at most 3)")
	var key []byte
	if err := f.h.query(f.gwA, "ws_get_client_key", &key, b.id); err != nil || !bytes.Equal(key, b.key.Public().(ed25519.PublicKey)) {
		t.Errorf("ws_get_client_key = %x, %v", key, err)
	}
	wantTrap(t, f.h.query(f.gwA, "ws_get_client_key", &key, uint64(99)), "ws_get_client_key: unknown client 99")
	if st := f.stats(); st.Clients != 3 || st.OpenClients != 0 {
		t.Errorf("stats %+v", st)
	}
}

func TestOpen(t *testing.T) {
	f := newFixture(t, Config{})
	c := f.register(1)
	s1 := protocol.FirstMessage{CanisterID: seedCanister, ClientID: c.id}.Marshal()
	sig := ed25519.Sign(c.key, s1)
	var ok bool

	forged := slices.Clone(sig)
	forged[5] ^= 0x40
	if err := f.h.call(f.gwA, "ws_open", &ok, s1, forged); err != nil || ok {
		t.Errorf("forged signature: %v, %v", ok, err)
	}
	other := ed25519.NewKeyFromSeed(bytes.Repeat([]byte{5}, 32))
	if err := f.h.call(f.gwA, "ws_open", &ok, s1, ed25519.Sign(other, s1)); err != nil || ok {
		t.Errorf("another key's signature: %v, %v", ok, err)
	}
	if err := f.h.call(f.gwA, "ws_open", &ok, s1, sig[:10]); err != nil || ok {
		t.Errorf("short signature: %v, %v", ok, err)
	}

	wrong := protocol.FirstMessage{CanisterID: "aaaaa-aa", ClientID: c.id}.Marshal()
	wantTrap(t, f.h.call(f.gwA, "ws_open", &ok, wrong, ed25519.Sign(c.key, wrong)),
		"ws_open: the first message is for canister aaaaa-aa, this is "+seedCanister)
	bad := protocol.FirstMessage{CanisterID: "not a principal", ClientID: c.id}.Marshal()
	wantTrap(t, f.h.call(f.gwA, "ws_open", &ok, bad, ed25519.Sign(c.key, bad)), `ws_open: canister_id "not a principal"`)
	unknown := protocol.FirstMessage{CanisterID: seedCanister, ClientID: 99}.Marshal()
	wantTrap(t, f.h.call(f.gwA, "ws_open", &ok, unknown, ed25519.Sign(c.key, unknown)), "ws_open: unknown client 99")
	wantTrap(t, f.h.call(f.gwA, "ws_open", &ok, []byte{0xa0}, sig), `ws_open: first message: protocol: missing field: "canister_id"`)
	wantTrap(t, f.h.call(principal.Anonymous(), "ws_open", &ok, s1, sig), "anonymous principal cannot be a gateway")
	if st := f.stats(); st.Rejected != 3 || st.OpenClients != 0 {
		t.Errorf("stats %+v", st)
	}

	// Untagged S1 with keys in the other order is accepted; its exact bytes are what is signed.
	alt := mustHex(t, "a2"+"69636c69656e745f6964"+"10"+"6b63616e69737465725f6964"+"781b"+hex.EncodeToString([]byte(seedCanister)))
	if err := f.h.call(f.gwA, "ws_open", &ok, alt, ed25519.Sign(c.key, alt)); err != nil || !ok {
		t.Fatalf("good signature: %v, %v", ok, err)
	}
	if !slices.Equal(f.opened, []uint64{c.id}) || !f.s.IsOpen(c.id) {
		t.Errorf("opened %v", f.opened)
	}
	// Opening again through the same gateway changes nothing and does not call OnOpen again.
	f.mustOpen(f.gwA, c)
	if len(f.opened) != 1 || len(f.poll(f.gwA, 0).Messages) != 1 {
		t.Errorf("second open: opened %v", f.opened)
	}
}

func TestMessages(t *testing.T) {
	f := newFixture(t, Config{})
	c := f.register(1)
	f.mustOpen(f.gwA, c)
	for _, text := range []string{"a", "b", "c"} {
		if ok, err := f.send(f.gwA, c, text); !ok || err != nil {
			t.Fatalf("send %q: %v, %v", text, ok, err)
		}
	}
	if len(f.received) != 3 {
		t.Fatalf("received %v", f.received)
	}
	// Replay of seq 1, and a gap (seq 4 while 3 is expected): false, nothing changes.
	before := dumpState(f.s)
	for _, seq := range []uint64{1, 0, 4, 100} {
		ok, err := f.message(f.gwA, c, seq, &protocol.WebsocketMessage{Message: []byte("x")})
		if ok || err != nil {
			t.Errorf("seq %d: %v, %v", seq, ok, err)
		}
	}
	// A forged signature: false.
	val := (&protocol.WebsocketMessage{ClientID: c.id, SequenceNum: 3, Message: []byte("x")}).MarshalClient()
	other := ed25519.NewKeyFromSeed(bytes.Repeat([]byte{5}, 32))
	var ok bool
	frame := protocol.ClientMessage{Sig: ed25519.Sign(other, val), Val: val}.Marshal()
	if err := f.h.call(f.gwA, "ws_message", &ok, frame); err != nil || ok {
		t.Errorf("forged: %v, %v", ok, err)
	}
	if len(f.received) != 3 {
		t.Errorf("refused messages reached the application: %v", f.received)
	}
	if after := dumpState(f.s); withoutStats(after) != withoutStats(before) {
		t.Errorf("refused messages changed the state:\n%s\n%s", before, after)
	}
	if st := f.stats(); st.Rejected != 5 || st.Received != 3 {
		t.Errorf("stats %+v", st)
	}
	// The wrong gateway, an unknown client, a client that is not open, garbage: traps.
	_, err := f.message(f.gwB, c, 3, &protocol.WebsocketMessage{Message: []byte("x")})
	wantTrap(t, err, fmt.Sprintf("ws_message: client %d is bound to another gateway", c.id))
	wantSessionEnd(t, err, protocol.SessionOtherGateway)
	d := f.register(2)
	_, err = f.message(f.gwA, d, 0, &protocol.WebsocketMessage{})
	wantTrap(t, err, fmt.Sprintf("ws_message: client %d is not open", d.id))
	wantSessionEnd(t, err, protocol.SessionNotOpen)
	_, err = f.message(f.gwA, &testClient{id: 99, key: c.key}, 0, &protocol.WebsocketMessage{})
	wantTrap(t, err, "ws_message: unknown client 99")
	wantSessionEnd(t, err, protocol.SessionUnknownClient)
	wantTrap(t, f.h.call(f.gwA, "ws_message", &ok, []byte{1, 2}), "ws_message: client message: protocol: malformed message")

	// The echo replies arrive in order with consecutive sequence numbers.
	cm := f.poll(f.gwA, 0)
	if len(cm.Messages) != 4 {
		t.Fatalf("%d messages", len(cm.Messages))
	}
	for i, m := range cm.Messages {
		w, _ := protocol.DecodeWebsocketMessage(m.Val)
		if w.SequenceNum != uint64(i) {
			t.Errorf("message %d has sequence number %d", i, w.SequenceNum)
		}
	}
}

// TestClose: with detaching off (the seed's behaviour), the gateway's ws_close ends the client.
// TestDetach covers the default.
func TestClose(t *testing.T) {
	f := newFixture(t, Config{DetachGrace: -1})
	c, d := f.register(1), f.register(2)
	f.mustOpen(f.gwA, c)
	f.mustOpen(f.gwA, d)
	wantTrap(t, f.h.call(f.gwB, "ws_close", nil, c.id), "is neither the gateway nor the owner of client 16")
	wantTrap(t, f.h.call(f.gwA, "ws_close", nil, uint64(99)), "ws_close: unknown client 99")

	// The gateway closes c: its state and queue go.
	if err := f.h.call(f.gwA, "ws_close", nil, c.id); err != nil {
		t.Fatal(err)
	}
	if f.s.IsOpen(c.id) || !slices.Equal(f.closed, []uint64{c.id}) {
		t.Errorf("closed %v", f.closed)
	}
	cm := f.poll(f.gwA, 0)
	if len(cm.Messages) != 1 || cm.Messages[0].ClientID != d.id {
		t.Errorf("after close: %+v", cm.Messages)
	}
	_, err := f.send(f.gwA, c, "late")
	wantTrap(t, err, "unknown client 16")

	// The owner closes d: the gateway gets a close service message after d's queue.
	if err := f.h.call(f.user, "ws_close", nil, d.id); err != nil {
		t.Fatal(err)
	}
	cm = f.poll(f.gwA, 0)
	if len(cm.Messages) != 2 {
		t.Fatalf("after owner close: %d messages", len(cm.Messages))
	}
	w, _ := protocol.DecodeWebsocketMessage(cm.Messages[1].Val)
	if !w.Service || w.Close != "closed by the client's owner" || w.SequenceNum != 1 {
		t.Errorf("close message %+v", w)
	}
	st := f.stats()
	if st.Clients != 0 || st.OpenClients != 0 || st.DroppedClosed != 1 {
		t.Errorf("stats %+v", st)
	}

	// An anonymous owner cannot close.
	e := &testClient{key: ed25519.NewKeyFromSeed(bytes.Repeat([]byte{3}, 32))}
	if err := f.h.call(principal.Anonymous(), "ws_register", &e.id, []byte(e.key.Public().(ed25519.PublicKey))); err != nil {
		t.Fatal(err)
	}
	wantTrap(t, f.h.call(principal.Anonymous(), "ws_close", nil, e.id), "is neither the gateway nor the owner")
}

func TestGetMessagesBatches(t *testing.T) {
	f := newFixture(t, Config{})
	var clients []*testClient
	for i := 0; i < 3; i++ {
		c := f.register(byte(10 + i))
		f.mustOpen(f.gwA, c)
		clients = append(clients, c)
	}
	b := f.register(20)
	f.mustOpen(f.gwB, b)
	for i := 0; i < 40; i++ {
		for _, c := range clients {
			if ok, err := f.send(f.gwA, c, fmt.Sprint(i)); !ok || err != nil {
				t.Fatal(ok, err)
			}
		}
		if ok, err := f.send(f.gwB, b, fmt.Sprint(i)); !ok || err != nil {
			t.Fatal(ok, err)
		}
	}
	// Gateway A has 3 + 120 messages with consecutive keys from 16; B has 41 after them.
	var all []protocol.Message
	nonce := uint64(0)
	for i := 0; i < 10; i++ {
		cm := f.poll(f.gwA, nonce)
		if len(cm.Messages) == 0 {
			break
		}
		if len(cm.Messages) > 50 {
			t.Fatalf("batch of %d", len(cm.Messages))
		}
		all = append(all, cm.Messages...)
		_, last, _ := protocol.ParseKey(cm.Messages[len(cm.Messages)-1].Key)
		nonce = last + 1
	}
	if len(all) != 123 {
		t.Fatalf("gateway A got %d messages", len(all))
	}
	for i, m := range all {
		if _, n, _ := protocol.ParseKey(m.Key); n != FirstNonce+uint64(i) {
			t.Fatalf("message %d has nonce %d", i, n)
		}
	}
	cm := f.poll(f.gwB, 0)
	if len(cm.Messages) != 41 {
		t.Fatalf("gateway B got %d", len(cm.Messages))
	}
	_, n0, _ := protocol.ParseKey(cm.Messages[0].Key)
	if n0 < FirstNonce+3 {
		t.Errorf("gateway B starts at nonce %d, below A's nonces in use", n0)
	}
	if cm := f.poll(f.user, 0); len(cm.Messages) != 0 {
		t.Errorf("a stranger got %d messages", len(cm.Messages))
	}
}

func TestBatchBytes(t *testing.T) {
	f := newFixture(t, Config{MaxBatchBytes: 1000, MaxPayload: 2000})
	c := f.register(1)
	f.mustOpen(f.gwA, c)
	for i := 0; i < 5; i++ {
		if err := f.h.call(f.user, "test_send", nil, c.id, make([]byte, 400)); err != nil {
			t.Fatal(err)
		}
	}
	if err := f.h.call(f.user, "test_send", nil, c.id, make([]byte, 1500)); err != nil {
		t.Fatal(err)
	}
	wantTrap(t, f.h.call(f.user, "test_send", nil, c.id, make([]byte, 2001)), "payload too big: 2001 bytes")
	sizes := []int{}
	nonce := uint64(0)
	for i := 0; i < 10; i++ {
		cm := f.poll(f.gwA, nonce)
		if len(cm.Messages) == 0 {
			break
		}
		sizes = append(sizes, len(cm.Messages))
		_, last, _ := protocol.ParseKey(cm.Messages[len(cm.Messages)-1].Key)
		nonce = last + 1
	}
	// ping + 400, then 400 + 400, then 400 + 400 would pass 1000 ... the 1500 goes alone.
	if !slices.Equal(sizes, []int{3, 2, 1, 1}) {
		t.Errorf("batch sizes %v", sizes)
	}
}

func TestGarbageCollection(t *testing.T) {
	f := newFixture(t, Config{})
	c := f.register(1)
	f.mustOpen(f.gwA, c)
	for i := 0; i < 5; i++ {
		f.send(f.gwA, c, fmt.Sprint(i))
	}
	if n := len(f.poll(f.gwA, 0).Messages); n != 6 {
		t.Fatalf("%d messages", n)
	}
	// Exactly 5 minutes later nothing is old enough (the rule is "strictly older").
	f.h.now += uint64(DefaultMessageTTL) - 1
	f.h.timer = 0 // hold the timer back to see the per-message rule alone
	f.send(f.gwA, c, "x")
	if n := len(f.poll(f.gwA, 0).Messages); n != 7 {
		t.Fatalf("%d messages after 5 min", n)
	}
	// Past 5 minutes, each new message deletes at most two old ones.
	f.h.now += 2
	f.send(f.gwA, c, "y")
	if n := len(f.poll(f.gwA, 0).Messages); n != 6 {
		t.Fatalf("%d messages, want 6 (8 minus 2)", n)
	}
	if st := f.stats(); st.DroppedExpired != 2 {
		t.Errorf("stats %+v", st)
	}
	// A timer tick deletes all that are expired.
	f.h.timer = f.h.now
	if err := f.h.advance(0); err != nil {
		t.Fatal(err)
	}
	cm := f.poll(f.gwA, 0)
	if len(cm.Messages) != 2 {
		t.Fatalf("%d messages after the tick, want the 2 recent ones", len(cm.Messages))
	}
	if st := f.stats(); st.DroppedExpired != 6 || st.Queued != 2 {
		t.Errorf("stats %+v", st)
	}
}

func TestQueueBound(t *testing.T) {
	f := newFixture(t, Config{MaxQueuePerGateway: 10})
	c := f.register(1)
	f.mustOpen(f.gwA, c)
	for i := 0; i < 25; i++ {
		f.send(f.gwA, c, fmt.Sprint(i))
	}
	cm := f.poll(f.gwA, 0)
	if len(cm.Messages) != 10 {
		t.Fatalf("%d messages kept", len(cm.Messages))
	}
	w, _ := protocol.DecodeWebsocketMessage(cm.Messages[0].Val)
	if w.SequenceNum != 16 {
		t.Errorf("oldest kept has sequence number %d, want 16", w.SequenceNum)
	}
	if st := f.stats(); st.DroppedOverflow != 16 || st.Queued != 10 {
		t.Errorf("stats %+v", st)
	}
}

func TestReconnect(t *testing.T) {
	f := newFixture(t, Config{DetachGrace: -1})
	c, d := f.register(1), f.register(2)
	f.mustOpen(f.gwA, c)
	f.mustOpen(f.gwA, d)
	f.send(f.gwA, c, "1")
	f.send(f.gwA, d, "2")
	f.send(f.gwA, c, "3")
	// c reconnects through gateway B: its three messages move there, re-keyed.
	f.mustOpen(f.gwB, c)
	if len(f.opened) != 2 {
		t.Errorf("OnOpen ran again on reconnection: %v", f.opened)
	}
	a := f.poll(f.gwA, 0)
	if len(a.Messages) != 2 || a.Messages[0].ClientID != d.id || a.Messages[1].ClientID != d.id {
		t.Errorf("gateway A keeps %+v", a.Messages)
	}
	b := f.poll(f.gwB, 0)
	if len(b.Messages) != 3 {
		t.Fatalf("gateway B got %d", len(b.Messages))
	}
	for i, m := range b.Messages {
		w, _ := protocol.DecodeWebsocketMessage(m.Val)
		if m.ClientID != c.id || w.SequenceNum != uint64(i) {
			t.Errorf("moved message %d: %+v", i, w)
		}
	}
	// Now only B may relay c's messages or close it; A still serves d.
	_, err := f.send(f.gwA, c, "x")
	wantTrap(t, err, "client 16 is bound to another gateway")
	if ok, err := f.send(f.gwB, c, "4"); !ok || err != nil {
		t.Fatal(ok, err)
	}
	wantTrap(t, f.h.call(f.gwA, "ws_close", nil, c.id), "neither the gateway nor the owner")
	if st := f.stats(); st.Gateways != 2 || st.OpenClients != 2 {
		t.Errorf("stats %+v", st)
	}
	// d leaves A: A has nothing left and is forgotten.
	if err := f.h.call(f.gwA, "ws_close", nil, d.id); err != nil {
		t.Fatal(err)
	}
	if st := f.stats(); st.Gateways != 1 {
		t.Errorf("stats %+v", st)
	}
}

func TestRollback(t *testing.T) {
	f := newFixture(t, Config{})
	c, d := f.register(1), f.register(2)
	f.mustOpen(f.gwA, c)
	f.mustOpen(f.gwB, d)
	f.send(f.gwA, c, "hello")
	cert := slices.Clone(f.h.certified)
	before := dumpState(f.s)
	f.trapNext = true
	_, err := f.send(f.gwA, c, "boom")
	wantTrap(t, err, "application trap")
	if got := dumpState(f.s); got != before {
		t.Fatalf("state changed by a trapped message:\nbefore %s\nafter  %s", before, got)
	}
	if !bytes.Equal(f.h.certified, cert) {
		t.Fatal("certified data changed")
	}
	f.poll(f.gwA, 0) // the witness still matches the certified data
	f.trapNext = false
	if ok, err := f.send(f.gwA, c, "again"); !ok || err != nil {
		t.Fatal(ok, err)
	}
}

func TestHeartbeatsAndExpiry(t *testing.T) {
	f := newFixture(t, Config{SessionTTL: 1 << 40})
	const sec = uint64(1e9)
	c, d, e := f.register(1), f.register(2), f.register(3)
	f.mustOpen(f.gwA, c)
	f.mustOpen(f.gwA, d)
	// c asks for heartbeats with a keep-alive (a service message acknowledging canister seq 1).
	if ok, err := f.message(f.gwA, c, 0, &protocol.WebsocketMessage{Service: true, Ack: 1}); !ok || err != nil {
		t.Fatal(ok, err)
	}
	c.seq = 1
	c0 := f.h.now
	f.send(f.gwA, c, "hi")
	if len(f.received) != 1 {
		t.Errorf("the keep-alive reached the application: %v", f.received)
	}
	if err := f.h.advance(11 * sec); err != nil { // first tick
		t.Fatal(err)
	}
	cm := f.poll(f.gwA, 0)
	last, _ := protocol.DecodeWebsocketMessage(cm.Messages[len(cm.Messages)-1].Val)
	if !last.Service || last.Ack != 2 || last.ClientID != c.id || last.Close != "" {
		t.Errorf("heartbeat = %+v", last)
	}
	// c stops sending keep-alives and times out after 90 s; d (no keep-alives, like the seed
	// client) stays; the gateway learns of the close from a close service message.
	for i := 0; i < 20 && f.s.IsOpen(c.id); i++ {
		if err := f.h.advance(10 * sec); err != nil {
			t.Fatal(err)
		}
	}
	if f.s.IsOpen(c.id) || !f.s.IsOpen(d.id) || !slices.Equal(f.closed, []uint64{c.id}) {
		t.Fatalf("open: c %v, d %v; closed %v", f.s.IsOpen(c.id), f.s.IsOpen(d.id), f.closed)
	}
	if f.h.now-c0 < 90*sec || f.h.now-c0 > 110*sec {
		t.Errorf("timed out after %d s", (f.h.now-c0)/sec)
	}
	cm = f.poll(f.gwA, 0)
	w, _ := protocol.DecodeWebsocketMessage(cm.Messages[len(cm.Messages)-1].Val)
	if !w.Service || w.Close != "keep-alive timeout" || w.ClientID != c.id {
		t.Errorf("last message %+v", w)
	}
	// e never opened: its registration expires after 5 minutes, and so do all messages.
	for i := 0; i < 40; i++ {
		if err := f.h.advance(10 * sec); err != nil {
			t.Fatal(err)
		}
	}
	if _, ok := f.s.Owner(e.id); ok {
		t.Error("the unopened registration did not expire")
	}
	if st := f.stats(); st.Queued != 0 || st.Clients != 1 {
		t.Errorf("stats %+v", st)
	}
	// SessionTTL closes d.
	f.h.now += 1 << 40
	f.h.timer = f.h.now
	if err := f.h.advance(0); err != nil {
		t.Fatal(err)
	}
	if f.s.IsOpen(d.id) {
		t.Error("the session did not expire")
	}
}

func withoutStats(dump string) string {
	_, rest, _ := strings.Cut(dump, "\n")
	return rest
}

// dumpState describes the whole server state deterministically.
func dumpState(s *Server) string {
	var b strings.Builder
	st := s.st
	fmt.Fprintf(&b, "next=%d floor=%d timer=%d open=%d stats=%+v root=%x\n", st.nextClientID, st.nonceFloor, st.timerAt, st.open, st.stats, s.tree.RootHash())
	fmt.Fprintf(&b, "fifo:")
	st.fifo.each(func(e *entry) { fmt.Fprintf(&b, " %s", e.key) })
	ids := make([]uint64, 0)
	for id := range s.clients {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	for _, id := range ids {
		c := s.clients[id]
		gw := ""
		if c.gw != nil {
			gw = c.gw.text
		}
		fmt.Fprintf(&b, "\nclient %d gw=%s out=%d in=%d acked=%d ackSent=%d nonce=%d ka=%v last=%d beat=%d queue:",
			id, gw, c.outSeq, c.inSeq, c.acked, c.ackSent, c.openNonce, c.keepalive, c.lastIn, c.lastBeat)
		c.queue.each(func(e *entry) { fmt.Fprintf(&b, " %s", e.key) })
	}
	var gws []string
	for _, g := range s.gateways {
		gws = append(gws, fmt.Sprintf("\ngateway %s next=%d queued=%d bound=%d", g.text, g.nextNonce, g.queued, g.bound))
	}
	sort.Strings(gws)
	b.WriteString(strings.Join(gws, ""))
	var keys []string
	for k, e := range s.entries {
		keys = append(keys, fmt.Sprintf("\nentry %s %s c=%d t=%d live=%v %x", k, e.key, e.client, e.time, e.live, sha256.Sum256(e.val)))
	}
	sort.Strings(keys)
	b.WriteString(strings.Join(keys, ""))
	dumpChannels(&b, s)
	return b.String()
}

func TestKeepAliveAcknowledges(t *testing.T) {
	f := newFixture(t, Config{})
	c := f.register(1)
	f.mustOpen(f.gwA, c)
	for i := 0; i < 4; i++ {
		f.send(f.gwA, c, fmt.Sprint(i))
	}
	// The client received ping and the first two replies (sequence numbers 0–2).
	if ok, err := f.message(f.gwA, c, c.seq, &protocol.WebsocketMessage{Service: true, Ack: 3}); !ok || err != nil {
		t.Fatal(ok, err)
	}
	cm := f.poll(f.gwA, 0)
	if len(cm.Messages) != 2 {
		t.Fatalf("%d messages kept, want 2", len(cm.Messages))
	}
	if w, _ := protocol.DecodeWebsocketMessage(cm.Messages[0].Val); w.SequenceNum != 3 {
		t.Errorf("first kept is %d", w.SequenceNum)
	}
	if st := f.stats(); st.Acknowledged != 3 || st.Queued != 2 {
		t.Errorf("stats %+v", st)
	}
}
