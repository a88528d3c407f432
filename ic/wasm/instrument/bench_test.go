package instrument

import (
	"context"
	"testing"

	"github.com/tetratelabs/wazero"
	"github.com/tetratelabs/wazero/api"

	"github.com/icws/icws/ic/wasm"
)

// countModule is (func (export "count") (param i32) (loop local.get 0 i32.const 1 i32.sub
// local.tee 0 br_if 0)): a loop of n iterations.
var countModule = []byte("\x00asm\x01\x00\x00\x00" +
	"\x01\x05\x01\x60\x01\x7f\x00" +
	"\x03\x02\x01\x00" +
	"\x07\x09\x01\x05count\x00\x00" +
	"\x0a\x10\x01\x0e\x00\x03\x40\x20\x00\x41\x01\x6b\x22\x00\x0d\x00\x0b\x0b")

// BenchmarkMeteringOverhead runs the same loop unmetered and metered in wazero's compiler in
// one run; the ratio of the two ns/op is the metering overhead.
func BenchmarkMeteringOverhead(b *testing.B) {
	ctx := context.Background()
	metered, err := wasm.Decode(countModule)
	if err != nil {
		b.Fatal(err)
	}
	if err := Instrument(metered); err != nil {
		b.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		mod  []byte
	}{{"unmetered", countModule}, {"metered", metered.Encode()}} {
		b.Run(tc.name, func(b *testing.B) {
			rt := wazero.NewRuntime(ctx)
			defer rt.Close(ctx)
			if _, err := rt.NewHostModuleBuilder(TrapModule).NewFunctionBuilder().
				WithGoModuleFunction(api.GoModuleFunc(func(context.Context, api.Module, []uint64) { panic(errOutOfInstructions) }), nil, nil).
				Export(TrapName).Instantiate(ctx); err != nil {
				b.Fatal(err)
			}
			inst, err := rt.Instantiate(ctx, tc.mod)
			if err != nil {
				b.Fatal(err)
			}
			f := inst.ExportedFunction("count")
			g, _ := inst.ExportedGlobal(CounterExport).(api.MutableGlobal)
			for b.Loop() {
				if g != nil {
					g.Set(1 << 40)
				}
				if _, err := f.Call(ctx, 100_000); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
