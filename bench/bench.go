package bench

import (
	"context"
	"fmt"
	"time"
)

// Run runs a scenario (ScenarioFanout, ScenarioUpstream, ScenarioIdle, ScenarioBaseline,
// ScenarioFailover, ScenarioOutage, ScenarioRestart, ScenarioSoak, ScenarioAbuse or ScenarioRelay) and
// returns its report. Every run starts its own server processes through opts.Launcher and ends
// them, and is bounded by opts.RunTimeout; a message that is lost, repeated, out of order or fails
// a check fails the run.
func Run(ctx context.Context, scenario string, opts Options) (*Report, error) {
	o, err := opts.withDefaults(scenario)
	if err != nil {
		return nil, err
	}
	start := time.Now()
	r := &Report{Scenario: scenario, Machine: machine(), Settings: Settings{Size: o.Size, SendQueue: o.SendQueue}}
	if o.RoundTime > 0 {
		r.Settings.RoundTime = o.RoundTime.String()
	}
	if o.PollInterval > 0 {
		r.Settings.PollInterval = o.PollInterval.String()
	}
	if scenario != ScenarioBaseline {
		r.Verify, r.VerifyDetail = o.Verify, o.Verify.Describe()
	}
	p := startProgress(o.Progress)
	defer p.end()
	switch scenario {
	case ScenarioFanout, ScenarioBaseline:
		r.Settings.Rate = o.Rate
		for _, c := range o.Clients {
			row := FanoutRow{Clients: c}
			if scenario == ScenarioFanout {
				if row.Gateway, err = runFanout(ctx, &o, p, "gateway", c); err != nil {
					return nil, err
				}
			}
			if scenario == ScenarioBaseline || !o.NoBaseline {
				if row.Baseline, err = runFanout(ctx, &o, p, "baseline", c); err != nil {
					return nil, err
				}
			}
			if scenario == ScenarioFanout && o.Channel {
				if row.Channel, err = runFanout(ctx, &o, p, "channel", c); err != nil {
					return nil, err
				}
			}
			if scenario == ScenarioFanout && o.Centrifugo != "" {
				if row.Centrifugo, err = runFanout(ctx, &o, p, "centrifugo", c); err != nil {
					return nil, err
				}
			}
			if b := row.Baseline; b != nil {
				row.Ratio = ratios(row.Gateway, b)
				row.ChannelRatio = ratios(row.Channel, b)
				row.Goals = fanoutGoals(&o, &row)
			}
			r.Fanout = append(r.Fanout, row)
		}
	case ScenarioUpstream:
		r.Settings.Rate, r.Settings.Duration = o.Rate, o.Duration.Seconds()
		for _, c := range o.Clients {
			u, err := runUpstream(ctx, &o, p, c)
			if err != nil {
				return nil, err
			}
			r.Upstream = append(r.Upstream, *u)
		}
	case ScenarioIdle:
		if r.Idle, err = runIdle(ctx, &o, p); err != nil {
			return nil, err
		}
	case ScenarioFailover, ScenarioOutage, ScenarioRestart:
		if scenario == ScenarioOutage {
			r.Settings.Outage = o.Outage.String()
		}
		for _, c := range o.Clients {
			f, err := runFailover(ctx, &o, p, scenario, c)
			if err != nil {
				return nil, err
			}
			r.Failover = append(r.Failover, *f)
		}
	case ScenarioSoak:
		r.Settings.Rate, r.Settings.Duration = o.Rate, o.Duration.Seconds()
		if r.Settings.Rate == 0 {
			r.Settings.Rate = DefaultSoakRate
		}
		for _, c := range o.Clients {
			s, err := runSoak(ctx, &o, p, c)
			if err != nil {
				return nil, err
			}
			r.Soak = append(r.Soak, *s)
		}
	case ScenarioAbuse:
		if r.Abuse, err = runAbuse(ctx, &o, p); err != nil {
			return nil, err
		}
	case ScenarioRelay:
		if r.Relay, err = runRelay(ctx, &o, p); err != nil {
			return nil, err
		}
	default:
		return nil, fmt.Errorf("bench: unknown scenario %q (want fanout, upstream, idle, baseline, failover, outage, restart, soak, abuse or relay)", scenario)
	}
	r.Seconds = round(time.Since(start).Seconds(), 1)
	return r, nil
}
