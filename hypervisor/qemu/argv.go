package qemu

import (
	"fmt"
	"net"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"

	"github.com/novabsd/novabsd/hypervisor"
	"libvirt.org/go/libvirtxml"
)

// Runtime carries the per-run paths that are not part of the domain.
type Runtime struct {
	Dir       string // instance directory
	QMPSocket string // QMP unix socket
	PIDFile   string // written by QEMU (-pidfile)
	// IncomingFD, when > 0, starts the guest from a saved state read from
	// that inherited descriptor (-incoming fd:N).
	IncomingFD int
	// Paused starts the guest with its vCPUs stopped (-S): QMP cont runs it.
	Paused bool
	// RunWith selects -run-with user= (QEMU 9.1+) over -runas for
	// Config.User; see Binary.RunWith.
	RunWith bool
}

// runtimeFor derives the paths for dom: sockets and the pid file live in
// the instance directory, which is where the domain keeps its console log.
func runtimeFor(dom *libvirtxml.Domain, c Config) Runtime {
	dir := ""
	if s := serial(dom); s != nil && s.Log != nil && s.Log.File != "" {
		dir = filepath.Dir(s.Log.File)
	}
	if dir == "" {
		dir = filepath.Join(c.RunDir, dom.Name)
	}
	return newRuntime(dir, dom, c)
}

// maxSocketPath keeps below sun_path's 108 bytes with room for the NUL.
const maxSocketPath = 100

func newRuntime(dir string, dom *libvirtxml.Domain, c Config) Runtime {
	rt := Runtime{Dir: dir, QMPSocket: filepath.Join(dir, qmpSocketFile), PIDFile: filepath.Join(dir, pidFile)}
	if len(rt.QMPSocket) > maxSocketPath {
		id := dom.UUID
		if id == "" {
			id = dom.Name
		}
		rt.QMPSocket = filepath.Join(c.RunDir, id+".qmp")
	}
	return rt
}

// Instance file names this driver adds to hypervisor's.
const (
	qmpSocketFile = "qmp.sock"
	pidFile       = "qemu.pid"
	stderrFile    = "qemu.log"
)

func serial(dom *libvirtxml.Domain) *libvirtxml.DomainSerial {
	if dom.Devices == nil || len(dom.Devices.Serials) == 0 {
		return nil
	}
	return &dom.Devices.Serials[0]
}

// argvBuilder accumulates arguments and the first error.
type argvBuilder struct {
	args []string
	err  error
}

func (a *argvBuilder) add(s ...string) { a.args = append(a.args, s...) }

func (a *argvBuilder) fail(prop, value, reason string, allowed ...string) {
	if a.err == nil {
		a.err = &hypervisor.PropertyError{Property: prop, Value: value, Reason: reason, Allowed: allowed, Driver: "qemu"}
	}
}

