package hypervisor

import (
	"errors"
	"fmt"
	"path/filepath"
	"strings"
)

// ErrInvalidGuest: a Guest whose uuid, name or directory could be read as
// another path (empty, "." or "..", a '/', a NUL, a leading '-'), or whose
// directory is not a clean path without "..". Drivers refuse such a guest
// before building any path or argv from it.
var ErrInvalidGuest = errors.New("invalid guest identity")

// GuestError names the field of a Guest that cannot be used.
type GuestError struct {
	Field string // "uuid", "name" or "dir"
	Value string
	Why   string
}

func (e *GuestError) Error() string {
	return fmt.Sprintf("invalid guest %s %q: %s", e.Field, e.Value, e.Why)
}

// Is makes errors.Is(err, ErrInvalidGuest) true.
func (e *GuestError) Is(target error) bool { return target == ErrInvalidGuest }

// Check verifies that g's uuid and name are each one safe path component
// (the name may be empty: a guest found only by its directory) and that Dir
// is a clean path without "..", and not the root. This package knows
// nothing of how uuids are spelled; it only makes sure none of them can
// escape the directory its caller chose.
func (g Guest) Check() error {
	if why := component(g.UUID); why != "" {
		return &GuestError{Field: "uuid", Value: g.UUID, Why: why}
	}
	if g.Name != "" {
		if why := component(g.Name); why != "" {
			return &GuestError{Field: "name", Value: g.Name, Why: why}
		}
	}
	if g.Dir == "" || filepath.Clean(g.Dir) != g.Dir || g.Dir == "/" || g.Dir == "." || g.Dir == ".." ||
		strings.HasPrefix(g.Dir, "../") {
		return &GuestError{Field: "dir", Value: g.Dir, Why: "must be a clean path without \"..\", not the root"}
	}
	return nil
}

// component is why s cannot be a single file name, or "".
func component(s string) string {
	switch {
	case s == "":
		return "empty"
	case s == "." || s == "..":
		return "names a directory relative to another"
	case strings.ContainsAny(s, "/\\\x00"):
		return "contains a path separator or NUL"
	case strings.HasPrefix(s, "-"):
		return "could be read as a command-line option"
	}
	return ""
}
