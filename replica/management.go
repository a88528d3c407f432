package replica

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"slices"

	"github.com/icws/icws/ic/candid"
	"github.com/icws/icws/ic/envelope"
	"github.com/icws/icws/ic/principal"
	"github.com/icws/icws/replica/wasmhost"
)

// Limits of the management canister, the IC's.
const (
	// MaxControllers is the most controllers a canister may have.
	MaxControllers = 10
	// MaxChunkSize is the largest chunk upload_chunk takes.
	MaxChunkSize = 1 << 20
	// MaxChunks is the most chunks a chunk store holds.
	MaxChunks = 100
)

// mgmtError is a reject of the management canister.
type mgmtError struct {
	code envelope.RejectCode
	ic   string // the IC's error code
	msg  string
}

func (e *mgmtError) Error() string { return e.msg }

func rejectf(code envelope.RejectCode, ic, format string, args ...any) *mgmtError {
	return &mgmtError{code: code, ic: ic, msg: fmt.Sprintf(format, args...)}
}

// mgmtMethod is one method of the management canister. It runs in a round with the state lock
// held. It returns the Candid reply, or held = true if it answers cc later.
type mgmtMethod func(r *Replica, ctx context.Context, x *mgmtCall) (reply []byte, held bool, err error)

// mgmtCall is one call to the management canister.
type mgmtCall struct {
	cc     *callContext
	caller principal.Principal
	ecid   *principal.Principal // the effective canister id of an ingress message, nil for a canister's call
	arg    []byte
	now    uint64
	method string
}

// mgmtMethods are the methods the replica implements. The rest of the interface (threshold
// signatures, bitcoin, HTTP outcalls, snapshots) rejects with a message that says so.
var mgmtMethods = map[string]mgmtMethod{
	"create_canister":                         (*Replica).mgmtCreate,
	"provisional_create_canister_with_cycles": (*Replica).mgmtProvisionalCreate,
	"update_settings":                         (*Replica).mgmtUpdateSettings,
	"upload_chunk":                            (*Replica).mgmtUploadChunk,
	"clear_chunk_store":                       (*Replica).mgmtClearChunkStore,
	"stored_chunks":                           (*Replica).mgmtStoredChunks,
	"install_code":                            (*Replica).mgmtInstallCode,
	"install_chunked_code":                    (*Replica).mgmtInstallChunkedCode,
	"uninstall_code":                          (*Replica).mgmtUninstallCode,
	"start_canister":                          (*Replica).mgmtStart,
	"stop_canister":                           (*Replica).mgmtStop,
	"canister_status":                         (*Replica).mgmtStatus,
	"delete_canister":                         (*Replica).mgmtDelete,
	"deposit_cycles":                          (*Replica).mgmtDepositCycles,
	"provisional_top_up_canister":             (*Replica).mgmtTopUp,
	"raw_rand":                                (*Replica).mgmtRawRand,
	"canister_metadata":                       (*Replica).mgmtMetadata,
	"canister_info":                           (*Replica).mgmtCanisterInfo,
	"fetch_canister_logs":                     (*Replica).mgmtFetchLogsUpdate,
}

// manage runs a call to the management canister. done is false if the call answers later.
func (r *Replica) manage(ctx context.Context, cc *callContext, caller principal.Principal, method string, arg []byte, now uint64) (o outcome, done bool) {
	m, ok := mgmtMethods[method]
	if !ok {
		return outcome{
			rejectCode: envelope.DestinationInvalid,
			errorCode:  errCanisterMethodNotFound,
			rejectMsg:  fmt.Sprintf("The management canister method %q is not supported by the icws replica (supported: %s).", method, mgmtMethodList()),
		}, true
	}
	x := &mgmtCall{cc: cc, caller: caller, arg: arg, now: now, method: method}
	if cc.ingress != nil {
		x.ecid = &cc.ingress.ecid
	}
	reply, held, err := m(r, ctx, x)
	if held {
		cc.held = true
		return outcome{}, false
	}
	if err != nil {
		o := mgmtOutcome(err)
		r.log.Info("management canister rejected a call", "method", method, "caller", caller.String(), "reject", o.rejectMsg)
		return o, true
	}
	r.log.Debug("management canister call", "method", method, "caller", caller.String())
	return replyOutcome(reply), true
}

