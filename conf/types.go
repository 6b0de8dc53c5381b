package conf

import (
	"fmt"
	"math"
	"net/netip"
	"net/url"
	"regexp"
	"sort"
	"strconv"
	"strings"
)

// Kind is an option's value type, after oslo_config.types.
type Kind int

// The option types. Go types of the values: string for KindString, KindHostDomain, KindHostAddress and KindURI; int
// for KindInt and KindPort; float64; bool; []string for KindList and KindMulti; []int; map[string]string.
const (
	KindString      Kind = iota // any text (StrOpt)
	KindInt                     // integer with optional Min/Max (IntOpt)
	KindFloat                   // floating point with optional Min/Max (FloatOpt)
	KindBool                    // true/false, yes/no, on/off, 1/0 in any case (BoolOpt)
	KindList                    // comma-separated strings (ListOpt)
	KindIntList                 // comma-separated integers (ListOpt(item_type=Integer))
	KindDict                    // k:v,k2:v2 (DictOpt)
	KindMulti                   // a key repeated, every occurrence kept (MultiStrOpt)
	KindPort                    // integer 0-65535 (PortOpt)
	KindHostDomain              // IP address, host name or domain name, "_" allowed (HostDomainOpt)
	KindHostAddress             // IP address or host name (HostAddressOpt)
	KindURI                     // URI with a scheme and a host (URIOpt)
)

// typeName is what oslo-config-generator prints after an option's help.
func (k Kind) typeName() string {
	switch k {
	case KindInt:
		return "integer value"
	case KindFloat:
		return "floating point value"
	case KindBool:
		return "boolean value"
	case KindList, KindIntList:
		return "list value"
	case KindDict:
		return "dict value"
	case KindMulti:
		return "multi valued"
	case KindPort:
		return "port value"
	case KindHostDomain:
		return "host domain value"
	case KindHostAddress:
		return "host address value"
	case KindURI:
		return "uri value"
	}
	return "string value"
}

// numeric reports whether Min/Max apply.
func (k Kind) numeric() bool { return k == KindInt || k == KindFloat || k == KindPort }

// convert turns one raw (already interpolated) string into the option's typed value, or says in words why it cannot.
// A nil value with an empty reason means "unset" (an empty number, as oslo's Number type returns None).
func (o *Option) convert(s string) (any, string) {
	switch o.Kind {
	case KindInt, KindPort:
		t := strings.TrimFunc(s, isPySpace)
		if t == "" {
			return nil, ""
		}
		n, ok := parsePyInt(t)
		if !ok {
			return nil, fmt.Sprintf("%s is not an integer", strconv.Quote(s))
		}
		if r := o.checkRange(float64(n), strconv.Itoa(n)); r != "" {
			return nil, r
		}
		return n, ""
	case KindFloat:
		t := strings.TrimFunc(s, isPySpace)
		if t == "" {
			return nil, ""
		}
		f, ok := parsePyFloat(t)
		if !ok {
			return nil, fmt.Sprintf("%s is not a number", strconv.Quote(s))
		}
		if r := o.checkRange(f, pyFloat(f)); r != "" {
			return nil, r
		}
		return f, ""
	case KindBool:
		switch strings.ToLower(s) {
		case "true", "1", "on", "yes":
			return true, ""
		case "false", "0", "off", "no":
			return false, ""
		}
		return nil, fmt.Sprintf("%s is not a boolean (use true/false, yes/no, on/off or 1/0)", strconv.Quote(s))
	case KindList:
		return splitList(s), ""
	case KindIntList:
		var out []int
		for _, item := range splitList(s) {
			n, ok := parsePyInt(item)
			if !ok {
				return nil, fmt.Sprintf("list item %s is not an integer", strconv.Quote(item))
			}
			out = append(out, n)
		}
		if out == nil {
			out = []int{}
		}
		return out, ""
	case KindDict:
		return parseDict(s)
	case KindHostDomain, KindHostAddress:
		if !validHost(s, o.Kind == KindHostDomain) {
			return nil, fmt.Sprintf("%s is not a valid IP address or host name", strconv.Quote(s))
		}
		return s, ""
	case KindURI:
		if r := checkURI(s); r != "" {
			return nil, r
		}
		return s, ""
	}
	if len(o.Choices) > 0 && !o.hasChoice(s) {
		names := make([]string, len(o.Choices))
		for i, c := range o.Choices {
			names[i] = c.Value
		}
		return nil, fmt.Sprintf("%s is not one of: %s", strconv.Quote(s), strings.Join(names, ", "))
	}
	return s, ""
}

