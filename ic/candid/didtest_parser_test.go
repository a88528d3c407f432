package candid

// A parser for the test files of the official Candid conformance suite (dfinity/candid
// test/*.test.did): Candid type definitions followed by assertions. Textual Candid values are
// kept as text; only blob inputs are decoded by the tests.

import (
	"fmt"
	"strconv"
	"strings"
	"unicode/utf8"
)

type tokKind int

const (
	tokEOF tokKind = iota
	tokIdent
	tokNat
	tokText
	tokSym
)

type token struct {
	kind tokKind
	text string // identifier, symbol or decimal number; for tokText the decoded bytes
	line int
}

func lexDid(src string) ([]token, error) {
	var toks []token
	line := 1
	i := 0
	for i < len(src) {
		c := src[i]
		switch {
		case c == '\n':
			line++
			i++
		case c == ' ' || c == '\t' || c == '\r':
			i++
		case strings.HasPrefix(src[i:], "//"):
			for i < len(src) && src[i] != '\n' {
				i++
			}
		case strings.HasPrefix(src[i:], "/*"):
			depth := 0
			for i < len(src) {
				if strings.HasPrefix(src[i:], "/*") {
					depth++
					i += 2
				} else if strings.HasPrefix(src[i:], "*/") {
					depth--
					i += 2
					if depth == 0 {
						break
					}
				} else {
					if src[i] == '\n' {
						line++
					}
					i++
				}
			}
			if depth != 0 {
				return nil, fmt.Errorf("line %d: unterminated comment", line)
			}
		case c == '_' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z':
			j := i
			for j < len(src) && (src[j] == '_' || src[j] >= 'a' && src[j] <= 'z' || src[j] >= 'A' && src[j] <= 'Z' || src[j] >= '0' && src[j] <= '9') {
				j++
			}
			toks = append(toks, token{tokIdent, src[i:j], line})
			i = j
		case c >= '0' && c <= '9':
			j := i
			for j < len(src) && (src[j] >= '0' && src[j] <= '9' || src[j] == '_') {
				j++
			}
			toks = append(toks, token{tokNat, strings.ReplaceAll(src[i:j], "_", ""), line})
			i = j
		case c == '"':
			b, n, err := unquoteDid(src[i:])
			if err != nil {
				return nil, fmt.Errorf("line %d: %w", line, err)
			}
			toks = append(toks, token{tokText, b, line})
			i += n
		default:
			for _, s := range []string{"==", "!=", "!:", "->", "(", ")", "{", "}", ";", ",", ":", "=", "."} {
				if strings.HasPrefix(src[i:], s) {
					toks = append(toks, token{tokSym, s, line})
					i += len(s)
					goto next
				}
			}
			return nil, fmt.Errorf("line %d: unexpected character %q", line, c)
		next:
		}
	}
	return append(toks, token{tokEOF, "", line}), nil
}

// unquoteDid decodes a Candid text literal at the start of s and returns its bytes and length.
func unquoteDid(s string) (string, int, error) {
	var b strings.Builder
	i := 1
	for i < len(s) {
		c := s[i]
		switch {
		case c == '"':
			return b.String(), i + 1, nil
		case c != '\\':
			b.WriteByte(c)
			i++
			continue
		}
		if i+1 >= len(s) {
			break
		}
		e := s[i+1]
		switch e {
		case 'n':
			b.WriteByte('\n')
		case 't':
			b.WriteByte('\t')
		case 'r':
			b.WriteByte('\r')
		case '\\', '"', '\'':
			b.WriteByte(e)
		case 'u':
			end := strings.IndexByte(s[i:], '}')
			if !strings.HasPrefix(s[i+2:], "{") || end < 0 {
				return "", 0, fmt.Errorf("bad \\u escape")
			}
			v, err := strconv.ParseUint(strings.ReplaceAll(s[i+3:i+end], "_", ""), 16, 32)
			if err != nil || !utf8.ValidRune(rune(v)) {
				return "", 0, fmt.Errorf("bad \\u escape %q", s[i:i+end+1])
			}
			b.WriteRune(rune(v))
			i += end + 1
			continue
		default:
			if i+3 > len(s) {
				return "", 0, fmt.Errorf("bad escape")
			}
			v, err := strconv.ParseUint(s[i+1:i+3], 16, 8)
			if err != nil {
				return "", 0, fmt.Errorf("bad escape %q", s[i:i+3])
			}
			b.WriteByte(byte(v))
			i += 3
			continue
		}
		i += 2
	}
	return "", 0, fmt.Errorf("unterminated text literal")
}