// mgmtOutcome is the reject of a management canister error: its own code if it is a mgmtError.
func mgmtOutcome(err error) outcome {
	var me *mgmtError
	if !errors.As(err, &me) {
		me = &mgmtError{code: envelope.CanisterError, ic: errInvalidManagementPayload, msg: err.Error()}
	}
	return outcome{rejectCode: me.code, errorCode: me.ic, rejectMsg: me.msg}
}

func mgmtMethodList() string {
	names := make([]string, 0, len(mgmtMethods))
	for n := range mgmtMethods {
		names = append(names, n)
	}
	slices.Sort(names)
	var b bytes.Buffer
	for i, n := range names {
		if i > 0 {
			b.WriteString(", ")
		}
		b.WriteString(n)
	}
	return b.String()
}

// decode decodes the call's argument into v, with the IC's reject for a bad payload.
func (x *mgmtCall) decode(v any) error {
	if err := candid.Unmarshal(x.arg, v); err != nil {
		return rejectf(envelope.CanisterError, errInvalidManagementPayload,
			"Error decoding candid of the argument of %s: %v (check the argument against the management canister's interface)", x.method, err)
	}
	return nil
}

// target looks up the canister a method names and checks that the caller controls it and, for
// an ingress message, that it was sent to that canister as its effective canister id.
func (r *Replica) target(x *mgmtCall, id principal.Principal) (*canister, error) {
	if x.ecid != nil && *x.ecid != id {
		return nil, rejectf(envelope.CanisterReject, errInvalidManagementPayload,
			"Specified effective canister id %s does not match the canister id %s of the %s call; send the request to /api/v2/canister/%s/call.", *x.ecid, id, x.method, id)
	}
	c := r.byID[id]
	if c == nil {
		return nil, rejectf(envelope.DestinationInvalid, errCanisterNotFound, "Canister %s not found", id)
	}
	if !c.isController(x.caller) {
		return nil, rejectf(envelope.CanisterError, errCanisterInvalidController,
			"Only the controllers of the canister %s can control it.\nCanister's controllers: %s\nSender's ID: %s", id, principalList(c.controllers), x.caller)
	}
	return c, nil
}

func principalList(ps []principal.Principal) string {
	var b bytes.Buffer
	for i, p := range ps {
		if i > 0 {
			b.WriteByte(' ')
		}
		b.WriteString(p.String())
	}
	return b.String()
}

func candidReply(vs ...any) ([]byte, bool, error) {
	b, err := candid.Marshal(vs...)
	return b, false, err
}

func (r *Replica) mgmtCreate(_ context.Context, x *mgmtCall) ([]byte, bool, error) {
	var a createCanisterArgs
	if err := x.decode(&a); err != nil {
		return nil, false, err
	}
	c, err := r.createCanister(x.caller, a.Settings, nil, a.SenderCanisterVersion, x.now)
	if err != nil {
		return nil, false, err
	}
	return candidReply(canisterIDRecord{CanisterID: c.id})
}

func (r *Replica) mgmtProvisionalCreate(_ context.Context, x *mgmtCall) ([]byte, bool, error) {
	var a provisionalCreateArgs
	if err := x.decode(&a); err != nil {
		return nil, false, err
	}
	c, err := r.createCanister(x.caller, a.Settings, a.SpecifiedID, a.SenderCanisterVersion, x.now)
	if err != nil {
		return nil, false, err
	}
	return candidReply(canisterIDRecord{CanisterID: c.id})
}

