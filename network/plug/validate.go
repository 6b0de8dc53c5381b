package plug

import (
	"fmt"
	"regexp"
	"strings"
)

// FieldError refuses one value of a Port or Config before anything runs. It wraps ErrInvalid.
type FieldError struct {
	Field  string // the Port or Config field, as named in Go
	Value  string
	Reason string
}

func (e *FieldError) Error() string {
	v := e.Value
	if len(v) > 64 {
		v = v[:64] + "…"
	}
	return fmt.Sprintf("%s %q: %s", e.Field, v, e.Reason)
}

func (e *FieldError) Unwrap() error { return ErrInvalid }

var (
	// uuidRE is the canonical textual form Neutron and Nova write ids in: lower-case hex, 8-4-4-4-12.
	uuidRE = regexp.MustCompile(`^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$`)
	macRE  = regexp.MustCompile(`^[0-9a-fA-F]{2}(:[0-9a-fA-F]{2}){5}$`)
	// ifnameRE is narrower than what either kernel accepts (IFNAMSIZ-1 = 15 bytes): it keeps names that cannot
	// be read as an option (a leading '-'), an alias (':'), a path ('/'), or be split by ovs-vsctl's parser.
	ifnameRE = regexp.MustCompile(`^[A-Za-z0-9_][A-Za-z0-9_.-]{0,14}$`)
)

// datapathTypes are the values of OVS's Bridge datapath_type that Neutron's bindings carry.
var datapathTypes = map[string]bool{"": true, "system": true, "netdev": true}

func checkIfname(field, v string) error {
	if v == "" {
		return &FieldError{Field: field, Value: v, Reason: "is required"}
	}
	if !ifnameRE.MatchString(v) {
		return &FieldError{Field: field, Value: v, Reason: "is not an interface name (at most 15 of A-Z a-z 0-9 _ . -, not starting with . or -)"}
	}
	return nil
}

func (p Port) checkKind() error {
	switch p.Kind {
	case KindOVS, KindBridge:
		return nil
	}
	return fmt.Errorf("%w %q", ErrUnsupportedKind, string(p.Kind))
}

// validate checks every field Plug uses; the first bad one is named.
func (p Port) validate() error {
	if err := p.checkKind(); err != nil {
		return err
	}
	if !uuidRE.MatchString(p.PortID) {
		return &FieldError{Field: "PortID", Value: p.PortID, Reason: "is not a canonical uuid"}
	}
	if !macRE.MatchString(p.MAC) {
		return &FieldError{Field: "MAC", Value: p.MAC, Reason: "is not a MAC address (xx:xx:xx:xx:xx:xx)"}
	}
	if !uuidRE.MatchString(p.InstanceUUID) {
		return &FieldError{Field: "InstanceUUID", Value: p.InstanceUUID, Reason: "is not a canonical uuid"}
	}
	if err := checkIfname("Tap", p.Tap); err != nil {
		return err
	}
	if err := checkIfname("Bridge", p.Bridge); err != nil {
		return err
	}
	if p.Bridge == p.Tap {
		return &FieldError{Field: "Bridge", Value: p.Bridge, Reason: "is the tap itself"}
	}
	// 68 is IPv4's minimum (RFC 791) and Linux's; 65535 the largest any driver takes.
	if p.MTU != 0 && (p.MTU < 68 || p.MTU > 65535) {
		return &FieldError{Field: "MTU", Value: fmt.Sprint(p.MTU), Reason: "is outside 68..65535"}
	}
	if !datapathTypes[p.DatapathType] {
		return &FieldError{Field: "DatapathType", Value: p.DatapathType, Reason: `is not "system" or "netdev"`}
	}
	if p.Owner < -1 {
		return &FieldError{Field: "Owner", Value: fmt.Sprint(p.Owner), Reason: "is not a uid or -1"}
	}
	return nil
}

// validateUnplug checks what Unplug uses: the kind, the tap and, when given, the bridge.
func (p Port) validateUnplug() error {
	if err := p.checkKind(); err != nil {
		return err
	}
	if err := checkIfname("Tap", p.Tap); err != nil {
		return err
	}
	if p.Bridge != "" {
		return checkIfname("Bridge", p.Bridge)
	}
	return nil
}

// validate checks the connection string, which reaches ovs-vsctl's command line as --db=.
func (c Config) validate() error {
	if c.Timeout < 0 {
		return &FieldError{Field: "Timeout", Value: c.Timeout.String(), Reason: "is negative"}
	}
	if c.OVSDB == "" {
		return nil // ovs-vsctl's own default socket
	}
	ok := false
	for _, scheme := range []string{"unix:", "tcp:", "ssl:"} {
		if strings.HasPrefix(c.OVSDB, scheme) && len(c.OVSDB) > len(scheme) {
			ok = true
		}
	}
	if !ok || strings.ContainsFunc(c.OVSDB, func(r rune) bool { return r < 0x20 || r == 0x7f || r == ' ' }) {
		return &FieldError{Field: "OVSDB", Value: c.OVSDB, Reason: "is not an ovsdb connection (unix:PATH, tcp:IP:PORT, ssl:IP:PORT)"}
	}
	return nil
}
