package replica

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/icws/icws/ic/candid"
	"github.com/icws/icws/ic/principal"
	"github.com/icws/icws/replica/wasmhost"
)

// Layout of the state under Config.StateDir (besides the keys, see keys.go):
//
//	state/replica.state          the checkpoint's meta file: id allocator, time, canister table
//	state/canisters/<id>.state   the checkpoint's file of each canister
//	state/modules/<hash>.wasm    the Wasm modules installed, by module hash, written once
//	state/journal.log            one entry per round since the checkpoint: what it changed
//
// Every round that changed something appends one entry to the journal and fsyncs it (one fsync
// a round); a Wasm canister's entry holds the 4 KiB pages its messages changed. When the
// journal outgrows journalLimit, the round rewrites the files of the canisters that changed
// since the checkpoint and starts a new journal.
const (
	stateSubdir     = "state"
	metaFile        = "replica.state"
	canistersSubdir = "canisters"
	modulesSubdir   = "modules"
	journalFile     = "journal.log"
	// journalLimit is the journal size that makes a round write a checkpoint.
	journalLimit = 64 << 20
)

// store writes the replica's state to disk. It is used by rounds only (and by New before the
// round loop starts).
type store struct {
	dir string // <StateDir>/state

	journal      *os.File // journal.log, open for appending; nil until the first checkpoint
	journalSize  int64
	journalLimit int64  // journalLimit, or less in tests
	round        uint64 // the number of the last round written

	metaDirty bool                // the table or the allocator changed since the last entry
	stats     persistStats        // counters, for the benchmark and logs
	synced    map[string]struct{} // directories to fsync
}

// persistStats counts what persisting cost.
type persistStats struct {
	rounds      int           // rounds that wrote an entry
	bytes       int64         // bytes written (entries, checkpoints, modules)
	checkpoints int           // checkpoints written
	time        time.Duration // time spent encoding and writing
}

func (s *store) canisterPath(id string) string {
	return filepath.Join(s.dir, canistersSubdir, id+".state")
}

func (s *store) modulePath(hash []byte) string {
	return filepath.Join(s.dir, modulesSubdir, hex.EncodeToString(hash)+".wasm")
}

// openStore makes the state directory's layout. exists reports whether a saved state is there.
func openStore(stateDir string) (s *store, exists bool, err error) {
	s = &store{dir: filepath.Join(stateDir, stateSubdir), synced: make(map[string]struct{}), journalLimit: journalLimit}
	for _, d := range []string{s.dir, filepath.Join(s.dir, canistersSubdir), filepath.Join(s.dir, modulesSubdir)} {
		if err := os.MkdirAll(d, 0o700); err != nil {
			return nil, false, fmt.Errorf("replica: state dir: %w", err)
		}
	}
	_, err = os.Stat(filepath.Join(s.dir, metaFile))
	switch {
	case err == nil:
		return s, true, nil
	case errors.Is(err, fs.ErrNotExist):
		return s, false, nil
	}
	return nil, false, fmt.Errorf("replica: state dir: %w", err)
}

// stateError wraps an error reading the saved state with what to do about it.
func (s *store) stateError(file string, err error) error {
	return fmt.Errorf("replica: cannot load the saved state: %s: %w; the state directory was written by another icws version or is damaged: move %s away to start with no saved canisters (the keys stay), or use another --state-dir",
		file, err, s.dir)
}

// write replaces path with data atomically (temporary file, fsync, rename); the directory is
// fsynced by syncDirs.
func (s *store) write(path string, data []byte) error {
	if err := writeFileAtomic(path, data, 0o600); err != nil {
		return err
	}
	s.synced[filepath.Dir(path)] = struct{}{}
	s.stats.bytes += int64(len(data))
	return nil
}

// syncDirs fsyncs the directories whose entries changed, so that the renames are durable.
func (s *store) syncDirs() error {
	var errs []error
	for d := range s.synced {
		f, err := os.Open(d)
		if err == nil {
			err = f.Sync()
			f.Close()
		}
		if err != nil {
			errs = append(errs, fmt.Errorf("replica: sync %s: %w", d, err))
		}
		delete(s.synced, d)
	}
	return errors.Join(errs...)
}

