package host

import (
	"bufio"
	"fmt"
	"strconv"
	"strings"
)

// Devices is what a host offers besides CPUs and memory: its PCI and USB
// devices, network interfaces, ZFS pools and IOMMU. FreeBSD discovery fills
// it from pciconf(8), usbconfig(8), ifconfig(8), zpool(8) and sysctl(8);
// elsewhere it stays empty.
type Devices struct {
	PCI        []PCIDevice
	USB        []USBDevice
	Interfaces []NetInterface
	Pools      []ZPool
	IOMMU      IOMMU
	// Problems lists the optional sources that could not be read (a host
	// without USB or ZFS) and why; their part of the inventory is empty.
	Problems []string
}

// IOMMU is the host's DMA remapping hardware as bhyve sees it; PCI
// passthrough needs it.
type IOMMU struct {
	// Enabled is hw.vmm.iommu.enable (a loader tunable, 1 unless the
	// operator turned it off).
	Enabled bool
	// Initialized is hw.vmm.iommu.initialized: vmm.ko found and set up the
	// IOMMU, which it does at load when ppt(4) holds devices.
	Initialized bool
	// Hardware names the unit the kernel attached at boot ("dmar0",
	// "ivhd0", "amdiommu0"), or "" when the boot messages show none.
	Hardware string
}

// PassthroughReady reports whether bhyve can give a ppt(4) device to a
// guest now: x86 hardware virtualisation ready and vmm.ko's IOMMU set up.
// bhyve on arm64 has no PCI passthrough.
func (h *Host) PassthroughReady() bool {
	return h.Arch == "x86_64" && h.Virt.Ready && h.Devices.IOMMU.Enabled && h.Devices.IOMMU.Initialized
}

// PCIDevice is one function on the PCI bus as FreeBSD's `pciconf -lv`
// lists it or as Linux's sysfs shows it (ParseSysfsPCIDevice).
type PCIDevice struct {
	// Driver and Unit name the attached driver instance ("igb", 0). With
	// no driver attached Driver is "none" on FreeBSD (pciconf's word) and
	// "" on Linux; Attached tells either. Linux has no units: Unit is 0.
	Driver string
	Unit   int
	// Domain, Bus, Slot and Function are the device's selector.
	Domain, Bus, Slot, Function int
	// Class is class<<16 | subclass<<8 | programming interface.
	Class     uint32
	Revision  uint8
	Header    uint8
	Vendor    uint16
	Device    uint16
	SubVendor uint16
	SubDevice uint16
	// VendorName and DeviceName come from the PCI ID database, ClassName
	// and Subclass from pciconf's class table; each may be empty (always
	// on Linux, whose sysfs has only the numbers).
	VendorName, DeviceName, ClassName, Subclass string
	// NUMANode is the NUMA node the device is attached to, -1 when the
	// host does not say (FreeBSD's pciconf never does; Linux writes -1
	// for devices of no node).
	NUMANode int
	// PhysFn is, for an SR-IOV virtual function, its physical function's
	// Address ("0000:3b:00.0"); "" for every other device. Only Linux
	// tells.
	PhysFn string
	// TotalVFs is how many virtual functions the device can have
	// (sriov_totalvfs); 0 for a device without SR-IOV. Only Linux tells.
	TotalVFs int
}

// Address is the device's address as Linux and Nova write it, in
// hexadecimal: "0000:03:00.0" (domain:bus:slot.function).
func (d PCIDevice) Address() string {
	return fmt.Sprintf("%04x:%02x:%02x.%x", d.Domain, d.Bus, d.Slot, d.Function)
}

// IsVF reports whether the device is an SR-IOV virtual function.
func (d PCIDevice) IsVF() bool { return d.PhysFn != "" }

// IsPF reports whether the device is an SR-IOV physical function: one
// that can have virtual functions.
func (d PCIDevice) IsPF() bool { return d.TotalVFs > 0 }

// Attached reports whether a driver holds the device.
func (d PCIDevice) Attached() bool { return d.Driver != "" && d.Driver != "none" }

// Selector is the device's address as bhyve's passthru option and
// pciconf take it: "pci0:3:0:0" (domain:bus:slot:function).
func (d PCIDevice) Selector() string {
	return fmt.Sprintf("pci%d:%d:%d:%d", d.Domain, d.Bus, d.Slot, d.Function)
}

