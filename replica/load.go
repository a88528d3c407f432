package replica

import (
	"bytes"
	"cmp"
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"

	"github.com/icws/icws/ic/envelope"
	"github.com/icws/icws/ic/principal"
	"github.com/icws/icws/ic/requestid"
	"github.com/icws/icws/replica/wasmhost"
)

// load rebuilds the replica from the saved state, then reconciles it with specs (Config.Canisters):
// a saved canister of a spec keeps its id and state (a Wasm spec with another module upgrades it,
// as install_code mode upgrade would); a spec with no saved canister is installed fresh. now is
// the time of the first round.
func (r *Replica) load(ctx context.Context, specs []CanisterSpec, now uint64) error {
	s := r.store
	var meta metaRecord
	b, err := os.ReadFile(filepath.Join(s.dir, metaFile))
	if err == nil {
		err = decodeSnapshotFile(b, fileMeta, &meta)
	}
	if err != nil {
		return s.stateError(metaFile, err)
	}
	entries, err := r.readJournal()
	if err != nil {
		return err
	}
	// The table is the newest meta record; each canister's records after its file, in order.
	later := make(map[principal.Principal][]*canisterRecord)
	for _, e := range entries {
		if e.Meta != nil && e.Meta.Round > meta.Round {
			meta = *e.Meta
		}
		for k := range e.Canisters {
			later[e.Canisters[k].ID] = append(later[e.Canisters[k].ID], &e.Canisters[k])
		}
		s.round = max(s.round, e.Round)
	}
	s.round = max(s.round, meta.Round)
	if meta.NextIndex > uint64(MaxCanisters) {
		return s.stateError(metaFile, fmt.Errorf("%w: next canister index %d is out of range", ErrStateCorrupt, meta.NextIndex))
	}
	r.nextIndex = int(meta.NextIndex)
	r.state.time = max(r.state.time, meta.Time)
	r.state.height = meta.Height
	r.randCounter = meta.RandCounter

	saved := make(map[*canister]*canisterRecord) // native canisters waiting for their spec
	for _, mc := range meta.Canisters {
		id := mc.ID.String()
		rec, err := r.canisterState(mc, later[mc.ID])
		if err != nil {
			return s.stateError(filepath.Join(canistersSubdir, id+".state"), err)
		}
		c, err := r.loadCanister(ctx, rec)
		if err != nil {
			return s.stateError(filepath.Join(canistersSubdir, id+".state"), err)
		}
		if r.byID[c.id] != nil || (c.name != "" && r.byName[c.name] != nil) {
			return s.stateError(metaFile, fmt.Errorf("%w: canister %s or its name %q is listed twice", ErrStateCorrupt, id, c.name))
		}
		if rec.Code == codeNative {
			saved[c] = rec
		}
		r.addCanister(c)
		c.sinceCheckpoint = true // New's checkpoint folds the journal into the files
		if c.name != "" {
			r.byName[c.name] = c
		}
	}
	for i, spec := range specs {
		c := r.byName[spec.Name]
		if c == nil {
			if err := r.installSpec(ctx, i, spec, now, r.freeID()); err != nil {
				return err
			}
			r.log.Info("canister not in the saved state: installed fresh", "name", spec.Name, "id", r.byName[spec.Name].id.String())
			continue
		}
		rec, wasNative := saved[c]
		delete(saved, c)
		switch {
		case spec.New != nil && wasNative:
			if err := r.restoreNative(ctx, c, spec, rec, now); err != nil {
				return err
			}
		case spec.Wasm != nil && !wasNative && c.inst != nil:
			h := sha256.Sum256(spec.Wasm)
			if h == c.info.Hash {
				continue
			}
			arg := spec.Arg
			if arg == nil {
				arg = emptyReply
			}
			var keep *upgradeOption
			if _, eop := c.info.Metadata[eopSection]; eop {
				keep = &upgradeOption{WasmMemoryPersistence: &memoryPersistence{Keep: &candidNull}}
			}
			if err := r.install(ctx, c, originOf(principal.Anonymous(), nil), installMode{Upgrade: &keep}, spec.Wasm, arg, now); err != nil {
				return fmt.Errorf("replica: canister %q (%s) has a new module, and upgrading the saved canister to it failed: %w (remove %s to install it fresh)", spec.Name, c.id, err, s.dir)
			}
			r.log.Info("canister upgraded from its saved state to the new module", "name", spec.Name, "id", c.id.String())
		case spec.Wasm != nil && wasNative:
			// A native canister's saved state cannot enter a Wasm module (the flag --native went).
			r.log.Warn("the canister was saved as native Go and is configured as Wasm: installed fresh with the same id, its saved state is not carried over",
				"name", spec.Name, "id", c.id.String())
			c.certifiedData, c.timer, c.certDirty = nil, 0, true
			arg := spec.Arg
			if arg == nil {
				arg = emptyReply
			}
			if err := r.install(ctx, c, originOf(principal.Anonymous(), nil), installMode{Install: &candidNull}, spec.Wasm, arg, now); err != nil {
				return fmt.Errorf("replica: install canister %q (%s): %w", spec.Name, c.id, err)
			}
		default:
			kind := "Wasm"
			if spec.New != nil {
				kind = "native Go"
			}
			r.log.Warn("the saved canister is kept as it was: it was saved as another kind of code than the configured one, or uninstalled (remove the state dir to install the configured code)",
				"name", spec.Name, "id", c.id.String(), "configured", kind, "saved_empty", c.inst == nil)
		}
	}
	for c := range saved {
		r.log.Warn("a saved native canister has no constructor in this configuration: it is kept empty", "name", c.name, "id", c.id.String())
		c.certifiedData, c.timer, c.persistDirty = nil, 0, true
	}

	r.loadRequests(entries, now)
	return nil
}

