package placement

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math"
	"os"
	"os/exec"
	"reflect"
	"strconv"
	"strings"
	"testing"
)

// novaSample is the example file of Nova's provider config documentation.
const novaSample = `meta:
  schema_version: '1.0'
providers:
  # This section allows an admin to customize the compute node root provider.
  - identification:
      uuid: '$COMPUTE_NODE'
    inventories:
      additional:
        - CUSTOM_EXAMPLE_RESOURCE_CLASS:
            total: 100
            reserved: 0
            min_unit: 1
            max_unit: 10
            step_size: 1
            allocation_ratio: 1.0
    traits:
      additional:
        - 'CUSTOM_EXAMPLE_TRAIT'
`

type m = map[string]any
type l = []any

var yamlValid = []struct {
	name string
	in   string
	want any
}{
	{"nova sample", novaSample, m{
		"meta": m{"schema_version": "1.0"},
		"providers": l{m{
			"identification": m{"uuid": "$COMPUTE_NODE"},
			"inventories": m{"additional": l{m{"CUSTOM_EXAMPLE_RESOURCE_CLASS": m{
				"total": int64(100), "reserved": int64(0), "min_unit": int64(1), "max_unit": int64(10),
				"step_size": int64(1), "allocation_ratio": 1.0}}}},
			"traits": m{"additional": l{"CUSTOM_EXAMPLE_TRAIT"}},
		}},
	}},
	{"sequence at the key's indentation", "providers:\n- a: 1\n  b: 2\n- c\nnext: x\n",
		m{"providers": l{m{"a": int64(1), "b": int64(2)}, "c"}, "next": "x"}},
	{"dash alone, then the item", "-\n  a: 1\n-\n- - x\n  - y\n", l{m{"a": int64(1)}, nil, l{"x", "y"}}},
	{"wide dash spacing", "-   a: 1\n    b: 2\n", l{m{"a": int64(1), "b": int64(2)}}},
	{"value on the next line", "a:\n  b\nc:\n", m{"a": "b", "c": nil}},
	{"indented document", "  a: 1\n  b:\n    - 2\n", m{"a": int64(1), "b": l{int64(2)}}},
	{"root scalar", "hello world # greeting\n", "hello world"},
	{"empty document", "# nothing\n\n   \n", nil},
	{"markers, comments, CRLF and BOM", "\uFEFF# head\r\n--- # start\r\na: 1 # one\r\n\r\n#x\r\n...\r\n# tail\r\n",
		m{"a": int64(1)}},
	{"integers", "[0, -7, +3, 010, 0x1F, 0b101, 1_000, 1:30, -1:00, 08, 0o17, 9223372036854775807, -0]",
		l{int64(0), int64(-7), int64(3), int64(8), int64(31), int64(5), int64(1000), int64(90), int64(-60), "08",
			"0o17", int64(math.MaxInt64), int64(0)}},
	{"floats", "[1.0, -1.5, .5, 1., 1.0e+5, 1:30.5, 1_0.5, 1e5, 1.0e5, -.5, +.inf, -.Inf, .NAN]",
		l{1.0, -1.5, 0.5, 1.0, 100000.0, 90.5, 10.5, "1e5", "1.0e5", "-.5", math.Inf(1), math.Inf(-1), math.NaN()}},
	{"booleans and nulls", "[yes, No, ON, off, True, FALSE, y, n, ~, null, Null, NULL, nil, none]",
		l{true, false, true, false, true, false, "y", "n", nil, nil, nil, nil, "nil", "none"}},
	{"plain scalars", "a: b#c\nd: e # f\ng: h i:j\nk: http://x/y?z=1\nl: -x\nm: :x\nn: a[0]{1}, 2\n",
		m{"a": "b#c", "d": "e", "g": "h i:j", "k": "http://x/y?z=1", "l": "-x", "m": ":x", "n": "a[0]{1}, 2"}},
	{"quoted scalars", `a: '1.0'
b: 'it''s # not a comment'
c: "tab\there\u00e9\x41\"\\ \N\_"
d: ""
e: 'yes'
'f g': 1
"h": 2
"i j" : 3
`, m{"a": "1.0", "b": "it's # not a comment", "c": "tab\there\u00e9A\"\\ \u0085\u00a0", "d": "", "e": "yes",
		"f g": int64(1), "h": int64(2), "i j": int64(3)}},
	{"flow collections", `a: [x, 1, 'y', [z], {k: v}, ]
b: {p: 1, 'q': [2, 3], r: , s: }
c: []
d: {}
e: {"j":1}
f: [ a b , c ]
`, m{"a": l{"x", int64(1), "y", l{"z"}, m{"k": "v"}}, "b": m{"p": int64(1), "q": l{int64(2), int64(3)}, "r": nil, "s": nil},
		"c": l{}, "d": m{}, "e": m{"j": int64(1)}, "f": l{"a b", "c"}}},
	{"flow at top level", "[a, b]", l{"a", "b"}},
	{"comments after dash and key", "a: # c\n  - # d\n    x\n", m{"a": l{"x"}}},
	{"tabs inside quotes and comments", "a: \"x\ty\" #\tc\n", m{"a": "x\ty"}},
	{"anchors and aliases", "a: &x [1, &y b]\nb: *x\nc: {k: *y}\n&z d: 1\n", m{"a": l{int64(1), "b"},
		"b": l{int64(1), "b"}, "c": m{"k": "b"}, "d": int64(1)}},
	{"merge keys", "base: &b {total: 1, reserved: 0}\nx:\n  <<: *b\n  total: 2\ny:\n  <<: [{a: 1}, {a: 2, b: 3}]\n",
		m{"base": m{"total": int64(1), "reserved": int64(0)}, "x": m{"total": int64(2), "reserved": int64(0)},
			"y": m{"a": int64(1), "b": int64(3)}}},
	{"block scalars", "a: |\n  x\n  y\nb: >-\n  x\n  y\n", m{"a": "x\ny\n", "b": "x y"}},
	{"multi-line scalars", "a: b\n  c\nd: 'e\n  f'\ng: \"h\\\n  i\"\n", m{"a": "b c", "d": "e f", "g": "hi"}},
	{"multi-line flow collections", "a: [1,\n  2]\nb: {c: 1\n  }\n", m{"a": l{int64(1), int64(2)}, "b": m{"c": int64(1)}}},
	{"safe tags", "a: !!str 1.0\nb: !!int '0x1F'\nc: !!float 1\nd: !!bool yes\ne: !!null ''\nf: !!seq [x]\ng: !!map {h: 1}\n",
		m{"a": "1.0", "b": int64(31), "c": 1.0, "d": true, "e": nil, "f": l{"x"}, "g": m{"h": int64(1)}}},
	{"directive and content on the --- line", "%YAML 1.1\n--- a\n", "a"},
	{"document of only a start marker", "---\n", nil},
	{"old Mac line ends", "a: 1\rb: 2\r", m{"a": int64(1), "b": int64(2)}},
	{"comment right after a quoted scalar", "a: 'x'#c\n", m{"a": "x"}},
	{"single pairs in a flow sequence", "a: [b: 1]\nc: {d}\n", m{"a": l{m{"b": int64(1)}}, "c": m{"d": nil}}},
	{"complex key that is a string", "? a\n: b\n", m{"a": "b"}},
	{"plain keys with quoted lookalikes", "'1': a\n'on': b\n\"~\": c\n", m{"1": "a", "on": "b", "~": "c"}},
}

