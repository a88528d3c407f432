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
//	state/replica.state          the meta file: id allocator, time, canister table order
//	state/canisters/<id>.state   one file per canister, rewritten when that canister changed
//	state/modules/<hash>.wasm    the Wasm modules installed, by module hash, written once
//	state/requests.log           the answered calls, appended to every round that answered some
const (
	stateSubdir     = "state"
	metaFile        = "replica.state"
	canistersSubdir = "canisters"
	modulesSubdir   = "modules"
	requestsFile    = "requests.log"
	// compactSlack is how many dead records the request log may hold beyond its live ones before
	// it is rewritten.
	compactSlack = 4096
)

// store writes the replica's state to disk. It is used by rounds only (and by New before the
// round loop starts).
type store struct {
	dir string // <StateDir>/state

	log      *os.File // requests.log, open for appending
	logCount int      // records in requests.log

	metaDirty bool                // the meta file must be rewritten
	deleted   []string            // canister files to remove once the meta file no longer names them
	buf       []byte              // reused for the request log's batch
	stats     persistStats        // counters, for the benchmark and logs
	synced    map[string]struct{} // directories to fsync at the end of this persist
}

// persistStats counts what persisting cost.
type persistStats struct {
	rounds        int           // rounds that wrote something
	files         int           // snapshot files written
	bytes         int64         // bytes written
	requests      int           // request records appended
	time          time.Duration // time spent writing
	nativeRestore int           // native canisters restored through PostUpgrade
}

func (s *store) canisterPath(id string) string {
	return filepath.Join(s.dir, canistersSubdir, id+".state")
}

func (s *store) modulePath(hash []byte) string {
	return filepath.Join(s.dir, modulesSubdir, hex.EncodeToString(hash)+".wasm")
}

