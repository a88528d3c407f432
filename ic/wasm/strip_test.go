package wasm

import (
	"bytes"
	"slices"
	"strings"
	"testing"

	"github.com/icws/icws/ic/leb128"
)

// nameSection encodes a name section with the function names given (subsection 1), after a
// module name (subsection 0) that FunctionNames skips.
func nameSection(names map[uint32]string) []byte {
	mod := appendName(nil, "m")
	out := append(leb128.AppendUint([]byte{0}, uint64(len(mod))), mod...)
	var idx []uint32
	for i := range names {
		idx = append(idx, i)
	}
	slices.Sort(idx)
	sub := leb128.AppendUint(nil, uint64(len(idx)))
	for _, i := range idx {
		sub = appendName(leb128.AppendUint(sub, uint64(i)), names[i])
	}
	out = append(leb128.AppendUint(append(out, 1), uint64(len(sub))), sub...)
	return out
}

// TestUnreachable builds a module whose functions are reached in every way a function can be
// (export, start, element segment, ref.func in a global or in code, call) or not at all (a
// function only a dead one calls, a function calling itself) and checks which Unreachable names.
func TestUnreachable(t *testing.T) {
	m, err := Decode([]byte("\x00asm\x01\x00\x00\x00"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := m.AddImport("ic0", "trap", FuncType{Params: []ValType{I32, I32}}); err != nil {
		t.Fatal(err)
	}
	call := func(f uint32) []byte { return leb128.AppendUint([]byte{byte(OpCall)}, uint64(f)) }
	refFunc := func(f uint32) []byte { return leb128.AppendUint([]byte{byte(OpRefFunc)}, uint64(f)) }
	body := func(code ...[]byte) []byte {
		b := []byte{0}
		for _, c := range code {
			b = append(b, c...)
		}
		return append(b, byte(OpEnd))
	}
	drop := []byte{byte(OpDrop)}
	ft := FuncType{}
	// Index 0 is the import; defined functions start at 1.
	bodies := [][]byte{
		body(call(2)),             // 1: exported, calls 2
		body(refFunc(7), drop),    // 2: takes 7's address
		body(call(4)),             // 3: dead, calls 4
		body(),                    // 4: dead (only 3 calls it)
		body(),                    // 5: in the table
		body(),                    // 6: named by a global's ref.func
		body(call(0)),             // 7: reached through 2's ref.func, calls the import
		body(call(8)),             // 8: dead, calls itself
		body(call(9), call(1)),    // 9: the start function
		body([]byte{byte(OpNop)}), // 10: dead
	}
	for _, b := range bodies {
		m.AddFunction(ft, b)
	}
	if err := m.AddExport(Export{Name: "canister_update f", Kind: KindFunc, Index: 1}); err != nil {
		t.Fatal(err)
	}
	m.SetStart(9)
	m.Tables = append(m.Tables, Table{ElemType: FuncRef, Limits: Limits{Min: 1}})
	m.sectionIndex(SecTable)
	m.SetElements([]Element{{Flags: 0, Offset: []byte{byte(OpI32Const), 0, byte(OpEnd)}, Funcs: []uint32{5}}})
	m.AddGlobal(Global{Type: FuncRef, Init: append(refFunc(6), byte(OpEnd))})
	m.SetCustomSection("name", nameSection(map[uint32]string{0: "trap", 3: "dead"}))

	// Decode what Encode wrote, so the test reads the module as Link would.
	m2, err := Decode(m.Encode())
	if err != nil {
		t.Fatalf("the test module does not decode: %v", err)
	}
	dead, err := m2.Unreachable()
	if err != nil {
		t.Fatal(err)
	}
	if want := []uint32{3, 4, 8, 10}; !slices.Equal(dead, want) {
		t.Fatalf("Unreachable = %v, want %v", dead, want)
	}
	names, err := m2.FunctionNames()
	if err != nil || len(names) != 2 || names[3] != "dead" || names[0] != "trap" {
		t.Fatalf("FunctionNames = %v, %v", names, err)
	}

	// A body that does not decode is an error, not a guess.
	m2.Codes[0].Body = []byte{0, 0xff}
	if _, err := m2.Unreachable(); err == nil || !strings.Contains(err.Error(), "function 1") {
		t.Fatalf("Unreachable of a malformed body: %v, want an error naming function 1", err)
	}
}

// TestUnreachableGoModule: Go's linker leaves no unreachable function in a wasip1 module (its
// table holds every function whose address is taken, and its dead-code pass dropped the rest).
func TestUnreachableGoModule(t *testing.T) {
	m, err := Decode(bytes.Clone(realModule(t, "go")))
	if err != nil {
		t.Fatal(err)
	}
	dead, err := m.Unreachable()
	if err != nil {
		t.Fatal(err)
	}
	if len(dead) != 0 {
		t.Errorf("%d unreachable functions in a Go module, e.g. %d", len(dead), dead[0])
	}
}

// TestStripCustomSections strips a Go module's name, producers and build id and keeps an icp:
// section; the result decodes and encodes alike.
func TestStripCustomSections(t *testing.T) {
	m, err := Decode(bytes.Clone(realModule(t, "go")))
	if err != nil {
		t.Fatal(err)
	}
	m.SetCustomSection("icp:public candid:service", []byte("service : {}"))
	before := len(m.Encode())
	removed := m.StripCustomSections(func(name string) bool { return strings.HasPrefix(name, "icp:") })
	var got []string
	size := 0
	for _, c := range removed {
		got = append(got, c.Name)
		size += len(c.Name) + len(c.Data)
	}
	slices.Sort(got)
	if !slices.Contains(got, "name") || slices.ContainsFunc(got, func(n string) bool { return strings.HasPrefix(n, "icp:") }) {
		t.Fatalf("removed %v: want the name section and no icp: section", got)
	}
	out := m.Encode()
	m2, err := Decode(out)
	if err != nil {
		t.Fatalf("stripped module does not decode: %v", err)
	}
	for _, s := range m2.Sections {
		if s.ID == SecCustom && !strings.HasPrefix(s.Custom.Name, "icp:") {
			t.Errorf("custom section %q left", s.Custom.Name)
		}
	}
	if d, ok := m2.CustomSection("icp:public candid:service"); !ok || string(d) != "service : {}" {
		t.Errorf("candid section %q, %v", d, ok)
	}
	if names, err := m2.FunctionNames(); err != nil || len(names) != 0 {
		t.Errorf("FunctionNames after stripping: %d, %v", len(names), err)
	}
	// Each removed section took its name, contents, id byte and size with it.
	if saved := before - len(out); saved < size {
		t.Errorf("stripping %v saved %d bytes, less than their %d", got, saved, size)
	}
}

// FuzzFunctionNames: any name section either fails with a *DecodeError or gives names that
// all came from its bytes.
func FuzzFunctionNames(f *testing.F) {
	f.Add(nameSection(map[uint32]string{0: "runtime.main", 7: "main.f"}))
	f.Add(nameSection(nil))
	f.Add([]byte{1, 5, 2, 0, 1, 'a'})
	f.Add([]byte{1, 0xff, 0xff, 0xff, 0xff, 0x0f})
	f.Fuzz(func(t *testing.T, data []byte) {
		m := &Module{}
		m.SetCustomSection("name", data)
		names, err := m.FunctionNames()
		if err != nil {
			if names != nil {
				t.Fatal("names and an error")
			}
			return
		}
		for _, n := range names {
			if !bytes.Contains(data, []byte(n)) {
				t.Fatalf("name %q is not in the input", n)
			}
		}
	})
}
