// Package build compiles a Go canister package to an Internet Computer Wasm module: what
// `icws build` runs.
//
// A canister package is a Go package (not main) with a function New() *cdk.Canister, as
// canisters/echo and canisters/chat are. Build runs New natively once to learn the canister's
// methods and Candid interface, generates a main package that serves the canister through
// cdk/ic0 with one //go:wasmexport per entry point, compiles it with GOOS=wasip1 GOARCH=wasm
// -buildmode=c-shared (the generated files live only in a go build -overlay), and post-links
// the result (ic/wasm/postlink) into a module that passes the IC's checks.
package build

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"text/template"

	"github.com/icws/icws/ic/wasm/postlink"
)

// ErrBuild is wrapped by every error of Build.
var ErrBuild = errors.New("icws build")

// ErrNoPackage is wrapped (beside ErrBuild) when the go command cannot find or load the
// package: it is not there, or not in a module the current directory can see.
var ErrNoPackage = errors.New("package not found")

// Options configure Build.
type Options struct {
	// Package is the canister package: an import path, or a directory such as ./canisters/echo
	// relative to Dir.
	Package string
	// Dir is the directory the go command runs in (inside the package's module); "" is the
	// current directory.
	Dir string
	// Candid, when not empty, is the Candid interface to publish in place of Canister.Candid.
	Candid string
	// Gzip compresses the module (the IC accepts gzipped modules; the hash is then the gzip's).
	Gzip bool
	// Go is the go command; "" means "go" on PATH.
	Go string
	// KeepNames keeps the custom sections the IC does not read (the name section, producers,
	// go:buildid), which Build removes by default (postlink.Options.KeepNames).
	KeepNames bool
	// Size measures the module into Result.Size, with its code by Go package.
	Size bool
}

// Entry is one entry point of the built module.
type Entry struct {
	Export string // the name in the module, e.g. "canister_update ws_open"
	GoName string // the //go:wasmexport name the post-linker renamed
}

// Result is a built module and what went into it.
type Result struct {
	Wasm       []byte // the module, gzipped if Options.Gzip
	RawSize    int    // the uncompressed module's size
	ImportPath string
	Updates    []string
	Queries    []string
	Entries    []Entry
	Candid     string
	Link       *postlink.Report
	// Size is the module's breakdown (Options.Size), measured before the custom sections were
	// removed: those Link removed are marked so.
	Size *Size
}

// inspection is what the native run of New reports.
type inspection struct {
	Updates     []string `json:"updates"`
	Queries     []string `json:"queries"`
	Init        bool     `json:"init"`
	Timer       bool     `json:"timer"`
	PreUpgrade  bool     `json:"pre_upgrade"`
	PostUpgrade bool     `json:"post_upgrade"`
	Candid      string   `json:"candid"`
}

// forbidden are packages a canister cannot use on the IC; Build refuses a canister that
// imports one, naming the path that brings it in.
var forbidden = map[string]string{
	"net":       "a canister cannot open sockets: it talks to the world through its callers (and HTTPS outcalls)",
	"net/http":  "a canister cannot serve or make HTTP requests with net/http",
	"os/exec":   "a canister cannot start processes",
	"os/signal": "a canister gets no signals",
	"plugin":    "a canister cannot load code",
}