// close closes the journal.
func (s *store) close() {
	if s.journal != nil {
		_ = s.journal.Close()
		s.journal = nil
	}
}

// persist writes what this round changed as one journal entry: the records of the canisters that
// changed (and the files of modules they installed), the table if it changed, the calls answered.
// It runs in the round with the state lock held, before certification, so that nothing a client
// can read is lost by a crash. A failure is logged and the changes are written again next round.
func (r *Replica) persist(ctx context.Context, now uint64) {
	s := r.store
	start := time.Now()
	if err := r.appendEntry(ctx, now); err != nil {
		r.log.Error("replica: saving the state failed; a crash now loses this round's changes (retrying next round)", "err", err, "dir", s.dir)
		return
	}
	if s.journalSize > s.journalLimit {
		if err := r.checkpoint(ctx, now); err != nil {
			r.log.Error("replica: writing a checkpoint failed; the journal goes on growing (retrying next round)", "err", err, "dir", s.dir)
		}
	}
	s.stats.time += time.Since(start)
}

// appendEntry appends the round's journal entry, if it changed anything.
func (r *Replica) appendEntry(ctx context.Context, now uint64) error {
	s := r.store
	if s.journal == nil {
		return r.checkpoint(ctx, now) // a failed checkpoint left no journal
	}
	e := journalEntry{Round: s.round + 1, Time: now, Canisters: []canisterRecord{}, Requests: []requestRecord{}}
	var written []*canister
	var err error
	for _, c := range r.order {
		if !c.persistDirty {
			continue
		}
		rec, rerr := r.canisterRecord(ctx, c, e.Round, c.fullNext)
		if rerr != nil {
			err = errors.Join(err, rerr)
			continue
		}
		e.Canisters = append(e.Canisters, rec)
		written = append(written, c)
	}
	if s.metaDirty {
		m := r.metaRecord(e.Round, now)
		e.Meta = &m
	}
	for _, m := range r.finished {
		if m.result != nil {
			e.Requests = append(e.Requests, requestRecordOf(m))
		}
	}
	if len(e.Canisters) == 0 && e.Meta == nil && len(e.Requests) == 0 {
		return err
	}
	p, merr := candid.Marshal(e)
	if merr == nil && len(p) > maxRecord {
		merr = fmt.Errorf("a journal entry of %d bytes, at most %d", len(p), maxRecord)
	}
	if merr == nil {
		merr = s.appendJournal(appendRecord(nil, p))
	}
	if merr != nil {
		// The deltas taken are lost: the canisters' next records are whole.
		for _, c := range written {
			c.fullNext = true
		}
		return errors.Join(err, fmt.Errorf("replica: journal entry: %w", merr))
	}
	s.round = e.Round
	s.stats.rounds++
	for _, c := range written {
		c.persistDirty, c.fullNext, c.sinceCheckpoint = false, false, true
	}
	if e.Meta != nil {
		s.metaDirty = false
	}
	return err
}

// appendJournal appends b to the journal and fsyncs it.
func (s *store) appendJournal(b []byte) error {
	if _, err := s.journal.Write(b); err != nil {
		s.close() // it may end in a partial record now: the next round writes a checkpoint
		return err
	}
	if err := s.journal.Sync(); err != nil {
		s.close()
		return err
	}
	s.journalSize += int64(len(b))
	s.stats.bytes += int64(len(b))
	return nil
}

