package wasmhost_test

import (
	"bytes"
	"context"
	"errors"
	"path/filepath"
	"strings"
	"testing"

	"github.com/icws/icws/ic/candid"
	"github.com/icws/icws/ic/principal"
	"github.com/icws/icws/internal/moctest"
	"github.com/icws/icws/replica/wasmhost"
)

// compilers are the npm motoko packages the tests build with: wasm32 and wasm64 output.
var compilers = []struct{ name, pkg string }{
	{"moc3.9.7", "motoko"},
	{"moc4.10", "motoko4"},
}

// moc compiles testdata/<src> with the npm motoko package pkg.
func moc(t testing.TB, pkg, src string) []byte {
	t.Helper()
	return moctest.Compile(t, pkg, filepath.Join("testdata", src))
}

var (
	self   = principal.MustDecode("rrkah-fqaaa-aaaaa-aaaaq-cai")
	alice  = principal.MustDecode("2vxsx-fae")
	other  = principal.MustDecode("ryjl3-tyaaa-aaaaa-aaaba-cai")
	noArgs = []byte("DIDL\x00\x00")
)

type canister struct {
	t    testing.TB
	host wasmhost.Host
	mod  wasmhost.Module
	inst wasmhost.Instance
	time uint64
}

func newCanister(t testing.TB, pkg string) *canister {
	t.Helper()
	return newCanisterWith(t, pkg, wasmhost.Options{})
}

// newCanisterWith is newCanister on a host with the given options.
func newCanisterWith(t testing.TB, pkg string, opts wasmhost.Options) *canister {
	t.Helper()
	ctx := context.Background()
	h, err := wasmhost.New(ctx, opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = h.Close(ctx) })
	m, err := h.Compile(ctx, moc(t, pkg, "counter.mo"))
	if err != nil {
		t.Fatalf("Compile: %v", err)
	}
	inst, err := m.Instantiate(ctx, nil)
	if err != nil {
		t.Fatalf("Instantiate: %v", err)
	}
	c := &canister{t: t, host: h, mod: m, inst: inst, time: 1_700_000_000_000_000_000}
	if r := c.run(wasmhost.EntryInit, "", noArgs); r.Trap != "" {
		t.Fatalf("init trapped: %s", r.Trap)
	}
	return c
}

func (c *canister) msg(e wasmhost.Entry, method string, arg []byte) *wasmhost.Message {
	c.time += 1_000_000
	return &wasmhost.Message{Entry: e, Method: method, Caller: alice, Self: self, Arg: arg, Time: c.time,
		Replicated: e != wasmhost.EntryQuery, Status: wasmhost.StatusRunning, Cycles: 1e15,
		Controllers: []principal.Principal{alice}}
}

func (c *canister) run(e wasmhost.Entry, method string, arg []byte) *wasmhost.Result {
	return c.inst.Run(context.Background(), c.msg(e, method, arg))
}

// nat runs a method that replies one nat.
func (c *canister) nat(e wasmhost.Entry, method string) uint64 {
	c.t.Helper()
	r := c.run(e, method, noArgs)
	if !r.Replied {
		c.t.Fatalf("%s: no reply: %+v", method, r)
	}
	var n candid.Nat
	if err := candid.Unmarshal(r.Reply, &n); err != nil {
		c.t.Fatalf("%s: reply %x: %v", method, r.Reply, err)
	}
	v, ok := n.Uint64()
	if !ok {
		c.t.Fatalf("%s: reply %v is not a small nat", method, n)
	}
	return v
}

