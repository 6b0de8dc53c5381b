package bhyve

import (
	"fmt"

	"github.com/novabsd/novabsd/hypervisor"
)

// Rule names a configuration rule of bhyve(8) or of libvirt's bhyve
// driver that BuildPlan enforces, so a domain either of them would refuse
// is refused here, before anything is created, instead of by bhyve on the
// host. Each rule, where it comes from (read for behaviour, not copied),
// and what breaks it:
//
//	Rule                   Refused                                           Source
//	pci-bus                PCI address on a bus other than 0                 libvirt bhyve_device.c bhyveDomainPCIAddressSetCreate (one bus)
//	pci-domain             PCI address in a PCI domain other than 0          libvirt bhyve_device.c (one domain, pci-root only)
//	pci-slot-range         slot above 31                                     bhyve(8) -s (slots 0-31); pci_emul.c pci_parse_slot (MAXSLOTS)
//	pci-function-range     function above 7                                  bhyve(8) -s (functions 0-7); pci_emul.c pci_parse_slot (MAXFUNCS)
//	pci-slot-0             any device at slot 0 (the hostbridge's)           bhyve(8) hostbridge (slot 0); libvirt bhyve_command.c (0:0,hostbridge)
//	pci-address-clash      two devices at one slot:function                  pci_emul.c pci_parse_slot (occupied slot refused); libvirt virDomainPCIAddressReserveAddr
//	pci-function-0         functions 1-7 used on a slot without function 0   PCI multi-function rule: guests probe function 0 first (novabsd: the device would be invisible)
//	pci-slots-exhausted    more devices than bus 0 has slots (2-31 free)     bhyve(8) -s (32 slots); libvirt virDomainPCIAddressReserveNextAddr
//	controller             pci controller other than pci-root index 0,       libvirt bhyve_command.c bhyveBuildControllerArgStr, bhyve_domain.c
//	                       ISA controller index not 0 or more than one,      bhyveDomainDeviceDefValidate / bhyveDomainDeviceDefPostParse
//	                       more than one USB controller
//	sata-port              SATA drive address unit above 31 or bus not 0     bhyve(8) ahci (32 ports); pci_ahci.c MAX_PORTS; libvirt bhyveDomainDiskDefAssignAddress (idx/32, idx%32)
//	nvme-name              NVMe disk whose target is not nvme<C>n<N>         libvirt bhyve_domain.c bhyveDomainDefValidate (virDiskNameParse)
//	nvme-per-controller    two disks on one NVMe controller                  libvirt bhyve_domain.c bhyveDomainDefValidate; pci_nvme.c (one namespace)
//	nvme-serial            NVMe serial over 20 bytes or not printable ASCII  bhyve(8) nvme ser (20 characters at most); pci_nvme.c (7-bit ASCII SN field)
//	nvme-eui64             <wwn> not 16 hex digits, zero, or not on NVMe     bhyve(8) nvme eui64 (8 bytes); pci_nvme.c (strtoull); libvirt virValidateWWN
//	disk-option            rotation_rate off SATA, queues off NVMe           libvirt bhyve_domain.c bhyveDomainDeviceDefValidate
//	vcpu-topology          sockets*cores*threads != vcpus, dies/clusters > 1 bhyve(8) -c; bhyverun.c calc_topolopgy (sic); libvirt virBhyveProcessBuildBhyveCmd
//	vcpu-max               more vCPUs than the host's hw.vmm.maxcpu          bhyve(8) -c; sys/amd64/vmm/vmm.c vmm_init (VM_MAXCPU = min(0xfffe, CPU_SETSIZE))
//	vcpupin                pin of a vCPU the guest does not have             bhyverun.c build_vcpumaps (pins beyond the vCPU count are dropped)
//	numa                   more than 8 cells, a cell without CPUs or with    bhyve(8) -n (8 domains at most, boot ROM only, amd64 only);
//	                       CPUs out of range or shared, no bootrom, arm64,   libvirt bhyve_domain.c bhyveDomainDefValidate; -n is only in FreeBSD main
//	                       or any NUMA at all (14/15 bhyve has no -n)        after 15.1 (bhyve.md a.1), so this builder cannot express it
//	serial                 serial type other than nmdm/tcp, port above 3,    libvirt bhyve_domain.c bhyveDomainDeviceDefValidate; bhyve(8) -l com1..com4
//	                       a port twice, TCP not listening or not raw
//	nmdm-name              master not /dev/nmdm<unit>A, slave not its B      nmdm(4) pair naming; libvirt bhyve_domain.c bhyveDomainDeviceDefPostParse
//	uefi-only              framebuffer (VNC) or xhci tablet without bootrom  bhyve(8) fbuf/xhci; libvirt bhyveBuildGraphicsArgStr (graphics need UEFI)
//	amd64-only             lpc/ISA, COM ports beyond one console, fbuf,      usr.sbin/bhyve/amd64/Makefile.inc (pci_lpc.c, pci_fbuf.c, pci_passthru.c, rfb.c);
//	                       xhci tablet, PCI passthrough on arm64;            bhyve(8) -l (amd64 only); aarch64/bhyverun_machdep.c
//	                       e1000 on arm64                                    (e1000: kept from the earlier builder, not confirmed in the arm64 sources)
//	mac                    MAC zero, multicast, or used twice                net_utils.c net_parsemac (zero and multicast refused); duplicates: novabsd
//	hostdev-memory         PCI passthrough without <memoryBacking><locked/>  bhyve(8) passthru (wired memory, -S); libvirt bhyveDomainDefValidate
//	usb-passthrough        host USB device on a bhyve without the libusb-based  out-of-tree libusb xhci passthrough (see usb.go): base bhyve(8)
//	                       xhci passthrough, without vendor and product, or  xhci has only the tablet; the passthrough selects by vendor and
//	                       pinned to a bus, device or port                   product only
//	vnc                    fixed VNC port outside 5900-65535, resolution     libvirt bhyveBuildGraphicsArgStr (fixed port 5900-65535);
//	                       below 640x480 or above 1920x1200                  bhyve(8) fbuf w/h (14.x maximum 1920x1200)
//	unsupported-bus        disk, input, controller or hostdev bus bhyve      bhyve(8) PCI EMULATION list; libvirt bhyveBuildDiskArgStr,
//	                       has no emulation for                              bhyveBuildUSBControllerArgStr
//
// TestStrictRules has one breaking domain per rule.
type Rule string

