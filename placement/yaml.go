package placement

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"math"
	"math/big"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"unicode/utf8"

	"go.yaml.in/yaml/v3"
)

// This file reads provider config files, its only user. go.yaml.in/yaml/v3
// parses them into yaml.Node trees, which keep each node's line for the
// schema's messages; what yaml.v3 does not do is turned here into what
// PyYAML's safe_load, Nova's reader, makes of the same file:
//
//   - Plain scalars are typed by YAML 1.1's rules as PyYAML's Resolver
//     applies them (yes/no/on/off are booleans, 010 is octal, 1:30 is 90,
//     1e5 is a string), not by yaml.v3's YAML 1.2 rules, which would read
//     `name: yes` as a string where Nova reads a boolean and refuses it.
//   - Aliases are followed and merge keys (<<) merged, as safe_load does.
//   - A second document is refused, as safe_load refuses it.
//
// Some files safe_load reads are refused, each with a message naming file
// and line: duplicate keys (safe_load keeps the last one; here the mistake
// is shown), keys that are not strings (Nova's schema has none), dates,
// binary and the other tags that cannot be a provider config's value.
// Where the two parsers differ, the one refusal yaml.v3 cannot be made to
// share is of a tab separating tokens ("key:<tab>value", a tab ending a
// line): PyYAML refuses it, yaml.v3 reads the value it separates. A tab
// inside an unquoted value, which PyYAML refuses too, is refused here.

// yamlKind is the kind of a converted node.
type yamlKind int

const (
	yamlScalar yamlKind = iota
	yamlSeq
	yamlMap
)

// yamlNode is a node with PyYAML's meaning and the line it starts on, kept
// for messages about the provider config schema.
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

// yamlError is a file that is not YAML, or that this package refuses, or
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

// maxYAMLDepth bounds nesting (and alias cycles, which yaml.v3 builds for
// "&a [*a]"); provider configs nest five levels deep.
const maxYAMLDepth = 64

// maxYAMLNodes bounds the nodes aliases may expand to, so that a file of
// nested aliases ("billion laughs") is refused instead of filling memory.
// A provider config for hundreds of providers stays far below it.
const maxYAMLNodes = 100000

// parseYAML reads one YAML document with PyYAML's meaning; file names it
// in errors, which are all *yamlError. An empty document gives nil, as
// safe_load gives None.
func parseYAML(file string, data []byte) (n *yamlNode, err error) {
	// yaml.v3 reports a few inputs by panicking with an "internal error"
	// instead of an error; a bad file must not stop the service that way.
	defer func() {
		if r := recover(); r != nil {
			n, err = nil, &yamlError{File: file, Line: 1, Msg: fmt.Sprintf("the YAML parser failed on this file: %v", r)}
		}
	}()
	dec := yaml.NewDecoder(bytes.NewReader(data))
	var doc yaml.Node
	if err := dec.Decode(&doc); err != nil {
		if errors.Is(err, io.EOF) {
			return nil, nil
		}
		return nil, syntaxError(file, data, err)
	}
	var next yaml.Node
	if err := dec.Decode(&next); err != nil && !errors.Is(err, io.EOF) {
		return nil, syntaxError(file, data, err)
	} else if err == nil {
		return nil, &yamlError{File: file, Line: next.Line, Msg: "a second document: a provider config file holds one"}
	}
	c := &converter{file: file}
	root, err := c.node(doc.Content[0], 0)
	if err != nil || root.kind == yamlScalar && root.value == nil {
		return nil, err // a document of only "---" is None to safe_load too
	}
	return root, nil
}

// yaml.v3's syntax errors are strings, "yaml: line N: problem" or, when the
// problem is on line 1 or in the bytes themselves, "yaml: problem".
var yamlErrorRE = regexp.MustCompile(`^yaml: (?:line ([0-9]+): )?(.*)$`)

// yaml.v3's problems with the bytes (encoding, control characters) and
// with aliases, which carry no line.
var (
	yamlReaderProblemRE = regexp.MustCompile(`UTF-8|control characters|Unicode character`)
	yamlAliasProblemRE  = regexp.MustCompile(`^unknown anchor '(.*)' referenced$`)
)

