package wasmhost

import (
	"encoding/binary"
	"errors"
	"fmt"
	"strconv"
)

// layout is what the host needs to know of a module's sections before compiling it.
type layout struct {
	importedGlobals, definedGlobals uint64
	importedTables, definedTables   uint64
	tableExported                   bool
	wasm64                          bool
	exportSection                   [2]int // start and end of the export section's contents; zero if none
	exportHeader                    int    // where the export section (its id byte) starts
	exportCount                     uint64
	start                           [2]int // the start section, id byte to end; zero if none
	startFunc                       uint64
	insertAt                        int // where a new export section goes if there is none
}

// Export names the host adds to every module so that it can save and restore the module's
// state: every global, and the first table (for callbacks).
const (
	globalExportPrefix = "icws:global "
	tableExport        = "icws:table"
	startExport        = "icws:start"
)

var errTruncated = errors.New("truncated")

type reader struct {
	b   []byte
	off int
}

func (r *reader) byte() (byte, error) {
	if r.off >= len(r.b) {
		return 0, errTruncated
	}
	c := r.b[r.off]
	r.off++
	return c, nil
}

func (r *reader) uleb() (uint64, error) {
	v, n := binary.Uvarint(r.b[r.off:])
	if n <= 0 {
		return 0, fmt.Errorf("bad LEB128 at byte %d", r.off)
	}
	r.off += n
	return v, nil
}

func (r *reader) skip(n uint64) error {
	if n > uint64(len(r.b)-r.off) {
		return errTruncated
	}
	r.off += int(n)
	return nil
}

// scanLayout reads the section headers of a Wasm module and the few entries the host needs.
// Full validation is the compiler's and ic/wasm's job.
func scanLayout(wasm []byte) (*layout, error) {
	if len(wasm) < 8 || string(wasm[:4]) != "\x00asm" {
		return nil, &InvalidModuleError{Rule: "not a Wasm module (no \\0asm magic); give a .wasm or .wasm.gz file"}
	}
	if binary.LittleEndian.Uint32(wasm[4:8]) != 1 {
		return nil, &InvalidModuleError{Rule: "unsupported Wasm binary version " + strconv.Itoa(int(binary.LittleEndian.Uint32(wasm[4:8]))) + ", want 1"}
	}
	l := &layout{insertAt: len(wasm)}
	r := &reader{b: wasm, off: 8}
	placed := false
	for r.off < len(wasm) {
		start := r.off
		id, err := r.byte()
		if err != nil {
			return nil, err
		}
		size, err := r.uleb()
		if err != nil {
			return nil, &InvalidModuleError{Rule: "section header: " + err.Error()}
		}
		body := r.off
		if size > uint64(len(wasm)-body) {
			return nil, &InvalidModuleError{Rule: fmt.Sprintf("section %d of %d bytes runs past the end of the module", id, size)}
		}
		end := body + int(size)
		sr := &reader{b: wasm[:end], off: body}
		if !placed && id != 0 && id > 7 && id != 13 {
			l.insertAt, placed = start, true
		}
		switch id {
		case 2:
			if err := l.scanImports(sr); err != nil {
				return nil, &InvalidModuleError{Rule: "import section: " + err.Error()}
			}
		case 4:
			if l.definedTables, err = sr.uleb(); err != nil {
				return nil, &InvalidModuleError{Rule: "table section: " + err.Error()}
			}
		case 5:
			n, err := sr.uleb()
			if err == nil && n > 0 {
				var flags byte
				if flags, err = sr.byte(); err == nil {
					l.wasm64 = flags&0x04 != 0
				}
			}
			if err != nil {
				return nil, &InvalidModuleError{Rule: "memory section: " + err.Error()}
			}
		case 6:
			if l.definedGlobals, err = sr.uleb(); err != nil {
				return nil, &InvalidModuleError{Rule: "global section: " + err.Error()}
			}
		case 8:
			if l.startFunc, err = sr.uleb(); err != nil {
				return nil, &InvalidModuleError{Rule: "start section: " + err.Error()}
			}
			l.start = [2]int{start, end}
		case 7:
			if err := l.scanExports(sr); err != nil {
				return nil, &InvalidModuleError{Rule: "export section: " + err.Error()}
			}
			l.exportSection, l.exportHeader = [2]int{body, end}, start
		}
		r.off = end
	}
	return l, nil
}

