package replica

import (
	"bytes"
	"context"
	"io"
	"log/slog"
	"net/http"
	"slices"
	"sync/atomic"
	"testing"
	"time"

	"github.com/icws/icws/ic/candid"
	"github.com/icws/icws/ic/envelope"
	"github.com/icws/icws/internal/moctest"
	"github.com/icws/icws/replica/wasmhost"
)

// benchClient is an HTTP client for many concurrent loopback requests.
func benchClient() *http.Client {
	return &http.Client{Transport: &http.Transport{
		MaxIdleConns:        1024,
		MaxIdleConnsPerHost: 1024,
		DisableCompression:  true,
	}}
}

// runRequests posts the pre-signed bodies to url from b.RunParallel goroutines (parallelism ×
// GOMAXPROCS of them), checks each status, and reports requests per second.
func runRequests(b *testing.B, url string, bodies [][]byte, wantStatus int, unit string) {
	client := benchClient()
	var next atomic.Int64
	b.SetParallelism(32)
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			body := bodies[next.Add(1)-1]
			resp, err := client.Post(url, "application/cbor", bytes.NewReader(body))
			if err != nil {
				b.Error(err)
				return
			}
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if resp.StatusCode != wantStatus {
				b.Errorf("HTTP %d", resp.StatusCode)
				return
			}
		}
	})
	b.StopTimer()
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), unit)
}

// presign signs n requests of the given type for method (Ed25519 identity, distinct nonces).
func presign(b testing.TB, h *harness, typ, method string, n int) [][]byte {
	arg, _ := candid.Marshal()
	bodies := make([][]byte, n)
	for i := range bodies {
		bodies[i], _ = h.sign(h.ident, h.content(typ, method, arg))
	}
	return bodies
}

// BenchmarkUpdateCalls measures synchronous (v3) update calls per second over loopback HTTP:
// signed requests, many concurrent clients, each answered with a certificate.
//
//	go test -run XXX -bench UpdateCalls -benchtime 20000x ./replica/
//
// The native sub-benchmark runs the Go test counter, wasm the Motoko counter (moc 3.9.7) through
// the Wasm host, metered: their ratio is the cost of real Wasm in the replica.
func BenchmarkUpdateCalls(b *testing.B) {
	for _, c := range canisterKinds(b) {
		b.Run(c.name, func(b *testing.B) {
			h := newHarness(b, c.opts...)
			bodies := presign(b, h, envelope.RequestTypeCall, "inc", b.N)
			rounds := h.r.certHeight()
			runRequests(b, h.baseURL+endpoint("v3", h.cid, "call"), bodies, http.StatusOK, "calls/s")
			b.ReportMetric(float64(b.N)/float64(h.r.certHeight()-rounds), "calls/round")
		})
	}
}

// canisterKinds are the two hosts of the counter canister.
func canisterKinds(b *testing.B) []struct {
	name string
	opts []harnessOpt
} {
	wasm := moctest.Compile(b, moctest.Moc3, "wasmhost/testdata/counter.mo")
	return []struct {
		name string
		opts []harnessOpt
	}{{"native", nil}, {"wasm", []harnessOpt{withWasmCounter(wasm)}}}
}

// BenchmarkQueries measures queries per second over loopback HTTP: signed requests, many
// concurrent clients, each answer signed by the node key.
//
//	go test -run XXX -bench Queries -benchtime 20000x ./replica/
func BenchmarkQueries(b *testing.B) {
	for _, c := range canisterKinds(b) {
		b.Run(c.name, func(b *testing.B) {
			h := newHarness(b, c.opts...)
			bodies := presign(b, h, envelope.RequestTypeQuery, "get", b.N)
			runRequests(b, h.baseURL+endpoint("v2", h.cid, "query"), bodies, http.StatusOK, "queries/s")
		})
	}
}

// certHeight returns the number of certifications so far.
func (r *Replica) certHeight() uint64 {
	r.mu.RLock()
	defer r.mu.RUnlock()
	return r.state.height
}

// BenchmarkPersistRounds measures what Config.StateDir costs a round: sequential synchronous
// update calls (one call, one round, one certificate each) to the counter, on a replica without
// and one with a state directory (under $TMPDIR, or -statedir-parent). It reports both rates,
// their ratio and what the state directory wrote per round.
//
//	go test -run XXX -bench PersistRounds -benchtime 2000x ./replica/
func BenchmarkPersistRounds(b *testing.B) {
	for _, c := range canisterKinds(b) {
		b.Run(c.name, func(b *testing.B) {
			rate := func(h *harness) float64 {
				bodies := presign(b, h, envelope.RequestTypeCall, "inc", b.N)
				client := benchClient()
				url := h.baseURL + endpoint("v3", h.cid, "call")
				start := time.Now()
				for _, body := range bodies {
					resp, err := client.Post(url, "application/cbor", bytes.NewReader(body))
					if err != nil {
						b.Fatal(err)
					}
					io.Copy(io.Discard, resp.Body)
					resp.Body.Close()
					if resp.StatusCode != http.StatusOK {
						b.Fatalf("HTTP %d", resp.StatusCode)
					}
				}
				return float64(b.N) / time.Since(start).Seconds()
			}
			plain := newHarness(b, c.opts...)
			dir := b.TempDir()
			saved := newHarness(b, append(slices.Clone(c.opts), func(cfg *Config) { cfg.StateDir = dir })...)
			b.ResetTimer()
			without := rate(plain)
			with := rate(saved)
			b.StopTimer()
			saved.r.mu.RLock()
			st := saved.r.store.stats
			saved.r.mu.RUnlock()
			b.ReportMetric(without, "rounds/s")
			b.ReportMetric(with, "rounds/s-statedir")
			b.ReportMetric(with/without, "ratio")
			if st.rounds > 0 {
				b.ReportMetric(float64(st.bytes)/float64(st.rounds), "B/round-written")
				b.ReportMetric(float64(st.time.Microseconds())/float64(st.rounds), "µs/round-writing")
				b.ReportMetric(float64(st.checkpoints), "checkpoints")
			}
		})
	}
}

// BenchmarkNativeCall runs the native Go test counter's update inc and query get through the
// native adapter (wasmhost.Instance.Run), as wasmhost's BenchmarkMotoko runs the Motoko
// counter's: the ratio of their ns/op is what Wasm costs a trivial call. A native call is not
// metered (0 instructions).
//
//	go test -run XXX -bench NativeCall ./replica/
func BenchmarkNativeCall(b *testing.B) {
	code, _ := newCounter()
	n := newNative("counter", code, slog.New(slog.DiscardHandler))
	for _, e := range []struct {
		name  string
		entry wasmhost.Entry
		meth  string
	}{{"update", wasmhost.EntryUpdate, "inc"}, {"query", wasmhost.EntryQuery, "get"}} {
		b.Run(e.name, func(b *testing.B) {
			m := &wasmhost.Message{Entry: e.entry, Method: e.meth, Arg: emptyReply, Replicated: e.entry != wasmhost.EntryQuery}
			for b.Loop() {
				if r := n.Run(context.Background(), m); !r.Replied {
					b.Fatalf("%s: %+v", e.meth, r)
				}
			}
		})
	}
}
