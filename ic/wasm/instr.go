package wasm

import (
	"fmt"

	"github.com/icws/icws/ic/leb128"
)

// Opcode is an instruction's opcode. Prefixed instructions (0xFC, 0xFD) are Prefix<<16 | sub-opcode.
type Opcode uint32

// Opcodes the package names; every other opcode is read by number.
const (
	OpUnreachable  Opcode = 0x00
	OpNop          Opcode = 0x01
	OpBlock        Opcode = 0x02
	OpLoop         Opcode = 0x03
	OpIf           Opcode = 0x04
	OpElse         Opcode = 0x05
	OpEnd          Opcode = 0x0b
	OpBr           Opcode = 0x0c
	OpBrIf         Opcode = 0x0d
	OpBrTable      Opcode = 0x0e
	OpReturn       Opcode = 0x0f
	OpCall         Opcode = 0x10
	OpCallIndirect Opcode = 0x11
	OpDrop         Opcode = 0x1a
	OpSelect       Opcode = 0x1b
	OpSelectT      Opcode = 0x1c
	OpLocalGet     Opcode = 0x20
	OpGlobalGet    Opcode = 0x23
	OpGlobalSet    Opcode = 0x24
	OpMemorySize   Opcode = 0x3f
	OpMemoryGrow   Opcode = 0x40
	OpI32Const     Opcode = 0x41
	OpI64Const     Opcode = 0x42
	OpF32Const     Opcode = 0x43
	OpF64Const     Opcode = 0x44
	OpRefNull      Opcode = 0xd0
	OpRefIsNull    Opcode = 0xd1
	OpRefFunc      Opcode = 0xd2

	PrefixFC Opcode = 0xfc << 16
	PrefixFD Opcode = 0xfd << 16

	OpMemoryInit Opcode = PrefixFC | 8
	OpDataDrop   Opcode = PrefixFC | 9
	OpMemoryCopy Opcode = PrefixFC | 10
	OpMemoryFill Opcode = PrefixFC | 11
	OpTableInit  Opcode = PrefixFC | 12
	OpElemDrop   Opcode = PrefixFC | 13
	OpTableCopy  Opcode = PrefixFC | 14
	OpTableGrow  Opcode = PrefixFC | 15
	OpTableSize  Opcode = PrefixFC | 16
	OpTableFill  Opcode = PrefixFC | 17
)

// Instr is one decoded instruction. Which immediates are set depends on the opcode: Index
// (call, local/global/table/data/elem index, branch depth, ref.func, lane, type of
// call_indirect), Index2 (second index: call_indirect table, memory.init memory, copy
// destination/source), Imm (constants as bits, memarg offset, block type as s33), Align (memarg
// flags), Targets (br_table, last is the default). Offset is the instruction's offset in the
// module and Len its encoded length.
type Instr struct {
	Op            Opcode
	Index, Index2 uint32
	Imm           uint64
	Align         uint32
	Targets       []uint32
	Offset, Len   int
}

// IsMemoryAccess reports whether the instruction is a memory load or store (plain or SIMD).
func (i Instr) IsMemoryAccess() bool {
	return (i.Op >= 0x28 && i.Op <= 0x3e) || (i.Op >= PrefixFD && i.Op <= PrefixFD|11) ||
		(i.Op >= PrefixFD|84 && i.Op <= PrefixFD|93)
}

// InstrReader reads the instructions of an expression or function body one at a time.
type InstrReader struct {
	b   []byte
	pos int
	off int
}

// NewInstrReader returns a reader of the instructions in code; offset is the position of code in
// the module, used in errors and Instr.Offset.
func NewInstrReader(code []byte, offset int) *InstrReader {
	return &InstrReader{b: code, off: offset}
}

// Done reports whether every byte was read.
func (r *InstrReader) Done() bool { return r.pos >= len(r.b) }

// Pos returns the position of the next instruction in code.
func (r *InstrReader) Pos() int { return r.pos }

func (r *InstrReader) fail(what string) error {
	return &DecodeError{Offset: r.off + r.pos, What: what}
}

func (r *InstrReader) u32(what string) (uint32, error) {
	v, n, err := leb128.Uint(r.b[r.pos:])
	if err != nil || v > 1<<32-1 {
		return 0, r.fail(what + ": bad or too large LEB128")
	}
	r.pos += n
	return uint32(v), nil
}

func (r *InstrReader) u64(what string) (uint64, error) {
	v, n, err := leb128.Uint(r.b[r.pos:])
	if err != nil {
		return 0, r.fail(what + ": bad LEB128")
	}
	r.pos += n
	return v, nil
}

func (r *InstrReader) s64(what string) (int64, error) {
	v, n, err := leb128.Int(r.b[r.pos:])
	if err != nil {
		return 0, r.fail(what + ": bad signed LEB128")
	}
	r.pos += n
	return v, nil
}

func (r *InstrReader) skip(what string, n int) error {
	if n > len(r.b)-r.pos {
		return r.fail(what + ": unexpected end")
	}
	r.pos += n
	return nil
}

func (r *InstrReader) memarg(in *Instr) error {
	a, err := r.u32("memarg alignment")
	if err != nil {
		return err
	}
	in.Align = a
	if a&0x40 != 0 { // multi-memory: a memory index follows
		if in.Index2, err = r.u32("memarg memory index"); err != nil {
			return err
		}
	}
	in.Imm, err = r.u64("memarg offset")
	return err
}