// createCanister makes an empty canister controlled by creator, or by the settings' controllers.
func (r *Replica) createCanister(creator principal.Principal, s *canisterSettings, specified *principal.Principal, senderVersion *uint64, now uint64) (*canister, error) {
	var id principal.Principal
	if specified != nil {
		if _, ok := specified.CanisterIndex(); !ok {
			return nil, rejectf(envelope.CanisterReject, errInvalidManagementPayload, "The specified id %s is not a canister id.", *specified)
		}
		if r.byID[*specified] != nil || isStandin(*specified) {
			return nil, rejectf(envelope.CanisterReject, errCanisterIDAlreadyExists, "Canister %s is already installed.", *specified)
		}
		id = *specified
	} else {
		for r.byID[canisterIDAt(r.nextIndex)] != nil {
			r.nextIndex++
		}
		if r.nextIndex >= MaxCanisters {
			return nil, rejectf(envelope.SysTransient, "IC0102", "The subnet holds %d canisters, its maximum; delete some with delete_canister.", MaxCanisters)
		}
		id = canisterIDAt(r.nextIndex)
		r.nextIndex++
	}
	c := &canister{
		id:          id,
		log:         r.log,
		controllers: []principal.Principal{creator},
		status:      wasmhost.StatusRunning,
		settings:    defaultSettings(),
	}
	if s != nil {
		if err := applySettings(c, s); err != nil {
			return nil, err
		}
	}
	c.recordChange(now, originOf(creator, senderVersion), creationChange(c.controllers))
	r.addCanister(c)
	r.log.Info("canister created", "id", id.String(), "controllers", principalList(c.controllers))
	return c, nil
}

// addCanister enters c into the canister table.
func (r *Replica) addCanister(c *canister) {
	r.byID[c.id] = c
	r.order = append(r.order, c)
	r.canistersChanged = true
	c.persistDirty = true
	if r.store != nil {
		r.store.metaDirty = true
	}
}

// bump records a change of c's code, settings or status: its canister_version goes up and the
// ingress directory is republished after the round.
func (r *Replica) bump(c *canister) {
	c.version++
	c.persistDirty = true
	r.canistersChanged = true
}

// directory is what the ingress filter knows of each canister, published by rounds so that
// accepting a call takes no state lock: a call to a canister that is missing, empty or stopped is
// rejected before execution, as on the IC.
type directory map[principal.Principal]dirEntry

type dirEntry struct {
	status wasmhost.Status
	empty  bool
}

// publishDirectory makes the directory of the current canister table. The caller holds mu.
func (r *Replica) publishDirectory() {
	d := make(directory, len(r.order))
	for _, c := range r.order {
		d[c.id] = dirEntry{status: c.status, empty: c.inst == nil}
	}
	r.dir.Store(&d)
}

// admit is the ingress filter of a call to id: ok, or the reject to answer at once.
func (r *Replica) admit(id principal.Principal) (outcome, bool) {
	if id == principal.Management() || isStandin(id) {
		return outcome{}, true
	}
	d := *r.dir.Load()
	e, ok := d[id]
	switch {
	case !ok:
		return canisterNotFound(id), false
	}
	return refuseState(id, e.status, e.empty, false)
}

// applySettings applies the settings given (nil fields are kept).
func applySettings(c *canister, s *canisterSettings) error {
	if s.Controllers != nil {
		if len(*s.Controllers) > MaxControllers {
			return rejectf(envelope.CanisterReject, errInvalidManagementPayload,
				"Invalid settings: %d controllers given, at most %d allowed.", len(*s.Controllers), MaxControllers)
		}
		c.controllers = slices.Clone(*s.Controllers)
	}
	set := func(dst *uint64, v *candid.Nat, name string) error {
		if v == nil {
			return nil
		}
		n, ok := v.Uint64()
		if !ok {
			return rejectf(envelope.CanisterReject, errInvalidManagementPayload, "Invalid settings: %s %s is out of range.", name, v)
		}
		*dst = n
		return nil
	}
	for _, f := range []struct {
		dst  *uint64
		v    *candid.Nat
		name string
	}{
		{&c.settings.computeAllocation, s.ComputeAllocation, "compute_allocation"},
		{&c.settings.memoryAllocation, s.MemoryAllocation, "memory_allocation"},
		{&c.settings.freezingThreshold, s.FreezingThreshold, "freezing_threshold"},
		{&c.settings.reservedCyclesLimit, s.ReservedCyclesLimit, "reserved_cycles_limit"},
		{&c.settings.wasmMemoryLimit, s.WasmMemoryLimit, "wasm_memory_limit"},
		{&c.settings.wasmMemoryThreshold, s.WasmMemoryThreshold, "wasm_memory_threshold"},
	} {
		if err := set(f.dst, f.v, f.name); err != nil {
			return err
		}
	}
	if c.settings.computeAllocation > 100 {
		return rejectf(envelope.CanisterReject, errInvalidManagementPayload, "Invalid settings: compute_allocation %d is above 100.", c.settings.computeAllocation)
	}
	if s.LogVisibility != nil {
		if v := s.LogVisibility.AllowedViewers; v != nil && len(*v) > MaxControllers {
			return rejectf(envelope.CanisterReject, errInvalidManagementPayload,
				"Invalid settings: log_visibility has %d allowed viewers, at most %d allowed.", len(*v), MaxControllers)
		}
		c.settings.logVisibility = *s.LogVisibility
	}
	if s.EnvironmentVariables != nil {
		c.settings.environment = slices.Clone(*s.EnvironmentVariables)
	}
	return nil
}

