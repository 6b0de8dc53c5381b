package passthrough

import (
	"bytes"
	"encoding/json"
	"fmt"
	"maps"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"

	"github.com/novabsd/novabsd/hypervisor/host"
)

// Option names as errors give them.
const (
	OptDeviceSpec = "[pci] device_spec"
	OptAlias      = "[pci] alias"
	ExtraSpecPCI  = "pci_passthrough:alias"
)

// PCIError is a [pci] device_spec or alias entry, or a flavor's
// pci_passthrough:alias, that cannot be used.
type PCIError struct {
	Option string // OptDeviceSpec, OptAlias or ExtraSpecPCI
	Entry  string // the entry as written
	Key    string // the key or part at fault; "" when the whole entry is
	Reason string
}

func (e *PCIError) Error() string {
	msg := fmt.Sprintf("%s %q", e.Option, shorten(e.Entry))
	if e.Key != "" {
		msg += fmt.Sprintf(": %q", e.Key)
	}
	return msg + ": " + e.Reason
}

func shorten(s string) string {
	if len(s) > 200 {
		return s[:200] + "..."
	}
	return s
}

// anyID marks a wildcarded number in a PCIDeviceSpec.
const anyID = -1

// PCIDeviceSpec is one [pci] device_spec entry: the devices Nova's
// PciDeviceSpec would select, with the Placement naming they are reported
// under.
type PCIDeviceSpec struct {
	// Vendor and Product are the ids the device must have, -1 for any.
	Vendor, Product int
	// addr is the address the device (or, for a single address naming a
	// physical function, the device's PF) must have.
	addr pciAddressMatcher
	// ResourceClass is the spec's resource_class as written, "" when it
	// gives none (the device's ids then name the class).
	ResourceClass string
	// Traits are the spec's traits as written, split at commas and not
	// trimmed (Nova does not trim them either, and its scheduler must
	// reach the same names from an alias).
	Traits []string
	// Managed is the spec's managed tag, nil when absent. novabsd never
	// binds or unbinds drivers, whatever it says: a device is offered only
	// while the operator has it bound to vfio-pci (Linux) or ppt (FreeBSD).
	Managed *bool
	// Entry is the JSON object the spec came from, for logs.
	Entry string
}

// pciAddressMatcher is the address part of a spec: glob numbers (-1 for
// any) or, for the dictionary form, one regular expression per field.
type pciAddressMatcher struct {
	glob   [4]int
	re     [4]*regexp.Regexp
	single bool // every field is one value: a PF address also selects its VFs
}

var addrFields = [4]struct {
	key    string
	max    int
	format string
}{{"domain", 0xffff, "%04x"}, {"bus", 0xff, "%02x"}, {"slot", 0x1f, "%02x"}, {"function", 7, "%x"}}

func (m pciAddressMatcher) match(dom, bus, slot, fn int) bool {
	vals := [4]int{dom, bus, slot, fn}
	for i, v := range vals {
		if v > addrFields[i].max {
			return false
		}
		if m.re[i] != nil {
			if !m.re[i].MatchString(fmt.Sprintf(addrFields[i].format, v)) {
				return false
			}
		} else if m.glob[i] != anyID && m.glob[i] != v {
			return false
		}
	}
	return true
}

// Match reports whether the spec selects d: its ids and its address, or,
// when the spec names one physical function's address, the address of d's
// physical function (Nova's rule: a PF's address selects its VFs too).
func (s PCIDeviceSpec) Match(d host.PCIDevice) bool {
	if s.Vendor != anyID && s.Vendor != int(d.Vendor) || s.Product != anyID && s.Product != int(d.Device) {
		return false
	}
	if s.addr.match(d.Domain, d.Bus, d.Slot, d.Function) {
		return true
	}
	if s.addr.single && d.PhysFn != "" {
		if dom, bus, slot, fn, err := host.ParsePCIAddress(d.PhysFn); err == nil {
			return s.addr.match(dom, bus, slot, fn)
		}
	}
	return false
}

