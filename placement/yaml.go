package placement

import (
	"fmt"
	"math"
	"math/big"
	"regexp"
	"strconv"
	"strings"
	"unicode/utf8"
)

// This file is the YAML reader for provider config files, which are its only
// user. No YAML library may be added, so it reads the subset such files are
// written in and resolves scalars as PyYAML's safe_load (YAML 1.1) does, so
// that a file means here what it means to Nova:
//
//   - block mappings and block sequences (including "- key: value" items
//     that open a mapping), indented with spaces;
//   - plain, 'single-quoted' and "double-quoted" scalars on one line;
//   - flow sequences [a, b] and flow mappings {a: 1} closed on their line;
//   - comments, blank lines, one leading "---" and a final "...".
//
// Everything else (anchors, aliases, tags, block scalars, multi-line
// scalars, multiple documents, tabs, directives, complex keys, dates) is
// refused with a *yamlError naming the file and line: a file is never read
// differently from the way Nova would read it. Duplicate keys, which PyYAML
// lets the last one win, are refused too.

// yamlKind is the kind of a parsed node.
type yamlKind int

const (
	yamlScalar yamlKind = iota
	yamlSeq
	yamlMap
)

// yamlNode is a parsed node and the line it starts on, kept for messages
// about the provider config schema.
type yamlNode struct {
	kind yamlKind
	line int
	// value is a scalar's resolved value: nil, bool, int64, float64 or
	// string. src is how it was written, for messages.
	value any
	src   string
	// items are a sequence's entries.
	items []*yamlNode
	// keys are a mapping's keys in file order; fields their values.
	keys   []string
	fields map[string]*yamlNode
}

// plain returns the node as plain Go values: map[string]any, []any and the
// scalar types.
func (n *yamlNode) plain() any {
	if n == nil {
		return nil
	}
	switch n.kind {
	case yamlSeq:
		out := make([]any, len(n.items))
		for i, it := range n.items {
			out[i] = it.plain()
		}
		return out
	case yamlMap:
		out := make(map[string]any, len(n.keys))
		for _, k := range n.keys {
			out[k] = n.fields[k].plain()
		}
		return out
	}
	return n.value
}

// yamlError is a file that is not YAML, or not the subset read here, or
// whose content does not fit the provider config schema.
type yamlError struct {
	File string
	Line int
	Msg  string
}

func (e *yamlError) Error() string { return fmt.Sprintf("%s line %d: %s", e.File, e.Line, e.Msg) }

// clip shortens text quoted in a message.
func clip(s string) string {
	const limit = 60
	if len(s) <= limit {
		return s
	}
	i := limit
	for i > 0 && !utf8.RuneStart(s[i]) {
		i--
	}
	return s[:i] + "..."
}

// maxYAMLDepth bounds nesting so that hostile input cannot exhaust the stack;
// provider configs nest five levels deep.
const maxYAMLDepth = 64

type yamlLine struct {
	num    int
	indent int
	text   string // without the indentation; never empty nor a whole-line comment
}

type yamlParser struct {
	file  string
	lines []yamlLine
	pos   int
	depth int
}

func (p *yamlParser) errf(line int, format string, args ...any) error {
	return &yamlError{File: p.file, Line: line, Msg: fmt.Sprintf(format, args...)}
}

// parseYAML reads one provider config document in the subset described at
// the top of this file; file names it in errors. An empty document (only
// comments and blank lines) gives nil, as safe_load gives None.
func parseYAML(file string, data []byte) (*yamlNode, error) {
	p := &yamlParser{file: file}
	if err := p.splitLines(data); err != nil {
		return nil, err
	}
	if len(p.lines) == 0 {
		return nil, nil
	}
	n, err := p.block(-1, false, 1)
	if err != nil {
		return nil, err
	}
	if p.pos < len(p.lines) {
		l := p.lines[p.pos]
		return nil, p.errf(l.num, "this line is indented less than the document's first line (%d spaces, not %d)",
			l.indent, p.lines[0].indent)
	}
	return n, nil
}

