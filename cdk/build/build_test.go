package build_test

import (
	"bytes"
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
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