// ParsePCIDeviceSpecs reads the [pci] device_spec values (and those of
// its deprecated names): each a JSON object or a JSON list of objects,
// with the keys Nova accepts. Keys for what novabsd cannot do are refused
// rather than ignored: devname (name devices by address), physical_network
// and remote_managed and trusted (SR-IOV ports for Neutron),
// live_migratable and one_time_use set true; so are keys Nova does not
// know, which Nova would take as tags and so select every device. The
// first bad entry is returned as a *PCIError.
func ParsePCIDeviceSpecs(values []string) ([]PCIDeviceSpec, error) {
	var out []PCIDeviceSpec
	for _, v := range values {
		objs, err := jsonObjects(v, true)
		if err != nil {
			return nil, &PCIError{Option: OptDeviceSpec, Entry: v, Reason: err.Error()}
		}
		for _, o := range objs {
			s, key, reason := parseDeviceSpec(o)
			if reason != "" {
				return nil, &PCIError{Option: OptDeviceSpec, Entry: v, Key: key, Reason: reason}
			}
			out = append(out, s)
		}
	}
	return out, nil
}

// jsonObjects decodes one option value: a JSON object, or with lists a
// JSON list of objects, and nothing after it.
func jsonObjects(v string, lists bool) ([]map[string]json.RawMessage, error) {
	dec := json.NewDecoder(strings.NewReader(v))
	var raw json.RawMessage
	if err := dec.Decode(&raw); err != nil {
		return nil, fmt.Errorf("not JSON: %v", err)
	}
	if dec.More() {
		return nil, fmt.Errorf("text after the JSON value")
	}
	raw = bytes.TrimSpace(raw)
	if len(raw) > 0 && raw[0] == '[' && lists {
		var list []map[string]json.RawMessage
		if err := json.Unmarshal(raw, &list); err != nil {
			return nil, fmt.Errorf("not a JSON list of objects")
		}
		return list, nil
	}
	var obj map[string]json.RawMessage
	if len(raw) == 0 || raw[0] != '{' || json.Unmarshal(raw, &obj) != nil {
		if lists {
			return nil, fmt.Errorf("not a JSON object or a list of objects")
		}
		return nil, fmt.Errorf("not a JSON object")
	}
	return []map[string]json.RawMessage{obj}, nil
}

func parseDeviceSpec(o map[string]json.RawMessage) (PCIDeviceSpec, string, string) {
	entry, _ := json.Marshal(o)
	s := PCIDeviceSpec{Vendor: anyID, Product: anyID, addr: pciAddressMatcher{glob: [4]int{anyID, anyID, anyID, anyID}},
		Entry: string(entry)}
	for _, k := range slices.Sorted(maps.Keys(o)) {
		raw := o[k]
		var reason string
		switch k {
		case "vendor_id", "product_id":
			dst := &s.Vendor
			if k == "product_id" {
				dst = &s.Product
			}
			*dst, reason = parseSpecID(raw)
		case "address":
			s.addr, reason = parseSpecAddress(raw)
		case "devname":
			reason = "not supported by novabsd: name the device by its address"
		case "physical_network", "remote_managed", "trusted":
			if isNull(raw) {
				continue
			}
			if k != "physical_network" {
				b, r := jsonBool(raw)
				if r != "" || !b {
					reason = r
					break
				}
			}
			reason = "SR-IOV devices for Neutron ports are not supported by novabsd; only flavor aliases can ask for devices"
		case "managed":
			b, r := jsonBool(raw)
			s.Managed, reason = &b, r
		case "live_migratable", "one_time_use":
			b, r := jsonBool(raw)
			if r == "" && b {
				r = "true is not supported by novabsd"
			}
			reason = r
		case "resource_class":
			s.ResourceClass, reason = jsonString(raw)
			if reason == "" {
				reason = checkPlacementName(s.ResourceClass)
			}
		case "traits":
			var t string
			if t, reason = jsonString(raw); reason == "" {
				s.Traits, reason = splitTraits(t)
			}
		default:
			reason = "unknown key (Nova would take it as a tag, and tags other than the ones it knows " +
				"serve only SR-IOV networking)"
		}
		if reason != "" {
			return s, k, reason
		}
	}
	return s, "", ""
}

func isNull(raw json.RawMessage) bool { return string(bytes.TrimSpace(raw)) == "null" }

func jsonString(raw json.RawMessage) (string, string) {
	var v string
	if json.Unmarshal(raw, &v) != nil {
		return "", "not a JSON string"
	}
	return v, ""
}