// splitLines checks the characters and cuts the content lines out,
// handling the document markers.
func (p *yamlParser) splitLines(data []byte) error {
	s := string(data)
	s = strings.TrimPrefix(s, "\uFEFF")
	started, ended := false, false
	for num := 1; len(s) > 0; num++ {
		raw, rest, _ := strings.Cut(s, "\n")
		s = rest
		raw = strings.TrimSuffix(raw, "\r")
		if err := p.checkChars(num, raw); err != nil {
			return err
		}
		text := strings.TrimLeft(raw, " ")
		indent := len(raw) - len(text)
		if strings.HasPrefix(text, "\t") {
			return p.errf(num, "tab character in the indentation (YAML indents with spaces only)")
		}
		if text == "" || text[0] == '#' {
			continue
		}
		if ended {
			return p.errf(num, "content after the document end marker \"...\": multiple documents are not supported")
		}
		if indent == 0 {
			switch {
			case isMarker(text, "---"):
				if started || len(p.lines) > 0 {
					return p.errf(num, "a second document (\"---\"): multiple documents are not supported")
				}
				if !markerOnly(text) {
					return p.errf(num, "content on the \"---\" line is not supported; start it on the next line")
				}
				started = true
				continue
			case isMarker(text, "..."):
				if !markerOnly(text) {
					return p.errf(num, "content after the document end marker \"...\" is not supported")
				}
				ended = true
				continue
			case text[0] == '%':
				return p.errf(num, "directives (%%YAML, %%TAG) are not supported")
			}
		}
		p.lines = append(p.lines, yamlLine{num: num, indent: indent, text: text})
	}
	return nil
}

func isMarker(text, m string) bool {
	return strings.HasPrefix(text, m) && (len(text) == 3 || text[3] == ' ' || text[3] == '\t')
}

func markerOnly(text string) bool {
	rest := strings.TrimLeft(text[3:], " ")
	return rest == "" || rest[0] == '#'
}

// checkChars refuses what PyYAML's reader refuses (non-printable
// characters) and the characters YAML 1.1 treats as line breaks, which
// this reader would otherwise read as ordinary text.
func (p *yamlParser) checkChars(num int, raw string) error {
	for i, r := range raw {
		switch {
		case r == utf8.RuneError && !strings.HasPrefix(raw[i:], "\uFFFD"):
			return p.errf(num, "the file is not valid UTF-8")
		case r == '\r':
			return p.errf(num, "carriage return without a line feed: old Mac line ends are not supported")
		case r == 0x85 || r == 0x2028 || r == 0x2029:
			return p.errf(num, "character U+%04X is a YAML line break; it is not supported", r)
		case r == 0xFEFF:
			return p.errf(num, "byte order mark U+FEFF inside the file")
		case r == '\t', r >= 0x20 && r <= 0x7E, r >= 0xA0 && r <= 0xD7FF, r >= 0xE000 && r <= 0xFFFD, r >= 0x10000:
		default:
			return p.errf(num, "character U+%04X is not allowed in YAML", r)
		}
	}
	return nil
}

func isSeqEntry(text string) bool { return text == "-" || strings.HasPrefix(text, "- ") }

// block parses the node starting at the current line if it is indented
// deeper than parent (or, with seqAtParent, a sequence at the parent's
// indentation, as YAML allows for a mapping's value). Otherwise the node is
// an empty value: null, on line nullLine.
func (p *yamlParser) block(parent int, seqAtParent bool, nullLine int) (*yamlNode, error) {
	if p.pos >= len(p.lines) {
		return &yamlNode{kind: yamlScalar, line: nullLine}, nil
	}
	l := p.lines[p.pos]
	if l.indent < parent || l.indent == parent && !(seqAtParent && isSeqEntry(l.text)) {
		return &yamlNode{kind: yamlScalar, line: nullLine}, nil
	}
	p.depth++
	defer func() { p.depth-- }()
	if p.depth > maxYAMLDepth {
		return nil, p.errf(l.num, "nesting deeper than %d levels", maxYAMLDepth)
	}
	if isSeqEntry(l.text) {
		return p.sequence(l.indent)
	}
	_, _, isMap, err := p.splitKey(l)
	if err != nil {
		return nil, err
	}
	if isMap {
		return p.mapping(l.indent)
	}
	n, err := p.inline(l.text, l.num)
	if err != nil {
		return nil, err
	}
	p.pos++
	if err := p.noContinuation(parent, l.num); err != nil {
		return nil, err
	}
	return n, nil
}