// yaml.v3's parser (not scanner) problems. Their "line N" is that of the
// construct being parsed (libyaml's context mark, and 0-based), often
// lines above the one at fault.
var yamlParserProblemRE = regexp.MustCompile(`^(?:did not find expected (?:',' or '[\]}]'|'-' indicator|` +
	`<document start>|key|node content)|found (?:incompatible YAML document|undefined tag handle|` +
	`duplicate %(?:TAG|YAML) directive))$`)

// parserErrorLine finds the line at fault in a parser error: the last line
// of the shortest run of leading lines that yaml.v3 refuses with the same
// error, found by bisection since appending lines cannot undo a parser
// error before them (the error names its construct's line, so an earlier
// construct failing alike in a shorter run does not match).
func parserErrorLine(data []byte, msg string) int {
	var ends []int // offsets just past each line end, then the whole file
	for i, b := range data {
		if b == '\n' {
			ends = append(ends, i+1)
		}
	}
	ends = append(ends, len(data))
	k := sort.Search(len(ends), func(k int) bool {
		err := decodeAll(data[:ends[k]])
		return err != nil && err.Error() == msg
	})
	if k == len(ends) {
		k--
	}
	return lineOf(data, ends[k]-1)
}

// decodeAll parses every document of data, returning the first error.
func decodeAll(data []byte) (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("%v", r)
		}
	}()
	dec := yaml.NewDecoder(bytes.NewReader(data))
	for {
		var n yaml.Node
		if err := dec.Decode(&n); err != nil {
			if errors.Is(err, io.EOF) {
				return nil
			}
			return err
		}
	}
}

// syntaxError turns a yaml.v3 error into a *yamlError with a line. Where
// yaml.v3 gives none, the problem is on line 1 unless it is in the bytes
// or an alias, whose lines are found here.
func syntaxError(file string, data []byte, err error) error {
	m := yamlErrorRE.FindStringSubmatch(err.Error())
	if m == nil {
		return &yamlError{File: file, Line: 1, Msg: err.Error()}
	}
	line, _ := strconv.Atoi(m[1])
	msg := m[2]
	switch a := yamlAliasProblemRE.FindStringSubmatch(msg); {
	case yamlParserProblemRE.MatchString(msg):
		line = parserErrorLine(data, err.Error())
	case line != 0:
	case a != nil:
		line = lineOf(data, bytes.Index(data, []byte("*"+a[1])))
		msg = fmt.Sprintf("alias *%s names no anchor (&%s) above it", a[1], a[1])
	case yamlReaderProblemRE.MatchString(msg):
		line = lineOf(data, badCharOffset(data))
	default:
		line = 1
	}
	// yaml.v3's words for the usual mistake do not name it.
	if msg == "found character that cannot start any token" &&
		strings.HasPrefix(strings.TrimLeft(lineText(data, line), " "), "\t") {
		msg = "tab character in the indentation (YAML indents with spaces only)"
	}
	return &yamlError{File: file, Line: line, Msg: msg}
}

// lineText is line n (from 1) of data, without its line end.
func lineText(data []byte, n int) string {
	lines := strings.Split(string(data), "\n")
	if n < 1 || n > len(lines) {
		return ""
	}
	return strings.TrimSuffix(lines[n-1], "\r")
}

// lineOf is the line holding byte offset i (line 1 when i < 0).
func lineOf(data []byte, i int) int {
	if i < 0 {
		return 1
	}
	return bytes.Count(data[:i], []byte("\n")) + 1
}

// badCharOffset finds the first byte yaml.v3's reader refuses: invalid
// UTF-8 or a character YAML does not allow in a file.
func badCharOffset(data []byte) int {
	for i := 0; i < len(data); {
		r, size := utf8.DecodeRune(data[i:])
		ok := r == '\t' || r == '\n' || r == '\r' || r >= 0x20 && r <= 0x7E || r == 0x85 ||
			r >= 0xA0 && r <= 0xD7FF || r >= 0xE000 && r <= 0xFFFD && (r != 0xFEFF || i == 0) || r >= 0x10000
		if r == utf8.RuneError && size == 1 || !ok {
			return i
		}
		i += size
	}
	return -1
}

