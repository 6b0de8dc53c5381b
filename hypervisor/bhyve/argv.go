package bhyve

import (
	"fmt"
	"net"
	"path/filepath"
	"sort"
	"strconv"
	"strings"

	"github.com/novabsd/novabsd/hypervisor"
	"libvirt.org/go/libvirtxml"
)

func init() {
	hypervisor.RegisterArgvBuilder("bhyve", func(dom *libvirtxml.Domain) ([][]string, error) {
		cfg := DefaultConfig()
		// Read from the binary, not run: a builder touches nothing.
		cfg.USBPassthru = DetectUSBPassthru(cfg.Bhyve) == nil
		p, err := BuildPlan(dom, cfg)
		if err != nil {
			return nil, err
		}
		return p.Lines(), nil
	})
}

// Plan is what starting a domain runs: an optional loader, then bhyve.
type Plan struct {
	Name   string
	Loader []string // bhyveload (or custom loader) argv; nil for bootrom guests
	Bhyve  []string // bhyve argv, VM name last
	// ConsoleMaster is the nmdm A side bhyve uses for com1/console; "" if none.
	ConsoleMaster string
	// ConsoleSlave is the B side read into the console log.
	ConsoleSlave string
	// ConsoleLog is the log file the domain's serial port names.
	ConsoleLog string
	// ConsoleTCP is the "host:port" the driver serves the console's B
	// side on, one client at a time (a console proxy); "" without.
	ConsoleTCP string
	// NVRAM is the UEFI variables file, "" without one.
	NVRAM string
	// Bootrom is the firmware file, "" for loader guests.
	Bootrom string
	// Checkpointable is false when a device bhyve cannot snapshot is present.
	Checkpointable bool
}

// Lines returns the command lines in execution order.
func (p *Plan) Lines() [][]string {
	if p.Loader != nil {
		return [][]string{p.Loader, p.Bhyve}
	}
	return [][]string{p.Bhyve}
}

// RestoreArgv returns the bhyve argv that restores from state file:
// identical devices, plus -r.
func (p *Plan) RestoreArgv(state string) []string {
	a := append([]string{}, p.Bhyve[:len(p.Bhyve)-1]...)
	return append(a, "-r", state, p.Name)
}

// argvError names the domain element bhyve cannot express.
func unsupported(what, value string, allowed ...string) error {
	return &hypervisor.PropertyError{Property: what, Value: value, Allowed: allowed, Driver: "bhyve"}
}

// BuildPlan turns dom into bhyve command lines without touching the host.
func BuildPlan(dom *libvirtxml.Domain, cfg Config) (*Plan, error) {
	cfg = cfg.withDefaults()
	if dom.Type != "" && dom.Type != "bhyve" && dom.Type != "kvm" && dom.Type != "qemu" {
		return nil, unsupported("domain type", dom.Type, "bhyve")
	}
	if err := checkName(dom.Name); err != nil {
		return nil, err
	}
	b := &argvBuilder{dom: dom, cfg: cfg, plan: &Plan{Name: dom.Name, Checkpointable: true}}
	b.arch = cfg.Arch
	if dom.OS != nil && dom.OS.Type != nil && dom.OS.Type.Arch != "" {
		b.arch = dom.OS.Type.Arch
	}
	switch b.arch {
	case "x86_64", "amd64":
		b.arch = "x86_64"
	case "aarch64", "arm64":
		b.arch = "aarch64"
	default:
		return nil, unsupported("os arch", b.arch, "x86_64", "aarch64")
	}
	if dom.Devices == nil {
		dom = &libvirtxml.Domain{}
		*dom = *b.dom
		dom.Devices = &libvirtxml.DomainDeviceList{}
		b.dom = dom
	}
	steps := []func() error{b.global, b.firmware, b.check, b.reserve, b.controllers, b.interfaces, b.disks, b.graphics, b.rng, b.hostdevs, b.consoles, b.loader}
	for _, s := range steps {
		if err := s(); err != nil {
			return nil, fmt.Errorf("domain %s: %w", dom.Name, err)
		}
	}
	b.finish()
	return b.plan, nil
}

