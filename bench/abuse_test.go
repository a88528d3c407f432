package bench

import (
	"strings"
	"testing"
	"time"

	"golang.org/x/time/rate"

	"github.com/icws/icws/protocol"
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

// TestAbusePacing checks that the good client's pacing keeps its Send from ever waiting for the
// client's rate-limit bucket (client/pacing.go: protocol.MessageBurst/2 tokens refilled at
// protocol.MessageRate a second), whatever its round trips take, so that the abuse run's round
// trips measure the gateway. The 20 ms gap after each trip that the run used before is the
// failing case: with the 6 ms trips of a quiet gateway it sent ~38 frames a second and, once the
// bucket was empty, each Send waited ~25 ms for a token.
func TestAbusePacing(t *testing.T) {
	oldGap := func(_, end time.Time) time.Time { return end.Add(20 * time.Millisecond) }
	stall := func(i int) time.Duration {
		if i%50 == 49 {
			return 2 * time.Second
		}
		return time.Millisecond
	}
	for _, tc := range []struct {
		name     string
		next     func(start, end time.Time) time.Time
		trip     func(i int) time.Duration
		wantWait bool
	}{
		{"1 ms trips", pacer{abusePeriod}.next, func(int) time.Duration { return time.Millisecond }, false},
		{"6 ms trips", pacer{abusePeriod}.next, func(int) time.Duration { return 6 * time.Millisecond }, false},
		{"trips just under the period", pacer{abusePeriod}.next, func(int) time.Duration { return abusePeriod - time.Microsecond }, false},
		{"trips over the period", pacer{abusePeriod}.next, func(int) time.Duration { return 3 * abusePeriod / 2 }, false},
		{"a 2 s stall every 50 trips", pacer{abusePeriod}.next, stall, false},
		{"uneven trips", pacer{abusePeriod}.next, func(i int) time.Duration { return time.Duration(i*7919%113) * time.Millisecond }, false},
		{"the old 20 ms gap, 6 ms trips", oldGap, func(int) time.Duration { return 6 * time.Millisecond }, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			lim := rate.NewLimiter(protocol.MessageRate, protocol.MessageBurst/2)
			start := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
			const trips = 5000
			waited := 0
			for i := range trips {
				if !lim.AllowN(start, 1) {
					waited++
				}
				end := start.Add(tc.trip(i))
				next := tc.next(start, end)
				if next.Before(end) {
					t.Fatalf("trip %d: the next one starts at %v, before this one ends at %v", i, next, end)
				}
				start = next
			}
			switch {
			case tc.wantWait && waited == 0:
				t.Errorf("no trip waited for a token; want this pacing to outrun the client's bucket")
			case !tc.wantWait && waited > 0:
				t.Errorf("%d of %d trips would wait for the client's rate limit; want 0", waited, trips)
			}
		})
	}
}

// TestAttackCommandRefuses checks that the attacker refuses a malformed "attack" command, or one
// aimed off loopback, before it makes any connection, and says what was wrong.
func TestAttackCommandRefuses(t *testing.T) {
	for _, tc := range []struct{ arg, want string }{
		{"", "want \"attack INDEX SIZE"},
		{"0 10", "want \"attack INDEX SIZE"},
		{"x 10 ws://127.0.0.1:1/", "the index \"x\""},
		{"6 10 ws://127.0.0.1:1/", "the index \"6\""},
		{"-1 10 ws://127.0.0.1:1/", "the index \"-1\""},
		{"0 0 ws://127.0.0.1:1/", "the size \"0\""},
		{"0 9999999 ws://127.0.0.1:1/", "the size \"9999999\""},
		{"0 10 http://127.0.0.1:1/", "does not start with ws://"},
		{"0 10 ws://192.0.2.1:80/", "loopback only"},
		{"0 10 ws://example.com:80/", "loopback only"},
	} {
		t.Run(tc.arg, func(t *testing.T) {
			r, err := runAttackCommand(t.Context(), tc.arg)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("runAttackCommand(%q) = %+v, %v; want an error containing %q", tc.arg, r, err, tc.want)
			}
		})
	}
}
