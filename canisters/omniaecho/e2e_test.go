package omniaecho_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/icws/icws/agent"
	"github.com/icws/icws/canisters/omniaecho"
	"github.com/icws/icws/ic/candid"
	"github.com/icws/icws/ic/certificate"
	"github.com/icws/icws/ic/hashtree"
	"github.com/icws/icws/ic/identity"
	"github.com/icws/icws/ic/principal"
	"github.com/icws/icws/internal/wasmtest"
	"github.com/icws/icws/protocol/omnia"
	"github.com/icws/icws/replica"
)

// omniaEchoPackage is this package, for wasmtest.Build.
const omniaEchoPackage = "github.com/icws/icws/canisters/omniaecho"

// hosts are the two ways the canister runs: native Go in the replica's process, and the IC Wasm
// module icws build makes of the same source.
var hosts = []string{"native", "wasm"}

// ic is the canister on a real replica whose clock the test moves, with two gateway agents
// (Ed25519, as Omnia's gateway) that poll and close.
type ic struct {
	t        *testing.T
	ctx      context.Context
	rep      *replica.Replica
	canister principal.Principal
	offset   atomic.Int64 // added to the wall clock, ns
	verifier *certificate.Verifier
	gwA, gwB *agent.Agent
	user     *agent.Agent // the canister's controller
}

func (e *ic) now() time.Time { return time.Now().Add(time.Duration(e.offset.Load())) }

func newIC(t *testing.T, host string) *ic {
	ctx, cancel := context.WithTimeout(context.Background(), 120*time.Second)
	t.Cleanup(cancel)
	e := &ic{t: t, ctx: ctx}
	userID := mustIdentity(t, identity.GenerateEd25519)
	spec := replica.CanisterSpec{Name: "omnia-echo", New: omniaecho.New}
	if host == "wasm" {
		spec = replica.CanisterSpec{Name: "omnia-echo", Wasm: wasmtest.Build(t, omniaEchoPackage).Wasm, Controllers: []principal.Principal{userID.Sender()}}
	}
	rep, err := replica.Start(ctx, replica.Config{WasmCacheDir: wasmtest.CacheDir(), Canisters: []replica.CanisterSpec{spec}, Clock: e.now})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { rep.Close() })
	e.rep = rep
	var ok bool
	if e.canister, ok = rep.CanisterID("omnia-echo"); !ok {
		t.Fatal("no omnia-echo canister")
	}
	if e.verifier, err = certificate.NewVerifier(certificate.VerifierConfig{RootKey: rep.RootKey(), Clock: e.now}); err != nil {
		t.Fatal(err)
	}
	e.gwA, e.gwB = e.agent(mustIdentity(t, identity.GenerateEd25519)), e.agent(mustIdentity(t, identity.GenerateEd25519))
	e.user = e.agent(userID)
	return e
}

func mustIdentity[T identity.Identity](t *testing.T, gen func() (T, error)) identity.Identity {
	id, err := gen()
	if err != nil {
		t.Fatal(err)
	}
	return id
}

func (e *ic) agent(id identity.Identity) *agent.Agent {
	a, err := agent.New(agent.Config{URL: e.rep.URL(), Identity: id, RootKey: e.rep.RootKey(), Clock: e.now})
	if err != nil {
		e.t.Fatal(err)
	}
	e.t.Cleanup(a.CloseIdleConnections)
	return a
}

// client is an ic-websocket-js client: its own secp256k1 identity (generateRandomIdentity's
// kind) signs its ws_open and ws_message calls, which a gateway relays unchanged, so calling
// with its agent is what the canister sees.
type client struct {
	a        *agent.Agent
	key      omnia.ClientKey
	gw       *agent.Agent
	outSeq   uint64 // last sent
	inSeq    uint64 // next expected from the canister
	received []string
}

func (e *ic) newClient(gw *agent.Agent, nonce uint64) *client {
	a := e.agent(mustIdentity(e.t, identity.GenerateSecp256k1))
	return &client{a: a, key: omnia.ClientKey{Principal: a.Sender(), Nonce: nonce}, gw: gw, inSeq: 1}
}

