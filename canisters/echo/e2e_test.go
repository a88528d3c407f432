package echo_test

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/sha256"
	"errors"
	"fmt"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/icws/icws/agent"
	"github.com/icws/icws/canisters/echo"
	"github.com/icws/icws/ic/certificate"
	"github.com/icws/icws/ic/hashtree"
	"github.com/icws/icws/ic/identity"
	"github.com/icws/icws/ic/principal"
	"github.com/icws/icws/internal/wasmtest"
	"github.com/icws/icws/protocol"
	"github.com/icws/icws/replica"
)

// ic is the echo canister on a real replica whose clock the test moves, with agents for two
// gateways and for the clients' owner.
type ic struct {
	t        *testing.T
	ctx      context.Context
	rep      *replica.Replica
	canister principal.Principal
	offset   atomic.Int64 // added to the wall clock, ns
	verifier *certificate.Verifier
	gwA, gwB *agent.Agent
	user     *agent.Agent
}

func (e *ic) now() time.Time { return time.Now().Add(time.Duration(e.offset.Load())) }

// hosts are the two ways the echo canister runs: native Go in the replica's process, and the
// IC Wasm module icws build makes of the same source.
var hosts = []string{"native", "wasm"}

// echoSpec is the echo canister as host runs it, controlled by controller.
func echoSpec(t *testing.T, host string, controller principal.Principal) replica.CanisterSpec {
	if host == "wasm" {
		return replica.CanisterSpec{Name: "echo", Wasm: wasmtest.Build(t, wasmtest.Echo).Wasm, Controllers: []principal.Principal{controller}}
	}
	return replica.CanisterSpec{Name: "echo", New: echo.New, Controllers: []principal.Principal{controller}}
}

