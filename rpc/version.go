package rpc

import (
	"github.com/novabsd/novabsd/internal/version"
)

// apiVersion is an RPC API version "major.minor[.rev]"; its own type for
// oslo's compatibility rule below.
type apiVersion version.Version

func parseVersion(s string) (apiVersion, error) {
	v, err := version.Parse(s)
	return apiVersion(v), err
}

// maxVersionDigits bounds each part of a version read from a message, so no part overflows an int and no sign
// or other form strconv.Atoi accepts ("+1", "-0") passes; real versions have one or two digits.
const maxVersionDigits = 9

// versionNumber reads one part of a version: 1 to maxVersionDigits ASCII digits.
func versionNumber(p string) (int, bool) {
	if len(p) == 0 || len(p) > maxVersionDigits {
		return 0, false
	}
	n := 0
	for i := 0; i < len(p); i++ {
		c := p[i]
		if c < '0' || c > '9' {
			return 0, false
		}
		n = n*10 + int(c-'0')
	}
	return n, true
}

// compatible is oslo's version_is_compatible(imp, v): same major, v's minor (and revision) not above ours.
func (imp apiVersion) compatible(v apiVersion) bool {
	return v.Major == imp.Major && version.Version(v).Compare(version.Version(imp)) <= 0
}

// VersionCompatible reports whether an endpoint at version ours accepts a message at version theirs.
func VersionCompatible(ours, theirs string) (bool, error) {
	a, err := parseVersion(ours)
	if err != nil {
		return false, err
	}
	b, err := parseVersion(theirs)
	if err != nil {
		return false, err
	}
	return a.compatible(b), nil
}
