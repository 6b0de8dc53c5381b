package bhyve

import (
	"fmt"
	"net"
	"regexp"
	"strconv"
	"strings"

	"libvirt.org/go/libvirtxml"
)

// vmMaxCPU is the kernel's hard cap on vCPUs per VM, VM_MAXCPU =
// min(0xfffe, CPU_SETSIZE) in sys/amd64/vmm/vmm.c, CPU_SETSIZE being
// MAXCPU (1024) on amd64 and arm64. hw.vmm.maxcpu (Config.MaxVCPUs) is
// usually lower: it defaults to the host's CPU count.
const vmMaxCPU = 1024

// maxVCPUs is the vCPU limit under c: hw.vmm.maxcpu when known, never
// above the kernel's cap.
func maxVCPUs(c Config) int {
	if c.MaxVCPUs > 0 && c.MaxVCPUs < vmMaxCPU {
		return c.MaxVCPUs
	}
	return vmMaxCPU
}

// maxNUMACells is bhyve's limit on guest NUMA domains (bhyve(8) -n, and
// libvirt's bhyveDomainDefValidate).
const maxNUMACells = 8

// check applies the rules that need the whole domain (counts, clashes,
// cross-device constraints) before any device is rendered; the per-value
// rules live where each device is turned into arguments.
func (b *argvBuilder) check() error {
	for _, c := range []func() error{b.checkCPUs, b.checkNUMA, b.checkControllers, b.checkDisks, b.checkMACs} {
		if err := c(); err != nil {
			return err
		}
	}
	return nil
}

func (b *argvBuilder) vcpus() uint {
	if d := b.dom; d.VCPU != nil && d.VCPU.Value > 0 {
		return d.VCPU.Value
	}
	return 1
}

// checkCPUs: the count within hw.vmm.maxcpu, every pin on a vCPU the
// guest has (bhyve silently drops the others).
func (b *argvBuilder) checkCPUs() error {
	n := b.vcpus()
	if limit := uint(maxVCPUs(b.cfg)); n > limit {
		return refuse(RuleVCPUMax, "vcpu", strconv.Itoa(int(n)), "this host's bhyve runs at most %d vCPUs per guest (hw.vmm.maxcpu)", limit)
	}
	if b.dom.CPUTune != nil {
		for _, p := range b.dom.CPUTune.VCPUPin {
			if p.VCPU >= n {
				return refuse(RuleVCPUPin, fmt.Sprintf("vcpupin %d", p.VCPU), strconv.Itoa(int(p.VCPU)), "the guest has vCPUs 0 to %d", n-1)
			}
		}
	}
	return nil
}

// checkNUMA refuses what bhyve's -n cannot take, then any NUMA topology
// at all: -n exists only in FreeBSD main after 15.1, so a 14 or 15 host's
// bhyve would build a guest without the cells the domain asks for.
func (b *argvBuilder) checkNUMA() error {
	d := b.dom
	if d.CPU == nil || d.CPU.Numa == nil || len(d.CPU.Numa.Cell) == 0 {
		return nil
	}
	cells := d.CPU.Numa.Cell
	if !b.x86() {
		return refuse(RuleNUMA, "numa", strconv.Itoa(len(cells)), "guest NUMA domains are an amd64-only bhyve feature")
	}
	if len(cells) > maxNUMACells {
		return refuse(RuleNUMA, "numa", strconv.Itoa(len(cells)), "bhyve takes at most %d NUMA domains", maxNUMACells)
	}
	n := int(b.vcpus())
	owner := map[int]int{}
	for i, c := range cells {
		dev := fmt.Sprintf("numa cell %d", i)
		if strings.TrimSpace(c.CPUs) == "" {
			return refuse(RuleNUMA, dev+" cpus", "", "a NUMA domain needs at least one vCPU")
		}
		cpus, err := parseCPUSet(c.CPUs)
		if err != nil {
			return refuse(RuleNUMA, dev+" cpus", c.CPUs, "must be a list of vCPU numbers and ranges")
		}
		for _, v := range cpus {
			if v >= n {
				return refuse(RuleNUMA, dev+" cpus", c.CPUs, "the guest has vCPUs 0 to %d", n-1)
			}
			if o, dup := owner[v]; dup {
				return refuse(RuleNUMA, dev+" cpus", c.CPUs, "vCPU %d is also in numa cell %d", v, o)
			}
			owner[v] = i
		}
	}
	if !b.bootrom {
		return refuse(RuleNUMA, "numa", strconv.Itoa(len(cells)), "bhyve's NUMA domains need a boot ROM (UEFI), not bhyveload")
	}
	return refuse(RuleNUMA, "numa", strconv.Itoa(len(cells)), "bhyve -n (guest NUMA domains) is not in FreeBSD 14 or 15")
}