// BuildArgv returns the qemu command line for dom. accel is "kvm", "tcg" or
// "auto" (rendered as QEMU's own kvm-then-tcg fallback, for display only:
// the driver resolves auto by probing first).
func BuildArgv(dom *libvirtxml.Domain, c Config, accel string, rt Runtime) ([]string, error) {
	if dom == nil || dom.Name == "" {
		return nil, fmt.Errorf("qemu: domain without a name")
	}
	a := &argvBuilder{}
	a.add(c.Binary, "-name", "guest="+optEscape(dom.Name)+",debug-threads=on")
	if dom.UUID != "" {
		if !uuidRe.MatchString(dom.UUID) {
			a.fail("uuid", dom.UUID, "must be a UUID in 8-4-4-4-12 hex form")
		}
		a.add("-uuid", dom.UUID)
	}
	a.add("-no-user-config", "-nodefaults")
	machine := Machine(dom, c)
	if dom.OS != nil && dom.OS.Type != nil && dom.OS.Type.Arch != "" && dom.OS.Type.Arch != "x86_64" {
		a.fail("os/type/@arch", dom.OS.Type.Arch, "", "x86_64")
	}
	// The name alone cannot smuggle options (Driver.preflight also checks it
	// against the binary's own list): q35,kernel=/vmlinuz,initrd=/etc/shadow
	// would load host files into the guest.
	if !machineName.MatchString(machine) {
		a.fail("hw_machine_type", machine, "must be a QEMU machine type name such as q35 or pc-i440fx-7.2")
	}
	a.add("-machine", machine)
	switch accel {
	case AccelKVM:
		a.add("-accel", "kvm", "-cpu", "host")
	case AccelTCG:
		a.add("-accel", "tcg")
	case AccelAuto:
		a.add("-accel", "kvm", "-accel", "tcg")
	default:
		a.fail("[qemu] accel", accel, "", AccelKVM, AccelTCG, AccelAuto)
	}
	dropsUser := c.User != "" && c.User != "root"
	if c.Sandbox {
		a.add("-sandbox", sandboxArg(dropsUser))
	}
	if dropsUser {
		if !userName.MatchString(c.User) {
			a.fail("[qemu] user", c.User, "must be a login name")
		} else if rt.RunWith {
			a.add("-run-with", "user="+c.User)
		} else {
			a.add("-runas", c.User)
		}
	}
	a.cpuMem(dom)
	a.firmware(dom)
	a.path("QMP socket", rt.QMPSocket)
	// The monitor's socket as a chardev with an explicit path= key, as libvirt writes it: -qmp's legacy
	// "unix:PATH" form gives PATH the implied first key, and a path holding "=" would be read as a key of its own.
	a.add("-chardev", "socket,id=charmonitor,path="+optEscape(rt.QMPSocket)+",server=on,wait=off")
	a.add("-mon", "chardev=charmonitor,id=monitor,mode=control")
	if rt.PIDFile != "" {
		a.path("pid file", rt.PIDFile)
		a.add("-pidfile", rt.PIDFile)
	}
	a.add("-rtc", rtc(dom))
	a.add("-boot", "strict=on")
	if dom.Devices != nil {
		ports := a.rootPorts(dom.Devices.Controllers, pcieMachine(machine))
		a.disks(dom.Devices)
		a.nics(dom.Devices.Interfaces, ports, rootBus(machine))
		a.console(dom.Devices)
		a.graphics(dom.Devices)
		a.rng(dom.Devices.RNGs)
		a.inputs(dom.Devices)
		a.hostdevs(dom.Devices)
	}
	if dom.Devices == nil || len(dom.Devices.Graphics) == 0 {
		a.add("-display", "none")
	}
	if rt.IncomingFD > 0 {
		a.add("-incoming", "fd:"+strconv.Itoa(rt.IncomingFD))
	}
	if rt.Paused {
		a.add("-S")
	}
	if a.err != nil {
		return nil, a.err
	}
	return a.args, nil
}

// Machine returns the machine type dom runs with: its own, else the
// configured default.
func Machine(dom *libvirtxml.Domain, c Config) string {
	if dom.OS != nil && dom.OS.Type != nil && dom.OS.Type.Machine != "" {
		return dom.OS.Type.Machine
	}
	return c.Machine
}

var uuidRe = regexp.MustCompile(`^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$`)

// path refuses host paths QEMU could read as something else: relative
// names (a "json:{...}" or "nbd://" file name is a whole block driver
// configuration) and control characters.
func (a *argvBuilder) path(what, p string) {
	if !filepath.IsAbs(p) || strings.ContainsFunc(p, func(r rune) bool { return r < 0x20 || r == 0x7f }) {
		a.fail(what, p, "must be an absolute path without control characters")
	}
}

// Upper bounds QEMU's x86 machines accept; larger numbers are typos or
// attempts to make QEMU allocate without limit.
const (
	maxVCPUs  = 255
	maxMemMiB = 16 << 20 // 16 TiB
)

func rtc(dom *libvirtxml.Domain) string {
	if dom.Clock != nil && dom.Clock.Offset == "localtime" {
		return "base=localtime"
	}
	return "base=utc"
}