// noContinuation refuses a line indented under a value that was complete on
// its own line: a multi-line scalar, or a mis-indented entry.
func (p *yamlParser) noContinuation(indent, line int) error {
	if p.pos < len(p.lines) && p.lines[p.pos].indent > indent {
		next := p.lines[p.pos]
		return p.errf(next.num, "unexpected indentation: the value on line %d is complete (multi-line scalars are not "+
			"supported) and this line is not aligned with a key or \"-\" above", line)
	}
	return nil
}

func (p *yamlParser) sequence(indent int) (*yamlNode, error) {
	n := &yamlNode{kind: yamlSeq, line: p.lines[p.pos].num}
	for p.pos < len(p.lines) {
		l := &p.lines[p.pos]
		if l.indent > indent {
			return nil, p.errf(l.num, "unexpected indentation inside a sequence (%d spaces; its \"-\" entries have %d)",
				l.indent, indent)
		}
		if l.indent < indent || !isSeqEntry(l.text) {
			break
		}
		rest := l.text[1:]
		value := strings.TrimLeft(rest, " ")
		var item *yamlNode
		var err error
		if value == "" || value[0] == '#' {
			p.pos++
			item, err = p.block(indent, false, l.num)
		} else {
			// The entry's content is a node of its own, indented at its column:
			// "- a: 1" opens a mapping whose next keys align with "a".
			l.indent += 1 + len(rest) - len(value)
			l.text = value
			item, err = p.block(indent, false, l.num)
		}
		if err != nil {
			return nil, err
		}
		n.items = append(n.items, item)
	}
	return n, nil
}

func (p *yamlParser) mapping(indent int) (*yamlNode, error) {
	n := &yamlNode{kind: yamlMap, line: p.lines[p.pos].num, fields: map[string]*yamlNode{}}
	keyLines := map[string]int{}
	for p.pos < len(p.lines) {
		l := p.lines[p.pos]
		if l.indent < indent {
			break
		}
		if l.indent > indent {
			return nil, p.errf(l.num, "unexpected indentation (%d spaces; the keys of this mapping have %d)", l.indent, indent)
		}
		key, rest, isMap, err := p.splitKey(l)
		if err != nil {
			return nil, err
		}
		if !isMap {
			if isSeqEntry(l.text) {
				return nil, p.errf(l.num, "a \"-\" sequence entry where a key of the mapping above was expected")
			}
			return nil, p.errf(l.num, "expected \"key: value\" (a key of the mapping above), found %q", clip(l.text))
		}
		if first, dup := keyLines[key]; dup {
			return nil, p.errf(l.num, "duplicate key %q (first on line %d)", clip(key), first)
		}
		keyLines[key] = l.num
		var v *yamlNode
		value := strings.TrimLeft(rest, " ")
		if value == "" || value[0] == '#' {
			p.pos++
			v, err = p.block(indent, true, l.num)
		} else {
			v, err = p.inline(value, l.num)
			if err == nil {
				p.pos++
				err = p.noContinuation(indent, l.num)
			}
		}
		if err != nil {
			return nil, err
		}
		n.keys = append(n.keys, key)
		n.fields[key] = v
	}
	return n, nil
}

// splitKey tells whether a line is a "key: value" mapping entry and if so
// returns the key and what follows the colon.
func (p *yamlParser) splitKey(l yamlLine) (key, rest string, isMap bool, err error) {
	t := l.text
	sc := &yamlScanner{p: p, s: t, line: l.num}
	switch t[0] {
	case '?':
		if len(t) == 1 || t[1] == ' ' {
			return "", "", false, p.errf(l.num, "complex mapping keys (\"? \") are not supported")
		}
	case '[', '{':
		return "", "", false, nil // a flow collection; a key made of one is refused by inline
	case '"', '\'':
		k, err := sc.quoted()
		if err != nil {
			return "", "", false, err
		}
		sc.skipSpaces()
		if sc.eof() || sc.comment() {
			return "", "", false, nil
		}
		if sc.peek() == ':' && (sc.i+1 == len(t) || t[sc.i+1] == ' ') {
			return k.value.(string), t[sc.i+1:], true, nil
		}
		return "", "", false, p.errf(l.num, "unexpected %q after a quoted scalar", clip(t[sc.i:]))
	}
	// A plain key ends at the first ": " or final ":"; a " #" before it
	// starts a comment, so then the line is a scalar.
	for i := 0; i < len(t); i++ {
		switch {
		case t[i] == ' ' && i+1 < len(t) && t[i+1] == '#':
			return "", "", false, nil
		case t[i] == ':' && (i+1 == len(t) || t[i+1] == ' '):
			text := strings.TrimRight(t[:i], " ")
			if text == "" {
				return "", "", false, p.errf(l.num, "a mapping entry without a key")
			}
			ks := &yamlScanner{p: p, s: text, line: l.num}
			if err := ks.checkPlainStart(false); err != nil {
				return "", "", false, err
			}
			if strings.ContainsRune(text, '\t') {
				return "", "", false, p.errf(l.num, "tab character in a key (only spaces are supported)")
			}
			k, err := resolvePlain(p, l.num, text)
			if err != nil {
				return "", "", false, err
			}
			if k.value == nil || k.kindName() != "string" {
				return "", "", false, p.errf(l.num, "key %q is read by YAML as %s; quote it to make it a string",
					clip(text), k.kindName())
			}
			return text, t[i+1:], true, nil
		}
	}
	return "", "", false, nil
}

