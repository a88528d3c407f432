package websocket

import (
	"bytes"
	"crypto/sha256"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/icws/icws/cdk"
	"github.com/icws/icws/ic/hashtree"
	"github.com/icws/icws/ic/principal"
	"github.com/icws/icws/protocol/omnia"
)

// omniaFixture is a ProtocolOmnia canister on the in-memory host: OnOpen sends "hello", and
// OnMessage echoes, or traps after sending when trapNext is set.
type omniaFixture struct {
	t        *testing.T
	s        *Server
	h        *host
	gwA, gwB principal.Principal
	received []string
	opened   []uint64
	closed   []uint64
	trapNext bool // OnMessage sends, then traps
	trapOpen bool // OnOpen sends, then traps
}

func newOmniaFixture(t *testing.T, cfg Config) *omniaFixture {
	f := &omniaFixture{t: t, gwA: gatewayPrincipal(t, 0), gwB: gatewayPrincipal(t, 9)}
	cfg.Protocol = ProtocolOmnia
	cfg.OnOpen = func(ic cdk.System, c uint64) {
		f.opened = append(f.opened, c)
		if err := f.s.Send(ic, c, []byte("hello")); err != nil {
			ic.Trap(err.Error())
		}
		if f.trapOpen {
			ic.Trap("application trap in OnOpen")
		}
	}
	cfg.OnMessage = func(ic cdk.System, c uint64, p []byte) {
		f.received = append(f.received, fmt.Sprintf("%d:%s", c, p))
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

// raw runs an update with an encoded argument and decodes its result.
func (f *omniaFixture) raw(caller principal.Principal, method string, arg []byte) error {
	f.t.Helper()
	r, err := f.h.run("update", caller, method, arg)
	if err != nil {
		return fmt.Errorf("trap: %w", err)
	}
	return omnia.DecodeResult(r)
}

func (f *omniaFixture) open(client principal.Principal, nonce uint64, gw principal.Principal) error {
	return f.raw(client, omnia.MethodOpen, omnia.EncodeOpenArgs(omnia.OpenArgs{ClientNonce: nonce, GatewayPrincipal: gw}))
}

func (f *omniaFixture) message(client principal.Principal, key omnia.ClientKey, seq uint64, service bool, content []byte) error {
	m := omnia.WebsocketMessage{Key: key, SequenceNum: seq, Timestamp: 1, IsServiceMessage: service, Content: content}
	return f.raw(client, omnia.MethodMessage, omnia.EncodeMessageArgs(omnia.MessageArgs{Msg: m}))
}

func (f *omniaFixture) keepAlive(key omnia.ClientKey, seq, last uint64) error {
	b, err := omnia.EncodeServiceMessage(omnia.ServiceMessage{KeepAlive: &omnia.KeepAliveMessage{LastIncomingSequenceNum: last}})
	if err != nil {
		f.t.Fatal(err)
	}
	return f.message(key.Principal, key, seq, true, b)
}

func (f *omniaFixture) close(gw principal.Principal, key omnia.ClientKey) error {
	return f.raw(gw, omnia.MethodClose, omnia.EncodeCloseArgs(omnia.CloseArgs{Key: key}))
}

// polled is one message of a batch, verified and decoded.
type polled struct {
	key     string
	msg     omnia.WebsocketMessage
	service omnia.ServiceMessage // when msg.IsServiceMessage
}

// poll fetches gw's batch from nonce and verifies it as ic-websocket-js does: the witness's root
// against the certified data (the host's stand-in certificate is the certified data), each key's
// leaf against SHA-256 of the content, and the key's gateway.
func (f *omniaFixture) poll(gw principal.Principal, nonce uint64) ([]polled, bool) {
	f.t.Helper()
	r, err := f.h.run("query", gw, omnia.MethodGetMessages, omnia.EncodeGetMessagesArgs(omnia.GetMessagesArgs{Nonce: nonce}))
	if err != nil {
		f.t.Fatalf("ws_get_messages: %v", err)
	}
	cm, err := omnia.DecodeGetMessagesResult(r)
	if err != nil {
		f.t.Fatalf("ws_get_messages: %v", err)
	}
	if len(cm.Messages) == 0 {
		if len(cm.Cert) != 0 || len(cm.Tree) != 0 || !cm.IsEndOfQueue {
			f.t.Fatalf("empty batch with cert %x, tree %x, end %v", cm.Cert, cm.Tree, cm.IsEndOfQueue)
		}
		return nil, true
	}
	if !bytes.Equal(cm.Cert, append([]byte("cert:"), f.h.certified...)) {
		f.t.Fatalf("cert %x is not the data certificate", cm.Cert)
	}
	if !bytes.HasPrefix(cm.Tree, []byte("\xd9\xd9\xf7")) {
		f.t.Fatalf("tree %x has no self-describe tag", cm.Tree)
	}
	tree, err := hashtree.Unmarshal(cm.Tree)
	if err != nil {
		f.t.Fatal(err)
	}
	if root := hashtree.Digest(tree); !bytes.Equal(root[:], f.h.certified) {
		f.t.Fatalf("witness root %x is not the certified data %x", root, f.h.certified)
	}
	var out []polled
	for _, m := range cm.Messages {
		sum := sha256.Sum256(m.Content)
		if l := hashtree.Lookup(tree, []byte(Label), []byte(m.MessageKey)); l.Status != hashtree.Found || !bytes.Equal(l.Value, sum[:]) {
			f.t.Fatalf("key %s: %v", m.MessageKey, l.Status)
		}
		if g, _, err := omnia.ParseKey(m.MessageKey); err != nil || !g.Equal(gw) {
			f.t.Fatalf("key %s is not the gateway's: %v", m.MessageKey, err)
		}
		w, err := omnia.UnmarshalWebsocketMessage(m.Content)
		if err != nil || !w.Key.Equal(m.Key) {
			f.t.Fatalf("content: %+v, %v (key %v)", w, err, m.Key)
		}
		p := polled{key: m.MessageKey, msg: w}
		if w.IsServiceMessage {
			if p.service, err = omnia.DecodeServiceMessage(w.Content); err != nil {
				f.t.Fatal(err)
			}
		}
		out = append(out, p)
	}
	return out, cm.IsEndOfQueue
}

// describe renders a batch as "seq:kind" strings for the messages of key.
func describe(ms []polled, key omnia.ClientKey) []string {
	var out []string
	for _, m := range ms {
		if !m.msg.Key.Equal(key) {
			continue
		}
		s := fmt.Sprintf("%d:", m.msg.SequenceNum)
		switch sm := m.service; {
		case !m.msg.IsServiceMessage:
			s += string(m.msg.Content)
		case sm.Open != nil:
			s += "open"
			if !sm.Open.Key.Equal(key) {
				s += "(wrong key)"
			}
		case sm.Ack != nil:
			s += fmt.Sprintf("ack%d", sm.Ack.LastIncomingSequenceNum)
		case sm.Close != nil:
			s += "close:" + sm.Close.Reason.String()
		}
		out = append(out, s)
	}
	return out
}

func wantErr(t *testing.T, err error, text string) {
	t.Helper()
	var ce *omnia.CanisterError
	if !errors.As(err, &ce) || !strings.Contains(ce.Text, text) {
		t.Fatalf("got %v, want Err containing %q", err, text)
	}
}

func clientPrincipal(t *testing.T, seed byte) principal.Principal {
	return gatewayPrincipal(t, 100+seed)
}

// TestOmniaSession runs one connection: open, the OpenMessage first, messages both ways with
// their sequence numbers and keys, the is_end_of_queue flag, then the gateway's ws_close.
func TestOmniaSession(t *testing.T) {
	f := newOmniaFixture(t, Config{})
	alice := clientPrincipal(t, 1)
	key := omnia.ClientKey{Principal: alice, Nonce: 77}
	if err := f.open(alice, 77, f.gwA); err != nil {
		t.Fatal(err)
	}
	ms, end := f.poll(f.gwA, 0)
	if got := strings.Join(describe(ms, key), " "); got != "1:open 2:hello" || !end {
		t.Fatalf("after open: %q, end %v", got, end)
	}
	if ms[0].key != f.gwA.String()+"_00000000000000000000" {
		t.Errorf("first key %s", ms[0].key)
	}
	for seq := uint64(1); seq <= 3; seq++ {
		if err := f.message(alice, key, seq, false, []byte(fmt.Sprint("m", seq))); err != nil {
			t.Fatalf("message %d: %v", seq, err)
		}
	}
	ms, _ = f.poll(f.gwA, 2)
	if got := strings.Join(describe(ms, key), " "); got != "3:m1 4:m2 5:m3" {
		t.Fatalf("echoes: %q", got)
	}
	if got := strings.Join(f.received, " "); got != "16:m1 16:m2 16:m3" {
		t.Errorf("OnMessage saw %q", got)
	}
	if id, ok := f.s.ClientOf(alice); !ok || id != 16 {
		t.Errorf("ClientOf = %d, %v", id, ok)
	}
	if k, ok := f.s.ClientKey(16); !ok || !k.Equal(key) {
		t.Errorf("ClientKey = %v, %v", k, ok)
	}
	if err := f.close(f.gwA, key); err != nil {
		t.Fatal(err)
	}
	if len(f.closed) != 1 || f.s.IsOpen(16) {
		t.Errorf("closed %v, open %v", f.closed, f.s.IsOpen(16))
	}
	if ms, _ := f.poll(f.gwA, 0); len(ms) != 0 {
		t.Errorf("queue after the gateway's close: %d messages", len(ms))
	}
	if st := f.s.Stats(); st.DroppedClosed != 5 || st.Received != 3 || st.Gateways != 0 {
		t.Errorf("stats %+v", st)
	}
}

// TestOmniaBatches checks the 50-message limit and is_end_of_queue.
func TestOmniaBatches(t *testing.T) {
	f := newOmniaFixture(t, Config{})
	alice := clientPrincipal(t, 1)
	key := omnia.ClientKey{Principal: alice, Nonce: 1}
	if err := f.open(alice, 1, f.gwA); err != nil {
		t.Fatal(err)
	}
	for seq := uint64(1); seq <= 60; seq++ {
		if err := f.message(alice, key, seq, false, []byte("x")); err != nil {
			t.Fatal(err)
		}
	}
	ms, end := f.poll(f.gwA, 0)
	if len(ms) != omnia.DefaultMaxReturnedMessages || end {
		t.Fatalf("first batch: %d messages, end %v", len(ms), end)
	}
	ms, end = f.poll(f.gwA, 50)
	if len(ms) != 12 || !end || ms[0].msg.SequenceNum != 51 {
		t.Fatalf("second batch: %d messages, end %v", len(ms), end)
	}
	if ms, end := f.poll(f.gwA, 62); len(ms) != 0 || !end {
		t.Fatalf("past the end: %d, %v", len(ms), end)
	}
	// Any other caller gets an empty Ok.
	if ms, end := f.poll(f.gwB, 0); len(ms) != 0 || !end {
		t.Fatalf("other gateway: %d, %v", len(ms), end)
	}
}

// TestOmniaRefusals checks every refusal and its text, ic-websocket-cdk's, and the closes that
// come with some.
func TestOmniaRefusals(t *testing.T) {
	f := newOmniaFixture(t, Config{})
	alice, bob := clientPrincipal(t, 1), clientPrincipal(t, 2)
	key := omnia.ClientKey{Principal: alice, Nonce: 5}
	wantErr(t, f.open(principal.Anonymous(), 5, f.gwA), "Anonymous principal is not allowed")
	wantErr(t, f.open(alice, 5, principal.Anonymous()), "is not a gateway")
	if err := f.open(alice, 5, f.gwA); err != nil {
		t.Fatal(err)
	}
	wantErr(t, f.open(alice, 5, f.gwB), "already has an open connection")
	wantErr(t, f.message(bob, key, 1, false, nil), "doesn't have an open connection")
	wantErr(t, f.message(alice, omnia.ClientKey{Principal: alice, Nonce: 6}, 1, false, nil), "has a different key than the one used in the message")
	wantErr(t, f.message(bob, omnia.ClientKey{Principal: bob, Nonce: 5}, 1, false, nil), "doesn't have an open connection")
	// The gateway may not send as the client, nor close it from another gateway.
	wantErr(t, f.message(f.gwA, key, 1, false, nil), "doesn't have an open connection")
	wantErr(t, f.close(f.gwB, key), "Gateway with principal "+f.gwB.String()+" is not registered")
	if err := f.open(bob, 9, f.gwB); err != nil {
		t.Fatal(err)
	}
	wantErr(t, f.close(f.gwB, key), "was not registered to gateway")
	wantErr(t, f.close(f.gwA, omnia.ClientKey{Principal: alice, Nonce: 4}), "doesn't have an open connection")
	wantErr(t, f.close(alice, key), "is not registered")
	// Service messages a client may not send.
	open, _ := omnia.EncodeServiceMessage(omnia.ServiceMessage{Open: &omnia.OpenMessage{Key: key}})
	wantErr(t, f.message(alice, key, 1, true, open), "Invalid service message")
	wantErr(t, f.message(alice, key, 2, true, []byte("junk")), "Error decoding service message content")
	// A wrong sequence number closes the connection with WrongSequenceNumber.
	wantErr(t, f.message(alice, key, 7, false, []byte("late")), "Expected incoming sequence number 3 but got 7")
	ms, _ := f.poll(f.gwA, 0)
	if got := strings.Join(describe(ms, key), " "); got != "1:open 2:hello 3:close:WrongSequenceNumber" {
		t.Errorf("alice's messages: %q", got)
	}
	if f.s.IsOpen(16) || len(f.closed) != 1 {
		t.Errorf("alice still open after a wrong sequence number")
	}
	// Bad Candid traps, as a Rust canister's argument decoding does.
	if err := f.raw(alice, omnia.MethodOpen, []byte("DIDL")); err == nil || !strings.Contains(err.Error(), "ws_open: bad argument") {
		t.Errorf("bad argument: %v", err)
	}
	if st := f.s.Stats(); st.Rejected != 2 {
		t.Errorf("rejected %d, want 2", st.Rejected)
	}
}

// TestOmniaOneConnectionPerPrincipal: a principal that opens again loses its older connection,
// even when the canister is full; a new principal is refused then.
func TestOmniaOneConnectionPerPrincipal(t *testing.T) {
	f := newOmniaFixture(t, Config{MaxClients: 1})
	alice := clientPrincipal(t, 1)
	if err := f.open(alice, 1, f.gwA); err != nil {
		t.Fatal(err)
	}
	wantErr(t, f.open(clientPrincipal(t, 2), 1, f.gwA), "Too many clients (at most 1)")
	if err := f.open(alice, 2, f.gwB); err != nil {
		t.Fatal(err)
	}
	if len(f.closed) != 1 || f.closed[0] != 16 || !f.s.IsOpen(17) || f.s.IsOpen(16) {
		t.Fatalf("closed %v", f.closed)
	}
	if id, _ := f.s.ClientOf(alice); id != 17 {
		t.Errorf("ClientOf = %d", id)
	}
	wantErr(t, f.message(alice, omnia.ClientKey{Principal: alice, Nonce: 1}, 1, false, nil), "different key")
	if err := f.message(alice, omnia.ClientKey{Principal: alice, Nonce: 2}, 1, false, []byte("hi")); err != nil {
		t.Fatal(err)
	}
	ms, _ := f.poll(f.gwB, 0)
	if got := strings.Join(describe(ms, omnia.ClientKey{Principal: alice, Nonce: 2}), " "); got != "1:open 2:hello 3:hi" {
		t.Errorf("new connection: %q", got)
	}
	// The second gateway started above every nonce the first used.
	if _, n, _ := omnia.ParseKey(ms[0].key); n != 2 {
		t.Errorf("gateway B's first nonce %d, want 2", n)
	}
}

// TestOmniaKeepAlive: an AckMessage every ack interval; a client that answers with a
// KeepAliveMessage stays (and what it acknowledged is deleted), one that does not is closed with
// KeepAliveTimeout after the keep-alive deadline.
func TestOmniaKeepAlive(t *testing.T) {
	f := newOmniaFixture(t, Config{})
	alice, bob := clientPrincipal(t, 1), clientPrincipal(t, 2)
	ka, kb := omnia.ClientKey{Principal: alice, Nonce: 1}, omnia.ClientKey{Principal: bob, Nonce: 1}
	for _, p := range []principal.Principal{alice, bob} {
		if err := f.open(p, 1, f.gwA); err != nil {
			t.Fatal(err)
		}
	}
	if err := f.message(alice, ka, 1, false, []byte("a")); err != nil {
		t.Fatal(err)
	}
	step := uint64(DefaultTickInterval)
	for elapsed := uint64(0); elapsed < uint64(omnia.DefaultAckInterval); elapsed += step {
		if err := f.h.advance(step); err != nil {
			t.Fatal(err)
		}
	}
	ms, _ := f.poll(f.gwA, 0)
	if got := strings.Join(describe(ms, ka), " "); got != "1:open 2:hello 3:a 4:ack1" {
		t.Fatalf("alice after the ack interval: %q", got)
	}
	if got := strings.Join(describe(ms, kb), " "); got != "1:open 2:hello 3:ack0" {
		t.Fatalf("bob after the ack interval: %q", got)
	}
	if err := f.keepAlive(ka, 2, 4); err != nil {
		t.Fatal(err)
	}
	for elapsed := uint64(0); elapsed <= uint64(omnia.KeepAliveTimeout)+step; elapsed += step {
		if err := f.h.advance(step); err != nil {
			t.Fatal(err)
		}
	}
	if !f.s.IsOpen(16) || f.s.IsOpen(17) {
		t.Fatalf("alice open %v (want true), bob open %v (want false)", f.s.IsOpen(16), f.s.IsOpen(17))
	}
	ms, _ = f.poll(f.gwA, 0)
	if got := strings.Join(describe(ms, ka), " "); got != "" {
		t.Errorf("alice's acknowledged messages are still queued: %q", got)
	}
	if got := strings.Join(describe(ms, kb), " "); got != "3:ack0 4:close:KeepAliveTimeout" { // open and hello expired (older than the ack interval)
		t.Errorf("bob: %q", got)
	}
	if st := f.s.Stats(); st.Acknowledged != 4 {
		t.Errorf("acknowledged %d, want 4", st.Acknowledged)
	}
}

// TestOmniaTrapRollsBack: a trap in OnOpen or OnMessage undoes the whole message (the
// connection, the principal's entry, the queue, the sequence number), so the client's retry is
// accepted.
func TestOmniaTrapRollsBack(t *testing.T) {
	f := newOmniaFixture(t, Config{})
	alice := clientPrincipal(t, 1)
	key := omnia.ClientKey{Principal: alice, Nonce: 1}
	f.trapOpen = true
	if err := f.open(alice, 1, f.gwA); err == nil || !strings.Contains(err.Error(), "application trap in OnOpen") {
		t.Fatalf("got %v, want the trap", err)
	}
	if _, ok := f.s.ClientOf(alice); ok || len(f.s.clients) != 0 || len(f.s.gateways) != 0 || len(f.s.entries) != 0 {
		t.Fatalf("the trapped ws_open left state: %d clients, %d gateways, %d messages", len(f.s.clients), len(f.s.gateways), len(f.s.entries))
	}
	f.trapOpen = false
	if err := f.open(alice, 1, f.gwA); err != nil {
		t.Fatal(err)
	}
	before := append([]byte(nil), f.h.certified...)
	f.trapNext = true
	if err := f.message(alice, key, 1, false, []byte("x")); err == nil || !strings.Contains(err.Error(), "application trap") {
		t.Fatalf("got %v, want the trap", err)
	}
	if !bytes.Equal(before, f.h.certified) {
		t.Error("the trap changed the certified data")
	}
	f.trapNext = false
	if err := f.message(alice, key, 1, false, []byte("x")); err != nil {
		t.Fatal(err)
	}
	ms, _ := f.poll(f.gwA, 0)
	if got := strings.Join(describe(ms, key), " "); got != "1:open 2:hello 3:x" {
		t.Errorf("after the retry: %q", got)
	}
}

// TestOmniaCloseByApplication: Close queues a CloseMessage ClosedByApplication, the connection's
// last message.
func TestOmniaCloseByApplication(t *testing.T) {
	f := newOmniaFixture(t, Config{})
	alice := clientPrincipal(t, 1)
	key := omnia.ClientKey{Principal: alice, Nonce: 1}
	if err := f.open(alice, 1, f.gwA); err != nil {
		t.Fatal(err)
	}
	if err := f.h.call(alice, "test_close", nil, uint64(16)); err != nil {
		t.Fatal(err)
	}
	ms, _ := f.poll(f.gwA, 0)
	if got := strings.Join(describe(ms, key), " "); got != "1:open 2:hello 3:close:ClosedByApplication" {
		t.Errorf("messages: %q", got)
	}
	if _, ok := f.s.ClientOf(alice); ok || len(f.closed) != 1 {
		t.Error("alice is still connected")
	}
}

// TestOmniaQueueBound: a full gateway queue drops its oldest message and counts it.
func TestOmniaQueueBound(t *testing.T) {
	f := newOmniaFixture(t, Config{MaxQueuePerGateway: 4})
	alice := clientPrincipal(t, 1)
	key := omnia.ClientKey{Principal: alice, Nonce: 1}
	if err := f.open(alice, 1, f.gwA); err != nil {
		t.Fatal(err)
	}
	for seq := uint64(1); seq <= 4; seq++ {
		if err := f.message(alice, key, seq, false, []byte(fmt.Sprint(seq))); err != nil {
			t.Fatal(err)
		}
	}
	ms, _ := f.poll(f.gwA, 0)
	if got := strings.Join(describe(ms, key), " "); got != "3:1 4:2 5:3 6:4" {
		t.Errorf("queue: %q", got)
	}
	if st := f.s.Stats(); st.DroppedOverflow != 2 {
		t.Errorf("dropped %d, want 2", st.DroppedOverflow)
	}
}

// TestOmniaStable: a server with connections refuses to be saved (the upgrade fails and the
// canister stays as it was); an idle one is saved with its nonces, and a seed server's clients
// are refused.
func TestOmniaStable(t *testing.T) {
	f := newOmniaFixture(t, Config{})
	alice := clientPrincipal(t, 1)
	if err := f.open(alice, 1, f.gwA); err != nil {
		t.Fatal(err)
	}
	if _, err := f.s.MarshalStable(); err == nil || !strings.Contains(err.Error(), "upgrade when none is connected") {
		t.Fatalf("MarshalStable with a client: %v", err)
	}
	if err := f.close(f.gwA, omnia.ClientKey{Principal: alice, Nonce: 1}); err != nil {
		t.Fatal(err)
	}
	b, err := f.s.MarshalStable()
	if err != nil {
		t.Fatal(err)
	}
	g := newOmniaFixture(t, Config{})
	if err := g.s.UnmarshalStable(b); err != nil {
		t.Fatal(err)
	}
	if err := g.open(alice, 2, g.gwA); err != nil {
		t.Fatal(err)
	}
	ms, _ := g.poll(g.gwA, 0)
	if _, n, _ := omnia.ParseKey(ms[0].key); n != 2 || ms[0].msg.Key.Nonce != 2 {
		t.Errorf("after the restore the first nonce is %d, want 2", n)
	}
	seed := newFixture(t, Config{})
	c := seed.register(1)
	seed.mustOpen(seed.gwA, c)
	sb, err := seed.s.MarshalStable()
	if err != nil {
		t.Fatal(err)
	}
	if err := newOmniaFixture(t, Config{}).s.UnmarshalStable(sb); !errors.Is(err, ErrBadStable) {
		t.Errorf("a seed server's state: %v", err)
	}
}

// TestOmniaInterface checks the methods and the Candid interface Register installs.
func TestOmniaInterface(t *testing.T) {
	c := &cdk.Canister{}
	New(Config{Protocol: ProtocolOmnia, AppMessage: "record { text : text; timestamp : nat64 }"}).Register(c)
	for _, m := range []string{omnia.MethodOpen, omnia.MethodClose, omnia.MethodMessage} {
		if c.Updates[m] == nil {
			t.Errorf("no update %s", m)
		}
	}
	if c.Queries[omnia.MethodGetMessages] == nil || len(c.Updates) != 3 || len(c.Queries) != 1 {
		t.Errorf("updates %d, queries %d", len(c.Updates), len(c.Queries))
	}
	for _, want := range []string{
		"type AppMessage = record { text : text; timestamp : nat64 };",
		`"ws_message" : (CanisterWsMessageArguments, opt AppMessage) -> (CanisterWsMessageResult);`,
		`"ws_get_messages" : (CanisterWsGetMessagesArguments) -> (CanisterWsGetMessagesResult) query;`,
	} {
		if !strings.Contains(c.Candid, want) {
			t.Errorf("Candid lacks %q", want)
		}
	}
}

// TestOmniaKeepAliveFastAcks: with acks more frequent than the keep-alive deadline, a silent
// client is still closed one deadline after the first ack it left unanswered, and a client that
// answers every ack is never closed.
func TestOmniaKeepAliveFastAcks(t *testing.T) {
	f := newOmniaFixture(t, Config{HeartbeatInterval: 20e9, IdleTimeout: 60e9, TickInterval: 5e9})
	alice, bob := clientPrincipal(t, 1), clientPrincipal(t, 2)
	ka, kb := omnia.ClientKey{Principal: alice, Nonce: 1}, omnia.ClientKey{Principal: bob, Nonce: 1}
	for _, p := range []principal.Principal{alice, bob} {
		if err := f.open(p, 1, f.gwA); err != nil {
			t.Fatal(err)
		}
	}
	seq, closedAt := uint64(1), uint64(0)
	start := f.h.now
	next := uint64(0)
	for step := 0; step < 40 && closedAt == 0; step++ { // 200 s at most
		if err := f.h.advance(5e9); err != nil {
			t.Fatal(err)
		}
		ms, _ := f.poll(f.gwA, next)
		for _, m := range ms {
			_, n, _ := omnia.ParseKey(m.key)
			next = n + 1
			if m.msg.Key.Equal(ka) && m.service.Ack != nil {
				if err := f.keepAlive(ka, seq, m.msg.SequenceNum); err != nil {
					t.Fatal(err)
				}
				seq++
			}
			if m.msg.Key.Equal(kb) && m.service.Close != nil {
				if m.service.Close.Reason != omnia.ReasonKeepAliveTimeout {
					t.Fatalf("bob closed with %v", m.service.Close.Reason)
				}
				closedAt = f.h.now
			}
		}
	}
	// Bob's first ack came 20 s after the open; the deadline is 60 s after it, seen at a tick.
	if closedAt == 0 || closedAt-start < 80e9 || closedAt-start > 90e9 {
		t.Fatalf("bob closed %d s after the open, want 80–90 s", (closedAt-start)/1e9)
	}
	if !f.s.IsOpen(16) || seq < 4 {
		t.Errorf("alice open %v after %d keep-alives", f.s.IsOpen(16), seq-1)
	}
}
