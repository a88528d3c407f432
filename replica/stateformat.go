package replica

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"

	"github.com/icws/icws/ic/candid"
	"github.com/icws/icws/ic/principal"
)

// The replica's state files (under <StateDir>/state) share one framing:
//
//	header:  "icwsstat" (8 bytes) | version (uint16, big-endian) | kind (1 byte) | 0 (1 byte)
//	records: length (uint32, big-endian) | CRC-32C of the payload (uint32, big-endian) | payload
//
// A payload is one Candid value (the record types below). Snapshot files (the replica's meta
// file, one file per canister: the checkpoint) hold exactly one record and are replaced
// atomically; the journal is appended to, one record per round that changed something, so only
// its last record can be torn by a crash.
const (
	stateMagic = "icwsstat"
	// stateVersion is the format written. Version 1 (before canister history and logs) is
	// still read: its canister records lack the opt fields History, TotalChanges, Logs and
	// NextLogIdx, which then decode as none.
	stateVersion    = 2
	oldestVersion   = 1
	stateHeaderSize = len(stateMagic) + 4
	recordHeader    = 8
	// maxRecord bounds one record (its length is 32 bits): a canister whose heap and stable
	// memory together exceed 4 GiB cannot be saved.
	maxRecord = 1<<32 - 1
)

// Kinds of state file.
const (
	fileMeta     byte = 1 // replica.state: the id allocator, the time, the canister table's order
	fileCanister byte = 2 // canisters/<id>.state: one canister
	fileJournal  byte = 3 // journal.log: what each round since the checkpoint changed
)

func fileKindName(k byte) string {
	switch k {
	case fileMeta:
		return "replica meta file"
	case fileCanister:
		return "canister file"
	case fileJournal:
		return "journal"
	}
	return fmt.Sprintf("file of unknown kind %d", k)
}

// ErrStateCorrupt is a state file that cannot be read: damaged, truncated, or not a state file.
var ErrStateCorrupt = errors.New("replica: corrupt state file")

// ErrStateVersion is a state file written in a format this replica does not read.
var ErrStateVersion = errors.New("replica: state file of an unknown format version")

var crcTable = crc32.MakeTable(crc32.Castagnoli)

// appendStateHeader appends the header of a state file of the given kind.
func appendStateHeader(b []byte, kind byte) []byte {
	b = append(b, stateMagic...)
	b = binary.BigEndian.AppendUint16(b, stateVersion)
	return append(b, kind, 0)
}

// appendRecord appends one framed record holding payload.
func appendRecord(b, payload []byte) []byte {
	b = binary.BigEndian.AppendUint32(b, uint32(len(payload)))
	b = binary.BigEndian.AppendUint32(b, crc32.Checksum(payload, crcTable))
	return append(b, payload...)
}

// splitStateFile checks the header of a state file of the given kind and returns its records.
// If the file ends in a torn record (short, or a checksum mismatch in the last record), the
// records before it are returned with torn = true; a damaged record before the last one is an
// error.
func splitStateFile(b []byte, kind byte) (records [][]byte, torn bool, err error) {
	if len(b) < stateHeaderSize || string(b[:len(stateMagic)]) != stateMagic {
		return nil, false, fmt.Errorf("%w: not an icws state file (no %q header)", ErrStateCorrupt, stateMagic)
	}
	if v := binary.BigEndian.Uint16(b[len(stateMagic):]); v < oldestVersion || v > stateVersion {
		return nil, false, fmt.Errorf("%w: version %d, this replica reads versions %d to %d", ErrStateVersion, v, oldestVersion, stateVersion)
	}
	if k := b[len(stateMagic)+2]; k != kind {
		return nil, false, fmt.Errorf("%w: it is a %s, want a %s", ErrStateCorrupt, fileKindName(k), fileKindName(kind))
	}
	rest := b[stateHeaderSize:]
	for len(rest) > 0 {
		if len(rest) < recordHeader {
			return records, true, nil
		}
		n := uint64(binary.BigEndian.Uint32(rest))
		sum := binary.BigEndian.Uint32(rest[4:])
		if n > uint64(len(rest)-recordHeader) {
			return records, true, nil
		}
		payload := rest[recordHeader : recordHeader+int(n)]
		rest = rest[recordHeader+int(n):]
		if crc32.Checksum(payload, crcTable) != sum {
			if len(rest) == 0 {
				return records, true, nil
			}
			return nil, false, fmt.Errorf("%w: record %d fails its checksum", ErrStateCorrupt, len(records))
		}
		records = append(records, payload)
	}
	return records, false, nil
}

