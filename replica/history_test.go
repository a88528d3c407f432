package replica

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/icws/icws/agent"
	"github.com/icws/icws/ic/principal"
	"github.com/icws/icws/internal/moctest"
	"github.com/icws/icws/internal/testenv"
)

// changeKinds names the details of each change, as "creation", "install", "controllers", ….
func changeKinds(cs []canisterChange) string {
	var b strings.Builder
	for i, c := range cs {
		if i > 0 {
			b.WriteByte(' ')
		}
		d := c.Details
		switch {
		case d.Creation != nil:
			b.WriteString("creation")
		case d.CodeUninstall != nil:
			b.WriteString("uninstall")
		case d.ControllersChange != nil:
			fmt.Fprintf(&b, "controllers:%d", len(d.ControllersChange.Controllers))
		case d.CodeDeployment != nil:
			m := d.CodeDeployment.Mode
			switch {
			case m.Install != nil:
				b.WriteString("install")
			case m.Reinstall != nil:
				b.WriteString("reinstall")
			default:
				b.WriteString("upgrade")
			}
		}
	}
	return b.String()
}

func fetchLogs(m *mgmt, a *agent.Agent, id principal.Principal) ([]logRecord, error) {
	var res fetchLogsResult
	err := a.Query(m.ctx, principal.Management(), "fetch_canister_logs", canisterIDRecord{CanisterID: id}, &res)
	return res.Records, err
}

