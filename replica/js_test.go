package replica

import (
	"github.com/icws/icws/internal/testenv"

	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/icws/icws/internal/moctest"
)

// nodeModules returns the node binary after checking that Node.js and the agent package are
// installed (testenv: a skip, or a failure under ICWS_REQUIRE_NPM).
func nodeModules(t *testing.T) (node string) {
	t.Helper()
	node, _ = testenv.Node(t, "@dfinity/agent")
	return node
}

// jsError is an agent error as testdata/agent.mjs describes it.
type jsError struct {
	Name          string `json:"name"`
	IsReject      bool   `json:"isReject"`
	Certified     bool   `json:"certified"`
	CodeName      string `json:"codeName"`
	RejectCode    *int   `json:"rejectCode"`
	RejectMessage string `json:"rejectMessage"`
	ErrorCode     string `json:"errorCode"`
	Message       string `json:"message"`
}

// TestJSAgent runs the official JavaScript agent against the replica: root key fetch, updates
// (v3), queries with signature verification, certified and query rejects, read_state of /time
// and /subnet, time sync on a foreign canister id, and the v2 call with read_state polling.
func TestJSAgent(t *testing.T) {
	node := nodeModules(t)
	h := newHarness(t)
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, node, filepath.Join("testdata", "agent.mjs"), h.baseURL, h.cid.String())
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("node agent.mjs: %v\nstdout: %s\nstderr: %s", err, out, stderr.String())
	}
	var res struct {
		Principal     string                  `json:"principal"`
		RootKeyLength int                     `json:"rootKeyLength"`
		Inc1          json.RawMessage         `json:"inc1"`
		Inc2          json.RawMessage         `json:"inc2"`
		Whoami        json.RawMessage         `json:"whoami"`
		Get           json.RawMessage         `json:"get"`
		Greet         json.RawMessage         `json:"greet"`
		RejectText    string                  `json:"rejectText"`
		Reject        struct{ Error jsError } `json:"reject"`
		Trap          struct{ Error jsError } `json:"trap"`
		QueryReject   struct{ Error jsError } `json:"queryReject"`
		Time          struct {
			MS    float64  `json:"ms"`
			Error *jsError `json:"error"`
		} `json:"time"`
		Subnet struct {
			SubnetID  string   `json:"subnetId"`
			NodeCount int      `json:"nodeCount"`
			Error     *jsError `json:"error"`
		} `json:"subnet"`
		SyncTime json.RawMessage `json:"syncTime"`
		AsyncInc struct {
			Status int      `json:"status"`
			Value  string   `json:"value"`
			Error  *jsError `json:"error"`
		} `json:"asyncInc"`
		AsyncReject struct {
			Status int     `json:"status"`
			Error  jsError `json:"error"`
		} `json:"asyncReject"`
		GetAfter json.RawMessage `json:"getAfter"`
	}
	if err := json.Unmarshal(out, &res); err != nil {
		t.Fatalf("output %s: %v\nstderr: %s", out, err, stderr.String())
	}
	t.Logf("agent-js output: %s", out)
	want := func(name string, got json.RawMessage, value string) {
		t.Helper()
		var s string
		if err := json.Unmarshal(got, &s); err != nil || s != value {
			t.Errorf("%s: %s, want %q", name, got, value)
		}
	}
	if res.RootKeyLength != 133 {
		t.Errorf("agent root key has %d bytes", res.RootKeyLength)
	}
	want("inc1", res.Inc1, "1")
	want("whoami", res.Whoami, res.Principal)
	want("get", res.Get, "2")
	want("greet", res.Greet, "Hello, agent-js!")
	want("syncTime", res.SyncTime, "ok")
	want("getAfter", res.GetAfter, "3")
	want("inc2", res.Inc2, "2")

	if e := res.Reject.Error; !e.IsReject || !e.Certified || e.RejectCode == nil || *e.RejectCode != 4 ||
		e.RejectMessage != res.RejectText || e.ErrorCode != "IC0406" {
		t.Errorf("reject: %+v (want the certified reject 4 %q)", e, res.RejectText)
	}
	if e := res.Trap.Error; !e.IsReject || !e.Certified || e.RejectCode == nil || *e.RejectCode != 5 ||
		!strings.Contains(e.RejectMessage, "trapped on purpose") || e.ErrorCode != "IC0503" {
		t.Errorf("trap: %+v", e)
	}
	if e := res.QueryReject.Error; !e.IsReject || e.RejectCode == nil || *e.RejectCode != 3 || e.ErrorCode != "IC0536" {
		t.Errorf("query reject: %+v", e)
	}
	if res.Time.Error != nil || time.Since(time.UnixMilli(int64(res.Time.MS))) > time.Minute {
		t.Errorf("time: %+v", res.Time)
	}
	if res.Subnet.Error != nil || res.Subnet.SubnetID != h.r.SubnetID().String() || res.Subnet.NodeCount != 1 {
		t.Errorf("subnet: %+v", res.Subnet)
	}
	if res.AsyncInc.Error != nil || res.AsyncInc.Status != 202 || res.AsyncInc.Value != "3" {
		t.Errorf("v2 call: %+v", res.AsyncInc)
	}
	if e := res.AsyncReject.Error; res.AsyncReject.Status != 202 || !e.IsReject || e.RejectCode == nil ||
		*e.RejectCode != 4 || e.RejectMessage != res.RejectText {
		t.Errorf("v2 reject: %+v", res.AsyncReject)
	}
}

