package wasm

import (
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"testing"

	"github.com/icws/icws/internal/testenv"
)

// The actor every test compiles: state, an update and a query.
const testActor = `persistent actor { var n : Nat = 0; public func inc() : async Nat { n += 1; n }; public query func get() : async Nat { n } };`

const mocScript = `const [pkg, src, out] = process.argv.slice(2);
const mo = require(pkg);
mo.write('Main.mo', require('fs').readFileSync(src, 'utf8'));
const r = mo.wasm('Main.mo', 'ic');
if (!r.wasm) { console.error(JSON.stringify(r.diagnostics)); process.exit(1); }
require('fs').writeFileSync(out, r.wasm);
`

var (
	realOnce    sync.Once
	realModules map[string][]byte
)

// compileMoc compiles testActor with the npm package pkg ("motoko" or "motoko4").
func compileMoc(t testing.TB, pkg string) []byte {
	node, modules := testenv.Node(t, pkg)
	dir := filepath.Join(modules, pkg)
	tmp := t.TempDir()
	script, src, out := filepath.Join(tmp, "moc.js"), filepath.Join(tmp, "Main.mo"), filepath.Join(tmp, "out.wasm")
	if err := os.WriteFile(script, []byte(mocScript), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(src, []byte(testActor), 0o644); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(node, script, dir, src, out)
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("moc (%s): %v\n%s", pkg, err, b)
	}
	b, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

const goModuleSrc = `package main

//go:wasmexport canister_update__inc
func inc() { n++ }

var n int

func main() {}
`

// buildGoModule builds a tiny wasip1 c-shared module with the Go toolchain running the test.
func buildGoModule(t testing.TB) []byte {
	tmp := t.TempDir()
	if err := os.WriteFile(filepath.Join(tmp, "main.go"), []byte(goModuleSrc), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(tmp, "go.mod"), []byte("module x\n\ngo 1.26\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(tmp, "m.wasm")
	cmd := exec.Command("go", "build", "-buildmode=c-shared", "-o", out, ".")
	cmd.Dir = tmp
	cmd.Env = append(os.Environ(), "GOOS=wasip1", "GOARCH=wasm", "GOFLAGS=")
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build wasip1: %v\n%s", err, b)
	}
	b, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// realModule returns one of "moc3", "moc4", "go", built once per test binary.
func realModule(t *testing.T, name string) []byte {
	t.Helper()
	realOnce.Do(func() {
		realModules = map[string][]byte{}
	})
	if b, ok := realModules[name]; ok {
		return b
	}
	var b []byte
	switch name {
	case "moc3":
		b = compileMoc(t, "motoko")
	case "moc4":
		b = compileMoc(t, "motoko4")
	case "go":
		b = buildGoModule(t)
	}
	realModules[name] = b
	return b
}
