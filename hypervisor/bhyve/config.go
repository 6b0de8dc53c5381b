// Package bhyve runs guests on FreeBSD's bhyve(8). It turns the libvirt
// domain into bhyveload/bhyve command lines (following libvirt's own bhyve
// driver, so libvirt-style XML is accepted too) and supervises the bhyve
// process by its documented exit codes. The argv builder is pure Go and
// builds everywhere; the driver only needs the binaries, which tests replace
// with stand-ins.
//
// The builder is as strict as bhyve and libvirt's bhyve driver: a domain
// either would refuse (PCI addresses, controller and disk limits, NVMe
// identifiers, vCPU and NUMA limits, console names, UEFI-only and
// amd64-only devices, MACs, buses bhyve lacks) is refused by BuildPlan, so
// by `novabsd domain argv`, CheckDomain and Spawn, with a *RuleError naming
// the device and the Rule. Rule's doc comment lists every rule with the
// bhyve(8) section, FreeBSD source file or libvirt function it comes from.
//
// bhyve runs in a session of its own and writes straight into the instance's
// bhyve.log, so a guest outlives the service. The next service process
// adopts it on the first call naming the guest (compute/ asks Info of every
// instance at start): the pid in bhyve.pid must still be a bhyve for that VM,
// and then its console and supervision are re-attached; a bhyve that ended
// meanwhile leaves the guest shut down and its kernel VM destroyed.
package bhyve

import (
	"context"
	"runtime"
	"time"

	"github.com/novabsd/novabsd/hypervisor"
	"github.com/novabsd/novabsd/hypervisor/domain"
)

// Config holds the host paths and policies; the service maps its [bhyve]
// options onto it. Zero fields take the defaults of DefaultConfig.
type Config struct {
	Bhyve     string // bhyve(8) binary
	Bhyvectl  string // bhyvectl(8) binary
	Bhyveload string // bhyveload(8) binary
	// UEFIFirmware is the amd64 bootrom used when a domain asks for UEFI
	// without naming a loader.
	UEFIFirmware string
	// UEFIVarsTemplate is copied to a guest's NVRAM file on first start.
	UEFIVarsTemplate string
	// ARM64Bootrom is the u-boot image arm64 guests boot from.
	ARM64Bootrom string
	// Arch is the host architecture in libvirt spelling ("x86_64",
	// "aarch64"); guests without an arch get it.
	Arch string
	// FwCfgQEMU adds fwcfg=qemu to the bootrom so per-device bootindex is
	// honoured (bhyve 14.0+).
	FwCfgQEMU bool
	// ACPIFlag passes -A (needed by 13.x; a no-op accepted by 14 and 15).
	ACPIFlag bool
	// USBPassthru says the host's bhyve has the libusb-based xhci USB
	// passthrough (out of tree; see usb.go). New sets it from the binary
	// (DetectUSBPassthru) when it is false; without it a host USB device is
	// refused with RuleUSBPassthru.
	USBPassthru bool
	// MaxVCPUs is the host's hw.vmm.maxcpu (vCPUs per guest, by default
	// the host's CPU count); 0: only the kernel's hard cap (1024) applies.
	MaxVCPUs int
	// VMMDir is where the kernel lists VMs (/dev/vmm).
	VMMDir string
	// LoaderTimeout bounds bhyveload, which waits at its menu on a console.
	LoaderTimeout time.Duration
	// StartGrace is how long Spawn watches a new bhyve for an immediate
	// failure (bad tap, missing disk) before reporting success.
	StartGrace time.Duration
	// HostResources discovers the host (hypervisor/host); nil makes
	// Driver.HostResources return ErrUnsupported.
	HostResources func(ctx context.Context) (hypervisor.HostResources, error)
}

