package omniaecho_test

import (
	"strings"
	"testing"

	"github.com/icws/icws/ic/candid"
	"github.com/icws/icws/ic/principal"
	"github.com/icws/icws/internal/wasmtest"
	"github.com/icws/icws/protocol/omnia"
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

// TestUpgrade upgrades the Wasm canister through the management canister: with a client
// connected the upgrade fails, saying why, and the canister goes on as it was; with none it
// succeeds and keeps its nonces, so the gateway's cursor stays valid.
func TestUpgrade(t *testing.T) {
	e := newIC(t, "wasm")
	alice := e.newClient(e.gwA, 1)
	if err := e.open(alice); err != nil {
		t.Fatal(err)
	}
	if err := e.send(alice, "one"); err != nil {
		t.Fatal(err)
	}
	arg, err := candid.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	var opt *struct{}
	upgrade := installCodeArgs{Mode: installMode{Upgrade: &opt}, CanisterID: e.canister,
		WasmModule: wasmtest.Gzip(t, omniaEchoPackage), Arg: arg}
	err = e.user.Call(e.ctx, principal.Management(), "install_code", upgrade)
	if err == nil || !strings.Contains(err.Error(), "keeps no connections across upgrades") {
		t.Fatalf("upgrade with a client connected: %v", err)
	}
	if err := e.send(alice, "two"); err != nil {
		t.Fatalf("after the refused upgrade: %v", err)
	}
	next := e.poll(e.gwA, 0, alice)
	if got := strings.Join(alice.received, "|"); got != "<open>|one|two" {
		t.Fatalf("after the refused upgrade: %q", got)
	}
	if err := e.call(e.gwA, omnia.MethodClose, omnia.EncodeCloseArgs(omnia.CloseArgs{Key: alice.key})); err != nil {
		t.Fatal(err)
	}
	if err := e.user.Call(e.ctx, principal.Management(), "install_code", upgrade); err != nil {
		t.Fatalf("upgrade with no client: %v", err)
	}
	bob := e.newClient(e.gwA, 2)
	if err := e.open(bob); err != nil {
		t.Fatal(err)
	}
	if got := e.poll(e.gwA, next, bob); got != next+1 || strings.Join(bob.received, "|") != "<open>" {
		t.Fatalf("after the upgrade the gateway's cursor %d found %q (next %d)", next, bob.received, got)
	}
}
