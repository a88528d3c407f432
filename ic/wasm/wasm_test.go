package wasm

import (
	"bytes"
	"compress/gzip"
	"errors"
	"testing"
)

func TestRoundTripRealModules(t *testing.T) {
	for _, name := range []string{"moc3", "moc4", "go"} {
		t.Run(name, func(t *testing.T) {
			b := realModule(t, name)
			m, err := Decode(b)
			if err != nil {
				t.Fatal(err)
			}
			if got := m.Encode(); !bytes.Equal(got, b) {
				t.Fatalf("Encode(Decode(b)) differs: %d bytes, want %d", len(got), len(b))
			}
			// Every function body reads as instructions to its end.
			for i, c := range m.Codes {
				_, start, err := SplitBody(c.Body)
				if err != nil {
					t.Fatalf("function %d: %v", i, err)
				}
				r := NewInstrReader(c.Body[start:], 0)
				var last Instr
				for !r.Done() {
					if last, err = r.Next(); err != nil {
						t.Fatalf("function %d: %v", i, err)
					}
				}
				if last.Op != OpEnd {
					t.Fatalf("function %d ends with %#x, want end", i, last.Op)
				}
			}
		})
	}
}

func TestMocModulesPassCheckIC(t *testing.T) {
	for _, tt := range []struct {
		name  string
		mem64 bool
	}{{"moc3", false}, {"moc4", true}} {
		t.Run(tt.name, func(t *testing.T) {
			b := realModule(t, tt.name)
			m, raw, err := DecodeIC(b)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(raw, b) || m.Is64() != tt.mem64 {
				t.Fatalf("raw equal %v, Is64 %v, want %v", bytes.Equal(raw, b), m.Is64(), tt.mem64)
			}
			var methods []string
			for _, e := range m.Exports {
				methods = append(methods, e.Name)
			}
			for _, want := range []string{"canister_update inc", "canister_query get"} {
				if !bytes.Contains([]byte("\x00"+join(methods)+"\x00"), []byte("\x00"+want+"\x00")) {
					t.Errorf("exports %q lack %q", methods, want)
				}
			}
			// gzip-compressed input is accepted and gives the same module.
			var z bytes.Buffer
			zw := gzip.NewWriter(&z)
			zw.Write(b)
			zw.Close()
			if _, raw, err := DecodeIC(z.Bytes()); err != nil || !bytes.Equal(raw, b) {
				t.Fatalf("gzip: %v", err)
			}
		})
	}
}

func join(s []string) string {
	var b bytes.Buffer
	for i, x := range s {
		if i > 0 {
			b.WriteByte(0)
		}
		b.WriteString(x)
	}
	return b.String()
}

func TestGoModuleRejectedForWASI(t *testing.T) {
	_, _, err := DecodeIC(realModule(t, "go"))
	var me *ModuleError
	if !errors.As(err, &me) || me.Rule != RuleImports || !errors.Is(err, ErrInvalidModule) {
		t.Fatalf("err = %v, want a RuleImports ModuleError", err)
	}
	t.Log(err)
}

