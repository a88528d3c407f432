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

// TestGrowth checks the soak's growth verdict on made-up samples.
func TestGrowth(t *testing.T) {
	for _, tc := range []struct {
		name  string
		s     []SoakSample
		slope float64
		ok    bool
	}{
		{"flat after warm-up", []SoakSample{{At: 0, RSS: 50, Goroutines: 20}, {At: 60, RSS: 100, Goroutines: 2000}, {At: 120, RSS: 100, Goroutines: 2001}}, 0, true},
		{"rss grows", []SoakSample{{At: 0, RSS: 50, Goroutines: 10}, {At: 60, RSS: 100, Goroutines: 10}, {At: 120, RSS: 110, Goroutines: 10}, {At: 180, RSS: 120, Goroutines: 10}}, 10, false},
		{"goroutines leak", []SoakSample{{At: 0, RSS: 100, Goroutines: 10}, {At: 60, RSS: 100, Goroutines: 100}}, 0, false},
		{"two samples", []SoakSample{{At: 0, RSS: 100, Goroutines: 10}, {At: 60, RSS: 100, Goroutines: 10}}, 0, true},
		{"one sample", []SoakSample{{At: 0, RSS: 100, Goroutines: 10}}, 0, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			slope, _, _, ok := growth(tc.s)
			if slope != tc.slope || ok != tc.ok {
				t.Errorf("growth = slope %v, ok %v; want %v, %v", slope, ok, tc.slope, tc.ok)
			}
		})
	}
}