// inline parses a value written on one line (a scalar or a flow
// collection) followed at most by a comment.
func (p *yamlParser) inline(text string, line int) (*yamlNode, error) {
	sc := &yamlScanner{p: p, s: text, line: line}
	n, err := sc.value(false, 0)
	if err != nil {
		return nil, err
	}
	sc.skipSpaces()
	if !sc.eof() && !sc.comment() {
		rest := text[sc.i:]
		if rest[0] == ':' && n.kind != yamlScalar {
			return nil, p.errf(line, "a flow collection as a mapping key is not supported")
		}
		return nil, p.errf(line, "unexpected %q after the value (a comment needs a space before \"#\")", clip(rest))
	}
	return n, nil
}

// yamlScanner reads the scalars and flow collections of one line.
type yamlScanner struct {
	p    *yamlParser
	s    string
	i    int
	line int
}

func (sc *yamlScanner) eof() bool  { return sc.i >= len(sc.s) }
func (sc *yamlScanner) peek() byte { return sc.s[sc.i] }

func (sc *yamlScanner) skipSpaces() {
	for sc.i < len(sc.s) && sc.s[sc.i] == ' ' {
		sc.i++
	}
}

// comment reports whether a comment starts here: "#" at the start of the
// text or after a space.
func (sc *yamlScanner) comment() bool {
	return !sc.eof() && sc.s[sc.i] == '#' && (sc.i == 0 || sc.s[sc.i-1] == ' ')
}

func (sc *yamlScanner) errf(format string, args ...any) error {
	return sc.p.errf(sc.line, format, args...)
}

func isFlowIndicator(c byte) bool { return strings.IndexByte(",[]{}", c) >= 0 }

// spaceAfter reports whether position i+1 ends the text or holds a space
// (or, in a flow collection, a flow indicator).
func (sc *yamlScanner) spaceAfter(i int, flow bool) bool {
	return i+1 >= len(sc.s) || sc.s[i+1] == ' ' || flow && isFlowIndicator(sc.s[i+1])
}

// value reads one node: flow collections nest up to maxYAMLDepth.
func (sc *yamlScanner) value(flow bool, depth int) (*yamlNode, error) {
	if depth > maxYAMLDepth {
		return nil, sc.errf("flow collections nested deeper than %d levels", maxYAMLDepth)
	}
	switch sc.peek() {
	case '"', '\'':
		return sc.quoted()
	case '[':
		return sc.flowSeq(depth)
	case '{':
		return sc.flowMap(depth)
	}
	if err := sc.checkPlainStart(flow); err != nil {
		return nil, err
	}
	return sc.plain(flow)
}

// checkPlainStart refuses what cannot start a plain scalar, naming the
// YAML feature it would start instead.
func (sc *yamlScanner) checkPlainStart(flow bool) error {
	c := sc.peek()
	switch c {
	case '&':
		return sc.errf("anchors (&) are not supported")
	case '*':
		return sc.errf("aliases (*) are not supported")
	case '!':
		return sc.errf("tags (!) are not supported")
	case '|', '>':
		return sc.errf("block scalars (| and >) are not supported; write the value on one line")
	case '%', '@', '`':
		return sc.errf("%q cannot start a plain scalar; quote the value", c)
	case ',', ']', '}', '[', '{', '"', '\'', '#':
		return sc.errf("unexpected %q", c)
	case '-':
		if sc.spaceAfter(sc.i, false) {
			return sc.errf("a \"-\" sequence entry is not allowed here")
		}
	case '?', ':':
		if flow || sc.spaceAfter(sc.i, false) {
			return sc.errf("unexpected %q (complex keys and empty keys are not supported)", c)
		}
	}
	return nil
}

