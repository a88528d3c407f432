package bench

import (
	"fmt"
	"time"

	"github.com/icws/icws/gateway"
)

// The goals of issue 15, printed beside the figures they bound.
const (
	// GoalFanoutRatio is the least gateway/baseline ratio of delivered msg/s, every message
	// verified.
	GoalFanoutRatio = 0.5
	// GoalIdleKiB is the most gateway RSS per idle connection, in KiB, at GoalIdleConns.
	GoalIdleKiB = 10.0
	// GoalIdleConns is the number of idle connections the idle goal is stated at.
	GoalIdleConns = 100000
	// goalLatencySlack is what the gateway may add to its p99 beyond a poll wait and a query's
	// round trip.
	goalLatencySlack = 2 * time.Millisecond
)

// met is the verdict of a goal.
func met(ok bool) string {
	if ok {
		return "met"
	}
	return "NOT met"
}

// fanoutGoals are the goal lines of a fan-out row: the throughput ratio of each gateway mode
// against the baseline, and the gateway-added p99 latency against the poll wait and the
// query's round trip.
func fanoutGoals(o *Options, row *FanoutRow) []string {
	var goals []string
	b := row.Baseline
	wait := o.PollInterval
	if wait <= 0 {
		wait = gateway.DefaultPollInterval
	}
	for _, g := range []*FanoutResult{row.Gateway, row.Channel} {
		if g == nil || b == nil {
			continue
		}
		r := ratio(g.PerSecond, b.PerSecond)
		goals = append(goals, fmt.Sprintf("%d clients, %s: %.3g× bare msg/s (goal ≥ %g×: %s)", row.Clients, g.Server, r, GoalFanoutRatio, met(r >= GoalFanoutRatio)))
		if c := row.Centrifugo; c != nil {
			r := ratio(g.PerSecond, c.PerSecond)
			goals = append(goals, fmt.Sprintf("%d clients, %s: %.0f msg/s, %.3g× Centrifugo's %.0f (goal ≥ 1×: %s)", row.Clients, g.Server, g.PerSecond, r, c.PerSecond, met(r >= 1)))
		}
		added := g.Latency.P99 - b.Latency.P99
		bound := ms(wait) + g.PollMillis + ms(goalLatencySlack)
		goals = append(goals, fmt.Sprintf("%d clients, %s: p99 %.1f ms, %.1f ms above bare (goal ≤ poll wait %.0f + query RTT %.1f + 2 = %.1f ms: %s)",
			row.Clients, g.Server, g.Latency.P99, added, ms(wait), g.PollMillis, bound, met(added <= bound)))
	}
	return goals
}

// idleGoal is the goal line of the idle scenario.
func idleGoal(i *IdleResult) string {
	s := fmt.Sprintf("%d conns: %.1f KiB RSS per connection (goal ≤ %g KiB at %d: %s", i.Conns, i.RSSPerConn, GoalIdleKiB, GoalIdleConns, met(i.RSSPerConn <= GoalIdleKiB))
	if i.Conns < GoalIdleConns {
		s += fmt.Sprintf(", measured at %d", i.Conns)
	}
	return s + ")"
}

// ratios compares a gateway run g with the baseline's b; nil if g did not run.
func ratios(g, b *FanoutResult) *Ratio {
	if g == nil || b == nil {
		return nil
	}
	return &Ratio{
		Throughput:    ratio(g.PerSecond, b.PerSecond),
		LatencyP50:    ratio(g.Latency.P50, b.Latency.P50),
		LatencyP99:    ratio(g.Latency.P99, b.Latency.P99),
		CPUPerMessage: ratio(g.ServerCPUPerMessage, b.ServerCPUPerMessage),
	}
}
