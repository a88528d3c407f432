package instrument

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/tetratelabs/wazero"
	"github.com/tetratelabs/wazero/api"

	"github.com/icws/icws/ic/wasm"

	"github.com/icws/icws/internal/testenv"
)

var errOutOfInstructions = errors.New("instruction limit exceeded")

// instantiate instruments mod and runs it in wazero, with every ic0 import a stub that returns
// zeros (ic0.trap and the metering trap fail the call).
func instantiate(t *testing.T, mod []byte) (api.Module, func()) {
	t.Helper()
	m, err := wasm.Decode(mod)
	if err != nil {
		t.Fatal(err)
	}
	if err := Instrument(m); err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	rt := wazero.NewRuntimeWithConfig(ctx, wazero.NewRuntimeConfigInterpreter())
	hosts := map[string]wazero.HostModuleBuilder{}
	for _, im := range m.Imports {
		ft := m.Types[im.TypeIdx]
		hb, ok := hosts[im.Module]
		if !ok {
			hb = rt.NewHostModuleBuilder(im.Module)
			hosts[im.Module] = hb
		}
		name := im.Name
		fail := name == TrapName || name == "trap"
		nres := len(ft.Results)
		hb.NewFunctionBuilder().WithGoModuleFunction(api.GoModuleFunc(func(ctx context.Context, _ api.Module, stack []uint64) {
			if fail {
				panic(errOutOfInstructions)
			}
			for i := range nres {
				stack[i] = 0
			}
		}), types(ft.Params), types(ft.Results)).Export(name)
	}
	for _, hb := range hosts {
		if _, err := hb.Instantiate(ctx); err != nil {
			t.Fatal(err)
		}
	}
	inst, err := rt.InstantiateWithConfig(ctx, m.Encode(), wazero.NewModuleConfig().WithStartFunctions())
	if err != nil {
		t.Fatalf("instrumented module: %v", err)
	}
	return inst, func() { rt.Close(ctx) }
}

func types(v []wasm.ValType) []api.ValueType {
	out := make([]api.ValueType, len(v))
	for i, t := range v {
		out[i] = api.ValueType(t)
	}
	return out
}

// run sets the counter to limit, calls the export and returns the instructions used.
func run(t *testing.T, inst api.Module, export string, limit int64) (int64, error) {
	g := inst.ExportedGlobal(CounterExport).(api.MutableGlobal)
	g.Set(uint64(limit))
	_, err := inst.ExportedFunction(export).Call(context.Background())
	return limit - int64(g.Get()), err
}

// loopModule is (func (export "spin") (loop (br 0))) with an i32 counter decrement.
var loopModule = []byte("\x00asm\x01\x00\x00\x00" +
	"\x01\x04\x01\x60\x00\x00" + // type () -> ()
	"\x03\x02\x01\x00" + // one function
	"\x07\x08\x01\x04spin\x00\x00" +
	"\x0a\x09\x01\x07\x00\x03\x40\x0c\x00\x0b\x0b") // loop br 0 end end

func TestLoopTrapsAtLimit(t *testing.T) {
	inst, done := instantiate(t, loopModule)
	defer done()
	used, err := run(t, inst, "spin", 1000)
	if !errors.Is(err, errOutOfInstructions) {
		t.Fatalf("err = %v, want the metering trap", err)
	}
	// Entry block: loop (1); each iteration: br (1). The check runs after the charge that
	// makes the counter negative.
	if used <= 1000 || used > 1002 {
		t.Fatalf("used %d instructions at limit 1000", used)
	}
	used2, _ := run(t, inst, "spin", 1000)
	if used2 != used {
		t.Fatalf("not deterministic: %d then %d", used, used2)
	}
}

func mocModule(t *testing.T, pkg string) []byte {
	node, modules := testenv.Node(t, pkg)
	dir := filepath.Join(modules, pkg)
	tmp := t.TempDir()
	script := `const mo = require(process.argv[2]); mo.write('Main.mo', 'persistent actor { var n : Nat = 0; public func inc() : async Nat { n += 1; n }; public query func get() : async Nat { n } };');
const r = mo.wasm('Main.mo', 'ic'); require('fs').writeFileSync(process.argv[3], r.wasm);`
	js := filepath.Join(tmp, "moc.js")
	os.WriteFile(js, []byte(script), 0o644)
	out := filepath.Join(tmp, "m.wasm")
	if b, err := exec.Command(node, js, dir, out).CombinedOutput(); err != nil {
		t.Fatalf("moc: %v\n%s", err, b)
	}
	b, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestMocDeterministic instruments a moc 3.9.7 module, runs canister_init in wazero twice in
// fresh instances, and checks the counts agree (wazero has no memory64, so moc 4.10 is only
// instrumented and re-decoded here).
func TestMocDeterministic(t *testing.T) {
	mod := mocModule(t, "motoko")
	var counts []int64
	for range 2 {
		inst, done := instantiate(t, mod)
		if _, err := run(t, inst, StartExport, 1<<40); err != nil {
			t.Fatalf("canister_start: %v", err)
		}
		used, err := run(t, inst, "canister_init", 1<<40)
		done()
		if err != nil {
			t.Logf("canister_init: %v", err)
		}
		counts = append(counts, used)
	}
	if counts[0] <= 0 || counts[0] != counts[1] {
		t.Fatalf("counts %v, want equal and positive", counts)
	}
	t.Logf("canister_init: %d instructions", counts[0])
	m, err := wasm.Decode(mocModule(t, "motoko4"))
	if err != nil {
		t.Fatal(err)
	}
	if err := Instrument(m); err != nil {
		t.Fatal(err)
	}
	if _, err := wasm.Decode(m.Encode()); err != nil {
		t.Fatal(err)
	}
}

// TestExactCounts: the loop of countModule costs loop (1) + 5 per iteration + two ends.
func TestExactCounts(t *testing.T) {
	inst, done := instantiate(t, countModule)
	defer done()
	for _, tt := range []struct{ n, want int64 }{{1, 8}, {10, 53}, {1000, 5003}} {
		g := inst.ExportedGlobal(CounterExport).(api.MutableGlobal)
		g.Set(1 << 40)
		if _, err := inst.ExportedFunction("count").Call(context.Background(), uint64(tt.n)); err != nil {
			t.Fatal(err)
		}
		if used := int64(1<<40) - int64(g.Get()); used != tt.want {
			t.Errorf("count(%d) used %d instructions, want %d", tt.n, used, tt.want)
		}
	}
}
