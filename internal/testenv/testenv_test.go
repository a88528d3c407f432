package testenv

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// TestMissing runs this package's test binary on a package that does not exist, with and without
// ICWS_REQUIRE_NPM, and checks it skips, then fails, each time saying to run npm ci.
func TestMissing(t *testing.T) {
	if os.Getenv("ICWS_TESTENV_CHILD") == "1" {
		NodeModules(t, "no-such-package-icws")
		t.Fatal("NodeModules returned for a missing package")
	}
	tests := []struct {
		name    string
		require string
		fails   bool
		want    string
	}{
		{"skips", "", false, "--- SKIP"},
		{"fails when required", "1", true, "--- FAIL"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cmd := exec.Command(os.Args[0], "-test.run", "^TestMissing$", "-test.v")
			cmd.Env = append(os.Environ(), "ICWS_TESTENV_CHILD=1", RequireEnv+"="+tt.require)
			out, err := cmd.CombinedOutput()
			if (err != nil) != tt.fails {
				t.Fatalf("child err = %v, want failure %v\n%s", err, tt.fails, out)
			}
			for _, want := range []string{tt.want, "no-such-package-icws is not installed", "run npm ci at the repository root", "bash scripts/test.sh"} {
				if !strings.Contains(string(out), want) {
					t.Errorf("child output lacks %q:\n%s", want, out)
				}
			}
		})
	}
}

// TestNodeModulesPath checks that the directory returned is the repository root's node_modules.
func TestNodeModulesPath(t *testing.T) {
	dir := nodeModulesDir()
	if filepath.Base(dir) != "node_modules" {
		t.Fatalf("node_modules dir %s", dir)
	}
	if _, err := os.Stat(filepath.Join(dir, "..", "go.mod")); err != nil {
		t.Fatalf("%s is not beside the module's go.mod: %v", dir, err)
	}
}

// TestNodeModulesIn checks that a missing package of a separate npm project skips, then fails
// under RequireEnv, saying to run npm ci in that project's directory.
func TestNodeModulesIn(t *testing.T) {
	if os.Getenv("ICWS_TESTENV_CHILD") == "in" {
		NodeModulesIn(t, "internal/testenv", "no-such-package-icws")
		t.Fatal("NodeModulesIn returned for a missing package")
	}
	for _, tt := range []struct {
		require string
		fails   bool
		want    string
	}{{"", false, "--- SKIP"}, {"1", true, "--- FAIL"}} {
		cmd := exec.Command(os.Args[0], "-test.run", "^TestNodeModulesIn$", "-test.v")
		cmd.Env = append(os.Environ(), "ICWS_TESTENV_CHILD=in", RequireEnv+"="+tt.require)
		out, err := cmd.CombinedOutput()
		if (err != nil) != tt.fails {
			t.Fatalf("child err = %v, want failure %v\n%s", err, tt.fails, out)
		}
		for _, want := range []string{tt.want, "no-such-package-icws is not installed in internal/testenv", "run npm ci in internal/testenv"} {
			if !strings.Contains(string(out), want) {
				t.Errorf("child output lacks %q:\n%s", want, out)
			}
		}
	}
}