// pciHostdevs reports whether the domain passes a host PCI device, whose DMA needs the guest's memory wired
// (-S); a USB device is driven through libusb in bhyve's own process and needs none.
func pciHostdevs(d *libvirtxml.DomainDeviceList) bool {
	for _, h := range d.Hostdevs {
		if h.SubsysUSB == nil {
			return true
		}
	}
	return false
}

// checkName refuses VM names bhyve or /dev/vmm cannot hold, and any name
// that could be read as a path or an option.
func checkName(name string) error {
	if name == "" || len(name) > 229 || strings.HasPrefix(name, "-") || strings.HasPrefix(name, ".") {
		return unsupported("name", name)
	}
	for _, r := range name {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-' || r == '_' || r == '.') {
			return &hypervisor.PropertyError{Property: "name", Value: name, Driver: "bhyve", Reason: "only letters, digits, '-', '_' and '.' are allowed"}
		}
	}
	return nil
}

type pciDev struct {
	slot uint
	fn   uint
	spec string // emulation and options
}

type argvBuilder struct {
	dom  *libvirtxml.Domain
	cfg  Config
	arch string
	plan *Plan

	flags   []string // global flags before -s
	s       slots
	devs    []pciDev
	lpc     []string // -l arguments
	opts    []string // -o arguments
	tail    []string // bhyve:commandline args
	bootrom bool
	memMiB  uint64
	bootDsk string // path bhyveload boots from
}

func (b *argvBuilder) x86() bool { return b.arch == "x86_64" }

func (b *argvBuilder) global() error {
	d := b.dom
	vcpus := uint(1)
	if d.VCPU != nil && d.VCPU.Value > 0 {
		vcpus = d.VCPU.Value
		if d.VCPU.Current > 0 && d.VCPU.Current != d.VCPU.Value {
			return unsupported("vcpu current", strconv.Itoa(int(d.VCPU.Current)), strconv.Itoa(int(d.VCPU.Value)))
		}
	}
	c := strconv.Itoa(int(vcpus))
	if d.CPU != nil && d.CPU.Topology != nil {
		t := d.CPU.Topology
		if t.Dies > 1 || t.Clusters > 1 {
			return refuseAs(RuleVCPUTopology, "cpu topology dies/clusters", fmt.Sprintf("%d/%d", t.Dies, t.Clusters), "", "1")
		}
		s, co, th := max(t.Sockets, 1), max(t.Cores, 1), max(t.Threads, 1)
		// bhyve computes the product in 64 bits and refuses it above
		// UINT16_MAX; the vCPU limit (checkCPUs) is far below that.
		if uint64(s)*uint64(co)*uint64(th) != uint64(vcpus) {
			return refuseAs(RuleVCPUTopology, "cpu topology", fmt.Sprintf("%d*%d*%d", s, co, th), fmt.Sprintf("must multiply to the vcpu count %d", vcpus))
		}
		c = fmt.Sprintf("cpus=%d,sockets=%d,cores=%d,threads=%d", vcpus, s, co, th)
	}
	b.flags = append(b.flags, "-c", c)
	if d.CPUTune != nil {
		for _, pin := range d.CPUTune.VCPUPin {
			cpus, err := parseCPUSet(pin.CPUSet)
			if err != nil {
				return err
			}
			for _, h := range cpus {
				b.flags = append(b.flags, "-p", fmt.Sprintf("%d:%d", pin.VCPU, h))
			}
		}
	}
	mem, err := memoryMiB(d)
	if err != nil {
		return err
	}
	b.memMiB = mem
	b.flags = append(b.flags, "-m", strconv.FormatUint(mem, 10))
	if (d.MemoryBacking != nil && d.MemoryBacking.MemoryLocked != nil) || pciHostdevs(d.Devices) {
		b.flags = append(b.flags, "-S")
	}
	if b.x86() {
		if b.cfg.ACPIFlag && d.Features != nil && d.Features.ACPI != nil {
			b.flags = append(b.flags, "-A")
		}
		if d.Features != nil && d.Features.MSRS != nil && d.Features.MSRS.Unknown == "ignore" {
			b.flags = append(b.flags, "-w")
		}
		if d.Clock != nil && d.Clock.Offset == "utc" {
			b.flags = append(b.flags, "-u")
		}
		// -H: vCPUs yield on HLT instead of spinning; -P: exit on PAUSE.
		b.flags = append(b.flags, "-H", "-P")
	}
	if d.UUID != "" {
		if !uuidRe.MatchString(d.UUID) {
			return &hypervisor.PropertyError{Property: "uuid", Value: d.UUID, Driver: "bhyve", Reason: "must be a UUID in 8-4-4-4-12 hex form"}
		}
		b.flags = append(b.flags, "-U", d.UUID)
	}
	return nil
}

