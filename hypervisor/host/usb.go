package host

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"
)

// DefaultSysfsRoot is where Linux mounts sysfs; DiscoverUSB reads
// DefaultSysfsRoot/bus/usb/devices when given "".
const DefaultSysfsRoot = "/sys"

// SysfsUSBAttrs are the attribute files of a /sys/bus/usb/devices entry
// that ParseSysfsUSBDevice reads (Documentation/ABI/stable/sysfs-bus-usb
// and sysfs-devices in the Linux tree describe them). The first five are
// required; the rest are optional (a device may have no strings).
var SysfsUSBAttrs = []string{"busnum", "devnum", "devpath", "idVendor", "idProduct",
	"bDeviceClass", "speed", "manufacturer", "product", "serial"}

const sysfsRequiredAttrs = 5

// maxUSBString bounds the strings kept from a device: a USB string
// descriptor holds at most 126 UTF-16 units, so longer text is not a
// device's.
const maxUSBString = 126

// maxSysfsAttr bounds how much of one attribute file is read; the kernel
// writes at most a page.
const maxSysfsAttr = 4096

// linuxUSBSpeeds maps sysfs "speed" (Mbit/s) to usbconfig's speed names,
// so that both systems describe a device alike.
var linuxUSBSpeeds = map[string]string{"1.5": "LOW", "12": "FULL", "480": "HIGH", "53.3-480": "VARIABLE",
	"5000": "SUPER", "10000": "SUPER", "20000": "SUPER"}

// CheckUSBPortPath reports whether p is a USB port path: one to seven
// port numbers from 1 to 255 joined by dots ("1", "1.2", "3.1.4"). USB
// allows five hubs below the root hub, so real paths have at most six.
func CheckUSBPortPath(p string) error {
	if p == "" {
		return errors.New("empty port path")
	}
	parts := strings.Split(p, ".")
	if len(parts) > 7 {
		return fmt.Errorf("port path %q has %d levels, more than USB's tiers allow", p, len(parts))
	}
	for _, part := range parts {
		if part == "" || len(part) > 3 || strings.TrimLeft(part, "0123456789") != "" {
			return fmt.Errorf("port path %q: %q is not a port number", p, part)
		}
		if n, _ := strconv.Atoi(part); n < 1 || n > 255 || part[0] == '0' {
			return fmt.Errorf("port path %q: port %q is not between 1 and 255", p, part)
		}
	}
	return nil
}

// ParseSysfsUSBDevice builds a USBDevice from the name of a Linux
// /sys/bus/usb/devices entry ("1-1.2": bus 1, port path 1.2) and the
// contents of its attribute files, keyed by the names in SysfsUSBAttrs
// (an absent file is absent from the map). Root hubs ("usb1") and
// interfaces ("1-1.2:1.0") are not devices and are refused; so is an entry
// whose busnum or devpath disagrees with its name. Device strings are
// kept printable and at most 126 characters, since the device, not the
// kernel, wrote them.
func ParseSysfsUSBDevice(name string, attrs map[string]string) (USBDevice, error) {
	var u USBDevice
	fail := func(attr, value string, err error) (USBDevice, error) {
		src := "sysfs usb device " + quote(name)
		if attr != "" {
			src += " " + attr
		}
		return USBDevice{}, &ParseError{Source: src, Value: value, Err: err}
	}
	busText, port, ok := strings.Cut(name, "-")
	if !ok || strings.Contains(name, ":") {
		return fail("", "", errors.New("not a device entry BUS-PORTPATH (a root hub or an interface?)"))
	}
	bus, err := decimal(busText, 1, 65535)
	if err != nil {
		return fail("", "", fmt.Errorf("bus: %w", err))
	}
	if err := CheckUSBPortPath(port); err != nil {
		return fail("", "", err)
	}
	for _, a := range SysfsUSBAttrs[:sysfsRequiredAttrs] {
		if _, ok := attrs[a]; !ok {
			return fail(a, "", errors.New("missing"))
		}
	}
	val := func(a string) string { return strings.TrimSpace(attrs[a]) }
	if n, err := decimal(val("busnum"), 1, 65535); err != nil {
		return fail("busnum", val("busnum"), err)
	} else if n != bus {
		return fail("busnum", val("busnum"), fmt.Errorf("entry is on bus %d", bus))
	}
	if val("devpath") != port {
		return fail("devpath", val("devpath"), fmt.Errorf("entry's port path is %s", port))
	}
	// USB device addresses are 7 bits; 0 is the unaddressed default.
	if u.Address, err = decimal(val("devnum"), 1, 127); err != nil {
		return fail("devnum", val("devnum"), err)
	}
	for _, f := range []struct {
		attr string
		dst  *uint16
	}{{"idVendor", &u.VendorID}, {"idProduct", &u.ProductID}} {
		n, err := hexDigits(val(f.attr), 4)
		if err != nil {
			return fail(f.attr, val(f.attr), err)
		}
		*f.dst = uint16(n)
	}
	if c, ok := attrs["bDeviceClass"]; ok {
		n, err := hexDigits(strings.TrimSpace(c), 2)
		if err != nil {
			return fail("bDeviceClass", strings.TrimSpace(c), err)
		}
		u.Class = uint8(n)
	}
	if s, ok := attrs["speed"]; ok {
		u.Speed = linuxUSBSpeeds[strings.TrimSpace(s)]
		if u.Speed == "" {
			u.Speed = "UNKNOWN"
		}
	}
	u.Bus, u.Port = bus, port
	u.Manufacturer = deviceString(attrs["manufacturer"])
	u.Product = deviceString(attrs["product"])
	u.Serial = deviceString(attrs["serial"])
	u.Description = strings.TrimSpace(u.Product + " " + u.Manufacturer)
	return u, nil
}

