package echo_test

import (
	"strings"
	"testing"

	"github.com/icws/icws/ic/candid"
	"github.com/icws/icws/ic/principal"
	"github.com/icws/icws/internal/wasmtest"
	"github.com/icws/icws/protocol"
)

// The management canister's install_code argument, as much of it as an upgrade needs.
type installMode struct {
	Upgrade **struct{} `candid:"upgrade,variant"`
}

type installCodeArgs struct {
	Mode       installMode         `candid:"mode"`
	CanisterID principal.Principal `candid:"canister_id"`
	WasmModule []byte              `candid:"wasm_module"`
	Arg        []byte              `candid:"arg"`
}

// TestUpgradeKeepsClients upgrades the echo canister to its Wasm build through the management
// canister while a client is open with replies queued: after the upgrade the queued replies are
// still there, certified, and the client goes on sending and receiving with no gap in either
// direction. From the Wasm build, and from the native (Go) canister, whose PreUpgrade the
// replica runs and hands to the Wasm code's PostUpgrade through stable memory.
func TestUpgradeKeepsClients(t *testing.T) {
	for _, host := range []string{"wasm", "native"} {
		t.Run(host, func(t *testing.T) { testUpgradeKeepsClients(t, host) })
	}
}

func testUpgradeKeepsClients(t *testing.T, host string) {
	e := newIC(t, host)
	self := e.canister.String()
	c := e.register()
	idle := e.register() // registered, never opened: kept too
	if ok, err := e.open(e.gwA, c, self); !ok || err != nil {
		t.Fatal(ok, err)
	}
	for i, text := range []string{"one", "two"} {
		if ok, err := e.relay(e.gwA, e.frame(c, uint64(i), text)); !ok || err != nil {
			t.Fatal(ok, err)
		}
	}
	var before protocol.Stats
	if err := e.user.Query(e.ctx, e.canister, "ws_stats", nil, &before); err != nil {
		t.Fatal(err)
	}
	// Read only the first reply before the upgrade; the other two stay queued.
	if got := texts(t, c, e.poll(e.gwA, 0)[:1]); strings.Join(got, "|") != "ping" {
		t.Fatalf("before the upgrade: %q", got)
	}

	var opt *struct{}
	upgrade := installCodeArgs{Mode: installMode{Upgrade: &opt}, CanisterID: e.canister,
		WasmModule: wasmtest.Gzip(t, wasmtest.Echo), Arg: mustMarshal(t)}
	if err := e.gwA.Call(e.ctx, principal.Management(), "install_code", upgrade); err == nil {
		t.Fatal("a gateway (not a controller) upgraded the canister")
	}
	if err := e.user.Call(e.ctx, principal.Management(), "install_code", upgrade); err != nil {
		t.Fatalf("upgrade: %v", err)
	}

	var after protocol.Stats
	if err := e.user.Query(e.ctx, e.canister, "ws_stats", nil, &after); err != nil {
		t.Fatal(err)
	}
	if after != before {
		t.Errorf("stats changed across the upgrade:\n before %+v\n after  %+v", before, after)
	}
	// The queued replies, certified by the new code's certified data, then new traffic.
	if got := texts(t, c, e.poll(e.gwA, 0)); strings.Join(got, "|") != "one ping|two ping" {
		t.Fatalf("queued across the upgrade: %q", got)
	}
	if ok, err := e.relay(e.gwA, e.frame(c, 1, "replay")); ok || err != nil {
		t.Errorf("a replayed frame after the upgrade = %v, %v", ok, err)
	}
	if ok, err := e.relay(e.gwA, e.frame(c, 2, "three")); !ok || err != nil {
		t.Fatalf("after the upgrade: %v, %v", ok, err)
	}
	if got := texts(t, c, e.poll(e.gwA, 0)); strings.Join(got, "|") != "three ping" {
		t.Fatalf("after the upgrade: %q", got)
	}
	if ok, err := e.open(e.gwB, idle, self); !ok || err != nil {
		t.Fatalf("the client registered before the upgrade cannot open: %v, %v", ok, err)
	}
}

func mustMarshal(t *testing.T) []byte {
	b, err := candid.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	return b
}
