package agent

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// withClockSync runs f; if the IC refuses the request's ingress expiry (a skewed local clock), it
// measures the IC's time through the read_state endpoint ep and runs f once more.
func withClockSync[T any](ctx context.Context, a *Agent, t *trust, ep endpoint, f func() (T, error)) (T, error) {
	gen := a.skewGen.Load()
	v, err := f()
	he, ok := isExpiryRefusal(err)
	if !ok {
		return v, err
	}
	if serr := a.syncClock(ctx, t, ep, he, gen); serr != nil {
		return v, fmt.Errorf("%w (measuring the IC's time to correct the local clock failed: %w)", err, serr)
	}
	return f()
}

// syncClock measures the skew between the IC's clock and the local one, unless another goroutine
// did since generation gen. It uses the bounds that the expiry refusal states, then the certified
// /time read through ep.
func (a *Agent) syncClock(ctx context.Context, t *trust, ep endpoint, refusal *HTTPError, gen uint64) error {
	select {
	case a.syncSem <- struct{}{}:
	case <-ctx.Done():
		return context.Cause(ctx)
	}
	defer func() { <-a.syncSem }()
	if a.skewGen.Load() != gen {
		return nil // measured meanwhile
	}
	hinted := false
	if icNow, ok := parseMinimumExpiry(refusal.Body); ok {
		a.setSkew(icNow.Sub(a.now()))
		hinted = true
	}
	if _, err := a.measureTime(ctx, t, ep); err != nil {
		if hinted {
			a.log.WarnContext(ctx, "agent: could not read the IC's /time; using the time stated by the expiry refusal", "err", err)
			return nil
		}
		return err
	}
	return nil
}

// setSkew records the IC's clock minus the local clock.
func (a *Agent) setSkew(d time.Duration) {
	old := time.Duration(a.skew.Swap(int64(d)))
	a.skewGen.Add(1)
	if (d-old).Abs() > time.Second && d.Abs() > 30*time.Second {
		a.log.Warn("agent: the local clock differs from the IC's; ingress expiries are corrected", "skew", d)
	}
}

// parseMinimumExpiry reads the IC's current time from the text of an expiry refusal, which states
// the window the IC accepts, "Minimum allowed expiry: 2025-05-01 23:55:18.005285297 UTC, Maximum
// allowed expiry: ..."; the minimum is the IC's time. A number of nanoseconds is accepted too.
func parseMinimumExpiry(body string) (time.Time, bool) {
	const key = "Minimum allowed expiry:"
	i := strings.Index(body, key)
	if i < 0 {
		return time.Time{}, false
	}
	s := body[i+len(key):]
	if j := strings.IndexAny(s, ",\n"); j >= 0 {
		s = s[:j]
	}
	s = strings.TrimSpace(s)
	if ns, err := strconv.ParseUint(s, 10, 64); err == nil && ns <= 1<<63-1 {
		return time.Unix(0, int64(ns)), true
	}
	s = strings.TrimSuffix(s, " UTC")
	for _, layout := range []string{"2006-01-02 15:04:05.999999999", time.RFC3339Nano} {
		if t, err := time.Parse(layout, s); err == nil {
			return t, true
		}
	}
	return time.Time{}, false
}
