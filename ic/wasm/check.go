package wasm

import (
	"bytes"
	"compress/gzip"
	"errors"
	"fmt"
	"io"
	"strings"
)

// Limits the IC's replica puts on a module (dfinity/ic embedders config and wasmparser).
const (
	MaxModuleSize      = 100 << 20 // decompressed module bytes
	MaxFunctions       = 50_000
	MaxGlobals         = 1_000
	MaxDataSegments    = 100_000 // wasmparser's cap
	MaxCodeSectionSize = 12 << 20
	MaxFunctionComplex = 1_000_000 // instructions of one function body
	MaxMethodExports   = 1_000
	MaxMethodNamesSize = 20_000 // sum of the <name> lengths of update/query/composite_query exports
	MaxICPSections     = 16
	MaxICPSectionsSize = 1 << 20
)

// Rule names one of the IC's module requirements.
type Rule int

// The rules CheckIC applies.
const (
	RuleDecode         Rule = iota + 1 // the module must be a valid binary module
	RuleModuleSize                     // the decompressed module must fit the size limit
	RuleImports                        // imports only ic0 functions with their exact signatures
	RuleMemories                       // at most one memory
	RuleTables                         // at most one table
	RuleExports                        // export names of the canister interface
	RuleFunctions                      // function count limit
	RuleGlobals                        // global count limit
	RuleDataSegments                   // data segment count limit
	RuleCustomSections                 // icp:public / icp:private custom sections
	RuleCodeSize                       // code section size limit
	RuleComplexity                     // function complexity limit
)

var ruleNames = map[Rule]string{
	RuleDecode: "invalid Wasm", RuleModuleSize: "module size", RuleImports: "invalid import section",
	RuleMemories: "invalid memory section", RuleTables: "invalid table section",
	RuleExports: "invalid export section", RuleFunctions: "too many functions",
	RuleGlobals: "too many globals", RuleDataSegments: "too many data segments",
	RuleCustomSections: "invalid custom sections", RuleCodeSize: "code section too large",
	RuleComplexity: "function complexity too high",
}

// String returns the rule's short name.
func (r Rule) String() string {
	if s, ok := ruleNames[r]; ok {
		return s
	}
	return fmt.Sprintf("rule(%d)", int(r))
}

// ErrInvalidModule is the sentinel every *ModuleError matches with errors.Is.
var ErrInvalidModule = errors.New("wasm: module rejected by the IC's requirements")

// ModuleError is a module that breaks one of the IC's requirements: which rule, and the message
// in the IC's words.
type ModuleError struct {
	Rule Rule
	Msg  string
	Err  error // the decode error for RuleDecode
}

func (e *ModuleError) Error() string { return e.Msg }

// Is makes errors.Is(err, ErrInvalidModule) true.
func (e *ModuleError) Is(target error) bool { return target == ErrInvalidModule }

// Unwrap returns the decode error, if any.
func (e *ModuleError) Unwrap() error { return e.Err }

func reject(rule Rule, format string, args ...any) *ModuleError {
	return &ModuleError{Rule: rule, Msg: fmt.Sprintf(format, args...)}
}

// DecodeIC decompresses b if it is gzip-compressed (as install_code accepts), decodes it and
// checks it with CheckIC. It returns the decoded module and its uncompressed bytes.
func DecodeIC(b []byte) (*Module, []byte, error) {
	if len(b) >= 2 && b[0] == 0x1f && b[1] == 0x8b {
		zr, err := gzip.NewReader(bytes.NewReader(b))
		if err != nil {
			return nil, nil, &ModuleError{Rule: RuleDecode, Msg: "Wasm module is gzip-compressed but cannot be decompressed: " + err.Error() + ". Compress it with gzip again.", Err: err}
		}
		raw, err := io.ReadAll(io.LimitReader(zr, MaxModuleSize+1))
		if err != nil {
			return nil, nil, &ModuleError{Rule: RuleDecode, Msg: "Wasm module is gzip-compressed but cannot be decompressed: " + err.Error(), Err: err}
		}
		b = raw
	}
	if len(b) > MaxModuleSize {
		return nil, nil, reject(RuleModuleSize, "Wasm module size exceeds the maximum of %d bytes when decompressed.", MaxModuleSize)
	}
	m, err := Decode(b)
	if err != nil {
		return nil, nil, &ModuleError{Rule: RuleDecode, Msg: "Wasm module is invalid: " + err.Error(), Err: err}
	}
	if err := CheckIC(m); err != nil {
		return nil, nil, err
	}
	return m, b, nil
}