// BhyveSlot is the bus/slot/function triple bhyve's -s N,passthru,B/S/F
// takes; bhyve only reaches domain 0.
func (d PCIDevice) BhyveSlot() string { return fmt.Sprintf("%d/%d/%d", d.Bus, d.Slot, d.Function) }

// Passthrough reports whether the device is held by the driver that
// reserves it for guests: ppt(4) on FreeBSD (pptdevs in loader.conf),
// vfio-pci on Linux. novabsd never rebinds a device: the operator does.
func (d PCIDevice) Passthrough() bool { return d.Driver == "ppt" || d.Driver == "vfio-pci" }

// ParsePciconf reads `pciconf -lv` output (usr.sbin/pciconf/pciconf.c,
// list_devs and list_verbose): for each device a line
// "drvN@pciD:B:S:F:<TAB>class=0x.. rev=0x.. hdr=0x.. vendor=0x.. device=0x..
// subvendor=0x.. subdevice=0x.." then indented "vendor = '...'",
// "device = '...'", "class = ..." and "subclass = ..." lines. Other indented
// lines (-b's BARs, -c's capabilities) are skipped.
func ParsePciconf(text string) ([]PCIDevice, error) {
	return parseRecords(text, "pciconf -lv", nil, parsePciconfDevice, func(d *PCIDevice, line string) error {
		pciVerboseLine(d, line)
		return nil
	})
}

func parsePciconfDevice(line string) (PCIDevice, error) {
	d := PCIDevice{NUMANode: -1}
	sel, rest, ok := strings.Cut(line, "@pci")
	if !ok {
		return d, fmt.Errorf("no @pci selector")
	}
	name, unit, err := splitUnit(sel)
	if err != nil {
		return d, err
	}
	d.Driver, d.Unit = name, unit
	addr, fields, ok := strings.Cut(rest, ":\t")
	if !ok {
		// The selector ends with a colon and then a tab; accept a space too.
		addr, fields, ok = strings.Cut(rest, ": ")
		if !ok {
			return d, fmt.Errorf("selector not followed by fields")
		}
	}
	parts := strings.Split(addr, ":")
	if len(parts) != 4 {
		return d, fmt.Errorf("selector %q is not domain:bus:slot:function", "pci"+addr)
	}
	limits := []int{1<<31 - 1, 255, 31, 7}
	nums := make([]int, 4)
	for i, p := range parts {
		v, err := strconv.Atoi(p)
		if err != nil || v < 0 || v > limits[i] {
			return d, fmt.Errorf("selector %q: bad number %q", "pci"+addr, p)
		}
		nums[i] = v
	}
	d.Domain, d.Bus, d.Slot, d.Function = nums[0], nums[1], nums[2], nums[3]
	seen := map[string]bool{}
	for _, f := range strings.Fields(fields) {
		k, v, ok := strings.Cut(f, "=")
		if !ok {
			return d, fmt.Errorf("field %q is not key=value", f)
		}
		bits := map[string]int{"class": 24, "rev": 8, "hdr": 8, "vendor": 16, "device": 16,
			"subvendor": 16, "subdevice": 16}[k]
		if bits == 0 {
			continue // a field a later pciconf may add
		}
		if !strings.HasPrefix(v, "0x") {
			return d, fmt.Errorf("%s=%q is not hexadecimal", k, v)
		}
		n, err := strconv.ParseUint(v[2:], 16, bits)
		if err != nil {
			return d, fmt.Errorf("%s=%q: %w", k, v, err)
		}
		seen[k] = true
		switch k {
		case "class":
			d.Class = uint32(n)
		case "rev":
			d.Revision = uint8(n)
		case "hdr":
			d.Header = uint8(n)
		case "vendor":
			d.Vendor = uint16(n)
		case "device":
			d.Device = uint16(n)
		case "subvendor":
			d.SubVendor = uint16(n)
		case "subdevice":
			d.SubDevice = uint16(n)
		}
	}
	for _, k := range []string{"class", "vendor", "device"} {
		if !seen[k] {
			return d, fmt.Errorf("no %s= field", k)
		}
	}
	return d, nil
}

