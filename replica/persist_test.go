package replica

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/icws/icws/agent"
	"github.com/icws/icws/cdk"
	"github.com/icws/icws/ic/candid"
	"github.com/icws/icws/ic/certificate"
	"github.com/icws/icws/ic/envelope"
	"github.com/icws/icws/ic/hashtree"
	"github.com/icws/icws/ic/identity"
	"github.com/icws/icws/ic/principal"
	"github.com/icws/icws/internal/moctest"
	"github.com/icws/icws/replica/wasmhost"
)

// newKeeper is a native canister that keeps its count across upgrades and restarts through
// PreUpgrade and PostUpgrade; inits counts how often its Init ran (in this process).
//
//	inc : () -> (nat64)   count += 1
//	get : () -> (nat64)   count (query)
func newKeeper(inits *int) *cdk.Canister {
	var count uint64
	return &cdk.Canister{
		Init: func(cdk.System) { *inits++ },
		Updates: map[string]cdk.Method{
			"inc": func(ic cdk.System) { count++; reply(ic, candid.NatOf(count)) },
		},
		Queries: map[string]cdk.Method{
			"get": func(ic cdk.System) { reply(ic, candid.NatOf(count)) },
		},
		PreUpgrade: func(cdk.System) []byte { return binary.AppendUvarint(nil, count) },
		PostUpgrade: func(ic cdk.System, saved []byte) {
			n, k := binary.Uvarint(saved)
			if k <= 0 {
				ic.Trap("keeper: bad saved state")
			}
			count = n
		},
	}
}

// newForgetful is a native canister without upgrade hooks: a restart installs it fresh.
func newForgetful() *cdk.Canister {
	var count uint64
	return &cdk.Canister{
		Updates: map[string]cdk.Method{"inc": func(ic cdk.System) { count++; reply(ic, candid.NatOf(count)) }},
		Queries: map[string]cdk.Method{"get": func(ic cdk.System) { reply(ic, candid.NatOf(count)) }},
	}
}

// stateAgent is an agent of r with the given identity.
func stateAgent(t *testing.T, r *Replica, id identity.Identity) *agent.Agent {
	t.Helper()
	a, err := agent.New(agent.Config{URL: r.URL(), Identity: id, RootKey: r.RootKey()})
	if err != nil {
		t.Fatal(err)
	}
	return a
}

func natCall(t *testing.T, ctx context.Context, a *agent.Agent, id principal.Principal, method string, query bool) uint64 {
	t.Helper()
	var n candid.Nat
	var err error
	if query {
		err = a.Query(ctx, id, method, nil, &n)
	} else {
		err = a.Call(ctx, id, method, nil, &n)
	}
	if err != nil {
		t.Fatalf("%s %s: %v", id, method, err)
	}
	v, _ := n.Uint64()
	return v
}

