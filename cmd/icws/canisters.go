package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"time"

	"github.com/icws/icws/canisters/chat"
	"github.com/icws/icws/canisters/echo"
	"github.com/icws/icws/canisters/omniaecho"
	"github.com/icws/icws/cdk"
	"github.com/icws/icws/cdk/build"
	"github.com/icws/icws/ic/principal"
	"github.com/icws/icws/replica"
)

// builtins are the canisters `icws replica` and `icws dev` always host: their names, packages
// and native constructors.
var builtins = []struct {
	name, pkg string
	new       func() *cdk.Canister
}{
	{"echo", "github.com/icws/icws/canisters/echo", echo.New},
	{"chat", "github.com/icws/icws/canisters/chat", chat.New},
	{"omnia-echo", "github.com/icws/icws/canisters/omniaecho", omniaecho.New},
}

// builtinCanisters returns the built-in canisters as IC Wasm modules that icws build makes of
// their source, or, with native, as Go values in the replica's process. When their source cannot
// be built here (a binary run outside the icws module, no Go toolchain) it logs why and hosts
// them natively.
func builtinCanisters(ctx context.Context, native bool, log *slog.Logger) ([]replica.CanisterSpec, error) {
	specs := make([]replica.CanisterSpec, len(builtins))
	for i, b := range builtins {
		specs[i] = replica.CanisterSpec{Name: b.name, New: b.new}
	}
	if native {
		return specs, nil
	}
	errs := make([]error, len(builtins))
	var wg sync.WaitGroup
	for i, b := range builtins {
		wg.Go(func() {
			res, err := build.Build(ctx, build.Options{Package: b.pkg, Gzip: false})
			if err != nil {
				errs[i] = err
				return
			}
			specs[i] = replica.CanisterSpec{Name: b.name, Wasm: res.Wasm}
			log.Info("built to IC Wasm with icws build", "canister", b.name, "bytes", len(res.Wasm))
		})
	}
	wg.Wait()
	for i, err := range errs {
		if err == nil {
			continue
		}
		if errors.Is(err, exec.ErrNotFound) || errors.Is(err, build.ErrNoPackage) {
			log.Warn("hosting the built-in canisters as native Go: their source cannot be built here (run icws from the icws module to host them as Wasm, or pass --native to say so)", "canister", builtins[i].name, "err", err)
			for j, b := range builtins {
				specs[j] = replica.CanisterSpec{Name: b.name, New: b.new}
			}
			return specs, nil
		}
		return nil, fmt.Errorf("building the built-in %s canister to Wasm: %w (pass --native to host it as Go)", builtins[i].name, err)
	}
	return specs, nil
}

// canisterName is what a --canister name may be: what `icws dev` prints and tools can pass on.
var canisterName = regexp.MustCompile(`^[a-z][a-z0-9_-]{0,62}$`)

// canisterFlag is the repeatable --canister NAME=PATH flag: the user's own canisters, a Wasm file
// or a Go canister package directory that icws build compiles.
type canisterFlag struct {
	specs []replica.CanisterSpec
}

func (f *canisterFlag) String() string {
	names := make([]string, len(f.specs))
	for i, s := range f.specs {
		names[i] = s.Name
	}
	return strings.Join(names, ",")
}

// Set reads the module at once, so that a wrong path is reported with the flag that named it.
func (f *canisterFlag) Set(v string) error {
	name, path, ok := strings.Cut(v, "=")
	if !ok || name == "" || path == "" {
		return fmt.Errorf("%q is not NAME=FILE.wasm (for example --canister hello=hello.wasm)", v)
	}
	if !canisterName.MatchString(name) {
		return fmt.Errorf("canister name %q: use lower-case letters, digits, - and _, starting with a letter", name)
	}
	for _, b := range builtins {
		if b.name == name {
			return fmt.Errorf("canister name %q is taken by the built-in %s canister; choose another name", name, name)
		}
	}
	for _, s := range f.specs {
		if s.Name == name {
			return fmt.Errorf("canister name %q is given twice", name)
		}
	}
	if fi, err := os.Stat(path); err == nil && fi.IsDir() {
		// A Go canister package: built as icws build would (a flag has no context; the build is
		// bounded on its own).
		ctx, cancel := context.WithTimeout(context.Background(), canisterBuildTimeout)
		defer cancel()
		pkg := path
		if !filepath.IsAbs(pkg) && !strings.HasPrefix(pkg, ".") {
			pkg = "./" + pkg
		}
		res, err := build.Build(ctx, build.Options{Package: pkg})
		if err != nil {
			return fmt.Errorf("canister %s: building the Go package %s: %w", name, path, err)
		}
		f.specs = append(f.specs, replica.CanisterSpec{Name: name, Wasm: res.Wasm})
		return nil
	}
	wasm, err := os.ReadFile(path)
	if err != nil {
		return fmt.Errorf("canister %s: %w (PATH is a .wasm file or a Go canister package directory)", name, err)
	}
	if len(wasm) < 4 || (string(wasm[:4]) != "\x00asm" && (wasm[0] != 0x1f || wasm[1] != 0x8b)) {
		return fmt.Errorf("canister %s: %s is not a Wasm module (nor a gzip-compressed one); build it with moc, cargo, azle or icws build first", name, path)
	}
	f.specs = append(f.specs, replica.CanisterSpec{Name: name, Wasm: wasm})
	return nil
}

// canisterBuildTimeout bounds icws build of a --canister package.
const canisterBuildTimeout = 5 * time.Minute

// principalsFlag is a repeatable flag of principals (comma-separated or repeated).
type principalsFlag []principal.Principal

func (f *principalsFlag) String() string {
	s := make([]string, len(*f))
	for i, p := range *f {
		s[i] = p.String()
	}
	return strings.Join(s, ",")
}

func (f *principalsFlag) Set(v string) error {
	for _, t := range strings.Split(v, ",") {
		if t = strings.TrimSpace(t); t == "" {
			continue
		}
		p, err := principal.Decode(t)
		if err != nil {
			return fmt.Errorf("%q is not a principal (icp identity principal prints yours): %w", t, err)
		}
		*f = append(*f, p)
	}
	return nil
}

// canisterSpecs is the built-in canisters followed by the user's, each of the user's controlled
// by controllers.
func canisterSpecs(builtin []replica.CanisterSpec, user *canisterFlag, controllers principalsFlag) []replica.CanisterSpec {
	specs := builtin
	for _, s := range user.specs {
		s.Controllers = append([]principal.Principal(nil), controllers...)
		specs = append(specs, s)
	}
	return specs
}

// wasmCacheDir is where the replica keeps compiled Wasm modules: the user's cache directory
// (~/.cache/icws/wasm on Linux), or none when there is no such directory.
func wasmCacheDir() string {
	d, err := os.UserCacheDir()
	if err != nil {
		return ""
	}
	return filepath.Join(d, "icws", "wasm")
}