// readJournal reads the journal's entries. A torn last entry (a crash while appending it) is
// dropped: its round was not answered to anyone.
func (r *Replica) readJournal() ([]journalEntry, error) {
	s := r.store
	path := filepath.Join(s.dir, journalFile)
	b, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, s.stateError(journalFile, err)
	}
	recs, torn, err := splitStateFile(b, fileJournal)
	if err != nil {
		return nil, s.stateError(journalFile, err)
	}
	if torn {
		r.log.Warn("the journal ends in a torn entry (a crash while writing it): that entry is dropped; its round was not answered to anyone", "file", path)
	}
	entries := make([]journalEntry, len(recs))
	for i, p := range recs {
		if err := decodeRecord(p, &entries[i]); err != nil {
			return nil, s.stateError(journalFile, fmt.Errorf("entry %d: %w", i, err))
		}
		if i > 0 && entries[i].Round <= entries[i-1].Round {
			return nil, s.stateError(journalFile, fmt.Errorf("%w: entry %d is of round %d, after round %d", ErrStateCorrupt, i, entries[i].Round, entries[i-1].Round))
		}
	}
	return entries, nil
}

// canisterState is the record of the canister mc as of the last round: its file's, then the
// journal's records of later rounds (a whole record replaces it, a Wasm delta is applied to it).
func (r *Replica) canisterState(mc metaCanister, later []*canisterRecord) (*canisterRecord, error) {
	var base *canisterRecord
	b, err := os.ReadFile(r.store.canisterPath(mc.ID.String()))
	switch {
	case err == nil:
		base = new(canisterRecord)
		if err := decodeSnapshotFile(b, fileCanister, base); err != nil {
			return nil, err
		}
	case !errors.Is(err, fs.ErrNotExist):
		return nil, fmt.Errorf("%w: %w", ErrStateCorrupt, err)
	}
	var deltas [][]byte
	for _, rec := range later {
		if base != nil && rec.Round <= base.Round {
			continue // the file is newer: a crash in a checkpoint
		}
		if len(rec.Delta) == 0 {
			base, deltas = rec, nil
			continue
		}
		if base == nil || base.Code != codeWasm || rec.Code != codeWasm || !bytes.Equal(base.ModuleHash, rec.ModuleHash) {
			return nil, fmt.Errorf("%w: a journal delta of canister %s without the whole record it applies to", ErrStateCorrupt, mc.ID)
		}
		deltas = append(deltas, rec.Delta)
		snap := base.Snapshot
		base = rec
		base.Snapshot = snap
	}
	if base == nil {
		return nil, fmt.Errorf("%w: no file and no whole journal record of canister %s", ErrStateCorrupt, mc.ID)
	}
	if len(deltas) > 0 {
		if base.Snapshot, err = wasmhost.ApplyDeltas(base.Snapshot, deltas...); err != nil {
			return nil, fmt.Errorf("%w: %w", ErrStateCorrupt, err)
		}
		base.Delta = nil
	}
	if base.ID != mc.ID || base.Name != mc.Name {
		return nil, fmt.Errorf("%w: the record is of canister %s (%q), the table says %s (%q)", ErrStateCorrupt, base.ID, base.Name, mc.ID, mc.Name)
	}
	return base, nil
}