// plain reads a plain scalar up to the end of the line or a comment or,
// in a flow collection, a flow indicator or ": ".
func (sc *yamlScanner) plain(flow bool) (*yamlNode, error) {
	start, end := sc.i, sc.i
	for i := sc.i; i < len(sc.s); i++ {
		c := sc.s[i]
		if c == '\t' {
			return nil, sc.errf("tab character outside a quoted scalar (only spaces are supported)")
		}
		if c == ' ' {
			if i+1 < len(sc.s) && sc.s[i+1] == '#' {
				break
			}
			continue
		}
		if c == ':' && sc.spaceAfter(i, flow) {
			if flow {
				break
			}
			return nil, sc.errf("\": \" inside a value: nested mappings must start on their own line; " +
				"quote the value if the colon is part of it")
		}
		if flow && isFlowIndicator(c) {
			break
		}
		if flow && c == '?' {
			return nil, sc.errf("\"?\" inside a flow collection is not supported; quote the value")
		}
		end = i + 1
	}
	sc.i = end
	return resolvePlain(sc.p, sc.line, sc.s[start:end])
}

// quoted reads a single- or double-quoted scalar, which is always a string.
func (sc *yamlScanner) quoted() (*yamlNode, error) {
	q := sc.peek()
	start := sc.i
	sc.i++
	var b strings.Builder
	for {
		if sc.eof() {
			return nil, sc.errf("unterminated quoted scalar (multi-line quoted scalars are not supported)")
		}
		c := sc.peek()
		switch {
		case c == q && q == '\'' && sc.i+1 < len(sc.s) && sc.s[sc.i+1] == '\'':
			b.WriteByte('\'')
			sc.i += 2
		case c == q:
			sc.i++
			return &yamlNode{kind: yamlScalar, line: sc.line, value: b.String(), src: sc.s[start:sc.i]}, nil
		case c == '\\' && q == '"':
			if err := sc.escape(&b); err != nil {
				return nil, err
			}
		default:
			b.WriteByte(c)
			sc.i++
		}
	}
}

// yamlEscapes are the double-quoted escapes PyYAML knows besides \x, \u
// and \U.
var yamlEscapes = map[byte]string{
	'0': "\x00", 'a': "\a", 'b': "\b", 't': "\t", '\t': "\t", 'n': "\n", 'v': "\v", 'f': "\f", 'r': "\r",
	'e': "\x1b", ' ': " ", '"': "\"", '/': "/", '\\': "\\", 'N': "\u0085", '_': "\u00a0", 'L': "\u2028",
	'P': "\u2029",
}

func (sc *yamlScanner) escape(b *strings.Builder) error {
	sc.i++ // the backslash
	if sc.eof() {
		return sc.errf("backslash at the end of the line: multi-line quoted scalars are not supported")
	}
	c := sc.peek()
	if r, ok := yamlEscapes[c]; ok {
		b.WriteString(r)
		sc.i++
		return nil
	}
	width := map[byte]int{'x': 2, 'u': 4, 'U': 8}[c]
	if width == 0 {
		return sc.errf("unknown escape \"\\%c\" in a double-quoted scalar", c)
	}
	sc.i++
	if len(sc.s)-sc.i < width {
		return sc.errf("escape \"\\%c\" needs %d hexadecimal digits", c, width)
	}
	hex := sc.s[sc.i : sc.i+width]
	code, err := strconv.ParseUint(hex, 16, 32)
	if err != nil || strings.ContainsAny(hex, "+-_") {
		return sc.errf("escape \"\\%c%s\" needs %d hexadecimal digits", c, hex, width)
	}
	if code > utf8.MaxRune || code >= 0xD800 && code <= 0xDFFF {
		return sc.errf("escape \"\\%c%s\" is not a Unicode character", c, hex)
	}
	b.WriteRune(rune(code))
	sc.i += width
	return nil
}

func (sc *yamlScanner) unclosed(open byte) error {
	return sc.errf("%q is not closed on this line (flow collections over several lines are not supported)", open)
}

