// Package instrument adds deterministic instruction metering to a Wasm module, after the IC's
// scheme: a mutable i64 global, exported as "canister counter_instructions", is decreased by the
// static cost of each basic block when the block starts, and checked at every function entry
// and loop header; when it is negative the module calls the import "__"."out_of_instructions",
// which the host makes trap.
//
// Every instruction costs 1 here; the IC's own cost table (dfinity/ic instrumentation.rs) and
// the dynamic charge of bulk-memory operations by size are not applied yet.
package instrument

import (
	"fmt"

	"github.com/icws/icws/ic/leb128"
	"github.com/icws/icws/ic/wasm"
)

// Names the instrumented module uses.
const (
	CounterExport = "canister counter_instructions"
	TrapModule    = "__"
	TrapName      = "out_of_instructions"
	StartExport   = "canister_start"
)

// Instrument rewrites m in place. The counter's initial value is set by the host (the global
// is exported mutable) before each message.
func Instrument(m *wasm.Module) error { return rewrite(m, true) }

// Unmetered rewrites m as Instrument does but charges nothing: the counter, the trap import and
// canister_start are there, the function bodies are unchanged. Hosts use it to measure what
// metering costs (against an Instrument run); the counter then never moves.
func Unmetered(m *wasm.Module) error { return rewrite(m, false) }

func rewrite(m *wasm.Module, metered bool) error {
	trap, err := m.AddImport(TrapModule, TrapName, wasm.FuncType{})
	if err != nil {
		return fmt.Errorf("instrument: %w", err)
	}
	counter := m.AddGlobal(wasm.Global{Type: wasm.I64, Mutable: true, Init: []byte{byte(wasm.OpI64Const), 0, byte(wasm.OpEnd)}})
	if err := m.AddExport(wasm.Export{Name: CounterExport, Kind: wasm.KindGlobal, Index: counter}); err != nil {
		return fmt.Errorf("instrument: %w", err)
	}
	// The start function would run before the host sets the counter: the IC exports it as
	// canister_start and calls it as the first message of an install.
	if start, ok := m.RemoveStart(); ok {
		if err := m.AddExport(wasm.Export{Name: StartExport, Kind: wasm.KindFunc, Index: start}); err != nil {
			return fmt.Errorf("instrument: %w", err)
		}
	}
	if !metered {
		return nil
	}
	for i := range m.Codes {
		b, err := body(m.Codes[i].Body, counter, trap)
		if err != nil {
			return fmt.Errorf("instrument: function body %d: %w", i, err)
		}
		m.Codes[i] = wasm.Code{Body: b}
	}
	return nil
}

// endsBlock reports whether the instruction ends a basic block.
func endsBlock(op wasm.Opcode) bool {
	switch op {
	case wasm.OpBlock, wasm.OpLoop, wasm.OpIf, wasm.OpElse, wasm.OpEnd, wasm.OpBr, wasm.OpBrIf,
		wasm.OpBrTable, wasm.OpReturn, wasm.OpUnreachable, wasm.OpCall, wasm.OpCallIndirect:
		return true
	}
	return false
}

func body(b []byte, counter, trap uint32) ([]byte, error) {
	_, start, err := wasm.SplitBody(b)
	if err != nil {
		return nil, err
	}
	code := b[start:]
	out := append(make([]byte, 0, len(b)*2), b[:start]...)
	r := wasm.NewInstrReader(code, 0)
	check := true // at function entry
	for !r.Done() {
		// One basic block: instructions up to and including the one that ends it.
		from := r.Pos()
		var last wasm.Instr
		n := int64(0)
		for !r.Done() {
			in, err := r.Next()
			if err != nil {
				return nil, err
			}
			n++
			last = in
			if endsBlock(in.Op) {
				break
			}
		}
		if code[from] == byte(wasm.OpElse) { // charge the else branch inside it
			out = append(out, code[from])
			from++
		}
		out = charge(out, counter, n)
		if check {
			out = checkCounter(out, counter, trap)
		}
		out = append(out, code[from:r.Pos()]...)
		check = last.Op == wasm.OpLoop
	}
	return out, nil
}

func charge(out []byte, counter uint32, n int64) []byte {
	out = leb128.AppendUint(append(out, byte(wasm.OpGlobalGet)), uint64(counter))
	out = leb128.AppendInt(append(out, byte(wasm.OpI64Const)), n)
	out = append(out, 0x7d) // i64.sub
	return leb128.AppendUint(append(out, byte(wasm.OpGlobalSet)), uint64(counter))
}

func checkCounter(out []byte, counter, trap uint32) []byte {
	out = leb128.AppendUint(append(out, byte(wasm.OpGlobalGet)), uint64(counter))
	out = append(out, byte(wasm.OpI64Const), 0, 0x53) // i64.const 0; i64.lt_s
	out = append(out, byte(wasm.OpIf), 0x40)
	out = leb128.AppendUint(append(out, byte(wasm.OpCall)), uint64(trap))
	return append(out, byte(wasm.OpEnd))
}
