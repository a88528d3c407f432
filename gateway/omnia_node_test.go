package gateway

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/icws/icws/internal/testenv"
	"github.com/icws/icws/protocol"
)

// omniaJSDir is the npm project of the real ic-websocket-js 0.5.0 and its agent-js 2 peers,
// installed apart from the root's (which pins @dfinity/agent 3).
const omniaJSDir = "gateway/testdata/omnia-js"

// omniaJSEvent is one line of omnia.cjs's output.
type omniaJSEvent struct {
	Event  string   `json:"event"`
	Why    string   `json:"why"`
	Code   int      `json:"code"`
	Reason string   `json:"reason"`
	Text   string   `json:"text"`
	Errors []string `json:"errors"`
}

// runOmniaJS runs testdata/omnia-js/omnia.cjs with opts and returns its events and whether it
// passed (exit status 0).
func runOmniaJS(t *testing.T, opts map[string]any, timeout time.Duration) ([]omniaJSEvent, bool) {
	t.Helper()
	node, _ := testenv.Node(t)
	testenv.NodeModulesIn(t, omniaJSDir, "ic-websocket-js", "@dfinity/agent", "@dfinity/candid", "@dfinity/principal", "@dfinity/identity-secp256k1", "ws")
	opts["timeoutMs"] = timeout.Milliseconds()
	arg, err := json.Marshal(opts)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), timeout+30*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, node, "omnia.cjs", string(arg))
	cmd.Dir = filepath.Join("testdata", "omnia-js")
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	var events []omniaJSEvent
	sc := bufio.NewScanner(bytes.NewReader(out))
	for sc.Scan() {
		var e omniaJSEvent
		if json.Unmarshal(sc.Bytes(), &e) == nil && e.Event != "" {
			events = append(events, e)
		}
	}
	t.Logf("omnia.cjs %s:\n%s", arg, out)
	if err != nil {
		// The library logs its errors on stderr; show the end of it.
		s := stderr.String()
		if len(s) > 4000 {
			s = s[len(s)-4000:]
		}
		t.Logf("omnia.cjs failed: %v; stderr:\n%s", err, s)
	}
	return events, err == nil
}

// The real ic-websocket-js 0.5.0 takes the gateway's handshake, signs ws_open with its default
// secp256k1 identity and sends it; the gateway relays it to the replica, whose canister (one of the
// seed protocol) refuses it; the gateway says so in the Close frame, which Omnia's gateway never
// does (its client waits for its open timeout).
func TestOmniaJSOpenRefused(t *testing.T) {
	ic := startNativeIC(t)
	gw := startGateway(t, ic, Config{})
	events, ok := runOmniaJS(t, map[string]any{
		"gateway":    gw.url + "/omnia",
		"ic":         ic.url(),
		"canister":   ic.echo.String(),
		"mode":       "refused",
		"wantCode":   int(protocol.CloseOpenRefused),
		"wantReason": "ws_open rejected",
	}, 60*time.Second)
	if !ok {
		t.Fatalf("ic-websocket-js did not see the refusal: %+v", events)
	}
	// The refusal came from the canister, so the secp256k1 signature passed the replica.
	last := events[len(events)-1]
	if last.Event != "pass" || !strings.Contains(last.Why, "Canister") {
		t.Fatalf("last event %+v, want the canister's refusal", last)
	}
}