// DefaultConfig returns the paths of a stock FreeBSD 14/15 host with the
// edk2-bhyve and u-boot-bhyve-arm64 packages.
func DefaultConfig() Config {
	return Config{
		Bhyve:            "/usr/sbin/bhyve",
		Bhyvectl:         "/usr/sbin/bhyvectl",
		Bhyveload:        "/usr/sbin/bhyveload",
		UEFIFirmware:     "/usr/local/share/uefi-firmware/BHYVE_UEFI_CODE.fd",
		UEFIVarsTemplate: "/usr/local/share/uefi-firmware/BHYVE_UEFI_VARS.fd",
		ARM64Bootrom:     "/usr/local/share/u-boot/u-boot-bhyve-arm64/u-boot.bin",
		Arch:             hostArch(),
		FwCfgQEMU:        true,
		ACPIFlag:         false,
		VMMDir:           "/dev/vmm",
		LoaderTimeout:    2 * time.Minute,
		StartGrace:       500 * time.Millisecond,
	}
}

// withDefaults fills zero fields from DefaultConfig; booleans are taken as
// given.
func (c Config) withDefaults() Config {
	d := DefaultConfig()
	set := func(p *string, v string) {
		if *p == "" {
			*p = v
		}
	}
	set(&c.Bhyve, d.Bhyve)
	set(&c.Bhyvectl, d.Bhyvectl)
	set(&c.Bhyveload, d.Bhyveload)
	set(&c.UEFIFirmware, d.UEFIFirmware)
	set(&c.UEFIVarsTemplate, d.UEFIVarsTemplate)
	set(&c.ARM64Bootrom, d.ARM64Bootrom)
	set(&c.Arch, d.Arch)
	set(&c.VMMDir, d.VMMDir)
	if c.LoaderTimeout == 0 {
		c.LoaderTimeout = d.LoaderTimeout
	}
	if c.StartGrace == 0 {
		c.StartGrace = d.StartGrace
	}
	return c
}

func hostArch() string {
	if runtime.GOARCH == "arm64" {
		return "aarch64"
	}
	return "x86_64"
}

// Supported lists the domain values bhyve accepts for arch.
func Supported(arch string) hypervisor.Supported {
	s := hypervisor.Supported{
		Arch:         []string{"x86_64", "aarch64"},
		DiskBus:      []string{"virtio", "nvme", "sata"},
		CDROMBus:     []string{"sata"},
		VIFModel:     []string{"virtio", "e1000"},
		Firmware:     []string{"uefi", "bios"},
		RNGModel:     []string{"virtio"},
		PointerModel: []string{"usbtablet"},
		VideoModel:   []string{"gop", "none"},
		DiskFormat:   []string{"raw"},
	}
	if arch == "aarch64" {
		// No LPC, fbuf, xhci or bhyveload on arm64; only u-boot.
		s.Firmware = []string{"uefi"}
		s.PointerModel = []string{}
		s.VIFModel = []string{"virtio"}
	}
	return s
}

// DomainOptions returns what hypervisor/domain needs to build a bhyve
// domain under c.
func DomainOptions(c Config) domain.Options {
	c = c.withDefaults()
	loader, tmpl := c.UEFIFirmware, c.UEFIVarsTemplate
	if c.Arch == "aarch64" {
		loader, tmpl = c.ARM64Bootrom, ""
	}
	sup := Supported(c.Arch)
	sup.MaxVCPUs = maxVCPUs(c)
	return domain.Options{
		Driver:            "bhyve",
		Type:              "bhyve",
		Supported:         sup,
		Arch:              c.Arch,
		AllowThreads:      true,
		DefaultDiskBus:    "virtio",
		DefaultCDROMBus:   "sata",
		DefaultVIFModel:   "virtio",
		DefaultVideoModel: "gop",
		// bhyveload boots only FreeBSD; everything else needs the UEFI
		// bootrom, so UEFI is the default unless the image says FreeBSD.
		DefaultFirmware: func(image map[string]string) string {
			if image["os_distro"] == "freebsd" && c.Arch == "x86_64" {
				return "bios"
			}
			return "uefi"
		},
		GraphicsNeedUEFI: true,
		LoaderPath:       loader,
		NVRAMTemplate:    tmpl,
		Console:          "nmdm",
		RNGBackend:       "/dev/random",
		USBController:    "nec-xhci",
	}
}