func (e *ic) call(a *agent.Agent, method string, arg []byte) error {
	r, err := a.CallRaw(e.ctx, e.canister, method, arg)
	if err != nil {
		return err
	}
	return omnia.DecodeResult(r)
}

func (e *ic) open(c *client) error {
	return e.call(c.a, omnia.MethodOpen, omnia.EncodeOpenArgs(omnia.OpenArgs{ClientNonce: c.key.Nonce, GatewayPrincipal: c.gw.Sender()}))
}

func (e *ic) sendRaw(c *client, seq uint64, service bool, content []byte) error {
	m := omnia.WebsocketMessage{Key: c.key, SequenceNum: seq, Timestamp: uint64(e.now().UnixNano()), IsServiceMessage: service, Content: content}
	return e.call(c.a, omnia.MethodMessage, omnia.EncodeMessageArgs(omnia.MessageArgs{Msg: m}))
}

func (e *ic) send(c *client, text string) error {
	b, err := candid.Marshal(omniaecho.AppMessage{Text: text, Timestamp: uint64(e.now().UnixNano())})
	if err != nil {
		e.t.Fatal(err)
	}
	c.outSeq++
	return e.sendRaw(c, c.outSeq, false, b)
}

func (e *ic) keepAlive(c *client) error {
	b, err := omnia.EncodeServiceMessage(omnia.ServiceMessage{KeepAlive: &omnia.KeepAliveMessage{LastIncomingSequenceNum: c.inSeq - 1}})
	if err != nil {
		e.t.Fatal(err)
	}
	c.outSeq++
	return e.sendRaw(c, c.outSeq, true, b)
}

// poll fetches gw's messages from nonce and delivers each to its client as ic-websocket-js's
// isMessageBodyValid and onWsMessage do: the certificate verified against the replica's root
// key (BLS signature, canister range, age), reconstruct(tree) equal to the canister's certified
// data, websocket/<key> equal to SHA-256(content), then the sequence number and the service
// message. It returns the next nonce.
func (e *ic) poll(gw *agent.Agent, nonce uint64, clients ...*client) uint64 {
	e.t.Helper()
	r, err := gw.QueryRaw(e.ctx, e.canister, omnia.MethodGetMessages, omnia.EncodeGetMessagesArgs(omnia.GetMessagesArgs{Nonce: nonce}))
	if err != nil {
		e.t.Fatalf("ws_get_messages: %v", err)
	}
	return e.deliverBatch(gw, nonce, r, clients)
}

// pollWhenReady is poll once the replica answers: right after the test moved the clock, the
// replica's certified state is older than the agent accepts until its next round.
func (e *ic) pollWhenReady(gw *agent.Agent, nonce uint64, clients ...*client) uint64 {
	e.t.Helper()
	var r []byte
	e.waitFor(func() bool {
		var err error
		r, err = gw.QueryRaw(e.ctx, e.canister, omnia.MethodGetMessages, omnia.EncodeGetMessagesArgs(omnia.GetMessagesArgs{Nonce: nonce}))
		return err == nil
	})
	return e.deliverBatch(gw, nonce, r, clients)
}

func (e *ic) deliverBatch(gw *agent.Agent, nonce uint64, r []byte, clients []*client) uint64 {
	e.t.Helper()
	cm, err := omnia.DecodeGetMessagesResult(r)
	if err != nil {
		e.t.Fatalf("ws_get_messages: %v", err)
	}
	if len(cm.Messages) == 0 {
		return nonce
	}
	cert, err := e.verifier.Verify(cm.Cert, e.canister)
	if err != nil {
		e.t.Fatalf("certificate: %v", err)
	}
	tree, err := hashtree.Unmarshal(cm.Tree)
	if err != nil {
		e.t.Fatal(err)
	}
	cd := cert.Lookup([]byte("canister"), e.canister.Bytes(), []byte("certified_data"))
	if root := hashtree.Digest(tree); cd.Status != hashtree.Found || !bytes.Equal(cd.Value, root[:]) {
		e.t.Fatalf("certified data %v %x is not the witness's root %x", cd.Status, cd.Value, root)
	}
	for _, m := range cm.Messages {
		sum := sha256.Sum256(m.Content)
		if l := hashtree.Lookup(tree, []byte("websocket"), []byte(m.MessageKey)); l.Status != hashtree.Found || !bytes.Equal(l.Value, sum[:]) {
			e.t.Fatalf("key %s: %v", m.MessageKey, l.Status)
		}
		g, n, err := omnia.ParseKey(m.MessageKey)
		if err != nil || !g.Equal(gw.Sender()) || n < nonce {
			e.t.Fatalf("key %s is not the gateway's from %d: %v", m.MessageKey, nonce, err)
		}
		nonce = n + 1
		for _, c := range clients {
			if c.key.Equal(m.Key) {
				e.deliver(c, m.Content)
			}
		}
	}
	return nonce
}

