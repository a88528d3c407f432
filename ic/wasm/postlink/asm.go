package postlink

import (
	"github.com/icws/icws/ic/leb128"
	"github.com/icws/icws/ic/wasm"
)

// asm writes a function body: local declarations, then instructions, then end.
type asm struct{ b []byte }

// newAsm starts a body with the given extra locals, all of type t (none if n is 0).
func newAsm(n int, t wasm.ValType) *asm {
	if n == 0 {
		return &asm{b: []byte{0}}
	}
	return &asm{b: append(leb128.AppendUint([]byte{1}, uint64(n)), byte(t))}
}

func (a *asm) op(ops ...byte) *asm { a.b = append(a.b, ops...); return a }

func (a *asm) u(op byte, v uint32) *asm {
	a.b = leb128.AppendUint(append(a.b, op), uint64(v))
	return a
}

func (a *asm) localGet(i uint32) *asm  { return a.u(0x20, i) }
func (a *asm) localSet(i uint32) *asm  { return a.u(0x21, i) }
func (a *asm) globalGet(i uint32) *asm { return a.u(0x23, i) }
func (a *asm) globalSet(i uint32) *asm { return a.u(0x24, i) }
func (a *asm) call(f uint32) *asm      { return a.u(0x10, f) }
func (a *asm) br(depth uint32) *asm    { return a.u(0x0c, depth) }
func (a *asm) brIf(depth uint32) *asm  { return a.u(0x0d, depth) }

func (a *asm) i32(v int32) *asm {
	a.b = leb128.AppendInt(append(a.b, 0x41), int64(v))
	return a
}

func (a *asm) i64(v int64) *asm {
	a.b = leb128.AppendInt(append(a.b, 0x42), v)
	return a
}

// mem writes a load or store with alignment 0 and the offset.
func (a *asm) mem(op byte, offset uint32) *asm {
	a.b = leb128.AppendUint(append(a.b, op, 0), uint64(offset))
	return a
}

// The opcodes asm's callers use by value.
const (
	opBlock    = 0x02
	opLoop     = 0x03
	opIf       = 0x04
	opEnd      = 0x0b
	opReturn   = 0x0f
	opDrop     = 0x1a
	opI32Load  = 0x28
	opI32Store = 0x36
	opI64Store = 0x37
	opStore8   = 0x3a
	opI32Eqz   = 0x45
	opI32Eq    = 0x46
	opI32GeU   = 0x4f
	opI32Add   = 0x6a
	opI32Mul   = 0x6c
	opI64Add   = 0x7c
	opI64Mul   = 0x7e
	opI64ShrU  = 0x88
	opWrapI64  = 0xa7
	opUnreach  = 0x00
	blockVoid  = 0x40
)

// done ends the body.
func (a *asm) done() []byte { return append(a.b, opEnd) }

// trapWith writes message into memory at address 0, eight bytes at a time, and calls ic0.trap
// on it. The trap rolls the message's every change back, the bytes it overwrote included.
func (a *asm) trapWith(trap uint32, message string) *asm {
	m := []byte(message)
	for len(m)%8 != 0 {
		m = append(m, 0)
	}
	for off := 0; off < len(m); off += 8 {
		var v uint64
		for i := 7; i >= 0; i-- {
			v = v<<8 | uint64(m[off+i])
		}
		a.i32(0).i64(int64(v)).mem(opI64Store, uint32(off))
	}
	return a.i32(0).i32(int32(len(message))).call(trap).op(opUnreach)
}
