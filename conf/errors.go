package conf

import (
	"strconv"
	"strings"
)

// Error is the one error Load returns for bad input: an unreadable file, a malformed line, a value of the wrong type
// or out of range, or a broken `$reference`. Fields that do not apply are empty (Line is 0 for whole-file problems
// and for defaults). Use errors.As to get at it.
type Error struct {
	File   string // config file path as given, empty for defaults
	Line   int    // 1-based line number, 0 when the problem is not on one line
	Group  string // option group, "DEFAULT" or lower case
	Option string // option name as written in the file
	Reason string // what was wrong, in words
	Err    error  // underlying cause, if any
}

// Error formats as "file:line: [group] option: reason", leaving out what is unknown.
func (e *Error) Error() string {
	var b strings.Builder
	if e.File != "" {
		b.WriteString(e.File)
		if e.Line > 0 {
			b.WriteByte(':')
			b.WriteString(strconv.Itoa(e.Line))
		}
		b.WriteString(": ")
	}
	if e.Group != "" {
		b.WriteString("[" + e.Group + "]")
		if e.Option != "" {
			b.WriteByte(' ')
		}
	}
	b.WriteString(e.Option)
	if e.Group != "" || e.Option != "" {
		b.WriteString(": ")
	}
	b.WriteString(e.Reason)
	return b.String()
}

// Unwrap returns the underlying cause (an *fs.PathError for unreadable files).
func (e *Error) Unwrap() error { return e.Err }