// Is64 reports whether the module's memory is a memory64 memory (the ic0 API is then the wasm64
// variant).
func (m *Module) Is64() bool {
	return len(m.Memories) > 0 && m.Memories[0].Is64()
}

// CheckIC applies the IC's module requirements (the interface spec's "WebAssembly module
// requirements" and the replica's limits). The error is a *ModuleError naming the rule.
func CheckIC(m *Module) error {
	mem64 := m.Is64()
	for _, im := range m.Imports {
		if im.Kind != KindFunc {
			return reject(RuleImports, "Wasm module has an invalid import section. Module imports %s '%s' from '%s', only functions from 'ic0' may be imported.", kindName(im.Kind), im.Name, im.Module)
		}
		if im.Module != "ic0" {
			return reject(RuleImports, "Wasm module has an invalid import section. Module imports function '%s' from '%s' that is not exported by the runtime.", im.Name, im.Module)
		}
		f, ok := LookupIC0(im.Name)
		if !ok || (mem64 && f.Wasm32Only) {
			return reject(RuleImports, "Wasm module has an invalid import section. Module imports function '%s' from 'ic0' that is not exported by the runtime.", im.Name)
		}
		if int(im.TypeIdx) >= len(m.Types) {
			return reject(RuleImports, "Wasm module has an invalid import section. Function '%s' has type index %d out of range.", im.Name, im.TypeIdx)
		}
		if want, got := f.Type(mem64), m.Types[im.TypeIdx]; !want.Equal(got) {
			return reject(RuleImports, "Wasm module has an invalid import section. Module imports function '%s' from 'ic0' with type %s, but the runtime exports it with type %s.", im.Name, got, want)
		}
	}
	if len(m.Memories) > 1 {
		return reject(RuleMemories, "Wasm module has an invalid memory section. Wasm module defined %d memories which exceeds the maximum number allowed 1.", len(m.Memories))
	}
	if len(m.Tables) > 1 {
		return reject(RuleTables, "Wasm module has an invalid table section. Wasm module defined %d tables which exceeds the maximum number allowed 1.", len(m.Tables))
	}
	if n := m.NumImportedFuncs() + len(m.Funcs); n > MaxFunctions {
		return reject(RuleFunctions, "Wasm module defined %d functions which exceeds the maximum number allowed %d.", n, MaxFunctions)
	}
	if len(m.Globals) > MaxGlobals {
		return reject(RuleGlobals, "Wasm module defined %d globals which exceeds the maximum number allowed %d.", len(m.Globals), MaxGlobals)
	}
	if len(m.Data) > MaxDataSegments {
		return reject(RuleDataSegments, "Wasm module defined %d data segments which exceeds the maximum number allowed %d.", len(m.Data), MaxDataSegments)
	}
	if err := checkExports(m); err != nil {
		return err
	}
	if err := checkCustomSections(m); err != nil {
		return err
	}
	return checkCode(m)
}

func kindName(k byte) string {
	switch k {
	case KindFunc:
		return "function"
	case KindTable:
		return "table"
	case KindMemory:
		return "memory"
	case KindGlobal:
		return "global"
	}
	return "tag"
}

// reservedExports are names the IC's instrumentation adds; a module may not export them.
var reservedExports = []string{"canister counter_instructions", "canister counter_dirty_pages",
	"canister counter_accessed_pages", "canister_start"}