func (a *argvBuilder) cpuMem(dom *libvirtxml.Domain) {
	vcpus := uint(1)
	if dom.VCPU != nil && dom.VCPU.Value > 0 {
		vcpus = dom.VCPU.Value
	}
	if vcpus > maxVCPUs {
		a.fail("vcpus", strconv.FormatUint(uint64(vcpus), 10), fmt.Sprintf("at most %d", maxVCPUs))
		return
	}
	smp := strconv.FormatUint(uint64(vcpus), 10)
	if dom.CPU != nil && dom.CPU.Topology != nil {
		t := dom.CPU.Topology
		if t.Sockets > 0 && t.Cores > 0 && t.Threads > 0 {
			if t.Sockets > maxVCPUs || t.Cores > maxVCPUs || t.Threads > maxVCPUs || uint(t.Sockets*t.Cores*t.Threads) != vcpus {
				a.fail("cpu/topology", fmt.Sprintf("%d*%d*%d", t.Sockets, t.Cores, t.Threads), fmt.Sprintf("must multiply to the %d vcpus", vcpus))
			}
			smp += fmt.Sprintf(",sockets=%d,cores=%d,threads=%d", t.Sockets, t.Cores, t.Threads)
		}
	}
	a.add("-smp", smp)
	if dom.Memory == nil || dom.Memory.Value == 0 {
		a.fail("memory", "", "domain has no memory size")
		return
	}
	mib, err := toMiB(dom.Memory.Value, dom.Memory.Unit)
	if err != nil {
		a.fail("memory/@unit", dom.Memory.Unit, err.Error())
		return
	}
	if mib > maxMemMiB {
		a.fail("memory", strconv.FormatUint(mib, 10)+" MiB", fmt.Sprintf("at most %d MiB", maxMemMiB))
		return
	}
	a.add("-m", strconv.FormatUint(mib, 10))
}

func toMiB(v uint, unit string) (uint64, error) {
	mult := map[string]uint64{"": 1 << 10, "b": 1, "bytes": 1, "k": 1 << 10, "KiB": 1 << 10, "KB": 1000, "M": 1 << 20, "MiB": 1 << 20, "MB": 1000000, "G": 1 << 30, "GiB": 1 << 30, "GB": 1000000000}
	m, ok := mult[unit]
	if !ok {
		return 0, fmt.Errorf("unknown unit")
	}
	return (uint64(v)*m + 1<<20 - 1) >> 20, nil
}

// firmware: SeaBIOS is QEMU's default; UEFI means two pflash drives, the
// shared read-only code and the guest's own variables file.
func (a *argvBuilder) firmware(dom *libvirtxml.Domain) {
	os := dom.OS
	if os == nil {
		return
	}
	code := ""
	if os.Loader != nil && os.Loader.Path != "" {
		if os.Loader.Type != "" && os.Loader.Type != "pflash" {
			a.fail("os/loader/@type", os.Loader.Type, "", "pflash")
			return
		}
		code = os.Loader.Path
	} else if os.Firmware == "efi" {
		a.fail("os/loader", "", "UEFI firmware requested but no loader path given")
		return
	}
	if code == "" {
		return
	}
	a.path("os/loader", code)
	a.add("-drive", "if=pflash,format=raw,unit=0,readonly=on,file="+optEscape(code))
	if os.NVRam != nil && os.NVRam.NVRam != "" {
		a.path("os/nvram", os.NVRam.NVRam)
		a.add("-drive", "if=pflash,format=raw,unit=1,file="+optEscape(os.NVRam.NVRam))
	}
}

// optEscape doubles commas, QEMU's escape inside option values.
func optEscape(s string) string { return strings.ReplaceAll(s, ",", ",,") }

func diskPath(d *libvirtxml.DomainDisk) string {
	if d.Source == nil {
		return ""
	}
	switch {
	case d.Source.File != nil:
		return d.Source.File.File
	case d.Source.Block != nil:
		return d.Source.Block.Dev
	}
	return ""
}

