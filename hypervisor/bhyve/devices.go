package bhyve

import (
	"fmt"
	"net"
	"regexp"
	"strconv"
	"strings"

	"github.com/novabsd/novabsd/hypervisor"
	"libvirt.org/go/libvirtxml"
)

// plain refuses values that would be re-parsed by bhyve's option syntax
// (commas separate options, and bhyve's legacy option parser reads an
// option holding "=" as key=value instead of as the positional value) or
// are empty.
func plain(what, v string) error {
	if v == "" || strings.ContainsAny(v, ",=\n\x00") {
		return &hypervisor.PropertyError{Property: what, Value: v, Driver: "bhyve", Reason: "must be non-empty without commas or '='"}
	}
	return nil
}

// hostPath refuses what bhyve would not read as one absolute host path:
// commas start its next option, and a relative name is resolved against
// wherever bhyve happens to run.
func hostPath(what, v string) error {
	if err := plain(what, v); err != nil {
		return err
	}
	if !strings.HasPrefix(v, "/") || strings.ContainsFunc(v, func(r rune) bool { return r < 0x20 || r == 0x7f }) {
		return &hypervisor.PropertyError{Property: what, Value: v, Driver: "bhyve", Reason: "must be an absolute path without control characters"}
	}
	return nil
}

// Names bhyve takes from the command line, by what it accepts.
var (
	// nmdm(4) pairs are /dev/nmdm<unit>A and B; any unit string works
	// (the directory is not checked: tests stand a FIFO in for the pair).
	nmdmRe = regexp.MustCompile(`^nmdm[A-Za-z0-9._-]{1,64}A$`)
	// network backends: tapN/vmnetN or any interface name bhyve opens as
	// /dev/<name> (at most 15 characters, no '/', no option syntax).
	ifNameRe = regexp.MustCompile(`^[A-Za-z][A-Za-z0-9_.-]{0,14}$`)
	// -K names a file under /usr/share/bhyve/kbdlayout.
	keymapRe = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9_.-]{0,31}$`)
	uuidRe   = regexp.MustCompile(`^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$`)
)

// ipAddr refuses a listen address that is not an IP literal: it goes into
// tcp=HOST:PORT inside a comma-separated option list.
func ipAddr(what, v string) error {
	if v == "" || net.ParseIP(v) != nil {
		return nil
	}
	return &hypervisor.PropertyError{Property: what, Value: v, Driver: "bhyve", Reason: "must be an IP address"}
}

func diskPath(d *libvirtxml.DomainDisk) (string, error) {
	var p string
	switch {
	case d.Source == nil:
	case d.Source.File != nil:
		p = d.Source.File.File
	case d.Source.Block != nil:
		p = d.Source.Block.Dev
	default:
		return "", unsupported("disk source", "network/volume", "file", "block")
	}
	return p, hostPath("disk source", p)
}

func targetDev(d *libvirtxml.DomainDisk) string {
	if d.Target != nil {
		return d.Target.Dev
	}
	return ""
}

// blockOpts renders the block backend options shared by virtio-blk, ahci
// and nvme.
func (b *argvBuilder) blockOpts(d *libvirtxml.DomainDisk, cdrom bool) ([]string, error) {
	var o []string
	if d.Driver != nil {
		if d.Driver.Type != "" && d.Driver.Type != "raw" {
			return nil, unsupported("disk driver type", d.Driver.Type, "raw")
		}
		switch d.Driver.Cache {
		case "none":
			o = append(o, "nocache")
		case "directsync", "writethrough":
			o = append(o, "direct")
		}
		if d.Driver.Discard == "ignore" {
			o = append(o, "nodelete")
		}
	}
	if d.ReadOnly != nil && !cdrom {
		o = append(o, "ro")
	}
	if d.BlockIO != nil && d.BlockIO.LogicalBlockSize > 0 {
		s := strconv.Itoa(int(d.BlockIO.LogicalBlockSize))
		if d.BlockIO.PhysicalBlockSize > 0 {
			s += "/" + strconv.Itoa(int(d.BlockIO.PhysicalBlockSize))
		}
		o = append(o, "sectorsize="+s)
	}
	return o, nil
}

func serial(s string) (string, error) {
	if s == "" {
		return "", nil
	}
	if err := plain("disk serial", s); err != nil {
		return "", err
	}
	if len(s) > 20 { // bhyve keeps 20 bytes; say so in the argv
		s = s[:20]
	}
	return "ser=" + s, nil
}

func (b *argvBuilder) bootIndex(boot *libvirtxml.DomainDeviceBoot) string {
	if boot == nil || boot.Order == 0 || !b.bootrom || !b.cfg.FwCfgQEMU || !b.x86() {
		return ""
	}
	return "bootindex=" + strconv.Itoa(int(boot.Order))
}

func join(parts ...string) string {
	var out []string
	for _, p := range parts {
		if p != "" {
			out = append(out, p)
		}
	}
	return strings.Join(out, ",")
}

// controllers emits, in document order, the devices libvirt places first:
// SATA (one ahci-hd/ahci-cd function each) and NVMe disks, then xhci.
func (b *argvBuilder) controllers() error {
	d := b.dom.Devices
	for _, c := range d.Controllers {
		switch c.Type {
		case "pci", "sata", "usb", "nvme", "isa":
		default: // scsi, ide, virtio-serial, fdc, ccid, ...
			return refuseAs(RuleUnsupportedBus, "controller type", c.Type, "", "sata", "nvme", "usb", "isa", "pci")
		}
	}
	for i := range d.Disks {
		disk := &d.Disks[i]
		dev, bus := diskName(i, disk), diskBus(disk)
		if bus == "virtio" {
			continue // after the NICs, as libvirt numbers them
		}
		cdrom := disk.Device == "cdrom"
		if disk.Device != "" && disk.Device != "disk" && !cdrom {
			return unsupported("disk device", disk.Device, "disk", "cdrom")
		}
		path, err := diskPath(disk)
		if err != nil {
			return err
		}
		opts, err := b.blockOpts(disk, cdrom)
		if err != nil {
			return err
		}
		if bus == "nvme" && disk.Serial != "" {
			if err := nvmeSerial(dev, disk.Serial); err != nil {
				return err
			}
		}
		ser, err := serial(disk.Serial)
		if err != nil {
			return err
		}
		switch bus {
		case "sata":
			emu := "ahci-hd"
			if cdrom {
				emu = "ahci-cd"
			}
			err = b.add(dev, disk.Address, join(append(append([]string{emu, path}, opts...), ser, b.bootIndex(disk.Boot))...))
		case "nvme":
			if cdrom {
				return unsupported("nvme disk device", "cdrom", "disk")
			}
			var q []string
			if disk.Driver != nil && disk.Driver.Queues != nil {
				q = append(q, "maxq="+strconv.Itoa(int(*disk.Driver.Queues)))
			}
			if disk.Driver != nil && disk.Driver.QueueSize != nil {
				q = append(q, "qsz="+strconv.Itoa(int(*disk.Driver.QueueSize)))
			}
			for i, o := range opts { // nvme spells the sector size sectsz
				if s, ok := strings.CutPrefix(o, "sectorsize="); ok {
					s, _, _ = strings.Cut(s, "/")
					opts[i] = "sectsz=" + s
				}
			}
			if disk.WWN != "" {
				eui, err := nvmeEUI64(dev, disk.WWN)
				if err != nil {
					return err
				}
				q = append(q, eui)
			}
			b.nonCheckpointable()
			err = b.add(dev, disk.Address, join(append(append(append([]string{"nvme", path}, opts...), q...), ser, b.bootIndex(disk.Boot))...))
		default:
			return refuseAs(RuleUnsupportedBus, "disk bus", bus, "", "virtio", "sata", "nvme")
		}
		if err != nil {
			return err
		}
	}
	return b.usb()
}

func busFromDev(dev string) string {
	switch {
	case strings.HasPrefix(dev, "vd"):
		return "virtio"
	case strings.HasPrefix(dev, "nvme"):
		return "nvme"
	case strings.HasPrefix(dev, "sd"):
		return "sata"
	}
	return dev
}

// usb emits bhyve's single xhci controller when a tablet or a host USB device needs it: the tablet in slot 1
// (bhyve's legacy xhci,tablet), each host device in the next slot through the configuration tree (see usb.go).
func (b *argvBuilder) usb() error {
	d := b.dom.Devices
	tablets := 0
	for _, in := range d.Inputs {
		switch {
		case in.Type == "tablet" && in.Bus == "usb":
			tablets++
		case in.Bus == "ps2" || in.Bus == "": // implicit PS/2 devices libvirt lists
		default:
			return refuseAs(RuleUnsupportedBus, "input", in.Type+"/"+in.Bus, "", "tablet/usb")
		}
	}
	if tablets > 1 {
		return unsupported("usb tablets", strconv.Itoa(tablets), "1")
	}
	if tablets == 1 && (!b.x86() || !b.bootrom) {
		return refuseAs(archOrUEFI(b.x86()), "input tablet", "usb", "xhci tablet needs amd64 and a UEFI bootrom")
	}
	var passthru [][2]string // vendor, product per host device
	for i, h := range d.Hostdevs {
		if h.SubsysUSB == nil {
			continue
		}
		vp, err := b.usbHostdev(i, h.SubsysUSB.Source)
		if err != nil {
			return err
		}
		passthru = append(passthru, vp)
	}
	if tablets == 0 && len(passthru) == 0 {
		return nil
	}
	var addr *libvirtxml.DomainAddress
	for _, c := range d.Controllers {
		if c.Type == "usb" {
			if c.Model != "" && c.Model != "nec-xhci" && c.Model != "qemu-xhci" {
				return unsupported("usb controller model", c.Model, "nec-xhci")
			}
			addr = c.Address
		}
	}
	spec := "xhci"
	if tablets == 1 {
		spec = "xhci,tablet"
	}
	slot, fn, err := b.slotFor("controller usb 0", addr)
	if err != nil {
		return err
	}
	b.devs = append(b.devs, pciDev{slot: slot, fn: fn, spec: spec})
	for k, vp := range passthru {
		node := fmt.Sprintf("pci.0.%d.%d.slot.%d.", slot, fn, tablets+1+k)
		b.opts = append(b.opts, "-o", node+"device="+usbPassthruDevice,
			"-o", node+usbPassthruVendor+"="+vp[0], "-o", node+usbPassthruProd+"="+vp[1])
	}
	if len(passthru) > 0 {
		b.nonCheckpointable() // a host device's state is not the guest's to save
	}
	return nil
}

// usbHostdev checks host USB device i against what this host's bhyve can pass and returns its vendor and
// product as the passthrough takes them (0x and four hex digits).
func (b *argvBuilder) usbHostdev(i int, src *libvirtxml.DomainHostdevSubsysUSBSource) ([2]string, error) {
	dev := fmt.Sprintf("hostdev %d usb", i)
	if src == nil || src.Vendor == nil || src.Product == nil {
		return [2]string{}, refuse(RuleUSBPassthru, dev, "", "a host USB device is selected by its vendor and product ids")
	}
	var ids [2]string
	for k, id := range []string{src.Vendor.ID, src.Product.ID} {
		n, err := strconv.ParseUint(strings.TrimPrefix(id, "0x"), 16, 16)
		if err != nil || !strings.HasPrefix(id, "0x") {
			return [2]string{}, refuse(RuleUSBPassthru, dev+[]string{" vendor", " product"}[k], id, "must be 0x and up to four hex digits")
		}
		ids[k] = fmt.Sprintf("0x%04x", n)
	}
	dev += " " + strings.TrimPrefix(ids[0], "0x") + ":" + strings.TrimPrefix(ids[1], "0x")
	if !b.cfg.USBPassthru {
		return ids, refuse(RuleUSBPassthru, dev, "", "USB passthrough needs a bhyve with the libusb-based xhci passthrough (out of tree); this host's bhyve does not have it")
	}
	if !b.x86() {
		return ids, refuse(RuleAMD64Only, dev, "", "bhyve's xhci controller is amd64-only")
	}
	if a := src.Address; a != nil && (a.Bus != nil || a.Device != nil || a.Port != "") {
		return ids, refuse(RuleUSBPassthru, dev+" address", "", "bhyve's libusb passthrough selects a device by vendor and product only, not by bus, device or port")
	}
	return ids, nil
}

var nicEmu = map[string]string{"": "virtio-net", "virtio": "virtio-net", "e1000": "e1000"}

func (b *argvBuilder) interfaces() error {
	for i, n := range b.dom.Devices.Interfaces {
		model := ""
		if n.Model != nil {
			model = n.Model.Type
		}
		emu, ok := nicEmu[model]
		if !ok {
			return refuseAs(RuleUnsupportedBus, fmt.Sprintf("interface %d model", i), model, "", "virtio", "e1000")
		}
		if !b.x86() && emu != "virtio-net" {
			return refuseAs(RuleAMD64Only, fmt.Sprintf("interface %d model", i), model, "", "virtio")
		}
		var backend string
		switch {
		case n.Source != nil && n.Source.User != nil:
			backend = "slirp"
		case n.Source == nil || n.Source.Ethernet != nil || n.Source.Bridge != nil || n.Source.Network != nil:
			if n.Target == nil || n.Target.Dev == "" {
				if n.Source == nil || n.Source.Ethernet != nil {
					return &hypervisor.PropertyError{Property: fmt.Sprintf("interface %d target dev", i), Driver: "bhyve", Reason: "an ethernet interface needs its tap named in <target dev='tapN'/>"}
				}
				// As libvirt does for bridge/network interfaces, let a new
				// tap be cloned: bhyve opening /dev/tap creates one. The
				// driver itself always names the tap it made.
				backend = "tap"
				break
			}
			backend = n.Target.Dev
			if !ifNameRe.MatchString(backend) {
				return &hypervisor.PropertyError{Property: "interface target dev", Value: backend, Driver: "bhyve",
					Reason: "must be an interface name (tapN, vmnetN) of at most 15 characters"}
			}
		default:
			return unsupported(fmt.Sprintf("interface %d type", i), "", "ethernet", "bridge", "network", "user")
		}
		parts := []string{emu, backend}
		if n.MAC != nil && n.MAC.Address != "" {
			mac, err := net.ParseMAC(n.MAC.Address)
			if err != nil || len(mac) != 6 {
				return &hypervisor.PropertyError{Property: "mac", Value: n.MAC.Address, Driver: "bhyve", Reason: "must be a 48-bit MAC address"}
			}
			if err := checkMAC(interfaceName(i, n), mac); err != nil {
				return err
			}
			parts = append(parts, "mac="+mac.String())
		}
		if n.MTU != nil && n.MTU.Size > 0 && emu == "virtio-net" {
			parts = append(parts, "mtu="+strconv.Itoa(int(n.MTU.Size)))
		}
		if backend == "slirp" {
			parts = append(parts, "open")
		}
		parts = append(parts, b.bootIndex(n.Boot))
		if err := b.add(interfaceName(i, n), n.Address, join(parts...)); err != nil {
			return err
		}
	}
	return nil
}

func (b *argvBuilder) disks() error {
	for i := range b.dom.Devices.Disks {
		disk := &b.dom.Devices.Disks[i]
		bus := ""
		if disk.Target != nil {
			bus = disk.Target.Bus
		}
		if bus == "" {
			bus = busFromDev(targetDev(disk))
		}
		if bus != "virtio" {
			continue
		}
		if disk.Device == "cdrom" {
			return unsupported("virtio disk device", "cdrom", "disk")
		}
		path, err := diskPath(disk)
		if err != nil {
			return err
		}
		opts, err := b.blockOpts(disk, false)
		if err != nil {
			return err
		}
		ser, err := serial(disk.Serial)
		if err != nil {
			return err
		}
		if err := b.add(diskName(i, disk), disk.Address, join(append(append([]string{"virtio-blk", path}, opts...), ser, b.bootIndex(disk.Boot))...)); err != nil {
			return err
		}
	}
	return nil
}

// DefaultVNCPort is used in the argv for autoport graphics; Spawn refuses
// such a domain (bhyve has no autoport), so only printed command lines
// show it.
const DefaultVNCPort = 5900

func (b *argvBuilder) graphics() error {
	d := b.dom.Devices
	if len(d.Graphics) == 0 {
		if len(d.Videos) > 0 && d.Videos[0].Model.Type != "none" && d.Videos[0].Model.Type != "gop" {
			return unsupported("video model", d.Videos[0].Model.Type, "gop", "none")
		}
		return nil
	}
	if len(d.Graphics) > 1 {
		return unsupported("graphics count", strconv.Itoa(len(d.Graphics)), "1")
	}
	g := d.Graphics[0]
	if g.VNC == nil {
		return unsupported("graphics type", graphicsType(g), "vnc")
	}
	if !b.x86() || !b.bootrom {
		return refuseAs(archOrUEFI(b.x86()), "graphics", "vnc", "fbuf needs amd64 and a UEFI bootrom")
	}
	v := g.VNC
	listen := v.Listen
	if listen == "" && len(v.Listeners) > 0 && v.Listeners[0].Address != nil {
		listen = v.Listeners[0].Address.Address
	}
	port := v.Port
	if port <= 0 || v.AutoPort == "yes" {
		port = DefaultVNCPort
	}
	if err := ipAddr("vnc listen", listen); err != nil {
		return err
	}
	if port > 65535 || port < DefaultVNCPort {
		return refuse(RuleVNC, "graphics vnc port", strconv.Itoa(port), "a VNC port is 5900 to 65535")
	}
	parts := []string{"fbuf", "tcp=" + hostPort(listen, port)}
	var addr *libvirtxml.DomainAddress
	if len(d.Videos) > 0 {
		vid := d.Videos[0]
		if vid.Model.Type != "" && vid.Model.Type != "gop" {
			return unsupported("video model", vid.Model.Type, "gop")
		}
		if r := vid.Model.Resolution; r != nil && r.X > 0 && r.Y > 0 {
			if r.X > 1920 || r.Y > 1200 { // fbuf's maximum (14.x)
				return refuseAs(RuleVNC, "video resolution", fmt.Sprintf("%dx%d", r.X, r.Y), "", "at most 1920x1200")
			}
			if r.X < 640 || r.Y < 480 { // fbuf's minimum
				return refuse(RuleVNC, "video resolution", fmt.Sprintf("%dx%d", r.X, r.Y), "bhyve's framebuffer is at least 640x480")
			}
			parts = append(parts, fmt.Sprintf("w=%d", r.X), fmt.Sprintf("h=%d", r.Y))
		}
		addr = vid.Address
	}
	if v.Wait == "yes" {
		parts = append(parts, "wait")
	}
	if v.Passwd != "" {
		if err := plain("vnc passwd", v.Passwd); err != nil {
			return err
		}
		parts = append(parts, "password="+v.Passwd)
	}
	if v.Keymap != "" {
		if !keymapRe.MatchString(v.Keymap) {
			return &hypervisor.PropertyError{Property: "vnc keymap", Value: v.Keymap, Driver: "bhyve", Reason: "must be a layout name under /usr/share/bhyve/kbdlayout"}
		}
		b.flags = append(b.flags, "-K", v.Keymap)
	}
	return b.add("video 0", addr, join(parts...))
}

func graphicsType(g libvirtxml.DomainGraphic) string {
	switch {
	case g.Spice != nil:
		return "spice"
	case g.SDL != nil:
		return "sdl"
	case g.RDP != nil:
		return "rdp"
	}
	return "other"
}

func (b *argvBuilder) rng() error {
	for i, r := range b.dom.Devices.RNGs {
		if r.Model != "virtio" {
			return unsupported("rng model", r.Model, "virtio")
		}
		if r.Backend != nil && r.Backend.EGD != nil {
			return unsupported("rng backend", "egd", "random")
		}
		if err := b.add(fmt.Sprintf("rng %d", i), r.Address, "virtio-rnd"); err != nil {
			return err
		}
	}
	return nil
}

func (b *argvBuilder) hostdevs() error {
	for i, h := range b.dom.Devices.Hostdevs {
		switch {
		case h.SubsysPCI != nil:
			if !b.x86() {
				return refuseAs(RuleAMD64Only, "hostdev pci", "", "PCI passthrough needs amd64 with VT-d/AMD-Vi")
			}
			if mb := b.dom.MemoryBacking; mb == nil || mb.MemoryLocked == nil {
				return refuse(RuleHostdevMemory, fmt.Sprintf("hostdev %d", i), "", "PCI passthrough needs wired guest memory: <memoryBacking><locked/></memoryBacking>")
			}
			s := h.SubsysPCI.Source
			if s == nil || s.Address == nil || s.Address.Bus == nil || s.Address.Slot == nil || s.Address.Function == nil {
				return unsupported("hostdev pci source address", "(incomplete)")
			}
			if s.Address.Domain != nil && *s.Address.Domain != 0 {
				return unsupported("hostdev pci domain", strconv.Itoa(int(*s.Address.Domain)), "0")
			}
			b.nonCheckpointable()
			if err := b.add(fmt.Sprintf("hostdev %d", i), h.Address, fmt.Sprintf("passthru,%d/%d/%d", *s.Address.Bus, *s.Address.Slot, *s.Address.Function)); err != nil {
				return err
			}
		case h.SubsysUSB != nil:
			// On the xhci controller: usb() checked and placed it.
		default:
			return refuseAs(RuleUnsupportedBus, "hostdev type", "", "", "pci", "usb")
		}
	}
	return nil
}

// consoles maps serial ports (or, lacking them, consoles) to COM ports on
// amd64 or the single PL011 console on arm64.
func (b *argvBuilder) consoles() error {
	type port struct {
		n     uint
		src   *libvirtxml.DomainChardevSource
		log   *libvirtxml.DomainChardevLog
		proto *libvirtxml.DomainChardevProtocol
	}
	var ports []port
	d := b.dom.Devices
	for i, s := range d.Serials {
		n := uint(i)
		if s.Target != nil && s.Target.Port != nil {
			n = *s.Target.Port
		}
		ports = append(ports, port{n, s.Source, s.Log, s.Protocol})
	}
	if len(ports) == 0 {
		for i, c := range d.Consoles {
			n := uint(i)
			if c.Target != nil && c.Target.Port != nil {
				n = *c.Target.Port
			}
			ports = append(ports, port{n, c.Source, c.Log, c.Protocol})
		}
	}
	if !b.x86() && len(ports) > 1 {
		return refuse(RuleAMD64Only, "serial ports", strconv.Itoa(len(ports)), "arm64 bhyve has a single console (PL011), COM ports are amd64's")
	}
	seen := map[uint]bool{}
	for _, p := range ports {
		dev := fmt.Sprintf("serial %d", p.n)
		if p.n > 3 {
			return refuse(RuleSerial, dev+" port", strconv.Itoa(int(p.n)), "bhyve has four serial ports, com1 to com4 (ports 0 to 3)")
		}
		if seen[p.n] {
			return refuse(RuleSerial, dev+" port", strconv.Itoa(int(p.n)), "two serial devices on one port")
		}
		seen[p.n] = true
		var backend string
		switch {
		case p.src != nil && p.src.NMDM != nil:
			backend = p.src.NMDM.Master
			if hostPath("nmdm master", backend) != nil || !nmdmRe.MatchString(base(backend)) {
				return refuseAs(RuleNMDMName, dev+" nmdm master", backend, "must be /dev/nmdm<unit>A")
			}
			if sl := p.src.NMDM.Slave; sl != "" {
				if err := hostPath("nmdm slave", sl); err != nil {
					return err
				}
				// nmdm(4) devices come in pairs: unit A and unit B.
				if want := strings.TrimSuffix(backend, "A") + "B"; sl != want {
					return refuse(RuleNMDMName, dev+" nmdm slave", sl, "the other end of %s is %s", backend, want)
				}
			}
			if p.n == 0 {
				b.plan.ConsoleMaster, b.plan.ConsoleSlave = backend, p.src.NMDM.Slave
			}
		case p.src != nil && p.src.TCP != nil:
			if m := p.src.TCP.Mode; m != "bind" { // libvirt's default mode is connect
				return refuse(RuleSerial, dev+" tcp mode", m, "bhyve's TCP serial port only listens (mode='bind')")
			}
			if p.proto != nil && p.proto.Type != "" && p.proto.Type != "raw" {
				return refuse(RuleSerial, dev+" tcp protocol", p.proto.Type, "bhyve's TCP serial port speaks raw only")
			}
			if err := ipAddr("serial tcp host", p.src.TCP.Host); err != nil {
				return err
			}
			if n := atoi(p.src.TCP.Service); n < 1 || n > 65535 {
				return unsupported("serial tcp port", p.src.TCP.Service)
			}
			backend = "tcp=" + hostPort(p.src.TCP.Host, atoi(p.src.TCP.Service))
		default:
			return refuseAs(RuleSerial, "serial type", chardevType(p.src), "", "nmdm", "tcp")
		}
		if p.log != nil && p.n == 0 {
			b.plan.ConsoleLog = p.log.File
		}
		if b.x86() {
			b.lpc = append(b.lpc, "-l", fmt.Sprintf("com%d,%s", p.n+1, backend))
		} else {
			b.opts = append(b.opts, "-o", "console="+backend)
		}
	}
	return b.consoleTCP()
}

// consoleTCP reads the TCP listener a domain names for its console when
// serial port 0 is an nmdm pair (hypervisor/domain writes it so with
// [serial_console] enabled): the driver bridges the B side to it. bhyve's
// own tcp= backend would do without the bridge, but only from FreeBSD 15
// and it keeps no log, so the console log would stay empty.
func (b *argvBuilder) consoleTCP() error {
	d := b.dom.Devices
	if b.plan.ConsoleSlave == "" || len(d.Serials) == 0 {
		return nil
	}
	for _, c := range d.Consoles {
		if c.Source == nil || c.Source.TCP == nil || (c.Target != nil && c.Target.Port != nil && *c.Target.Port != 0) {
			continue
		}
		t := c.Source.TCP
		if t.Mode != "bind" {
			return unsupported("console tcp mode", t.Mode, "bind")
		}
		port, err := strconv.Atoi(t.Service)
		if err != nil {
			port = -1
		}
		if err := hypervisor.CheckListen(t.Host, port); err != nil {
			return &hypervisor.PropertyError{Property: "console tcp", Value: t.Host + " " + t.Service, Driver: "bhyve", Reason: err.Error()}
		}
		b.plan.ConsoleTCP = hostPort(t.Host, port)
		return nil
	}
	return nil
}

func atoi(s string) int { n, _ := strconv.Atoi(s); return n }

func chardevType(s *libvirtxml.DomainChardevSource) string {
	switch {
	case s == nil:
		return "(none)"
	case s.Pty != nil:
		return "pty"
	case s.File != nil:
		return "file"
	case s.UNIX != nil:
		return "unix"
	case s.StdIO != nil:
		return "stdio"
	}
	return "other"
}

// loader builds the bhyveload (or custom loader) line for guests without a
// bootrom; amd64 only.
func (b *argvBuilder) loader() error {
	if b.bootrom {
		if b.dom.Bootloader != "" {
			return &hypervisor.PropertyError{Property: "bootloader", Value: b.dom.Bootloader, Driver: "bhyve", Reason: "cannot be combined with a firmware loader"}
		}
		return nil
	}
	bl := b.dom.Bootloader
	args := strings.Fields(b.dom.BootloaderArgs)
	if bl != "" && base(bl) != "bhyveload" {
		if len(args) == 0 {
			return &hypervisor.PropertyError{Property: "bootloader_args", Value: "", Driver: "bhyve", Reason: "a custom bootloader (" + bl + ") needs its arguments"}
		}
		b.plan.Loader = append([]string{bl}, args...)
		return nil
	}
	path := b.cfg.Bhyveload
	if bl != "" && strings.Contains(bl, "/") {
		path = bl
	}
	if len(args) > 0 {
		b.plan.Loader = append([]string{path}, args...)
		return nil
	}
	disk, err := b.bootDisk()
	if err != nil {
		return err
	}
	l := []string{path, "-m", strconv.FormatUint(b.memMiB, 10), "-d", disk}
	if b.plan.ConsoleMaster != "" {
		l = append(l, "-c", b.plan.ConsoleMaster)
	}
	b.plan.Loader = append(l, b.dom.Name)
	return nil
}

// bootDisk picks bhyveload's disk like libvirt: the lowest per-device boot
// order, else the first disk of <os><boot dev>, else the first disk.
func (b *argvBuilder) bootDisk() (string, error) {
	disks := b.dom.Devices.Disks
	if len(disks) == 0 {
		return "", &hypervisor.PropertyError{Property: "disks", Driver: "bhyve", Reason: "bhyveload needs a disk to boot from"}
	}
	best := -1
	for i, d := range disks {
		if d.Boot != nil && d.Boot.Order > 0 && (best < 0 || d.Boot.Order < disks[best].Boot.Order) {
			best = i
		}
	}
	if best < 0 && b.dom.OS != nil && len(b.dom.OS.BootDevices) > 0 {
		want := "disk"
		if b.dom.OS.BootDevices[0].Dev == "cdrom" {
			want = "cdrom"
		}
		for i, d := range disks {
			if d.Device == want || (want == "disk" && d.Device == "") {
				best = i
				break
			}
		}
	}
	if best < 0 {
		best = 0
	}
	return diskPath(&disks[best])
}