// Build compiles the canister package opts.Package.
func Build(ctx context.Context, opts Options) (*Result, error) {
	goCmd := opts.Go
	if goCmd == "" {
		goCmd = "go"
	}
	pkg, err := list(ctx, goCmd, opts.Dir, opts.Package)
	if err != nil {
		return nil, err
	}
	if pkg.Name == "main" {
		return nil, fmt.Errorf("%w: %s is a main package; a canister package is a library with func New() *cdk.Canister (see canisters/echo)", ErrBuild, pkg.ImportPath)
	}
	deps, err := checkImports(ctx, goCmd, opts.Dir, pkg.ImportPath)
	if err != nil {
		return nil, err
	}
	tmp, err := os.MkdirTemp("", "icws-build-")
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrBuild, err)
	}
	defer os.RemoveAll(tmp)

	// 1. Learn the methods: run New natively.
	var in inspection
	out, err := runOverlay(ctx, goCmd, opts.Dir, tmp, pkg.ModuleDir, "inspect", inspectTmpl, pkg.ImportPath, nil, "run")
	if err != nil {
		return nil, err
	}
	if err := json.Unmarshal(out, &in); err != nil {
		return nil, fmt.Errorf("%w: reading the canister's methods: %w (output %q)", ErrBuild, err, out)
	}
	res := &Result{ImportPath: pkg.ImportPath, Updates: in.Updates, Queries: in.Queries, Candid: in.Candid}
	if opts.Candid != "" {
		res.Candid = opts.Candid
	}
	exports := map[string]string{}
	add := func(goName, icName string) {
		exports[goName] = icName
		res.Entries = append(res.Entries, Entry{Export: icName, GoName: goName})
	}
	for i, name := range in.Updates {
		add(fmt.Sprintf("icws_update_%d", i), "canister_update "+name)
	}
	for i, name := range in.Queries {
		add(fmt.Sprintf("icws_query_%d", i), "canister_query "+name)
	}
	for _, e := range []struct {
		on     bool
		goName string
	}{{in.Init, "icws_init"}, {in.Timer, "icws_timer"}, {in.PreUpgrade, "icws_pre_upgrade"}, {in.PostUpgrade, "icws_post_upgrade"}} {
		if e.on {
			add(e.goName, icNames[e.goName])
		}
	}

	// 2. Compile the module.
	wasmPath := filepath.Join(tmp, "canister.wasm")
	if _, err := runOverlay(ctx, goCmd, opts.Dir, tmp, pkg.ModuleDir, "wasm", wasmTmpl, pkg.ImportPath, &in,
		"build", "-buildmode=c-shared", "-trimpath", "-o", wasmPath); err != nil {
		return nil, err
	}
	raw, err := os.ReadFile(wasmPath)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrBuild, err)
	}

	// 3. Post-link.
	lopts := postlink.Options{Exports: exports, Candid: res.Candid, KeepNames: opts.KeepNames}
	if opts.Size && !opts.KeepNames {
		// Measure with the names (they attribute the code to packages), then link without.
		named, _, err := postlink.Link(raw, postlink.Options{Exports: exports, Candid: res.Candid, KeepNames: true})
		if err != nil {
			return nil, fmt.Errorf("%w: %w", ErrBuild, err)
		}
		if res.Size, err = Measure(named, deps); err != nil {
			return nil, err
		}
	}
	linked, rep, err := postlink.Link(raw, lopts)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrBuild, err)
	}
	if opts.Size && opts.KeepNames {
		if res.Size, err = Measure(linked, deps); err != nil {
			return nil, err
		}
	}
	if res.Size != nil {
		for i, c := range res.Size.Custom {
			res.Size.Custom[i].Stripped = slices.Contains(rep.Stripped, c.Name)
		}
	}
	res.Link, res.RawSize, res.Wasm = rep, len(linked), linked
	if opts.Gzip {
		res.Wasm = Gzip(linked, gzip.BestCompression)
	}
	return res, nil
}

// Gzip compresses a module as the IC accepts it (install_code and chunked uploads take gzipped
// modules; the module hash is then the gzip's). level is a compress/gzip level.
func Gzip(wasm []byte, level int) []byte {
	var b bytes.Buffer
	zw, err := gzip.NewWriterLevel(&b, level)
	if err != nil {
		zw, _ = gzip.NewWriterLevel(&b, gzip.DefaultCompression)
	}
	zw.Write(wasm) // writes to a bytes.Buffer do not fail
	zw.Close()
	return b.Bytes()
}

// icNames are the IC names of the fixed entry points.
var icNames = map[string]string{
	"icws_init":         "canister_init",
	"icws_timer":        "canister_global_timer",
	"icws_pre_upgrade":  "canister_pre_upgrade",
	"icws_post_upgrade": "canister_post_upgrade",
}

type pkgInfo struct {
	ImportPath string
	Name       string
	ModuleDir  string
}

func list(ctx context.Context, goCmd, dir, pattern string) (*pkgInfo, error) {
	cmd := exec.CommandContext(ctx, goCmd, "list", "-f", "{{.ImportPath}}\t{{.Name}}\t{{with .Module}}{{.Dir}}{{end}}", pattern)
	cmd.Dir = dir
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return nil, fmt.Errorf("%w: %w: go list %s: %w\n%s", ErrBuild, ErrNoPackage, pattern, err, stderr.Bytes())
	}
	lines := strings.Split(strings.TrimSpace(string(out)), "\n")
	if len(lines) != 1 {
		return nil, fmt.Errorf("%w: %s names %d packages; name one canister package", ErrBuild, pattern, len(lines))
	}
	f := strings.Split(lines[0], "\t")
	if len(f) != 3 || f[2] == "" {
		return nil, fmt.Errorf("%w: %s is not in a Go module (run icws build inside the module that holds it)", ErrBuild, pattern)
	}
	return &pkgInfo{ImportPath: f[0], Name: f[1], ModuleDir: f[2]}, nil
}

// checkImports refuses a canister whose wasip1 build imports a forbidden package; it returns
// the import paths of the build (the package and its dependencies).
func checkImports(ctx context.Context, goCmd, dir, importPath string) ([]string, error) {
	cmd := exec.CommandContext(ctx, goCmd, "list", "-deps", "-f", "{{.ImportPath}}\t{{join .Imports \" \"}}", importPath)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "GOOS=wasip1", "GOARCH=wasm", "CGO_ENABLED=0")
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return nil, fmt.Errorf("%w: go list -deps %s for wasip1: %w\n%s", ErrBuild, importPath, err, stderr.Bytes())
	}
	var deps []string
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		from, imports, _ := strings.Cut(line, "\t")
		deps = append(deps, from)
		for _, imp := range strings.Fields(imports) {
			if why, bad := forbidden[imp]; bad {
				return nil, fmt.Errorf("%w: %s imports %s (from %s): %s", ErrBuild, importPath, imp, from, why)
			}
		}
	}
	return deps, nil
}

