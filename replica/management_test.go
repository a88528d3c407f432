package replica

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"testing"
	"time"

	"github.com/icws/icws/agent"
	"github.com/icws/icws/ic/candid"
	"github.com/icws/icws/ic/cbor"
	"github.com/icws/icws/ic/hashtree"
	"github.com/icws/icws/ic/identity"
	"github.com/icws/icws/ic/principal"
	"github.com/icws/icws/internal/moctest"
)

// mgmt is a management-canister client of a test replica for one identity.
type mgmt struct {
	t   *testing.T
	ctx context.Context
	a   *agent.Agent
	id  identity.Identity
}

func newMgmt(t *testing.T, ctx context.Context, r *Replica) *mgmt {
	t.Helper()
	id, err := identity.GenerateEd25519()
	if err != nil {
		t.Fatal(err)
	}
	a, err := agent.New(agent.Config{URL: r.URL(), Identity: id, FetchRootKey: true})
	if err != nil {
		t.Fatal(err)
	}
	return &mgmt{t: t, ctx: ctx, a: a, id: id}
}

// call calls method of the management canister and decodes its reply into results.
func (m *mgmt) call(method string, arg any, results ...any) error {
	m.t.Helper()
	return m.a.Call(m.ctx, principal.Management(), method, arg, results...)
}

func (m *mgmt) must(method string, arg any, results ...any) {
	m.t.Helper()
	if err := m.call(method, arg, results...); err != nil {
		m.t.Fatalf("%s: %v", method, err)
	}
}

func (m *mgmt) create() principal.Principal {
	m.t.Helper()
	var res canisterIDRecord
	m.must("provisional_create_canister_with_cycles", provisionalCreateArgs{}, &res)
	return res.CanisterID
}

func (m *mgmt) install(id principal.Principal, mode installMode, wasm []byte) error {
	m.t.Helper()
	return m.call("install_code", installCodeArgs{Mode: mode, CanisterID: id, WasmModule: wasm, Arg: emptyReply})
}

func (m *mgmt) status(id principal.Principal) canisterStatusResult {
	m.t.Helper()
	var st canisterStatusResult
	m.must("canister_status", canisterIDRecord{CanisterID: id}, &st)
	return st
}

func (m *mgmt) nat(id principal.Principal, method string, query bool) uint64 {
	m.t.Helper()
	var n candid.Nat
	var err error
	if query {
		err = m.a.Query(m.ctx, id, method, nil, &n)
	} else {
		err = m.a.Call(m.ctx, id, method, nil, &n)
	}
	if err != nil {
		m.t.Fatalf("%s: %v", method, err)
	}
	v, _ := n.Uint64()
	return v
}

func wantReject(t *testing.T, what string, err error, code, icCode string) {
	t.Helper()
	var rej *agent.RejectError
	if !errors.As(err, &rej) {
		t.Fatalf("%s: %v, want a reject %s", what, err, icCode)
	}
	if rej.ErrorCode != icCode {
		t.Fatalf("%s: reject %s (%s), want %s", what, rej.ErrorCode, rej.Message, icCode)
	}
	if code != "" {
		mustContain(t, rej.Message, code)
	}
}

var (
	modeInstall   = installMode{Install: &candidNull}
	modeReinstall = installMode{Reinstall: &candidNull}
)

func modeUpgrade(keep bool) installMode {
	var opt *upgradeOption
	if keep {
		opt = &upgradeOption{WasmMemoryPersistence: &memoryPersistence{Keep: &candidNull}}
	}
	return installMode{Upgrade: &opt}
}