func (r *Replica) mgmtUpdateSettings(_ context.Context, x *mgmtCall) ([]byte, bool, error) {
	var a updateSettingsArgs
	if err := x.decode(&a); err != nil {
		return nil, false, err
	}
	c, err := r.target(x, a.CanisterID)
	if err != nil {
		return nil, false, err
	}
	saved := c.settings
	savedControllers := c.controllers
	if err := applySettings(c, &a.Settings); err != nil {
		c.settings, c.controllers = saved, savedControllers
		return nil, false, err
	}
	r.bump(c)
	if a.Settings.Controllers != nil {
		c.recordChange(x.now, originOf(x.caller, a.SenderCanisterVersion), changeDetails{ControllersChange: &controllersRecord{Controllers: slices.Clone(c.controllers)}})
	}
	return emptyReply, false, nil
}

func (r *Replica) mgmtUploadChunk(_ context.Context, x *mgmtCall) ([]byte, bool, error) {
	var a uploadChunkArgs
	if err := x.decode(&a); err != nil {
		return nil, false, err
	}
	c, err := r.target(x, a.CanisterID)
	if err != nil {
		return nil, false, err
	}
	if len(a.Chunk) > MaxChunkSize {
		return nil, false, rejectf(envelope.CanisterReject, errInvalidManagementPayload,
			"Wasm chunk size %d exceeds the maximum chunk size of %d; split the module into chunks of at most 1 MiB.", len(a.Chunk), MaxChunkSize)
	}
	h := sha256.Sum256(a.Chunk)
	if c.chunks == nil {
		c.chunks = make(map[[32]byte][]byte)
	}
	if _, ok := c.chunks[h]; !ok {
		if len(c.chunks) >= MaxChunks {
			return nil, false, rejectf(envelope.CanisterReject, errInvalidManagementPayload,
				"The chunk store of canister %s holds %d chunks, its maximum; clear it with clear_chunk_store.", c.id, MaxChunks)
		}
		c.chunks[h] = bytes.Clone(a.Chunk)
		c.persistDirty = true
	}
	return candidReply(chunkHash{Hash: h[:]})
}

func (r *Replica) mgmtClearChunkStore(_ context.Context, x *mgmtCall) ([]byte, bool, error) {
	var a canisterIDRecord
	if err := x.decode(&a); err != nil {
		return nil, false, err
	}
	c, err := r.target(x, a.CanisterID)
	if err != nil {
		return nil, false, err
	}
	c.chunks = nil
	c.persistDirty = true
	return emptyReply, false, nil
}

func (r *Replica) mgmtStoredChunks(_ context.Context, x *mgmtCall) ([]byte, bool, error) {
	var a canisterIDRecord
	if err := x.decode(&a); err != nil {
		return nil, false, err
	}
	c, err := r.target(x, a.CanisterID)
	if err != nil {
		return nil, false, err
	}
	hs := make([]chunkHash, 0, len(c.chunks))
	for h := range c.chunks {
		hs = append(hs, chunkHash{Hash: bytes.Clone(h[:])})
	}
	slices.SortFunc(hs, func(a, b chunkHash) int { return bytes.Compare(a.Hash, b.Hash) })
	return candidReply(hs)
}

