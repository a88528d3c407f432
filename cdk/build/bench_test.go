package build_test

import (
	"context"
	"os"
	"testing"
	"time"

	"github.com/icws/icws/cdk/build"
	"github.com/icws/icws/internal/wasmtest"
	"github.com/icws/icws/replica/wasmhost"
)

// BenchmarkInstallEcho compiles and instantiates echo's module (the replica's install: check,
// instrument, compile, run the start function, on a fresh host without a compilation cache) as
// icws build writes it ("stripped") and with --keep-names ("names"), in one run: the ratio is
// what the stripped custom sections cost an install. ICWS_BENCH_BASELINE_WASM names a module file
// to install in the same run as a third case, "baseline" (such as echo built from another commit).
func BenchmarkInstallEcho(b *testing.B) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	named, err := build.Build(ctx, build.Options{Package: wasmtest.Echo, Dir: "../..", KeepNames: true})
	cancel()
	if err != nil {
		b.Fatal(err)
	}
	cases := []struct {
		name string
		wasm []byte
	}{{"stripped", wasmtest.Build(b, wasmtest.Echo).Wasm}, {"names", named.Wasm}}
	if f := os.Getenv("ICWS_BENCH_BASELINE_WASM"); f != "" {
		w, err := os.ReadFile(f)
		if err != nil {
			b.Fatalf("ICWS_BENCH_BASELINE_WASM: %v", err)
		}
		cases = append(cases, struct {
			name string
			wasm []byte
		}{"baseline", w})
	}
	for _, c := range cases {
		b.Run(c.name, func(b *testing.B) {
			b.SetBytes(int64(len(c.wasm)))
			ctx := context.Background()
			for b.Loop() {
				h, err := wasmhost.New(ctx, wasmhost.Options{})
				if err != nil {
					b.Fatal(err)
				}
				m, err := h.Compile(ctx, c.wasm)
				if err != nil {
					b.Fatal(err)
				}
				if _, err := m.Instantiate(ctx, nil); err != nil {
					b.Fatal(err)
				}
				if err := h.Close(ctx); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