// freeID returns the next free canister id of the allocator (and advances it).
func (r *Replica) freeID() principal.Principal {
	for r.byID[canisterIDAt(r.nextIndex)] != nil {
		r.nextIndex++
	}
	id := canisterIDAt(r.nextIndex)
	r.nextIndex++
	r.store.metaDirty = true
	return id
}

// loadCanister rebuilds a canister from its record; a native canister's code is left to
// restoreNative.
func (r *Replica) loadCanister(ctx context.Context, rec *canisterRecord) (*canister, error) {
	if _, ok := rec.ID.CanisterIndex(); !ok {
		return nil, fmt.Errorf("%w: canister id %s", ErrStateCorrupt, rec.ID)
	}
	status, err := statusFromSaved(rec.Status)
	if err != nil {
		return nil, err
	}
	if len(rec.CertifiedData) > MaxCertifiedDataSize || len(rec.Controllers) > MaxControllers || len(rec.Chunks) > MaxChunks {
		return nil, fmt.Errorf("%w: certified data, controllers or chunks above the limits", ErrStateCorrupt)
	}
	c := &canister{
		name:          rec.Name,
		id:            rec.ID,
		log:           r.log,
		controllers:   rec.Controllers,
		status:        status,
		version:       rec.Version,
		settings:      rec.Settings.settings(),
		certifiedData: rec.CertifiedData,
		timer:         rec.Timer,
	}
	if len(c.certifiedData) == 0 {
		c.certifiedData = nil
	}
	if err := restoreHistory(c, rec); err != nil {
		return nil, err
	}
	if status != wasmhost.Status(rec.Status) {
		c.persistDirty = true // a stopping canister was saved as stopped
	}
	for _, ch := range rec.Chunks {
		if c.chunks == nil {
			c.chunks = make(map[[32]byte][]byte)
		}
		c.chunks[sha256.Sum256(ch)] = ch
	}
	switch rec.Code {
	case codeNone, codeNative:
	case codeWasm:
		if err := r.restoreWasm(ctx, c, rec); err != nil {
			return nil, err
		}
	default:
		return nil, fmt.Errorf("%w: code kind %d", ErrStateCorrupt, rec.Code)
	}
	return c, nil
}

// restoreWasm compiles the saved module of rec and restores its instance from the snapshot.
func (r *Replica) restoreWasm(ctx context.Context, c *canister, rec *canisterRecord) error {
	wasm, err := r.store.readModule(rec.ModuleHash)
	if err != nil {
		return err
	}
	host, err := r.wasmHost(ctx)
	if err != nil {
		return err
	}
	mod, err := host.Compile(ctx, wasm)
	if err != nil {
		return fmt.Errorf("compile the saved module: %w", err)
	}
	info := mod.Info()
	if !bytes.Equal(info.Hash[:], rec.ModuleHash) {
		return fmt.Errorf("%w: the module has hash %x, the canister file says %x", ErrStateCorrupt, info.Hash, rec.ModuleHash)
	}
	inst, err := mod.Instantiate(ctx, nil)
	if err != nil {
		return fmt.Errorf("instantiate the saved module: %w", err)
	}
	if err := inst.Restore(rec.Snapshot); err != nil {
		_ = inst.Close(ctx)
		return fmt.Errorf("%w: %w", ErrStateCorrupt, err)
	}
	c.inst, c.info, c.module, c.wasmSize = inst, info, mod, len(wasm)
	return nil
}

