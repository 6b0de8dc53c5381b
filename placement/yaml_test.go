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
c: "tab\there\u00e9\x41\"\\\/ \N\_"
d: ""
e: 'yes'
'f g': 1
"h": 2
"i j" : 3
`, m{"a": "1.0", "b": "it's # not a comment", "c": "tab\there\u00e9A\"\\/ \u0085\u00a0", "d": "", "e": "yes",
		"f g": int64(1), "h": int64(2), "i j": int64(3)}},
	{"flow collections", `a: [x, 1, 'y', [z], {k: v}, ]
b: {p: 1, 'q': [2, 3], r: , s:}
c: []
d: {}
e: {"j":1}
f: [ a b , c ]
`, m{"a": l{"x", int64(1), "y", l{"z"}, m{"k": "v"}}, "b": m{"p": int64(1), "q": l{int64(2), int64(3)}, "r": nil, "s": nil},
		"c": l{}, "d": m{}, "e": m{"j": int64(1)}, "f": l{"a b", "c"}}},
	{"flow at top level", "[a, b]", l{"a", "b"}},
	{"comments after dash and key", "a: # c\n  - # d\n    x\n", m{"a": l{"x"}}},
	{"tabs inside quotes and comments", "a: \"x\ty\" #\tc\n", m{"a": "x\ty"}},
}

func TestYAMLSubsetReads(t *testing.T) {
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

var yamlRefused = []struct {
	name string
	in   string
	line int
	want string
}{
	{"anchor", "a: &x 1\n", 1, "anchors"},
	{"alias", "a: 1\nb: *x\n", 2, "aliases"},
	{"anchor on a key", "&x a: 1\n", 1, "anchors"},
	{"tag", "a: !!str 1\n", 1, "tags"},
	{"local tag", "- !foo x\n", 1, "tags"},
	{"literal block scalar", "a: |\n  x\n", 1, "block scalars"},
	{"folded block scalar", "a: >-\n  x\n", 1, "block scalars"},
	{"second document", "a: 1\n---\nb: 2\n", 2, "multiple documents"},
	{"two document starts", "---\n---\na: 1\n", 2, "multiple documents"},
	{"content after end marker", "a: 1\n...\nb: 2\n", 3, "multiple documents"},
	{"content on the --- line", "--- a\n", 1, "content on the \"---\" line"},
	{"directive", "%YAML 1.1\n---\na: 1\n", 1, "directives"},
	{"tab indentation", "a:\n\tb: 1\n", 2, "tab character in the indentation"},
	{"tab after spaces", "a:\n  \tb: 1\n", 2, "tab character in the indentation"},
	{"tab in a value", "a: b\tc\n", 1, "tab character outside a quoted scalar"},
	{"tab after the colon", "a:\tb\n", 1, "tab character"},
	{"multi-line plain scalar", "a: b\n  c\n", 2, "multi-line scalars are not supported"},
	{"multi-line root scalar", "a\nb\n", 2, "multi-line scalars"},
	{"multi-line quoted scalar", "a: 'b\n  c'\n", 1, "unterminated quoted scalar"},
	{"escaped line break", "a: \"b\\\n  c\"\n", 1, "multi-line quoted scalars"},
	{"multi-line flow sequence", "a: [1,\n  2]\n", 1, "not closed on this line"},
	{"multi-line flow mapping", "a: {b: 1\n  }\n", 1, "not closed on this line"},
	{"duplicate key", "a: 1\nb: 2\na: 3\n", 3, "duplicate key \"a\" (first on line 1)"},
	{"duplicate flow key", "a: {b: 1, b: 2}\n", 1, "duplicate key \"b\""},
	{"complex key", "? a\n: b\n", 1, "complex mapping keys"},
	{"less indented key", "a:\n  b: 1\n c: 2\n", 3, "unexpected indentation"},
	{"more indented key", "a: 1\n  b: 2\n", 2, "unexpected indentation"},
	{"misaligned item key", "- a: 1\n   b: 2\n", 2, "unexpected indentation"},
	{"dedent below the document", "  a: 1\nb: 2\n", 2, "indented less than the document's first line"},
	{"sequence entry among keys", "a: 1\n- b\n", 2, "sequence entry where a key"},
	{"scalar among keys", "a: 1\nb\n", 2, "expected \"key: value\""},
	{"key after a nested sequence", "a:\n  - b\n  c: 1\n", 3, "unexpected indentation"},
	{"nested mapping on one line", "a: b: c\n", 1, "nested mappings must start on their own line"},
	{"trailing colon", "a: b:\n", 1, "\": \" inside a value"},
	{"sequence entry as value", "a: - b\n", 1, "sequence entry is not allowed here"},
	{"integer key", "1: a\n", 1, "key \"1\" is read by YAML as an integer"},
	{"boolean key", "on: a\n", 1, "as a boolean; quote it"},
	{"null key", "~: a\n", 1, "as null"},
	{"flow integer key", "a: {1: b}\n", 1, "as an integer"},
	{"empty key", ": a\n", 1, "without a key"},
	{"date", "a: 2024-01-02\n", 1, "is a date"},
	{"timestamp", "a: [2001-12-14t21:59:43.10-05:00]\n", 1, "is a date"},
	{"merge key", "<<: {a: 1}\n", 1, "merge keys"},
	{"value =", "a: =\n", 1, "\"=\" is not supported"},
	{"unknown escape", "a: \"\\q\"\n", 1, "unknown escape"},
	{"short escape", "a: \"\\x4\"\n", 1, "hexadecimal digits"},
	{"surrogate escape", "a: \"\\ud800\"\n", 1, "not a Unicode character"},
	{"escape beyond Unicode", "a: \"\\U00110000\"\n", 1, "not a Unicode character"},
	{"lone carriage return", "a: 1\rb: 2\n", 1, "carriage return"},
	{"invalid UTF-8", "a: 1\nb: \xff\n", 2, "not valid UTF-8"},
	{"control character", "a: \x07\n", 1, "U+0007"},
	{"unicode line separator", "a: b\u2028c\n", 1, "line break"},
	{"pair in a flow sequence", "a: [b: 1]\n", 1, "pairs inside [ ] are not supported"},
	{"flow mapping without colon", "a: {b}\n", 1, "expected \":\" after key \"b\""},
	{"empty flow entry", "a: [b, , c]\n", 1, "unexpected ','"},
	{"flow collection as key", "[a]: b\n", 1, "flow collection as a mapping key"},
	{"question mark in flow", "a: [b?c]\n", 1, "\"?\" inside a flow collection"},
	{"comment without a space", "a: 'x'#c\n", 1, "a comment needs a space"},
	{"text after a flow collection", "a: [b] c\n", 1, "unexpected \"c\""},
	{"integer out of range", "a: 9223372036854775808\n", 1, "out of range"},
	{"malformed binary", "a: 0b_\n", 1, "malformed"},
	{"reserved indicator", "a: @x\n", 1, "cannot start a plain scalar"},
	{"deep flow nesting", "a: " + strings.Repeat("[", 100) + strings.Repeat("]", 100) + "\n", 1, "nested deeper"},
	{"deep block nesting", deepBlock(100), 65, "nesting deeper"},
}

func deepBlock(n int) string {
	var b strings.Builder
	for i := 0; i < n; i++ {
		fmt.Fprintf(&b, "%s-\n", strings.Repeat(" ", i))
	}
	return b.String()
}

func TestYAMLSubsetRefuses(t *testing.T) {
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
import json, sys, yaml
def conv(v):
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
        out.append(conv(yaml.safe_load(doc)))
    except Exception as e:
        out.append(["error", str(e)])
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
	in, err := json.Marshal(docs)
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

// TestYAMLSubsetMatchesPyYAML checks that every document the subset accepts means the same to PyYAML's
// safe_load, the reader Nova uses.
func TestYAMLSubsetMatchesPyYAML(t *testing.T) {
	var docs []string
	for _, tt := range yamlValid {
		docs = append(docs, tt.in)
	}
	for _, s := range yamlFuzzSeeds {
		if _, err := parseYAML("seed.yaml", []byte(s)); err == nil {
			docs = append(docs, s)
		}
	}
	res := pyYAMLLoad(t, docs)
	for i, doc := range docs {
		n, err := parseYAML("test.yaml", []byte(doc))
		if err != nil {
			t.Fatal(err)
		}
		if d := samePyValue(res[i], n); d != "" {
			t.Errorf("%q: %s", doc, d)
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
	"{a: [b, {c: d}], e: }",
	"a: \"\\U0001F600\\x41\"\r\n",
	"? a\n: b\n",
}

// FuzzYAMLSubset feeds arbitrary bytes to the reader: it must return a node or a *yamlError, never panic.
func FuzzYAMLSubset(f *testing.F) {
	for _, s := range yamlFuzzSeeds {
		f.Add([]byte(s))
	}
	for _, tt := range yamlValid {
		f.Add([]byte(tt.in))
	}
	for _, tt := range yamlRefused {
		f.Add([]byte(tt.in))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		n, err := parseYAML("fuzz.yaml", data)
		if err != nil {
			ye, ok := err.(*yamlError)
			if !ok {
				t.Fatalf("error of type %T: %v", err, err)
			}
			if ye.Line < 1 || ye.Line > bytes.Count(data, []byte("\n"))+1 {
				t.Fatalf("error names line %d of a %d-line input: %v", ye.Line, bytes.Count(data, []byte("\n"))+1, err)
			}
			return
		}
		_ = n.plain()
	})
}
