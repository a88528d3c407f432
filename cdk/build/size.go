package build

import (
	"cmp"
	"fmt"
	"io"
	"slices"
	"strings"

	"github.com/icws/icws/ic/wasm"
)

// Size is where a module's bytes go: what `icws build --size` prints.
type Size struct {
	Total     int           // the module's bytes
	Code      int           // function bodies
	Functions int           // defined functions
	Data      int           // data segment contents
	Segments  int           // data segments
	Custom    []SectionSize // each custom section, its name and contents
	Other     int           // the rest: headers, types, imports, exports, the table, globals
	// Packages is the code by Go package, largest first, read from the name section; empty
	// when the module has none (built without Options.KeepNames and measured after).
	Packages []PackageSize
}

// SectionSize is one custom section's size.
type SectionSize struct {
	Name     string
	Bytes    int
	Stripped bool // removed from the built module (Build without Options.KeepNames)
}

// PackageSize is the code of one Go package.
type PackageSize struct {
	Package   string // the import path ("(post-linker)" for the functions Link added)
	Bytes     int
	Functions int
}

// Measure breaks a module down (see Size). packages are the import paths that went into it
// (go list -deps), which attribute each function name to its package; a name no path matches
// is attributed to the text before its first dot.
func Measure(module []byte, packages []string) (*Size, error) {
	m, err := wasm.Decode(module)
	if err != nil {
		return nil, fmt.Errorf("%w: measuring the module: %w", ErrBuild, err)
	}
	s := &Size{Total: len(module), Functions: len(m.Codes), Segments: len(m.Data)}
	for _, c := range m.Codes {
		s.Code += len(c.Body)
	}
	for _, d := range m.Data {
		s.Data += len(d.Init)
	}
	custom := 0
	for _, sec := range m.Sections {
		if sec.ID == wasm.SecCustom {
			n := len(sec.Custom.Name) + len(sec.Custom.Data)
			s.Custom = append(s.Custom, SectionSize{Name: sec.Custom.Name, Bytes: n})
			custom += n
		}
	}
	s.Other = s.Total - s.Code - s.Data - custom
	names, err := m.FunctionNames()
	if err != nil {
		return nil, fmt.Errorf("%w: the name section: %w", ErrBuild, err)
	}
	if len(names) == 0 {
		return s, nil
	}
	// The Go linker's wasm names spell every byte but letters, digits, '.' and '_' as '_'.
	byMangled := map[string]string{}
	for _, p := range packages {
		byMangled[mangle(p)] = p
	}
	per := map[string]*PackageSize{}
	imported := uint32(m.NumImportedFuncs())
	for i, c := range m.Codes {
		pkg := packageOf(names[imported+uint32(i)], byMangled)
		p := per[pkg]
		if p == nil {
			p = &PackageSize{Package: pkg}
			per[pkg] = p
		}
		p.Bytes += len(c.Body)
		p.Functions++
	}
	for _, p := range per {
		s.Packages = append(s.Packages, *p)
	}
	slices.SortFunc(s.Packages, func(a, b PackageSize) int {
		return cmp.Or(cmp.Compare(b.Bytes, a.Bytes), cmp.Compare(a.Package, b.Package))
	})
	return s, nil
}

// mangle spells an import path as Go's wasm linker does in function names.
func mangle(path string) string {
	return strings.Map(func(r rune) rune {
		if r == '.' || r == '_' || (r >= 'a' && r <= 'z') || (r >= 'A' && r <= 'Z') || (r >= '0' && r <= '9') {
			return r
		}
		return '_'
	}, path)
}

// packageOf is the import path of the function named name: the longest of byMangled followed
// by a dot. The generated equality functions (type:.eq.T) count for T's package.
func packageOf(name string, byMangled map[string]string) string {
	if name == "" {
		return "(post-linker)"
	}
	name = strings.TrimPrefix(name, "type_.eq.")
	best := ""
	for i := 0; i < len(name); i++ {
		if name[i] != '.' {
			continue
		}
		if p, ok := byMangled[name[:i]]; ok {
			best = p // later dots give longer prefixes
		}
	}
	if best != "" {
		return best
	}
	if i := strings.IndexByte(name, '.'); i > 0 {
		return name[:i]
	}
	return name
}

// Print writes the breakdown as a table; top bounds the packages listed (the rest are summed).
func (s *Size) Print(w io.Writer, top int) {
	pct := func(n int) float64 { return 100 * float64(n) / float64(max(s.Total, 1)) }
	fmt.Fprintf(w, "  size     %d bytes\n", s.Total)
	fmt.Fprintf(w, "    code      %9d  %5.1f%%  %d functions\n", s.Code, pct(s.Code), s.Functions)
	fmt.Fprintf(w, "    data      %9d  %5.1f%%  %d segments (Go's rodata, type data, pclntab: what its runtime reads)\n", s.Data, pct(s.Data), s.Segments)
	for _, c := range s.Custom {
		note := ""
		if c.Stripped {
			note = " (removed; --keep-names keeps it)"
		}
		fmt.Fprintf(w, "    custom    %9d  %5.1f%%  %s%s\n", c.Bytes, pct(c.Bytes), c.Name, note)
	}
	fmt.Fprintf(w, "    other     %9d  %5.1f%%  headers, types, imports, exports, table, globals\n", s.Other, pct(s.Other))
	if len(s.Packages) == 0 {
		fmt.Fprintln(w, "  code by package: no name section (build with --keep-names)")
		return
	}
	fmt.Fprintln(w, "  code by package")
	rest, restFuncs := 0, 0
	for i, p := range s.Packages {
		if i >= top {
			rest += p.Bytes
			restFuncs += p.Functions
			continue
		}
		fmt.Fprintf(w, "    %9d  %5.1f%%  %5d  %s\n", p.Bytes, pct(p.Bytes), p.Functions, p.Package)
	}
	if n := len(s.Packages) - top; n > 0 {
		fmt.Fprintf(w, "    %9d  %5.1f%%  %5d  (%d more packages)\n", rest, pct(rest), restFuncs, n)
	}
}