func (r *Replica) mgmtInstallCode(ctx context.Context, x *mgmtCall) ([]byte, bool, error) {
	var a installCodeArgs
	if err := x.decode(&a); err != nil {
		return nil, false, err
	}
	c, err := r.target(x, a.CanisterID)
	if err != nil {
		return nil, false, err
	}
	if err := r.install(ctx, c, originOf(x.caller, a.SenderCanisterVersion), a.Mode, a.WasmModule, a.Arg, x.now); err != nil {
		return nil, false, err
	}
	return emptyReply, false, nil
}

func (r *Replica) mgmtInstallChunkedCode(ctx context.Context, x *mgmtCall) ([]byte, bool, error) {
	var a installChunkedCodeArgs
	if err := x.decode(&a); err != nil {
		return nil, false, err
	}
	c, err := r.target(x, a.TargetCanister)
	if err != nil {
		return nil, false, err
	}
	store := c
	if a.StoreCanister != nil && *a.StoreCanister != c.id {
		s := r.byID[*a.StoreCanister]
		if s == nil {
			return nil, false, rejectf(envelope.DestinationInvalid, errCanisterNotFound, "Store canister %s not found", *a.StoreCanister)
		}
		if !s.isController(x.caller) {
			return nil, false, rejectf(envelope.CanisterError, errCanisterInvalidController,
				"Only the controllers of the canister %s can control it (it is the store canister of install_chunked_code).\nSender's ID: %s", s.id, x.caller)
		}
		store = s
	}
	var wasm []byte
	for i, ch := range a.ChunkHashesList {
		var h [32]byte
		if len(ch.Hash) != len(h) {
			return nil, false, rejectf(envelope.CanisterReject, errInvalidManagementPayload, "Chunk hash %d is %d bytes, not 32.", i, len(ch.Hash))
		}
		copy(h[:], ch.Hash)
		data, ok := store.chunks[h]
		if !ok {
			return nil, false, rejectf(envelope.CanisterReject, errInvalidManagementPayload,
				"Chunk %s is not in the chunk store of canister %s; upload it with upload_chunk first.", hex.EncodeToString(h[:]), store.id)
		}
		wasm = append(wasm, data...)
	}
	if got := sha256.Sum256(wasm); !bytes.Equal(got[:], a.WasmModuleHash) {
		return nil, false, rejectf(envelope.CanisterReject, errInvalidManagementPayload,
			"The module assembled from the chunks has hash %s, but wasm_module_hash is %s.", hex.EncodeToString(got[:]), hex.EncodeToString(a.WasmModuleHash))
	}
	if err := r.install(ctx, c, originOf(x.caller, a.SenderCanisterVersion), a.Mode, wasm, a.Arg, x.now); err != nil {
		return nil, false, err
	}
	return emptyReply, false, nil
}

func (r *Replica) mgmtUninstallCode(ctx context.Context, x *mgmtCall) ([]byte, bool, error) {
	var a uninstallCodeArgs
	if err := x.decode(&a); err != nil {
		return nil, false, err
	}
	c, err := r.target(x, a.CanisterID)
	if err != nil {
		return nil, false, err
	}
	r.uninstall(ctx, c)
	c.recordChange(x.now, originOf(x.caller, a.SenderCanisterVersion), changeDetails{CodeUninstall: &candidNull})
	return emptyReply, false, nil
}

// uninstall empties c: code, memory, certified data and timer go, as do the call contexts it
// has open (their callers get a reject when the answers arrive).
func (r *Replica) uninstall(ctx context.Context, c *canister) {
	if c.inst != nil {
		if err := c.inst.Close(ctx); err != nil {
			r.log.Warn("closing a canister instance", "canister", c.label(), "err", err)
		}
	}
	c.inst, c.info, c.module, c.wasmSize = nil, nil, nil, 0
	if len(c.certifiedData) > 0 {
		c.certDirty = true
	}
	c.certifiedData, c.timer, c.fullNext = nil, 0, true
	c.clearLogs()
	r.bump(c)
}

