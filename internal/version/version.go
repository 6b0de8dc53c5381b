// Package version parses the dotted numeric versions novabsd meets: RPC API
// and envelope versions ("6.5", "2.0"), versioned-object versions ("1.23")
// and hypervisor releases ("10.0.2"). Each caller keeps its own rule for
// which versions are compatible; this package only reads and orders them.
package version

import (
	"cmp"
	"fmt"
	"strconv"
	"strings"
)

// Version is "major.minor[.patch]"; Patch is 0 when the string had none, as
// oslo and libvirt both read a missing third part.
type Version struct {
	Major, Minor, Patch int
}

// SyntaxError says why a string is not a version.
type SyntaxError struct {
	Value string // the whole string read
	// NotNumber is the part that is not a number (it may be empty, as in
	// "1..2"); unset when the number of parts is wrong.
	NotNumber *string
}

func (e *SyntaxError) Error() string {
	if e.NotNumber == nil {
		return fmt.Sprintf("version %q is not major.minor[.patch]", e.Value)
	}
	return fmt.Sprintf("version %q: %q is not a number", e.Value, *e.NotNumber)
}

// Parse reads two or three dot-separated decimal numbers. Signs, spaces
// and empty parts are refused: strconv.Atoi alone would take "+1" and " 1"
// is no version any OpenStack service writes.
func Parse(s string) (Version, error) {
	parts := strings.Split(s, ".")
	if len(parts) < 2 || len(parts) > 3 {
		return Version{}, &SyntaxError{Value: s}
	}
	var n [3]int
	for i, p := range parts {
		v, err := strconv.Atoi(p)
		// At most maxDigits digits: versions arrive in messages, and a part too long for an int must not wrap
		// around into a version it is not.
		if err != nil || p == "" || len(p) > maxDigits || strings.TrimLeft(p, "0123456789") != "" {
			return Version{}, &SyntaxError{Value: s, NotNumber: &p}
		}
		n[i] = v
	}
	return Version{n[0], n[1], n[2]}, nil
}

// maxDigits bounds each part of a version; no OpenStack service or hypervisor release writes more.
const maxDigits = 9

// MustParse is Parse for constants in the source; it panics on a bad one.
func MustParse(s string) Version {
	v, err := Parse(s)
	if err != nil {
		panic(err)
	}
	return v
}

// Compare returns -1, 0 or +1 as v is older than, the same as or newer
// than w, comparing major, then minor, then patch.
func (v Version) Compare(w Version) int {
	if c := cmp.Compare(v.Major, w.Major); c != 0 {
		return c
	}
	if c := cmp.Compare(v.Minor, w.Minor); c != 0 {
		return c
	}
	return cmp.Compare(v.Patch, w.Patch)
}

// AtLeast reports whether v is w or newer.
func (v Version) AtLeast(w Version) bool { return v.Compare(w) >= 0 }

// String returns "major.minor", or "major.minor.patch" when Patch is set.
func (v Version) String() string {
	if v.Patch != 0 {
		return fmt.Sprintf("%d.%d.%d", v.Major, v.Minor, v.Patch)
	}
	return fmt.Sprintf("%d.%d", v.Major, v.Minor)
}
