package wasmhost_test

import (
	"bytes"
	"context"
	"testing"

	icwasm "github.com/icws/icws/ic/wasm"
	"github.com/icws/icws/replica/wasmhost"
)

// BenchmarkMotoko runs a trivial update (inc) and query (get) of each moc's module. The
// "heap-compare" baseline is the page comparison a message's commit or rollback costs, so the
// transaction's share of a message is the ratio of the two.
func BenchmarkMotoko(b *testing.B) {
	for _, mc := range compilers {
		b.Run(mc.name, func(b *testing.B) {
			c := newCanister(b, mc.pkg)
			for _, e := range []struct {
				name  string
				entry wasmhost.Entry
				meth  string
			}{{"update", wasmhost.EntryUpdate, "inc"}, {"query", wasmhost.EntryQuery, "get"}} {
				b.Run(e.name, func(b *testing.B) {
					m := c.msg(e.entry, e.meth, noArgs)
					var instr uint64
					for b.Loop() {
						r := c.inst.Run(context.Background(), m)
						if !r.Replied {
							b.Fatalf("%s: %+v", e.meth, r)
						}
						instr = r.Instructions
					}
					b.ReportMetric(float64(instr), "instructions/op")
				})
			}
			b.Run("heap-compare", func(b *testing.B) {
				snap, _ := c.inst.Snapshot()
				heap := bytes.Clone(snap)
				other := bytes.Clone(snap)
				b.SetBytes(int64(len(heap)))
				for b.Loop() {
					for off := 0; off+4096 <= len(heap); off += 4096 {
						if !bytes.Equal(heap[off:off+4096], other[off:off+4096]) {
							b.Fatal("differ")
						}
					}
				}
			})
		})
	}
}

// BenchmarkInstall compiles and instantiates moc 3.9.7's module as it is ("small") and padded to
// 3 MB with a passive data segment ("3MB"), on a fresh host each time (no compilation cache): the
// ratio of the two is what the module's size costs an install.
func BenchmarkInstall(b *testing.B) {
	wasm := moc(b, "motoko", "counter.mo")
	mod, err := icwasm.Decode(wasm)
	if err != nil {
		b.Fatal(err)
	}
	pad := make([]byte, 3<<20-len(wasm))
	for i := range pad {
		pad[i] = byte(i * 7919 >> 3)
	}
	mod.Data = append(mod.Data, icwasm.Data{Mode: 1, Init: pad}) // passive: never copied
	if mod.DataCount != nil {
		n := uint32(len(mod.Data))
		mod.DataCount = &n
	}
	big := mod.Encode()
	ctx := context.Background()
	for _, c := range []struct {
		name string
		wasm []byte
	}{{"small", wasm}, {"3MB", big}} {
		b.Run(c.name, func(b *testing.B) {
			b.SetBytes(int64(len(c.wasm)))
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
				_ = h.Close(ctx)
			}
		})
	}
}

// BenchmarkMeteringOverhead runs the Motoko counter's update inc and query get on a metered
// host and an unmetered one (Options.Unmetered) in one run: the ratio of their ns/op is the
// metering overhead of a trivial Motoko call.
func BenchmarkMeteringOverhead(b *testing.B) {
	for _, mc := range compilers {
		for _, metered := range []bool{true, false} {
			name := mc.name + "/metered"
			if !metered {
				name = mc.name + "/unmetered"
			}
			b.Run(name, func(b *testing.B) {
				c := newCanisterWith(b, mc.pkg, wasmhost.Options{Unmetered: !metered})
				for _, e := range []struct {
					name  string
					entry wasmhost.Entry
					meth  string
				}{{"update", wasmhost.EntryUpdate, "inc"}, {"query", wasmhost.EntryQuery, "get"}} {
					b.Run(e.name, func(b *testing.B) {
						m := c.msg(e.entry, e.meth, noArgs)
						for b.Loop() {
							if r := c.inst.Run(context.Background(), m); !r.Replied {
								b.Fatalf("%s: %+v", e.meth, r)
							}
						}
					})
				}
			})
		}
	}
}