// splitUnit splits "igb12" into ("igb", 12).
func splitUnit(s string) (string, int, error) {
	i := len(s)
	for i > 0 && s[i-1] >= '0' && s[i-1] <= '9' {
		i--
	}
	if i == 0 || i == len(s) || len(s)-i > 9 {
		return "", 0, fmt.Errorf("device name %q is not driver and unit", s)
	}
	for _, c := range s[:i] {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_') {
			return "", 0, fmt.Errorf("device name %q has %q", s, c)
		}
	}
	n, _ := strconv.Atoi(s[i:])
	return s[:i], n, nil
}

func pciVerboseLine(d *PCIDevice, line string) {
	k, v, ok := strings.Cut(strings.TrimSpace(line), "=")
	if !ok {
		return
	}
	v = strings.TrimSpace(v)
	if len(v) >= 2 && v[0] == '\'' && v[len(v)-1] == '\'' {
		v = v[1 : len(v)-1]
	}
	switch strings.TrimSpace(k) {
	case "vendor":
		d.VendorName = v
	case "device":
		d.DeviceName = v
	case "class":
		d.ClassName = v
	case "subclass":
		d.Subclass = v
	}
}

// USBDevice is one device on a USB bus as usbconfig(8) lists it on
// FreeBSD or as Linux's sysfs shows it (ParseSysfsUSBDevice).
type USBDevice struct {
	// Bus and Address are the ugenB.A coordinates (usbusB, device address
	// A on it); on Linux busnum and devnum. The address is given at
	// enumeration and changes when the device is plugged in again.
	Bus, Address int
	// Port is the device's port path from its bus's root hub, "1.2" for
	// port 2 of the hub on root port 1: unlike Address it stays the same
	// across replugs. Linux gives it (devpath); usbconfig does not, so it
	// is "" on FreeBSD.
	Port string
	// Description is what the list line shows between < and >: libusb's
	// product and vendor strings. On Linux it is made the same way from
	// the product and manufacturer strings.
	Description string
	// Config is the active configuration index (255: unconfigured).
	Config int
	// Mode is HOST or DEVICE, Speed LOW, FULL, HIGH, VARIABLE, SUPER or
	// UNKNOWN, Power ON, OFF, SAVE, SUSPEND, RESUME or UNKNOWN.
	Mode, Speed, Power string
	// PowerMA is the current the device draws, in mA.
	PowerMA int
	// VendorID, ProductID and Class come from the device descriptor, and
	// Manufacturer and Product from its strings; zero or empty when only
	// `usbconfig list` was read.
	VendorID, ProductID uint16
	Class               uint8
	Manufacturer        string
	Product             string
	// Serial is the iSerialNumber string, "" when the device has none.
	Serial string
}

// Name is the device's ugen(4) name, "ugen0.2".
func (u USBDevice) Name() string { return fmt.Sprintf("ugen%d.%d", u.Bus, u.Address) }

// ParseUsbconfig reads `usbconfig list` or `usbconfig dump_device_desc`
// output (usr.sbin/usbconfig/dump.c: dump_device_info, dump_device_desc;
// lib/libusb/libusb20_ugen20.c for the description): one line per device,
// "ugen0.2: <product vendor> at usbus0, cfg=0 md=HOST spd=HIGH (480Mbps)
// pwr=ON (100mA)", followed with dump_device_desc by indented
// "idVendor = 0x8087 " style fields. usbconfig's "No device match or lack
// of permissions." means no devices.
func ParseUsbconfig(text string) ([]USBDevice, error) {
	noDevices := func(line string) bool { return line == "No device match or lack of permissions." }
	return parseRecords(text, "usbconfig", noDevices, parseUsbconfigLine, func(u *USBDevice, line string) error {
		usbDescField(u, strings.TrimSpace(line))
		return nil
	})
}

