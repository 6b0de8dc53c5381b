package passthrough

import (
	"encoding/json"
	"fmt"
	"maps"
	"slices"
	"sort"
	"strconv"
	"strings"
)

// PCIAlias is one [pci] alias entry: what a flavor's alias name asks for.
type PCIAlias struct {
	Name string
	// Vendor and Product are the ids asked for, -1 when the alias gives
	// none (then ResourceClass must).
	Vendor, Product int
	// DeviceType is DeviceTypePCI, DeviceTypePF, DeviceTypeVF or "" for
	// any.
	DeviceType string
	// NUMAPolicy is required, legacy, preferred or socket; legacy when the
	// alias gives none.
	NUMAPolicy string
	// ResourceClass and Traits are as written ("" and nil when absent);
	// PCIResourceClass and PCITraits give their Placement names.
	ResourceClass string
	Traits        []string
	// LiveMigratable is the alias's live_migratable, nil when absent.
	LiveMigratable *bool
}

// NUMA affinity policies an alias may give (Nova's PCINUMAAffinityPolicy).
var numaPolicies = map[string]bool{"required": true, "legacy": true, "preferred": true, "socket": true}

// ParsePCIAliases reads the [pci] alias values: each one JSON object with
// Nova's keys (name, and any of capability_type "pci", vendor_id and
// product_id as four hexadecimal digits, device_type, numa_policy,
// resource_class, traits, live_migratable). Aliases sharing a name are
// alternatives and must agree on device type and NUMA policy. An alias
// must give vendor_id and product_id or a resource_class (ValidatePCIAliases
// applies Nova's stricter rules). The first bad entry is returned as a
// *PCIError.
func ParsePCIAliases(values []string) (map[string][]PCIAlias, error) {
	out := map[string][]PCIAlias{}
	for _, v := range values {
		objs, err := jsonObjects(v, false)
		if err != nil {
			return nil, &PCIError{Option: OptAlias, Entry: v, Reason: err.Error()}
		}
		a, key, reason := parseAlias(objs[0])
		if reason == "" {
			if prev := out[a.Name]; len(prev) > 0 {
				switch {
				case prev[0].NUMAPolicy != a.NUMAPolicy:
					key, reason = "numa_policy", fmt.Sprintf("alias %q is defined before with numa_policy %s",
						a.Name, prev[0].NUMAPolicy)
				case prev[0].DeviceType != a.DeviceType:
					key, reason = "device_type", fmt.Sprintf("alias %q is defined before with device_type %q",
						a.Name, prev[0].DeviceType)
				}
			}
		}
		if reason != "" {
			return nil, &PCIError{Option: OptAlias, Entry: v, Key: key, Reason: reason}
		}
		out[a.Name] = append(out[a.Name], a)
	}
	return out, nil
}

func parseAlias(o map[string]json.RawMessage) (PCIAlias, string, string) {
	a := PCIAlias{Vendor: anyID, Product: anyID, NUMAPolicy: "legacy"}
	if _, ok := o["name"]; !ok {
		return a, "name", "missing"
	}
	for _, k := range slices.Sorted(maps.Keys(o)) {
		raw := o[k]
		var reason string
		switch k {
		case "name":
			var n string
			if n, reason = jsonString(raw); reason == "" {
				// Nova bounds the name before trimming it.
				if a.Name = strings.TrimSpace(n); a.Name == "" || len(n) > 256 {
					reason = "must be 1 to 256 characters, not only blanks"
				} else if strings.ContainsAny(a.Name, ",:") {
					// pci_passthrough:alias splits at these, so no flavor
					// could name the alias.
					reason = fmt.Sprintf("%q has ',' or ':', which pci_passthrough:alias cannot name", a.Name)
				}
			}
		case "capability_type":
			var c string
			if c, reason = jsonString(raw); reason == "" && c != "pci" {
				reason = fmt.Sprintf("%q is not pci", c)
			}
		case "vendor_id", "product_id":
			var id string
			if id, reason = jsonString(raw); reason == "" {
				n, err := strconv.ParseUint(id, 16, 16)
				if len(id) != 4 || err != nil {
					reason = fmt.Sprintf("%q is not four hexadecimal digits", id)
				} else if k == "vendor_id" {
					a.Vendor = int(n)
				} else {
					a.Product = int(n)
				}
			}
		case "device_type":
			if a.DeviceType, reason = jsonString(raw); reason == "" &&
				a.DeviceType != DeviceTypePCI && a.DeviceType != DeviceTypePF && a.DeviceType != DeviceTypeVF {
				reason = fmt.Sprintf("%q is not %s, %s or %s", a.DeviceType, DeviceTypePCI, DeviceTypePF, DeviceTypeVF)
			}
		case "numa_policy":
			var p string
			if p, reason = jsonString(raw); reason == "" {
				// Nova takes an empty policy as legacy.
				if p != "" && !numaPolicies[p] {
					reason = fmt.Sprintf("%q is not required, legacy, preferred or socket", p)
				} else if p != "" {
					a.NUMAPolicy = p
				}
			}
		case "resource_class":
			if a.ResourceClass, reason = jsonString(raw); reason == "" {
				reason = checkPlacementName(a.ResourceClass)
			}
		case "traits":
			var t string
			if t, reason = jsonString(raw); reason == "" {
				a.Traits, reason = splitTraits(t)
			}
		case "live_migratable":
			// Nova's schema wants a string here.
			if _, r := jsonString(raw); r != "" {
				reason = r
				break
			}
			b, r := jsonBool(raw)
			a.LiveMigratable, reason = &b, r
		default:
			reason = "unknown key (Nova's alias schema has name, capability_type, vendor_id, product_id, " +
				"device_type, numa_policy, resource_class, traits, live_migratable)"
		}
		if reason != "" {
			return a, k, reason
		}
	}
	return a, "", ""
}