// restoreNative makes the native canister of spec and gives it its saved state through its
// PostUpgrade, as an upgrade would. A canister that saved nothing (it has no PreUpgrade), has no
// PostUpgrade, or traps in it is installed fresh instead, and the log says so.
func (r *Replica) restoreNative(ctx context.Context, c *canister, spec CanisterSpec, rec *canisterRecord, now uint64) error {
	code := spec.New()
	if code == nil {
		return fmt.Errorf("replica: the constructor of canister %q returned nil", spec.Name)
	}
	n := newNative(spec.Name, code, r.log)
	c.inst, c.info = n, n.info
	if rec.Native != nil && code.PostUpgrade != nil {
		m := c.message(wasmhost.EntryPostUpgrade, principal.Anonymous(), "", emptyReply, now)
		res := n.postUpgrade(m, *rec.Native)
		if res.TrapKind == wasmhost.TrapNone {
			c.apply(res)
			r.log.Info("native canister restored from its saved state", "name", c.name, "id", c.id.String(), "bytes", len(*rec.Native))
			return nil
		}
		r.log.Error("native canister trapped restoring its saved state: installed fresh, its state is lost", "name", c.name, "id", c.id.String(), "trap", res.Trap)
		code = spec.New()
		n = newNative(spec.Name, code, r.log)
		c.inst, c.info = n, n.info
	} else {
		r.log.Warn("native canister cannot keep its state across a restart (no PreUpgrade/PostUpgrade): installed fresh", "name", c.name, "id", c.id.String())
	}
	c.certifiedData, c.timer, c.certDirty, c.persistDirty = nil, 0, true, true
	if n.info.HasInit {
		arg := spec.Arg
		if arg == nil {
			arg = emptyReply
		}
		if res := c.exec(ctx, c.message(wasmhost.EntryInit, principal.Anonymous(), "", arg, now)); res.TrapKind != wasmhost.TrapNone {
			return fmt.Errorf("replica: install: canister %s (%s) trapped in canister_init: %s", c.name, c.id, res.Trap)
		}
	}
	return nil
}

// loadRequests certifies again the statuses of the journal's answered calls not yet pruned, and
// keeps their request ids known (a resubmitted call is not executed twice).
func (r *Replica) loadRequests(entries []journalEntry, now uint64) {
	for _, e := range entries {
		r.state.time = max(r.state.time, e.Time)
		for _, rec := range e.Requests {
			if rec.PruneAt < now || len(rec.ID) != requestid.Size {
				continue
			}
			m := &ingress{
				sender:   rec.Sender,
				ecid:     rec.ECID,
				canister: rec.Canister,
				done:     make(chan struct{}),
				answered: true,
				pruneAt:  rec.PruneAt,
				result: &outcome{
					replied:    rec.Replied,
					reply:      rec.Reply,
					rejectCode: envelope.RejectCode(rec.RejectCode),
					errorCode:  rec.ErrorCode,
					rejectMsg:  rec.RejectMsg,
				},
				answeredAt: rec.Time,
			}
			copy(m.id[:], rec.ID)
			close(m.done)
			status := statusReplied
			if !rec.Replied {
				status = statusRejected
			}
			if prev := r.known[m.id]; prev != nil {
				r.completed = slices.DeleteFunc(r.completed, func(x *ingress) bool { return x == prev })
			}
			r.state.statuses.put(newStatusEntry(m.id, statusForest(status, m.result)))
			r.known[m.id] = m
			r.completed = append(r.completed, m)
		}
	}
	slices.SortStableFunc(r.completed, func(a, b *ingress) int { return cmp.Compare(a.pruneAt, b.pruneAt) })
}
