package build_test

import (
	"bytes"
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/icws/icws/cdk/build"
	"github.com/icws/icws/ic/wasm"
	"github.com/icws/icws/internal/testenv"
	"github.com/icws/icws/internal/wasmtest"
)

// TestBuiltModules builds the repository's canisters and checks each module as the IC would:
// only ic0 imports, the IC's export names, few data segments, the Candid metadata, CheckIC.
func TestBuiltModules(t *testing.T) {
	for _, pkg := range []string{wasmtest.Echo, wasmtest.Chat} {
		t.Run(filepath.Base(pkg), func(t *testing.T) {
			res := wasmtest.Build(t, pkg)
			m, _, err := wasm.DecodeIC(res.Wasm)
			if err != nil {
				t.Fatalf("CheckIC: %v", err)
			}
			for _, im := range m.Imports {
				if im.Module != "ic0" {
					t.Errorf("import %s.%s", im.Module, im.Name)
				}
			}
			exports := map[string]bool{}
			for _, e := range m.Exports {
				exports[e.Name] = true
			}
			for _, want := range []string{"canister_update ws_open", "canister_query ws_get_messages", "canister_global_timer", "canister_pre_upgrade", "canister_post_upgrade"} {
				if !exports[want] {
					t.Errorf("no export %q", want)
				}
			}
			for name := range exports {
				if strings.HasPrefix(name, "icws_") || name == "_initialize" {
					t.Errorf("Go's export %q left in", name)
				}
			}
			if m.Start == nil {
				t.Error("no start function (Go's runtime would never initialise)")
			}
			if len(m.Data) > 64 {
				t.Errorf("%d data segments", len(m.Data))
			}
			if d, ok := m.CustomSection("icp:public candid:service"); !ok || !bytes.Contains(d, []byte(`"ws_open": (blob, blob) -> (bool);`)) {
				t.Errorf("candid:service %q", d)
			}
			t.Logf("%s: %d bytes, %d data segments (from %d), %d functions, ic0 imports %d", pkg, len(res.Wasm), res.Link.DataAfter, res.Link.DataBefore, len(m.Funcs), len(m.Imports))
		})
	}
}

// TestICWasmAgrees runs DFINITY's ic-wasm on the built module: its metadata reader finds the
// Candid interface and check-endpoints finds the exports and the interface in agreement.
func TestICWasmAgrees(t *testing.T) {
	bin := filepath.Join(testenv.NodeModules(t, "@icp-sdk/ic-wasm-linux-x64"), "@icp-sdk", "ic-wasm-linux-x64", "bin", "ic-wasm")
	for _, pkg := range []string{wasmtest.Echo, wasmtest.BenchCanister} {
		t.Run(filepath.Base(pkg), func(t *testing.T) { icWasmAgrees(t, bin, pkg) })
	}
}

// icWasmAgrees is TestICWasmAgrees for the canister package pkg.
func icWasmAgrees(t *testing.T, bin, pkg string) {
	res := wasmtest.Build(t, pkg)
	dir := t.TempDir()
	mod, did, hidden := filepath.Join(dir, "echo.wasm"), filepath.Join(dir, "echo.did"), filepath.Join(dir, "hidden.txt")
	os.WriteFile(mod, res.Wasm, 0o644)
	os.WriteFile(did, []byte(res.Candid), 0o644)
	// ic-wasm counts the system entry points as endpoints missing from the Candid file unless
	// they are named as hidden.
	entries := "canister_global_timer\ncanister_pre_upgrade\ncanister_post_upgrade\n"
	if pkg == wasmtest.BenchCanister {
		entries += "canister_init\n" // its init argument is the owner
	}
	os.WriteFile(hidden, []byte(entries), 0o644)
	run := func(args ...string) string {
		out, err := exec.Command(bin, append([]string{mod}, args...)...).CombinedOutput()
		if err != nil {
			t.Fatalf("ic-wasm %s: %v\n%s", strings.Join(args, " "), err, out)
		}
		return string(out)
	}
	if out := run("check-endpoints", "--candid", did, "--hidden", hidden); !strings.Contains(out, "match") {
		t.Errorf("check-endpoints: %s", out)
	}
	if out := run("metadata", "candid:service"); out != res.Candid && strings.TrimSpace(out) != strings.TrimSpace(res.Candid) {
		t.Errorf("metadata candid:service = %q", out)
	}
	info := run("info")
	for _, want := range []string{`"canister_update ws_open`, "Start function: Some", "icp:public candid:service"} {
		if !strings.Contains(info, want) {
			t.Errorf("ic-wasm info lacks %q:\n%s", want, info)
		}
	}
	// Without the hidden list it names the system entry points: the check is real.
	if out, err := exec.Command(bin, mod, "check-endpoints", "--candid", did).CombinedOutput(); err == nil {
		t.Errorf("check-endpoints without --hidden passed: %s", out)
	}
}