func TestParseYAMLReads(t *testing.T) {
	for _, tt := range yamlValid {
		t.Run(tt.name, func(t *testing.T) {
			n, err := parseYAML("test.yaml", []byte(tt.in))
			if err != nil {
				t.Fatal(err)
			}
			if got := n.plain(); !sameYAMLValue(got, tt.want) {
				t.Errorf("got  %#v\nwant %#v", got, tt.want)
			}
		})
	}
}

// sameYAMLValue is reflect.DeepEqual with NaN equal to itself.
func sameYAMLValue(a, b any) bool {
	if x, ok := a.(float64); ok {
		y, ok := b.(float64)
		return ok && (x == y || math.IsNaN(x) && math.IsNaN(y))
	}
	switch x := a.(type) {
	case []any:
		y, ok := b.([]any)
		if !ok || len(x) != len(y) {
			return false
		}
		for i := range x {
			if !sameYAMLValue(x[i], y[i]) {
				return false
			}
		}
		return true
	case map[string]any:
		y, ok := b.(map[string]any)
		if !ok || len(x) != len(y) {
			return false
		}
		for k, v := range x {
			if w, ok := y[k]; !ok || !sameYAMLValue(v, w) {
				return false
			}
		}
		return true
	}
	return reflect.DeepEqual(a, b)
}

