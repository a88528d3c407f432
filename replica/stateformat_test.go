package replica

import (
	"encoding/hex"
	"errors"
	"testing"

	"github.com/icws/icws/ic/candid"
	"github.com/icws/icws/ic/principal"
)

// TestStateFileGolden pins the framing and the meta record's encoding: a change of either must
// come with a new stateVersion.
func TestStateFileGolden(t *testing.T) {
	b, err := encodeSnapshotFile(fileMeta, metaRecord{
		Round: 9, NextIndex: 2, Time: 1_800_000_000_000_000_000, Height: 7, RandCounter: 1,
		Canisters: []metaCanister{{ID: canisterIDAt(0), Name: "echo"}},
	})
	if err != nil {
		t.Fatal(err)
	}
	const want = "69637773737461740002010000000074d13481554449444c036c02dbb70168cbe4fdc704716d006c06e78fb0127886bfe4d403788d98f3e70478a28690c70778ec80e5e90901cef097eb0e780102070000000000000002000000000000000000b49376e2fa18010000000000000001010a80000000001000010101046563686f0900000000000000"
	if got := hex.EncodeToString(b); got != want {
		t.Errorf("meta file:\n got %s\nwant %s", got, want)
	}
	var m metaRecord
	if err := decodeSnapshotFile(b, fileMeta, &m); err != nil || m.NextIndex != 2 || m.Canisters[0].Name != "echo" || m.Canisters[0].ID != canisterIDAt(0) {
		t.Fatalf("decode: %+v %v", m, err)
	}
}

// TestSplitStateFile covers the framing's verdicts on whole, torn and damaged files.
func TestSplitStateFile(t *testing.T) {
	hdr := appendStateHeader(nil, fileJournal)
	two := appendRecord(appendRecord(hdr, []byte("one")), []byte("two"))
	for _, tc := range []struct {
		name    string
		b       []byte
		records int
		torn    bool
		err     error
	}{
		{"empty log", hdr, 0, false, nil},
		{"two records", two, 2, false, nil},
		{"cut in the last header", two[:len(two)-len("two")-3], 1, true, nil},
		{"cut in the last payload", two[:len(two)-1], 1, true, nil},
		{"last record damaged", append(two[:len(two)-1:len(two)-1], 'X'), 1, true, nil},
		{"first record damaged", append(append(hdr[:len(hdr):len(hdr)], two[len(hdr):len(hdr)+8]...), append([]byte("onX"), two[len(hdr)+11:]...)...), 0, false, ErrStateCorrupt},
		{"no header", []byte("icws"), 0, false, ErrStateCorrupt},
		{"other magic", append([]byte("icwsSTAT"), hdr[8:]...), 0, false, ErrStateCorrupt},
		{"version 1", append(append([]byte(stateMagic), 0, 1), hdr[10:]...), 0, false, nil},
		{"version 3", append(append([]byte(stateMagic), 0, 3), hdr[10:]...), 0, false, ErrStateVersion},
		{"version 0", append(append([]byte(stateMagic), 0, 0), hdr[10:]...), 0, false, ErrStateVersion},
		{"other kind", appendStateHeader(nil, fileMeta), 0, false, ErrStateCorrupt},
	} {
		t.Run(tc.name, func(t *testing.T) {
			recs, torn, err := splitStateFile(tc.b, fileJournal)
			if !errors.Is(err, tc.err) || len(recs) != tc.records || torn != tc.torn {
				t.Fatalf("got %d records, torn %v, err %v; want %d, %v, %v", len(recs), torn, err, tc.records, tc.torn, tc.err)
			}
		})
	}
}