// checkControllers: one pci-root at index 0, one ISA (LPC) controller at
// index 0 and only on amd64, one USB controller.
func (b *argvBuilder) checkControllers() error {
	var isa, usb int
	for _, c := range b.dom.Devices.Controllers {
		idx := uint(0)
		if c.Index != nil {
			idx = *c.Index
		}
		dev := controllerName(c)
		switch c.Type {
		case "pci":
			if c.Model != "" && c.Model != "pci-root" {
				return refuse(RuleController, dev+" model", c.Model, "libvirt's bhyve driver supports only the pci-root controller")
			}
			if idx != 0 {
				return refuse(RuleController, dev, strconv.Itoa(int(idx)), "the pci-root controller has index 0")
			}
		case "isa":
			if !b.x86() {
				return refuse(RuleAMD64Only, dev, "isa", "the LPC (ISA) bridge is amd64-only")
			}
			if idx != 0 {
				return refuse(RuleController, dev, strconv.Itoa(int(idx)), "bhyve's ISA controller can only have index 0")
			}
			if isa++; isa > 1 {
				return refuse(RuleController, dev, strconv.Itoa(isa), "bhyve has a single ISA (LPC) controller")
			}
		case "usb":
			if usb++; usb > 1 {
				return refuse(RuleController, dev, strconv.Itoa(usb), "bhyve supports a single USB (xhci) controller")
			}
		}
	}
	return nil
}

var nvmeDevRe = regexp.MustCompile(`^nvme([0-9]{1,4})n([1-9][0-9]{0,3})$`)

// checkDisks: NVMe naming, one namespace per controller, options that
// belong to another bus, and SATA ports within one AHCI controller.
func (b *argvBuilder) checkDisks() error {
	ctrl := map[string]string{}
	for i := range b.dom.Devices.Disks {
		disk := &b.dom.Devices.Disks[i]
		dev, bus := diskName(i, disk), diskBus(disk)
		if bus == "nvme" {
			m := nvmeDevRe.FindStringSubmatch(targetDev(disk))
			if m == nil {
				return refuse(RuleNVMeName, dev+" target", targetDev(disk), "an NVMe disk's target is nvme<controller>n<namespace>")
			}
			if o, dup := ctrl[m[1]]; dup {
				return refuse(RuleNVMePerCtrl, dev+" target", targetDev(disk), "NVMe controller %s already has %s: bhyve's NVMe controller has one namespace", m[1], o)
			}
			ctrl[m[1]] = dev
		}
		if disk.Target != nil && disk.Target.RotationRate != 0 && bus != "sata" {
			return refuse(RuleDiskOption, dev+" rotation_rate", strconv.Itoa(int(disk.Target.RotationRate)), "a rotation rate is valid only on the SATA bus")
		}
		if disk.Driver != nil && (disk.Driver.Queues != nil || disk.Driver.QueueSize != nil) && bus != "nvme" {
			return refuse(RuleDiskOption, dev+" queues", "", "queue settings are valid only on the NVMe bus")
		}
		if disk.WWN != "" && bus != "nvme" {
			return refuse(RuleNVMeEUI64, dev+" wwn", disk.WWN, "bhyve takes an identifier (eui64) only for NVMe disks")
		}
		if a := disk.Address; a != nil && a.Drive != nil && bus == "sata" {
			if a.Drive.Unit != nil && *a.Drive.Unit >= ahciPorts {
				return refuse(RuleSATAPort, dev+" drive unit", strconv.Itoa(int(*a.Drive.Unit)), "an AHCI controller has ports 0 to %d", ahciPorts-1)
			}
			if a.Drive.Bus != nil && *a.Drive.Bus != 0 {
				return refuse(RuleSATAPort, dev+" drive bus", strconv.Itoa(int(*a.Drive.Bus)), "SATA disks sit on bus 0 of their AHCI controller")
			}
		}
	}
	return nil
}

