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