// FuzzStateFile feeds the state files' decoders: the framing and the three record types, as
// New reads them. Nothing may panic; what decodes must encode again.
func FuzzStateFile(f *testing.F) {
	p := principal.CanisterID(rangeFirst)
	meta, _ := encodeSnapshotFile(fileMeta, metaRecord{NextIndex: 1, Canisters: []metaCanister{{ID: p, Name: "echo"}}})
	saved := []byte{1, 2, 3}
	can, _ := encodeSnapshotFile(fileCanister, canisterRecord{
		ID: p, Name: "echo", Controllers: []principal.Principal{principal.Anonymous()}, Status: 1,
		Settings: saveSettings(defaultSettings()), CertifiedData: []byte("x"), Code: codeNative,
		ModuleHash: make([]byte, 32), Snapshot: []byte{}, Native: &saved, Chunks: [][]byte{{1}},
	})
	rq, _ := candid.Marshal(journalEntry{Round: 2, Canisters: []canisterRecord{{ID: p, Code: codeWasm, Delta: []byte("d"), Controllers: []principal.Principal{}, Settings: saveSettings(defaultSettings()), Chunks: [][]byte{}}},
		Requests: []requestRecord{{ID: make([]byte, 32), Sender: principal.Anonymous(), ECID: p, Canister: p, Replied: true, Reply: []byte("DIDL\x00\x00")}}})
	reqs := appendRecord(appendStateHeader(nil, fileJournal), rq)
	for _, s := range [][]byte{meta, can, reqs, reqs[:len(reqs)-1], appendStateHeader(nil, fileJournal)} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		var m metaRecord
		if decodeSnapshotFile(b, fileMeta, &m) == nil {
			if _, err := encodeSnapshotFile(fileMeta, m); err != nil {
				t.Fatalf("decoded meta does not encode: %v", err)
			}
		}
		var c canisterRecord
		if decodeSnapshotFile(b, fileCanister, &c) == nil {
			_, _ = statusFromSaved(c.Status)
			_ = c.Settings.settings()
			if _, err := encodeSnapshotFile(fileCanister, c); err != nil {
				t.Fatalf("decoded canister does not encode: %v", err)
			}
		}
		recs, _, err := splitStateFile(b, fileJournal)
		if err != nil {
			return
		}
		for _, p := range recs {
			var e journalEntry
			if decodeRecord(p, &e) == nil {
				if _, err := candid.Marshal(e); err != nil {
					t.Fatalf("decoded journal entry does not encode: %v", err)
				}
			}
		}
	})
}

// canisterRecordV1 is the canister record of state format version 1, before the canister
// history and log.
type canisterRecordV1 struct {
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
	ModuleHash    []byte                `candid:"module_hash"`
	WasmSize      uint64                `candid:"wasm_size"`
	Snapshot      []byte                `candid:"snapshot"`
	Delta         []byte                `candid:"delta"`
	Native        *[]byte               `candid:"native"`
	Chunks        [][]byte              `candid:"chunks"`
}

// TestStateVersion1 reads a canister file of format version 1: it loads with an empty history
// and log; a version 3 file is refused with ErrStateVersion.
func TestStateVersion1(t *testing.T) {
	old := canisterRecordV1{
		Round: 4, ID: canisterIDAt(3), Controllers: []principal.Principal{principal.Anonymous()}, Version: 2,
		Settings: saveSettings(defaultSettings()), CertifiedData: []byte{}, ModuleHash: []byte{}, Snapshot: []byte{}, Delta: []byte{},
		Chunks: [][]byte{}, Code: codeNone,
	}
	old.Settings.Environment = []environmentVariable{}
	p, err := candid.Marshal(old)
	if err != nil {
		t.Fatal(err)
	}
	file := func(version byte) []byte {
		b := appendStateHeader(nil, fileCanister)
		b[len(stateMagic)+1] = version
		return appendRecord(b, p)
	}
	var rec canisterRecord
	if err := decodeSnapshotFile(file(1), fileCanister, &rec); err != nil {
		t.Fatalf("version 1 file: %v", err)
	}
	if rec.ID != old.ID || rec.Version != 2 || rec.History != nil || rec.Logs != nil || rec.TotalChanges != nil {
		t.Fatalf("version 1 record decoded as %+v", rec)
	}
	c := &canister{}
	if err := restoreHistory(c, &rec); err != nil || len(c.history) != 0 || c.totalChanges != 0 || len(c.logs) != 0 {
		t.Fatalf("restoreHistory of a version 1 record: %v, %+v", err, c)
	}
	if err := decodeSnapshotFile(file(stateVersion+1), fileCanister, &rec); !errors.Is(err, ErrStateVersion) {
		t.Fatalf("version %d file: %v, want ErrStateVersion", stateVersion+1, err)
	}
}
