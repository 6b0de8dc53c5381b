package vo

import (
	"encoding/json"
	"fmt"
	"net/netip"
	"regexp"
	"strings"
	"time"
)

// DateTimeFormat is how oslo.versionedobjects writes DateTime fields (_utils.isotime: seconds, "Z").
const DateTimeFormat = "2006-01-02T15:04:05Z"

// DateTime is a DateTimeField value: written as "YYYY-MM-DDTHH:MM:SSZ", read with or without fractions and
// with any offset (parse_isotime), normalised to UTC.
type DateTime struct{ time.Time }

// MarshalJSON writes the oslo format, null for the zero time.
func (d DateTime) MarshalJSON() ([]byte, error) {
	if d.IsZero() {
		return []byte("null"), nil
	}
	return json.Marshal(d.UTC().Format(DateTimeFormat))
}

// UnmarshalJSON reads ISO 8601 timestamps.
func (d *DateTime) UnmarshalJSON(b []byte) error {
	if string(b) == "null" {
		d.Time = time.Time{}
		return nil
	}
	var s string
	if err := json.Unmarshal(b, &s); err != nil {
		return fmt.Errorf("datetime: %w", err)
	}
	t, err := ParseISOTime(s)
	if err != nil {
		return err
	}
	d.Time = t
	return nil
}

// ParseISOTime accepts the forms Python peers send: "2023-05-01T12:34:56Z", with fractions, with an offset, or
// naive (assumed UTC, as oslo does), and jsonutils' "%Y-%m-%dT%H:%M:%S.%f".
func ParseISOTime(s string) (time.Time, error) {
	for _, l := range []string{time.RFC3339Nano, "2006-01-02T15:04:05.999999999", "2006-01-02T15:04:05",
		"2006-01-02 15:04:05.999999999", "2006-01-02T15:04:05.999999999Z0700", "2006-01-02T15:04:05Z0700"} {
		if t, err := time.Parse(l, s); err == nil {
			return t.UTC(), nil
		}
	}
	return time.Time{}, fmt.Errorf("datetime %q is not ISO 8601", s)
}

// PlainTime is a datetime inside plain (non-object) RPC arguments, which jsonutils.to_primitive writes as
// "%Y-%m-%dT%H:%M:%S.%f".
type PlainTime struct{ time.Time }

// MarshalJSON writes "%Y-%m-%dT%H:%M:%S.%f", null for the zero time.
func (p PlainTime) MarshalJSON() ([]byte, error) {
	if p.IsZero() {
		return []byte("null"), nil
	}
	return json.Marshal(p.UTC().Format("2006-01-02T15:04:05.000000"))
}

// UnmarshalJSON reads any ISO 8601 form.
func (p *PlainTime) UnmarshalJSON(b []byte) error {
	var d DateTime
	if err := d.UnmarshalJSON(b); err != nil {
		return err
	}
	p.Time = d.Time
	return nil
}

var uuidRE = regexp.MustCompile(`^[0-9a-fA-F]{8}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{12}$`)

// UUID is a UUIDField value. Like oslo (which only warns), any string is kept; Valid tells canonical ones.
type UUID string

// Valid reports whether u looks like a UUID.
func (u UUID) Valid() bool { return uuidRE.MatchString(string(u)) }

// IPAddress is an IPAddressField (IPv4 or IPv6) value, written as its string form.
type IPAddress struct{ netip.Addr }

// MarshalJSON writes the address string, null when unset.
func (a IPAddress) MarshalJSON() ([]byte, error) {
	if !a.IsValid() {
		return []byte("null"), nil
	}
	return json.Marshal(a.String())
}

// UnmarshalJSON parses an address string.
func (a *IPAddress) UnmarshalJSON(b []byte) error {
	if string(b) == "null" {
		a.Addr = netip.Addr{}
		return nil
	}
	var s string
	if err := json.Unmarshal(b, &s); err != nil {
		return fmt.Errorf("ip address: %w", err)
	}
	addr, err := netip.ParseAddr(s)
	if err != nil {
		return fmt.Errorf("ip address %q: %w", s, err)
	}
	a.Addr = addr
	return nil
}

// IPNetwork is an IPNetworkField value ("10.0.0.0/24").
type IPNetwork struct{ netip.Prefix }

// MarshalJSON writes the prefix string, null when unset.
func (n IPNetwork) MarshalJSON() ([]byte, error) {
	if !n.IsValid() {
		return []byte("null"), nil
	}
	return json.Marshal(n.String())
}

// UnmarshalJSON parses a prefix string.
func (n *IPNetwork) UnmarshalJSON(b []byte) error {
	if string(b) == "null" {
		n.Prefix = netip.Prefix{}
		return nil
	}
	var s string
	if err := json.Unmarshal(b, &s); err != nil {
		return fmt.Errorf("ip network: %w", err)
	}
	p, err := netip.ParsePrefix(s)
	if err != nil {
		return fmt.Errorf("ip network %q: %w", s, err)
	}
	n.Prefix = p
	return nil
}

// MACAddress is a MACAddressField value, written lowercase.
type MACAddress string

// MarshalJSON writes the lowercase form.
func (m MACAddress) MarshalJSON() ([]byte, error) { return json.Marshal(strings.ToLower(string(m))) }

// Set is a SetOfX field: a JSON array whose order carries no meaning.
type Set[T comparable] map[T]struct{}

// MarshalJSON writes the members as an array.
func (s Set[T]) MarshalJSON() ([]byte, error) {
	out := make([]T, 0, len(s))
	for k := range s {
		out = append(out, k)
	}
	return json.Marshal(out)
}

// UnmarshalJSON reads an array.
func (s *Set[T]) UnmarshalJSON(b []byte) error {
	var list []T
	if err := json.Unmarshal(b, &list); err != nil {
		return fmt.Errorf("set: %w", err)
	}
	*s = make(Set[T], len(list))
	for _, v := range list {
		(*s)[v] = struct{}{}
	}
	return nil
}