func newIC(t *testing.T, host string) *ic {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	t.Cleanup(cancel)
	e := &ic{t: t, ctx: ctx}
	userID, err := identity.GenerateEd25519()
	if err != nil {
		t.Fatal(err)
	}
	rep, err := replica.Start(ctx, replica.Config{
		WasmCacheDir: wasmtest.CacheDir(),
		Canisters:    []replica.CanisterSpec{echoSpec(t, host, userID.Sender())},
		Clock:        e.now,
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { rep.Close() })
	e.rep = rep
	var ok bool
	if e.canister, ok = rep.CanisterID("echo"); !ok {
		t.Fatal("no echo canister")
	}
	if e.verifier, err = certificate.NewVerifier(certificate.VerifierConfig{RootKey: rep.RootKey(), Clock: e.now}); err != nil {
		t.Fatal(err)
	}
	e.gwA, e.gwB, e.user = e.agent(nil), e.agent(nil), e.agent(userID)
	return e
}

func (e *ic) agent(id identity.Identity) *agent.Agent {
	if id == nil {
		var err error
		if id, err = identity.GenerateEd25519(); err != nil {
			e.t.Fatal(err)
		}
	}
	a, err := agent.New(agent.Config{URL: e.rep.URL(), Identity: id, RootKey: e.rep.RootKey(), Clock: e.now})
	if err != nil {
		e.t.Fatal(err)
	}
	e.t.Cleanup(a.CloseIdleConnections)
	return a
}

type client struct {
	id   uint64
	key  ed25519.PrivateKey
	next uint64 // next expected incoming
}

func (e *ic) register() *client {
	e.t.Helper()
	_, key, _ := ed25519.GenerateKey(nil)
	c := &client{key: key}
	if err := e.user.Call(e.ctx, e.canister, "ws_register", []byte(key.Public().(ed25519.PublicKey)), &c.id); err != nil {
		e.t.Fatalf("ws_register: %v", err)
	}
	return c
}

func (e *ic) open(gw *agent.Agent, c *client, canister string) (bool, error) {
	s1 := protocol.FirstMessage{CanisterID: canister, ClientID: c.id}.Marshal()
	var ok bool
	err := gw.Call(e.ctx, e.canister, "ws_open", agent.Args{s1, ed25519.Sign(c.key, s1)}, &ok)
	return ok, err
}

func (e *ic) frame(c *client, seq uint64, text string) []byte {
	return protocol.SignClientMessage(c.key, &protocol.WebsocketMessage{
		ClientID: c.id, SequenceNum: seq, Timestamp: 1 << 53, Message: protocol.AppMessage{Text: text}.Marshal(),
	})
}

func (e *ic) relay(gw *agent.Agent, frame []byte) (bool, error) {
	var ok bool
	err := gw.Call(e.ctx, e.canister, "ws_message", frame, &ok)
	return ok, err
}

// poll fetches a gateway's batch and checks it as a client does: the certificate against the
// replica's root key, the witness against the certified data, each message's hash.
func (e *ic) poll(gw *agent.Agent, nonce uint64) []protocol.WebsocketMessage {
	e.t.Helper()
	var cm protocol.CertMessages
	if err := gw.Query(e.ctx, e.canister, "ws_get_messages", nonce, &cm); err != nil {
		e.t.Fatalf("ws_get_messages: %v", err)
	}
	if len(cm.Messages) == 0 {
		return nil
	}
	cert, err := e.verifier.Verify(cm.Cert, e.canister)
	if err != nil {
		e.t.Fatalf("certificate: %v", err)
	}
	r := cert.Lookup([]byte("canister"), e.canister.Bytes(), []byte("certified_data"))
	tree, err := hashtree.Unmarshal(cm.Tree)
	if err != nil {
		e.t.Fatal(err)
	}
	if root := hashtree.Digest(tree); r.Status != hashtree.Found || !bytes.Equal(r.Value, root[:]) {
		e.t.Fatalf("certified data %v %x does not match the witness %x", r.Status, r.Value, root)
	}
	var out []protocol.WebsocketMessage
	for _, m := range cm.Messages {
		sum := sha256.Sum256(m.Val)
		if l := hashtree.Lookup(tree, []byte("websocket"), []byte(m.Key)); l.Status != hashtree.Found || !bytes.Equal(l.Value, sum[:]) {
			e.t.Fatalf("key %s: %v", m.Key, l.Status)
		}
		if g, _, err := protocol.ParseKey(m.Key); err != nil || g != gw.Sender().String() {
			e.t.Fatalf("key %s is not the gateway's", m.Key)
		}
		w, err := protocol.DecodeWebsocketMessage(m.Val)
		if err != nil || w.ClientID != m.ClientID {
			e.t.Fatalf("val: %+v, %v", w, err)
		}
		out = append(out, w)
	}
	return out
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

// texts returns the texts of c's messages in order, checking their sequence numbers.
func texts(t *testing.T, c *client, ms []protocol.WebsocketMessage) []string {
	t.Helper()
	var out []string
	for _, m := range ms {
		if m.ClientID != c.id || m.SequenceNum < c.next {
			continue
		}
		if m.SequenceNum != c.next {
			t.Fatalf("client %d: sequence number %d, want %d", c.id, m.SequenceNum, c.next)
		}
		c.next++
		a, err := protocol.DecodeAppMessage(m.Message)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, a.Text)
	}
	return out
}

func wantReject(t *testing.T, err error, text string) {
	t.Helper()
	var re *agent.RejectError
	if !errors.As(err, &re) || !strings.Contains(err.Error(), text) {
		t.Fatalf("error = %v, want a reject saying %q", err, text)
	}
}

func TestEndToEnd(t *testing.T) {
	for _, host := range hosts {
		t.Run(host, func(t *testing.T) { testEndToEnd(t, newIC(t, host)) })
	}
}

func testEndToEnd(t *testing.T, e *ic) {
	self := e.canister.String()
	c := e.register()
	if c.id != 16 {
		t.Errorf("first client id = %d", c.id)
	}

	// Open: a forged signature, a wrong canister id, an unknown client, then a good one.
	s1 := protocol.FirstMessage{CanisterID: self, ClientID: c.id}.Marshal()
	other := e.register()
	var ok bool
	if err := e.gwA.Call(e.ctx, e.canister, "ws_open", agent.Args{s1, ed25519.Sign(other.key, s1)}, &ok); err != nil || ok {
		t.Fatalf("forged ws_open = %v, %v", ok, err)
	}
	_, err := e.open(e.gwA, c, "aaaaa-aa")
	wantReject(t, err, "ws_open: the first message is for canister aaaaa-aa, this is "+self)
	_, err = e.open(e.gwA, &client{id: 999, key: c.key}, self)
	wantReject(t, err, "ws_open: unknown client 999")
	if ok, err := e.open(e.gwA, c, self); !ok || err != nil {
		t.Fatalf("ws_open = %v, %v", ok, err)
	}
	if got := texts(t, c, e.poll(e.gwA, 0)); len(got) != 1 || got[0] != "ping" {
		t.Fatalf("after open: %q", got)
	}

	// Messages in order; a replay and a reorder are refused; the wrong gateway traps.
	for i, text := range []string{"ping-pong", "two", "three"} {
		if ok, err := e.relay(e.gwA, e.frame(c, uint64(i), text)); !ok || err != nil {
			t.Fatalf("message %d: %v, %v", i, ok, err)
		}
	}
	if ok, err := e.relay(e.gwA, e.frame(c, 1, "again")); ok || err != nil {
		t.Errorf("replay = %v, %v", ok, err)
	}
	if ok, err := e.relay(e.gwA, e.frame(c, 4, "early")); ok || err != nil {
		t.Errorf("reorder = %v, %v", ok, err)
	}
	_, err = e.relay(e.gwB, e.frame(c, 3, "elsewhere"))
	wantReject(t, err, fmt.Sprintf("ws_message: client %d is bound to another gateway", c.id))
	got := texts(t, c, e.poll(e.gwA, 0))
	if strings.Join(got, "|") != "ping-pong ping|two ping|three ping" {
		t.Fatalf("replies %q", got)
	}
	var st protocol.Stats
	if err := e.user.Query(e.ctx, e.canister, "ws_stats", nil, &st); err != nil {
		t.Fatal(err)
	}
	if st.Rejected != 3 || st.Received != 3 || st.OpenClients != 1 {
		t.Errorf("stats %+v", st)
	}

	// Reconnection through gateway B moves the queue there.
	if ok, err := e.open(e.gwB, c, self); !ok || err != nil {
		t.Fatalf("reconnect: %v, %v", ok, err)
	}
	if n := len(e.poll(e.gwA, 0)); n != 0 {
		t.Errorf("gateway A still has %d messages", n)
	}
	c.next = 0
	if got := texts(t, c, e.poll(e.gwB, 0)); len(got) != 4 {
		t.Errorf("gateway B got %q", got)
	}

	// Close: only the bound gateway (or the owner) may. The gateway's detaches the client: no
	// more messages through it until the client opens again.
	wantReject(t, e.gwA.Call(e.ctx, e.canister, "ws_close", c.id), "is neither the gateway nor the owner")
	if err := e.gwB.Call(e.ctx, e.canister, "ws_close", c.id); err != nil {
		t.Fatal(err)
	}
	_, err = e.relay(e.gwB, e.frame(c, 3, "gone"))
	wantReject(t, err, fmt.Sprintf("ws_message: client %d is not open", c.id))
}

func TestGarbageCollectionAfterFiveMinutes(t *testing.T) {
	for _, host := range hosts {
		t.Run(host, func(t *testing.T) { testGarbageCollection(t, newIC(t, host)) })
	}
}

func testGarbageCollection(t *testing.T, e *ic) {
	self := e.canister.String()
	c := e.register()
	if ok, err := e.open(e.gwA, c, self); !ok || err != nil {
		t.Fatal(ok, err)
	}
	for i := 0; i < 5; i++ {
		if ok, err := e.relay(e.gwA, e.frame(c, uint64(i), fmt.Sprint(i))); !ok || err != nil {
			t.Fatal(ok, err)
		}
	}
	if n := len(e.poll(e.gwA, 0)); n != 6 {
		t.Fatalf("%d messages queued", n)
	}
	// Five minutes and a bit of replica time later, the timer deletes them all. The clock moves
	// a minute at a time, so that certificates never look older than the agent accepts.
	var st protocol.Stats
	for i := 0; i < 6; i++ {
		e.offset.Add(int64(time.Minute))
		e.waitFor(func() bool {
			err := e.user.Query(e.ctx, e.canister, "ws_stats", nil, &st)
			return err == nil
		})
	}
	e.waitFor(func() bool {
		return e.user.Query(e.ctx, e.canister, "ws_stats", nil, &st) == nil && st.Queued == 0
	})
	if st.Queued != 0 || st.DroppedExpired != 6 {
		t.Fatalf("after 5 minutes: %+v", st)
	}
	if n := len(e.poll(e.gwA, 0)); n != 0 {
		t.Errorf("%d messages left", n)
	}
	// New messages are certified as before.
	if ok, err := e.relay(e.gwA, e.frame(c, 5, "later")); !ok || err != nil {
		t.Fatal(ok, err)
	}
	if got := e.poll(e.gwA, 0); len(got) != 1 || got[0].SequenceNum != 6 {
		t.Errorf("after GC: %+v", got)
	}
}