// yamlRefused are files parseYAML refuses, with the line and words of the
// message. pyReads marks the ones safe_load reads, refused here on purpose
// (or, for the escapes, by yaml.v3): TestYAMLSubsetMatchesPyYAML checks
// that PyYAML refuses all the others.
var yamlRefused = []struct {
	name    string
	in      string
	line    int
	want    string
	pyReads bool
}{
	{"alias without anchor", "a: 1\nb: *x\n", 2, "alias *x names no anchor", false},
	{"local tag", "- !foo x\n", 1, "tag !foo is not supported", false},
	{"binary tag", "a: !!binary aGk=\n", 1, "tag !!binary is not supported", true},
	{"set tag", "a: !!set {b}\n", 1, "tag !!set is not supported", true},
	{"tag the value does not fit", "a: !!int 1.5\n", 1, "\"1.5\" is not an integer", false},
	{"second document", "a: 1\n---\nb: 2\n", 2, "a second document", false},
	{"two document starts", "---\n---\na: 1\n", 2, "a second document", false},
	{"content after end marker", "a: 1\n...\nb: 2\n", 3, "did not find expected <document start>", false},
	{"tab indentation", "a:\n\tb: 1\n", 2, "tab character in the indentation", false},
	{"tab after spaces", "a:\n  \tb: 1\n", 2, "tab character in the indentation", false},
	{"tab inside a plain scalar", "a: b\tc\n", 1, "tab inside an unquoted value", false},
	{"duplicate key", "a: 1\nb: 2\na: 3\n", 3, "duplicate key \"a\" (first on line 1)", true},
	{"duplicate flow key", "a: {b: 1, b: 2}\n", 1, "duplicate key \"b\"", true},
	{"key ending in a colon", "a: {s:}\n", 1, "key \"s:\" ends with \":\"", true},
	{"block key ending in a colon", "a:: b\n", 1, "key \"a:\" ends with \":\"", true},
	{"two merge keys", "a:\n  <<: {b: 1}\n  <<: {c: 1}\n", 3, "a second merge key", true},
	{"merge of a scalar", "a:\n  <<: 1\n", 2, "merge key (<<) needs a mapping", false},
	{"less indented key", "a:\n  b: 1\n c: 2\n", 3, "did not find expected key", false},
	{"more indented key", "a: 1\n  b: 2\n", 2, "mapping values are not allowed", false},
	{"misaligned item key", "- a: 1\n   b: 2\n", 2, "mapping values are not allowed", false},
	{"dedent below the document", "  a: 1\nb: 2\n", 2, "did not find expected <document start>", false},
	{"sequence entry among keys", "a: 1\n- b\n", 2, "did not find expected key", false},
	{"scalar among keys", "a: 1\nb\n", 2, "could not find expected ':'", false},
	{"key after a nested sequence", "a:\n  - b\n  c: 1\n", 3, "did not find expected '-' indicator", false},
	{"nested mapping on one line", "a: b: c\n", 1, "mapping values are not allowed", false},
	{"trailing colon", "a: b:\n", 1, "mapping values are not allowed", false},
	{"sequence entry as value", "a: - b\n", 1, "block sequence entries are not allowed", false},
	{"integer key", "1: a\n", 1, "key \"1\" is read by YAML as an integer", true},
	{"boolean key", "on: a\n", 1, "as a boolean; quote it", true},
	{"null key", "~: a\n", 1, "as null", true},
	{"flow integer key", "a: {1: b}\n", 1, "as an integer", true},
	{"empty key", ": a\n", 1, "did not find expected key", false},
	{"flow collection as key", "[a]: b\n", 1, "read by YAML as a list", false},
	{"date", "a: 2024-01-02\n", 1, "is a date", true},
	{"timestamp", "a: [2001-12-14t21:59:43.10-05:00]\n", 1, "is a date", true},
	{"value =", "a: =\n", 1, "\"=\" is not supported", false},
	{"unknown escape", "a: \"\\q\"\n", 1, "unknown escape", false},
	{"escaped slash (PyYAML knows it, yaml.v3 not)", "a: \"\\/\"\n", 1, "unknown escape", true},
	{"short escape", "a: \"\\x4\"\n", 1, "did not find expected hexdecimal number", false},
	{"escape beyond Unicode", "a: \"\\U00110000\"\n", 1, "invalid Unicode character escape code", false},
	{"invalid UTF-8", "a: 1\nb: \xff\n", 2, "UTF-8", false},
	{"control character", "a: 1\nb: \x07\n", 2, "control characters are not allowed", false},
	{"unicode line separator", "a: b\u2028c\n", 2, "could not find expected ':'", false},
	{"empty flow entry", "a: [b, , c]\n", 1, "did not find expected node content", false},
	{"question mark in flow", "a: [b?c]\n", 1, "did not find expected ',' or ']'", false},
	{"text after a flow collection", "a: [b] c\n", 1, "did not find expected key", false},
	{"integer out of range", "a: 9223372036854775808\n", 1, "out of range", true},
	{"malformed binary", "a: 0b_\n", 1, "malformed", false},
	{"reserved indicator", "a: @x\n", 1, "cannot start any token", false},
	{"deep flow nesting", "a: " + strings.Repeat("[", 100) + strings.Repeat("]", 100) + "\n", 1, "nesting deeper", true},
	{"deep block nesting", deepBlock(100), 66, "nesting deeper", true},
	{"alias inside its own anchor", "a: &x [*x]\n", 1, "an alias inside its own anchor", true},
	{"aliases expanding to too many", billionLaughs(9), 6, "aliases expand to too many", true},
}