// TestStateSurvivesRestart runs a replica on a state directory with a Wasm canister (Motoko), a
// native canister with upgrade hooks, one without, and a canister created and installed through
// the management canister; closes it without a word (as a kill would: the state is written by
// the rounds, not at exit) and starts a new replica on the same directory: ids, code, heap,
// stable memory, certified data, timers, settings, versions, the id allocator and the answered
// calls' statuses are back; the native canister without hooks is installed fresh.
func TestStateSurvivesRestart(t *testing.T) {
	wasm := moctest.Compile(t, moctest.Moc3, "wasmhost/testdata/counter.mo")
	dir := t.TempDir()
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	inits := 0
	specs := func() []CanisterSpec {
		return []CanisterSpec{
			{Name: "mo", Wasm: wasm},
			{Name: "keeper", New: func() *cdk.Canister { return newKeeper(&inits) }},
			{Name: "forgetful", New: newForgetful},
		}
	}
	ident, err := identity.GenerateEd25519()
	if err != nil {
		t.Fatal(err)
	}
	r1, err := Start(ctx, Config{StateDir: dir, Canisters: specs()})
	if err != nil {
		t.Fatal(err)
	}
	a := stateAgent(t, r1, ident)
	mo, _ := r1.CanisterID("mo")
	keeper, _ := r1.CanisterID("keeper")
	forgetful, _ := r1.CanisterID("forgetful")
	for range 3 {
		natCall(t, ctx, a, mo, "inc", false)
		natCall(t, ctx, a, keeper, "inc", false)
		natCall(t, ctx, a, forgetful, "inc", false)
	}
	if err := a.Call(ctx, mo, "stableWrite", nil); err != nil {
		t.Fatal(err)
	}
	if err := a.Call(ctx, mo, "setCert", []byte("certified before")); err != nil {
		t.Fatal(err)
	}
	// A canister of the management canister: created, given settings, installed, called.
	var created canisterIDRecord
	if err := a.Call(ctx, principal.Management(), "provisional_create_canister_with_cycles", provisionalCreateArgs{}, &created); err != nil {
		t.Fatal(err)
	}
	fz := candid.NatOf(1234)
	if err := a.Call(ctx, principal.Management(), "update_settings", updateSettingsArgs{CanisterID: created.CanisterID, Settings: canisterSettings{FreezingThreshold: &fz}}); err != nil {
		t.Fatal(err)
	}
	if err := a.Call(ctx, principal.Management(), "install_code", installCodeArgs{Mode: modeInstall, CanisterID: created.CanisterID, WasmModule: wasm, Arg: emptyReply}); err != nil {
		t.Fatal(err)
	}
	natCall(t, ctx, a, created.CanisterID, "inc", false)
	if err := a.Call(ctx, principal.Management(), "upload_chunk", uploadChunkArgs{CanisterID: created.CanisterID, Chunk: []byte("chunk")}); err != nil {
		t.Fatal(err)
	}
	var st1 canisterStatusResult
	if err := a.Call(ctx, principal.Management(), "canister_status", canisterIDRecord{CanisterID: created.CanisterID}, &st1); err != nil {
		t.Fatal(err)
	}
	// A call whose status a client may still read after the restart, signed by hand so that it
	// can be sent again.
	h := &harness{t: t, r: r1, cid: keeper, ident: ident, now: time.Now, client: &http.Client{Timeout: 30 * time.Second}, baseURL: r1.URL()}
	h.verify, _ = certificate.NewVerifier(certificate.VerifierConfig{RootKey: r1.RootKey(), Clock: time.Now})
	body, rid := h.sign(ident, h.content(envelope.RequestTypeCall, "inc", emptyReply))
	before := h.syncCall("v3", body, rid)
	if before.status != statusReplied {
		t.Fatalf("hand-signed inc: %+v", before)
	}
	if inits != 1 {
		t.Fatalf("keeper's Init ran %d times, want 1", inits)
	}
	r1.Close()

	r2, err := Start(ctx, Config{StateDir: dir, Canisters: specs()})
	if err != nil {
		t.Fatal(err)
	}
	defer r2.Close()
	a = stateAgent(t, r2, ident)
	for name, want := range map[string]principal.Principal{"mo": mo, "keeper": keeper, "forgetful": forgetful} {
		if id, ok := r2.CanisterID(name); !ok || id != want {
			t.Fatalf("%s has id %s after the restart, want %s", name, id, want)
		}
	}
	if inits != 1 {
		t.Errorf("keeper's Init ran again on restart (%d times)", inits)
	}
	if v := natCall(t, ctx, a, mo, "get", true); v != 3 {
		t.Errorf("Motoko count after restart = %d, want 3", v)
	}
	var b uint8
	if err := a.Query(ctx, mo, "stableByte", nil, &b); err != nil || b != 7 {
		t.Errorf("stable byte after restart = %d (%v), want 7", b, err)
	}
	if got := natCall(t, ctx, a, keeper, "get", true); got != 4 {
		t.Errorf("keeper count after restart = %d, want 4", got)
	}
	if got := natCall(t, ctx, a, forgetful, "get", true); got != 0 {
		t.Errorf("forgetful count after restart = %d, want 0 (installed fresh)", got)
	}
	// Certified data survives, in the certified state.
	r2.mu.RLock()
	cd := r2.byID[mo].certifiedData
	certified := r2.state.canisters
	r2.mu.RUnlock()
	if !bytes.Equal(cd, []byte("certified before")) {
		t.Errorf("certified data after restart = %q", cd)
	}
	if res := hashtree.Lookup(certified, mo.Bytes(), labelCertifiedData); !bytes.Equal(res.Value, []byte("certified before")) {
		t.Errorf("certified tree after restart has %v %q", res.Status, res.Value)
	}
	var st2 canisterStatusResult
	if err := a.Call(ctx, principal.Management(), "canister_status", canisterIDRecord{CanisterID: created.CanisterID}, &st2); err != nil {
		t.Fatal(err)
	}
	hash := sha256.Sum256(wasm)
	if st2.Version != st1.Version || st2.ModuleHash == nil || !bytes.Equal(*st2.ModuleHash, hash[:]) ||
		st2.Settings.FreezingThreshold.String() != "1234" || st2.Settings.Controllers[0] != ident.Sender() ||
		st2.MemoryMetrics.WasmChunkStoreSize.String() != "5" {
		t.Errorf("status after restart:\n%+v\nbefore:\n%+v", st2, st1)
	}
	if got := natCall(t, ctx, a, created.CanisterID, "inc", false); got != 2 {
		t.Errorf("created canister's count after restart = %d, want 2", got)
	}
	// The allocator goes on after the last id.
	var next canisterIDRecord
	if err := a.Call(ctx, principal.Management(), "provisional_create_canister_with_cycles", provisionalCreateArgs{}, &next); err != nil {
		t.Fatal(err)
	}
	if next.CanisterID == created.CanisterID || r2.byID[next.CanisterID] == nil {
		t.Errorf("new canister got id %s (the created one is %s)", next.CanisterID, created.CanisterID)
	}
	// The answered call's status is still readable, and sending it again does not run it again.
	h.r, h.baseURL = r2, r2.URL()
	again := h.syncCall("v3", body, rid)
	if again.status != statusReplied || !bytes.Equal(again.reply, before.reply) {
		t.Errorf("resent call after restart: %+v, want the saved reply %x", again, before.reply)
	}
	if got := natCall(t, ctx, a, keeper, "get", true); got != 4 {
		t.Errorf("keeper count after resending = %d, want 4 (the call ran again)", got)
	}
}