// decimal parses a plain decimal number (no sign, no leading zeros) in
// [lo, hi].
func decimal(s string, lo, hi int) (int, error) {
	if s == "" || len(s) > 6 || strings.TrimLeft(s, "0123456789") != "" || (len(s) > 1 && s[0] == '0') {
		return 0, fmt.Errorf("%q is not a decimal number", s)
	}
	n, _ := strconv.Atoi(s)
	if n < lo || n > hi {
		return 0, fmt.Errorf("%d is not between %d and %d", n, lo, hi)
	}
	return n, nil
}

// hexDigits parses exactly width hexadecimal digits, as the kernel prints
// ids (%04x) and classes (%02x).
func hexDigits(s string, width int) (uint64, error) {
	if len(s) != width {
		return 0, fmt.Errorf("%q is not %d hexadecimal digits", s, width)
	}
	n, err := strconv.ParseUint(s, 16, 64)
	if err != nil {
		return 0, fmt.Errorf("%q is not %d hexadecimal digits", s, width)
	}
	return n, nil
}

// deviceString makes a device-supplied string safe to log: surrounding
// space trimmed, control characters and invalid UTF-8 replaced by '?',
// cut at maxUSBString characters.
func deviceString(s string) string {
	s = strings.TrimSpace(s)
	var b strings.Builder
	n := 0
	for len(s) > 0 && n < maxUSBString {
		r, size := utf8.DecodeRuneInString(s)
		s = s[size:]
		if r == utf8.RuneError && size <= 1 || !unicode.IsPrint(r) {
			r = '?'
		}
		b.WriteRune(r)
		n++
	}
	return strings.TrimSpace(b.String())
}

// readSysfsUSB lists the USB devices under root/bus/usb/devices, skipping
// root hubs ("usbN") and interfaces ("B-P:C.I"): everything else may be
// passed through. A host without USB (no bus/usb directory) has none. An
// entry that vanishes while being read was unplugged and is left out.
func readSysfsUSB(root string) ([]USBDevice, error) {
	dir, entries, err := sysfsBusDevices(root, "usb")
	if err != nil || len(entries) == 0 {
		return nil, err
	}
	var out []USBDevice
	for _, e := range entries {
		name := e.Name()
		if strings.HasPrefix(name, "usb") || strings.Contains(name, ":") {
			continue
		}
		attrs, gone, err := readSysfsAttrs(filepath.Join(dir, name), SysfsUSBAttrs, sysfsRequiredAttrs)
		if err != nil {
			return nil, fmt.Errorf("usb discovery: %w", err)
		}
		if gone {
			continue
		}
		u, err := ParseSysfsUSBDevice(name, attrs)
		if err != nil {
			return nil, fmt.Errorf("usb discovery: %w", err)
		}
		out = append(out, u)
	}
	sortUSB(out)
	return out, nil
}

