package build_test

import (
	"context"
	"testing"
	"time"

	"github.com/icws/icws/cdk/build"
	"github.com/icws/icws/internal/wasmtest"
	"github.com/icws/icws/replica/wasmhost"
)

// BenchmarkInstallEcho compiles and instantiates echo's module (the replica's install: check,
// instrument, compile, run the start function, on a fresh host without a compilation cache) as
// icws build writes it ("stripped") and with --keep-names ("names"), in one run: the ratio is
// what the stripped custom sections cost an install.
func BenchmarkInstallEcho(b *testing.B) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	named, err := build.Build(ctx, build.Options{Package: wasmtest.Echo, Dir: "../..", KeepNames: true})
	cancel()
	if err != nil {
		b.Fatal(err)
	}
	for _, c := range []struct {
		name string
		wasm []byte
	}{{"stripped", wasmtest.Build(b, wasmtest.Echo).Wasm}, {"names", named.Wasm}} {
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
