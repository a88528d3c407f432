package replica

import (
	"bytes"
	"context"
	"fmt"
	"slices"

	"github.com/icws/icws/ic/envelope"
	"github.com/icws/icws/ic/principal"
	"github.com/icws/icws/replica/wasmhost"
)

// Bounds of a canister's history and log, the IC's.
const (
	// MaxHistory is how many changes a canister's history keeps (canister_info); older ones
	// are dropped, total_num_changes still counts them.
	MaxHistory = 20
	// MaxLogBytes bounds the total content of a canister's log records (fetch_canister_logs);
	// the oldest records are dropped to stay under it.
	MaxLogBytes = 4 << 10
)

// originOf is the origin of a change that caller asked for: a canister (with the version it
// gave as sender_canister_version) or a user.
func originOf(caller principal.Principal, senderVersion *uint64) changeOrigin {
	if _, ok := caller.CanisterIndex(); ok {
		return changeOrigin{FromCanister: &fromCanister{CanisterID: caller, CanisterVersion: senderVersion}}
	}
	return changeOrigin{FromUser: &fromUser{UserID: caller}}
}

// recordChange appends a change to c's history, made at now by origin, with c's version after
// it, dropping the oldest beyond MaxHistory.
func (c *canister) recordChange(now uint64, origin changeOrigin, d changeDetails) {
	c.history = append(c.history, canisterChange{TimestampNanos: now, CanisterVersion: c.version, Origin: origin, Details: d})
	if n := len(c.history) - MaxHistory; n > 0 {
		c.history = slices.Delete(c.history, 0, n)
	}
	c.totalChanges++
	c.persistDirty = true
}

func creationChange(controllers []principal.Principal) changeDetails {
	return changeDetails{Creation: &controllersRecord{Controllers: slices.Clone(controllers)}}
}

func deploymentChange(m installMode, hash []byte) changeDetails {
	var dm deployMode
	switch {
	case m.Install != nil:
		dm.Install = &candidNull
	case m.Reinstall != nil:
		dm.Reinstall = &candidNull
	default:
		dm.Upgrade = &candidNull
	}
	return changeDetails{CodeDeployment: &codeDeployment{Mode: dm, ModuleHash: bytes.Clone(hash)}}
}

// appendLog adds a record to c's log at now, dropping the oldest records while the contents
// exceed MaxLogBytes (a record larger than that is cut to it).
func (c *canister) appendLog(now uint64, content []byte) {
	if len(content) > MaxLogBytes {
		content = content[:MaxLogBytes]
	}
	c.addLogs([]logRecord{{Idx: c.nextLogIdx, TimestampNanos: now, Content: bytes.Clone(content)}})
	c.nextLogIdx++
}

// addLogs appends records (numbered already, each at most MaxLogBytes) to c's log and drops the
// oldest while the contents exceed MaxLogBytes.
func (c *canister) addLogs(recs []logRecord) {
	for _, l := range recs {
		c.logs = append(c.logs, l)
		c.logBytes += len(l.Content)
	}
	drop := 0
	for c.logBytes > MaxLogBytes {
		c.logBytes -= len(c.logs[drop].Content)
		drop++
	}
	c.logs = slices.Delete(c.logs, 0, drop)
	c.persistDirty = true
}

// logRun records what a replicated message logged: its debug_prints and, as the IC does, a
// trap of the Wasm code or of ic0.trap ("[TRAP]: …"). Messages run non-replicated log nothing.
func (c *canister) logRun(m *wasmhost.Message, res *wasmhost.Result) {
	if !m.Replicated {
		return
	}
	for _, p := range res.Prints {
		c.appendLog(m.Time, []byte(p))
	}
	switch res.TrapKind {
	case wasmhost.TrapExplicit, wasmhost.TrapWasm:
		msg := res.Trap
		if msg == "" {
			msg = "(no message)"
		}
		c.appendLog(m.Time, []byte("[TRAP]: "+msg))
	}
}

// clearLogs purges c's log, as reinstall and uninstall do.
func (c *canister) clearLogs() {
	if len(c.logs) > 0 {
		c.persistDirty = true
	}
	c.logs, c.logBytes = nil, 0
}

// mayReadLogs reports whether p may fetch c's logs under its log_visibility.
func (c *canister) mayReadLogs(p principal.Principal) bool {
	v := c.settings.logVisibility
	switch {
	case v.Public != nil:
		return true
	case v.AllowedViewers != nil && slices.Contains(*v.AllowedViewers, p):
		return true
	}
	return c.isController(p)
}