func (e *ic) deliver(c *client, content []byte) {
	e.t.Helper()
	m, err := omnia.UnmarshalWebsocketMessage(content)
	if err != nil {
		e.t.Fatal(err)
	}
	if m.SequenceNum != c.inSeq || !m.Key.Equal(c.key) {
		e.t.Fatalf("client %s: sequence number %d (want %d), key %v", c.key, m.SequenceNum, c.inSeq, m.Key)
	}
	c.inSeq++
	if !m.IsServiceMessage {
		var a omniaecho.AppMessage
		if err := candid.Unmarshal(m.Content, &a); err != nil {
			e.t.Fatal(err)
		}
		c.received = append(c.received, a.Text)
		return
	}
	sm, err := omnia.DecodeServiceMessage(m.Content)
	if err != nil {
		e.t.Fatal(err)
	}
	switch {
	case sm.Open != nil:
		if !sm.Open.Key.Equal(c.key) {
			e.t.Fatalf("OpenMessage for %v, want %v", sm.Open.Key, c.key)
		}
		c.received = append(c.received, "<open>")
	case sm.Ack != nil:
		c.received = append(c.received, fmt.Sprintf("<ack %d>", sm.Ack.LastIncomingSequenceNum))
	case sm.Close != nil:
		c.received = append(c.received, "<close "+sm.Close.Reason.String()+">")
	default:
		e.t.Fatalf("client got a service message it cannot get: %+v", sm)
	}
}

func wantErr(t *testing.T, err error, text string) {
	t.Helper()
	var ce *omnia.CanisterError
	if !errors.As(err, &ce) || !strings.Contains(ce.Text, text) {
		t.Fatalf("got %v, want Err containing %q", err, text)
	}
}

// waitFor polls cond until it holds, for at most 20 seconds.
func (e *ic) waitFor(cond func() bool) {
	e.t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			e.t.Fatal("condition not met in 20 s")
		}
		select {
		case <-e.ctx.Done():
			e.t.Fatal(e.ctx.Err())
		case <-time.After(20 * time.Millisecond):
		}
	}
}

func TestEndToEnd(t *testing.T) {
	for _, host := range hosts {
		t.Run(host, func(t *testing.T) { testEndToEnd(t, newIC(t, host)) })
	}
}