// ahciPorts is the number of ports of one bhyve AHCI controller (bhyve(8)
// ahci; pci_ahci.c MAX_PORTS).
const ahciPorts = 32

// checkMACs: every interface its own MAC.
func (b *argvBuilder) checkMACs() error {
	seen := map[string]string{}
	for i, n := range b.dom.Devices.Interfaces {
		if n.MAC == nil || n.MAC.Address == "" {
			continue
		}
		m, err := net.ParseMAC(n.MAC.Address)
		if err != nil {
			continue // interfaces() names the malformed one
		}
		dev := interfaceName(i, n)
		if o, dup := seen[m.String()]; dup {
			return refuse(RuleMAC, dev+" mac", n.MAC.Address, "%s has the same MAC", o)
		}
		seen[m.String()] = dev
	}
	return nil
}

// checkMAC refuses what bhyve's net_parsemac refuses: the zero address
// and group (multicast) addresses.
func checkMAC(dev string, m net.HardwareAddr) error {
	if m[0]&1 != 0 {
		return refuse(RuleMAC, dev+" mac", m.String(), "a multicast address cannot be a NIC's address")
	}
	if strings.Trim(m.String(), "0:") == "" {
		return refuse(RuleMAC, dev+" mac", m.String(), "the zero address cannot be a NIC's address")
	}
	return nil
}

// nvmeSerial refuses a serial bhyve would cut (the NVMe serial number
// field is 20 bytes) or that is not printable 7-bit ASCII.
func nvmeSerial(dev, s string) error {
	if len(s) > 20 {
		return refuse(RuleNVMeSerial, dev+" serial", s, "an NVMe serial is at most 20 characters")
	}
	for _, r := range s {
		if r < 0x20 || r > 0x7e {
			return refuse(RuleNVMeSerial, dev+" serial", s, "an NVMe serial is printable ASCII")
		}
	}
	return nil
}

var wwnRe = regexp.MustCompile(`^(0x)?[0-9A-Fa-f]{16}$`)

// nvmeEUI64 turns a disk's <wwn> into bhyve's eui64 option: 16 hex digits
// (8 bytes), not zero (an all-zero EUI-64 means "none" to NVMe).
func nvmeEUI64(dev, wwn string) (string, error) {
	if !wwnRe.MatchString(wwn) {
		return "", refuse(RuleNVMeEUI64, dev+" wwn", wwn, "an EUI-64 is 16 hexadecimal digits")
	}
	h := strings.ToLower(strings.TrimPrefix(wwn, "0x"))
	if strings.Trim(h, "0") == "" {
		return "", refuse(RuleNVMeEUI64, dev+" wwn", wwn, "an all-zero EUI-64 means none")
	}
	return "eui64=0x" + h, nil
}

// archOrUEFI names the rule a UEFI-only device breaks: on arm64 the device
// does not exist at all, on amd64 it needs the bootrom.
func archOrUEFI(x86 bool) Rule {
	if x86 {
		return RuleUEFIOnly
	}
	return RuleAMD64Only
}

// Names errors give devices.

func diskName(i int, d *libvirtxml.DomainDisk) string {
	if t := targetDev(d); t != "" {
		return "disk " + t
	}
	return fmt.Sprintf("disk %d", i)
}

func interfaceName(i int, _ libvirtxml.DomainInterface) string {
	return fmt.Sprintf("interface %d", i)
}

func controllerName(c libvirtxml.DomainController) string {
	idx := uint(0)
	if c.Index != nil {
		idx = *c.Index
	}
	return fmt.Sprintf("controller %s %d", c.Type, idx)
}

func diskBus(d *libvirtxml.DomainDisk) string {
	bus := ""
	if d.Target != nil {
		bus = d.Target.Bus
	}
	if bus == "" {
		bus = busFromDev(targetDev(d))
	}
	return bus
}
