// Package wasmtest builds the repository's Go canisters to IC Wasm for tests, with icws build's
// own code (cdk/build), once per test binary.
package wasmtest

import (
	"compress/gzip"
	"context"
	"os"
	"path/filepath"
	"runtime"
	"sync"
	"testing"
	"time"

	"github.com/icws/icws/cdk/build"
)

// Echo, Chat and BenchCanister are the canister packages tests build.
const (
	Echo          = "github.com/icws/icws/canisters/echo"
	Chat          = "github.com/icws/icws/canisters/chat"
	BenchCanister = "github.com/icws/icws/bench/canister"
)

// cache holds the modules built by this test binary; building is deterministic, so one build
// serves every test.
type cache struct {
	mu      sync.Mutex
	modules map[string]*build.Result
}

var built = &cache{modules: map[string]*build.Result{}}

// Build returns the IC Wasm module of the canister package (an import path), building it at
// the first call. A failed build fails the test.
func Build(t testing.TB, pkg string) *build.Result {
	t.Helper()
	built.mu.Lock()
	defer built.mu.Unlock()
	if r, ok := built.modules[pkg]; ok {
		return r
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	_, file, _, _ := runtime.Caller(0)
	r, err := build.Build(ctx, build.Options{Package: pkg, Dir: filepath.Join(filepath.Dir(file), "..", "..")})
	if err != nil {
		t.Fatalf("icws build %s: %v", pkg, err)
	}
	built.modules[pkg] = r
	return r
}

// Gzip returns the module of Build gzipped, as a deployment sends it (an uncompressed Go module
// is larger than the IC's ingress limit).
func Gzip(t testing.TB, pkg string) []byte {
	t.Helper()
	return build.Gzip(Build(t, pkg).Wasm, gzip.BestCompression) // an install message is at most 2 MiB
}

// CacheDir is the compilation cache the tests' replicas share (replica.Config.WasmCacheDir):
// one directory for every test binary of a run, so that each module is compiled once.
func CacheDir() string { return filepath.Join(os.TempDir(), "icws-test-wasm-cache") }