// checkpoint writes the files of the canisters that changed since the last checkpoint and the
// meta file, then replaces the journal by one that holds only the statuses still kept. A crash
// in between loses nothing: the old journal's entries that a new file already covers are skipped
// at load (records carry their round).
func (r *Replica) checkpoint(ctx context.Context, now uint64) error {
	s := r.store
	round := s.round
	for _, c := range r.order {
		if !c.sinceCheckpoint && !c.persistDirty && !c.fullNext {
			if _, err := os.Stat(s.canisterPath(c.id.String())); err == nil {
				continue
			}
		}
		rec, err := r.canisterRecord(ctx, c, round, true)
		if err != nil {
			return err
		}
		b, err := encodeSnapshotFile(fileCanister, rec)
		if err != nil {
			c.fullNext = true
			return err
		}
		if err := s.write(s.canisterPath(c.id.String()), b); err != nil {
			c.fullNext = true
			return err
		}
	}
	mb, err := encodeSnapshotFile(fileMeta, r.metaRecord(round, now))
	if err != nil {
		return err
	}
	if err := s.write(filepath.Join(s.dir, metaFile), mb); err != nil {
		return err
	}
	first := journalEntry{Round: round, Time: now, Canisters: []canisterRecord{}, Requests: []requestRecord{}}
	for _, m := range r.completed {
		if m.pruneAt >= now && m.result != nil {
			first.Requests = append(first.Requests, requestRecordOf(m))
		}
	}
	p, err := candid.Marshal(first)
	if err != nil {
		return fmt.Errorf("replica: encode journal: %w", err)
	}
	jb := appendRecord(appendStateHeader(nil, fileJournal), p)
	path := filepath.Join(s.dir, journalFile)
	s.close()
	if err := s.write(path, jb); err != nil {
		return err
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND, 0)
	if err != nil {
		return fmt.Errorf("replica: open %s: %w", path, err)
	}
	s.journal, s.journalSize = f, int64(len(jb))
	if err := s.syncDirs(); err != nil {
		return err
	}
	for _, c := range r.order {
		c.persistDirty, c.fullNext, c.sinceCheckpoint = false, false, false
	}
	s.metaDirty = false
	s.stats.checkpoints++
	r.removeUnused()
	return nil
}

// metaRecord is the meta record of the current table as of round.
func (r *Replica) metaRecord(round, now uint64) metaRecord {
	m := metaRecord{
		Round:       round,
		NextIndex:   uint64(r.nextIndex),
		Time:        now,
		Height:      r.state.height,
		RandCounter: r.randCounter,
		Canisters:   make([]metaCanister, len(r.order)),
	}
	for i, c := range r.order {
		m.Canisters[i] = metaCanister{ID: c.id, Name: c.name}
	}
	return m
}

// canisterRecord returns the record of c as of round: whole, or with a Wasm instance's Delta
// instead of its Snapshot unless full. It writes the file of a module c installed.
func (r *Replica) canisterRecord(_ context.Context, c *canister, round uint64, full bool) (canisterRecord, error) {
	s := r.store
	rec := canisterRecord{
		Round:         round,
		ID:            c.id,
		Name:          c.name,
		Controllers:   c.controllers,
		Status:        uint8(c.status),
		Version:       c.version,
		Settings:      saveSettings(c.settings),
		CertifiedData: c.certifiedData,
		Timer:         c.timer,
		WasmSize:      uint64(c.wasmSize),
		ModuleHash:    []byte{},
		Snapshot:      []byte{},
		Delta:         []byte{},
		History:       &[]canisterChange{},
		TotalChanges:  &c.totalChanges,
		Logs:          &[]logRecord{},
		NextLogIdx:    &c.nextLogIdx,
	}
	if c.history != nil {
		rec.History = &c.history
	}
	if c.logs != nil {
		rec.Logs = &c.logs
	}
	if rec.Controllers == nil {
		rec.Controllers = []principal.Principal{}
	}
	if rec.CertifiedData == nil {
		rec.CertifiedData = []byte{}
	}
	if rec.Settings.Environment == nil {
		rec.Settings.Environment = []environmentVariable{}
	}
	hashes := make([][32]byte, 0, len(c.chunks))
	for h := range c.chunks {
		hashes = append(hashes, h)
	}
	slices.SortFunc(hashes, func(a, b [32]byte) int { return bytes.Compare(a[:], b[:]) })
	rec.Chunks = make([][]byte, len(hashes))
	for i, h := range hashes {
		rec.Chunks[i] = c.chunks[h]
	}
	switch n := c.inst.(type) {
	case nil:
		rec.Code = codeNone
	case *native:
		rec.Code = codeNative
		rec.ModuleHash = c.info.Hash[:]
		saved, ok, err := n.preUpgrade(c.id, r.roundNow)
		if err != nil {
			return rec, fmt.Errorf("replica: save native canister %s: %w", c.label(), err)
		}
		if ok {
			rec.Native = &saved
		}
	default:
		rec.Code = codeWasm
		rec.ModuleHash = c.info.Hash[:]
		if c.pendingModule != nil {
			if err := s.write(s.modulePath(rec.ModuleHash), c.pendingModule); err != nil {
				return rec, err
			}
			if err := s.syncDirs(); err != nil {
				return rec, err
			}
			c.pendingModule = nil
		}
		inc, ok := c.inst.(wasmhost.Incremental)
		var err error
		switch {
		case !ok:
			rec.Snapshot, err = c.inst.Snapshot()
		case full:
			rec.Snapshot, err = inc.Checkpoint()
		default:
			rec.Delta, err = inc.Delta()
		}
		if err != nil {
			return rec, fmt.Errorf("replica: snapshot of canister %s: %w", c.label(), err)
		}
	}
	return rec, nil
}