func memoryMiB(d *libvirtxml.Domain) (uint64, error) {
	var v uint
	unit := "KiB"
	switch {
	case d.CurrentMemory != nil && d.CurrentMemory.Value > 0:
		v, unit = d.CurrentMemory.Value, d.CurrentMemory.Unit
	case d.Memory != nil && d.Memory.Value > 0:
		v, unit = d.Memory.Value, d.Memory.Unit
	default:
		return 0, &hypervisor.PropertyError{Property: "memory", Value: "", Reason: "domain has no memory size"}
	}
	mult := map[string]uint64{
		"": 1 << 10, "b": 1, "bytes": 1, "k": 1 << 10, "KiB": 1 << 10, "KB": 1000,
		"M": 1 << 20, "MiB": 1 << 20, "MB": 1000 * 1000, "G": 1 << 30, "GiB": 1 << 30, "GB": 1000 * 1000 * 1000,
		"T": 1 << 40, "TiB": 1 << 40, "TB": 1000 * 1000 * 1000 * 1000,
	}
	m, ok := mult[unit]
	if !ok {
		return 0, unsupported("memory unit", unit, "b", "KiB", "MiB", "GiB", "TiB", "KB", "MB", "GB", "TB")
	}
	if uint64(v) > maxMemBytes/m {
		return 0, &hypervisor.PropertyError{Property: "memory", Value: fmt.Sprintf("%d %s", v, unit), Driver: "bhyve", Reason: "at most 16 TiB"}
	}
	bytes := uint64(v) * m
	return (bytes + (1<<20 - 1)) >> 20, nil // bhyve takes MiB; round up as libvirt does
}

// maxHostCPUs bounds cpuset numbers (FreeBSD's MAXCPU on amd64 is 1024).
const maxHostCPUs = 1024

// maxMemBytes bounds guest memory (and keeps the size arithmetic exact).
const maxMemBytes = 16 << 40

func parseCPUSet(s string) ([]int, error) {
	var out []int
	for _, part := range strings.Split(s, ",") {
		lo, hi, isRange := strings.Cut(strings.TrimSpace(part), "-")
		a, err := strconv.Atoi(lo)
		if err != nil {
			return nil, unsupported("vcpupin cpuset", s)
		}
		z := a
		if isRange {
			if z, err = strconv.Atoi(hi); err != nil || z < a {
				return nil, unsupported("vcpupin cpuset", s)
			}
		}
		if a < 0 || z >= maxHostCPUs || len(out)+z-a >= maxHostCPUs {
			return nil, &hypervisor.PropertyError{Property: "vcpupin cpuset", Value: s, Driver: "bhyve", Reason: fmt.Sprintf("host CPUs are 0 to %d", maxHostCPUs-1)}
		}
		for i := a; i <= z; i++ {
			out = append(out, i)
		}
	}
	return out, nil
}