func (a *argvBuilder) disks(devs *libvirtxml.DomainDeviceList) {
	var sata, scsi, ide, nvme int
	haveSATA, haveSCSI := false, false
	for i := range devs.Disks {
		d := &devs.Disks[i]
		if d.Target == nil {
			a.fail(fmt.Sprintf("disk[%d]/target", i), "", "missing")
			return
		}
		if !targetDevRe.MatchString(d.Target.Dev) {
			a.fail(fmt.Sprintf("disk[%d]/target/@dev", i), d.Target.Dev, "must be a device name such as vda, sdb or nvme0n1")
			return
		}
		id := "drive-" + d.Target.Dev
		path := diskPath(d)
		if path != "" {
			a.path("disk "+d.Target.Dev+" source", path)
		}
		cdrom := d.Device == "cdrom"
		if path == "" && !cdrom {
			a.fail("disk "+d.Target.Dev+" source", "", "disk needs a file or block device source")
			return
		}
		format := "raw"
		if d.Driver != nil && d.Driver.Type != "" {
			format = d.Driver.Type
		}
		if format != "raw" && format != "qcow2" {
			a.fail("disk "+d.Target.Dev+" driver/@type", format, "", "raw", "qcow2")
			return
		}
		drive := "if=none,id=" + id
		if path != "" {
			drive += ",format=" + format + ",file=" + optEscape(path)
		}
		if d.ReadOnly != nil || cdrom {
			drive += ",readonly=on"
		}
		if d.Driver != nil && d.Driver.Cache != "" {
			if !slices.Contains(cacheModes, d.Driver.Cache) {
				a.fail("disk "+d.Target.Dev+" driver/@cache", d.Driver.Cache, "", cacheModes...)
				return
			}
			drive += ",cache=" + d.Driver.Cache
		}
		a.add("-drive", drive)
		extra := ""
		if d.Boot != nil && d.Boot.Order > 0 {
			extra += ",bootindex=" + strconv.FormatUint(uint64(d.Boot.Order), 10)
		}
		serial := d.Serial
		if serial != "" {
			extra += ",serial=" + optEscape(serial)
		}
		bus := d.Target.Bus
		switch {
		case bus == "virtio" && !cdrom:
			a.add("-device", "virtio-blk-pci,drive="+id+",id="+d.Target.Dev+extra)
		case bus == "nvme" && !cdrom:
			if serial == "" {
				extra += ",serial=" + d.Target.Dev // QEMU's nvme requires one
			}
			a.add("-device", fmt.Sprintf("nvme,drive=%s,id=%s%s", id, d.Target.Dev, extra))
			nvme++
		case bus == "sata":
			if !haveSATA {
				a.add("-device", "ich9-ahci,id=sata0")
				haveSATA = true
			}
			if sata > 5 {
				a.fail("disk "+d.Target.Dev+" bus", bus, "an AHCI controller has 6 ports")
				return
			}
			a.add("-device", fmt.Sprintf("%s,bus=sata0.%d,drive=%s,id=%s%s", ideKind(cdrom), sata, id, d.Target.Dev, extra))
			sata++
		case bus == "ide":
			a.add("-device", fmt.Sprintf("%s,bus=ide.%d,drive=%s,id=%s%s", ideKind(cdrom), ide, id, d.Target.Dev, extra))
			ide++
		case bus == "scsi":
			if !haveSCSI {
				a.add("-device", "virtio-scsi-pci,id=scsi0")
				haveSCSI = true
			}
			kind := "scsi-hd"
			if cdrom {
				kind = "scsi-cd"
			}
			a.add("-device", fmt.Sprintf("%s,bus=scsi0.0,channel=0,scsi-id=0,lun=%d,drive=%s,id=%s%s", kind, scsi, id, d.Target.Dev, extra))
			scsi++
		default:
			a.fail("disk "+d.Target.Dev+" target/@bus", bus, map[bool]string{true: "not for cdroms", false: ""}[cdrom], "virtio", "nvme", "sata", "scsi", "ide")
			return
		}
	}
}

// targetDevRe is the shape of libvirt's target device names; they become
// QEMU ids, which take no escaping.
var targetDevRe = regexp.MustCompile(`^[a-z][a-z0-9]{1,15}$`)