func (o *Option) hasChoice(s string) bool {
	for _, c := range o.Choices {
		if c.Value == s {
			return true
		}
	}
	return false
}

// bounds are Min and Max, with a port's range where they are not set.
func (o *Option) bounds() (lo, hi *float64) {
	lo, hi = o.Min, o.Max
	if o.Kind == KindPort {
		if lo == nil {
			lo = ptr(0)
		}
		if hi == nil {
			hi = ptr(65535)
		}
	}
	return lo, hi
}

// checkRange applies the bounds; shown is the value as the user would recognise it.
func (o *Option) checkRange(v float64, shown string) string {
	lo, hi := o.bounds()
	if lo != nil && v < *lo {
		return fmt.Sprintf("%s is less than the minimum %s", shown, o.formatBound(*lo))
	}
	if hi != nil && v > *hi {
		return fmt.Sprintf("%s is greater than the maximum %s", shown, o.formatBound(*hi))
	}
	return ""
}

func (o *Option) formatBound(b float64) string {
	if o.Kind == KindFloat {
		return pyFloat(b)
	}
	return strconv.FormatFloat(b, 'f', -1, 64)
}

var (
	pyIntRe   = regexp.MustCompile(`^[+-]?[0-9](?:_?[0-9])*$`)
	pyDigits  = `[0-9](?:_?[0-9])*`
	pyFloatRe = regexp.MustCompile(`^[+-]?(?:(?:` + pyDigits + `)?\.` + pyDigits + `|` + pyDigits + `\.?)(?:[eE][+-]?` +
		pyDigits + `)?$`)
	pySpecialFloatRe = regexp.MustCompile(`(?i)^[+-]?(?:inf|infinity|nan)$`)
)

// parsePyInt accepts what Python's int() accepts from a config file: optional sign, decimal digits, single
// underscores between digits. Values that do not fit an int are refused.
func parsePyInt(s string) (int, bool) {
	s = strings.TrimFunc(s, isPySpace)
	if !pyIntRe.MatchString(s) {
		return 0, false
	}
	n, err := strconv.ParseInt(strings.ReplaceAll(s, "_", ""), 10, 64)
	if err != nil || n != int64(int(n)) {
		return 0, false
	}
	return int(n), true
}

// parsePyFloat accepts Python float() syntax: decimal, exponent, underscores between digits, inf and nan.
func parsePyFloat(s string) (float64, bool) {
	if !pyFloatRe.MatchString(s) && !pySpecialFloatRe.MatchString(s) {
		return 0, false
	}
	f, err := strconv.ParseFloat(strings.ReplaceAll(s, "_", ""), 64)
	if err != nil && !math.IsInf(f, 0) {
		return 0, false
	}
	return f, true
}

// splitList is oslo's List of String: trailing commas dropped, items split at "," and trimmed.
func splitList(s string) []string {
	s = strings.TrimRight(strings.TrimFunc(s, isPySpace), ",")
	out := []string{}
	if s == "" {
		return out
	}
	for _, item := range strings.Split(s, ",") {
		out = append(out, strings.TrimFunc(item, isPySpace))
	}
	return out
}

// parseDict is oslo's Dict of String: pairs split at ",", key and value at the first ":"; a piece without ":" is
// joined with the next one, so "a,b:c" is the key "a,b".
func parseDict(s string) (any, string) {
	out := map[string]string{}
	s = strings.TrimFunc(s, isPySpace)
	if s == "" {
		return out, ""
	}
	pairs := strings.Split(s, ",")
	for len(pairs) > 0 {
		pair := pairs[0]
		pairs = pairs[1:]
		for !strings.Contains(pair, ":") {
			if len(pairs) == 0 {
				return nil, fmt.Sprintf("%s is not a key:value pair", strconv.Quote(pair))
			}
			pair += "," + pairs[0]
			pairs = pairs[1:]
		}
		k, v, _ := strings.Cut(pair, ":")
		k, v = strings.TrimFunc(k, isPySpace), strings.TrimFunc(v, isPySpace)
		if k == "" {
			return nil, fmt.Sprintf("empty key in %s", strconv.Quote(pair))
		}
		if _, dup := out[k]; dup {
			return nil, fmt.Sprintf("duplicate key %s", strconv.Quote(k))
		}
		out[k] = v
	}
	return out, ""
}

var (
	hostLabelRe   = regexp.MustCompile(`(?i)^[a-z0-9-]{1,63}$`)
	domainLabelRe = regexp.MustCompile(`(?i)^[a-z0-9_-]{1,63}$`)
	tldLetterRe   = regexp.MustCompile(`[a-zA-Z-]`)
)

