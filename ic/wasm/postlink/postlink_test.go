package postlink

import (
	"bytes"
	"slices"
	"testing"

	"github.com/icws/icws/ic/wasm"
)

// TestLinkStripsAndTrapsUnreachable links a small module shaped as Go's (an _initialize export,
// one //go:wasmexport, a memory) with a function nothing reaches and the custom sections Go
// writes: the unreachable function's body becomes a trap, the name, producers and build id
// sections go unless KeepNames, and the Candid metadata stays.
func TestLinkStripsAndTrapsUnreachable(t *testing.T) {
	m, err := wasm.Decode([]byte("\x00asm\x01\x00\x00\x00"))
	if err != nil {
		t.Fatal(err)
	}
	m.Memories = append(m.Memories, wasm.Limits{Min: 1})
	nop := []byte{0, byte(wasm.OpNop), byte(wasm.OpEnd)}
	initIdx := m.AddFunction(wasm.FuncType{}, nop)
	update := m.AddFunction(wasm.FuncType{}, nop)
	// The module imports nothing: the function indices are the code entries' (Link adds imports,
	// which renumber the functions but not the code entries).
	dead := m.AddFunction(wasm.FuncType{}, []byte{0, byte(wasm.OpNop), byte(wasm.OpNop), byte(wasm.OpEnd)})
	for _, e := range []wasm.Export{{Name: "memory", Kind: wasm.KindMemory}, {Name: "_initialize", Kind: wasm.KindFunc, Index: initIdx},
		{Name: "icws_update_0", Kind: wasm.KindFunc, Index: update}} {
		if err := m.AddExport(e); err != nil {
			t.Fatal(err)
		}
	}
	m.SetCustomSection("go:buildid", []byte("id"))
	m.SetCustomSection("producers", []byte{0})
	m.SetCustomSection("name", []byte{})
	module := m.Encode()

	for _, keep := range []bool{false, true} {
		out, rep, err := Link(module, Options{Exports: map[string]string{"icws_update_0": "canister_update f"}, Candid: "service : { f : () -> () }", KeepNames: keep})
		if err != nil {
			t.Fatalf("KeepNames %v: %v", keep, err)
		}
		got, _, err := wasm.DecodeIC(out)
		if err != nil {
			t.Fatal(err)
		}
		if rep.Unreachable != 1 || !bytes.Equal(got.Codes[dead].Body, unreachableBody) {
			t.Errorf("KeepNames %v: %d unreachable, body %x; want 1, %x", keep, rep.Unreachable, got.Codes[dead].Body, unreachableBody)
		}
		var custom []string
		for _, s := range got.Sections {
			if s.ID == wasm.SecCustom {
				custom = append(custom, s.Custom.Name)
			}
		}
		want := []string{"icp:public candid:service"}
		if keep {
			want = []string{"go:buildid", "producers", "name", "icp:public candid:service"}
		}
		if !slices.Equal(custom, want) {
			t.Errorf("KeepNames %v: custom sections %q, want %q", keep, custom, want)
		}
		if wantStripped := !keep; (len(rep.Stripped) == 3) != wantStripped || (rep.StrippedBytes == len("go:buildid")+2+len("producers")+1+len("name")) != wantStripped {
			t.Errorf("KeepNames %v: stripped %q, %d bytes", keep, rep.Stripped, rep.StrippedBytes)
		}
	}
}
