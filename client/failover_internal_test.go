package client

import (
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/icws/icws/protocol"
)

func TestFailoverBackoff(t *testing.T) {
	p, err := Failover{Backoff: 100 * time.Millisecond, MaxBackoff: time.Second}.withDefaults()
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		attempt  int
		r        float64
		min, max time.Duration // the wait lies in [min, max]
	}{
		{1, 0, 50 * time.Millisecond, 50 * time.Millisecond},
		{1, 0.999, 99 * time.Millisecond, 100 * time.Millisecond},
		{2, 0, 100 * time.Millisecond, 100 * time.Millisecond},
		{3, 0.5, 300 * time.Millisecond, 300 * time.Millisecond},
		{4, 0.999, 799 * time.Millisecond, 800 * time.Millisecond},
		{5, 0, 500 * time.Millisecond, 500 * time.Millisecond}, // capped at MaxBackoff
		{60, 0.999, 999 * time.Millisecond, time.Second},       // no overflow
	}
	for _, tt := range tests {
		if got := p.backoff(tt.attempt, tt.r); got < tt.min || got > tt.max {
			t.Errorf("backoff(%d, %v) = %v, want %v..%v", tt.attempt, tt.r, got, tt.min, tt.max)
		}
	}
}

func TestFailoverDefaults(t *testing.T) {
	p, err := Failover{}.withDefaults()
	if err != nil || p.Attempts != DefaultFailoverAttempts || p.Backoff != DefaultFailoverBackoff || p.MaxBackoff != DefaultFailoverMaxBackoff {
		t.Fatalf("defaults: %+v, %v", p, err)
	}
	for _, bad := range []Failover{{Attempts: -1}, {Backoff: -time.Second}, {Backoff: 2 * time.Second, MaxBackoff: time.Second}} {
		if _, err := bad.withDefaults(); err == nil {
			t.Errorf("%+v accepted", bad)
		}
	}
}

// TestFailoverCures is the table of which errors of Recv the policy reconnects after.
func TestFailoverCures(t *testing.T) {
	ve := func(k Kind) error { return fmt.Errorf("wrapped: %w", &VerifyError{Kind: k}) }
	ce := func(code int) error { return &CloseError{Code: protocol.CloseCode(code)} }
	tests := []struct {
		name          string
		err           error
		plain, forged bool // cured without and with Failover.Forged
	}{
		{"going away 1001", ce(1001), true, true},
		{"dropped 1006", ce(1006), true, true},
		{"too slow 4003", ce(4003), true, true},
		{"canister unavailable 4007", ce(4007), true, true},
		{"normal 1000", ce(1000), false, false},
		{"open refused 4001", ce(4001), false, false},
		{"session ended 4008", ce(4008), false, false},
		{"too many bad messages 4006", ce(4006), false, false},
		{"gap", ve(Gap), true, true},
		{"withheld", ve(Withheld), true, true},
		{"stale", ve(Stale), true, true},
		{"tampered", ve(Tampered), false, true},
		{"bad certificate", ve(BadCertificate), false, true},
		{"malformed", ve(Malformed), false, true},
		{"future", ve(Future), false, false},
		{"foreign", ve(Foreign), false, false},
		{"replay", ve(Replay), false, false},
		{"canister closed", &CanisterClosedError{Reason: "bye"}, false, false},
		{"closed", fmt.Errorf("x: %w", ErrClosed), false, false},
		{"failed write", errors.New("write tcp: broken pipe"), true, true},
	}
	for _, tt := range tests {
		plain, forged := &Failover{}, &Failover{Forged: true}
		if got := plain.cures(tt.err); got != tt.plain {
			t.Errorf("%s: cures = %v, want %v", tt.name, got, tt.plain)
		}
		if got := forged.cures(tt.err); got != tt.forged {
			t.Errorf("%s with Forged: cures = %v, want %v", tt.name, got, tt.forged)
		}
	}
}

func TestNextGateway(t *testing.T) {
	list := []string{"ws://a", "ws://b", "ws://c"}
	for cur, want := range map[string]string{"ws://a": "ws://b", "ws://b": "ws://c", "ws://c": "ws://a", "ws://x": "ws://a"} {
		if got := nextGateway(list, cur); got != want {
			t.Errorf("after %s: %s, want %s", cur, got, want)
		}
	}
	if got := nextGateway([]string{"ws://a"}, "ws://a"); got != "ws://a" {
		t.Errorf("one gateway: next %s", got)
	}
	c := Config{Gateway: "ws://b", Gateways: []string{"ws://a", "ws://b", "ws://a", "ws://c"}}
	if got := fmt.Sprint(c.gateways()); got != "[ws://b ws://a ws://c]" {
		t.Errorf("gateways() = %s", got)
	}
}