// openStore makes the state directory's layout. exists reports whether a saved state is there.
func openStore(stateDir string) (s *store, exists bool, err error) {
	s = &store{dir: filepath.Join(stateDir, stateSubdir), synced: make(map[string]struct{})}
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
// fsynced at the end of the round.
func (s *store) write(path string, data []byte) error {
	if err := writeFileAtomic(path, data, 0o600); err != nil {
		return err
	}
	s.synced[filepath.Dir(path)] = struct{}{}
	s.stats.files++
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

// close closes the request log.
func (s *store) close() {
	if s.log != nil {
		_ = s.log.Close()
		s.log = nil
	}
}

// persist writes what this round changed: the files of the canisters that changed (and their new
// modules), the meta file if the table or the allocator changed, the calls answered. It runs in
// the round with the state lock held, before certification, so that nothing a client can read
// is lost by a crash. A failure is logged and retried next round.
func (r *Replica) persist(ctx context.Context, now uint64) {
	s := r.store
	start := time.Now()
	wrote := false
	var errs []error
	for _, c := range r.order {
		if !c.persistDirty {
			continue
		}
		if err := r.saveCanister(ctx, c); err != nil {
			errs = append(errs, err)
			continue
		}
		c.persistDirty = false
		wrote = true
	}
	if s.metaDirty {
		if err := r.saveMeta(now); err != nil {
			errs = append(errs, err)
		} else {
			s.metaDirty = false
			wrote = true
			for _, id := range s.deleted {
				if p, err := principal.Decode(id); err == nil && r.byID[p] != nil {
					continue // created again with the same id
				}
				if err := os.Remove(s.canisterPath(id)); err != nil && !errors.Is(err, fs.ErrNotExist) {
					errs = append(errs, fmt.Errorf("replica: remove the file of deleted canister %s: %w", id, err))
				}
				s.synced[filepath.Join(s.dir, canistersSubdir)] = struct{}{}
			}
			s.deleted = s.deleted[:0]
		}
	}
	if n, err := r.appendRequests(now); err != nil {
		errs = append(errs, err)
	} else if n > 0 {
		wrote = true
	}
	if err := s.syncDirs(); err != nil {
		errs = append(errs, err)
	}
	if wrote {
		s.stats.rounds++
		s.stats.time += time.Since(start)
	}
	if err := errors.Join(errs...); err != nil {
		r.log.Error("replica: saving the state failed; a crash now loses this round's changes (retrying next round)", "err", err, "dir", s.dir)
	}
}

// saveMeta writes the meta file.
func (r *Replica) saveMeta(now uint64) error {
	m := metaRecord{
		NextIndex:   uint64(r.nextIndex),
		Time:        now,
		Height:      r.state.height,
		RandCounter: r.randCounter,
		Canisters:   make([]metaCanister, len(r.order)),
	}
	for i, c := range r.order {
		m.Canisters[i] = metaCanister{ID: c.id, Name: c.name}
	}
	b, err := encodeSnapshotFile(fileMeta, m)
	if err != nil {
		return err
	}
	return r.store.write(filepath.Join(r.store.dir, metaFile), b)
}

// saveCanister writes c's file, and its module's file if it is new.
func (r *Replica) saveCanister(_ context.Context, c *canister) error {
	s := r.store
	rec := canisterRecord{
		ID:            c.id,
		Name:          c.name,
		Controllers:   c.controllers,
		Status:        uint8(c.status),
		Version:       c.version,
		Settings:      saveSettings(c.settings),
		CertifiedData: c.certifiedData,
		Timer:         c.timer,
		WasmSize:      uint64(c.wasmSize),
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
	rec.ModuleHash, rec.Snapshot = []byte{}, []byte{}
	switch n := c.inst.(type) {
	case nil:
		rec.Code = codeNone
	case *native:
		rec.Code = codeNative
		rec.ModuleHash = c.info.Hash[:]
		saved, ok, err := n.preUpgrade(c.id, r.roundNow)
		if err != nil {
			return fmt.Errorf("replica: save native canister %s: %w", c.label(), err)
		}
		if ok {
			rec.Native = &saved
		}
	default:
		rec.Code = codeWasm
		rec.ModuleHash = c.info.Hash[:]
		if c.pendingModule != nil {
			if err := s.write(s.modulePath(rec.ModuleHash), c.pendingModule); err != nil {
				return err
			}
			c.pendingModule = nil
		}
		snap, err := c.inst.Snapshot()
		if err != nil {
			return fmt.Errorf("replica: snapshot of canister %s: %w", c.label(), err)
		}
		rec.Snapshot = snap
	}
	b, err := encodeSnapshotFile(fileCanister, rec)
	if err != nil {
		return err
	}
	return s.write(s.canisterPath(c.id.String()), b)
}

// appendRequests appends the calls answered this round to the request log (and rewrites the log
// when it holds mostly pruned records). It returns the records written.
func (r *Replica) appendRequests(now uint64) (int, error) {
	s := r.store
	if len(r.finished) == 0 {
		return 0, nil
	}
	if s.logCount > 2*len(r.completed)+compactSlack {
		if err := r.compactRequests(now); err != nil {
			return 0, err
		}
		return len(r.finished), nil // the rewrite includes this round's calls
	}
	if s.log == nil {
		if err := r.compactRequests(now); err != nil {
			return 0, err
		}
		return len(r.finished), nil
	}
	b := s.buf[:0]
	for _, m := range r.finished {
		p, err := candid.Marshal(requestRecordOf(m))
		if err != nil {
			return 0, fmt.Errorf("replica: encode request record: %w", err)
		}
		b = appendRecord(b, p)
	}
	s.buf = b
	if _, err := s.log.Write(b); err != nil {
		// The file may now end in a partial batch; rewrite it whole next time.
		s.close()
		return 0, fmt.Errorf("replica: append to %s: %w", requestsFile, err)
	}
	if err := s.log.Sync(); err != nil {
		s.close()
		return 0, fmt.Errorf("replica: sync %s: %w", requestsFile, err)
	}
	s.logCount += len(r.finished)
	s.stats.requests += len(r.finished)
	s.stats.bytes += int64(len(b))
	return len(r.finished), nil
}

// compactRequests rewrites the request log with the statuses still kept (r.completed, which
// includes this round's) and opens it for appending.
func (r *Replica) compactRequests(now uint64) error {
	s := r.store
	s.close()
	b := appendStateHeader(nil, fileRequests)
	n := 0
	for _, m := range r.completed {
		if m.pruneAt < now || m.result == nil {
			continue
		}
		p, err := candid.Marshal(requestRecordOf(m))
		if err != nil {
			return fmt.Errorf("replica: encode request record: %w", err)
		}
		b = appendRecord(b, p)
		n++
	}
	path := filepath.Join(s.dir, requestsFile)
	if err := s.write(path, b); err != nil {
		return err
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND, 0)
	if err != nil {
		return fmt.Errorf("replica: open %s: %w", path, err)
	}
	s.log, s.logCount = f, n
	return nil
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

// markAllDirty makes the next persist write everything (a fresh state directory).
func (r *Replica) markAllDirty() {
	for _, c := range r.order {
		c.persistDirty = true
	}
	r.store.metaDirty = true
}

// wasmModuleOf reads a saved module file and checks it against its hash.
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

// removeUnused deletes module and canister files that the loaded state does not name (left by a
// crash between writing a canister's file and the meta file, or by deleted canisters).
func (s *store) removeUnused(canisters map[string]bool, modules map[string]bool) {
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

// statusOf is a wasmhost.Status from a saved byte, checked.
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