// jsonBool reads a JSON boolean or one of oslo's strict boolean strings
// (1/0, t/f, true/false, on/off, y/n, yes/no in any case).
func jsonBool(raw json.RawMessage) (bool, string) {
	var b bool
	if json.Unmarshal(raw, &b) == nil {
		return b, ""
	}
	s, r := jsonString(raw)
	if r != "" {
		return false, "not a boolean"
	}
	switch strings.ToLower(strings.TrimSpace(s)) {
	case "1", "t", "true", "on", "y", "yes":
		return true, ""
	case "0", "f", "false", "off", "n", "no":
		return false, ""
	}
	return false, fmt.Sprintf("%q is not a boolean (true/false, yes/no, on/off, 1/0)", s)
}

// parseSpecID reads a vendor_id or product_id of a device_spec: "*" or a
// hexadecimal number up to ffff (an 0x prefix allowed, as Nova's int(x,
// 16) takes it).
func parseSpecID(raw json.RawMessage) (int, string) {
	s, r := jsonString(raw)
	if r != "" {
		return 0, r
	}
	return parseHexField(strings.TrimSpace(s), 0xffff)
}

func parseHexField(s string, max int) (int, string) {
	if s == "*" {
		return anyID, ""
	}
	digits := strings.TrimPrefix(strings.TrimPrefix(s, "0x"), "0X")
	n, err := strconv.ParseUint(digits, 16, 32)
	if digits == "" || err != nil || strings.HasPrefix(digits, "+") {
		return 0, fmt.Sprintf("%q is not a hexadecimal number or *", s)
	}
	if n > uint64(max) {
		return 0, fmt.Sprintf("%q is greater than %x", s, max)
	}
	return int(n), ""
}

// parseSpecAddress reads a device_spec address: a glob string
// "[[[[DOMAIN]:]BUS]:][SLOT][.[FUNCTION]]" whose omitted or "*" fields
// match anything, or an object of domain, bus, slot and function regular
// expressions (omitted ones match anything), each matched from the start
// of the field as Nova prints it (0000, 0a, 1f, 7). The expressions are
// RE2's syntax, which lacks some of Python's (back references,
// look-arounds).
func parseSpecAddress(raw json.RawMessage) (pciAddressMatcher, string) {
	m := pciAddressMatcher{glob: [4]int{anyID, anyID, anyID, anyID}}
	var s string
	if json.Unmarshal(raw, &s) == nil {
		dbs, fn, _ := strings.Cut(s, ".")
		fields := strings.Split(dbs, ":")
		if len(fields) > 3 {
			return m, fmt.Sprintf("%q has more than domain:bus:slot before the dot", s)
		}
		padded := append(make([]string, 3-len(fields)), fields...)
		padded = append(padded, fn)
		single := true
		for i, f := range padded {
			f = strings.TrimSpace(f)
			if f == "" {
				f = "*"
			}
			n, r := parseHexField(f, addrFields[i].max)
			if r != "" {
				return m, addrFields[i].key + " " + r
			}
			m.glob[i] = n
			single = single && n != anyID
		}
		m.single = single
		return m, ""
	}
	var d map[string]json.RawMessage
	if json.Unmarshal(raw, &d) != nil {
		return m, "not a string or an object of domain, bus, slot and function"
	}
	for k := range d {
		if k != "domain" && k != "bus" && k != "slot" && k != "function" {
			return m, fmt.Sprintf("unknown address field %q (want domain, bus, slot, function)", k)
		}
	}
	single := true
	for i, f := range addrFields {
		v, ok := d[f.key]
		if !ok {
			single = false
			continue
		}
		pat, r := jsonString(v)
		if r != "" {
			return m, f.key + ": " + r
		}
		re, err := regexp.Compile("^(?:" + pat + ")")
		if err != nil {
			return m, fmt.Sprintf("%s %q is not a regular expression (RE2 syntax): %v", f.key, pat, err)
		}
		m.re[i] = re
		single = single && pat != "" && strings.Trim(pat, "0123456789abcdefABCDEF") == ""
	}
	m.single = single
	return m, ""
}

// splitTraits splits a traits value at commas, as Nova does; an empty
// name is refused (Nova would make the invalid trait CUSTOM_ of it).
func splitTraits(s string) ([]string, string) {
	if s == "" {
		return nil, ""
	}
	parts := strings.Split(s, ",")
	for _, p := range parts {
		if strings.TrimSpace(p) == "" {
			return nil, fmt.Sprintf("%q has an empty trait name", s)
		}
		if r := checkPlacementName(p); r != "" {
			return nil, r
		}
	}
	return parts, ""
}