func (sc *yamlScanner) flowSeq(depth int) (*yamlNode, error) {
	n := &yamlNode{kind: yamlSeq, line: sc.line, items: []*yamlNode{}}
	sc.i++
	for {
		sc.skipSpaces()
		if sc.eof() || sc.comment() {
			return nil, sc.unclosed('[')
		}
		if sc.peek() == ']' {
			sc.i++
			return n, nil
		}
		item, err := sc.value(true, depth+1)
		if err != nil {
			return nil, err
		}
		n.items = append(n.items, item)
		sc.skipSpaces()
		if sc.eof() || sc.comment() {
			return nil, sc.unclosed('[')
		}
		switch sc.peek() {
		case ',':
			sc.i++
		case ']':
		case ':':
			return nil, sc.errf("\"key: value\" pairs inside [ ] are not supported")
		default:
			return nil, sc.errf("expected \",\" or \"]\" in a flow sequence, found %q", clip(sc.s[sc.i:]))
		}
	}
}

func (sc *yamlScanner) flowMap(depth int) (*yamlNode, error) {
	n := &yamlNode{kind: yamlMap, line: sc.line, fields: map[string]*yamlNode{}}
	sc.i++
	for {
		sc.skipSpaces()
		if sc.eof() || sc.comment() {
			return nil, sc.unclosed('{')
		}
		if sc.peek() == '}' {
			sc.i++
			return n, nil
		}
		var k *yamlNode
		var err error
		switch sc.peek() {
		case '[', '{':
			return nil, sc.errf("a flow collection as a mapping key is not supported")
		case '"', '\'':
			k, err = sc.quoted()
		default:
			if err = sc.checkPlainStart(true); err == nil {
				k, err = sc.plain(true)
			}
		}
		if err != nil {
			return nil, err
		}
		key, ok := k.value.(string)
		if !ok {
			return nil, sc.errf("key %q is read by YAML as %s; quote it to make it a string", clip(k.src), k.kindName())
		}
		sc.skipSpaces()
		if sc.eof() || sc.peek() != ':' {
			return nil, sc.errf("expected \":\" after key %q in a flow mapping (every entry needs \"key: value\")", clip(key))
		}
		sc.i++
		if _, dup := n.fields[key]; dup {
			return nil, sc.errf("duplicate key %q", clip(key))
		}
		sc.skipSpaces()
		v := &yamlNode{kind: yamlScalar, line: sc.line}
		if !sc.eof() && sc.peek() != ',' && sc.peek() != '}' && !sc.comment() {
			if v, err = sc.value(true, depth+1); err != nil {
				return nil, err
			}
		}
		n.keys = append(n.keys, key)
		n.fields[key] = v
		sc.skipSpaces()
		if sc.eof() || sc.comment() {
			return nil, sc.unclosed('{')
		}
		switch sc.peek() {
		case ',':
			sc.i++
		case '}':
		default:
			return nil, sc.errf("expected \",\" or \"}\" in a flow mapping, found %q", clip(sc.s[sc.i:]))
		}
	}
}

// kindName names a scalar's type for messages.
func (n *yamlNode) kindName() string {
	switch n.kind {
	case yamlSeq:
		return "a list"
	case yamlMap:
		return "a mapping"
	}
	switch n.value.(type) {
	case nil:
		return "null"
	case bool:
		return "a boolean"
	case int64:
		return "an integer"
	case float64:
		return "a float"
	}
	return "string"
}

// The implicit types of YAML 1.1 as PyYAML's Resolver defines them.
var (
	yamlBoolRE  = regexp.MustCompile(`^(?:yes|Yes|YES|no|No|NO|true|True|TRUE|false|False|FALSE|on|On|ON|off|Off|OFF)$`)
	yamlNullRE  = regexp.MustCompile(`^(?:~|null|Null|NULL)$`)
	yamlFloatRE = regexp.MustCompile(`^(?:[-+]?(?:[0-9][0-9_]*)\.[0-9_]*(?:[eE][-+][0-9]+)?` +
		`|\.[0-9][0-9_]*(?:[eE][-+][0-9]+)?` +
		`|[-+]?[0-9][0-9_]*(?::[0-5]?[0-9])+\.[0-9_]*` +
		`|[-+]?\.(?:inf|Inf|INF)` +
		`|\.(?:nan|NaN|NAN))$`)
	yamlIntRE = regexp.MustCompile(`^(?:[-+]?0b[0-1_]+` +
		`|[-+]?0[0-7_]+` +
		`|[-+]?(?:0|[1-9][0-9_]*)` +
		`|[-+]?0x[0-9a-fA-F_]+` +
		`|[-+]?[1-9][0-9_]*(?::[0-5]?[0-9])+)$`)
	yamlTimestampRE = regexp.MustCompile(`^(?:[0-9][0-9][0-9][0-9]-[0-9][0-9]-[0-9][0-9]` +
		`|[0-9][0-9][0-9][0-9]-[0-9][0-9]?-[0-9][0-9]?(?:[Tt]|[ \t]+)[0-9][0-9]?:[0-9][0-9]:[0-9][0-9](?:\.[0-9]*)?` +
		`(?:[ \t]*(?:Z|[-+][0-9][0-9]?(?::[0-9][0-9])?))?)$`)
)