// billionLaughs is n levels of aliases, each naming the one above ten times.
func billionLaughs(n int) string {
	var b strings.Builder
	b.WriteString("l0: &l0 [x]\n")
	for i := 1; i <= n; i++ {
		fmt.Fprintf(&b, "l%d: &l%d [%s]\n", i, i, strings.TrimSuffix(strings.Repeat(fmt.Sprintf("*l%d,", i-1), 10), ","))
	}
	return b.String()
}

func deepBlock(n int) string {
	var b strings.Builder
	for i := 0; i < n; i++ {
		fmt.Fprintf(&b, "%s-\n", strings.Repeat(" ", i))
	}
	return b.String()
}

func TestParseYAMLRefuses(t *testing.T) {
	for _, tt := range yamlRefused {
		t.Run(tt.name, func(t *testing.T) {
			n, err := parseYAML("test.yaml", []byte(tt.in))
			if err == nil {
				t.Fatalf("read as %#v, want an error", n.plain())
			}
			ye, ok := err.(*yamlError)
			if !ok {
				t.Fatalf("error %T %v, want *yamlError", err, err)
			}
			prefix := fmt.Sprintf("test.yaml line %d: ", tt.line)
			if !strings.HasPrefix(err.Error(), prefix) || !strings.Contains(ye.Msg, tt.want) {
				t.Errorf("error %q, want %q...%q", err, prefix, tt.want)
			}
		})
	}
}

// pyYAMLScript loads each document of a JSON list with PyYAML's safe_load and prints each result with its
// Python types, or the error.
const pyYAMLScript = `
import base64, json, sys, yaml
class TooBig(Exception): pass
count = 0
def conv(v):
    global count
    count += 1
    if count > 200000: raise TooBig()
    if isinstance(v, bool): return ["bool", v]
    if isinstance(v, int): return ["int", str(v)]
    if isinstance(v, float): return ["float", repr(v)]
    if v is None: return ["null"]
    if isinstance(v, str): return ["str", v]
    if isinstance(v, list): return ["seq", [conv(x) for x in v]]
    if isinstance(v, dict):
        if not all(isinstance(k, str) for k in v): return ["other", repr(v)]
        return ["map", {k: conv(x) for k, x in v.items()}]
    return ["other", repr(v)]
out = []
for doc in json.load(sys.stdin):
    try:
        v = yaml.safe_load(base64.b64decode(doc))
    except Exception as e:
        out.append(["error", str(e)])
        continue
    count = 0
    try:
        out.append(conv(v))
    except (RecursionError, TooBig):
        out.append(["other", "recursive or too big to print"])
json.dump(out, sys.stdout)
`