// decodeSnapshotFile returns the one record of a snapshot file (meta or canister) decoded
// into v.
func decodeSnapshotFile(b []byte, kind byte, v any) error {
	recs, torn, err := splitStateFile(b, kind)
	if err != nil {
		return err
	}
	if torn || len(recs) != 1 {
		return fmt.Errorf("%w: a %s holds one whole record, this one %d (torn: %v)", ErrStateCorrupt, fileKindName(kind), len(recs), torn)
	}
	return decodeRecord(recs[0], v)
}

// decodeRecord decodes one record's Candid payload into v.
func decodeRecord(p []byte, v any) error {
	opts := candid.DecodeOptions{Quota: 8*len(p) + 1<<16}
	if err := opts.Unmarshal(p, v); err != nil {
		return fmt.Errorf("%w: %w", ErrStateCorrupt, err)
	}
	return nil
}

// encodeSnapshotFile returns a whole snapshot file of the given kind holding v.
func encodeSnapshotFile(kind byte, v any) ([]byte, error) {
	p, err := candid.Marshal(v)
	if err != nil {
		return nil, fmt.Errorf("replica: encode %s: %w", fileKindName(kind), err)
	}
	if len(p) > maxRecord {
		return nil, fmt.Errorf("replica: encode %s: %d bytes, a state record holds at most %d", fileKindName(kind), len(p), maxRecord)
	}
	b := make([]byte, 0, stateHeaderSize+recordHeader+len(p))
	return appendRecord(appendStateHeader(b, kind), p), nil
}

// metaRecord is the content of replica.state.
type metaRecord struct {
	// Round is the number of the last round whose changes the record includes.
	Round uint64 `candid:"round"`
	// NextIndex is the index of the next canister id the allocator tries.
	NextIndex uint64 `candid:"next_index"`
	// Time is the IC time of the round that wrote the file (ns since 1970).
	Time        uint64 `candid:"time"`
	Height      uint64 `candid:"height"`
	RandCounter uint64 `candid:"rand_counter"`
	// Canisters is the canister table in creation order; each has a canister file.
	Canisters []metaCanister `candid:"canisters"`
}

type metaCanister struct {
	ID   principal.Principal `candid:"id"`
	Name string              `candid:"name"` // "" for a canister created by a call
}

// Kinds of code a canister file records.
const (
	codeNone   uint8 = 0 // empty canister
	codeWasm   uint8 = 1 // a Wasm module: Module names its file, Snapshot is the instance
	codeNative uint8 = 2 // a native Go canister of Config.Canisters: Native is its PreUpgrade's bytes
)