// The rules; see Rule for each one's source.
const (
	RulePCIBus         Rule = "pci-bus"
	RulePCIDomain      Rule = "pci-domain"
	RulePCISlotRange   Rule = "pci-slot-range"
	RulePCIFuncRange   Rule = "pci-function-range"
	RulePCISlot0       Rule = "pci-slot-0"
	RulePCIClash       Rule = "pci-address-clash"
	RulePCIFunc0       Rule = "pci-function-0"
	RulePCISlotsFull   Rule = "pci-slots-exhausted"
	RuleController     Rule = "controller"
	RuleSATAPort       Rule = "sata-port"
	RuleNVMeName       Rule = "nvme-name"
	RuleNVMePerCtrl    Rule = "nvme-per-controller"
	RuleNVMeSerial     Rule = "nvme-serial"
	RuleNVMeEUI64      Rule = "nvme-eui64"
	RuleDiskOption     Rule = "disk-option"
	RuleVCPUTopology   Rule = "vcpu-topology"
	RuleVCPUMax        Rule = "vcpu-max"
	RuleVCPUPin        Rule = "vcpupin"
	RuleNUMA           Rule = "numa"
	RuleSerial         Rule = "serial"
	RuleNMDMName       Rule = "nmdm-name"
	RuleUEFIOnly       Rule = "uefi-only"
	RuleAMD64Only      Rule = "amd64-only"
	RuleMAC            Rule = "mac"
	RuleHostdevMemory  Rule = "hostdev-memory"
	RuleUSBPassthru    Rule = "usb-passthrough"
	RuleVNC            Rule = "vnc"
	RuleUnsupportedBus Rule = "unsupported-bus"
)

// RuleError is a domain refused by one Rule. Property names the device
// ("disk vdb", "interface 1", "controller usb 1"), Reason says what the
// rule wants. errors.As finds the *hypervisor.PropertyError inside, and
// errors.Is(err, hypervisor.ErrInvalidProperty) holds, so callers that map
// property errors need not know this type.
type RuleError struct {
	Rule Rule
	hypervisor.PropertyError
}

func (e *RuleError) Error() string { return e.PropertyError.Error() }

// Unwrap returns the PropertyError, for errors.As.
func (e *RuleError) Unwrap() error { return &e.PropertyError }

// refuse returns a *RuleError for device (the PropertyError's Property)
// with value, breaking rule for the reason given.
func refuse(rule Rule, device, value, format string, args ...any) error {
	return &RuleError{Rule: rule, PropertyError: hypervisor.PropertyError{
		Property: device, Value: value, Driver: "bhyve", Reason: fmt.Sprintf(format, args...) + " (rule " + string(rule) + ")",
	}}
}

// refuseAs is refuse with a reason kept word for word, for refusals whose
// message tests and golden files already show.
func refuseAs(rule Rule, device, value, reason string, allowed ...string) error {
	return &RuleError{Rule: rule, PropertyError: hypervisor.PropertyError{
		Property: device, Value: value, Driver: "bhyve", Reason: reason, Allowed: allowed,
	}}
}
