package envelope

import (
	"fmt"
	"math"
	"time"
)

// formatICTime formats nanoseconds since 1970 the way the IC replica prints
// its Time (chrono's UTC Display): "2025-05-01 23:55:18.005285297 UTC", with
// the fraction as 3, 6 or 9 digits, or none when it is zero.
func formatICTime(ns uint64) string {
	if ns > math.MaxInt64 {
		return fmt.Sprintf("%dns", ns)
	}
	t := time.Unix(0, int64(ns)).UTC()
	s := t.Format("2006-01-02 15:04:05")
	switch frac := t.Nanosecond(); {
	case frac == 0:
	case frac%1_000_000 == 0:
		s += fmt.Sprintf(".%03d", frac/1_000_000)
	case frac%1_000 == 0:
		s += fmt.Sprintf(".%06d", frac/1_000)
	default:
		s += fmt.Sprintf(".%09d", frac)
	}
	return s + " UTC"
}

// timeNanos returns t as nanoseconds since 1970, clamped at 0.
func timeNanos(t time.Time) uint64 {
	ns := t.UnixNano()
	if ns < 0 {
		return 0
	}
	return uint64(ns)
}
