package wasmhost

const (
	stablePage    = 64 << 10 // a stable memory page, as stable64_size counts it
	maxStableSize = 500 << 30
	undoPage      = 4 << 10 // the granule of the stable memory undo journal
)

// stableMem is the canister's stable memory with an undo journal for the running message:
// the first write to each 4 KiB granule saves its old bytes.
type stableMem struct {
	data    []byte
	undo    map[uint64][]byte
	oldSize int
	marked  bool
}

func (s *stableMem) begin() { s.oldSize, s.marked = len(s.data), true }

func (s *stableMem) touch(off, n uint64) {
	for g := off / undoPage; g*undoPage < off+n; g++ {
		if _, ok := s.undo[g]; ok {
			continue
		}
		if s.undo == nil {
			s.undo = make(map[uint64][]byte)
		}
		lo := g * undoPage
		if lo >= uint64(s.oldSize) {
			s.undo[g] = nil // above the old size: dropped by the truncation
			continue
		}
		hi := min(lo+undoPage, uint64(s.oldSize))
		s.undo[g] = append([]byte(nil), s.data[lo:hi]...)
	}
}

// rollback undoes the running message's writes and growth.
func (s *stableMem) rollback() {
	for g, old := range s.undo {
		copy(s.data[g*undoPage:], old)
	}
	clear(s.data[s.oldSize:])
	s.data = s.data[:s.oldSize]
	s.commit()
}

func (s *stableMem) commit() { clear(s.undo); s.marked = false }

func (x *exec) stableSize([]uint64) uint64 { return uint64(len(x.stable.data)) / stablePage }

func (x *exec) stableSize32([]uint64) uint64 {
	n := x.stableSize(nil)
	if n > 1<<16-1 {
		x.fail(TrapContractViolation, "ic0.stable_size: stable memory of %d pages is too large for the 32-bit API; use ic0.stable64_size", n)
	}
	return n
}

func (x *exec) stableGrow(a []uint64) uint64 {
	old := x.stableSize(nil)
	if a[0] > (maxStableSize-uint64(len(x.stable.data)))/stablePage {
		return ^uint64(0)
	}
	x.stable.data = append(x.stable.data, make([]byte, a[0]*stablePage)...)
	return old
}

func (x *exec) stableGrow32(a []uint64) uint64 {
	old := x.stableSize(nil)
	if old+uint64(uint32(a[0])) > 1<<16 {
		return uint64(uint32(0xffffffff))
	}
	return x.stableGrow(a)
}

func (x *exec) stableRange(off, n uint64) {
	if off > uint64(len(x.stable.data)) || n > uint64(len(x.stable.data))-off {
		x.fail(TrapWasm, "ic0.%s: stable memory access [%d, %d+%d) is out of bounds (size %d bytes)", x.fn, off, off, n, len(x.stable.data))
	}
}

func (x *exec) stableWrite(a []uint64) uint64 {
	off, src, n := a[0], a[1], a[2]
	x.stableRange(off, n)
	b := x.mem(x.fn, src, n)
	x.stable.touch(off, n)
	copy(x.stable.data[off:], b)
	return 0
}

func (x *exec) stableRead(a []uint64) uint64 {
	dst, off, n := a[0], a[1], a[2]
	x.stableRange(off, n)
	copy(x.mem(x.fn, dst, n), x.stable.data[off:off+n])
	return 0
}