// didInput is one side of an assertion: a textual value or a blob.
type didInput struct {
	blob   bool
	data   string // blob bytes or the textual value
	pretty string
}

type didAssert struct {
	line   int
	left   didInput
	op     string // ":", "!:", "==", "!="
	right  *didInput
	types  []*node
	desc   string
	source string // the types as written
}

type didFile struct {
	env     map[string]*node
	asserts []didAssert
}

type didParser struct {
	toks []token
	pos  int
	env  map[string]*node
}

func parseDidTest(src string) (*didFile, error) {
	toks, err := lexDid(src)
	if err != nil {
		return nil, err
	}
	p := &didParser{toks: toks, env: map[string]*node{}}
	f := &didFile{env: p.env}
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("%v", r)
		}
	}()
	for p.peek().kind != tokEOF {
		switch kw := p.next(); {
		case kw.kind == tokIdent && kw.text == "type":
			name := p.expectKind(tokIdent).text
			p.expect("=")
			body := p.datatype()
			p.expect(";")
			if n, ok := p.env[name]; ok {
				if n.kind != kindPlaceholder {
					return nil, fmt.Errorf("line %d: type %s defined twice", kw.line, name)
				}
				*n = *body
			} else {
				p.env[name] = body
			}
		case kw.kind == tokIdent && kw.text == "assert":
			a := didAssert{line: kw.line}
			a.left = p.input()
			a.op = p.next().text
			switch a.op {
			case ":", "!:":
			case "==", "!=":
				r := p.input()
				a.right = &r
				p.expect(":")
			default:
				return nil, fmt.Errorf("line %d: unexpected %q in assertion", kw.line, a.op)
			}
			start := p.pos
			a.types = p.tupleTypes()
			var parts []string
			for _, t := range p.toks[start:p.pos] {
				parts = append(parts, t.text)
			}
			a.source = strings.Join(parts, " ")
			if p.peek().kind == tokText {
				a.desc = p.next().text
			}
			p.expect(";")
			f.asserts = append(f.asserts, a)
		default:
			return nil, fmt.Errorf("line %d: unexpected %q", kw.line, kw.text)
		}
	}
	for name, n := range p.env {
		if n.kind == kindPlaceholder {
			return nil, fmt.Errorf("type %s is used but not defined", name)
		}
	}
	return f, err
}

func (p *didParser) peek() token { return p.toks[p.pos] }
func (p *didParser) peekAt(i int) token {
	if p.pos+i < len(p.toks) {
		return p.toks[p.pos+i]
	}
	return p.toks[len(p.toks)-1]
}

func (p *didParser) next() token {
	t := p.toks[p.pos]
	if t.kind != tokEOF {
		p.pos++
	}
	return t
}

func (p *didParser) failf(format string, args ...any) {
	panic(fmt.Sprintf("line %d: %s", p.peek().line, fmt.Sprintf(format, args...)))
}

func (p *didParser) expect(sym string) {
	if t := p.next(); t.kind != tokSym || t.text != sym {
		p.pos--
		p.failf("expected %q, found %q", sym, t.text)
	}
}

func (p *didParser) expectKind(k tokKind) token {
	t := p.next()
	if t.kind != k {
		p.pos--
		p.failf("unexpected %q", t.text)
	}
	return t
}

func (p *didParser) isSym(s string) bool {
	t := p.peek()
	return t.kind == tokSym && t.text == s
}

func (p *didParser) input() didInput {
	t := p.next()
	if t.kind == tokIdent && t.text == "blob" {
		s := p.expectKind(tokText)
		return didInput{blob: true, data: s.text, pretty: fmt.Sprintf("blob %x", s.text)}
	}
	if t.kind != tokText {
		p.pos--
		p.failf("expected an input, found %q", t.text)
	}
	return didInput{data: t.text, pretty: strconv.Quote(t.text)}
}

func (p *didParser) tupleTypes() []*node {
	p.expect("(")
	var out []*node
	for !p.isSym(")") {
		// Named arguments: name : type.
		if p.peek().kind == tokIdent && p.peekAt(1).kind == tokSym && p.peekAt(1).text == ":" {
			p.pos += 2
		}
		out = append(out, p.datatype())
		if !p.isSym(")") {
			p.expect(",")
		}
	}
	p.expect(")")
	return out
}