// resolvePlain gives a plain scalar its YAML 1.1 type, as safe_load does.
// Types safe_load would build that have no place in a provider config
// (dates, merge keys, "=") are refused rather than read as strings.
func resolvePlain(p *yamlParser, line int, text string) (*yamlNode, error) {
	n := &yamlNode{kind: yamlScalar, line: line, src: text}
	switch {
	case text == "" || yamlNullRE.MatchString(text):
	case yamlBoolRE.MatchString(text):
		switch text[0] {
		case 'y', 'Y', 't', 'T':
			n.value = true
		case 'o', 'O':
			n.value = len(text) == 2 // "on"; "off" is 3 long
		default:
			n.value = false
		}
	case yamlFloatRE.MatchString(text):
		n.value = yamlFloat(text)
	case yamlIntRE.MatchString(text):
		v, ok := yamlInt(text)
		if !ok {
			return nil, p.errf(line, "integer %s is out of range or malformed", clip(text))
		}
		n.value = v
	case text == "<<":
		return nil, p.errf(line, "merge keys (<<) are not supported")
	case text == "=":
		return nil, p.errf(line, "the YAML value \"=\" is not supported; quote it")
	case yamlTimestampRE.MatchString(text):
		return nil, p.errf(line, "%s is a date to YAML, which a provider config cannot hold; quote it to make it a string", clip(text))
	default:
		n.value = text
	}
	return n, nil
}

// yamlInt converts what yamlIntRE matched: binary, octal (leading 0),
// decimal, hexadecimal or base 60 ("1:30"), with "_" ignored.
func yamlInt(text string) (int64, bool) {
	s := strings.ReplaceAll(text, "_", "")
	neg := false
	if s[0] == '-' || s[0] == '+' {
		neg = s[0] == '-'
		s = s[1:]
	}
	v := new(big.Int)
	var ok bool
	switch {
	case s == "0":
		ok = true
	case strings.HasPrefix(s, "0b"):
		_, ok = v.SetString(s[2:], 2)
	case strings.HasPrefix(s, "0x"):
		_, ok = v.SetString(s[2:], 16)
	case strings.HasPrefix(s, "0"):
		_, ok = v.SetString(s[1:], 8)
	case strings.Contains(s, ":"):
		ok = true
		for _, part := range strings.Split(s, ":") {
			d, good := new(big.Int).SetString(part, 10)
			// Stop once out of range: each further part multiplies by 60.
			ok = ok && good && v.BitLen() <= 64
			if !ok {
				break
			}
			v.Mul(v, big.NewInt(60)).Add(v, d)
		}
	default:
		_, ok = v.SetString(s, 10)
	}
	if neg {
		v.Neg(v)
	}
	if !ok || !v.IsInt64() {
		return 0, false
	}
	return v.Int64(), true
}

// yamlFloat converts what yamlFloatRE matched. Out-of-range values become
// infinities, as Python's float() makes them.
func yamlFloat(text string) float64 {
	s := strings.ToLower(strings.ReplaceAll(text, "_", ""))
	sign := 1.0
	if s[0] == '-' || s[0] == '+' {
		if s[0] == '-' {
			sign = -1
		}
		s = s[1:]
	}
	switch {
	case s == ".inf":
		return sign * math.Inf(1)
	case s == ".nan":
		return math.NaN()
	case strings.Contains(s, ":"):
		v := 0.0
		for _, part := range strings.Split(s, ":") {
			f, _ := strconv.ParseFloat(part, 64)
			v = v*60 + f
		}
		return sign * v
	}
	f, _ := strconv.ParseFloat(s, 64)
	return sign * f
}