func marshal(t *testing.T, args ...any) []byte {
	t.Helper()
	b, err := candid.Marshal(args...)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestMotokoCanister(t *testing.T) {
	for _, mc := range compilers {
		t.Run(mc.name, func(t *testing.T) {
			c := newCanister(t, mc.pkg)
			info := c.mod.Info()
			if info.Wasm64 != (mc.pkg == "motoko4") {
				t.Errorf("Wasm64 = %v", info.Wasm64)
			}
			if !contains(info.Updates, "inc") || !contains(info.Queries, "get") || !info.HasInit {
				t.Errorf("info: updates %v queries %v init %v", info.Updates, info.Queries, info.HasInit)
			}
			if _, ok := info.Metadata["candid:service"]; !ok {
				t.Errorf("no candid:service metadata: %v", info.Metadata)
			}

			if got := c.nat(wasmhost.EntryUpdate, "inc"); got != 1 {
				t.Fatalf("inc = %d, want 1", got)
			}
			if got := c.nat(wasmhost.EntryQuery, "get"); got != 1 {
				t.Fatalf("get = %d, want 1", got)
			}
			// A query's changes are dropped.
			if got := c.nat(wasmhost.EntryQuery, "queryInc"); got != 2 {
				t.Fatalf("queryInc = %d, want 2", got)
			}
			if got := c.nat(wasmhost.EntryQuery, "get"); got != 1 {
				t.Fatalf("get after a query = %d, want 1", got)
			}

			// caller
			for _, e := range []struct {
				entry  wasmhost.Entry
				method string
			}{{wasmhost.EntryUpdate, "whoami"}, {wasmhost.EntryQuery, "whoamiQuery"}} {
				r := c.run(e.entry, e.method, noArgs)
				var p principal.Principal
				if err := candid.Unmarshal(r.Reply, &p); err != nil || p != alice {
					t.Errorf("%s = %v, %v; want %v", e.method, p, err, alice)
				}
			}

			// echo: argument and reply bytes
			r := c.run(wasmhost.EntryUpdate, "echo", marshal(t, "héllo"))
			var s string
			if err := candid.Unmarshal(r.Reply, &s); err != nil || s != "héllo" {
				t.Errorf("echo = %q, %v", s, err)
			}

			// A trap rolls everything back and keeps the prints.
			r = c.run(wasmhost.EntryUpdate, "incThenTrap", noArgs)
			if r.TrapKind != wasmhost.TrapExplicit || !strings.Contains(r.Trap, "assertion failed") {
				t.Errorf("incThenTrap: kind %d trap %q", r.TrapKind, r.Trap)
			}
			if !contains(r.Prints, "about to trap") {
				t.Errorf("prints = %q", r.Prints)
			}
			if r.Replied || r.Calls != nil {
				t.Errorf("a trapped message kept its effects: %+v", r)
			}
			if got := c.nat(wasmhost.EntryQuery, "get"); got != 1 {
				t.Fatalf("get after a trap = %d, want 1", got)
			}
			if got := c.nat(wasmhost.EntryUpdate, "inc"); got != 2 {
				t.Fatalf("inc after a trap = %d, want 2", got)
			}

			// certified data and the data certificate
			r = c.run(wasmhost.EntryUpdate, "setCert", marshal(t, []byte("hello")))
			if !r.CertifiedDataSet || string(r.CertifiedData) != "hello" {
				t.Errorf("setCert: %+v", r)
			}
			m := c.msg(wasmhost.EntryQuery, "cert", noArgs)
			m.DataCertificate = []byte("CERT")
			r = c.inst.Run(context.Background(), m)
			var cert *[]byte
			if err := candid.Unmarshal(r.Reply, &cert); err != nil || cert == nil || string(*cert) != "CERT" {
				t.Errorf("cert query: %v %v (%+v)", cert, err, r)
			}
			m = c.msg(wasmhost.EntryUpdate, "cert", noArgs)
			if r := c.inst.Run(context.Background(), m); r.TrapKind != wasmhost.TrapContractViolation {
				t.Errorf("a query method run as an update read a certificate: %+v", r)
			}
		})
	}
}

func TestMotokoCall(t *testing.T) {
	for _, mc := range compilers {
		t.Run(mc.name, func(t *testing.T) {
			c := newCanister(t, mc.pkg)
			r := c.run(wasmhost.EntryUpdate, "callOther", marshal(t, other.String()))
			if r.Trap != "" || r.Replied || len(r.Calls) != 1 {
				t.Fatalf("callOther: %+v", r)
			}
			call := r.Calls[0]
			if call.Callee != other || call.Method != "get" || !bytes.Equal(call.Arg, noArgs) {
				t.Fatalf("call = %+v", call)
			}
			m := c.msg(wasmhost.EntryReplyCallback, "", marshal(t, candid.NatOf(7)))
			m.Callback = call.Callback
			r = c.inst.Run(context.Background(), m)
			var n candid.Nat
			if err := candid.Unmarshal(r.Reply, &n); err != nil || n != candid.NatOf(7) {
				t.Fatalf("reply callback: %v %v (%+v)", n, err, r)
			}
		})
	}
}

func TestMotokoUpgrade(t *testing.T) {
	for _, mc := range compilers {
		t.Run(mc.name, func(t *testing.T) {
			ctx := context.Background()
			c := newCanister(t, mc.pkg)
			for range 3 {
				c.nat(wasmhost.EntryUpdate, "inc")
			}
			snap, err := c.inst.Snapshot()
			if err != nil {
				t.Fatal(err)
			}
			c.nat(wasmhost.EntryUpdate, "inc")
			if err := c.inst.Restore(snap); err != nil {
				t.Fatal(err)
			}
			if got := c.nat(wasmhost.EntryQuery, "get"); got != 3 {
				t.Fatalf("get after Restore = %d, want 3", got)
			}
			if err := c.inst.Restore(snap[:len(snap)-1]); !errors.Is(err, wasmhost.ErrBadSnapshot) {
				t.Errorf("Restore of a truncated snapshot: %v", err)
			}

			if r := c.run(wasmhost.EntryPreUpgrade, "", nil); r.Trap != "" {
				t.Fatalf("pre_upgrade: %s", r.Trap)
			}
			stable := c.inst.Stable()
			var inst wasmhost.Instance
			if _, eop := c.mod.Info().Metadata["enhanced-orthogonal-persistence"]; eop {
				inst, err = c.mod.InstantiateKeep(ctx, c.inst) // wasm_memory_persistence = opt keep
			} else {
				inst, err = c.mod.Instantiate(ctx, stable)
			}
			if err != nil {
				t.Fatal(err)
			}
			c.inst = inst
			if r := c.run(wasmhost.EntryPostUpgrade, "", noArgs); r.Trap != "" {
				t.Fatalf("post_upgrade: %s (stable memory %d bytes)", r.Trap, len(stable))
			}
			if got := c.nat(wasmhost.EntryQuery, "get"); got != 3 {
				t.Fatalf("get after upgrade = %d, want 3", got)
			}
		})
	}
}

func TestInvalidModule(t *testing.T) {
	ctx := context.Background()
	h, err := wasmhost.New(ctx, wasmhost.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer h.Close(ctx)
	for name, wasm := range map[string][]byte{
		"empty":     nil,
		"text":      []byte("(module)"),
		"version 2": []byte("\x00asm\x02\x00\x00\x00"),
		"truncated": []byte("\x00asm\x01\x00\x00\x00\x01\x05\x01"),
		"bad gzip":  []byte("\x1f\x8b\x08\x00garbage"),
	} {
		_, err := h.Compile(ctx, wasm)
		var ime *wasmhost.InvalidModuleError
		if !errors.As(err, &ime) {
			t.Errorf("%s: err = %v, want an InvalidModuleError", name, err)
		}
	}
}

func contains(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}
