package host

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
)

// SysfsPCIAttrs are the attribute files of a Linux /sys/bus/pci/devices
// entry that ParseSysfsPCIDevice reads (Documentation/ABI/testing/
// sysfs-bus-pci in the Linux tree describes them). The first three are
// required; the rest are optional (sriov_totalvfs exists only on SR-IOV
// capable devices, numa_node only on NUMA-aware kernels).
var SysfsPCIAttrs = []string{"vendor", "device", "class", "subsystem_vendor", "subsystem_device", "revision",
	"numa_node", "sriov_totalvfs"}

const sysfsPCIRequiredAttrs = 3

// SysfsPCILinks are the symbolic links of an entry whose target's last
// element ParseSysfsPCIDevice takes under the same name: the bound
// driver ("vfio-pci") and, for a virtual function, its physical function
// ("0000:3b:00.0").
var SysfsPCILinks = []string{"driver", "physfn"}

// ParsePCIAddress reads a PCI address as Linux names its devices and Nova
// writes them: "0000:03:00.0", domain (four to eight hexadecimal digits),
// bus (two), slot (two, at most 1f) and function (one, at most 7).
func ParsePCIAddress(s string) (domain, bus, slot, function int, err error) {
	bad := func(why string) (int, int, int, int, error) {
		return 0, 0, 0, 0, fmt.Errorf("PCI address %q: %s", s, why)
	}
	dbs, fn, ok := strings.Cut(s, ".")
	parts := strings.Split(dbs, ":")
	if !ok || len(parts) != 3 {
		return bad("not DOMAIN:BUS:SLOT.FUNCTION")
	}
	widths := []struct {
		text     string
		min, max int
		limit    uint64
	}{{parts[0], 4, 8, 0xffffffff}, {parts[1], 2, 2, 0xff}, {parts[2], 2, 2, 0x1f}, {fn, 1, 1, 7}}
	var nums [4]int
	for i, w := range widths {
		n, err := strconv.ParseUint(w.text, 16, 64)
		if len(w.text) < w.min || len(w.text) > w.max || err != nil || strings.HasPrefix(w.text, "+") {
			return bad(fmt.Sprintf("%q is not %d to %d hexadecimal digits", w.text, w.min, w.max))
		}
		if n > w.limit {
			return bad(fmt.Sprintf("%q is greater than %x", w.text, w.limit))
		}
		nums[i] = int(n)
	}
	return nums[0], nums[1], nums[2], nums[3], nil
}

// ParseSysfsPCIDevice builds a PCIDevice from the name of a Linux
// /sys/bus/pci/devices entry ("0000:03:00.0") and its attributes, keyed
// by the names in SysfsPCIAttrs (the file's text) and SysfsPCILinks (the
// last element of the link's target); an absent file or link is absent
// from the map. Numbers are as the kernel prints them: ids "0x%04x",
// class "0x%06x", revision "0x%02x", numa_node and sriov_totalvfs in
// decimal.
func ParseSysfsPCIDevice(name string, attrs map[string]string) (PCIDevice, error) {
	fail := func(attr, value string, err error) (PCIDevice, error) {
		src := "sysfs pci device " + quote(name)
		if attr != "" {
			src += " " + attr
		}
		return PCIDevice{}, &ParseError{Source: src, Value: value, Err: err}
	}
	d := PCIDevice{NUMANode: -1}
	var err error
	if d.Domain, d.Bus, d.Slot, d.Function, err = ParsePCIAddress(name); err != nil {
		return fail("", "", err)
	}
	for _, a := range SysfsPCIAttrs[:sysfsPCIRequiredAttrs] {
		if _, ok := attrs[a]; !ok {
			return fail(a, "", errors.New("missing"))
		}
	}
	for _, f := range []struct {
		attr   string
		digits int
		set    func(uint64)
	}{
		{"vendor", 4, func(n uint64) { d.Vendor = uint16(n) }},
		{"device", 4, func(n uint64) { d.Device = uint16(n) }},
		{"class", 6, func(n uint64) { d.Class = uint32(n) }},
		{"subsystem_vendor", 4, func(n uint64) { d.SubVendor = uint16(n) }},
		{"subsystem_device", 4, func(n uint64) { d.SubDevice = uint16(n) }},
		{"revision", 2, func(n uint64) { d.Revision = uint8(n) }},
	} {
		v, ok := attrs[f.attr]
		if !ok {
			continue
		}
		v = strings.TrimSpace(v)
		if !strings.HasPrefix(v, "0x") {
			return fail(f.attr, v, errors.New("no 0x prefix"))
		}
		n, err := hexDigits(v[2:], f.digits)
		if err != nil {
			return fail(f.attr, v, err)
		}
		f.set(n)
	}
	if v, ok := attrs["numa_node"]; ok {
		v = strings.TrimSpace(v)
		if v != "-1" {
			// A node number is below MAX_NUMNODES (1024 at most).
			if d.NUMANode, err = decimal(v, 0, 1023); err != nil {
				return fail("numa_node", v, err)
			}
		}
	}
	if v, ok := attrs["sriov_totalvfs"]; ok {
		v = strings.TrimSpace(v)
		// PCIe's TotalVFs field is 16 bits.
		if d.TotalVFs, err = decimal(v, 0, 65535); err != nil {
			return fail("sriov_totalvfs", v, err)
		}
	}
	if v, ok := attrs["driver"]; ok {
		if err := checkDriverName(v); err != nil {
			return fail("driver", v, err)
		}
		d.Driver = v
	}
	if v, ok := attrs["physfn"]; ok {
		dom, bus, slot, fn, err := ParsePCIAddress(v)
		if err != nil {
			return fail("physfn", v, err)
		}
		d.PhysFn = PCIDevice{Domain: dom, Bus: bus, Slot: slot, Function: fn}.Address()
	}
	return d, nil
}