// checkPlacementName refuses a name whose CUSTOM_ prefix would make Nova
// keep it as written while Placement refuses it (CUSTOM_ names are only
// A-Z, 0-9 and _ after upper-casing), or that is empty.
func checkPlacementName(s string) string {
	if s == "" {
		return "empty"
	}
	u := strings.ToUpper(s)
	if strings.HasPrefix(u, "CUSTOM_") && (u == "CUSTOM_" || strings.Trim(u, "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_") != "") {
		return fmt.Sprintf("%q is not a valid custom name (CUSTOM_ then A-Z, 0-9 and _)", s)
	}
	if len(u) > 255 {
		return fmt.Sprintf("%q is longer than Placement's 255 characters", shorten(s))
	}
	return ""
}

var nonAlnum = regexp.MustCompile(`[^0-9A-Za-z]+`)

// normalizeCustom makes a custom name of s as os-traits and
// os-resource-classes do: runs of other characters become '_', then upper
// case, then the CUSTOM_ prefix.
func normalizeCustom(s string) string {
	return "CUSTOM_" + strings.ToUpper(nonAlnum.ReplaceAllString(s, "_"))
}

// PCIResourceClass is the Placement resource class Nova reports a device
// under: the spec's resource_class upper-cased, kept when it is a standard
// class (isStandard) or CUSTOM_, made custom otherwise; without one,
// CUSTOM_PCI_<VENDOR>_<PRODUCT> in upper-case hexadecimal. isStandard may
// be nil (then no class is standard); compute/ passes one backed by
// Placement, which lists every standard class.
func PCIResourceClass(specClass string, vendor, product uint16, isStandard func(string) bool) string {
	if specClass == "" {
		return fmt.Sprintf("CUSTOM_PCI_%04X_%04X", vendor, product)
	}
	rc := strings.ToUpper(specClass)
	if strings.HasPrefix(rc, "CUSTOM_") || isStandard != nil && isStandard(rc) {
		return rc
	}
	return normalizeCustom(rc)
}

// TraitManagedPCIDevice is the trait Nova puts on every PCI provider it
// manages.
const TraitManagedPCIDevice = "COMPUTE_MANAGED_PCI_DEVICE"

// PCITraits are the traits Nova reports a device's provider with:
// TraitManagedPCIDevice, each spec trait that is standard as written
// (isStandard, may be nil), and the others upper-cased and, unless
// already CUSTOM_, made custom; sorted and without repeats.
func PCITraits(specTraits []string, isStandard func(string) bool) []string {
	set := map[string]bool{TraitManagedPCIDevice: true}
	for _, t := range specTraits {
		switch u := strings.ToUpper(t); {
		case isStandard != nil && isStandard(t):
			set[t] = true
		case strings.HasPrefix(u, "CUSTOM_"):
			set[u] = true
		default:
			set[normalizeCustom(u)] = true
		}
	}
	out := make([]string, 0, len(set))
	for t := range set {
		out = append(out, t)
	}
	sort.Strings(out)
	return out
}

// Nova's PCI device types.
const (
	DeviceTypePCI = "type-PCI"
	DeviceTypePF  = "type-PF"
	DeviceTypeVF  = "type-VF"
)

// PCIPassDevice is one host PCI device offered for passthrough.
type PCIPassDevice struct {
	// ID names the device's Placement provider under the node's
	// (placement.ChildName gives "<node>_<ID>", the name Nova gives it):
	// the device's address upper-cased, "0000:5E:00.0", or for a virtual
	// function its physical function's, since Nova reports a PF's VFs as
	// one provider.
	ID string
	// Address is the device's own address, "0000:5e:00.0".
	Address         string
	Vendor, Product uint16
	Class           uint32
	// DeviceType is DeviceTypePCI, DeviceTypePF or DeviceTypeVF.
	DeviceType string
	// PhysFn is a VF's PF address; "" otherwise.
	PhysFn string
	// NUMANode is the device's NUMA node, -1 when unknown.
	NUMANode int
	// Spec is the device_spec entry that selected the device (the first
	// that matches, as in Nova).
	Spec PCIDeviceSpec
}

