package main

import (
	"fmt"
	"os"
	"regexp"
	"strings"

	"github.com/icws/icws/canisters/chat"
	"github.com/icws/icws/canisters/echo"
	"github.com/icws/icws/ic/principal"
	"github.com/icws/icws/replica"
)

// builtinCanisters are the canisters `icws replica` and `icws dev` always host.
func builtinCanisters() []replica.CanisterSpec {
	return []replica.CanisterSpec{
		{Name: "echo", New: echo.New},
		{Name: "chat", New: chat.New},
	}
}

// canisterName is what a --canister name may be: what `icws dev` prints and tools can pass on.
var canisterName = regexp.MustCompile(`^[a-z][a-z0-9_-]{0,62}$`)

// canisterFlag is the repeatable --canister NAME=FILE.wasm flag: the user's own Wasm canisters.
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
	for _, b := range builtinCanisters() {
		if b.Name == name {
			return fmt.Errorf("canister name %q is taken by the built-in %s canister; choose another name", name, name)
		}
	}
	for _, s := range f.specs {
		if s.Name == name {
			return fmt.Errorf("canister name %q is given twice", name)
		}
	}
	wasm, err := os.ReadFile(path)
	if err != nil {
		return fmt.Errorf("canister %s: %w", name, err)
	}
	if len(wasm) < 4 || (string(wasm[:4]) != "\x00asm" && (wasm[0] != 0x1f || wasm[1] != 0x8b)) {
		return fmt.Errorf("canister %s: %s is not a Wasm module (nor a gzip-compressed one); build it with moc, cargo, azle or icws build first", name, path)
	}
	f.specs = append(f.specs, replica.CanisterSpec{Name: name, Wasm: wasm})
	return nil
}

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
func canisterSpecs(user *canisterFlag, controllers principalsFlag) []replica.CanisterSpec {
	specs := builtinCanisters()
	for _, s := range user.specs {
		s.Controllers = append([]principal.Principal(nil), controllers...)
		specs = append(specs, s)
	}
	return specs
}
