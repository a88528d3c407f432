package wasm

import (
	"bytes"
	"testing"
)

// funcNames reads the "name" section's function names, failing the test without them.
func funcNames(t *testing.T, m *Module) map[uint32]string {
	t.Helper()
	names, err := m.FunctionNames()
	if err != nil || len(names) == 0 {
		t.Fatalf("function names: %d, %v", len(names), err)
	}
	return names
}

// callees lists, for every body in order, the names of the functions it calls.
func callees(t *testing.T, m *Module, names map[uint32]string) []string {
	t.Helper()
	var out []string
	for _, c := range m.Codes {
		_, start, _ := SplitBody(c.Body)
		r := NewInstrReader(c.Body[start:], 0)
		for !r.Done() {
			in, err := r.Next()
			if err != nil {
				t.Fatal(err)
			}
			if in.Op == OpCall || in.Op == OpRefFunc {
				out = append(out, names[in.Index])
			}
		}
	}
	return out
}

// TestPostLinkGoModule does what a post-linker does to a Go wasip1 module: every WASI import
// becomes an internal trapping function, the export gets its IC name, data segments merge, a
// Candid section is added; the result then passes CheckIC, and every call still reaches the
// function of the same name.
func TestPostLinkGoModule(t *testing.T) {
	m, err := Decode(bytes.Clone(realModule(t, "go")))
	if err != nil {
		t.Fatal(err)
	}
	before := funcNames(t, m)
	var wasi []string
	for _, im := range m.Imports {
		if im.Module == "wasi_snapshot_preview1" {
			wasi = append(wasi, im.Name)
		}
	}
	// Callees before, with every name taken from the index before the edit.
	want := callees(t, m, before)
	for _, name := range wasi {
		idx, _ := m.ImportIndex("wasi_snapshot_preview1", name)
		fname := before[idx]
		// Track the imported function's name through the renumbering: imports have names too.
		nidx, err := m.ReplaceImport("wasi_snapshot_preview1", name, []byte{0, byte(OpUnreachable), byte(OpEnd)})
		if err != nil {
			t.Fatal(err)
		}
		if got := funcNames(t, m)[nidx]; got != fname {
			t.Fatalf("replaced %s: name at new index %d is %q, want %q", name, nidx, got, fname)
		}
		before = funcNames(t, m)
	}
	if got := callees(t, m, funcNames(t, m)); len(got) != len(want) || join(got) != join(want) {
		t.Fatalf("call targets changed by renumbering (%d calls, want %d)", len(got), len(want))
	}
	if err := m.RenameExport("canister_update__inc", "canister_update inc"); err != nil {
		t.Fatal(err)
	}
	for _, e := range m.Exports {
		if e.Name == "_initialize" {
			if err := m.RenameExport("_initialize", "canister_init"); err != nil {
				t.Fatal(err)
			}
		}
	}
	nData := len(m.Data)
	if err := m.MergeData(64); err != nil {
		t.Fatal(err)
	}
	m.SetCustomSection("icp:public candid:service", []byte("service : { inc : () -> () }"))
	out := m.Encode()
	m2, _, err := DecodeIC(out)
	if err != nil {
		t.Fatalf("post-linked module fails CheckIC: %v", err)
	}
	if d, _ := m2.CustomSection("icp:public candid:service"); string(d) == "" {
		t.Fatal("candid section lost")
	}
	t.Logf("%d WASI imports replaced; data segments %d -> %d; %d -> %d bytes", len(wasi), nData, len(m2.Data), len(realModule(t, "go")), len(out))
	if len(m2.Data) >= nData && nData > 1 {
		t.Fatalf("MergeData merged nothing")
	}
}

func TestElementsRoundTrip(t *testing.T) {
	for _, name := range []string{"moc3", "moc4", "go"} {
		m, err := Decode(bytes.Clone(realModule(t, name)))
		if err != nil {
			t.Fatal(err)
		}
		els, err := m.Elements()
		if err != nil {
			t.Fatal(err)
		}
		var raw []byte
		for _, s := range m.Sections {
			if s.ID == SecElement {
				raw = s.Raw
			}
		}
		m.SetElements(els)
		for _, s := range m.Sections {
			if s.ID == SecElement && !bytes.Equal(s.Raw, raw) {
				t.Errorf("%s: element section re-encodes differently", name)
			}
		}
	}
}
