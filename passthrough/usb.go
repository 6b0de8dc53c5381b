// Package passthrough chooses the host devices this compute node offers to
// guests: the operator names USB devices in [novabsd] usb_device_spec and
// PCI devices in Nova's [pci] device_spec, and each one found becomes a
// Device or PCIPassDevice, reported to Placement as a child provider of the
// node with its own resource class. Flavors ask for PCI devices through
// [pci] alias names (FlavorPCIRequests). It knows the host's devices
// (hypervisor/host) and nothing of Nova's RPC or the engines.
package passthrough

import (
	"fmt"
	"sort"
	"strconv"
	"strings"

	"github.com/novabsd/novabsd/hypervisor/host"
)

// USBSpec is one usb_device_spec entry: the devices with these ids,
// anywhere on the host or only the one at Bus and Port.
type USBSpec struct {
	Vendor, Product uint16
	// Bus and Port, when Port is not "", narrow the spec to the device at
	// that port path on that bus ("1-1.2": bus 1, port path "1.2"), for a
	// host with several devices of the same ids. Only Linux gives port
	// paths: on FreeBSD such a spec matches nothing.
	Bus  int
	Port string
}

// String gives the spec as it is written: "0781:5581" or "0781:5581@1-1.2".
func (s USBSpec) String() string {
	out := fmt.Sprintf("%04x:%04x", s.Vendor, s.Product)
	if s.Port != "" {
		out += fmt.Sprintf("@%d-%s", s.Bus, s.Port)
	}
	return out
}

// matches reports whether d is a device the spec selects.
func (s USBSpec) matches(d host.USBDevice) bool {
	return d.VendorID == s.Vendor && d.ProductID == s.Product && (s.Port == "" || d.Bus == s.Bus && d.Port == s.Port)
}

// SpecError is a usb_device_spec entry that cannot be used.
type SpecError struct {
	Value  string // the entry as written
	Reason string
}

func (e *SpecError) Error() string {
	return fmt.Sprintf("usb_device_spec %q: %s", e.Value, e.Reason)
}

// ParseUSBSpecs reads the usb_device_spec entries: each "VVVV:PPPP" (the
// vendor and product ids, four hexadecimal digits each, either case) or
// "VVVV:PPPP@BUS-PORTPATH" (the decimal bus number and the port path from
// its root hub, as Linux names the device in /sys/bus/usb/devices:
// "0781:5581@1-1.2"). Surrounding blanks are ignored. The first bad entry
// is returned as a *SpecError naming it and why.
func ParseUSBSpecs(values []string) ([]USBSpec, error) {
	out := make([]USBSpec, 0, len(values))
	for _, v := range values {
		s, reason := parseUSBSpec(strings.TrimSpace(v))
		if reason != "" {
			return nil, &SpecError{Value: v, Reason: reason}
		}
		out = append(out, s)
	}
	return out, nil
}

func parseUSBSpec(v string) (USBSpec, string) {
	var s USBSpec
	if v == "" {
		return s, "empty; want VVVV:PPPP or VVVV:PPPP@BUS-PORTPATH"
	}
	ids, place, hasPlace := strings.Cut(v, "@")
	vid, pid, ok := strings.Cut(ids, ":")
	if !ok {
		return s, "no ':' between the vendor and product ids; want VVVV:PPPP"
	}
	for _, f := range []struct {
		what, text string
		dst        *uint16
	}{{"vendor", vid, &s.Vendor}, {"product", pid, &s.Product}} {
		n, err := strconv.ParseUint(f.text, 16, 16)
		if len(f.text) != 4 || err != nil {
			return s, fmt.Sprintf("%s id %q is not four hexadecimal digits", f.what, f.text)
		}
		*f.dst = uint16(n)
	}
	if !hasPlace {
		return s, ""
	}
	busText, port, ok := strings.Cut(place, "-")
	if !ok {
		return s, fmt.Sprintf("place %q is not BUS-PORTPATH (e.g. 1-1.2)", place)
	}
	if busText == "" || len(busText) > 5 || strings.Trim(busText, "0123456789") != "" ||
		len(busText) > 1 && busText[0] == '0' {
		return s, fmt.Sprintf("bus %q is not a decimal number without leading zeros", busText)
	}
	bus, _ := strconv.Atoi(busText)
	if bus > 65535 {
		return s, fmt.Sprintf("bus %d is greater than 65535", bus)
	}
	if err := host.CheckUSBPortPath(port); err != nil {
		return s, err.Error()
	}
	s.Bus, s.Port = bus, port
	return s, ""
}