// cacheModes are QEMU's -drive cache= values (libvirt's names).
var cacheModes = []string{"none", "writeback", "writethrough", "directsync", "unsafe"}

func ideKind(cdrom bool) string {
	if cdrom {
		return "ide-cd"
	}
	return "ide-hd"
}

// nicDevice maps hw_vif_model to QEMU's device; Supported().VIFModel lists
// the same keys.
var nicDevice = map[string]string{"virtio": "virtio-net-pci", "e1000": "e1000", "e1000e": "e1000e", "rtl8139": "rtl8139", "ne2k_pci": "ne2k_pci"}

// vifModels is nicDevice's keys in a fixed order, for errors and Supported.
var vifModels = []string{"virtio", "e1000", "e1000e", "rtl8139", "ne2k_pci"}

// ifNameRe is a network interface name as Linux takes it (IFNAMSIZ less the
// NUL) and as it is safe in an option value: no '/', no ':', no blanks, no
// leading '-' or '.'.
var ifNameRe = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9_.-]{0,14}$`)

// nicSpec is one interface as QEMU takes it, shared by the command line and
// hot-plug over QMP so the two cannot drift.
type nicSpec struct {
	device  string // QEMU device driver, e.g. virtio-net-pci
	mac     string // canonical, "" when the domain gives none
	tap     string // host tap, "" when unplugged
	mtu     uint   // host_mtu for virtio-net; 0 when unset
	bus     string // "pci.3" (a root port) or the root bus; "" lets QEMU place it
	addr    uint   // slot on bus (0 on a root port); only with bus
	hasAddr bool
}

// nicSpecFor validates interface i and returns its QEMU form. ports maps
// the pcie-root-port controller indexes the domain declares; root is the
// machine's root bus name.
func nicSpecFor(i int, n *libvirtxml.DomainInterface, ports map[uint]bool, root string) (nicSpec, *hypervisor.PropertyError) {
	bad := func(prop, value, reason string, allowed ...string) *hypervisor.PropertyError {
		return &hypervisor.PropertyError{Property: fmt.Sprintf("interface[%d]/%s", i, prop), Value: value, Reason: reason, Allowed: allowed, Driver: "qemu"}
	}
	model := "virtio"
	if n.Model != nil && n.Model.Type != "" {
		model = n.Model.Type
	}
	var s nicSpec
	var ok bool
	if s.device, ok = nicDevice[model]; !ok {
		e := bad("model/@type", model, "", vifModels...)
		e.Property = "hw_vif_model (" + e.Property + ")"
		return s, e
	}
	if n.MAC != nil && n.MAC.Address != "" {
		mac, err := net.ParseMAC(n.MAC.Address)
		if err != nil || len(mac) != 6 {
			return s, bad("mac/@address", n.MAC.Address, "must be a 48-bit MAC address")
		}
		s.mac = mac.String()
	}
	if n.MTU != nil && n.MTU.Size > 0 && model == "virtio" {
		if n.MTU.Size < 68 || n.MTU.Size > 65535 {
			return s, bad("mtu/@size", strconv.FormatUint(uint64(n.MTU.Size), 10), "must be 68 to 65535")
		}
		s.mtu = n.MTU.Size
	}
	if n.Target != nil && n.Target.Dev != "" {
		if !ifNameRe.MatchString(n.Target.Dev) {
			return s, bad("target/@dev", n.Target.Dev, "must be a network interface name of at most 15 letters, digits, '_', '.' or '-'")
		}
		s.tap = n.Target.Dev
	}
	if n.Address != nil {
		pci := n.Address.PCI
		if pci == nil {
			return s, bad("address/@type", "", "only PCI addresses", "pci")
		}
		val := func(p *uint) uint {
			if p == nil {
				return 0
			}
			return *p
		}
		dom, bus, slot, fn := val(pci.Domain), val(pci.Bus), val(pci.Slot), val(pci.Function)
		where := fmt.Sprintf("%04x:%02x:%02x.%x", dom, bus, slot, fn)
		switch {
		case dom != 0 || fn != 0:
			return s, bad("address", where, "must be in PCI domain 0, function 0")
		case bus == 0 && (slot < 1 || slot > 31):
			return s, bad("address", where, "a slot on the root bus is 1 to 31")
		case bus != 0 && (!ports[bus] || slot != 0):
			return s, bad("address", where, "bus must be 0 or a pcie-root-port controller's index, with slot 0")
		}
		s.bus, s.addr, s.hasAddr = root, slot, true
		if bus != 0 {
			s.bus = rootPortID(bus)
		}
	}
	return s, nil
}

// netdevOpts and deviceOpts are s on the command line. vhost is off: QEMU
// runs unprivileged and /dev/vhost-net is root's (libvirt passes QEMU an
// opened descriptor instead), and under TCG vhost gains nothing.
func (s nicSpec) netdevOpts(netdev string) string {
	return fmt.Sprintf("tap,id=%s,ifname=%s,script=no,downscript=no,vhost=off", netdev, s.tap)
}

func (s nicSpec) deviceOpts(id, netdev string) string {
	opts := s.device + ",id=" + id
	if s.mac != "" {
		opts += ",mac=" + s.mac
	}
	if s.mtu > 0 {
		opts += ",host_mtu=" + strconv.FormatUint(uint64(s.mtu), 10)
	}
	if netdev != "" {
		opts += ",netdev=" + netdev
	}
	if s.hasAddr {
		opts += fmt.Sprintf(",bus=%s,addr=0x%x", s.bus, s.addr)
	}
	return opts
}

func (a *argvBuilder) nics(ifs []libvirtxml.DomainInterface, ports map[uint]bool, root string) {
	used := map[string]bool{}
	for i := range ifs {
		s, err := nicSpecFor(i, &ifs[i], ports, root)
		if err != nil {
			if a.err == nil {
				a.err = err
			}
			return
		}
		if s.hasAddr {
			at := fmt.Sprintf("%s/%d", s.bus, s.addr)
			if used[at] {
				a.fail(fmt.Sprintf("interface[%d]/address", i), at, "another interface has this PCI address")
				return
			}
			used[at] = true
		}
		id, netdev := fmt.Sprintf("net%d", i), ""
		// A NIC without a tap is left unplugged (no netdev): the guest sees
		// the card with no link peer.
		if s.tap != "" {
			netdev = fmt.Sprintf("hostnet%d", i)
			a.add("-netdev", s.netdevOpts(netdev))
		}
		a.add("-device", s.deviceOpts(id, netdev))
	}
}

// pcieMachine reports whether machine is a Q35 (PCI Express) machine, whose
// root bus takes no hot-plugged devices: NICs there sit on root ports.
func pcieMachine(machine string) bool {
	return machine == "q35" || strings.HasPrefix(machine, "pc-q35-")
}

// rootBus is QEMU's name for the machine's root bus.
func rootBus(machine string) string {
	if pcieMachine(machine) {
		return "pcie.0"
	}
	return "pci.0"
}

// rootPortID is the QEMU id of the pcie-root-port controller with index n,
// as libvirt names it.
func rootPortID(n uint) string { return "pci." + strconv.FormatUint(uint64(n), 10) }

// maxRootPorts bounds the pcie-root-port indexes: one bus number each.
const maxRootPorts = 255

// rootPorts emits the domain's pcie-root-port controllers, each on the
// root bus with its own chassis number (QEMU needs chassis/slot unique),
// and returns their indexes.
func (a *argvBuilder) rootPorts(ctrls []libvirtxml.DomainController, pcie bool) map[uint]bool {
	ports := map[uint]bool{}
	for i, c := range ctrls {
		if c.Type != "pci" || c.Model != "pcie-root-port" {
			continue
		}
		if !pcie {
			a.fail(fmt.Sprintf("controller[%d]/@model", i), c.Model, "PCI Express root ports need a q35 machine type")
			return ports
		}
		if c.Index == nil || *c.Index < 1 || *c.Index > maxRootPorts || ports[*c.Index] {
			v := ""
			if c.Index != nil {
				v = strconv.FormatUint(uint64(*c.Index), 10)
			}
			a.fail(fmt.Sprintf("controller[%d]/@index", i), v, fmt.Sprintf("a pcie-root-port needs its own index from 1 to %d", maxRootPorts))
			return ports
		}
		ports[*c.Index] = true
		a.add("-device", fmt.Sprintf("pcie-root-port,id=%s,bus=pcie.0,chassis=%d", rootPortID(*c.Index), *c.Index))
	}
	return ports
}

// console: the first serial port goes to a chardev whose logfile is the
// console log; the chardev itself is a pty (interactive console, as
// libvirt does), a TCP listener (serial console proxy), a unix socket, a
// file, or nothing.
func (a *argvBuilder) console(devs *libvirtxml.DomainDeviceList) {
	for i, s := range devs.Serials {
		id := fmt.Sprintf("charserial%d", i)
		var ch string
		switch src := s.Source; {
		case src == nil || src.Pty != nil:
			ch = "pty,id=" + id
		case src.UNIX != nil:
			a.path(fmt.Sprintf("serial[%d] unix path", i), src.UNIX.Path)
			ch = "socket,id=" + id + ",path=" + optEscape(src.UNIX.Path) + ",server=on,wait=off"
		case src.TCP != nil:
			// A raw TCP listener for a console proxy (nova-serialproxy), one client at a time; the log
			// below still records everything the guest prints.
			port, err := strconv.Atoi(src.TCP.Service)
			if err != nil {
				port = -1
			}
			if src.TCP.Mode != "bind" {
				a.fail(fmt.Sprintf("serial[%d]/source/@mode", i), src.TCP.Mode, "", "bind")
				return
			}
			if err := hypervisor.CheckListen(src.TCP.Host, port); err != nil {
				a.fail(fmt.Sprintf("serial[%d]/source", i), net.JoinHostPort(src.TCP.Host, src.TCP.Service), err.Error())
				return
			}
			ch = "socket,id=" + id + ",host=" + src.TCP.Host + ",port=" + strconv.Itoa(port) + ",server=on,wait=off"
		case src.File != nil:
			a.path(fmt.Sprintf("serial[%d] file path", i), src.File.Path)
			ch = "file,id=" + id + ",path=" + optEscape(src.File.Path)
		case src.Null != nil:
			ch = "null,id=" + id
		default:
			a.fail(fmt.Sprintf("serial[%d]/@type", i), "", "QEMU serial needs a pty, tcp, unix, file or null source", "pty", "tcp", "unix", "file", "null")
			return
		}
		if s.Log != nil && s.Log.File != "" {
			a.path(fmt.Sprintf("serial[%d] log file", i), s.Log.File)
			ch += ",logfile=" + optEscape(s.Log.File)
			if s.Log.Append == "off" {
				ch += ",logappend=off"
			} else {
				ch += ",logappend=on"
			}
		}
		a.add("-chardev", ch, "-serial", "chardev:"+id)
	}
}

var keymapRe = regexp.MustCompile(`^[a-z]{2,4}(-[a-z]{2,3})?$`)

var videoDevice = map[string]string{"vga": "VGA", "virtio": "virtio-vga", "cirrus": "cirrus-vga", "none": ""}

func (a *argvBuilder) graphics(devs *libvirtxml.DomainDeviceList) {
	for _, g := range devs.Graphics {
		if g.VNC == nil {
			a.fail("graphics/@type", "", "only VNC graphics are supported", "vnc")
			return
		}
		listen := g.VNC.Listen
		if listen == "" {
			listen = "127.0.0.1"
		}
		ip := net.ParseIP(listen)
		if ip == nil {
			a.fail("graphics/@listen", listen, "must be an IP address")
			return
		}
		listen = ip.String()
		if ip.To4() == nil {
			listen = "[" + listen + "]"
		}
		var opt string
		if g.VNC.Port > 0 && g.VNC.AutoPort != "yes" {
			if g.VNC.Port < 5900 || g.VNC.Port > 65535 {
				a.fail("graphics/@port", strconv.Itoa(g.VNC.Port), "VNC ports are 5900 to 65535")
				return
			}
			opt = fmt.Sprintf("%s:%d", listen, g.VNC.Port-5900)
		} else {
			opt = listen + ":0,to=99" // first free display from 5900 up
		}
		if g.VNC.Passwd != "" {
			opt += ",password=on" // set over QMP, never on the command line
		}
		a.add("-vnc", opt)
		if g.VNC.Keymap != "" {
			// QEMU opens keymaps/<name> in its data directory.
			if !keymapRe.MatchString(g.VNC.Keymap) {
				a.fail("graphics/@keymap", g.VNC.Keymap, "must be a keymap name such as en-us or de-ch")
				return
			}
			a.add("-k", g.VNC.Keymap)
		}
	}
	for _, v := range devs.Videos {
		dev, ok := videoDevice[v.Model.Type]
		if !ok {
			a.fail("video/model/@type", v.Model.Type, "", "vga", "virtio", "cirrus", "none")
			return
		}
		if dev != "" {
			a.add("-device", dev)
		}
	}
}

func (a *argvBuilder) rng(rngs []libvirtxml.DomainRNG) {
	for i, r := range rngs {
		if r.Model != "virtio" {
			a.fail("rng/@model", r.Model, "", "virtio")
			return
		}
		src := "/dev/urandom"
		if r.Backend != nil && r.Backend.Random != nil && r.Backend.Random.Device != "" {
			src = r.Backend.Random.Device
		}
		a.path("rng backend", src)
		a.add("-object", fmt.Sprintf("rng-random,id=objrng%d,filename=%s", i, optEscape(src)),
			"-device", fmt.Sprintf("virtio-rng-pci,rng=objrng%d,id=rng%d", i, i))
	}
}

// usbController returns the QEMU device of the domain's USB controller ("" for none given, which means
// qemu-xhci), failing on a model QEMU has no xHCI for.
func (a *argvBuilder) usbController(devs *libvirtxml.DomainDeviceList) string {
	usb := ""
	for _, c := range devs.Controllers {
		if c.Type == "usb" && c.Model != "none" {
			usb = c.Model
		}
	}
	switch usb {
	case "", "qemu-xhci":
		return "qemu-xhci"
	case "nec-xhci":
		return usb
	}
	a.fail("controller[@type=usb]/@model", usb, "", "qemu-xhci", "nec-xhci")
	return ""
}

// needsUSB reports whether a device of the domain sits on the guest's USB bus: a tablet or a host USB device.
func needsUSB(devs *libvirtxml.DomainDeviceList) bool {
	for _, in := range devs.Inputs {
		if in.Bus == "usb" {
			return true
		}
	}
	for _, h := range devs.Hostdevs {
		if h.SubsysUSB != nil {
			return true
		}
	}
	return false
}

// inputs adds the one xHCI controller (id "usb") when a tablet or a host USB device needs it, then the tablets.
func (a *argvBuilder) inputs(devs *libvirtxml.DomainDeviceList) {
	for _, in := range devs.Inputs {
		if in.Bus == "ps2" && (in.Type == "mouse" || in.Type == "keyboard") {
			continue // the machine's own PS/2 devices
		}
		if in.Type != "tablet" || in.Bus != "usb" {
			a.fail("input/@type", in.Type+"/"+in.Bus, "", "tablet/usb")
			return
		}
	}
	if !needsUSB(devs) {
		return
	}
	usb := a.usbController(devs)
	if usb == "" {
		return
	}
	a.add("-device", usb+",id=usb")
	for _, in := range devs.Inputs {
		if in.Type == "tablet" && in.Bus == "usb" {
			a.add("-device", "usb-tablet,id=input0,bus=usb.0")
		}
	}
}

func init() {
	hypervisor.RegisterArgvBuilder("qemu", func(dom *libvirtxml.Domain) ([][]string, error) {
		c := DefaultConfig()
		argv, err := BuildArgv(placedCopy(dom, Machine(dom, c)), c, c.Accel, runtimeFor(dom, c))
		if err != nil {
			return nil, err
		}
		return [][]string{argv}, nil
	})
}