func requestRecordOf(m *ingress) requestRecord {
	o := m.result
	rec := requestRecord{
		ID:         m.id[:],
		Sender:     m.sender,
		ECID:       m.ecid,
		Canister:   m.canister,
		PruneAt:    m.pruneAt,
		Time:       m.answeredAt,
		Replied:    o.replied,
		Reply:      o.reply,
		RejectCode: uint64(o.rejectCode),
		ErrorCode:  o.errorCode,
		RejectMsg:  o.rejectMsg,
	}
	if rec.Reply == nil {
		rec.Reply = []byte{}
	}
	return rec
}

// readModule reads a saved module file and checks it against its hash.
func (s *store) readModule(hash []byte) ([]byte, error) {
	path := s.modulePath(hash)
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("%w: module file: %w", ErrStateCorrupt, err)
	}
	if h := sha256.Sum256(b); !bytes.Equal(h[:], hash) {
		return nil, fmt.Errorf("%w: %s has hash %x", ErrStateCorrupt, path, h)
	}
	return b, nil
}

// removeUnused deletes the canister files and modules that the table no longer names (deleted
// canisters, replaced modules), after a checkpoint.
func (r *Replica) removeUnused() {
	s := r.store
	canisters, modules := make(map[string]bool), make(map[string]bool)
	for _, c := range r.order {
		canisters[c.id.String()] = true
		if c.module != nil {
			modules[hex.EncodeToString(c.info.Hash[:])] = true
		}
	}
	for _, sub := range []struct {
		dir, ext string
		keep     map[string]bool
	}{{canistersSubdir, ".state", canisters}, {modulesSubdir, ".wasm", modules}} {
		ents, _ := os.ReadDir(filepath.Join(s.dir, sub.dir))
		for _, e := range ents {
			name, ok := strings.CutSuffix(e.Name(), sub.ext)
			if ok && !sub.keep[name] {
				_ = os.Remove(filepath.Join(s.dir, sub.dir, e.Name()))
			}
		}
	}
}

// statusFromSaved is a wasmhost.Status from a saved byte, checked.
func statusFromSaved(b uint8) (wasmhost.Status, error) {
	switch st := wasmhost.Status(b); st {
	case wasmhost.StatusRunning, wasmhost.StatusStopped:
		return st, nil
	case wasmhost.StatusStopping:
		// No call context survives a restart, so a stopping canister has stopped.
		return wasmhost.StatusStopped, nil
	}
	return 0, fmt.Errorf("%w: canister status %d", ErrStateCorrupt, b)
}