// TestJSManagement deploys a Motoko canister through the management canister with DFINITY's
// client of it (@icp-sdk/canisters IcManagementCanister): create, status, install, a chunked
// upgrade, settings, stop, start, uninstall and delete, and a non-controller refused. The
// controller signs with agent-js's Secp256k1KeyIdentity.
func TestJSManagement(t *testing.T) {
	node := nodeModules(t)
	wasm := moctest.Compile(t, moctest.Moc3, "wasmhost/testdata/counter.mo")
	path := filepath.Join(t.TempDir(), "counter.wasm")
	if err := os.WriteFile(path, wasm, 0o600); err != nil {
		t.Fatal(err)
	}
	r, err := Start(context.Background(), Config{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { r.Close() })
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, node, filepath.Join("testdata", "mgmt.mjs"), r.URL(), path)
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("node mgmt.mjs: %v\nstdout: %s\nstderr: %s", err, out, stderr.String())
	}
	t.Logf("mgmt.mjs: %s", out)
	var res map[string]json.RawMessage
	if err := json.Unmarshal(out, &res); err != nil {
		t.Fatalf("output %s: %v", out, err)
	}
	hash := sha256.Sum256(wasm)
	for _, c := range []struct{ step, want string }{
		{"statusNew", `"status":"running","moduleHash":null`},
		{"otherStatus", "Only the controllers of the canister"},
		{"install", `"ok"`},
		{"inc", `"1"`},
		{"statusInstalled", `"moduleHash":"` + hex.EncodeToString(hash[:]) + `"`},
		{"chunkedUpgrade", `{"stored":2}`},
		{"getAfterUpgrade", `"1"`},
		{"trap", "IC0503"},
		{"logs", `[{"idx":"0","content":"about to trap"},{"idx":"1","content":"[TRAP]: assertion failed`},
		{"otherLogs", "not allowed to query ic00 method fetch_canister_logs"},
		{"publicLogs", `2`},
		{"updateSettings", `2`},
		{"stop", `"stopped"`},
		{"callStopped", "is stopped"},
		{"start", `"2"`},
		{"uninstall", `null`},
		{"delete", `"ok"`},
		{"statusDeleted", "not found"},
	} {
		if got := string(res[c.step]); !strings.Contains(got, c.want) {
			t.Errorf("%s: %s, want it to contain %s", c.step, got, c.want)
		}
	}
}