// TestStateUpgradesChangedModule: a restart whose Wasm spec has another module upgrades the
// saved canister to it (stable variables kept), as install_code mode upgrade would, and a spec
// that is new to the saved state is installed fresh with the next free id.
func TestStateUpgradesChangedModule(t *testing.T) {
	wasm := moctest.Compile(t, moctest.Moc3, "wasmhost/testdata/counter.mo")
	dir := t.TempDir()
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	r1, err := Start(ctx, Config{StateDir: dir, Canisters: []CanisterSpec{{Name: "mo", Wasm: wasm}}})
	if err != nil {
		t.Fatal(err)
	}
	ident, _ := identity.GenerateEd25519()
	a := stateAgent(t, r1, ident)
	mo, _ := r1.CanisterID("mo")
	natCall(t, ctx, a, mo, "inc", false)
	natCall(t, ctx, a, mo, "inc", false)
	r1.Close()

	// The same module with a custom section appended: another hash, the same code.
	changed := append(bytes.Clone(wasm), 0, 6, 4, 'n', 'o', 't', 'e', 'x')
	inits := 0
	r2, err := Start(ctx, Config{StateDir: dir, Canisters: []CanisterSpec{
		{Name: "mo", Wasm: changed},
		{Name: "keeper", New: func() *cdk.Canister { return newKeeper(&inits) }},
	}})
	if err != nil {
		t.Fatal(err)
	}
	defer r2.Close()
	a = stateAgent(t, r2, ident)
	if got := natCall(t, ctx, a, mo, "get", true); got != 2 {
		t.Errorf("count after the upgrade on restart = %d, want 2", got)
	}
	r2.mu.RLock()
	h := r2.byName["mo"].info.Hash
	r2.mu.RUnlock()
	if h != sha256.Sum256(changed) {
		t.Errorf("module hash %x, want the new module's", h)
	}
	keeper, _ := r2.CanisterID("keeper")
	if keeper == mo || inits != 1 {
		t.Errorf("new spec keeper: id %s (mo %s), %d inits", keeper, mo, inits)
	}
}

// TestStateRefusesBadFiles: a damaged, truncated or future-version state file stops New with an
// error that names the file and says what to do; nothing panics.
func TestStateRefusesBadFiles(t *testing.T) {
	ctx := context.Background()
	inits := 0
	spec := []CanisterSpec{{Name: "keeper", New: func() *cdk.Canister { return newKeeper(&inits) }}}
	for _, tc := range []struct {
		name, file string
		damage     func([]byte) []byte
		want       error
	}{
		{"meta flipped byte", metaFile, func(b []byte) []byte { b[len(b)-1] ^= 1; return b }, ErrStateCorrupt},
		{"meta truncated", metaFile, func(b []byte) []byte { return b[:len(b)-3] }, ErrStateCorrupt},
		{"meta future version", metaFile, func(b []byte) []byte { b[9] = 99; return b }, ErrStateVersion},
		{"canister not a state file", "canisters", func([]byte) []byte { return []byte("hello") }, ErrStateCorrupt},
		{"canister of another kind", "canisters", func(b []byte) []byte { b[10] = fileMeta; return b }, ErrStateCorrupt},
		{"journal damaged mid-file", journalFile, func(b []byte) []byte {
			out := append(bytes.Clone(b), b[stateHeaderSize:]...) // the records twice
			out[stateHeaderSize+recordHeader] ^= 1                // damage the first
			return out
		}, ErrStateCorrupt},
		{"journal entry not Candid", journalFile, func(b []byte) []byte {
			return append(appendRecord(appendStateHeader(nil, fileJournal), []byte("x")), b[stateHeaderSize:]...)
		}, ErrStateCorrupt},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			r, err := Start(ctx, Config{StateDir: dir, Canisters: spec})
			if err != nil {
				t.Fatal(err)
			}
			a := stateAgent(t, r, nil)
			id, _ := r.CanisterID("keeper")
			natCall(t, ctx, a, id, "inc", false)
			r.Close()
			path := filepath.Join(dir, stateSubdir, tc.file)
			if tc.file == "canisters" {
				path = filepath.Join(dir, stateSubdir, canistersSubdir, id.String()+".state")
			}
			b, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(path, tc.damage(b), 0o600); err != nil {
				t.Fatal(err)
			}
			_, err = New(Config{StateDir: dir, Canisters: spec})
			if !errors.Is(err, tc.want) {
				t.Fatalf("New on a damaged state: %v, want %v", err, tc.want)
			}
			for _, s := range []string{"move", "away", "--state-dir"} {
				if !strings.Contains(err.Error(), s) {
					t.Errorf("error %q does not say what to do (%q)", err, s)
				}
			}
		})
	}
}

