//go:build wasmtime

package wasmhost_test

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"testing"

	"github.com/icws/icws/ic/candid"
	"github.com/icws/icws/ic/principal"
	"github.com/icws/icws/internal/wasmtest"
	"github.com/icws/icws/protocol"
	"github.com/icws/icws/replica/wasmhost"
)

// engines are the two Hosts: the replica's (wazy) and wasmtime, the IC's own engine family.
var engines = []struct {
	name string
	new  func(context.Context, wasmhost.Options) (wasmhost.Host, error)
}{
	{"wazy", wasmhost.New},
	{"wasmtime", wasmhost.NewWasmtime},
}

// step is one message of a scenario and what it gave.
type step struct {
	entry  wasmhost.Entry
	method string
	arg    func() []byte // evaluated as the step runs, after the steps before it
	caller principal.Principal
	// want, if set, checks the result beyond its equality across engines.
	want func(t *testing.T, r *wasmhost.Result)
}

// outcome is what one step gave on one engine.
type outcome struct {
	res  *wasmhost.Result
	fuel uint64
}

// runScenario runs steps on a fresh canister of wasm on engine e and returns each step's outcome.
func runScenario(t *testing.T, e int, wasm []byte, opts wasmhost.Options, init bool, steps func() []step) []outcome {
	t.Helper()
	ctx := context.Background()
	h, err := engines[e].new(ctx, opts)
	if err != nil {
		t.Fatal(err)
	}
	defer h.Close(ctx)
	mod, err := h.Compile(ctx, wasm)
	if err != nil {
		t.Fatalf("%s: Compile: %v", engines[e].name, err)
	}
	inst, err := mod.Instantiate(ctx, nil)
	if err != nil {
		t.Fatalf("%s: Instantiate: %v", engines[e].name, err)
	}
	defer inst.Close(ctx)
	now := uint64(1_780_000_000_000_000_000)
	var out []outcome
	all := steps()
	if init {
		all = append([]step{{entry: wasmhost.EntryInit, arg: fixed(noArgs), caller: alice}}, all...)
	}
	for _, s := range all {
		now += 1_000_000
		m := &wasmhost.Message{Entry: s.entry, Method: s.method, Caller: s.caller, Self: self, Arg: s.arg(), Time: now,
			Replicated: s.entry != wasmhost.EntryQuery, Status: wasmhost.StatusRunning, Cycles: 1e15,
			Controllers: []principal.Principal{alice}}
		if s.entry == wasmhost.EntryQuery {
			m.DataCertificate = []byte("a certificate the canister passes on unread")
		}
		r := inst.Run(ctx, m)
		o := outcome{res: r}
		if f, ok := inst.(wasmhost.FuelReporter); ok {
			o.fuel = f.LastFuel()
		}
		if s.want != nil {
			s.want(t, r)
		}
		out = append(out, o)
	}
	return out
}

