package main

import (
	"bufio"
	"context"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/icws/icws/agent"
	"github.com/icws/icws/ic/candid"
	"github.com/icws/icws/ic/identity"
	"github.com/icws/icws/ic/principal"
	"github.com/icws/icws/ic/wasm"
	"github.com/icws/icws/internal/moctest"
)

func TestCanisterFlagErrors(t *testing.T) {
	dir := t.TempDir()
	notWasm := filepath.Join(dir, "page.html")
	if err := os.WriteFile(notWasm, []byte("<html>"), 0o600); err != nil {
		t.Fatal(err)
	}
	wasm := filepath.Join(dir, "ok.wasm")
	if err := os.WriteFile(wasm, []byte("\x00asm\x01\x00\x00\x00"), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct{ arg, want string }{
		{"hello.wasm", "is not NAME=FILE.wasm"},
		{"=x.wasm", "is not NAME=FILE.wasm"},
		{"Hello=" + wasm, "use lower-case letters"},
		{"echo=" + wasm, "taken by the built-in echo canister"},
		{"hello=" + filepath.Join(dir, "missing.wasm"), "no such file"},
		{"hello=" + notWasm, "is not a Wasm module"},
	} {
		var f canisterFlag
		err := f.Set(tc.arg)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("--canister %s: %v, want %q", tc.arg, err, tc.want)
		}
	}
	var f canisterFlag
	if err := f.Set("hello=" + wasm); err != nil {
		t.Fatal(err)
	}
	if err := f.Set("hello=" + wasm); err == nil || !strings.Contains(err.Error(), "given twice") {
		t.Errorf("a name twice: %v", err)
	}
	var p principalsFlag
	if err := p.Set("2vxsx-fae, not-a-principal"); err == nil || !strings.Contains(err.Error(), "not a principal") {
		t.Errorf("--controller: %v", err)
	}
	// A directory is a Go package to build; one that is not a canister package says so.
	var g canisterFlag
	if err := g.Set("notcanister=" + dir); err == nil || !strings.Contains(err.Error(), "building the Go package") {
		t.Errorf("--canister of a directory that is no Go package: %v", err)
	}
}

// TestCanisterFlagBuildsPackage: --canister NAME=DIR builds the Go canister package in DIR, as
// icws build does, into a module the IC accepts.
func TestCanisterFlagBuildsPackage(t *testing.T) {
	var f canisterFlag
	if err := f.Set("myecho=" + filepath.Join("..", "..", "canisters", "echo")); err != nil {
		t.Fatal(err)
	}
	if len(f.specs) != 1 || f.specs[0].Name != "myecho" {
		t.Fatalf("specs %+v", f.specs)
	}
	m, err := wasm.Decode(f.specs[0].Wasm)
	if err != nil {
		t.Fatal(err)
	}
	if err := wasm.CheckIC(m); err != nil {
		t.Fatalf("the built module fails the IC's checks: %v", err)
	}
}

// TestReplicaUserCanister runs `icws replica --canister counter=counter.wasm --controller …` with a
// Motoko module and calls it, and manages it as its controller.
func TestReplicaUserCanister(t *testing.T) {
	wasm := moctest.Compile(t, moctest.Moc3, "../../replica/wasmhost/testdata/counter.mo")
	path := filepath.Join(t.TempDir(), "counter.wasm")
	if err := os.WriteFile(path, wasm, 0o600); err != nil {
		t.Fatal(err)
	}
	me, err := identity.GenerateEd25519()
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	pr, pw := io.Pipe()
	done := make(chan error, 1)
	go func() {
		err := runReplica(ctx, []string{"--listen", "127.0.0.1:0", "--log-level", "error", "--native",
			"--canister", "counter=" + path, "--controller", me.Sender().String()}, pw)
		pw.Close()
		done <- err
	}()
	got := map[string]string{}
	sc := bufio.NewScanner(pr)
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		switch {
		case len(f) == 2 && f[0] == "url":
			got["url"] = f[1]
		case len(f) == 3 && f[0] == "canister":
			got[f[1]] = f[2]
		}
		if got["counter"] != "" {
			break
		}
	}
	go io.Copy(io.Discard, pr)
	if got["url"] == "" || got["echo"] == "" || got["omnia-echo"] == "" || got["counter"] == "" {
		t.Fatalf("icws replica printed %v", got)
	}
	a, err := agent.New(agent.Config{URL: got["url"], Identity: me, FetchRootKey: true})
	if err != nil {
		t.Fatal(err)
	}
	id := principal.MustDecode(got["counter"])
	var n candid.Nat
	if err := a.Call(ctx, id, "inc", nil, &n); err != nil || n.String() != "1" {
		t.Fatalf("inc = %v, %v", n, err)
	}
	type status struct {
		ModuleHash *[]byte `candid:"module_hash"`
	}
	var st status
	if err := a.Call(ctx, principal.Management(), "canister_status", struct {
		CanisterID principal.Principal `candid:"canister_id"`
	}{id}, &st); err != nil || st.ModuleHash == nil {
		t.Fatalf("canister_status as controller: %+v %v", st, err)
	}
	cancel()
	if err := <-done; err != nil && err != context.Canceled {
		t.Fatalf("icws replica: %v", err)
	}
}

// TestBuiltinCanisters builds the built-in canisters to Wasm as icws dev and icws replica do, and
// checks that each is an IC module, and that --native hosts them as Go values.
func TestBuiltinCanisters(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	specs, err := builtinCanisters(ctx, false, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	if len(specs) != len(builtins) {
		t.Fatalf("%d specs for %d built-ins", len(specs), len(builtins))
	}
	for i, s := range specs {
		if s.Name != builtins[i].name || s.New != nil {
			t.Errorf("spec %d: name %q, native %v; want %q as Wasm", i, s.Name, s.New != nil, builtins[i].name)
		}
		if _, _, err := wasm.DecodeIC(s.Wasm); err != nil {
			t.Errorf("%s: %v", s.Name, err)
		}
	}
	native, err := builtinCanisters(ctx, true, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range native {
		if s.New == nil || s.Wasm != nil {
			t.Errorf("--native %s: hosted as Wasm", s.Name)
		}
	}
}