func (r *Replica) mgmtStart(_ context.Context, x *mgmtCall) ([]byte, bool, error) {
	var a canisterIDRecord
	if err := x.decode(&a); err != nil {
		return nil, false, err
	}
	c, err := r.target(x, a.CanisterID)
	if err != nil {
		return nil, false, err
	}
	if c.status != wasmhost.StatusRunning {
		for _, s := range c.stoppers {
			s.held = false
			r.answer(s, outcome{rejectCode: envelope.CanisterError, errorCode: "IC0511",
				rejectMsg: fmt.Sprintf("Canister %s was started before it stopped.", c.id)})
			r.maybeClose(s)
		}
		c.stoppers = nil
		c.status = wasmhost.StatusRunning
		r.bump(c)
	}
	return emptyReply, false, nil
}

func (r *Replica) mgmtStop(_ context.Context, x *mgmtCall) ([]byte, bool, error) {
	var a canisterIDRecord
	if err := x.decode(&a); err != nil {
		return nil, false, err
	}
	c, err := r.target(x, a.CanisterID)
	if err != nil {
		return nil, false, err
	}
	switch {
	case c.status == wasmhost.StatusStopped:
		return emptyReply, false, nil
	case c.open == 0:
		c.status = wasmhost.StatusStopped
		r.bump(c)
		return emptyReply, false, nil
	}
	// Calls are open: it stops once they are closed, and then this call is answered.
	if c.status == wasmhost.StatusRunning {
		c.status = wasmhost.StatusStopping
		r.bump(c)
	}
	c.stoppers = append(c.stoppers, x.cc)
	return nil, true, nil
}

func (r *Replica) mgmtStatus(_ context.Context, x *mgmtCall) ([]byte, bool, error) {
	var a canisterIDRecord
	if err := x.decode(&a); err != nil {
		return nil, false, err
	}
	c, err := r.target(x, a.CanisterID)
	if err != nil {
		return nil, false, err
	}
	return candidReply(r.statusOf(c))
}

// statusOf is the canister_status of c.
func (r *Replica) statusOf(c *canister) canisterStatusResult {
	var st runStatus
	switch c.status {
	case wasmhost.StatusStopping:
		st.Stopping = &candidNull
	case wasmhost.StatusStopped:
		st.Stopped = &candidNull
	default:
		st.Running = &candidNull
	}
	s := c.settings
	res := canisterStatusResult{
		Status:  st,
		Version: c.version,
		Settings: definiteSettings{
			Controllers:          slices.Clone(c.controllers),
			ComputeAllocation:    candid.NatOf(s.computeAllocation),
			MemoryAllocation:     candid.NatOf(s.memoryAllocation),
			FreezingThreshold:    candid.NatOf(s.freezingThreshold),
			ReservedCyclesLimit:  candid.NatOf(s.reservedCyclesLimit),
			LogVisibility:        s.logVisibility,
			SnapshotVisibility:   logVisibility{Controllers: &candidNull},
			WasmMemoryLimit:      candid.NatOf(s.wasmMemoryLimit),
			WasmMemoryThreshold:  candid.NatOf(s.wasmMemoryThreshold),
			LogMemoryLimit:       candid.NatOf(4096),
			StatusVisibility:     logVisibility{Controllers: &candidNull},
			EnvironmentVariables: slices.Clone(s.environment),
		},
		Cycles: candid.NatOf(fixedCycles),
	}
	if res.Settings.EnvironmentVariables == nil {
		res.Settings.EnvironmentVariables = []environmentVariable{}
	}
	if h := c.moduleHash(); h != nil {
		hb := bytes.Clone(h)
		res.ModuleHash = &hb
	}
	var chunkBytes uint64
	for _, ch := range c.chunks {
		chunkBytes += uint64(len(ch))
	}
	stable := uint64(0)
	if c.inst != nil {
		stable = uint64(len(c.inst.Stable()))
	}
	res.MemoryMetrics = memoryMetrics{
		StableMemorySize:   candid.NatOf(stable),
		WasmBinarySize:     candid.NatOf(uint64(c.wasmSize)),
		WasmChunkStoreSize: candid.NatOf(chunkBytes),
	}
	res.MemorySize = candid.NatOf(stable + uint64(c.wasmSize) + chunkBytes)
	return res
}