// TestStateTornJournal: a journal cut inside its last entry (a crash while appending) loads: the
// whole entries are kept, the torn one (the second inc) dropped.
func TestStateTornJournal(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	inits := 0
	spec := []CanisterSpec{{Name: "keeper", New: func() *cdk.Canister { return newKeeper(&inits) }}}
	r, err := Start(ctx, Config{StateDir: dir, Canisters: spec})
	if err != nil {
		t.Fatal(err)
	}
	a := stateAgent(t, r, nil)
	id, _ := r.CanisterID("keeper")
	natCall(t, ctx, a, id, "inc", false)
	natCall(t, ctx, a, id, "inc", false)
	r.Close()
	path := filepath.Join(dir, stateSubdir, journalFile)
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, b[:len(b)-2], 0o600); err != nil {
		t.Fatal(err)
	}
	r2, err := New(Config{StateDir: dir, Canisters: spec})
	if err != nil {
		t.Fatalf("New with a torn request log: %v", err)
	}
	defer r2.Close()
	if n := r2.state.statuses.len(); n != 1 {
		t.Errorf("%d statuses kept, want 1", n)
	}
	r2.mu.RLock()
	res := r2.byID[id].inst.Run(ctx, r2.byID[id].message(wasmhost.EntryQuery, principal.Anonymous(), "get", emptyReply, 0))
	r2.mu.RUnlock()
	var n candid.Nat
	if err := candid.Unmarshal(res.Reply, &n); err != nil || n.String() != "1" {
		t.Errorf("keeper count after the torn entry = %v (%v), want 1", n, err)
	}
}

// TestStateCheckpoints runs with a journal so small that rounds write checkpoints every few
// entries: the state after a restart is the same, and the journal stays small.
func TestStateCheckpoints(t *testing.T) {
	wasm := moctest.Compile(t, moctest.Moc3, "wasmhost/testdata/counter.mo")
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	dir := t.TempDir()
	inits := 0
	specs := []CanisterSpec{{Name: "mo", Wasm: wasm}, {Name: "keeper", New: func() *cdk.Canister { return newKeeper(&inits) }}}
	r1, err := Start(ctx, Config{StateDir: dir, Canisters: specs})
	if err != nil {
		t.Fatal(err)
	}
	r1.mu.Lock()
	r1.store.journalLimit = 64 << 10
	r1.mu.Unlock()
	a := stateAgent(t, r1, nil)
	mo, _ := r1.CanisterID("mo")
	keeper, _ := r1.CanisterID("keeper")
	for range 12 {
		natCall(t, ctx, a, mo, "inc", false)
		natCall(t, ctx, a, keeper, "inc", false)
	}
	r1.mu.RLock()
	checkpoints := r1.store.stats.checkpoints
	r1.mu.RUnlock()
	r1.Close()
	if checkpoints < 3 {
		t.Errorf("%d checkpoints in 24 rounds with a 64 KiB journal", checkpoints)
	}
	fi, err := os.Stat(filepath.Join(dir, stateSubdir, journalFile))
	if err != nil || fi.Size() > 4<<20 {
		t.Errorf("journal: %v, %d bytes", err, fi.Size())
	}
	r2, err := Start(ctx, Config{StateDir: dir, Canisters: specs})
	if err != nil {
		t.Fatal(err)
	}
	defer r2.Close()
	a = stateAgent(t, r2, nil)
	if n := natCall(t, ctx, a, mo, "get", true); n != 12 {
		t.Errorf("mo count = %d, want 12", n)
	}
	if n := natCall(t, ctx, a, keeper, "get", true); n != 12 {
		t.Errorf("keeper count = %d, want 12", n)
	}
}