// ResourceClass is the device's Placement resource class (see
// PCIResourceClass).
func (d PCIPassDevice) ResourceClass(isStandard func(string) bool) string {
	return PCIResourceClass(d.Spec.ResourceClass, d.Vendor, d.Product, isStandard)
}

// Traits are the device's provider's traits (see PCITraits).
func (d PCIPassDevice) Traits(isStandard func(string) bool) []string {
	return PCITraits(d.Spec.Traits, isStandard)
}

// pciDeviceType is Nova's type of d.
func pciDeviceType(d host.PCIDevice) string {
	switch {
	case d.IsVF():
		return DeviceTypeVF
	case d.IsPF():
		return DeviceTypePF
	}
	return DeviceTypePCI
}

// matchSpec returns the first spec selecting d, if any. A device beyond
// domain ffff (Intel VMD's) is never selected: Nova cannot name it.
func matchSpec(specs []PCIDeviceSpec, d host.PCIDevice) (PCIDeviceSpec, bool) {
	if d.Domain > 0xffff {
		return PCIDeviceSpec{}, false
	}
	for _, s := range specs {
		if s.Match(d) {
			return s, true
		}
	}
	return PCIDeviceSpec{}, false
}

// SelectPCI returns the devices of devs that some spec selects and that
// are bound to the passthrough driver (host.PCIDevice.Passthrough), in
// address order. novabsd does not bind drivers, so a selected device
// still on its host driver is left out: UnboundPCI lists those to log.
func SelectPCI(specs []PCIDeviceSpec, devs []host.PCIDevice) []PCIPassDevice {
	var out []PCIPassDevice
	for _, d := range devs {
		s, ok := matchSpec(specs, d)
		if !ok || !d.Passthrough() {
			continue
		}
		id := d.Address()
		if d.IsVF() {
			id = d.PhysFn
		}
		out = append(out, PCIPassDevice{ID: strings.ToUpper(id), Address: d.Address(), Vendor: d.Vendor,
			Product: d.Device, Class: d.Class, DeviceType: pciDeviceType(d), PhysFn: d.PhysFn,
			NUMANode: d.NUMANode, Spec: s})
	}
	sort.SliceStable(out, func(i, j int) bool { return out[i].Address < out[j].Address })
	return out
}

// UnboundPCI returns the devices some spec selects that are not bound to
// the passthrough driver, for the caller to log (the operator binds them
// to vfio-pci, or lists them in pptdevs on FreeBSD).
func UnboundPCI(specs []PCIDeviceSpec, devs []host.PCIDevice) []host.PCIDevice {
	var out []host.PCIDevice
	for _, d := range devs {
		if _, ok := matchSpec(specs, d); ok && !d.Passthrough() {
			out = append(out, d)
		}
	}
	return out
}

// CheckPCIProviders refuses a selection Nova's Placement reporting
// refuses: a PF offered together with any of its VFs (they would share
// one provider), or VFs of one PF with different resource classes or
// traits. The error names the devices.
func CheckPCIProviders(devs []PCIPassDevice, isStandard func(string) bool) error {
	type group struct {
		rc, traits, first string
		pf                bool
	}
	groups := map[string]*group{}
	for _, d := range devs {
		rc, traits := d.ResourceClass(isStandard), strings.Join(d.Traits(isStandard), ",")
		g, ok := groups[d.ID]
		if !ok {
			groups[d.ID] = &group{rc: rc, traits: traits, first: d.Address, pf: d.DeviceType != DeviceTypeVF}
			continue
		}
		switch {
		case g.pf || d.DeviceType != DeviceTypeVF:
			return fmt.Errorf("%s: PCI devices %s and %s are both offered, but one is the other's physical "+
				"function; let %s select only one of them", OptDeviceSpec, g.first, d.Address, OptDeviceSpec)
		case g.rc != rc:
			return fmt.Errorf("%s: virtual functions %s and %s of one physical function have resource classes "+
				"%s and %s; Nova reports them as one provider of one class", OptDeviceSpec, g.first, d.Address, g.rc, rc)
		case g.traits != traits:
			return fmt.Errorf("%s: virtual functions %s and %s of one physical function have traits %s and %s; "+
				"Nova reports them as one provider", OptDeviceSpec, g.first, d.Address, g.traits, traits)
		}
	}
	return nil
}
