package web

import (
	"github.com/icws/icws/internal/testenv"

	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"
)

// TestPackNPM checks what `npm pack` puts into the icws npm package: the bundled client, its
// TypeScript declarations, the README and package.json, nothing else.
func TestPackNPM(t *testing.T) {
	requireNode(t, false)
	npm, err := exec.LookPath("npm")
	if err != nil {
		t.Fatalf("npm not found (%v): install Node.js 20 or later (it brings npm)", err)
	}
	cmd := exec.CommandContext(t.Context(), npm, "pack", "--dry-run", "--json", "--ignore-scripts")
	cmd.Env = append(os.Environ(), "npm_config_update_notifier=false", "npm_config_audit=false", "npm_config_fund=false")
	cmd.WaitDelay = 5 * time.Second
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("npm pack --dry-run: %v\n%s", err, out)
	}
	var packs []struct {
		Name  string `json:"name"`
		Files []struct {
			Path string `json:"path"`
		} `json:"files"`
	}
	if err := json.Unmarshal(out, &packs); err != nil || len(packs) != 1 {
		t.Fatalf("npm pack --json printed %q (%v), want one package", out, err)
	}
	var got []string
	for _, f := range packs[0].Files {
		got = append(got, f.Path)
	}
	slices.Sort(got)
	want := []string{"README.md", "dist/icws.js", "icws.d.ts", "package.json"}
	if packs[0].Name != "icws" || !slices.Equal(got, want) {
		t.Errorf("npm pack: package %q with %q, want icws with %q", packs[0].Name, got, want)
	}
}

// wantTS matches the "want TSnnnn" marks of test/types/misuse.ts.
var wantTS = regexp.MustCompile(`// want (TS\d+)`)

// tscLine matches one diagnostic of tsc --pretty false: file(line,col): error TSnnnn: text.
var tscLine = regexp.MustCompile(`(?m)^([^\s(]+)\((\d+),\d+\): error (TS\d+):`)

// TestTypeScript type-checks a dapp's code against icws.d.ts with tsc, the package resolved as
// node_modules/icws by its package.json exports: test/types/example.ts must pass, and every
// line of test/types/misuse.ts marked "want TSnnnn" must fail with that error (so the
// declarations do constrain).
func TestTypeScript(t *testing.T) {
	node := requireNode(t, false)
	tsc := filepath.Join(testenv.NodeModules(t, "typescript"), "typescript", "bin", "tsc")
	pkg, err := filepath.Abs(".")
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	if err := os.MkdirAll(filepath.Join(dir, "node_modules"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(pkg, filepath.Join(dir, "node_modules", "icws")); err != nil {
		t.Fatal(err)
	}
	for _, f := range []string{"example.ts", "misuse.ts"} {
		b, err := os.ReadFile(filepath.Join("test", "types", f))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, f), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	run := func(file string) (string, error) {
		cmd := exec.CommandContext(t.Context(), node, tsc, "--pretty", "false", "--noEmit", "--strict",
			"--target", "es2022", "--module", "nodenext", "--moduleResolution", "nodenext",
			"--lib", "es2022,dom", "--skipLibCheck", "false", file)
		cmd.Dir = dir
		cmd.WaitDelay = 5 * time.Second
		out, err := cmd.CombinedOutput()
		return string(out), err
	}
	if out, err := run("example.ts"); err != nil {
		t.Errorf("tsc example.ts: %v\n%s", err, out)
	}

	src, err := os.ReadFile(filepath.Join("test", "types", "misuse.ts"))
	if err != nil {
		t.Fatal(err)
	}
	var want []string
	for i, line := range strings.Split(string(src), "\n") {
		if m := wantTS.FindStringSubmatch(line); m != nil {
			want = append(want, "misuse.ts:"+strconv.Itoa(i+1)+":"+m[1])
		}
	}
	out, err := run("misuse.ts")
	if err == nil {
		t.Fatalf("tsc misuse.ts passed, want errors %q\n%s", want, out)
	}
	var got []string
	for _, m := range tscLine.FindAllStringSubmatch(out, -1) {
		got = append(got, m[1]+":"+m[2]+":"+m[3])
	}
	if len(want) == 0 || !slices.Equal(got, want) {
		t.Errorf("tsc misuse.ts: errors %q, want %q\n%s", got, want, out)
	}
}