// runOverlay writes the template's file for the package into an overlay directory of the module
// and runs go <verb> on it.
func runOverlay(ctx context.Context, goCmd, dir, tmp, moduleDir, name string, tmpl *template.Template, importPath string, in *inspection, args ...string) ([]byte, error) {
	var src bytes.Buffer
	if err := tmpl.Execute(&src, map[string]any{"Pkg": importPath, "In": in, "Entries": entries(in)}); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrBuild, err)
	}
	file := filepath.Join(tmp, name+".go")
	if err := os.WriteFile(file, src.Bytes(), 0o644); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrBuild, err)
	}
	virtual := filepath.Join(moduleDir, ".icws-build-"+name)
	overlay, _ := json.Marshal(map[string]any{"Replace": map[string]string{filepath.Join(virtual, "main.go"): file}})
	overlayFile := filepath.Join(tmp, name+".json")
	if err := os.WriteFile(overlayFile, overlay, 0o644); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrBuild, err)
	}
	verb, rest := args[0], args[1:]
	cmdArgs := append([]string{verb, "-overlay", overlayFile}, rest...)
	cmdArgs = append(cmdArgs, virtual)
	cmd := exec.CommandContext(ctx, goCmd, cmdArgs...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	if in != nil {
		cmd.Env = append(cmd.Env, "GOOS=wasip1", "GOARCH=wasm")
	}
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		msg := stderr.String()
		if strings.Contains(msg, "undefined: canister.New") || strings.Contains(msg, "cannot use canister.New") {
			return nil, fmt.Errorf("%w: %s has no func New() *cdk.Canister, which icws build calls to make the canister (see canisters/echo)\n%s", ErrBuild, importPath, msg)
		}
		return nil, fmt.Errorf("%w: go %s: %w\n%s", ErrBuild, verb, err, msg)
	}
	return out, nil
}

type entry struct{ GoName, Call string }

// entries are the //go:wasmexport functions of the generated main.
func entries(in *inspection) []entry {
	if in == nil {
		return nil
	}
	var out []entry
	for i := range in.Updates {
		out = append(out, entry{fmt.Sprintf("icws_update_%d", i), fmt.Sprintf("ic0.Update(%d)", i)})
	}
	for i := range in.Queries {
		out = append(out, entry{fmt.Sprintf("icws_query_%d", i), fmt.Sprintf("ic0.Query(%d)", i)})
	}
	for _, e := range []struct {
		on           bool
		goName, call string
	}{{in.Init, "icws_init", "ic0.Init()"}, {in.Timer, "icws_timer", "ic0.Timer()"},
		{in.PreUpgrade, "icws_pre_upgrade", "ic0.PreUpgrade()"}, {in.PostUpgrade, "icws_post_upgrade", "ic0.PostUpgrade()"}} {
		if e.on {
			out = append(out, entry{e.goName, e.call})
		}
	}
	return out
}

// quoteList writes a Go []string literal.
func quoteList(s []string) string {
	q := make([]string, len(s))
	for i, v := range s {
		q[i] = fmt.Sprintf("%q", v)
	}
	return "[]string{" + strings.Join(q, ", ") + "}"
}

var funcs = template.FuncMap{"list": quoteList}

var inspectTmpl = template.Must(template.New("inspect").Parse(`// Code generated by icws build. DO NOT EDIT.

package main

import (
	"encoding/json"
	"os"
	"slices"

	canister "{{.Pkg}}"
)

func main() {
	c := canister.New()
	var u, q []string
	for n := range c.Updates {
		u = append(u, n)
	}
	for n := range c.Queries {
		q = append(q, n)
	}
	slices.Sort(u)
	slices.Sort(q)
	json.NewEncoder(os.Stdout).Encode(map[string]any{
		"updates": u, "queries": q, "init": c.Init != nil, "timer": c.Timer != nil,
		"pre_upgrade": c.PreUpgrade != nil, "post_upgrade": c.PostUpgrade != nil, "candid": c.Candid,
	})
}
`))

var wasmTmpl = template.Must(template.New("wasm").Funcs(funcs).Parse(`// Code generated by icws build. DO NOT EDIT.

package main

import (
	"github.com/icws/icws/cdk/ic0"

	canister "{{.Pkg}}"
)

func init() {
	ic0.Serve(canister.New(), ic0.Methods{Updates: {{list .In.Updates}}, Queries: {{list .In.Queries}}})
}
{{range .Entries}}
//go:wasmexport {{.GoName}}
func {{.GoName}}() { {{.Call}} }
{{end}}
func main() {}
`))