// Device is one host device offered for passthrough.
type Device struct {
	// ID is stable across restarts and replugs into the same port, and
	// names the device's Placement provider (and seeds its uuid):
	// "usb-<bus>-<portpath>" ("usb-1-1.2"). Where the host gives no port
	// path (FreeBSD's usbconfig) it is "usb-ugen<bus>.<address>", which
	// changes when the device is plugged in again. Only [a-z0-9.-].
	ID string
	// ResourceClass is CUSTOM_USB_<VID>_<PID>, the ids as four upper-case
	// hexadecimal digits each.
	ResourceClass   string
	Vendor, Product uint16
	Bus             int
	// Port is the port path, "1.2"; "" when the host gives none.
	Port string
	// Address is the device's current address on its bus (ugenB.A on
	// FreeBSD, devnum on Linux).
	Address int
	// Description is the device's product and manufacturer strings, for
	// logs; "" when it has none.
	Description string
}

// ResourceClass is the Placement resource class of USB devices with these
// ids: CUSTOM_USB_0781_5581.
func ResourceClass(vendor, product uint16) string {
	return fmt.Sprintf("CUSTOM_USB_%04X_%04X", vendor, product)
}

// SelectUSB returns every device of devs that some spec matches, once,
// sorted by ID. A spec matching nothing is no error: the caller logs it
// (the device may be unplugged). A device without a usable place (a
// malformed port path, a negative bus) is never offered, since its ID
// could not be trusted; neither is a second device claiming an ID
// already taken.
func SelectUSB(specs []USBSpec, devs []host.USBDevice) []Device {
	var out []Device
	seen := map[string]bool{}
	for _, d := range devs {
		id, ok := usbID(d)
		if !ok || seen[id] {
			continue
		}
		for _, s := range specs {
			if !s.matches(d) {
				continue
			}
			seen[id] = true
			desc := d.Description
			if d.Manufacturer != "" || d.Product != "" {
				desc = strings.TrimSpace(d.Manufacturer + " " + d.Product)
			}
			out = append(out, Device{ID: id, ResourceClass: ResourceClass(d.VendorID, d.ProductID),
				Vendor: d.VendorID, Product: d.ProductID, Bus: d.Bus, Port: d.Port, Address: d.Address,
				Description: desc})
			break
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].ID < out[j].ID })
	return out
}

// usbID gives the device's Device.ID, or false when its place is not
// well formed.
func usbID(d host.USBDevice) (string, bool) {
	if d.Bus < 0 || d.Bus > 65535 {
		return "", false
	}
	if d.Port == "" {
		if d.Address < 0 || d.Address > 65535 {
			return "", false
		}
		return fmt.Sprintf("usb-ugen%d.%d", d.Bus, d.Address), true
	}
	if host.CheckUSBPortPath(d.Port) != nil {
		return "", false
	}
	return fmt.Sprintf("usb-%d-%s", d.Bus, d.Port), true
}

// UnmatchedUSB returns the specs that select none of devs, for the caller
// to log: a device named in the configuration and not plugged in.
func UnmatchedUSB(specs []USBSpec, devs []host.USBDevice) []USBSpec {
	var out []USBSpec
	for _, s := range specs {
		found := false
		for _, d := range devs {
			if _, ok := usbID(d); ok && s.matches(d) {
				found = true
				break
			}
		}
		if !found {
			out = append(out, s)
		}
	}
	return out
}
