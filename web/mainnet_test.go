package web

import (
	"encoding/json"
	"slices"
	"testing"
	"time"

	"github.com/icws/icws/agent"
)

// TestMainnetHosts checks that the browser client's mainnet host list and rule
// (web/src/mainnet.js) are the Go agent's (agent.MainnetHosts, agent.IsMainnetHost): the same
// hosts, and the same answer for every host of a table of near misses, so the two cannot drift.
func TestMainnetHosts(t *testing.T) {
	node := requireNode(t, false)
	hosts := []string{"localhost", "127.0.0.1", "example.com", "io", "app"}
	for _, h := range agent.MainnetHosts() {
		hosts = append(hosts, h, "x."+h, "a.b."+h, "evil"+h, "evil-"+h, h+".evil.com", "X."+h, "."+h)
	}
	in, err := json.Marshal(hosts)
	if err != nil {
		t.Fatal(err)
	}
	script := `import { MAINNET_HOSTS, isMainnetHost } from './src/mainnet.js';
const hosts = ` + string(in) + `;
console.log(JSON.stringify({ list: MAINNET_HOSTS, answers: hosts.map(isMainnetHost) }));`
	out := runNode(t, node, 30*time.Second, "--input-type=module", "-e", script)
	var got struct {
		List    []string `json:"list"`
		Answers []bool   `json:"answers"`
	}
	if err := json.Unmarshal(out, &got); err != nil {
		t.Fatalf("node printed %q: %v", out, err)
	}
	want := agent.MainnetHosts()
	if !slices.Equal(slices.Sorted(slices.Values(got.List)), slices.Sorted(slices.Values(want))) {
		t.Errorf("web/src/mainnet.js MAINNET_HOSTS = %v, agent.MainnetHosts() = %v: make them one list", got.List, want)
	}
	if len(got.Answers) != len(hosts) {
		t.Fatalf("%d answers for %d hosts", len(got.Answers), len(hosts))
	}
	for i, h := range hosts {
		if got.Answers[i] != agent.IsMainnetHost(h) {
			t.Errorf("host %q: isMainnetHost (JS) = %v, agent.IsMainnetHost = %v", h, got.Answers[i], agent.IsMainnetHost(h))
		}
	}
}