// firmware decides between a bootrom (UEFI, u-boot) and a loader.
func (b *argvBuilder) firmware() error {
	os := b.dom.OS
	var loader, nvram string
	if os != nil {
		if os.Loader != nil {
			loader = os.Loader.Path
			if loader == "" && os.Firmware == "" {
				return unsupported("os loader", "(empty)")
			}
		}
		if loader == "" && os.Firmware == "efi" {
			loader = b.cfg.UEFIFirmware
			if !b.x86() {
				loader = b.cfg.ARM64Bootrom
			}
		}
		if os.NVRam != nil {
			nvram = os.NVRam.NVRam
		}
		if os.Firmware != "" && os.Firmware != "efi" {
			return unsupported("os firmware", os.Firmware, "efi")
		}
	}
	if !b.x86() {
		// arm64 always boots its u-boot bootrom.
		if b.dom.Bootloader != "" {
			return &hypervisor.PropertyError{Property: "bootloader", Value: b.dom.Bootloader, Driver: "bhyve", Reason: "arm64 bhyve boots only from a bootrom (u-boot)"}
		}
		if loader == "" {
			loader = b.cfg.ARM64Bootrom
		}
		if err := hostPath("bootrom", loader); err != nil {
			return err
		}
		b.bootrom = true
		b.plan.Bootrom = loader
		b.opts = append(b.opts, "-o", "bootrom="+loader)
		return nil
	}
	if loader == "" {
		return nil // loader guest; see loader()
	}
	if err := hostPath("bootrom", loader); err != nil {
		return err
	}
	if nvram != "" {
		if err := hostPath("nvram", nvram); err != nil {
			return err
		}
	}
	b.bootrom = true
	b.plan.Bootrom, b.plan.NVRAM = loader, nvram
	arg := "bootrom," + loader
	if nvram != "" {
		arg += "," + nvram
	}
	if b.cfg.FwCfgQEMU {
		arg += ",fwcfg=qemu"
	}
	b.lpc = append(b.lpc, "-l", arg)
	return nil
}

// reserve takes the PCI addresses fixed in the XML before any are handed
// out, then places the LPC bridge: where the ISA controller's address
// says, else slot 1, else (slot 1 taken by the XML) the next free slot, as
// libvirt's bhyveAssignDevicePCISlots does.
func (b *argvBuilder) reserve() error {
	b.s.owner[0][0] = "hostbridge"
	lpcSlot, lpcFixed := uint(1), false
	for _, a := range explicitAddresses(b.dom.Devices) {
		slot, fn, ok, err := pciAddress(a.dev, a.addr)
		if err != nil {
			return err
		}
		if !ok {
			continue
		}
		if err := b.s.reserve(slot, fn, a.dev); err != nil {
			return err
		}
		if a.lpc {
			lpcSlot, lpcFixed = slot, true
		}
	}
	if slot, fn, dev, ok := b.s.orphanFunctions(); ok {
		return refuse(RulePCIFunc0, dev+" pci address", fmt.Sprintf("%d:%d", slot, fn),
			"slot %d has no function 0: guests look for function 0 first and would not see the device", slot)
	}
	if !b.needLPC() {
		return nil
	}
	if !lpcFixed {
		if b.s.free(1) {
			b.s.owner[1][0] = "lpc"
		} else {
			s, err := b.s.next("lpc")
			if err != nil {
				return err
			}
			lpcSlot = s
		}
	}
	b.devs = append(b.devs, pciDev{slot: lpcSlot, spec: "lpc"})
	return nil
}

// pciAddress reads a fixed PCI address: ok is false when addr leaves the
// choice to the builder. bhyve has one PCI domain and libvirt's bhyve
// driver one bus; slot 0 is the hostbridge's.
func pciAddress(dev string, addr *libvirtxml.DomainAddress) (slot, fn uint, ok bool, err error) {
	if addr == nil || addr.PCI == nil || addr.PCI.Slot == nil {
		return 0, 0, false, nil
	}
	a := addr.PCI
	if a.Function != nil {
		fn = *a.Function
	}
	slot = *a.Slot
	where := fmt.Sprintf("%d:%d", slot, fn)
	if a.Domain != nil && *a.Domain != 0 {
		return 0, 0, false, refuse(RulePCIDomain, dev+" pci address", strconv.Itoa(int(*a.Domain)), "bhyve has only PCI domain 0")
	}
	if a.Bus != nil && *a.Bus != 0 {
		return 0, 0, false, refuse(RulePCIBus, dev+" pci address", strconv.Itoa(int(*a.Bus)), "libvirt's bhyve driver places devices on PCI bus 0 only")
	}
	if slot == 0 {
		return 0, 0, false, refuse(RulePCISlot0, dev+" pci address", where, "slot 0 holds the hostbridge")
	}
	return slot, fn, true, nil
}

