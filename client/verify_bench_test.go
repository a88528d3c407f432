package client

import (
	"testing"
	"time"

	"github.com/icws/icws/protocol"
)

// BenchmarkRecvVerify measures the checks of Recv per message, as a gateway delivers them:
// batches of 50 messages sharing one certificate and witness. ns/op is the cost with the
// certificate cache (one BLS verification per batch); uncached-ns/msg is the cost when every
// message is verified from scratch, speedup their ratio, and hit-ns/msg the cost of a message
// whose certificate and witness are remembered.
func BenchmarkRecvVerify(b *testing.B) {
	const batchSize, batches = 50, 8
	f := newFixture(b)
	var frames [][]byte
	for i := 0; i < batches; i++ {
		msgs := make([]protocol.WebsocketMessage, batchSize)
		for j := range msgs {
			msgs[j] = f.msg(16, uint64(i*batchSize+j), "a chat message of some ordinary length")
		}
		frames = append(frames, f.batch(b, f.now, msgs...)...)
	}
	v := f.verifier(b)
	check := func(i int, fresh bool) {
		k := i % len(frames)
		if k == 0 {
			v.next = 0
		}
		if fresh {
			v.certs = [cacheSlots]certEntry{}
			v.trees = [cacheSlots]treeEntry{}
		}
		if _, err := v.check(frames[k]); err != nil {
			b.Fatal(err)
		}
	}

	// The uncached cost, on a fixed sample (BLS dominates it; a sample is enough).
	const sample = 100
	start := time.Now()
	for i := 0; i < sample; i++ {
		check(i, true)
	}
	uncached := float64(time.Since(start).Nanoseconds()) / sample

	// The cost of a message whose certificate and witness are remembered (no BLS at all).
	const hits = 1000
	check(0, false)
	start = time.Now()
	for i := 0; i < hits; i++ {
		v.next = 1
		check(1, false)
	}
	hit := float64(time.Since(start).Nanoseconds()) / hits

	v.next = 0
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		check(i, false)
	}
	b.StopTimer()
	cached := float64(b.Elapsed().Nanoseconds()) / float64(b.N)
	b.ReportMetric(uncached, "uncached-ns/msg")
	b.ReportMetric(hit, "hit-ns/msg")
	b.ReportMetric(uncached/cached, "speedup")
}