func (r *Replica) mgmtDelete(ctx context.Context, x *mgmtCall) ([]byte, bool, error) {
	var a canisterIDRecord
	if err := x.decode(&a); err != nil {
		return nil, false, err
	}
	c, err := r.target(x, a.CanisterID)
	if err != nil {
		return nil, false, err
	}
	if c.status != wasmhost.StatusStopped {
		return nil, false, rejectf(envelope.CanisterError, errCanisterNotStopped,
			"Canister %s must be stopped before it is deleted; call stop_canister first.", c.id)
	}
	r.uninstall(ctx, c)
	delete(r.byID, c.id)
	if c.name != "" {
		delete(r.byName, c.name)
	}
	r.order = slices.DeleteFunc(r.order, func(o *canister) bool { return o == c })
	r.canistersChanged = true
	if r.store != nil {
		r.store.metaDirty = true
	}
	r.log.Info("canister deleted", "id", c.id.String())
	return emptyReply, false, nil
}

func (r *Replica) mgmtDepositCycles(_ context.Context, x *mgmtCall) ([]byte, bool, error) {
	var a canisterIDRecord
	if err := x.decode(&a); err != nil {
		return nil, false, err
	}
	if r.byID[a.CanisterID] == nil {
		return nil, false, rejectf(envelope.DestinationInvalid, errCanisterNotFound, "Canister %s not found", a.CanisterID)
	}
	return emptyReply, false, nil
}

func (r *Replica) mgmtTopUp(_ context.Context, x *mgmtCall) ([]byte, bool, error) {
	var a topUpArgs
	if err := x.decode(&a); err != nil {
		return nil, false, err
	}
	if r.byID[a.CanisterID] == nil {
		return nil, false, rejectf(envelope.DestinationInvalid, errCanisterNotFound, "Canister %s not found", a.CanisterID)
	}
	return emptyReply, false, nil
}

// mgmtRawRand answers 32 bytes that every replica computes alike: a hash of the round's state
// signature and the caller's call count. Not secret from the replica, as on a real subnet.
func (r *Replica) mgmtRawRand(_ context.Context, x *mgmtCall) ([]byte, bool, error) {
	if x.cc.ingress != nil {
		return nil, false, rejectf(envelope.CanisterReject, errCanisterRejectedMessage, "raw_rand can only be called by canisters, not by ingress messages.")
	}
	r.randCounter++
	if r.store != nil {
		r.store.metaDirty = true
	}
	h := sha256.New()
	h.Write([]byte("icws raw_rand"))
	h.Write(r.state.signature)
	h.Write(x.caller.Bytes())
	var n [8]byte
	for i := range n {
		n[i] = byte(r.randCounter >> (8 * i))
	}
	h.Write(n[:])
	return candidReply(h.Sum(nil))
}

func (r *Replica) mgmtMetadata(_ context.Context, x *mgmtCall) ([]byte, bool, error) {
	var a canisterMetadataArgs
	if err := x.decode(&a); err != nil {
		return nil, false, err
	}
	c := r.byID[a.CanisterID]
	if c == nil {
		return nil, false, rejectf(envelope.DestinationInvalid, errCanisterNotFound, "Canister %s not found", a.CanisterID)
	}
	if c.info == nil {
		return nil, false, rejectf(envelope.DestinationInvalid, errCanisterWasmModuleNotFound, "Canister %s has no module installed.", c.id)
	}
	md, ok := c.info.Metadata[a.Name]
	if !ok || (!md.Public && !c.isController(x.caller)) {
		return nil, false, rejectf(envelope.DestinationInvalid, "IC0302", "Custom section %s not found in canister %s.", a.Name, c.id)
	}
	return candidReply(canisterMetadataResult{Value: bytes.Clone(md.Data)})
}