func parseUsbconfigLine(line string) (USBDevice, error) {
	var u USBDevice
	name, rest, ok := strings.Cut(line, ": <")
	if !ok || !strings.HasPrefix(name, "ugen") {
		return u, fmt.Errorf("not a ugenB.A: <...> line")
	}
	b, a, ok := strings.Cut(name[len("ugen"):], ".")
	bus, err1 := strconv.Atoi(b)
	addr, err2 := strconv.Atoi(a)
	if !ok || err1 != nil || err2 != nil || bus < 0 || bus > 65535 || addr < 0 || addr > 65535 {
		return u, fmt.Errorf("device name %q is not ugenBUS.ADDRESS", name)
	}
	u.Bus, u.Address = bus, addr
	// The description may itself hold '>' (it is the device's own text),
	// so the line is split at the last "> at usbus".
	i := strings.LastIndex(rest, "> at usbus")
	if i < 0 {
		return u, fmt.Errorf("no \"> at usbusN\"")
	}
	u.Description = rest[:i]
	rest = rest[i+len("> at usbus"):]
	busText, params, ok := strings.Cut(rest, ", ")
	if !ok {
		return u, fmt.Errorf("no parameters after the bus")
	}
	if n, err := strconv.Atoi(busText); err != nil || n != bus {
		return u, fmt.Errorf("bus usbus%s does not match %s", busText, name)
	}
	fields := strings.Fields(params)
	for i := 0; i < len(fields); i++ {
		k, v, ok := strings.Cut(fields[i], "=")
		if !ok {
			continue // the "(480Mbps)" and "(100mA)" annotations
		}
		switch k {
		case "cfg":
			n, err := strconv.Atoi(v)
			if err != nil || n < 0 || n > 255 {
				return u, fmt.Errorf("cfg=%q", v)
			}
			u.Config = n
		case "md":
			u.Mode = v
		case "spd":
			u.Speed = v
		case "pwr":
			u.Power = v
			if i+1 < len(fields) && strings.HasPrefix(fields[i+1], "(") && strings.HasSuffix(fields[i+1], "mA)") {
				ma, err := strconv.Atoi(strings.TrimSuffix(strings.TrimPrefix(fields[i+1], "("), "mA)"))
				if err != nil || ma < 0 {
					return u, fmt.Errorf("power %q", fields[i+1])
				}
				u.PowerMA = ma
				i++
			}
		}
	}
	if u.Mode == "" || u.Speed == "" || u.Power == "" {
		return u, fmt.Errorf("md=, spd= or pwr= missing")
	}
	return u, nil
}

// usbDescField takes one "  idVendor = 0x8087 " line of dump_device_desc;
// string fields end in " <text>".
func usbDescField(u *USBDevice, line string) {
	k, v, ok := strings.Cut(line, " = ")
	if !ok {
		return
	}
	num, text, _ := strings.Cut(strings.TrimSpace(v), " ")
	text = strings.TrimSpace(text)
	if len(text) >= 2 && text[0] == '<' && text[len(text)-1] == '>' {
		text = text[1 : len(text)-1]
	} else {
		text = ""
	}
	parse := func(bits int) (uint64, bool) {
		if !strings.HasPrefix(num, "0x") {
			return 0, false
		}
		n, err := strconv.ParseUint(num[2:], 16, bits)
		return n, err == nil
	}
	switch k {
	case "idVendor":
		if n, ok := parse(16); ok {
			u.VendorID = uint16(n)
		}
	case "idProduct":
		if n, ok := parse(16); ok {
			u.ProductID = uint16(n)
		}
	case "bDeviceClass":
		if n, ok := parse(8); ok {
			u.Class = uint8(n)
		}
	case "iManufacturer":
		u.Manufacturer = usbString(text)
	case "iProduct":
		u.Product = usbString(text)
	case "iSerialNumber":
		u.Serial = usbString(text)
	}
}

// usbString drops usbconfig's placeholders for absent strings.
func usbString(s string) string {
	if s == "no string" || s == "retrieving string failed" {
		return ""
	}
	return s
}

// ZPool is one ZFS pool as `zpool list -Hp` reports it (zpool-list(8) and
// zpoolprops(7): name, size, allocated, free, checkpoint, expandsize,
// fragmentation, capacity, dedupratio, health, altroot).
type ZPool struct {
	Name string
	// Size, Allocated and Free are bytes. Size counts raw space: parity
	// and the pool's slop are still in it.
	Size, Allocated, Free uint64
	// Fragmentation and Capacity are percentages, -1 when zpool shows "-".
	Fragmentation, Capacity int
	// Dedup is the deduplication ratio (1.00 without dedup).
	Dedup float64
	// Health is ONLINE, DEGRADED, FAULTED, OFFLINE, REMOVED or UNAVAIL.
	Health string
	// AltRoot is the alternate root, "" when none ("-").
	AltRoot string
}

// Disk gives the pool's capacity in the form the DISK_GB inventory reads:
// total = size, used = allocated, free = free.
func (p ZPool) Disk() Disk {
	return Disk{TotalBytes: p.Size, FreeBytes: p.Free, UsedBytes: p.Allocated}
}

