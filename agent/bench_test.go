package agent

import (
	"context"
	"testing"
)

// Benchmarks through the agent against the in-process replica, from parallel goroutines:
//
//	go test -run '^$' -bench . -benchtime 3s ./agent/
//
// Each reports its throughput (calls/s, queries/s); their ratio compares the certified update
// path (sign, round, BLS certificate) with the signed query path in the same run.

func BenchmarkCall(b *testing.B) {
	r := startReplica(b, 0)
	a := newAgent(b, r.URL(), Config{RootKey: r.RootKey(), Identity: testIdentity(b)})
	ctx := context.Background()
	b.ReportAllocs()
	b.SetParallelism(8)
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		var s string
		for pb.Next() {
			if err := a.Call(ctx, r.canister, "greet", "bench", &s); err != nil {
				b.Error(err)
				return
			}
		}
	})
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "calls/s")
}

func BenchmarkQuery(b *testing.B) {
	r := startReplica(b, 0)
	a := newAgent(b, r.URL(), Config{RootKey: r.RootKey(), Identity: testIdentity(b)})
	ctx := context.Background()
	var s string
	if err := a.Query(ctx, r.canister, "greet_q", "bench", &s); err != nil { // fetch the node keys
		b.Fatal(err)
	}
	b.ReportAllocs()
	b.SetParallelism(8)
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		var s string
		for pb.Next() {
			if err := a.Query(ctx, r.canister, "greet_q", "bench", &s); err != nil {
				b.Error(err)
				return
			}
		}
	})
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "queries/s")
}