// Next reads one instruction.
func (r *InstrReader) Next() (Instr, error) {
	start := r.pos
	in := Instr{Offset: r.off + start}
	if r.pos >= len(r.b) {
		return in, r.fail("expression ends without end opcode")
	}
	op := Opcode(r.b[r.pos])
	r.pos++
	var err error
	switch {
	case op == OpBlock || op == OpLoop || op == OpIf:
		if r.pos >= len(r.b) {
			return in, r.fail("block type: unexpected end")
		}
		var bt int64
		if c := r.b[r.pos]; c == 0x40 || (c >= 0x6f && c <= 0x7f) {
			bt = int64(c) - 0x80 // a negative s33: empty or one value type
			r.pos++
		} else if bt, err = r.s64("block type"); err == nil && bt < 0 {
			err = r.fail("block type: negative type index")
		}
		in.Imm = uint64(bt)
	case op == OpBr || op == OpBrIf || op == OpCall || op == OpRefFunc || (op >= 0x20 && op <= 0x26):
		in.Index, err = r.u32("index")
	case op == OpBrTable:
		var n uint32
		if n, err = r.u32("br_table count"); err == nil {
			if uint64(n) >= uint64(len(r.b)-r.pos) {
				return in, r.fail(fmt.Sprintf("br_table: %d targets do not fit", n))
			}
			in.Targets = make([]uint32, n+1)
			for i := range in.Targets {
				if in.Targets[i], err = r.u32("br_table target"); err != nil {
					break
				}
			}
		}
	case op == OpCallIndirect:
		if in.Index, err = r.u32("call_indirect type"); err == nil {
			in.Index2, err = r.u32("call_indirect table")
		}
	case op == OpSelectT:
		var n uint32
		if n, err = r.u32("select type count"); err == nil {
			err = r.skip("select types", int(n))
		}
	case op >= 0x28 && op <= 0x3e:
		err = r.memarg(&in)
	case op == OpMemorySize || op == OpMemoryGrow:
		in.Index, err = r.u32("memory index")
	case op == OpI32Const || op == OpI64Const:
		var v int64
		v, err = r.s64("integer constant")
		in.Imm = uint64(v)
	case op == OpF32Const:
		if err = r.skip("f32 constant", 4); err == nil {
			in.Imm = uint64(leU32(r.b[r.pos-4:]))
		}
	case op == OpF64Const:
		if err = r.skip("f64 constant", 8); err == nil {
			in.Imm = uint64(leU32(r.b[r.pos-8:])) | uint64(leU32(r.b[r.pos-4:]))<<32
		}
	case op == OpRefNull:
		err = r.skip("ref.null type", 1)
	case op == 0xfc:
		var sub uint32
		if sub, err = r.u32("0xfc sub-opcode"); err != nil {
			break
		}
		op = PrefixFC | Opcode(sub)
		switch {
		case sub <= 7: // saturating truncations
		case op == OpMemoryInit || op == OpTableInit || op == OpMemoryCopy || op == OpTableCopy:
			if in.Index, err = r.u32("index"); err == nil {
				in.Index2, err = r.u32("index")
			}
		case op == OpDataDrop || op == OpElemDrop || op == OpMemoryFill || (op >= OpTableGrow && op <= OpTableFill):
			in.Index, err = r.u32("index")
		default:
			err = r.fail(fmt.Sprintf("unknown instruction 0xfc %d", sub))
		}
	case op == 0xfd:
		var sub uint32
		if sub, err = r.u32("0xfd sub-opcode"); err != nil {
			break
		}
		op = PrefixFD | Opcode(sub)
		switch {
		case sub <= 11 || sub == 92 || sub == 93:
			err = r.memarg(&in)
		case sub >= 84 && sub <= 91:
			if err = r.memarg(&in); err == nil && r.skip("lane", 1) == nil {
				in.Index = uint32(r.b[r.pos-1])
			} else if err == nil {
				err = r.fail("lane: unexpected end")
			}
		case sub == 12 || sub == 13:
			err = r.skip("v128 immediate", 16)
		case sub >= 21 && sub <= 34:
			if err = r.skip("lane", 1); err == nil {
				in.Index = uint32(r.b[r.pos-1])
			}
		case sub <= 275:
		default:
			err = r.fail(fmt.Sprintf("unknown instruction 0xfd %d", sub))
		}
	case op == OpUnreachable || op == OpNop || op == OpElse || op == OpEnd || op == OpReturn ||
		op == OpDrop || op == OpSelect || op == OpRefIsNull || (op >= 0x45 && op <= 0xc4):
	default:
		err = r.fail(fmt.Sprintf("unknown opcode 0x%02x", byte(op)))
	}
	in.Op = op
	in.Len = r.pos - start
	if err != nil {
		r.pos = len(r.b)
	}
	return in, err
}

func leU32(b []byte) uint32 {
	return uint32(b[0]) | uint32(b[1])<<8 | uint32(b[2])<<16 | uint32(b[3])<<24
}

// Locals is one run of local declarations in a function body.
type Locals struct {
	Count uint32
	Type  ValType
}

// SplitBody splits a function body into its local declarations and the position where its
// instructions start.
func SplitBody(body []byte) ([]Locals, int, error) {
	r := &reader{b: body}
	n, err := r.count("local declaration count", 2)
	if err != nil {
		return nil, 0, err
	}
	ls := make([]Locals, n)
	total := uint64(0)
	for i := range ls {
		if ls[i].Count, err = r.u32("local count"); err != nil {
			return nil, 0, err
		}
		total += uint64(ls[i].Count)
		if total > 50000 {
			return nil, 0, r.fail(fmt.Sprintf("%d locals, more than 50,000", total), nil)
		}
		if ls[i].Type, err = r.valType("local type"); err != nil {
			return nil, 0, err
		}
	}
	return ls, r.pos, nil
}