// ParseZpoolList reads `zpool list -Hp` output: one tab-separated line per
// pool with the 11 default columns, exact numbers (-p), "-" for an absent
// value. A faulted pool shows "-" for its sizes; it is kept with zeros.
func ParseZpoolList(text string) ([]ZPool, error) {
	var out []ZPool
	for i, line := range strings.Split(text, "\n") {
		line = strings.TrimRight(line, "\r")
		if strings.TrimSpace(line) == "" || line == "no pools available" {
			continue
		}
		p, err := parseZpoolLine(line)
		if err != nil {
			return nil, &ParseError{Source: fmt.Sprintf("zpool list -Hp line %d", i+1), Value: line, Err: err}
		}
		out = append(out, p)
	}
	return out, nil
}

func parseZpoolLine(line string) (ZPool, error) {
	var p ZPool
	f := strings.Split(line, "\t")
	if len(f) != 11 {
		return p, fmt.Errorf("%d tab-separated fields, want 11", len(f))
	}
	if f[0] == "" || strings.ContainsAny(f[0], " /@#") {
		return p, fmt.Errorf("pool name %q", f[0])
	}
	p.Name = f[0]
	for i, dst := range []*uint64{&p.Size, &p.Allocated, &p.Free} {
		if f[1+i] == "-" {
			continue
		}
		n, err := strconv.ParseUint(f[1+i], 10, 64)
		if err != nil {
			return p, fmt.Errorf("column %d %q is not a byte count (was -p given?)", 2+i, f[1+i])
		}
		*dst = n
	}
	for i, dst := range []*int{&p.Fragmentation, &p.Capacity} {
		v := f[6+i]
		if v == "-" {
			*dst = -1
			continue
		}
		n, err := strconv.Atoi(strings.TrimSuffix(v, "%"))
		if err != nil || n < 0 {
			return p, fmt.Errorf("column %d %q is not a percentage", 7+i, v)
		}
		*dst = n
	}
	if v := strings.TrimSuffix(f[8], "x"); v != "-" {
		d, err := strconv.ParseFloat(v, 64)
		if err != nil || d < 0 || d != d {
			return p, fmt.Errorf("dedup ratio %q", f[8])
		}
		p.Dedup = d
	}
	p.Health = f[9]
	if f[10] != "-" {
		p.AltRoot = f[10]
	}
	return p, nil
}

// NetInterface is one network interface as `ifconfig -a` shows it.
type NetInterface struct {
	Name string
	// Flags are the interface flags by name (UP, RUNNING, LOOPBACK, ...).
	Flags []string
	MTU   int
	// MAC is the link-level address ("ether" line), "" for interfaces
	// without one.
	MAC string
	// IPv4 and IPv6 hold the addresses with their prefix lengths,
	// "192.0.2.10/24", "2001:db8::1/64"; IPv6 link-local scopes are dropped.
	IPv4, IPv6 []string
	// Media is the media line ("Ethernet autoselect (10Gbase-T
	// <full-duplex>)"), Status the status line ("active", "no carrier").
	Media, Status string
	// Groups are the interface groups (lo, bridge, tap, ...).
	Groups []string
	// Members are a bridge's member interfaces.
	Members []string
}

// HasFlag reports whether the interface has the named flag.
func (n NetInterface) HasFlag(flag string) bool {
	for _, f := range n.Flags {
		if f == flag {
			return true
		}
	}
	return false
}

// ParseIfconfig reads `ifconfig -a` output (sbin/ifconfig: status_nl and
// the af_* printers): a "name: flags=HEX<FLAG,...> metric N mtu N" line per
// interface, then tab-indented detail lines.
func ParseIfconfig(text string) ([]NetInterface, error) {
	return parseRecords(text, "ifconfig -a", nil, parseIfconfigHeader, func(ifc *NetInterface, line string) error {
		return ifconfigDetail(ifc, strings.TrimSpace(line))
	})
}

