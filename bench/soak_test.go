package bench

import (
	"testing"
	"time"
)

// TestSoakSmoke is a short soak: a few clients each sending every 200 ms and receiving 10
// broadcasts a second for 3 s, the gateway sampled every second. Nothing may be lost,
// repeated or out of order either way; the figures must be there (their size is not asserted).
func TestSoakSmoke(t *testing.T) {
	r := runScenario(t, ScenarioSoak, Options{Clients: []int{5}, Duration: 3 * time.Second, SendEvery: 200 * time.Millisecond, SampleEvery: time.Second, Rate: 10})
	if len(r.Soak) != 1 {
		t.Fatalf("%d soak runs, want 1", len(r.Soak))
	}
	s := r.Soak[0]
	if s.Clients != 5 || s.Broadcasts < 1 || s.Sent < 5 {
		t.Fatalf("soak ran %d clients, %d broadcasts, %d sent; want 5 clients and traffic both ways", s.Clients, s.Broadcasts, s.Sent)
	}
	if s.Lost != 0 || s.Duplicated != 0 || s.OutOfOrder != 0 || s.UpstreamLost != 0 || s.UpstreamDuplicated != 0 {
		t.Errorf("lost %d, duplicated %d, out of order %d, upstream lost %d, upstream duplicated %d; want 0 each", s.Lost, s.Duplicated, s.OutOfOrder, s.UpstreamLost, s.UpstreamDuplicated)
	}
	if want := s.Broadcasts * 5; s.Delivered != want || s.Accepted != s.Sent {
		t.Errorf("delivered %d of %d, accepted %d of %d", s.Delivered, want, s.Accepted, s.Sent)
	}
	// The first sample at 0 s, one per second (2 s, as the third falls on the end), the last after
	// the drain.
	if len(s.Samples) < 3 {
		t.Fatalf("%d samples, want at least 3: %+v", len(s.Samples), s.Samples)
	}
	for i, v := range s.Samples {
		if v.RSS <= 0 || v.Goroutines <= 0 || v.HeapInuse <= 0 || (i > 0 && v.At <= s.Samples[i-1].At) {
			t.Errorf("sample %d implausible: %+v", i, v)
		}
		if i > 0 && v.Delivered > 0 && v.P99 <= 0 {
			t.Errorf("sample %d: %d messages and no p99", i, v.Delivered)
		}
	}
	if s.Latency.P99 <= 0 || s.RSSGrowth <= 0 {
		t.Errorf("latency %+v, RSS growth %v: figures missing", s.Latency, s.RSSGrowth)
	}
}

// TestGrowth checks the soak's growth verdict: warm-up in the first half is not growth, growth
// in the second half is, and the memory judged is the heap after a collection, not the RSS.
func TestGrowth(t *testing.T) {
	// A 3-minute soak of 1,000 clients on a loaded machine (2026-12-07): the gateway's HTTP pool
	// to the replica grew from 117 to its bound of 512 connections by 90 s, then stayed.
	warmUp := []SoakSample{
		{At: 0, RSS: 41.3, HeapInuse: 8.7, Goroutines: 1240}, {At: 30, RSS: 48.9, HeapInuse: 12.2, Goroutines: 1631},
		{At: 60.7, RSS: 50.1, HeapInuse: 13, Goroutines: 1702}, {At: 90.1, RSS: 67.3, HeapInuse: 19.9, Goroutines: 2053},
		{At: 120, RSS: 65.1, HeapInuse: 18.5, Goroutines: 2094}, {At: 150.1, RSS: 62.3, HeapInuse: 19.1, Goroutines: 2026},
		{At: 199.7, RSS: 65.6, HeapInuse: 21, Goroutines: 2030},
	}
	// leak adds per minute heap MiB and goroutines to a flat gateway over 10 minutes.
	leak := func(heap float64, goroutines int) []SoakSample {
		var s []SoakSample
		for m := range 11 {
			s = append(s, SoakSample{At: float64(60 * m), RSS: 60, HeapInuse: 20 + heap*float64(m), Goroutines: 2000 + goroutines*m})
		}
		return s
	}
	for _, tc := range []struct {
		name       string
		s          []SoakSample
		goroutines int
		ok         bool
	}{
		{"warm-up then flat (the 3-minute run)", warmUp, 2030 - 2094, true},
		{"flat after warm-up", []SoakSample{{At: 0, RSS: 50, HeapInuse: 5, Goroutines: 20}, {At: 60, RSS: 100, HeapInuse: 20, Goroutines: 2000}, {At: 120, RSS: 100, HeapInuse: 20, Goroutines: 2001}}, 1, true},
		{"heap leak", leak(1, 0), 0, false},
		{"goroutine leak", leak(0, 5), 25, false},
		{"slow goroutine leak", leak(0, 4), 20, false},
		{"no leak", leak(0, 0), 0, true},
		{"RSS kept, heap flat", []SoakSample{{At: 0, RSS: 40, HeapInuse: 10}, {At: 60, RSS: 80, HeapInuse: 10}, {At: 120, RSS: 90, HeapInuse: 10.5}}, 0, true},
		{"two samples", []SoakSample{{At: 0, RSS: 100, HeapInuse: 10, Goroutines: 10}, {At: 60, RSS: 100, HeapInuse: 10, Goroutines: 10}}, 0, true},
		{"two samples, goroutines gained", []SoakSample{{At: 0, RSS: 100, HeapInuse: 10, Goroutines: 10}, {At: 60, RSS: 100, HeapInuse: 10, Goroutines: 100}}, 90, false},
		{"one sample", []SoakSample{{At: 0, RSS: 100, Goroutines: 10}}, 0, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, _, goroutines, ok := growth(tc.s)
			if goroutines != tc.goroutines || ok != tc.ok {
				t.Errorf("growth = goroutines %+d, ok %v; want %+d, %v", goroutines, ok, tc.goroutines, tc.ok)
			}
		})
	}
	// The slope is the RSS's over the second half, MiB per minute.
	s := leak(0, 0)
	for i := range s {
		s[i].RSS = 60 + 2*float64(i)
	}
	if slope, rss, _, _ := growth(s); slope != 2 || rss != ratio(80, 70) {
		t.Errorf("growth of an RSS rising 2 MiB/min: slope %v, last/first %v; want 2, %v", slope, rss, ratio(80, 70))
	}
}
