package conf

import (
	"math"
	"reflect"
	"testing"
)

func TestConvert(t *testing.T) {
	intOpt := &Option{Kind: KindInt, Min: ptr(-1), Max: ptr(100)}
	floatOpt := &Option{Kind: KindFloat, Min: ptr(0), Max: ptr(4.5)}
	choiceOpt := &Option{Kind: KindString, Choices: []Choice{{"zfs", ""}, {"file", ""}}}
	tests := []struct {
		name   string
		o      *Option
		in     string
		want   any
		reason string
	}{
		{"string kept as is", &Option{Kind: KindString}, " a b ", " a b ", ""},
		{"string empty", &Option{Kind: KindString}, "", "", ""},
		{"choice ok", choiceOpt, "file", "file", ""},
		{"choice is case-sensitive", choiceOpt, "ZFS", nil, `"ZFS" is not one of: zfs, file`},
		{"int", intOpt, "42", 42, ""},
		{"int spaces sign underscore", intOpt, " +1_0 ", 10, ""},
		{"int negative at min", intOpt, "-1", -1, ""},
		{"int below min", intOpt, "-2", nil, "-2 is less than the minimum -1"},
		{"int above max", intOpt, "101", nil, "101 is greater than the maximum 100"},
		{"int not a number", intOpt, "ten", nil, `"ten" is not an integer`},
		{"int float text", intOpt, "1.5", nil, `"1.5" is not an integer`},
		{"int hex refused", intOpt, "0x10", nil, `"0x10" is not an integer`},
		{"int double underscore", intOpt, "1__0", nil, `"1__0" is not an integer`},
		{"int overflow", &Option{Kind: KindInt}, "99999999999999999999", nil,
			`"99999999999999999999" is not an integer`},
		{"int empty is unset", intOpt, "  ", nil, ""},
		{"port max", &Option{Kind: KindPort}, "65535", 65535, ""},
		{"port too big", &Option{Kind: KindPort}, "65536", nil, "65536 is greater than the maximum 65535"},
		{"port negative", &Option{Kind: KindPort}, "-1", nil, "-1 is less than the minimum 0"},
		{"float", floatOpt, "1.5", 1.5, ""},
		{"float integer text", floatOpt, "2", 2.0, ""},
		{"float exponent", floatOpt, "4e-1", 0.4, ""},
		{"float leading dot", floatOpt, ".5", 0.5, ""},
		{"float above max", floatOpt, "4.6", nil, "4.6 is greater than the maximum 4.5"},
		{"float below min", floatOpt, "-0.1", nil, "-0.1 is less than the minimum 0.0"},
		{"float junk", floatOpt, "1.2.3", nil, `"1.2.3" is not a number`},
		{"float hex refused", &Option{Kind: KindFloat}, "0x1p-2", nil, `"0x1p-2" is not a number`},
		{"float inf", &Option{Kind: KindFloat}, "inf", math.Inf(1), ""},
		{"float empty is unset", floatOpt, "", nil, ""},
	}
	for _, word := range []string{"true", "TRUE", "Yes", "on", "1"} {
		tests = append(tests, struct {
			name   string
			o      *Option
			in     string
			want   any
			reason string
		}{"bool " + word, &Option{Kind: KindBool}, word, true, ""})
	}
	for _, word := range []string{"false", "False", "NO", "off", "0"} {
		tests = append(tests, struct {
			name   string
			o      *Option
			in     string
			want   any
			reason string
		}{"bool " + word, &Option{Kind: KindBool}, word, false, ""})
	}
	tests = append(tests, []struct {
		name   string
		o      *Option
		in     string
		want   any
		reason string
	}{
		{"bool junk", &Option{Kind: KindBool}, "maybe", nil,
			`"maybe" is not a boolean (use true/false, yes/no, on/off or 1/0)`},
		{"bool empty", &Option{Kind: KindBool}, "", nil, `"" is not a boolean (use true/false, yes/no, on/off or 1/0)`},
		{"list", &Option{Kind: KindList}, " a, b ,c,", []string{"a", "b", "c"}, ""},
		{"list empty", &Option{Kind: KindList}, "", []string{}, ""},
		{"list keeps inner empties", &Option{Kind: KindList}, "a,,b", []string{"a", "", "b"}, ""},
		{"list only comma", &Option{Kind: KindList}, ",", []string{}, ""},
		{"int list", &Option{Kind: KindIntList}, "502, 503", []int{502, 503}, ""},
		{"int list bad item", &Option{Kind: KindIntList}, "502,x", nil, `list item "x" is not an integer`},
		{"dict", &Option{Kind: KindDict}, "a:1, b : 2", map[string]string{"a": "1", "b": "2"}, ""},
		{"dict value with colon", &Option{Kind: KindDict}, "url:http://x", map[string]string{"url": "http://x"}, ""},
		{"dict piece joined to next", &Option{Kind: KindDict}, "a,b:c", map[string]string{"a,b": "c"}, ""},
		{"dict empty", &Option{Kind: KindDict}, "", map[string]string{}, ""},
		{"dict no colon", &Option{Kind: KindDict}, "a", nil, `"a" is not a key:value pair`},
		{"dict trailing comma", &Option{Kind: KindDict}, "a:1,", nil, `"" is not a key:value pair`},
		{"dict empty key", &Option{Kind: KindDict}, ":1", nil, `empty key in ":1"`},
		{"dict duplicate key", &Option{Kind: KindDict}, "a:1,a:2", nil, `duplicate key "a"`},
		{"host name", &Option{Kind: KindHostDomain}, "compute-1.example.org", "compute-1.example.org", ""},
		{"host underscore in domain", &Option{Kind: KindHostDomain}, "my_host", "my_host", ""},
		{"host address refuses underscore", &Option{Kind: KindHostAddress}, "my_host", nil,
			`"my_host" is not a valid IP address or host name`},
		{"host ipv6", &Option{Kind: KindHostAddress}, "::1", "::1", ""},
		{"host trailing dot", &Option{Kind: KindHostAddress}, "example.org.", "example.org.", ""},
		{"host numeric tld", &Option{Kind: KindHostAddress}, "1.2.3", nil,
			`"1.2.3" is not a valid IP address or host name`},
		{"host leading hyphen", &Option{Kind: KindHostDomain}, "-bad", nil,
			`"-bad" is not a valid IP address or host name`},
		{"host empty", &Option{Kind: KindHostDomain}, "", nil, `"" is not a valid IP address or host name`},
		{"uri", &Option{Kind: KindURI}, "http://h:6080/vnc.html", "http://h:6080/vnc.html", ""},
		{"uri without host", &Option{Kind: KindURI}, "vnc.html", nil,
			`"vnc.html" is not a valid URI (it needs a scheme and a host)`},
		{"uri unparsable", &Option{Kind: KindURI}, "http://[::1", nil, `"http://[::1" is not a valid URI`},
	}...)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, reason := tt.o.convert(tt.in)
			if reason != tt.reason {
				t.Fatalf("reason %q, want %q", reason, tt.reason)
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Fatalf("got %#v, want %#v", got, tt.want)
			}
		})
	}
}

func TestPyFormatting(t *testing.T) {
	tests := []struct {
		v           any
		str, format string
	}{
		{4.0, "4.0", "4.0"},
		{0.5, "0.5", "0.5"},
		{1e16, "1e+16", "1e+16"},
		{1e-5, "1e-05", "1e-05"},
		{true, "True", "true"},
		{nil, "", "<None>"},
		{[]string{"a", "b"}, "['a', 'b']", "a,b"},
		{[]int{1, 2}, "[1, 2]", "1,2"},
		{map[string]string{"b": "2", "a": "1"}, "{'a': '1', 'b': '2'}", "a:1,b:2"},
		{" x", " x", `" x"`},
	}
	for _, tt := range tests {
		if got := pyStr(tt.v); got != tt.str {
			t.Errorf("pyStr(%#v) = %q, want %q", tt.v, got, tt.str)
		}
		if got := formatValue(tt.v); got != tt.format {
			t.Errorf("formatValue(%#v) = %q, want %q", tt.v, got, tt.format)
		}
	}
}