// TestCanisterHistoryAndLogs deploys a Motoko canister through a sequence of changes and reads
// its history with canister_info, called from a Motoko canister (ingress is refused, as on the
// IC), and its debug_print and trap log with the fetch_canister_logs query under each
// log_visibility; both survive a restart of a replica with a state directory.
func TestCanisterHistoryAndLogs(t *testing.T) {
	counter := moctest.Compile(t, moctest.Moc3, "wasmhost/testdata/counter.mo")
	infoWasm := moctest.Compile(t, moctest.Moc3, "testdata/info.mo")
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	dir := t.TempDir()
	specs := []CanisterSpec{{Name: "info", Wasm: infoWasm}}
	r, err := Start(ctx, Config{StateDir: dir, Canisters: specs})
	if err != nil {
		t.Fatal(err)
	}
	m := newMgmt(t, ctx, r)
	other := newMgmt(t, ctx, r)
	me := m.a.Sender()
	infoID, _ := r.CanisterID("info")

	id := m.create()
	for _, mode := range []installMode{modeInstall, modeUpgrade(false)} {
		if err := m.install(id, mode, counter); err != nil {
			t.Fatal(err)
		}
	}
	ctrls := []principal.Principal{me, infoID}
	m.must("update_settings", updateSettingsArgs{CanisterID: id, Settings: canisterSettings{Controllers: &ctrls}})
	m.must("uninstall_code", uninstallCodeArgs{CanisterID: id})
	if err := m.install(id, modeInstall, counter); err != nil {
		t.Fatal(err)
	}
	const kinds = "creation install upgrade controllers:2 uninstall install"

	info := func(r *Replica, n *uint64) canisterInfoResult {
		t.Helper()
		a, err := agent.New(agent.Config{URL: r.URL(), Identity: nil, FetchRootKey: true})
		if err != nil {
			t.Fatal(err)
		}
		var res canisterInfoResult
		if err := a.Call(ctx, infoID, "info", agent.Args{id, n}, &res); err != nil {
			t.Fatalf("info: %v", err)
		}
		return res
	}
	check := func(r *Replica) {
		t.Helper()
		all := uint64(100)
		res := info(r, &all)
		hash := sha256.Sum256(counter)
		if res.TotalNumChanges != 6 || changeKinds(res.RecentChanges) != kinds ||
			res.ModuleHash == nil || !bytes.Equal(*res.ModuleHash, hash[:]) || len(res.Controllers) != 2 {
			t.Fatalf("canister_info = total %d, changes %q, hash %x, controllers %v; want 6, %q, %x, 2",
				res.TotalNumChanges, changeKinds(res.RecentChanges), res.ModuleHash, res.Controllers, kinds, hash)
		}
		prev := uint64(0)
		for i, c := range res.RecentChanges {
			if c.Origin.FromUser == nil || c.Origin.FromUser.UserID != me || c.CanisterVersion < prev || c.TimestampNanos == 0 {
				t.Fatalf("change %d = %+v: want from_user %s, versions not decreasing", i, c, me)
			}
			prev = c.CanisterVersion
		}
		if d := res.RecentChanges[0].Details.Creation; len(d.Controllers) != 1 || d.Controllers[0] != me {
			t.Fatalf("creation controllers %v, want [%s]", d.Controllers, me)
		}
		two := uint64(2)
		if got := changeKinds(info(r, &two).RecentChanges); got != "uninstall install" {
			t.Fatalf("the 2 most recent changes: %q", got)
		}
		if got := info(r, nil); got.TotalNumChanges != 6 || len(got.RecentChanges) != 0 {
			t.Fatalf("num_requested_changes none: %d changes, total %d; want none, 6", len(got.RecentChanges), got.TotalNumChanges)
		}
	}
	check(r)
	err = m.call("canister_info", canisterInfoArgs{CanisterID: id})
	wantReject(t, "canister_info by ingress", err, "Only canisters can call ic00 method canister_info", errCanisterRejectedMessage)

	// Logs: a trap logs its debug_print and the trap; a query logs nothing.
	wantReject(t, "incThenTrap", m.a.Call(ctx, id, "incThenTrap", nil), "", errCanisterCalledTrap)
	m.nat(id, "get", true)
	logs, err := fetchLogs(m, m.a, id)
	if err != nil {
		t.Fatal(err)
	}
	if len(logs) != 2 || string(logs[0].Content) != "about to trap" || !strings.HasPrefix(string(logs[1].Content), "[TRAP]: ") ||
		logs[1].Idx != logs[0].Idx+1 || logs[0].TimestampNanos == 0 {
		t.Fatalf("logs = %+v, want the print and a [TRAP] record", logs)
	}
	_, err = fetchLogs(m, other.a, id)
	wantReject(t, "logs of a stranger", err, "not allowed", errCanisterRejectedMessage)
	for _, v := range []logVisibility{{AllowedViewers: &[]principal.Principal{other.a.Sender()}}, {Public: &candidNull}} {
		m.must("update_settings", updateSettingsArgs{CanisterID: id, Settings: canisterSettings{LogVisibility: &v}})
		if got, err := fetchLogs(m, other.a, id); err != nil || len(got) != 2 {
			t.Fatalf("logs with visibility %+v: %d records, %v", v, len(got), err)
		}
	}
	if st := m.status(id); st.Settings.LogVisibility.Public == nil {
		t.Fatalf("canister_status log_visibility = %+v, want public", st.Settings.LogVisibility)
	}
	err = m.call("fetch_canister_logs", canisterIDRecord{CanisterID: id})
	wantReject(t, "fetch_canister_logs as an update", err, "as a query", errCanisterRejectedMessage)

	// Both survive a restart.
	r.Close()
	r2, err := Start(ctx, Config{StateDir: dir, Canisters: specs})
	if err != nil {
		t.Fatal(err)
	}
	defer r2.Close()
	m.a, err = agent.New(agent.Config{URL: r2.URL(), Identity: m.id, FetchRootKey: true})
	if err != nil {
		t.Fatal(err)
	}
	check(r2)
	if got, err := fetchLogs(m, m.a, id); err != nil || len(got) != 2 || got[1].Idx != logs[1].Idx {
		t.Fatalf("logs after a restart: %+v, %v", got, err)
	}
	// An upgrade keeps the log, a reinstall purges it.
	if err := m.install(id, modeUpgrade(false), counter); err != nil {
		t.Fatal(err)
	}
	if got, _ := fetchLogs(m, m.a, id); len(got) != 2 {
		t.Fatalf("logs after an upgrade: %+v, want the 2 kept", got)
	}
	if err := m.install(id, modeReinstall, counter); err != nil {
		t.Fatal(err)
	}
	if got, err := fetchLogs(m, m.a, id); err != nil || len(got) != 0 {
		t.Fatalf("logs after a reinstall: %+v, %v; want none", got, err)
	}
}