var primNames = map[string]Kind{
	"null": KindNull, "bool": KindBool, "nat": KindNat, "int": KindInt, "nat8": KindNat8,
	"nat16": KindNat16, "nat32": KindNat32, "nat64": KindNat64, "int8": KindInt8, "int16": KindInt16,
	"int32": KindInt32, "int64": KindInt64, "float32": KindFloat32, "float64": KindFloat64,
	"text": KindText, "reserved": KindReserved, "empty": KindEmpty, "principal": KindPrincipal,
}

func (p *didParser) datatype() *node {
	t := p.expectKind(tokIdent)
	if k, ok := primNames[t.text]; ok {
		return primNode(k)
	}
	switch t.text {
	case "opt":
		return &node{kind: KindOpt, elem: p.datatype()}
	case "vec":
		return &node{kind: KindVec, elem: p.datatype()}
	case "blob":
		return &node{kind: KindVec, elem: primNode(KindNat8)}
	case "record", "variant":
		return p.fields(t.text == "variant")
	case "func":
		return p.functype()
	case "service":
		return p.service()
	}
	if n, ok := p.env[t.text]; ok {
		return n
	}
	n := &node{kind: kindPlaceholder}
	p.env[t.text] = n
	return n
}

func (p *didParser) label() (field, bool) {
	t, colon := p.peek(), p.peekAt(1)
	hasColon := colon.kind == tokSym && colon.text == ":"
	switch t.kind {
	case tokNat:
		id, err := strconv.ParseUint(t.text, 10, 32)
		if err != nil {
			p.failf("bad field id %s", t.text)
		}
		p.pos++
		return field{id: uint32(id)}, hasColon
	case tokText:
		p.pos++
		return field{id: Hash(t.text), name: t.text}, hasColon
	case tokIdent:
		p.pos++
		return field{id: Hash(t.text), name: t.text}, hasColon
	}
	p.failf("expected a field label, found %q", t.text)
	return field{}, false
}

func (p *didParser) fields(variant bool) *node {
	p.expect("{")
	n := &node{kind: KindRecord}
	if variant {
		n.kind = KindVariant
	}
	next := uint32(0)
	for !p.isSym("}") {
		var f field
		t, colon := p.peek(), p.peekAt(1)
		labelled := colon.kind == tokSym && colon.text == ":" && (t.kind == tokIdent || t.kind == tokNat || t.kind == tokText)
		switch {
		case labelled:
			f, _ = p.label()
			p.expect(":")
			f.typ = p.datatype()
		case variant:
			f, _ = p.label()
			f.typ = primNode(KindNull)
		default:
			f = field{id: next, typ: p.datatype()}
		}
		next = f.id + 1
		n.fields = append(n.fields, f)
		if !p.isSym("}") {
			p.expect(";")
		}
	}
	p.expect("}")
	sortFields(n.fields)
	for i := 1; i < len(n.fields); i++ {
		if n.fields[i].id == n.fields[i-1].id {
			p.failf("duplicate field id %d", n.fields[i].id)
		}
	}
	return n
}

func (p *didParser) functype() *node {
	sig := &funcSig{args: p.tupleTypes()}
	p.expect("->")
	sig.results = p.tupleTypes()
	for p.peek().kind == tokIdent {
		switch p.peek().text {
		case "query":
			sig.modes = append(sig.modes, Query)
		case "oneway":
			sig.modes = append(sig.modes, Oneway)
		case "composite_query":
			sig.modes = append(sig.modes, CompositeQuery)
		default:
			return &node{kind: KindFunc, fn: sig}
		}
		p.pos++
	}
	return &node{kind: KindFunc, fn: sig}
}

func (p *didParser) service() *node {
	p.expect("{")
	n := &node{kind: KindService}
	for !p.isSym("}") {
		f, _ := p.label()
		name := f.name
		if name == "" {
			name = strconv.FormatUint(uint64(f.id), 10)
		}
		p.expect(":")
		var typ *node
		if p.isSym("(") {
			typ = p.functype()
		} else {
			typ = p.datatype()
		}
		n.methods = append(n.methods, method{name: name, typ: typ})
		if !p.isSym("}") {
			p.expect(";")
		}
	}
	p.expect("}")
	for i := 1; i < len(n.methods); i++ {
		for j := i; j > 0 && n.methods[j].name < n.methods[j-1].name; j-- {
			n.methods[j], n.methods[j-1] = n.methods[j-1], n.methods[j]
		}
	}
	return n
}
