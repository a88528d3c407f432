package bench

import (
	"strings"
	"testing"
)

// TestRelaySmoke runs each malicious relay once: the client must report every one of them as
// withholding, saying what it saw, and must report nothing through the honest relay (its
// detection times are figures, not asserted).
func TestRelaySmoke(t *testing.T) {
	r := runScenario(t, ScenarioRelay, Options{Trials: 1})
	if r.Relay == nil {
		t.Fatal("no relay report")
	}
	want := map[string]string{
		RelaySilent:   "of opening the connection",
		RelayWithhold: "although the canister sends heartbeats",
		RelaySwallow:  "acknowledges client messages up to",
		RelayHonest:   "",
	}
	for _, x := range r.Relay.Relays {
		detail, ok := want[x.Relay]
		if !ok {
			t.Errorf("unexpected relay %q", x.Relay)
			continue
		}
		delete(want, x.Relay)
		wantDetected := 1
		if x.Relay == RelayHonest {
			wantDetected = 0
		}
		if x.Trials != 1 || x.Detected != wantDetected || len(x.Detection) != wantDetected {
			t.Errorf("relay %s: detected %d of %d trials (%v), want %d of 1", x.Relay, x.Detected, x.Trials, x.Detection, wantDetected)
		}
		if !strings.Contains(x.Detail, detail) {
			t.Errorf("relay %s: the client said %q, want it to say %q", x.Relay, x.Detail, detail)
		}
	}
	for name := range want {
		t.Errorf("relay %s did not run", name)
	}
}
