package wasmhost_test

import (
	"context"
	"strings"
	"testing"

	"github.com/icws/icws/replica/wasmhost"
)

// contractModule is, hand-assembled:
//
//	(module
//	  (import "ic0" "msg_reply" (func $reply))
//	  (memory 1)
//	  (func (export "canister_init") call $reply)
//	  (func (export "canister_update u") unreachable))
var contractModule = []byte{
	0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00,
	0x01, 0x04, 0x01, 0x60, 0x00, 0x00, // type () -> ()
	0x02, 0x11, 0x01, 0x03, 'i', 'c', '0', 0x09, 'm', 's', 'g', '_', 'r', 'e', 'p', 'l', 'y', 0x00, 0x00,
	0x03, 0x03, 0x02, 0x00, 0x00, // two functions of type 0
	0x05, 0x03, 0x01, 0x00, 0x01, // memory min 1
	0x07, 0x25, 0x02,
	0x0d, 'c', 'a', 'n', 'i', 's', 't', 'e', 'r', '_', 'i', 'n', 'i', 't', 0x00, 0x01,
	0x11, 'c', 'a', 'n', 'i', 's', 't', 'e', 'r', '_', 'u', 'p', 'd', 'a', 't', 'e', ' ', 'u', 0x00, 0x02,
	0x0a, 0x0a, 0x02, 0x04, 0x00, 0x10, 0x00, 0x0b, 0x03, 0x00, 0x00, 0x0b,
}

func TestContractViolationAndWasmTrap(t *testing.T) {
	ctx := context.Background()
	h, err := wasmhost.New(ctx, wasmhost.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer h.Close(ctx)
	m, err := h.Compile(ctx, contractModule)
	if err != nil {
		t.Fatal(err)
	}
	inst, err := m.Instantiate(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	r := inst.Run(ctx, &wasmhost.Message{Entry: wasmhost.EntryInit})
	if r.TrapKind != wasmhost.TrapContractViolation || r.Trap != `"ic0_msg_reply" cannot be executed in init mode` {
		t.Errorf("msg_reply in init: kind %d, %q", r.TrapKind, r.Trap)
	}
	r = inst.Run(ctx, &wasmhost.Message{Entry: wasmhost.EntryUpdate, Method: "u"})
	if r.TrapKind != wasmhost.TrapWasm || !strings.Contains(r.Trap, "unreachable") {
		t.Errorf("unreachable: kind %d, %q", r.TrapKind, r.Trap)
	}
	r = inst.Run(ctx, &wasmhost.Message{Entry: wasmhost.EntryUpdate, Method: "nope"})
	if r.TrapKind != wasmhost.TrapContractViolation || r.Trap != "Canister has no update method 'nope'." {
		t.Errorf("missing method: kind %d, %q", r.TrapKind, r.Trap)
	}
}