func (l *layout) scanImports(r *reader) error {
	n, err := r.uleb()
	if err != nil {
		return err
	}
	for i := uint64(0); i < n; i++ {
		for range 2 { // module and field names
			sz, err := r.uleb()
			if err != nil {
				return err
			}
			if err := r.skip(sz); err != nil {
				return err
			}
		}
		kind, err := r.byte()
		if err != nil {
			return err
		}
		switch kind {
		case 0: // function: type index
			_, err = r.uleb()
		case 1: // table: reftype, limits
			l.importedTables++
			if _, err = r.byte(); err == nil {
				err = r.limits()
			}
		case 2: // memory: limits
			var flags byte
			if flags, err = r.byte(); err == nil {
				l.wasm64 = flags&0x04 != 0
				r.off--
				err = r.limits()
			}
		case 3: // global: valtype, mutability
			l.importedGlobals++
			err = r.skip(2)
		case 4: // tag
			if _, err = r.byte(); err == nil {
				_, err = r.uleb()
			}
		default:
			return fmt.Errorf("import %d has unknown kind %d", i, kind)
		}
		if err != nil {
			return err
		}
	}
	return nil
}

func (r *reader) limits() error {
	flags, err := r.byte()
	if err != nil {
		return err
	}
	if _, err := r.uleb(); err != nil {
		return err
	}
	if flags&0x01 != 0 {
		_, err = r.uleb()
	}
	return err
}

func (l *layout) scanExports(r *reader) error {
	n, err := r.uleb()
	if err != nil {
		return err
	}
	l.exportCount = n
	for i := uint64(0); i < n; i++ {
		sz, err := r.uleb()
		if err != nil {
			return err
		}
		if err := r.skip(sz); err != nil {
			return err
		}
		kind, err := r.byte()
		if err != nil {
			return err
		}
		idx, err := r.uleb()
		if err != nil {
			return err
		}
		if kind == 1 && idx == 0 {
			l.tableExported = true
		}
	}
	return nil
}

// withStateExports returns the module with exports added for every global and for table 0,
// so that the host can read and restore them. It changes no index.
func withStateExports(wasm []byte, l *layout) []byte {
	var extra []byte
	count := l.exportCount
	for g := uint64(0); g < l.importedGlobals+l.definedGlobals; g++ {
		name := globalExportPrefix + strconv.FormatUint(g, 10)
		extra = binary.AppendUvarint(extra, uint64(len(name)))
		extra = append(extra, name...)
		extra = append(extra, 3)
		extra = binary.AppendUvarint(extra, g)
		count++
	}
	if !l.tableExported && l.importedTables+l.definedTables > 0 {
		extra = binary.AppendUvarint(extra, uint64(len(tableExport)))
		extra = append(extra, tableExport...)
		extra = append(extra, 1, 0)
		count++
	}
	if l.start != [2]int{} {
		// The host runs the start function itself, after it has set the memory up.
		extra = binary.AppendUvarint(extra, uint64(len(startExport)))
		extra = append(extra, startExport...)
		extra = append(extra, 0)
		extra = binary.AppendUvarint(extra, l.startFunc)
		count++
		wasm = append(wasm[:l.start[0]:l.start[0]], wasm[l.start[1]:]...)
	}
	if count == l.exportCount {
		return wasm
	}
	var entries []byte
	before, after := wasm[:l.insertAt], wasm[l.insertAt:]
	if l.exportSection != [2]int{} {
		r := &reader{b: wasm, off: l.exportSection[0]}
		_, _ = r.uleb() // the old count, read before
		entries = append(entries, wasm[r.off:l.exportSection[1]]...)
		before, after = wasm[:l.exportHeader], wasm[l.exportSection[1]:]
	}
	entries = append(entries, extra...)
	body := binary.AppendUvarint(nil, count)
	body = append(body, entries...)
	out := make([]byte, 0, len(wasm)+len(extra)+16)
	out = append(out, before...)
	out = append(out, 7)
	out = binary.AppendUvarint(out, uint64(len(body)))
	out = append(out, body...)
	return append(out, after...)
}