// canisterRecord is the content of a canister file.
type canisterRecord struct {
	// Round is the number of the round as of which the record is.
	Round         uint64                `candid:"round"`
	ID            principal.Principal   `candid:"id"`
	Name          string                `candid:"name"`
	Controllers   []principal.Principal `candid:"controllers"`
	Status        uint8                 `candid:"status"`
	Version       uint64                `candid:"version"`
	Settings      savedSettings         `candid:"settings"`
	CertifiedData []byte                `candid:"certified_data"`
	Timer         uint64                `candid:"timer"`
	Code          uint8                 `candid:"code"`
	// ModuleHash is the module hash of the installed code (Wasm: sha256 of the module as
	// installed, which names its file modules/<hex>.wasm; native: the replica's hash of the
	// canister's name).
	ModuleHash []byte `candid:"module_hash"`
	WasmSize   uint64 `candid:"wasm_size"`
	// Snapshot is the Wasm instance's heap, globals and stable memory (wasmhost Snapshot).
	Snapshot []byte `candid:"snapshot"`
	// Delta, in a journal record instead of Snapshot, is what changed of the instance since the
	// canister's previous record (wasmhost Delta).
	Delta []byte `candid:"delta"`
	// Native is what the native canister's PreUpgrade returned; none if it has no PreUpgrade.
	Native *[]byte  `candid:"native"`
	Chunks [][]byte `candid:"chunks"`
	// History is the canister history (canister_info), TotalChanges how many changes there
	// were in all; Logs and NextLogIdx the canister log (fetch_canister_logs). Since version 2.
	History      *[]canisterChange `candid:"history"`
	TotalChanges *uint64           `candid:"total_changes"`
	Logs         *[]logRecord      `candid:"logs"`
	NextLogIdx   *uint64           `candid:"next_log_idx"`
}

type savedSettings struct {
	ComputeAllocation   uint64                `candid:"compute_allocation"`
	MemoryAllocation    uint64                `candid:"memory_allocation"`
	FreezingThreshold   uint64                `candid:"freezing_threshold"`
	ReservedCyclesLimit uint64                `candid:"reserved_cycles_limit"`
	WasmMemoryLimit     uint64                `candid:"wasm_memory_limit"`
	WasmMemoryThreshold uint64                `candid:"wasm_memory_threshold"`
	LogVisibility       logVisibility         `candid:"log_visibility"`
	Environment         []environmentVariable `candid:"environment"`
}

func saveSettings(s settings) savedSettings {
	return savedSettings{
		ComputeAllocation:   s.computeAllocation,
		MemoryAllocation:    s.memoryAllocation,
		FreezingThreshold:   s.freezingThreshold,
		ReservedCyclesLimit: s.reservedCyclesLimit,
		WasmMemoryLimit:     s.wasmMemoryLimit,
		WasmMemoryThreshold: s.wasmMemoryThreshold,
		LogVisibility:       s.logVisibility,
		Environment:         s.environment,
	}
}

func (s savedSettings) settings() settings {
	return settings{
		computeAllocation:   s.ComputeAllocation,
		memoryAllocation:    s.MemoryAllocation,
		freezingThreshold:   s.FreezingThreshold,
		reservedCyclesLimit: s.ReservedCyclesLimit,
		wasmMemoryLimit:     s.WasmMemoryLimit,
		wasmMemoryThreshold: s.WasmMemoryThreshold,
		logVisibility:       s.LogVisibility,
		environment:         s.Environment,
	}
}

// journalEntry is one record of the journal: what one round changed. Canisters holds the
// records of the canisters that changed (a Wasm one usually as a Delta); Meta is set if the
// canister table or the allocator changed; Requests are the calls the round answered. The first
// entry of a journal carries the statuses still kept at the checkpoint.
type journalEntry struct {
	Round     uint64           `candid:"round"`
	Time      uint64           `candid:"time"`
	Meta      *metaRecord      `candid:"meta"`
	Canisters []canisterRecord `candid:"canisters"`
	Requests  []requestRecord  `candid:"requests"`
}

// requestRecord is an answered ingress call, in a journal entry.
type requestRecord struct {
	ID       []byte              `candid:"id"`
	Sender   principal.Principal `candid:"sender"`
	ECID     principal.Principal `candid:"ecid"`
	Canister principal.Principal `candid:"canister"`
	// PruneAt is when the status may be forgotten (IC time, ns).
	PruneAt uint64 `candid:"prune_at"`
	// Time is the IC time of the round that answered it.
	Time       uint64 `candid:"time"`
	Replied    bool   `candid:"replied"`
	Reply      []byte `candid:"reply"`
	RejectCode uint64 `candid:"reject_code"`
	ErrorCode  string `candid:"error_code"`
	RejectMsg  string `candid:"reject_message"`
}
