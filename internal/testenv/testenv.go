// Package testenv checks, for tests, that the repository's npm packages (npm ci at the root) and
// Node.js are installed. A test that needs them skips without them, saying what to run, unless
// the environment variable ICWS_REQUIRE_NPM is set (scripts/test.sh sets ICWS_REQUIRE_NPM=1, so
// CI never skips): then it fails. It also holds the in-memory network of the tests that run in a
// testing/synctest bubble (PipeListener, HandlerTransport; see pipe.go).
package testenv

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"testing"
)

// RequireEnv is the environment variable that turns the skips of this package into failures.
const RequireEnv = "ICWS_REQUIRE_NPM"

// NodeModules returns the absolute path of the repository's node_modules after checking that
// each npm package of pkgs (a name such as "motoko" or "@dfinity/agent") is installed there.
func NodeModules(t testing.TB, pkgs ...string) string {
	t.Helper()
	dir := nodeModulesDir()
	for _, pkg := range pkgs {
		if _, err := os.Stat(filepath.Join(dir, filepath.FromSlash(pkg), "package.json")); err != nil {
			missing(t, fmt.Sprintf("the npm package %s is not installed (%v)", pkg, err))
		}
	}
	return dir
}

// NodeModulesIn is NodeModules for the npm project in dir, a directory of the repository given
// relative to its root (such as "gateway/testdata/omnia-js"): a project installed apart from the
// root's, with npm ci in dir, because it pins versions the root's packages conflict with.
func NodeModulesIn(t testing.TB, dir string, pkgs ...string) string {
	t.Helper()
	nm := filepath.Join(nodeModulesDir(), "..", filepath.FromSlash(dir), "node_modules")
	for _, pkg := range pkgs {
		if _, err := os.Stat(filepath.Join(nm, filepath.FromSlash(pkg), "package.json")); err != nil {
			missingIn(t, fmt.Sprintf("the npm package %s is not installed in %s (%v)", pkg, dir, err), "run npm ci in "+dir+" (or bash scripts/test.sh, which does and runs every test)")
		}
	}
	return nm
}

// Node returns the path of the node binary and of node_modules after checking that Node.js is
// on PATH and each package of pkgs is installed.
func Node(t testing.TB, pkgs ...string) (node, nodeModules string) {
	t.Helper()
	node, err := exec.LookPath("node")
	if err != nil {
		missing(t, fmt.Sprintf("node is not on PATH (%v): install Node.js 20 or later", err))
	}
	return node, NodeModules(t, pkgs...)
}

// missing skips the test, or fails it when RequireEnv is set, saying what to run.
func missing(t testing.TB, what string) {
	t.Helper()
	missingIn(t, what, "run npm ci at the repository root (or bash scripts/test.sh, which does and runs every test)")
}

// missingIn is missing with the fix to suggest.
func missingIn(t testing.TB, what, fix string) {
	t.Helper()
	if os.Getenv(RequireEnv) != "" {
		t.Fatalf("%s; %s is set, so this fails instead of skipping: %s", what, RequireEnv, fix)
	}
	t.Skipf("%s: %s; set %s=1 to fail instead", what, fix, RequireEnv)
}

// nodeModulesDir is the repository's node_modules, found from this file's place in the module.
func nodeModulesDir() string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Join(filepath.Dir(file), "..", "..", "node_modules")
}