// TestManagementLifecycle deploys a Motoko canister through the management canister as deploy
// tools do (create, status, install, call, upgrade, chunked reinstall, stop, start, delete), with
// the controller checks on every step and read_state of what the IC certifies about it.
func TestManagementLifecycle(t *testing.T) {
	wasm := moctest.Compile(t, moctest.Moc3, "wasmhost/testdata/counter.mo")
	r, err := Start(context.Background(), Config{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { r.Close() })
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	alice, mallory := newMgmt(t, ctx, r), newMgmt(t, ctx, r)

	id := alice.create()
	st := alice.status(id)
	if st.Status.Running == nil || st.ModuleHash != nil || len(st.Settings.Controllers) != 1 || st.Settings.Controllers[0] != alice.a.Sender() {
		t.Fatalf("status of a new canister: %+v", st)
	}
	// Every method on the canister checks its controllers.
	for _, c := range []struct {
		method string
		arg    any
	}{
		{"canister_status", canisterIDRecord{CanisterID: id}},
		{"install_code", installCodeArgs{Mode: modeInstall, CanisterID: id, WasmModule: wasm, Arg: emptyReply}},
		{"update_settings", updateSettingsArgs{CanisterID: id}},
		{"upload_chunk", uploadChunkArgs{CanisterID: id, Chunk: []byte{1}}},
		{"stop_canister", canisterIDRecord{CanisterID: id}},
		{"delete_canister", canisterIDRecord{CanisterID: id}},
		{"uninstall_code", canisterIDRecord{CanisterID: id}},
	} {
		wantReject(t, "mallory "+c.method, mallory.call(c.method, c.arg), "Only the controllers", errCanisterInvalidController)
	}
	wantReject(t, "call to an empty canister", alice.a.Call(ctx, id, "inc", nil), "contains no Wasm module", errCanisterWasmModuleNotFound)

	if err := alice.install(id, modeInstall, wasm); err != nil {
		t.Fatalf("install: %v", err)
	}
	if n := alice.nat(id, "inc", false); n != 1 {
		t.Fatalf("inc = %d", n)
	}
	wantReject(t, "second install", alice.install(id, modeInstall, wasm), "not empty", "IC0538")
	st = alice.status(id)
	hash := sha256.Sum256(wasm)
	if st.ModuleHash == nil || !bytes.Equal(*st.ModuleHash, hash[:]) {
		t.Fatalf("module hash %x, want %x", st.ModuleHash, hash)
	}

	// read_state: module hash and controllers for anyone, private metadata for controllers.
	cert, err := mallory.a.ReadState(ctx, id, [][][]byte{
		{[]byte("canister"), id.Bytes(), []byte("module_hash")},
		{[]byte("canister"), id.Bytes(), []byte("controllers")},
	})
	if err != nil {
		t.Fatalf("read_state: %v", err)
	}
	if res := cert.Lookup([]byte("canister"), id.Bytes(), []byte("module_hash")); res.Status != hashtree.Found || !bytes.Equal(res.Value, hash[:]) {
		t.Fatalf("certified module_hash: %v %x", res.Status, res.Value)
	}
	res := cert.Lookup([]byte("canister"), id.Bytes(), []byte("controllers"))
	var ctrl [][]byte
	if err := cbor.Unmarshal(res.Value, &ctrl); err != nil || len(ctrl) != 1 || !bytes.Equal(ctrl[0], alice.a.Sender().Bytes()) {
		t.Fatalf("certified controllers: %v %x %v", res.Status, res.Value, err)
	}
	candidPath := [][][]byte{{[]byte("canister"), id.Bytes(), []byte("metadata"), []byte("candid:service")}}
	if _, err := mallory.a.ReadState(ctx, id, candidPath); err == nil {
		t.Fatal("mallory read the private candid:service metadata")
	}
	cert, err = alice.a.ReadState(ctx, id, candidPath)
	if err != nil {
		t.Fatalf("read candid:service: %v", err)
	}
	if res := cert.Lookup(candidPath[0]...); res.Status != hashtree.Found || !bytes.Contains(res.Value, []byte("inc")) {
		t.Fatalf("candid:service: %v %q", res.Status, res.Value)
	}

	// Upgrade keeps the stable variables (count); reinstall from chunks starts afresh.
	if err := alice.install(id, modeUpgrade(false), wasm); err != nil {
		t.Fatalf("upgrade: %v", err)
	}
	if n := alice.nat(id, "get", true); n != 1 {
		t.Fatalf("get after upgrade = %d, want 1", n)
	}
	half := len(wasm) / 2
	var h1, h2 chunkHash
	alice.must("upload_chunk", uploadChunkArgs{CanisterID: id, Chunk: wasm[:half]}, &h1)
	alice.must("upload_chunk", uploadChunkArgs{CanisterID: id, Chunk: wasm[half:]}, &h2)
	var stored []chunkHash
	alice.must("stored_chunks", canisterIDRecord{CanisterID: id}, &stored)
	if len(stored) != 2 {
		t.Fatalf("stored_chunks: %d", len(stored))
	}
	bad := installChunkedCodeArgs{Mode: modeReinstall, TargetCanister: id, ChunkHashesList: []chunkHash{h1, h2}, WasmModuleHash: make([]byte, 32), Arg: emptyReply}
	wantReject(t, "chunked install with a wrong hash", alice.call("install_chunked_code", bad), "wasm_module_hash", errInvalidManagementPayload)
	good := bad
	good.WasmModuleHash = hash[:]
	alice.must("install_chunked_code", good)
	alice.must("clear_chunk_store", canisterIDRecord{CanisterID: id})
	if n := alice.nat(id, "get", true); n != 0 {
		t.Fatalf("get after reinstall = %d, want 0", n)
	}

	// A module the IC would refuse is refused with the rule that failed.
	wantReject(t, "invalid module", alice.install(id, modeReinstall, []byte("\x00asm\x01\x00\x00\x00garbage")), "not valid", errCanisterInvalidWasm)

	// Controllers change with update_settings.
	ctrls := []principal.Principal{alice.a.Sender(), mallory.a.Sender()}
	alice.must("update_settings", updateSettingsArgs{CanisterID: id, Settings: canisterSettings{Controllers: &ctrls}})
	if st := mallory.status(id); len(st.Settings.Controllers) != 2 {
		t.Fatalf("controllers after update_settings: %v", st.Settings.Controllers)
	}

	// Stop, start, delete.
	wantReject(t, "delete a running canister", alice.call("delete_canister", canisterIDRecord{CanisterID: id}), "must be stopped", errCanisterNotStopped)
	alice.must("stop_canister", canisterIDRecord{CanisterID: id})
	if st := alice.status(id); st.Status.Stopped == nil {
		t.Fatalf("status after stop: %+v", st.Status)
	}
	wantReject(t, "call to a stopped canister", alice.a.Call(ctx, id, "inc", nil), "is stopped", errCanisterStopped)
	alice.must("start_canister", canisterIDRecord{CanisterID: id})
	if n := alice.nat(id, "inc", false); n != 1 {
		t.Fatalf("inc after start = %d", n)
	}
	alice.must("stop_canister", canisterIDRecord{CanisterID: id})
	alice.must("delete_canister", canisterIDRecord{CanisterID: id})
	wantReject(t, "status of a deleted canister", alice.call("canister_status", canisterIDRecord{CanisterID: id}), "not found", errCanisterNotFound)
}

// TestManagementEnhancedPersistence upgrades a Motoko 4.10 canister (wasm64, enhanced orthogonal
// persistence): without wasm_memory_persistence = keep the IC refuses; with it, the heap lives on.
func TestManagementEnhancedPersistence(t *testing.T) {
	wasm := moctest.Compile(t, moctest.Moc4, "wasmhost/testdata/counter.mo")
	r, err := Start(context.Background(), Config{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { r.Close() })
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	alice := newMgmt(t, ctx, r)
	id := alice.create()
	if err := alice.install(id, modeInstall, wasm); err != nil {
		t.Fatalf("install: %v", err)
	}
	for range 3 {
		alice.nat(id, "inc", false)
	}
	wantReject(t, "upgrade without keep", alice.install(id, modeUpgrade(false), wasm), "wasm_memory_persistence", errCanisterContractViolation)
	if n := alice.nat(id, "get", true); n != 3 {
		t.Fatalf("get after a refused upgrade = %d, want 3", n)
	}
	if err := alice.install(id, modeUpgrade(true), wasm); err != nil {
		t.Fatalf("upgrade with keep: %v", err)
	}
	if n := alice.nat(id, "get", true); n != 3 {
		t.Fatalf("get after upgrade = %d, want 3", n)
	}
}

// TestInterCanisterCall has one Motoko canister call another (call_new … call_perform, the reply
// callback through the table) and a missing one (the reject callback).
func TestInterCanisterCall(t *testing.T) {
	wasm := moctest.Compile(t, moctest.Moc3, "wasmhost/testdata/counter.mo")
	r, err := Start(context.Background(), Config{Canisters: []CanisterSpec{
		{Name: "a", Wasm: wasm},
		{Name: "b", Wasm: wasm},
	}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { r.Close() })
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	m := newMgmt(t, ctx, r)
	a, _ := r.CanisterID("a")
	b, _ := r.CanisterID("b")
	for range 2 {
		m.nat(b, "inc", false)
	}
	var n candid.Nat
	if err := m.a.Call(ctx, a, "callOther", b.String(), &n); err != nil {
		t.Fatalf("callOther: %v", err)
	}
	if v, _ := n.Uint64(); v != 2 {
		t.Fatalf("callOther = %s, want 2", n)
	}
	missing := canisterIDAt(99)
	err = m.a.Call(ctx, a, "callOther", missing.String(), &n)
	var rej *agent.RejectError
	if !errors.As(err, &rej) || !rej.Certified {
		t.Fatalf("callOther of a missing canister: %v", err)
	}
	mustContain(t, rej.Message, "not found")
}