// converter turns yaml.v3 nodes into yamlNodes.
type converter struct {
	file  string
	nodes int
	// alias is the outermost alias being followed: too many nodes is
	// its fault, not the anchored node's.
	alias *yaml.Node
}

func (c *converter) errf(n *yaml.Node, format string, args ...any) error {
	return &yamlError{File: c.file, Line: n.Line, Msg: fmt.Sprintf(format, args...)}
}

func (c *converter) node(n *yaml.Node, depth int) (*yamlNode, error) {
	if depth > maxYAMLDepth {
		return nil, c.errf(n, "nesting deeper than %d levels (or an alias inside its own anchor)", maxYAMLDepth)
	}
	if c.nodes++; c.nodes > maxYAMLNodes {
		if c.alias != nil {
			n = c.alias
		}
		return nil, c.errf(n, "more than %d values (aliases expand to too many)", maxYAMLNodes)
	}
	if n.Style&yaml.TaggedStyle != 0 && n.Kind != yaml.ScalarNode &&
		!(n.Kind == yaml.SequenceNode && n.Tag == "!!seq" || n.Kind == yaml.MappingNode && n.Tag == "!!map") {
		return nil, c.errf(n, "tag %s is not supported in a provider config", n.Tag)
	}
	switch n.Kind {
	case yaml.AliasNode:
		// safe_load reads an alias as its anchored node; messages about it
		// name the alias's line.
		if c.alias == nil {
			c.alias = n
			defer func() { c.alias = nil }()
		}
		v, err := c.node(n.Alias, depth+1)
		if err != nil {
			return nil, err
		}
		cp := *v
		cp.line = n.Line
		return &cp, nil
	case yaml.ScalarNode:
		return c.scalar(n)
	case yaml.SequenceNode:
		out := &yamlNode{kind: yamlSeq, line: n.Line, items: []*yamlNode{}}
		for _, it := range n.Content {
			v, err := c.node(it, depth+1)
			if err != nil {
				return nil, err
			}
			out.items = append(out.items, v)
		}
		return out, nil
	case yaml.MappingNode:
		return c.mapping(n, depth)
	}
	return nil, c.errf(n, "unexpected YAML node kind %d", n.Kind)
}

// scalar types a scalar as safe_load would: quoted and block scalars are
// strings, plain ones get YAML 1.1's implicit types, and the tags of
// PyYAML's safe types that fit a provider config are honoured.
func (c *converter) scalar(n *yaml.Node) (*yamlNode, error) {
	str := &yamlNode{kind: yamlScalar, line: n.Line, value: n.Value, src: n.Value}
	tagged := n.Style&yaml.TaggedStyle != 0
	if !tagged && n.Style&(yaml.SingleQuotedStyle|yaml.DoubleQuotedStyle|yaml.LiteralStyle|yaml.FoldedStyle) != 0 {
		return str, nil
	}
	if strings.ContainsRune(n.Value, '\t') {
		// PyYAML ends a plain scalar at a tab and then refuses the tab.
		return nil, c.errf(n, "tab inside an unquoted value %q; quote the value", clip(n.Value))
	}
	if tagged && n.Tag == "!!str" {
		return str, nil
	}
	v, err := resolvePlain(n.Value)
	if err != nil {
		return nil, c.errf(n, "%v", err)
	}
	v.line = n.Line
	if !tagged {
		return v, nil
	}
	want := map[string]string{"!!null": "null", "!!bool": "a boolean", "!!int": "an integer", "!!float": "a float"}[n.Tag]
	switch {
	case want == "":
		return nil, c.errf(n, "tag %s is not supported in a provider config", n.Tag)
	case n.Tag == "!!float" && v.kindName() == "an integer":
		v.value = float64(v.value.(int64))
	case v.kindName() != want:
		return nil, c.errf(n, "%q is not %s, as its tag %s says", clip(n.Value), want, n.Tag)
	}
	return v, nil
}

