package rpc

import (
	"fmt"
	"strconv"
	"strings"
)

// apiVersion is an RPC API version "major.minor[.rev]".
type apiVersion struct{ major, minor, rev int }

func parseVersion(s string) (apiVersion, error) {
	parts := strings.Split(s, ".")
	if len(parts) < 2 || len(parts) > 3 {
		return apiVersion{}, fmt.Errorf("version %q is not major.minor[.revision]", s)
	}
	var n [3]int
	for i, p := range parts {
		v, err := strconv.Atoi(p)
		if err != nil || v < 0 {
			return apiVersion{}, fmt.Errorf("version %q: %q is not a number", s, p)
		}
		n[i] = v
	}
	return apiVersion{n[0], n[1], n[2]}, nil
}

// compatible is oslo's version_is_compatible(imp, v): same major, v's minor (and revision) not above ours.
func (imp apiVersion) compatible(v apiVersion) bool {
	if v.major != imp.major || v.minor > imp.minor {
		return false
	}
	return v.minor < imp.minor || v.rev <= imp.rev
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