// TestEnginesAgree runs the same instrumented modules — Motoko 3.9.7 (wasm32), Motoko 4.10
// (wasm64) and the echo canister built by icws build — on wazy and on wasmtime, and checks that
// every message gives the same reply, trap and instruction count on both (the metering is in the
// module, so the engine must not change it). It logs wasmtime's fuel beside the counts.
func TestEnginesAgree(t *testing.T) {
	limits := wasmhost.Limits{Update: 50_000_000, Query: 20_000_000}
	replied := func(t *testing.T, r *wasmhost.Result) {
		t.Helper()
		if !r.Replied || r.Trap != "" {
			t.Fatalf("no reply: %+v", r)
		}
	}
	trapped := func(kind wasmhost.TrapKind) func(t *testing.T, r *wasmhost.Result) {
		return func(t *testing.T, r *wasmhost.Result) {
			t.Helper()
			if r.TrapKind != kind {
				t.Fatalf("trap kind %v (%q), want %v", r.TrapKind, r.Trap, kind)
			}
		}
	}
	motoko := func() []step {
		return []step{
			{wasmhost.EntryUpdate, "inc", fixed(noArgs), alice, replied},
			{wasmhost.EntryQuery, "get", fixed(noArgs), alice, replied},
			{wasmhost.EntryQuery, "queryInc", fixed(noArgs), alice, replied},
			{wasmhost.EntryUpdate, "echo", fixed(marshal(t, "hello from both engines")), alice, replied},
			{wasmhost.EntryUpdate, "whoami", fixed(noArgs), other, replied},
			{wasmhost.EntryUpdate, "incThenTrap", fixed(noArgs), alice, trapped(wasmhost.TrapExplicit)},
			{wasmhost.EntryUpdate, "stableWrite", fixed(noArgs), alice, replied},
			{wasmhost.EntryQuery, "stableByte", fixed(noArgs), alice, replied},
			{wasmhost.EntryUpdate, "setCert", fixed(marshal(t, []byte("certified"))), alice, replied},
			{wasmhost.EntryUpdate, "spin", fixed(noArgs), alice, trapped(wasmhost.TrapInstructionLimit)},
			{wasmhost.EntryQuery, "spinQuery", fixed(noArgs), alice, trapped(wasmhost.TrapInstructionLimit)},
			{wasmhost.EntryUpdate, "inc", fixed(noArgs), alice, replied},
		}
	}
	cases := []struct {
		name   string
		wasm   func(t *testing.T) []byte
		init   bool
		steps  func() []step
		wasm64 bool
	}{
		{"moc3.9.7", func(t *testing.T) []byte { return moc(t, "motoko", "counter.mo") }, true, motoko, false},
		{"moc4.10", func(t *testing.T) []byte { return moc(t, "motoko4", "counter.mo") }, true, motoko, true},
		{"echo", func(t *testing.T) []byte { return wasmtest.Build(t, wasmtest.Echo).Wasm }, false, echoSteps(t), false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			wasm := tc.wasm(t)
			got := [2][]outcome{}
			for e := range engines {
				got[e] = runScenario(t, e, wasm, wasmhost.Options{Limits: limits}, tc.init, tc.steps)
			}
			a, b := got[0], got[1]
			if len(a) != len(b) {
				t.Fatalf("%d and %d steps", len(a), len(b))
			}
			for k := range a {
				ra, rb := a[k].res, b[k].res
				if ra.Instructions != rb.Instructions {
					t.Errorf("step %d: %d instructions on wazy, %d on wasmtime", k, ra.Instructions, rb.Instructions)
				}
				if ra.Replied != rb.Replied || !bytes.Equal(ra.Reply, rb.Reply) || ra.TrapKind != rb.TrapKind ||
					!bytes.Equal(ra.CertifiedData, rb.CertifiedData) || len(ra.Calls) != len(rb.Calls) {
					t.Errorf("step %d differs:\n wazy     %+v\n wasmtime %+v", k, ra, rb)
				}
				if ra.Instructions == 0 {
					t.Errorf("step %d: no instructions counted", k)
				}
				t.Logf("step %2d: %12d instructions on both, wasmtime fuel %12d (fuel/instructions %.2f), trap %q",
					k, ra.Instructions, b[k].fuel, float64(b[k].fuel)/float64(ra.Instructions), rb.Trap)
			}
		})
	}
}

// echoSteps is a WebSocket session on the echo canister: register, open, three messages,
// get_messages and stats, with a fixed key so that both engines see the same bytes.
func echoSteps(t *testing.T) func() []step {
	return func() []step {
		key := ed25519.NewKeyFromSeed(bytes.Repeat([]byte{7}, 32))
		pub := key.Public().(ed25519.PublicKey)
		owner, gateway := principal.SelfAuthenticating([]byte("owner")), principal.SelfAuthenticating([]byte("gateway"))
		var id uint64
		replied := func(t *testing.T, r *wasmhost.Result) {
			t.Helper()
			if !r.Replied || r.Trap != "" {
				t.Fatalf("no reply: %+v", r)
			}
		}
		steps := []step{{wasmhost.EntryUpdate, "ws_register", fixed(marshal(t, []byte(pub))), owner, func(t *testing.T, r *wasmhost.Result) {
			replied(t, r)
			if err := candid.Unmarshal(r.Reply, &id); err != nil {
				t.Fatal(err)
			}
		}}}
		// The later arguments use the client id that ws_register gave on this engine.
		s1 := func() []byte { return protocol.FirstMessage{CanisterID: self.String(), ClientID: id}.Marshal() }
		steps = append(steps, step{wasmhost.EntryUpdate, "ws_open", func() []byte { return marshal(t, s1(), ed25519.Sign(key, s1())) }, gateway, replied})
		for seq := uint64(0); seq < 3; seq++ {
			frame := func() []byte {
				return marshal(t, protocol.SignClientMessage(key, &protocol.WebsocketMessage{ClientID: id, SequenceNum: seq,
					Timestamp: 1_780_000_000_000_000_000, Message: protocol.AppMessage{Text: "hello"}.Marshal()}))
			}
			steps = append(steps, step{wasmhost.EntryUpdate, "ws_message", frame, gateway, replied})
		}
		steps = append(steps,
			step{wasmhost.EntryQuery, "ws_get_messages", fixed(marshal(t, uint64(0))), gateway, replied},
			step{wasmhost.EntryQuery, "ws_stats", fixed(marshal(t)), gateway, replied},
		)
		return steps
	}
}

// fixed is an argument known before the scenario runs.
func fixed(b []byte) func() []byte { return func() []byte { return b } }