func readAttr(path string) (string, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", err
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, maxSysfsAttr+1))
	if err != nil {
		return "", err
	}
	if len(b) > maxSysfsAttr {
		return "", fmt.Errorf("%s: longer than %d bytes, not a sysfs attribute", path, maxSysfsAttr)
	}
	return string(b), nil
}

// sortUSB orders devices by bus, then port path compared number by
// number (1.2 before 1.10), then address.
func sortUSB(devs []USBDevice) {
	sort.SliceStable(devs, func(i, j int) bool {
		a, b := devs[i], devs[j]
		if a.Bus != b.Bus {
			return a.Bus < b.Bus
		}
		if c := comparePortPaths(a.Port, b.Port); c != 0 {
			return c < 0
		}
		return a.Address < b.Address
	})
}

func comparePortPaths(a, b string) int {
	pa, pb := strings.Split(a, "."), strings.Split(b, ".")
	for i := 0; i < len(pa) && i < len(pb); i++ {
		x, _ := strconv.Atoi(pa[i])
		y, _ := strconv.Atoi(pb[i])
		if x != y {
			return x - y
		}
	}
	return len(pa) - len(pb)
}

// freebsdRootHubAddress is the address FreeBSD's USB stack gives every
// bus's root hub (USB_ROOT_HUB_ADDR): ugenB.1.
const freebsdRootHubAddress = 1

// usbconfigDevices parses `usbconfig dump_device_desc` output as
// DiscoverUSB returns it on FreeBSD: root hubs (ugenB.1) left out, as on
// Linux.
func usbconfigDevices(text string) ([]USBDevice, error) {
	all, err := ParseUsbconfig(text)
	if err != nil {
		return nil, fmt.Errorf("usb discovery: %w", err)
	}
	var out []USBDevice
	for _, u := range all {
		if u.Address != freebsdRootHubAddress {
			out = append(out, u)
		}
	}
	sortUSB(out)
	return out, nil
}

// sysfsBusDevices reads the entries of root/bus/BUS/devices (root "" is DefaultSysfsRoot; it must be absolute).
// A host without that bus has none; the errors name the bus.
func sysfsBusDevices(root, bus string) (string, []os.DirEntry, error) {
	if root == "" {
		root = DefaultSysfsRoot
	}
	if !filepath.IsAbs(root) {
		return "", nil, fmt.Errorf("%s discovery: sysfs root %q is not an absolute path", bus, root)
	}
	if _, err := os.Stat(root); err != nil {
		return "", nil, fmt.Errorf("%s discovery: sysfs root: %w", bus, err)
	}
	dir := filepath.Join(filepath.Clean(root), "bus", bus, "devices")
	entries, err := os.ReadDir(dir)
	if errors.Is(err, fs.ErrNotExist) {
		return dir, nil, nil
	}
	if err != nil {
		return "", nil, fmt.Errorf("%s discovery: %w", bus, err)
	}
	return dir, entries, nil
}

// readSysfsAttrs reads the attribute files names of a sysfs entry; the first required must be there. gone is
// true when the entry itself went between the listing and the read (unplugged, VFs destroyed): the caller leaves
// it out rather than reading it as a device without its ids.
func readSysfsAttrs(entry string, names []string, required int) (attrs map[string]string, gone bool, err error) {
	attrs = map[string]string{}
	for i, a := range names {
		text, err := readAttr(filepath.Join(entry, a))
		if errors.Is(err, fs.ErrNotExist) {
			if i < required {
				if _, serr := os.Stat(entry); errors.Is(serr, fs.ErrNotExist) {
					return nil, true, nil
				}
			}
			continue
		}
		if err != nil {
			return nil, false, err
		}
		attrs[a] = text
	}
	return attrs, false, nil
}