// TestCheckICRules breaks one rule at a time in a real moc module and checks the rule named.
func TestCheckICRules(t *testing.T) {
	base := realModule(t, "moc3")
	typeOf := func(m *Module, ft FuncType) uint32 {
		m.Types = append(m.Types, ft)
		return uint32(len(m.Types) - 1)
	}
	tests := []struct {
		name string
		edit func(m *Module)
		rule Rule
	}{
		{"import from env", func(m *Module) { m.Imports[0].Module = "env" }, RuleImports},
		{"unknown ic0 function", func(m *Module) { m.Imports[0].Name = "no_such_call" }, RuleImports},
		{"wrong signature", func(m *Module) { m.Imports[0].TypeIdx = typeOf(m, FuncType{Params: []ValType{F64}}) }, RuleImports},
		{"two memories", func(m *Module) { m.Memories = append(m.Memories, m.Memories[0]) }, RuleMemories},
		{"two tables", func(m *Module) { m.Tables = append(m.Tables, m.Tables[0]) }, RuleTables},
		{"too many globals", func(m *Module) {
			for len(m.Globals) <= MaxGlobals {
				m.Globals = append(m.Globals, Global{Type: I32, Init: []byte{0x41, 0, 0x0b}})
			}
		}, RuleGlobals},
		{"too many functions", func(m *Module) {
			for len(m.Funcs) <= MaxFunctions {
				m.Funcs = append(m.Funcs, m.Funcs[0])
				m.Codes = append(m.Codes, m.Codes[0])
			}
		}, RuleFunctions},
		{"update and query clash", func(m *Module) {
			m.Exports = append(m.Exports, Export{Name: "canister_query inc", Kind: KindFunc, Index: exportIndex(m, "canister_update inc")})
		}, RuleExports},
		{"unknown canister_ export", func(m *Module) {
			m.Exports = append(m.Exports, Export{Name: "canister_updat inc", Kind: KindFunc, Index: exportIndex(m, "canister_update inc")})
		}, RuleExports},
		{"reserved export", func(m *Module) {
			m.Exports = append(m.Exports, Export{Name: "canister counter_instructions", Kind: KindGlobal})
		}, RuleExports},
		{"method with parameters", func(m *Module) {
			m.Funcs = append(m.Funcs, typeOf(m, FuncType{Params: []ValType{I32}}))
			m.Codes = append(m.Codes, Code{Body: []byte{0, 0x0b}})
			m.Exports = append(m.Exports, Export{Name: "canister_update bad", Kind: KindFunc, Index: uint32(m.NumImportedFuncs() + len(m.Funcs) - 1)})
		}, RuleExports},
		{"icp section without scope", func(m *Module) { m.SetCustomSection("icp:candid", []byte("x")) }, RuleCustomSections},
		{"icp section twice", func(m *Module) {
			m.SetCustomSection("icp:public a", nil)
			m.Sections = append(m.Sections, Section{ID: SecCustom, Custom: &Custom{Name: "icp:private a"}})
		}, RuleCustomSections},
		{"icp sections too large", func(m *Module) { m.SetCustomSection("icp:public big", make([]byte, MaxICPSectionsSize)) }, RuleCustomSections},
		{"too complex function", func(m *Module) {
			body := append([]byte{0}, bytes.Repeat([]byte{0x01}, MaxFunctionComplex)...)
			m.Codes[0] = Code{Body: append(body, 0x0b)}
		}, RuleComplexity},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m, err := Decode(bytes.Clone(base))
			if err != nil {
				t.Fatal(err)
			}
			tt.edit(m)
			// Through the encoder and the decoder, as install_code sees it.
			_, _, err = DecodeIC(m.Encode())
			var me *ModuleError
			if !errors.As(err, &me) || me.Rule != tt.rule {
				t.Fatalf("err = %v, want rule %v", err, tt.rule)
			}
			t.Log(me)
		})
	}
}

func exportIndex(m *Module, name string) uint32 {
	for _, e := range m.Exports {
		if e.Name == name {
			return e.Index
		}
	}
	panic("no export " + name)
}

func TestIC0TableHasEveryMocImport(t *testing.T) {
	for _, name := range []string{"moc3", "moc4"} {
		m, err := Decode(realModule(t, name))
		if err != nil {
			t.Fatal(err)
		}
		n := 0
		for _, im := range m.Imports {
			f, ok := LookupIC0(im.Name)
			if im.Module != "ic0" || !ok {
				t.Errorf("%s: import %s.%s not in IC0", name, im.Module, im.Name)
				continue
			}
			if want := f.Type(m.Is64()); !want.Equal(m.Types[im.TypeIdx]) {
				t.Errorf("%s: %s is %s, IC0 says %s", name, im.Name, m.Types[im.TypeIdx], want)
			}
			n++
		}
		t.Logf("%s: %d ic0 imports", name, n)
	}
}

func TestDecodeErrors(t *testing.T) {
	hdr := "\x00asm\x01\x00\x00\x00"
	for _, tt := range []struct{ name, in string }{
		{"empty", ""},
		{"bad magic", "\x00wasm\x01\x00\x00"},
		{"section past end", hdr + "\x01\x05\x00"},
		{"unknown section", hdr + "\x0e\x00"},
		{"sections out of order", hdr + "\x03\x01\x00\x01\x01\x00"},
		{"huge vector", hdr + "\x01\x05\xff\xff\xff\xff\x0f"},
		{"bad type form", hdr + "\x01\x04\x01\x61\x00\x00"},
		{"functions without bodies", hdr + "\x01\x04\x01\x60\x00\x00\x03\x02\x01\x00"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := Decode([]byte(tt.in)); err == nil {
				t.Fatal("no error")
			} else if !errors.Is(err, ErrMalformed) && !errors.Is(err, ErrNotWasm) {
				t.Fatalf("err %v is neither ErrMalformed nor ErrNotWasm", err)
			} else {
				t.Log(err)
			}
		})
	}
}