// TestCanisterLogBound checks that the log keeps the newest records within MaxLogBytes and
// numbers records on, and that the history keeps the newest MaxHistory changes.
func TestCanisterLogBound(t *testing.T) {
	for _, tc := range []struct {
		name    string
		sizes   []int
		wantIdx []uint64 // the idx of the records kept
	}{
		{"small", []int{10, 20}, []uint64{0, 1}},
		{"exactly full", []int{MaxLogBytes / 2, MaxLogBytes / 2}, []uint64{0, 1}},
		{"one over", []int{MaxLogBytes / 2, MaxLogBytes / 2, 1}, []uint64{1, 2}},
		{"oversized record cut", []int{5, MaxLogBytes + 100}, []uint64{1}},
		{"many", []int{1000, 1000, 1000, 1000, 1000, 1000}, []uint64{2, 3, 4, 5}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := &canister{}
			for i, n := range tc.sizes {
				c.appendLog(uint64(i+1), bytes.Repeat([]byte{'x'}, n))
			}
			var idx []uint64
			total := 0
			for _, l := range c.logs {
				idx = append(idx, l.Idx)
				total += len(l.Content)
			}
			if fmt.Sprint(idx) != fmt.Sprint(tc.wantIdx) || total > MaxLogBytes || total != c.logBytes {
				t.Fatalf("kept idx %v (%d bytes, counted %d), want %v within %d", idx, total, c.logBytes, tc.wantIdx, MaxLogBytes)
			}
		})
	}
	c := &canister{}
	for i := range MaxHistory + 5 {
		c.version = uint64(i)
		c.recordChange(uint64(i), originOf(principal.Anonymous(), nil), changeDetails{CodeUninstall: &candidNull})
	}
	if len(c.history) != MaxHistory || c.totalChanges != MaxHistory+5 || c.history[0].CanisterVersion != 5 {
		t.Fatalf("history: %d kept, total %d, oldest version %d; want %d, %d, 5", len(c.history), c.totalChanges, c.history[0].CanisterVersion, MaxHistory, MaxHistory+5)
	}
}

// TestCanisterHistoryFromCanister has a Motoko canister that controls another change it
// through the management canister (create_canister, update_settings, install_code,
// uninstall_code), with and without sender_canister_version, between changes a user makes, and
// reads canister_info back: each change made by the canister has the origin from_canister with
// its id and the version it sent (null when it sent none); the user's have from_user.
func TestCanisterHistoryFromCanister(t *testing.T) {
	counter := moctest.Compile(t, moctest.Moc3, "wasmhost/testdata/counter.mo")
	ctlWasm := moctest.Compile(t, moctest.Moc3, "testdata/controller.mo")
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	r, err := Start(ctx, Config{Canisters: []CanisterSpec{{Name: "controller", Wasm: ctlWasm}}})
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	m := newMgmt(t, ctx, r)
	me := m.a.Sender()
	ctl, _ := r.CanisterID("controller")
	call := func(method string, args agent.Args, results ...any) {
		t.Helper()
		if err := m.a.Call(ctx, ctl, method, args, results...); err != nil {
			t.Fatalf("controller.%s: %v", method, err)
		}
	}

	// want is the origin of each change: the version the controller sent, or the user.
	type origin struct {
		user    bool
		version *uint64
	}
	var want []origin
	var id principal.Principal
	var v uint64
	call("create", agent.Args{true}, &id, &v)
	want = append(want, origin{version: &v})
	v1 := uint64(0)
	call("setControllers", agent.Args{id, []principal.Principal{ctl, me}, true}, &v1)
	want = append(want, origin{version: &v1})
	if err := m.install(id, modeInstall, counter); err != nil {
		t.Fatal(err)
	}
	want = append(want, origin{user: true})
	var ignored uint64
	call("upgrade", agent.Args{id, counter, false}, &ignored)
	want = append(want, origin{}) // no sender_canister_version
	v3 := uint64(0)
	call("uninstall", agent.Args{id, true}, &v3)
	want = append(want, origin{version: &v3})
	if !(v < v1 && v1 < ignored && ignored < v3) {
		t.Errorf("the controller's versions %d, %d, %d, %d: want increasing (each call is a successful update)", v, v1, ignored, v3)
	}

	all := uint64(MaxHistory)
	var res canisterInfoResult
	call("info", agent.Args{id, &all}, &res)
	const kinds = "creation controllers:2 install upgrade uninstall"
	if got := changeKinds(res.RecentChanges); got != kinds || res.TotalNumChanges != 5 {
		t.Fatalf("canister_info: %d changes %q, want 5 %q", res.TotalNumChanges, got, kinds)
	}
	if d := res.RecentChanges[0].Details.Creation; len(d.Controllers) != 1 || d.Controllers[0] != ctl {
		t.Errorf("creation controllers %v, want the creating canister %s", d.Controllers, ctl)
	}
	prev := uint64(0)
	for i, c := range res.RecentChanges {
		w, o := want[i], c.Origin
		switch {
		case w.user:
			if o.FromUser == nil || o.FromUser.UserID != me || o.FromCanister != nil {
				t.Errorf("change %d (%s): origin %+v, want from_user %s", i, changeKinds(res.RecentChanges[i:i+1]), o, me)
			}
		case o.FromCanister == nil || o.FromUser != nil || o.FromCanister.CanisterID != ctl:
			t.Errorf("change %d (%s): origin %+v, want from_canister %s", i, changeKinds(res.RecentChanges[i:i+1]), o, ctl)
		case (w.version == nil) != (o.FromCanister.CanisterVersion == nil) ||
			(w.version != nil && *w.version != *o.FromCanister.CanisterVersion):
			t.Errorf("change %d (%s): from_canister canister_version %v, want %v", i, changeKinds(res.RecentChanges[i:i+1]), fmtOpt(o.FromCanister.CanisterVersion), fmtOpt(w.version))
		}
		if c.CanisterVersion < prev {
			t.Errorf("change %d: the canister's version %d went down from %d", i, c.CanisterVersion, prev)
		}
		prev = c.CanisterVersion
	}

	// DFINITY's JS client decodes the same history.
	total, js := jsHistory(t, r, ctl, id)
	t.Logf("@icp-sdk/canisters decodes: %q", derefAll(js))
	if g := goChanges(res.RecentChanges); total != "5" || fmt.Sprintf("%+v", derefAll(js)) != fmt.Sprintf("%+v", derefAll(g)) {
		t.Errorf("@icp-sdk/canisters decodes %s changes\n%+v\nGo decodes\n%+v", total, derefAll(js), derefAll(g))
	}
}

