package conf

import (
	"bytes"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"
)

// valueAt is one assignment as written: the joined value (continuation lines joined with "\n") and the line its key
// is on.
type valueAt struct {
	value string
	line  int
}

// assignment is one key = value line, in file order, with its normalized group.
type assignment struct {
	group string
	key   string
	line  int
}

// parsedFile is one config file split into groups, keys and values, before any option is known. Group names are
// normalized as oslo does: "DEFAULT" stays, every other name is lower-cased; keys are kept as written.
type parsedFile struct {
	path        string
	groups      map[string]map[string][]valueAt
	assignments []assignment
}

// maxQuoted bounds how much of an offending line an error message repeats.
const maxQuoted = 80

// parseINI splits data the way oslo_config.iniparser.BaseParser does: `[group]` headers, `key = value` or
// `key: value` split at the first "=" or ":", one pair of matching quotes removed, `#`/`;` comment lines, indented
// continuation lines (joined with "\n") ended by a blank line or any other line, and repeated keys kept in order.
func parseINI(path string, data []byte) (*parsedFile, error) {
	pf := &parsedFile{path: path, groups: map[string]map[string][]valueAt{}}
	data = bytes.TrimPrefix(data, []byte("\xef\xbb\xbf"))

	var (
		group   string // normalized name of the current group, "" before the first header
		key     string
		keyLine int
		parts   []string
		haveKey bool
	)
	fail := func(lineno int, reason, line string) error {
		return &Error{File: path, Line: lineno, Group: group, Reason: reason + ": " + quoteLine(line)}
	}
	flush := func() {
		if !haveKey {
			return
		}
		g := pf.groups[group]
		g[key] = append(g[key], valueAt{value: strings.Join(parts, "\n"), line: keyLine})
		pf.assignments = append(pf.assignments, assignment{group: group, key: key, line: keyLine})
		haveKey, key, parts = false, "", nil
	}

	lineno := 0
	for lineno == 0 || len(data) > 0 {
		var raw []byte
		raw, data = nextLine(data)
		lineno++
		if !utf8.Valid(raw) {
			return nil, &Error{File: path, Line: lineno, Group: group, Reason: "line is not valid UTF-8"}
		}
		line := strings.TrimRightFunc(string(raw), isPySpace)
		switch {
		case line == "":
			flush()
			continue
		case line[0] == ' ' || line[0] == '\t':
			if !haveKey {
				return nil, fail(lineno, "unexpected continuation line", line)
			}
			parts = append(parts, strings.TrimLeftFunc(line, isPySpace))
			continue
		}
		flush()
		switch {
		case line[0] == '[':
			if !strings.HasSuffix(line, "]") {
				return nil, fail(lineno, "invalid group header (must end with ])", line)
			}
			if len(line) <= 2 {
				return nil, fail(lineno, "empty group name", line)
			}
			group = normalizeGroup(line[1 : len(line)-1])
			if pf.groups[group] == nil {
				pf.groups[group] = map[string][]valueAt{}
			}
		case line[0] == '#' || line[0] == ';':
			// comment
		default:
			k, v, ok := splitKeyValue(line)
			if !ok {
				return nil, fail(lineno, "no '=' or ':' in assignment", line)
			}
			if k == "" {
				return nil, fail(lineno, "empty option name", line)
			}
			if group == "" {
				return nil, &Error{File: path, Line: lineno, Option: k,
					Reason: "assignment before the first [group] header"}
			}
			key, keyLine, parts, haveKey = k, lineno, []string{v}, true
		}
	}
	flush()
	return pf, nil
}

// nextLine cuts one line off data, ending at "\n", "\r\n" or "\r" as Python's universal newlines do.
func nextLine(data []byte) (line, rest []byte) {
	i := bytes.IndexAny(data, "\r\n")
	if i < 0 {
		return data, nil
	}
	if data[i] == '\r' && i+1 < len(data) && data[i+1] == '\n' {
		return data[:i], data[i+2:]
	}
	return data[:i], data[i+1:]
}

// splitKeyValue splits at whichever of "=" and ":" comes first, trims both sides and removes one pair of matching
// surrounding quotes from the value.
func splitKeyValue(line string) (key, value string, ok bool) {
	i := strings.IndexAny(line, "=:")
	if i < 0 {
		return "", "", false
	}
	key = strings.TrimFunc(line[:i], isPySpace)
	value = strings.TrimFunc(line[i+1:], isPySpace)
	if n := len(value); n > 0 && (value[0] == '"' || value[0] == '\'') && value[n-1] == value[0] {
		if n == 1 {
			value = ""
		} else {
			value = value[1 : n-1]
		}
	}
	return key, value, true
}

// normalizeGroup applies oslo's rule: DEFAULT is case-sensitive, every other group name is lower-cased.
func normalizeGroup(name string) string {
	if name == "DEFAULT" {
		return name
	}
	return strings.ToLower(name)
}

// isPySpace is Python's str.isspace for one rune, which also counts the ASCII separators 0x1c-0x1f.
func isPySpace(r rune) bool {
	return unicode.IsSpace(r) || (r >= 0x1c && r <= 0x1f)
}

// quoteLine quotes a line for an error message, shortened so a megabyte-long line does not flood the log.
func quoteLine(line string) string {
	if len(line) <= maxQuoted {
		return strconv.Quote(line)
	}
	cut := maxQuoted
	for cut > 0 && !utf8.RuneStart(line[cut]) {
		cut--
	}
	return strconv.Quote(line[:cut]) + "..."
}