// parseRecords reads the outputs whose records are a header line followed by indented detail lines (pciconf
// -lv, usbconfig, ifconfig -a). Blank lines and lines skip accepts (trimmed) are ignored, and a detail line
// before any header is dropped. An error names the command and the line.
func parseRecords[T any](text, source string, skip func(string) bool, header func(string) (T, error),
	detail func(*T, string) error) ([]T, error) {
	var out []T
	sc := bufio.NewScanner(strings.NewReader(text))
	sc.Buffer(make([]byte, 64*1024), 1024*1024)
	n := 0
	for sc.Scan() {
		n++
		line := sc.Text()
		trimmed := strings.TrimSpace(line)
		if trimmed == "" || (skip != nil && skip(trimmed)) {
			continue
		}
		var err error
		if line[0] == ' ' || line[0] == '\t' {
			if len(out) > 0 {
				err = detail(&out[len(out)-1], line)
			}
		} else {
			var rec T
			if rec, err = header(line); err == nil {
				out = append(out, rec)
			}
		}
		if err != nil {
			return nil, &ParseError{Source: fmt.Sprintf("%s line %d", source, n), Value: line, Err: err}
		}
	}
	if err := sc.Err(); err != nil {
		return nil, &ParseError{Source: source, Err: err}
	}
	return out, nil
}

func parseIfconfigHeader(line string) (NetInterface, error) {
	var ifc NetInterface
	name, rest, ok := strings.Cut(line, ": flags=")
	if !ok || name == "" || len(name) > 15 || strings.ContainsAny(name, " \t/:") {
		return ifc, fmt.Errorf("not a \"name: flags=...\" line")
	}
	ifc.Name = name
	if lt := strings.IndexByte(rest, '<'); lt >= 0 {
		gt := strings.IndexByte(rest[lt:], '>')
		if gt < 0 {
			return ifc, fmt.Errorf("unterminated flag list")
		}
		for _, f := range strings.Split(rest[lt+1:lt+gt], ",") {
			if f != "" {
				ifc.Flags = append(ifc.Flags, f)
			}
		}
		rest = rest[lt+gt+1:]
	}
	f := strings.Fields(rest)
	for i := 0; i+1 < len(f); i++ {
		if f[i] == "mtu" {
			mtu, err := strconv.Atoi(f[i+1])
			if err != nil || mtu < 0 {
				return ifc, fmt.Errorf("mtu %q", f[i+1])
			}
			ifc.MTU = mtu
		}
	}
	return ifc, nil
}

func ifconfigDetail(ifc *NetInterface, line string) error {
	key, rest, _ := strings.Cut(line, " ")
	f := strings.Fields(rest)
	switch key {
	case "ether":
		if len(f) > 0 {
			ifc.MAC = strings.ToLower(f[0])
		}
	case "inet":
		if len(f) < 3 || f[1] != "netmask" {
			return fmt.Errorf("inet line without netmask")
		}
		bits, err := hexMaskBits(f[2])
		if err != nil {
			return err
		}
		ifc.IPv4 = append(ifc.IPv4, f[0]+"/"+strconv.Itoa(bits))
	case "inet6":
		if len(f) < 3 || f[1] != "prefixlen" {
			return fmt.Errorf("inet6 line without prefixlen")
		}
		p, err := strconv.Atoi(f[2])
		if err != nil || p < 0 || p > 128 {
			return fmt.Errorf("prefixlen %q", f[2])
		}
		addr, _, _ := strings.Cut(f[0], "%")
		ifc.IPv6 = append(ifc.IPv6, addr+"/"+strconv.Itoa(p))
	case "media:":
		ifc.Media = strings.TrimSpace(rest)
	case "status:":
		ifc.Status = strings.TrimSpace(rest)
	case "groups:":
		ifc.Groups = append(ifc.Groups, f...)
	case "member:":
		if len(f) > 0 {
			ifc.Members = append(ifc.Members, f[0])
		}
	}
	return nil
}

// hexMaskBits turns ifconfig's "0xffffff00" into 24.
func hexMaskBits(m string) (int, error) {
	if !strings.HasPrefix(m, "0x") {
		return 0, fmt.Errorf("netmask %q is not hexadecimal", m)
	}
	v, err := strconv.ParseUint(m[2:], 16, 32)
	if err != nil {
		return 0, fmt.Errorf("netmask %q: %w", m, err)
	}
	bits := 0
	for v&0x80000000 != 0 {
		bits++
		v = (v << 1) & 0xffffffff
	}
	if v != 0 {
		return 0, fmt.Errorf("netmask %q is not contiguous", m)
	}
	return bits, nil
}
