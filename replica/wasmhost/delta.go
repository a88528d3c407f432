package wasmhost

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"slices"
)

// Incremental is an Instance that can save its state in pieces: a whole Checkpoint, then Deltas
// of the 4 KiB pages of heap and stable memory that committed messages changed since, so that
// the cost of saving a canister after a message is proportional to what the message wrote.
// ApplyDeltas rebuilds the state (a Snapshot, as Restore takes) from a checkpoint and its deltas.
type Incremental interface {
	// Checkpoint returns the instance's whole state, as Snapshot, and starts a new delta.
	Checkpoint() ([]byte, error)
	// Delta returns what changed since the last Checkpoint or Delta and starts a new delta.
	Delta() ([]byte, error)
}

const deltaMagic = "icws-wasm-delta-1\n"

// dirtySet is the set of 4 KiB pages written since the last Checkpoint or Delta; all means
// every page.
type dirtySet struct {
	pages map[uint64]struct{}
	all   bool
}

func (d *dirtySet) add(p uint64) {
	if d.all {
		return
	}
	if d.pages == nil {
		d.pages = make(map[uint64]struct{})
	}
	d.pages[p] = struct{}{}
}

func (d *dirtySet) reset() { clear(d.pages); d.all = false }

// sorted returns the dirty pages of a memory of n bytes in increasing order.
func (d *dirtySet) sorted(n int) []uint64 {
	if d.all {
		out := make([]uint64, 0, (n+heapPage-1)/heapPage)
		for p := uint64(0); p*heapPage < uint64(n); p++ {
			out = append(out, p)
		}
		return out
	}
	out := make([]uint64, 0, len(d.pages))
	for p := range d.pages {
		if p*heapPage < uint64(n) {
			out = append(out, p)
		}
	}
	slices.Sort(out)
	return out
}

// Checkpoint implements Incremental.
func (i *instance) Checkpoint() ([]byte, error) {
	snap, err := i.Snapshot()
	if err != nil {
		return nil, err
	}
	i.mu.Lock()
	i.dirtyHeap.reset()
	i.dirtyStable.reset()
	i.mu.Unlock()
	return snap, nil
}

// Delta implements Incremental: magic, module hash, globals, heap length, dirty heap pages,
// stable memory length, dirty stable pages (each page: its index, then its bytes up to the
// memory's end).
func (i *instance) Delta() ([]byte, error) {
	i.mu.Lock()
	defer i.mu.Unlock()
	b := append([]byte(deltaMagic), i.mod.info.Hash[:]...)
	b = binary.AppendUvarint(b, uint64(len(i.globals)))
	for _, v := range i.saveGlobals() {
		b = binary.LittleEndian.AppendUint64(b, v)
	}
	for _, m := range []struct {
		data  []byte
		dirty *dirtySet
	}{{i.shadow, &i.dirtyHeap}, {i.stable.data, &i.dirtyStable}} {
		pages := m.dirty.sorted(len(m.data))
		b = binary.AppendUvarint(b, uint64(len(m.data)))
		b = binary.AppendUvarint(b, uint64(len(pages)))
		for _, p := range pages {
			b = binary.AppendUvarint(b, p)
			b = append(b, m.data[p*heapPage:min((p+1)*heapPage, uint64(len(m.data)))]...)
		}
		m.dirty.reset()
	}
	return b, nil
}

// snapshotImage is a parsed Snapshot.
type snapshotImage struct {
	hash    []byte
	globals []uint64
	heap    []byte
	stable  []byte
}

func parseSnapshot(snap []byte) (*snapshotImage, error) {
	if !bytes.HasPrefix(snap, []byte(snapshotMagic)) || len(snap) < len(snapshotMagic)+32 {
		return nil, fmt.Errorf("%w: not an icws Wasm snapshot", ErrBadSnapshot)
	}
	r := &reader{b: snap, off: len(snapshotMagic) + 32}
	img := &snapshotImage{hash: snap[len(snapshotMagic) : len(snapshotMagic)+32]}
	var err error
	if img.globals, err = readGlobals(r); err != nil {
		return nil, err
	}
	hn, err := r.uleb()
	if err != nil || hn > uint64(len(snap)-r.off) {
		return nil, fmt.Errorf("%w: truncated heap", ErrBadSnapshot)
	}
	img.heap = snap[r.off : r.off+int(hn)]
	r.off += int(hn)
	sn, err := r.uleb()
	if err != nil || sn != uint64(len(snap)-r.off) {
		return nil, fmt.Errorf("%w: truncated stable memory", ErrBadSnapshot)
	}
	img.stable = snap[r.off:]
	return img, nil
}

