package replica

import (
	"context"
	"encoding/hex"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/icws/icws/ic/principal"
	"github.com/icws/icws/internal/moctest"

	"github.com/icws/icws/internal/testenv"
)

// icpCLI runs DFINITY's icp-cli (npm @icp-sdk/icp-cli-linux-x64) with its own HOME.
type icpCLI struct {
	t    *testing.T
	ctx  context.Context
	bin  string
	home string
	net  []string // --network … --root-key …
	dir  string   // the working directory, home if ""
}

func (c *icpCLI) run(args ...string) (string, error) {
	c.t.Helper()
	cmd := exec.CommandContext(c.ctx, c.bin, args...)
	cmd.Dir = c.home
	if c.dir != "" {
		cmd.Dir = c.dir
	}
	cmd.Env = append(os.Environ(), "HOME="+c.home, "DO_NOT_TRACK=1", "RUST_BACKTRACE=0")
	out, err := cmd.CombinedOutput()
	return string(out), err
}

func (c *icpCLI) must(args ...string) string {
	c.t.Helper()
	out, err := c.run(args...)
	if err != nil {
		c.t.Fatalf("icp %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return out
}

// on runs a command against the replica.
func (c *icpCLI) on(args ...string) string {
	c.t.Helper()
	return c.must(append(args, c.net...)...)
}

// TestICPCLI deploys and manages canisters on the replica with icp-cli 1.5, as a developer does:
// status and calls of a canister given at start, a canister created through the management
// canister, installed with a Motoko 4.10 module (wasm64, enhanced orthogonal persistence),
// upgraded keeping its heap, stopped and deleted.
func TestICPCLI(t *testing.T) {
	modules := testenv.NodeModules(t, "@icp-sdk/icp-cli-linux-x64", "@icp-sdk/canisters")
	bin := filepath.Join(modules, "@icp-sdk", "icp-cli-linux-x64", "bin", "icp")
	if _, err := os.Stat(bin); err != nil {
		t.Fatalf("the npm package @icp-sdk/icp-cli-linux-x64 has no icp binary (%v): run npm ci at the repository root", err)
	}
	wasm3 := moctest.Compile(t, moctest.Moc3, "wasmhost/testdata/counter.mo")
	wasm4 := moctest.Compile(t, moctest.Moc4, "wasmhost/testdata/counter.mo")
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	c := &icpCLI{t: t, ctx: ctx, bin: bin, home: t.TempDir()}
	c.must("identity", "new", "dev", "--storage", "plaintext")
	c.must("identity", "default", "dev")
	out := c.must("identity", "principal")
	me, err := principal.Decode(strings.TrimSpace(lastLine(out)))
	if err != nil {
		t.Fatalf("icp identity principal printed %q: %v", out, err)
	}

	r, err := Start(context.Background(), Config{Canisters: []CanisterSpec{
		{Name: "counter", Wasm: wasm3, Controllers: []principal.Principal{me}},
	}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { r.Close() })
	c.net = []string{"--network", r.URL(), "--root-key", hex.EncodeToString(r.RootKey())}
	counter, _ := r.CanisterID("counter")
	cid := counter.String()

	st := c.on("canister", "status", cid)
	for _, want := range []string{"Status: Running", "controller: " + me.String(), "Module hash: 0x"} {
		if !strings.Contains(st, want) {
			t.Errorf("icp canister status lacks %q:\n%s", want, st)
		}
	}
	if got := c.on("canister", "call", cid, "inc", "()"); !strings.Contains(got, "(1 : nat)") {
		t.Fatalf("icp canister call inc: %s", got)
	}

	did := filepath.Join(modules, "@icp-sdk", "canisters", "declarations", "ic-management", "ic-management.did")
	created := c.on("canister", "call", "aaaaa-aa", "provisional_create_canister_with_cycles",
		"(record { amount = null; settings = null; specified_id = null })", "--candid", did)
	m := regexp.MustCompile(`principal "([a-z0-9-]+)"`).FindStringSubmatch(created)
	if m == nil {
		t.Fatalf("provisional_create_canister_with_cycles: %s", created)
	}
	id := m[1]
	wasmPath := filepath.Join(c.home, "counter4.wasm")
	if err := os.WriteFile(wasmPath, wasm4, 0o600); err != nil {
		t.Fatal(err)
	}
	c.on("canister", "install", id, "--wasm", wasmPath)
	c.on("canister", "call", id, "inc", "()")
	if got := c.on("canister", "call", id, "inc", "()"); !strings.Contains(got, "(2 : nat)") {
		t.Fatalf("inc: %s", got)
	}
	// icp canister logs reads fetch_canister_logs: the print and the trap of incThenTrap.
	if out, err := c.run(append([]string{"canister", "call", id, "incThenTrap", "()"}, c.net...)...); err == nil || !strings.Contains(out, "IC0503") {
		t.Fatalf("incThenTrap: %v\n%s", err, out)
	}
	if logs := c.on("canister", "logs", id); !strings.Contains(logs, "about to trap") || !strings.Contains(logs, "[TRAP]: assertion failed") {
		t.Fatalf("icp canister logs:\n%s", logs)
	}
	// Mode auto on an installed EOP canister is an upgrade with wasm_memory_persistence = keep.
	c.on("canister", "install", id, "--wasm", wasmPath)
	if got := c.on("canister", "call", id, "get", "()"); !strings.Contains(got, "(2 : nat)") {
		t.Fatalf("get after upgrade: %s (the heap was not kept)", got)
	}
	c.on("canister", "stop", id)
	if st := c.on("canister", "status", id); !strings.Contains(st, "Status: Stopped") {
		t.Fatalf("status after stop:\n%s", st)
	}
	c.on("canister", "delete", id, "--no-recover-cycles")
	if out, err := c.run(append([]string{"canister", "status", id}, c.net...)...); err == nil || !strings.Contains(out, "not found") {
		t.Fatalf("status of a deleted canister: %v\n%s", err, out)
	}
}

// TestICPDeploy runs a plain `icp deploy` of a Motoko project (moc from npm, copied in by the
// project's build script) against the replica through a `mode: connected` network in icp.yaml:
// icp-cli asks the stand-in CMC for the subnets, creates the canister through the stand-in
// cycles ledger, installs it, and a call and a second deploy (an upgrade) work.
func TestICPDeploy(t *testing.T) {
	modules := testenv.NodeModules(t, "@icp-sdk/icp-cli-linux-x64")
	bin := filepath.Join(modules, "@icp-sdk", "icp-cli-linux-x64", "bin", "icp")
	if _, err := os.Stat(bin); err != nil {
		t.Fatalf("the npm package @icp-sdk/icp-cli-linux-x64 has no icp binary (%v): run npm ci at the repository root", err)
	}
	wasm := moctest.Compile(t, moctest.Moc4, "wasmhost/testdata/counter.mo")
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	c := &icpCLI{t: t, ctx: ctx, bin: bin, home: t.TempDir()}
	c.must("identity", "new", "dev", "--storage", "plaintext")
	c.must("identity", "default", "dev")
	r, err := Start(context.Background(), Config{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { r.Close() })

	c.dir = filepath.Join(c.home, "project")
	if err := os.MkdirAll(c.dir, 0o700); err != nil {
		t.Fatal(err)
	}
	wasmPath := filepath.Join(c.home, "counter.wasm")
	if err := os.WriteFile(wasmPath, wasm, 0o600); err != nil {
		t.Fatal(err)
	}
	manifest := fmt.Sprintf(`canisters:
  - name: counter
    build:
      steps:
        - type: script
          command: cp '%s' "$ICP_WASM_OUTPUT_PATH"

networks:
  - name: icws
    mode: connected
    url: %s
    root-key: %s

environments:
  - name: dev
    network: icws
`, wasmPath, r.URL(), hex.EncodeToString(r.RootKey()))
	if err := os.WriteFile(filepath.Join(c.dir, "icp.yaml"), []byte(manifest), 0o600); err != nil {
		t.Fatal(err)
	}
	out := c.must("deploy", "--environment", "dev")
	t.Logf("icp deploy:\n%s", out)
	if got := c.must("canister", "call", "counter", "inc", "()", "--environment", "dev"); !strings.Contains(got, "(1 : nat)") {
		t.Fatalf("icp canister call counter inc: %s", got)
	}
	c.must("deploy", "--environment", "dev")
	if got := c.must("canister", "call", "counter", "get", "()", "--environment", "dev"); !strings.Contains(got, "(1 : nat)") {
		t.Fatalf("get after a second deploy: %s (the upgrade lost the heap)", got)
	}
	r.mu.RLock()
	n := len(r.order)
	r.mu.RUnlock()
	if n != 1 {
		t.Fatalf("the replica holds %d canisters after two deploys, want 1", n)
	}
}

func lastLine(s string) string {
	s = strings.TrimSpace(s)
	if i := strings.LastIndexByte(s, '\n'); i >= 0 {
		return s[i+1:]
	}
	return s
}