// pyYAMLLoad runs docs through the PyYAML that oslo.messaging's Debian package pulls in, the oracle for what a
// provider config means to Nova. It is missing only where python3-oslo.messaging is not installed, which fails
// under CI=true.
func pyYAMLLoad(t *testing.T, docs []string) []json.RawMessage {
	t.Helper()
	if err := exec.Command("/usr/bin/python3", "-c", "import yaml").Run(); err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("/usr/bin/python3 cannot import yaml (apt-get install python3-yaml): %v", err)
		}
		t.Skipf("/usr/bin/python3 cannot import yaml: %v", err)
	}
	// As bytes, so that invalid UTF-8 reaches PyYAML as it is.
	raw := make([][]byte, len(docs))
	for i, d := range docs {
		raw[i] = []byte(d)
	}
	in, err := json.Marshal(raw)
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command("/usr/bin/python3", "-c", pyYAMLScript)
	cmd.Stdin = bytes.NewReader(in)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("python3: %v\n%s", err, stderr.String())
	}
	var res []json.RawMessage
	if err := json.Unmarshal(out, &res); err != nil {
		t.Fatal(err)
	}
	return res
}

// samePyValue compares a PyYAML result (as pyYAMLScript prints it) with a node; "" when they agree.
func samePyValue(py json.RawMessage, n *yamlNode) string {
	var tagged []json.RawMessage
	if err := json.Unmarshal(py, &tagged); err != nil || len(tagged) == 0 {
		return "bad oracle output " + string(py)
	}
	var tag string
	_ = json.Unmarshal(tagged[0], &tag)
	got := n.plain()
	switch tag {
	case "null":
		if got != nil {
			return fmt.Sprintf("PyYAML None, we %#v", got)
		}
	case "bool":
		var b bool
		_ = json.Unmarshal(tagged[1], &b)
		if got != b {
			return fmt.Sprintf("PyYAML %v, we %#v", b, got)
		}
	case "int":
		var s string
		_ = json.Unmarshal(tagged[1], &s)
		if g, ok := got.(int64); !ok || strconv.FormatInt(g, 10) != s {
			return fmt.Sprintf("PyYAML int %s, we %#v", s, got)
		}
	case "float":
		var s string
		_ = json.Unmarshal(tagged[1], &s)
		f, err := strconv.ParseFloat(s, 64)
		if g, ok := got.(float64); !ok || err != nil || !(g == f || math.IsNaN(g) && math.IsNaN(f)) {
			return fmt.Sprintf("PyYAML float %s, we %#v", s, got)
		}
	case "str":
		var s string
		_ = json.Unmarshal(tagged[1], &s)
		if got != s {
			return fmt.Sprintf("PyYAML %q, we %#v", s, got)
		}
	case "seq":
		var items []json.RawMessage
		_ = json.Unmarshal(tagged[1], &items)
		if n == nil || n.kind != yamlSeq || len(n.items) != len(items) {
			return fmt.Sprintf("PyYAML list of %d, we %#v", len(items), got)
		}
		for i := range items {
			if d := samePyValue(items[i], n.items[i]); d != "" {
				return fmt.Sprintf("[%d]: %s", i, d)
			}
		}
	case "map":
		var fields map[string]json.RawMessage
		_ = json.Unmarshal(tagged[1], &fields)
		if n == nil || n.kind != yamlMap || len(n.keys) != len(fields) {
			return fmt.Sprintf("PyYAML mapping of %d, we %#v", len(fields), got)
		}
		for k, v := range fields {
			f, ok := n.fields[k]
			if !ok {
				return fmt.Sprintf("PyYAML has key %q, we do not", k)
			}
			if d := samePyValue(v, f); d != "" {
				return fmt.Sprintf(".%s: %s", k, d)
			}
		}
	default:
		return "PyYAML gave " + string(py)
	}
	return ""
}