// mgmtCanisterInfo answers canister_info, which only canisters may call.
func (r *Replica) mgmtCanisterInfo(_ context.Context, x *mgmtCall) ([]byte, bool, error) {
	if x.cc.ingress != nil {
		return nil, false, rejectf(envelope.CanisterReject, errCanisterRejectedMessage,
			"Only canisters can call ic00 method canister_info")
	}
	var a canisterInfoArgs
	if err := x.decode(&a); err != nil {
		return nil, false, err
	}
	c := r.byID[a.CanisterID]
	if c == nil {
		return nil, false, rejectf(envelope.DestinationInvalid, errCanisterNotFound, "Canister %s not found", a.CanisterID)
	}
	res := canisterInfoResult{
		TotalNumChanges: c.totalChanges,
		RecentChanges:   []canisterChange{},
		Controllers:     slices.Clone(c.controllers),
	}
	if a.NumRequestedChanges != nil {
		n := min(*a.NumRequestedChanges, uint64(len(c.history)))
		res.RecentChanges = slices.Clone(c.history[uint64(len(c.history))-n:])
	}
	if h := c.moduleHash(); h != nil {
		hb := bytes.Clone(h)
		res.ModuleHash = &hb
	}
	if res.Controllers == nil {
		res.Controllers = []principal.Principal{}
	}
	return candidReply(res)
}

// fetchLogs answers the query fetch_canister_logs of sender, sent with effective canister id
// ecid. The caller holds the state lock for reading.
func (r *Replica) fetchLogs(sender, ecid principal.Principal, arg []byte) outcome {
	x := &mgmtCall{caller: sender, ecid: &ecid, arg: arg, method: "fetch_canister_logs"}
	var a canisterIDRecord
	if err := x.decode(&a); err != nil {
		return mgmtOutcome(err)
	}
	if a.CanisterID != ecid {
		return mgmtOutcome(rejectf(envelope.CanisterReject, errInvalidManagementPayload,
			"Specified effective canister id %s does not match the canister id %s of the fetch_canister_logs call; send the query to /api/v2/canister/%s/query.", ecid, a.CanisterID, a.CanisterID))
	}
	c := r.byID[a.CanisterID]
	if c == nil {
		return mgmtOutcome(rejectf(envelope.DestinationInvalid, errCanisterNotFound, "Canister %s not found", a.CanisterID))
	}
	if !c.mayReadLogs(sender) {
		return mgmtOutcome(rejectf(envelope.CanisterReject, errCanisterRejectedMessage,
			"Caller %s is not allowed to query ic00 method fetch_canister_logs of canister %s: its log_visibility lets only its controllers (or allowed viewers) read its logs; set log_visibility = public or add the caller with update_settings.", sender, c.id))
	}
	res := fetchLogsResult{Records: slices.Clone(c.logs)}
	if res.Records == nil {
		res.Records = []logRecord{}
	}
	b, _, err := candidReply(res)
	if err != nil {
		return mgmtOutcome(err)
	}
	return replyOutcome(b)
}

// mgmtFetchLogsUpdate is fetch_canister_logs called as an update or by a canister, which the IC
// refuses: it is a query for users only.
func (r *Replica) mgmtFetchLogsUpdate(_ context.Context, x *mgmtCall) ([]byte, bool, error) {
	return nil, false, rejectf(envelope.CanisterReject, errCanisterRejectedMessage,
		"ic00 method fetch_canister_logs can only be called by users as a query (POST /api/v2/canister/<canister id>/query), not as an update or by a canister.")
}

// originCaller is the principal that made a change.
func originCaller(o changeOrigin) principal.Principal {
	if o.FromCanister != nil {
		return o.FromCanister.CanisterID
	}
	return o.FromUser.UserID
}

// restoreHistory puts the saved history and log of rec into c (none in a version 1 record).
func restoreHistory(c *canister, rec *canisterRecord) error {
	if rec.History != nil {
		if len(*rec.History) > MaxHistory {
			return fmt.Errorf("%w: canister %s has %d history entries, at most %d are kept", ErrStateCorrupt, rec.ID, len(*rec.History), MaxHistory)
		}
		c.history = *rec.History
	}
	if rec.TotalChanges != nil {
		c.totalChanges = *rec.TotalChanges
	}
	if rec.NextLogIdx != nil {
		c.nextLogIdx = *rec.NextLogIdx
	}
	if rec.Logs != nil {
		for _, l := range *rec.Logs {
			c.logBytes += len(l.Content)
		}
		if c.logBytes > MaxLogBytes {
			return fmt.Errorf("%w: canister %s has %d bytes of logs, at most %d are kept", ErrStateCorrupt, rec.ID, c.logBytes, MaxLogBytes)
		}
		c.logs = *rec.Logs
	}
	return nil
}