// mapping converts a mapping: keys must be strings and unique; "<<" merges
// the mapping (or list of mappings) it names as SafeConstructor does: keys
// written in the mapping win, then earlier merged mappings over later.
func (c *converter) mapping(n *yaml.Node, depth int) (*yamlNode, error) {
	out := &yamlNode{kind: yamlMap, line: n.Line, fields: map[string]*yamlNode{}}
	lines := map[string]int{}
	var merges []*yamlNode
	for i := 0; i+1 < len(n.Content); i += 2 {
		kn, vn := n.Content[i], n.Content[i+1]
		v, err := c.node(vn, depth+1)
		if err != nil {
			return nil, err
		}
		if kn.Kind == yaml.ScalarNode && kn.Style == 0 && kn.Value == "<<" {
			if len(merges) > 0 {
				return nil, c.errf(kn, "a second merge key (<<) in this mapping; give one a list of mappings")
			}
			if merges, err = c.mergeSources(kn, v); err != nil {
				return nil, err
			}
			continue
		}
		k, err := c.key(kn, depth)
		if err != nil {
			return nil, err
		}
		if first, dup := lines[k]; dup {
			return nil, c.errf(kn, "duplicate key %q (first on line %d)", clip(k), first)
		}
		lines[k] = kn.Line
		out.keys = append(out.keys, k)
		out.fields[k] = v
	}
	for _, m := range merges {
		for _, k := range m.keys {
			if _, ok := out.fields[k]; !ok {
				out.keys = append(out.keys, k)
				out.fields[k] = m.fields[k]
			}
		}
	}
	return out, nil
}

// mergeSources are the mappings a merge key's value names.
func (c *converter) mergeSources(kn *yaml.Node, v *yamlNode) ([]*yamlNode, error) {
	if v.kind == yamlMap {
		return []*yamlNode{v}, nil
	}
	if v.kind == yamlSeq {
		for _, it := range v.items {
			if it.kind != yamlMap {
				return nil, c.errf(kn, "merge key (<<) lists %s; it merges only mappings", it.kindName())
			}
		}
		return v.items, nil
	}
	return nil, c.errf(kn, "merge key (<<) needs a mapping or a list of mappings, not %s", v.kindName())
}

// key is a mapping key, which must be a string: Nova's schema has no
// other keys, and a key YAML reads as a number or boolean is a mistake.
func (c *converter) key(kn *yaml.Node, depth int) (string, error) {
	k, err := c.node(kn, depth+1)
	if err != nil {
		return "", err
	}
	if s, ok := k.value.(string); ok && k.kind == yamlScalar {
		// yaml.v3 reads "{a:}" as the key "a:", PyYAML as "a"; no key of
		// Nova's schema ends so, and refusing keeps the readers from
		// disagreeing.
		if kn.Kind == yaml.ScalarNode && kn.Style == 0 && strings.HasSuffix(s, ":") {
			return "", c.errf(kn, "key %q ends with \":\"; put a space after the colon that ends a key", clip(s))
		}
		return s, nil
	}
	src := kn.Value
	if kn.Kind != yaml.ScalarNode {
		src = "..."
	}
	return "", c.errf(kn, "key %q is read by YAML as %s; quote it to make it a string", clip(src), k.kindName())
}

// kindName names a node's type for messages.
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

// The implicit types of YAML 1.1 as PyYAML's Resolver defines them; no
// approved library resolves YAML 1.1 (yaml.v3 follows YAML 1.2's core
// schema, where these differ).
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
// (dates, "=") are refused rather than read as strings.
func resolvePlain(text string) (*yamlNode, error) {
	n := &yamlNode{kind: yamlScalar, src: text}
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
			return nil, fmt.Errorf("integer %s is out of range or malformed", clip(text))
		}
		n.value = v
	case text == "=":
		return nil, errors.New("the YAML value \"=\" is not supported; quote it")
	case yamlTimestampRE.MatchString(text):
		return nil, fmt.Errorf("%s is a date to YAML, which a provider config cannot hold; quote it to make it a string", clip(text))
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
