package bench

import (
	"strings"
	"testing"
)

// TestAbuseSmoke runs every attack, scaled down, while the good client does round trips: each
// attack's connections must all be ended by the gateway (none "open" at the bound), the good
// client must lose nothing, and the figures must be there (their size is not asserted).
func TestAbuseSmoke(t *testing.T) {
	r := runScenario(t, ScenarioAbuse, Options{AbuseScale: 0.02})
	a := r.Abuse
	if a == nil {
		t.Fatal("no abuse run")
	}
	if a.Lost != 0 || a.Duplicated != 0 {
		t.Errorf("the good client lost %d echoes, got %d twice; want 0", a.Lost, a.Duplicated)
	}
	if a.QuietTrips != abuseQuietTrips || a.AbuseTrips < 1 || a.Quiet.P99 <= 0 || a.UnderAbuse.P99 <= 0 || a.RatioP99 <= 0 {
		t.Errorf("round-trip figures missing: %+v", a)
	}
	if a.RSSBefore <= 0 || a.RSSPeak < a.RSSBefore || a.RSSAfter <= 0 || a.RSSAfterFree <= 0 || a.GoroutinesBefore <= 0 || a.GoroutinesPeak < a.GoroutinesBefore {
		t.Errorf("gateway figures missing: RSS %v/%v/%v MiB, goroutines %d/%d/%d", a.RSSBefore, a.RSSPeak, a.RSSAfter, a.GoroutinesBefore, a.GoroutinesPeak, a.GoroutinesAfter)
	}
	if !a.Settled {
		t.Errorf("the gateway did not settle: goroutines %d → %d, heap %v → %v MiB", a.GoroutinesBefore, a.GoroutinesAfter, a.HeapBefore, a.HeapAfter)
	}
	if len(a.Attacks) != 6 {
		t.Fatalf("%d attacks, want 6", len(a.Attacks))
	}
	for _, at := range a.Attacks {
		total := at.Failed
		for what, n := range at.Outcomes {
			total += n
			if what == "open" {
				t.Errorf("%s: %d connections still open after %v", at.Attack, n, abuseCloseWait)
			}
		}
		if at.Failed != 0 || total != at.Conns {
			t.Errorf("%s: %d connections, %d failed, outcomes %v", at.Attack, at.Conns, at.Failed, at.Outcomes)
		}
	}
	for _, i := range []int{3, 4} { // oversized, text: closed with a close code
		for what := range a.Attacks[i].Outcomes {
			if !strings.HasPrefix(what, "close ") {
				t.Errorf("%s ended with %q, want a close code", a.Attacks[i].Attack, what)
			}
		}
	}
}