// TestBuildRefuses lists what icws build refuses, each with an error that says what to do.
func TestBuildRefuses(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	for _, tc := range []struct{ pkg, want string }{
		{"../../cmd/icws", "is a main package"},
		{"../../protocol", "has no func New() *cdk.Canister"},
		{"../../gateway", "imports net"},
		{"./nonexistent", "go list"},
	} {
		_, err := build.Build(ctx, build.Options{Package: tc.pkg})
		if !errors.Is(err, build.ErrBuild) || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("build %s: %v, want an error saying %q", tc.pkg, err, tc.want)
		}
		if notFound := tc.pkg == "./nonexistent"; errors.Is(err, build.ErrNoPackage) != notFound {
			t.Errorf("build %s: errors.Is(err, ErrNoPackage) = %v, want %v", tc.pkg, !notFound, notFound)
		}
	}
}

// TestSizeAndStrip builds echo with its size measured: the breakdown accounts for every byte of
// code by package, and the module Build returns has lost exactly the custom sections the IC does
// not read (the Candid metadata stays), and no function is unreachable.
func TestSizeAndStrip(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	res, err := build.Build(ctx, build.Options{Package: wasmtest.Echo, Dir: "../..", Size: true})
	if err != nil {
		t.Fatal(err)
	}
	s := res.Size
	if s == nil || len(s.Packages) == 0 {
		t.Fatalf("no size breakdown by package: %+v", s)
	}
	bytes, funcs := 0, 0
	per := map[string]build.PackageSize{}
	for _, p := range s.Packages {
		bytes += p.Bytes
		funcs += p.Functions
		per[p.Package] = p
	}
	if bytes != s.Code || funcs != s.Functions {
		t.Errorf("packages sum to %d bytes in %d functions, the code is %d in %d", bytes, funcs, s.Code, s.Functions)
	}
	for _, want := range []string{"runtime", "github.com/icws/icws/cdk/websocket", "github.com/icws/icws/ic/candid", "math/big"} {
		if per[want].Bytes == 0 {
			t.Errorf("no code attributed to %s", want)
		}
	}
	if n := per["(post-linker)"].Functions; n != len(res.Link.WASIReplaced) {
		t.Errorf("%d functions without a name, want the %d WASI stand-ins", n, len(res.Link.WASIReplaced))
	}
	if s.Code+s.Data > s.Total || s.Other <= 0 {
		t.Errorf("code %d + data %d of %d bytes, other %d", s.Code, s.Data, s.Total, s.Other)
	}

	stripped := 0
	for _, c := range s.Custom {
		if c.Stripped != !strings.HasPrefix(c.Name, "icp:") {
			t.Errorf("custom section %s: stripped %v", c.Name, c.Stripped)
		}
		if c.Stripped {
			stripped += c.Bytes
		}
	}
	if !slices.Contains(res.Link.Stripped, "name") || res.Link.StrippedBytes != stripped {
		t.Errorf("Link stripped %v (%d bytes), the breakdown says %d", res.Link.Stripped, res.Link.StrippedBytes, stripped)
	}
	// Each removed section also took its id byte, its size (5 bytes, as Go pads it) and its name's
	// length.
	if saved := s.Total - len(res.Wasm); saved < stripped || saved > stripped+7*len(res.Link.Stripped) {
		t.Errorf("the module is %d bytes, %d less than with names; the sections were %d", len(res.Wasm), saved, stripped)
	}
	m, _, err := wasm.DecodeIC(res.Wasm)
	if err != nil {
		t.Fatal(err)
	}
	for _, sec := range m.Sections {
		if sec.ID == wasm.SecCustom && !strings.HasPrefix(sec.Custom.Name, "icp:") {
			t.Errorf("custom section %q left in", sec.Custom.Name)
		}
	}
	if _, ok := m.CustomSection("icp:public candid:service"); !ok {
		t.Error("candid:service stripped")
	}
	if res.Link.Unreachable != 0 {
		t.Errorf("%d unreachable functions (Go's linker leaves none)", res.Link.Unreachable)
	}

	// The stripped module has no names to attribute code with; Print says so.
	again, err := build.Measure(res.Wasm, nil)
	if err != nil {
		t.Fatal(err)
	}
	var out strings.Builder
	again.Print(&out, 10)
	if len(again.Packages) != 0 || again.Total != len(res.Wasm) || !strings.Contains(out.String(), "no name section (build with --keep-names)") {
		t.Errorf("Measure of the stripped module: %d packages, %d bytes:\n%s", len(again.Packages), again.Total, out.String())
	}
	out.Reset()
	s.Print(&out, 10)
	t.Logf("\n%s", out.String())
	if !strings.Contains(out.String(), "runtime") || !strings.Contains(out.String(), "more packages") {
		t.Errorf("Print:\n%s", out.String())
	}

	// A malformed module is an error that says so.
	if _, err := build.Measure([]byte("\x00asm\x01\x00\x00\x00\x0a\x05"), nil); !errors.Is(err, build.ErrBuild) || !errors.Is(err, wasm.ErrMalformed) {
		t.Errorf("Measure of a truncated module: %v", err)
	}
}