// fixedAddr is a device's XML address and the name errors give it.
type fixedAddr struct {
	dev  string
	addr *libvirtxml.DomainAddress
	lpc  bool // the ISA controller: the LPC bridge's address
}

func explicitAddresses(d *libvirtxml.DomainDeviceList) []fixedAddr {
	var out []fixedAddr
	for _, x := range d.Controllers {
		if x.Type != "pci" {
			out = append(out, fixedAddr{controllerName(x), x.Address, x.Type == "isa"})
		}
	}
	for i, x := range d.Interfaces {
		out = append(out, fixedAddr{dev: interfaceName(i, x), addr: x.Address})
	}
	for i := range d.Disks {
		out = append(out, fixedAddr{dev: diskName(i, &d.Disks[i]), addr: d.Disks[i].Address})
	}
	for i, x := range d.Videos {
		out = append(out, fixedAddr{dev: fmt.Sprintf("video %d", i), addr: x.Address})
	}
	for i, x := range d.RNGs {
		out = append(out, fixedAddr{dev: fmt.Sprintf("rng %d", i), addr: x.Address})
	}
	for i, x := range d.Hostdevs {
		out = append(out, fixedAddr{dev: fmt.Sprintf("hostdev %d", i), addr: x.Address})
	}
	return out
}

// needLPC: amd64 COM ports and the bootrom hang off the LPC bridge.
func (b *argvBuilder) needLPC() bool {
	d := b.dom.Devices
	return b.x86() && (b.bootrom || len(d.Serials) > 0 || len(d.Consoles) > 0 || len(d.Graphics) > 0)
}

// slotFor returns the XML's slot for addr (reserve took it), or the next
// free one for dev.
func (b *argvBuilder) slotFor(dev string, addr *libvirtxml.DomainAddress) (uint, uint, error) {
	if addr != nil && addr.PCI != nil && addr.PCI.Slot != nil {
		fn := uint(0)
		if addr.PCI.Function != nil {
			fn = *addr.PCI.Function
		}
		return *addr.PCI.Slot, fn, nil
	}
	s, err := b.s.next(dev)
	return s, 0, err
}

func (b *argvBuilder) add(dev string, addr *libvirtxml.DomainAddress, spec string) error {
	slot, fn, err := b.slotFor(dev, addr)
	if err != nil {
		return err
	}
	b.devs = append(b.devs, pciDev{slot: slot, fn: fn, spec: spec})
	return nil
}

func (b *argvBuilder) finish() {
	sort.SliceStable(b.devs, func(i, j int) bool {
		if b.devs[i].slot != b.devs[j].slot {
			return b.devs[i].slot < b.devs[j].slot
		}
		return b.devs[i].fn < b.devs[j].fn
	})
	a := []string{b.cfg.Bhyve}
	a = append(a, b.flags...)
	a = append(a, "-s", "0:0,hostbridge")
	for _, d := range b.devs {
		a = append(a, "-s", fmt.Sprintf("%d:%d,%s", d.slot, d.fn, d.spec))
	}
	a = append(a, b.lpc...)
	a = append(a, b.opts...)
	a = append(a, b.tail...)
	a = append(a, b.dom.Name)
	b.plan.Bhyve = a
}

// nonCheckpointable marks devices bhyve's snapshot code refuses.
func (b *argvBuilder) nonCheckpointable() { b.plan.Checkpointable = false }

func hostPort(listen string, port int) string {
	if listen == "" {
		listen = "127.0.0.1"
	}
	if ip := net.ParseIP(listen); ip != nil && ip.To4() == nil {
		listen = "[" + listen + "]"
	}
	return listen + ":" + strconv.Itoa(port)
}

func base(p string) string { return filepath.Base(p) }
