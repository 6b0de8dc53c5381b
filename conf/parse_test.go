package conf

import (
	"errors"
	"reflect"
	"strings"
	"testing"
)

func TestParseINI(t *testing.T) {
	type kv = map[string]map[string][]valueAt
	tests := []struct {
		name string
		in   string
		want kv
	}{
		{"equals and colon", "[DEFAULT]\na = 1\nb: 2\n", kv{"DEFAULT": {"a": {{"1", 2}}, "b": {{"2", 3}}}}},
		{"first separator wins", "[g]\nurl = http://x:1\nk: v=w\n",
			kv{"g": {"url": {{"http://x:1", 2}}, "k": {{"v=w", 3}}}}},
		{"value may be a separator", "[g]\nusername = =\n", kv{"g": {"username": {{"=", 2}}}}},
		{"quotes removed once", "[g]\na = \"x\"\nb = 'y'\nc = \"z'\nd = \"\"\"\ne = \"\n",
			kv{"g": {"a": {{"x", 2}}, "b": {{"y", 3}}, "c": {{"\"z'", 4}}, "d": {{"\"", 5}}, "e": {{"", 6}}}}},
		{"empty value", "[g]\na =\n", kv{"g": {"a": {{"", 2}}}}},
		{"comments and no inline comments", "# c\n[g]\n; c\na = 1 # not a comment\n",
			kv{"g": {"a": {{"1 # not a comment", 4}}}}},
		{"continuation lines", "[g]\na = one\n  two\n\tthree\nb = x\n",
			kv{"g": {"a": {{"one\ntwo\nthree", 2}}, "b": {{"x", 5}}}}},
		{"blank line ends continuation", "[g]\na = one\n\n[h]\n", kv{"g": {"a": {{"one", 2}}}, "h": {}}},
		{"repeated keys kept in order", "[g]\na = 1\na = 2\n", kv{"g": {"a": {{"1", 2}, {"2", 3}}}}},
		{"groups lower-cased, DEFAULT kept", "[Placement]\na = 1\n[placement]\na = 2\n[default]\nb = 3\n",
			kv{"placement": {"a": {{"1", 2}, {"2", 4}}}, "default": {"b": {{"3", 6}}}}},
		{"keys keep their case", "[g]\nHost = x\n", kv{"g": {"Host": {{"x", 2}}}}},
		{"CRLF and CR line ends", "[g]\r\na = 1\r\nb = 2\rc = 3", kv{"g": {"a": {{"1", 2}}, "b": {{"2", 3}},
			"c": {{"3", 4}}}}},
		{"trailing spaces and BOM", "\ufeff[g]  \na = 1  \n", kv{"g": {"a": {{"1", 2}}}}},
		{"group name not trimmed", "[ g ]\na = 1\n", kv{" g ": {"a": {{"1", 2}}}}},
		{"NUL byte in value", "[g]\na = x\x00y\n", kv{"g": {"a": {{"x\x00y", 2}}}}},
		{"empty file", "", kv{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			pf, err := parseINI("f.conf", []byte(tt.in))
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(pf.groups, tt.want) {
				t.Fatalf("got %#v\nwant %#v", pf.groups, tt.want)
			}
		})
	}
}

func TestParseINIErrors(t *testing.T) {
	long := "[g]\n" + strings.Repeat("x", 200) + "\n"
	tests := []struct {
		name, in, want string
		line           int
	}{
		{"no separator", "[g]\nfoo\n", `f.conf:2: [g]: no '=' or ':' in assignment: "foo"`, 2},
		{"empty key", "[g]\n= 1\n", `f.conf:2: [g]: empty option name: "= 1"`, 2},
		{"continuation first", "  a = 1\n", `f.conf:1: unexpected continuation line: "  a = 1"`, 1},
		{"continuation after header", "[g]\n  a\n", `f.conf:2: [g]: unexpected continuation line: "  a"`, 2},
		{"continuation after blank", "[g]\na = 1\n\n  b\n", `f.conf:4: [g]: unexpected continuation line: "  b"`, 4},
		{"continuation after comment", "[g]\na = 1\n# c\n  b\n",
			`f.conf:4: [g]: unexpected continuation line: "  b"`, 4},
		{"unclosed header", "[g\n", `f.conf:1: invalid group header (must end with ]): "[g"`, 1},
		{"empty header", "[]\n", `f.conf:1: empty group name: "[]"`, 1},
		{"assignment before header", "a = 1\n", "f.conf:1: a: assignment before the first [group] header", 1},
		{"invalid UTF-8", "[g]\na = \xff\n", "f.conf:2: [g]: line is not valid UTF-8", 2},
		{"long line shortened", long, `f.conf:2: [g]: no '=' or ':' in assignment: "` + strings.Repeat("x", 80) +
			`"...`, 2},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := parseINI("f.conf", []byte(tt.in))
			var ce *Error
			if !errors.As(err, &ce) {
				t.Fatalf("error %v is not a *conf.Error", err)
			}
			if err.Error() != tt.want {
				t.Fatalf("error %q\n want %q", err.Error(), tt.want)
			}
			if ce.File != "f.conf" || ce.Line != tt.line {
				t.Fatalf("location %s:%d", ce.File, ce.Line)
			}
		})
	}
}