func checkExports(m *Module) error {
	kinds := map[string]string{} // method name → export kind that declared it
	methods, namesSize := 0, 0
	for _, e := range m.Exports {
		for _, r := range reservedExports {
			if e.Name == r {
				return reject(RuleExports, "Wasm module has an invalid export section. Exporting reserved function '%s' with \"canister \" prefix", e.Name)
			}
		}
		kind, method, isMethod := strings.Cut(e.Name, " ")
		switch {
		case isMethod && (kind == "canister_update" || kind == "canister_query" || kind == "canister_composite_query"):
			if prev, dup := kinds[method]; dup {
				return reject(RuleExports, "Wasm module has an invalid export section. Duplicate function '%s' exported multiple times with different call types: %s and %s.", method, prev, kind)
			}
			kinds[method] = kind
			methods++
			namesSize += len(method)
		case e.Name == "canister_init", e.Name == "canister_inspect_message", e.Name == "canister_heartbeat",
			e.Name == "canister_global_timer", e.Name == "canister_pre_upgrade", e.Name == "canister_post_upgrade",
			e.Name == "canister_on_low_wasm_memory":
		case strings.HasPrefix(e.Name, "canister_") || strings.HasPrefix(e.Name, "canister "):
			return reject(RuleExports, "Wasm module has an invalid export section. Exporting function with invalid name: '%s'. Names starting with \"canister_\" are reserved for the canister interface.", e.Name)
		default:
			continue
		}
		if e.Kind != KindFunc {
			return reject(RuleExports, "Wasm module has an invalid export section. Export '%s' is a %s, it must be a function.", e.Name, kindName(e.Kind))
		}
		t, ok := m.FuncType(e.Index)
		if !ok {
			return reject(RuleExports, "Wasm module has an invalid export section. Export '%s' names function %d, which does not exist.", e.Name, e.Index)
		}
		if len(t.Params) != 0 || len(t.Results) != 0 {
			return reject(RuleExports, "Wasm module has an invalid export section. Expected function '%s' to have type () -> (), but it has %s.", e.Name, t)
		}
	}
	if methods > MaxMethodExports {
		return reject(RuleExports, "Wasm module has an invalid export section. The number of exported functions called `canister_update <name>`, `canister_query <name>`, or `canister_composite_query <name>` exceeds %d.", MaxMethodExports)
	}
	if namesSize > MaxMethodNamesSize {
		return reject(RuleExports, "Wasm module has an invalid export section. The sum of `<name>` lengths in exported functions called `canister_update <name>`, `canister_query <name>`, or `canister_composite_query <name>` exceeds %d.", MaxMethodNamesSize)
	}
	return nil
}

func checkCustomSections(m *Module) error {
	seen := map[string]bool{}
	count, size := 0, 0
	for _, s := range m.Sections {
		if s.ID != SecCustom {
			continue
		}
		name := s.Custom.Name
		var rest string
		if r, ok := strings.CutPrefix(name, "icp:public "); ok {
			rest = r
		} else if r, ok := strings.CutPrefix(name, "icp:private "); ok {
			rest = r
		} else if strings.HasPrefix(name, "icp:") {
			return reject(RuleCustomSections, "Wasm module has an invalid custom section. Invalid custom section: Custom section named %s has no public/private scope defined.", name)
		} else {
			continue
		}
		if rest == "" {
			return reject(RuleCustomSections, "Wasm module has an invalid custom section. Invalid custom section: Custom section named '%s' has no name after its scope.", name)
		}
		if seen[rest] {
			return reject(RuleCustomSections, "Wasm module has an invalid custom section. Invalid custom section: name %s already exists", rest)
		}
		seen[rest] = true
		count++
		size += len(rest) + len(s.Custom.Data)
	}
	if count > MaxICPSections {
		return reject(RuleCustomSections, "Wasm module has an invalid custom section. Invalid custom sections: too many custom sections defined: %d; the maximum is %d.", count, MaxICPSections)
	}
	if size > MaxICPSectionsSize {
		return reject(RuleCustomSections, "Wasm module has an invalid custom section. Invalid custom sections: total size of the custom sections exceeds the maximum allowed: size %d bytes, allowed %d bytes", size, MaxICPSectionsSize)
	}
	return nil
}

func checkCode(m *Module) error {
	size := 0
	ni := m.NumImportedFuncs()
	for i, c := range m.Codes {
		size += len(c.Body)
		_, start, err := SplitBody(c.Body)
		if err != nil {
			return &ModuleError{Rule: RuleDecode, Msg: fmt.Sprintf("Wasm module is invalid: function %d: %v", ni+i, err), Err: err}
		}
		r := NewInstrReader(c.Body[start:], 0)
		n := 0
		for !r.Done() {
			if _, err := r.Next(); err != nil {
				return &ModuleError{Rule: RuleDecode, Msg: fmt.Sprintf("Wasm module is invalid: function %d: %v", ni+i, err), Err: err}
			}
			n++
		}
		if n > MaxFunctionComplex {
			return reject(RuleComplexity, "Wasm module contains a function at index %d with complexity %d which exceeds the maximum complexity allowed %d.", ni+i, n, MaxFunctionComplex)
		}
	}
	if size > MaxCodeSectionSize {
		return reject(RuleCodeSize, "Wasm module code section size of %d exceeds the maximum allowed size of %d.", size, MaxCodeSectionSize)
	}
	return nil
}