// TestParseYAMLMatchesPyYAML checks parseYAML against PyYAML's safe_load,
// the reader Nova uses: every document read here means the same to
// PyYAML, and every one refused here is refused by PyYAML too unless the
// case says it is refused on purpose.
func TestParseYAMLMatchesPyYAML(t *testing.T) {
	var docs []string
	for _, tt := range yamlValid {
		docs = append(docs, tt.in)
	}
	for _, s := range yamlFuzzSeeds {
		if _, err := parseYAML("seed.yaml", []byte(s)); err == nil {
			docs = append(docs, s)
		}
	}
	for _, tt := range yamlRefused {
		docs = append(docs, tt.in)
	}
	res := pyYAMLLoad(t, docs)
	for i, doc := range docs[:len(docs)-len(yamlRefused)] {
		n, err := parseYAML("test.yaml", []byte(doc))
		if err != nil {
			t.Fatal(err)
		}
		if d := samePyValue(res[i], n); d != "" {
			t.Errorf("%q: %s", doc, d)
		}
	}
	for i, tt := range yamlRefused {
		py := res[len(docs)-len(yamlRefused)+i]
		if pyErr := bytes.HasPrefix(py, []byte(`["error"`)); pyErr == tt.pyReads {
			t.Errorf("%s: %q: pyReads is %v but PyYAML gives %s", tt.name, tt.in, tt.pyReads, clip(string(py)))
		}
	}
}

var yamlFuzzSeeds = []string{
	novaSample,
	"a:\n- b: [1, {c: 'd'}]\n  e: \"f\\u00e9\"\n",
	"--- # x\n- - 1\n  - 0x1F\n-\n  k: 1:30.5\n...\n",
	"  a: 'it''s'\n  b: ~\n",
	"a: &x 1\nb: *x\n",
	"a: |\n  x\n",
	"a:\n\t- b\n",
	"base: &b {total: 1}\nx: {<<: *b, reserved: 0}\n",
	"a: !!str 1.0\nb: |-\n  x\n",
	"{a: [b, {c: d}], e: }",
	"a: \"\\U0001F600\\x41\"\r\n",
	"? a\n: b\n",
}

// yamlLines counts lines as YAML does: CRLF, CR, LF, NEL, LS and PS each end one.
func yamlLines(data []byte) int {
	s := strings.ReplaceAll(string(data), "\r\n", "\n")
	return 1 + strings.Count(s, "\n") + strings.Count(s, "\r") + strings.Count(s, "\u0085") +
		strings.Count(s, "\u2028") + strings.Count(s, "\u2029")
}

// FuzzParseYAML feeds arbitrary bytes to the reader and the provider config decoder behind it: each must
// return a result or a *yamlError naming the file and one of its lines, never panic.
func FuzzParseYAML(f *testing.F) {
	for _, s := range yamlFuzzSeeds {
		f.Add([]byte(s))
	}
	for _, tt := range yamlValid {
		f.Add([]byte(tt.in))
	}
	for _, tt := range yamlRefused {
		f.Add([]byte(tt.in))
	}
	check := func(t *testing.T, data []byte, err error) {
		t.Helper()
		ye, ok := err.(*yamlError)
		if !ok {
			t.Fatalf("error of type %T: %v", err, err)
		}
		if ye.File != "fuzz.yaml" || !strings.HasPrefix(err.Error(), "fuzz.yaml line ") {
			t.Fatalf("error does not name the file: %v", err)
		}
		if ye.Line < 1 || ye.Line > yamlLines(data) {
			t.Fatalf("error names line %d of a %d-line input: %v", ye.Line, yamlLines(data), err)
		}
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		n, err := parseYAML("fuzz.yaml", data)
		if err != nil {
			check(t, data, err)
		} else {
			_ = n.plain()
		}
		if _, err := decodeProviderConfig("fuzz.yaml", data); err != nil {
			check(t, data, err)
		}
	})
}