func readGlobals(r *reader) ([]uint64, error) {
	n, err := r.uleb()
	if err != nil || n > uint64(len(r.b)-r.off)/8 {
		return nil, fmt.Errorf("%w: truncated globals", ErrBadSnapshot)
	}
	g := make([]uint64, n)
	for k := range g {
		g[k] = binary.LittleEndian.Uint64(r.b[r.off:])
		r.off += 8
	}
	return g, nil
}

func (img *snapshotImage) encode() []byte {
	b := make([]byte, 0, len(snapshotMagic)+32+16+8*len(img.globals)+len(img.heap)+len(img.stable))
	b = append(append(b, snapshotMagic...), img.hash...)
	b = binary.AppendUvarint(b, uint64(len(img.globals)))
	for _, v := range img.globals {
		b = binary.LittleEndian.AppendUint64(b, v)
	}
	b = binary.AppendUvarint(b, uint64(len(img.heap)))
	b = append(b, img.heap...)
	b = binary.AppendUvarint(b, uint64(len(img.stable)))
	return append(b, img.stable...)
}

// maxDeltaMemory bounds the memory sizes a delta may give (heap: 4 GiB of wasm32 or the wasm64
// limit of the host; stable memory: the IC's 500 GiB would not fit a machine anyway). The growth
// a delta gives is bounded by the pages it carries besides.
const maxDeltaMemory = 1 << 36

// ApplyDeltas returns the Snapshot that the Checkpoint snap followed by the Deltas gives. It
// checks that every piece is of the same module and well formed.
func ApplyDeltas(snap []byte, deltas ...[]byte) ([]byte, error) {
	img, err := parseSnapshot(snap)
	if err != nil {
		return nil, err
	}
	if len(deltas) == 0 {
		return snap, nil
	}
	img.heap, img.stable = bytes.Clone(img.heap), bytes.Clone(img.stable)
	for k, d := range deltas {
		if err := img.apply(d); err != nil {
			return nil, fmt.Errorf("delta %d: %w", k, err)
		}
	}
	return img.encode(), nil
}

func (img *snapshotImage) apply(d []byte) error {
	if !bytes.HasPrefix(d, []byte(deltaMagic)) || len(d) < len(deltaMagic)+32 {
		return fmt.Errorf("%w: not an icws Wasm delta", ErrBadSnapshot)
	}
	if h := d[len(deltaMagic) : len(deltaMagic)+32]; !bytes.Equal(h, img.hash) {
		return fmt.Errorf("%w: the delta is of another module (hash %x, want %x)", ErrBadSnapshot, h, img.hash)
	}
	r := &reader{b: d, off: len(deltaMagic) + 32}
	g, err := readGlobals(r)
	if err != nil {
		return err
	}
	if len(g) != len(img.globals) {
		return fmt.Errorf("%w: %d globals, the snapshot has %d", ErrBadSnapshot, len(g), len(img.globals))
	}
	img.globals = g
	for _, mem := range []*[]byte{&img.heap, &img.stable} {
		size, err := r.uleb()
		if err != nil || size > maxDeltaMemory {
			return fmt.Errorf("%w: bad memory size", ErrBadSnapshot)
		}
		n, err := r.uleb()
		if err != nil || n > size/heapPage+1 || n > uint64(len(r.b)-r.off) {
			return fmt.Errorf("%w: bad page count", ErrBadSnapshot)
		}
		// Memory only grows, and a delta carries every grown page's bytes: growth beyond the
		// bytes left in the delta is not one Delta made (and would allocate at will).
		if size > uint64(len(*mem))+uint64(len(r.b)-r.off) {
			return fmt.Errorf("%w: memory of %d bytes grown to %d with %d pages", ErrBadSnapshot, len(*mem), size, n)
		}
		if int(size) > len(*mem) {
			*mem = append(*mem, make([]byte, int(size)-len(*mem))...)
		}
		*mem = (*mem)[:size]
		for range n {
			p, err := r.uleb()
			if err != nil || p*heapPage >= size {
				return fmt.Errorf("%w: page index out of range", ErrBadSnapshot)
			}
			end := min((p+1)*heapPage, size)
			ln := int(end - p*heapPage)
			if ln > len(r.b)-r.off {
				return fmt.Errorf("%w: truncated page", ErrBadSnapshot)
			}
			copy((*mem)[p*heapPage:end], r.b[r.off:r.off+ln])
			r.off += ln
		}
	}
	if r.off != len(d) {
		return fmt.Errorf("%w: %d bytes after the delta", ErrBadSnapshot, len(d)-r.off)
	}
	return nil
}