func testEndToEnd(t *testing.T, e *ic) {
	alice := e.newClient(e.gwA, 18348328367289883422)
	if err := e.open(alice); err != nil {
		t.Fatalf("ws_open: %v", err)
	}
	next := e.poll(e.gwA, 0, alice)
	if got := strings.Join(alice.received, "|"); got != "<open>" || next != 1 {
		t.Fatalf("after open: %q, next nonce %d", got, next)
	}
	for _, text := range []string{"hello", "two", "three"} {
		if err := e.send(alice, text); err != nil {
			t.Fatalf("ws_message %q: %v", text, err)
		}
	}
	next = e.poll(e.gwA, next, alice)
	if got := strings.Join(alice.received, "|"); got != "<open>|hello|two|three" || next != 4 {
		t.Fatalf("echoes: %q, next nonce %d", got, next)
	}

	// Wrong callers: the gateway cannot send as the client, another gateway cannot close it, the
	// client cannot close itself, the anonymous principal cannot open.
	m, _ := candid.Marshal(omniaecho.AppMessage{Text: "forged"})
	wantErr(t, e.call(e.gwA, omnia.MethodMessage, omnia.EncodeMessageArgs(omnia.MessageArgs{Msg: omnia.WebsocketMessage{Key: alice.key, SequenceNum: 4, Content: m}})),
		"doesn't have an open connection")
	closeArg := omnia.EncodeCloseArgs(omnia.CloseArgs{Key: alice.key})
	wantErr(t, e.call(e.gwB, omnia.MethodClose, closeArg), "is not registered")
	wantErr(t, e.call(alice.a, omnia.MethodClose, closeArg), "is not registered")
	anon := e.agent(identity.Anonymous())
	wantErr(t, e.call(anon, omnia.MethodOpen, omnia.EncodeOpenArgs(omnia.OpenArgs{ClientNonce: 1, GatewayPrincipal: e.gwA.Sender()})), "Anonymous principal is not allowed")
	// Another gateway's poll sees nothing of alice's.
	if n := e.poll(e.gwB, 0); n != 0 {
		t.Errorf("gateway B polled up to %d", n)
	}

	// Bob, on gateway B, sends out of order: his connection closes with WrongSequenceNumber.
	bob := e.newClient(e.gwB, 7)
	if err := e.open(bob); err != nil {
		t.Fatal(err)
	}
	bob.outSeq = 1
	wantErr(t, e.send(bob, "skipped one"), "Expected incoming sequence number 1 but got 2")
	e.poll(e.gwB, 0, bob)
	if got := strings.Join(bob.received, "|"); got != "<open>|<close WrongSequenceNumber>" {
		t.Fatalf("bob: %q", got)
	}
	wantErr(t, e.send(bob, "after"), "doesn't have an open connection")

	// Alice's gateway closes her connection; she is gone.
	if err := e.call(e.gwA, omnia.MethodClose, closeArg); err != nil {
		t.Fatalf("ws_close: %v", err)
	}
	wantErr(t, e.send(alice, "gone"), "doesn't have an open connection")
	if n := e.poll(e.gwA, next, alice); n != next {
		t.Errorf("messages after the close")
	}
}

// TestKeepAlive: after the ack interval every client gets an AckMessage; alice answers with a
// KeepAliveMessage and stays, bob does not and is closed with KeepAliveTimeout.
func TestKeepAlive(t *testing.T) {
	for _, host := range hosts {
		t.Run(host, func(t *testing.T) { testKeepAlive(t, newIC(t, host)) })
	}
}

func testKeepAlive(t *testing.T, e *ic) {
	alice, bob := e.newClient(e.gwA, 1), e.newClient(e.gwA, 2)
	for _, c := range []*client{alice, bob} {
		if err := e.open(c); err != nil {
			t.Fatal(err)
		}
	}
	if err := e.send(alice, "before"); err != nil {
		t.Fatal(err)
	}
	next := e.poll(e.gwA, 0, alice, bob)
	// Five minutes and a bit, a minute at a time so that certificates never look older than the
	// verifier accepts; then the next timer tick sends the acks.
	for range 5 {
		e.offset.Add(int64(time.Minute))
		e.pollWhenReady(e.gwA, next)
	}
	e.offset.Add(int64(15 * time.Second))
	e.waitFor(func() bool {
		next = e.pollWhenReady(e.gwA, next, alice, bob)
		return strings.HasSuffix(strings.Join(bob.received, "|"), "<ack 0>")
	})
	if got := strings.Join(alice.received, "|"); got != "<open>|before|<ack 1>" {
		t.Fatalf("alice: %q", got)
	}
	if err := e.keepAlive(alice); err != nil {
		t.Fatalf("keep-alive: %v", err)
	}
	e.offset.Add(int64(75 * time.Second))
	e.waitFor(func() bool {
		next = e.pollWhenReady(e.gwA, next, alice, bob)
		return strings.HasSuffix(strings.Join(bob.received, "|"), "<close KeepAliveTimeout>")
	})
	if err := e.send(alice, "still here"); err != nil {
		t.Fatalf("alice after the deadline: %v", err)
	}
	wantErr(t, e.send(bob, "too late"), "doesn't have an open connection")
	e.poll(e.gwA, next, alice, bob)
	if got := strings.Join(alice.received, "|"); got != "<open>|before|<ack 1>|still here" {
		t.Errorf("alice: %q", got)
	}
}