// validHost is oslo's HostAddress (IP or RFC 1123 host name) and, with underscore, HostDomain.
func validHost(s string, underscore bool) bool {
	if a, err := netip.ParseAddr(s); err == nil && a.Zone() == "" {
		return true
	}
	if s == "" || len(s) > 253 {
		return false
	}
	s = strings.TrimSuffix(s, ".")
	labels := strings.Split(s, ".")
	if !tldLetterRe.MatchString(labels[len(labels)-1]) {
		return false
	}
	re := hostLabelRe
	if underscore {
		re = domainLabelRe
	}
	for _, l := range labels {
		if !re.MatchString(l) || strings.HasPrefix(l, "-") || strings.HasSuffix(l, "-") {
			return false
		}
	}
	return true
}

// checkURI requires what oslo's URI type requires of RFC 3986: a valid scheme and a host.
func checkURI(s string) string {
	u, err := url.Parse(s)
	if err != nil {
		return fmt.Sprintf("%s is not a valid URI", strconv.Quote(s))
	}
	if u.Scheme == "" || u.Host == "" || u.Hostname() == "" {
		return fmt.Sprintf("%s is not a valid URI (it needs a scheme and a host)", strconv.Quote(s))
	}
	return ""
}

// pyFloat formats a float as Python's str() does: 4.0, 0.5, 1e+16, 1e-05, inf, nan.
func pyFloat(f float64) string {
	switch {
	case math.IsInf(f, 1):
		return "inf"
	case math.IsInf(f, -1):
		return "-inf"
	case math.IsNaN(f):
		return "nan"
	}
	if f != 0 {
		if e := math.Floor(math.Log10(math.Abs(f))); e < -4 || e >= 16 {
			return strconv.FormatFloat(f, 'e', -1, 64)
		}
	}
	s := strconv.FormatFloat(f, 'f', -1, 64)
	if !strings.ContainsAny(s, ".") {
		s += ".0"
	}
	return s
}

// pyStr is how oslo's interpolation renders a referenced option's value: Python's str() of it, "" for None.
func pyStr(v any) string {
	switch x := v.(type) {
	case nil:
		return ""
	case string:
		return x
	case bool:
		if x {
			return "True"
		}
		return "False"
	case int:
		return strconv.Itoa(x)
	case float64:
		return pyFloat(x)
	case []string:
		q := make([]string, len(x))
		for i, s := range x {
			q[i] = pyQuote(s)
		}
		return "[" + strings.Join(q, ", ") + "]"
	case []int:
		q := make([]string, len(x))
		for i, n := range x {
			q[i] = strconv.Itoa(n)
		}
		return "[" + strings.Join(q, ", ") + "]"
	case map[string]string:
		keys := sortedKeys(x)
		q := make([]string, len(keys))
		for i, k := range keys {
			q[i] = pyQuote(k) + ": " + pyQuote(x[k])
		}
		return "{" + strings.Join(q, ", ") + "}"
	}
	return fmt.Sprint(v)
}

// pyQuote is Python's repr() of a plain string, close enough for messages.
func pyQuote(s string) string {
	if strings.Contains(s, "'") && !strings.Contains(s, `"`) {
		return `"` + s + `"`
	}
	return "'" + strings.ReplaceAll(strings.ReplaceAll(s, `\`, `\\`), "'", `\'`) + "'"
}

// formatValue renders a typed value the way oslo-config-generator renders defaults: lists comma-joined, dicts as
// sorted k:v pairs, booleans lower case, None as <None>, strings with outer spaces quoted.
func formatValue(v any) string {
	switch x := v.(type) {
	case nil:
		return "<None>"
	case string:
		if strings.TrimSpace(x) != x {
			return `"` + x + `"`
		}
		return x
	case bool:
		return strconv.FormatBool(x)
	case int:
		return strconv.Itoa(x)
	case float64:
		return pyFloat(x)
	case []string:
		return strings.Join(x, ",")
	case []int:
		q := make([]string, len(x))
		for i, n := range x {
			q[i] = strconv.Itoa(n)
		}
		return strings.Join(q, ",")
	case map[string]string:
		keys := sortedKeys(x)
		q := make([]string, len(keys))
		for i, k := range keys {
			q[i] = k + ":" + x[k]
		}
		return strings.Join(q, ",")
	}
	return fmt.Sprint(v)
}

func sortedKeys(m map[string]string) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}
