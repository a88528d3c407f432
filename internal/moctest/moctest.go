// Package moctest compiles Motoko actors for tests with the npm motoko compilers (moc in pure
// JavaScript): motoko@3.9.7 for wasm32 modules, motoko@4.10.0 (installed as "motoko4") for
// wasm64 ones with enhanced orthogonal persistence. The packages come from the repository's
// package.json (npm ci).
package moctest

import (
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"sync"
	"testing"

	"github.com/icws/icws/internal/testenv"
)

// Packages of the npm motoko compilers, as named in package.json.
const (
	Moc3 = "motoko"  // 3.9.7: wasm32
	Moc4 = "motoko4" // 4.10.0: wasm64, enhanced orthogonal persistence
)

var (
	mu    sync.Mutex
	cache = map[string][]byte{}
)

// Compile compiles the Motoko file src (a path) with the npm package pkg and returns the module,
// once per test binary and (pkg, src). Without node or the package it skips the test, unless
// ICWS_REQUIRE_NPM is set (as CI does), then it fails.
func Compile(t testing.TB, pkg, src string) []byte {
	t.Helper()
	abs, err := filepath.Abs(src)
	if err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	defer mu.Unlock()
	key := pkg + "\x00" + abs
	if b, ok := cache[key]; ok {
		return b
	}
	node, modules := testenv.Node(t, pkg)
	_, file, _, _ := runtime.Caller(0)
	dir := filepath.Join(modules, pkg)
	out := filepath.Join(t.TempDir(), "out.wasm")
	cmd := exec.Command(node, filepath.Join(filepath.Dir(file), "moc.cjs"), dir, abs, out)
	if msg, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("moc (%s) %s: %v\n%.2000s", pkg, src, err, msg)
	}
	b, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	cache[key] = b
	return b
}