// derefAll prints the changes' optional sender versions by value.
func derefAll(cs []jsChange) []string {
	var out []string
	for _, c := range cs {
		v := "null"
		if c.SenderVersion != nil {
			v = *c.SenderVersion
		}
		out = append(out, fmt.Sprintf("%s %s %s sent=%s %s", c.Version, c.Origin, c.Principal, v, c.Details))
	}
	return out
}

// fmtOpt prints an opt nat64 as Candid does.
func fmtOpt(v *uint64) string {
	if v == nil {
		return "null"
	}
	return fmt.Sprintf("opt %d", *v)
}

// jsChange is a change as testdata/history.mjs prints it, decoded by @icp-sdk/canisters' types.
type jsChange struct {
	Version       string  `json:"version"`
	Origin        string  `json:"origin"`
	Principal     string  `json:"principal"`
	SenderVersion *string `json:"senderVersion"`
	Details       string  `json:"details"`
}

// jsHistory reads target's history with DFINITY's JS client through the controller canister.
func jsHistory(t *testing.T, r *Replica, controller, target principal.Principal) (total string, changes []jsChange) {
	t.Helper()
	node, _ := testenv.Node(t, "@icp-sdk/canisters", "@icp-sdk/core")
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, node, filepath.Join("testdata", "history.mjs"), r.URL(), controller.String(), target.String())
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("node history.mjs: %v\n%s", err, stderr.String())
	}
	var res struct {
		Total   string     `json:"total"`
		Changes []jsChange `json:"changes"`
	}
	if err := json.Unmarshal(out, &res); err != nil {
		t.Fatalf("history.mjs printed %s: %v", out, err)
	}
	return res.Total, res.Changes
}

// goChanges is the history as jsHistory prints it, from the Go decoding.
func goChanges(cs []canisterChange) []jsChange {
	var out []jsChange
	for i, c := range cs {
		j := jsChange{Version: strconv.FormatUint(c.CanisterVersion, 10), Details: strings.Split(changeKinds(cs[i:i+1]), ":")[0]}
		switch j.Details {
		case "controllers":
			j.Details = "controllers_change"
		case "install", "upgrade", "reinstall":
			j.Details = "code_deployment"
		case "uninstall":
			j.Details = "code_uninstall"
		}
		if o := c.Origin.FromCanister; o != nil {
			j.Origin, j.Principal = "from_canister", o.CanisterID.String()
			if o.CanisterVersion != nil {
				v := strconv.FormatUint(*o.CanisterVersion, 10)
				j.SenderVersion = &v
			}
		} else if c.Origin.FromUser != nil {
			j.Origin, j.Principal = "from_user", c.Origin.FromUser.UserID.String()
		}
		out = append(out, j)
	}
	return out
}