// ValidatePCIAliases applies Nova's checks of the whole alias set: every
// alias gives vendor_id and product_id, or, when the schedulers place PCI
// devices in Placement ([filter_scheduler] pci_in_placement), at least a
// resource_class; and with Placement a name has one alias only.
func ValidatePCIAliases(aliases map[string][]PCIAlias, pciInPlacement bool) error {
	names := make([]string, 0, len(aliases))
	for n := range aliases {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		if pciInPlacement && len(aliases[n]) > 1 {
			return &PCIError{Option: OptAlias, Entry: n, Reason: "several aliases share this name, but with " +
				"[filter_scheduler] pci_in_placement an alias has one spec; give the devices one resource_class instead"}
		}
		for _, a := range aliases[n] {
			ids := a.Vendor != anyID && a.Product != anyID
			if !ids && !(pciInPlacement && a.ResourceClass != "") {
				want := "vendor_id and product_id"
				if pciInPlacement {
					want += ", or resource_class"
				}
				return &PCIError{Option: OptAlias, Entry: n, Reason: "gives no " + want}
			}
		}
	}
	return nil
}

// PCIRequest is one alias of a flavor's pci_passthrough:alias: Count
// devices, each matching one of Specs.
type PCIRequest struct {
	AliasName  string
	Count      int
	NUMAPolicy string
	Specs      []PCIAlias
}

// maxPCICount bounds a request's count; no host has more devices.
const maxPCICount = 1024

// FlavorPCIRequests reads a flavor's pci_passthrough:alias extra spec,
// "NAME:COUNT[,NAME:COUNT...]" (blanks around names and counts allowed),
// into one request per part, in order. A flavor without the extra spec
// asks for none. A part that is malformed, names an alias not defined, or
// asks for no device is returned as a *PCIError naming it.
func FlavorPCIRequests(extraSpecs map[string]string, aliases map[string][]PCIAlias) ([]PCIRequest, error) {
	v, ok := extraSpecs[ExtraSpecPCI]
	if !ok {
		return nil, nil
	}
	var out []PCIRequest
	for _, part := range strings.Split(v, ",") {
		fail := func(reason string) ([]PCIRequest, error) {
			return nil, &PCIError{Option: ExtraSpecPCI, Entry: v, Key: part, Reason: reason}
		}
		name, countText, ok := strings.Cut(part, ":")
		if !ok || strings.Contains(countText, ":") {
			return fail("not NAME:COUNT")
		}
		name, countText = strings.TrimSpace(name), strings.TrimSpace(countText)
		if name == "" {
			return fail("no alias name")
		}
		if countText == "" || strings.Trim(countText, "0123456789") != "" || len(countText) > 6 {
			return fail(fmt.Sprintf("count %q is not a decimal number", countText))
		}
		count, _ := strconv.Atoi(countText)
		if count < 1 || count > maxPCICount {
			return fail(fmt.Sprintf("count %d is not between 1 and %d", count, maxPCICount))
		}
		specs, ok := aliases[name]
		if !ok {
			return fail(fmt.Sprintf("alias %q is not defined in %s", name, OptAlias))
		}
		out = append(out, PCIRequest{AliasName: name, Count: count, NUMAPolicy: specs[0].NUMAPolicy, Specs: specs})
	}
	return out, nil
}