// checkDriverName accepts what Linux names its drivers: letters, digits,
// '_', '-' and '.', at most 64 characters.
func checkDriverName(s string) error {
	if s == "" || len(s) > 64 {
		return errors.New("not a driver name")
	}
	for _, c := range s {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_' || c == '-' || c == '.') {
			return fmt.Errorf("driver name has %q", c)
		}
	}
	return nil
}

// readSysfsPCI lists the PCI devices under root/bus/pci/devices, ordered
// by address. A host without PCI (no bus/pci directory) has none; an
// entry removed while being read (hot unplug, VFs being destroyed) is
// left out.
func readSysfsPCI(root string) ([]PCIDevice, error) {
	dir, entries, err := sysfsBusDevices(root, "pci")
	if err != nil || len(entries) == 0 {
		return nil, err
	}
	var out []PCIDevice
	for _, e := range entries {
		name := e.Name()
		attrs, gone, err := readPCIEntry(filepath.Join(dir, name))
		if err != nil {
			return nil, fmt.Errorf("pci discovery: %w", err)
		}
		if gone {
			continue
		}
		d, err := ParseSysfsPCIDevice(name, attrs)
		if err != nil {
			return nil, fmt.Errorf("pci discovery: %w", err)
		}
		out = append(out, d)
	}
	sortPCI(out)
	return out, nil
}

// readPCIEntry reads one entry's attributes and links; gone is true when
// the entry disappeared meanwhile.
func readPCIEntry(entry string) (attrs map[string]string, gone bool, err error) {
	attrs, gone, err = readSysfsAttrs(entry, SysfsPCIAttrs, sysfsPCIRequiredAttrs)
	if err != nil || gone {
		return nil, gone, err
	}
	for _, l := range SysfsPCILinks {
		target, err := os.Readlink(filepath.Join(entry, l))
		if errors.Is(err, fs.ErrNotExist) {
			continue
		}
		if err != nil {
			return nil, false, err
		}
		attrs[l] = filepath.Base(target)
	}
	return attrs, false, nil
}

// sortPCI orders devices by address.
func sortPCI(devs []PCIDevice) {
	sort.SliceStable(devs, func(i, j int) bool {
		a, b := devs[i], devs[j]
		for _, c := range [][2]int{{a.Domain, b.Domain}, {a.Bus, b.Bus}, {a.Slot, b.Slot}, {a.Function, b.Function}} {
			if c[0] != c[1] {
				return c[0] < c[1]
			}
		}
		return false
	})
}

// pciconfDevices parses `pciconf -lv` output as DiscoverPCI returns it on
// FreeBSD, ordered by address.
func pciconfDevices(text string) ([]PCIDevice, error) {
	devs, err := ParsePciconf(text)
	if err != nil {
		return nil, fmt.Errorf("pci discovery: %w", err)
	}
	sortPCI(devs)
	return devs, nil
}
