// Package qemu is the Linux engine: it runs a libvirt domain as a
// qemu-system-x86_64 process, supervised by the service, and drives it over
// QMP (power, pause, suspend to a state file and resume). It implements
// hypervisor.Driver and registers its command-line builder as "qemu".
package qemu

import (
	"fmt"
	"log/slog"
	"regexp"
	"slices"

	"github.com/novabsd/novabsd/hypervisor"
	"github.com/novabsd/novabsd/hypervisor/domain"
)

// Accelerators accepted by Config.Accel ([qemu] accel).
const (
	AccelAuto = "auto" // KVM when a probe guest really runs under it, else TCG
	AccelKVM  = "kvm"
	AccelTCG  = "tcg"
)

// Config is the driver's configuration.
type Config struct {
	Binary   string // qemu-system-x86_64 (looked up in PATH unless absolute)
	Accel    string // auto, kvm or tcg
	Machine  string // default machine type when the domain names none
	OVMFCode string // UEFI firmware code, used when the domain gives no loader
	OVMFVars string // UEFI variables template copied per guest
	// RunDir holds QMP and console sockets whose path beneath the instance
	// directory would exceed the unix socket limit.
	RunDir string
	// Logger receives what the driver decides on its own, such as leaving
	// KVM for TCG; nil means slog.Default().
	Logger *slog.Logger
	// User is the account QEMU drops to once it has opened its disks,
	// firmware, sockets and logs ([qemu] user; -runas, or -run-with user=
	// on QEMU 9.1+). "root" keeps QEMU running as root.
	User string
	// Sandbox turns on QEMU's seccomp filter (-sandbox); a binary built
	// without it is refused unless Sandbox is false ([qemu] sandbox).
	Sandbox bool
	// Sysfs is where the host's sysfs is mounted ("/sys"; tests give a
	// fixture tree): a PCI device is passed through only when
	// Sysfs/bus/pci/devices/ADDR/driver says vfio-pci.
	Sysfs string
}

// DefaultUser is the dedicated account QEMU runs as unless [qemu] user says
// otherwise; devstack/install-deps.sh creates it.
const DefaultUser = "novabsd-qemu"

// userName is what -runas and -run-with user= take: a login name (as
// useradd allows). Commas would start another option.
var userName = regexp.MustCompile(`^[a-z_][a-z0-9_-]{0,31}$`)

// DefaultConfig is Debian's layout.
func DefaultConfig() Config {
	return Config{
		Binary:   "qemu-system-x86_64",
		Accel:    AccelAuto,
		Machine:  "q35",
		OVMFCode: "/usr/share/OVMF/OVMF_CODE.fd",
		OVMFVars: "/usr/share/OVMF/OVMF_VARS.fd",
		RunDir:   "/run/novabsd/qemu",
		User:     DefaultUser,
		Sandbox:  true,
		Sysfs:    "/sys",
	}
}

func (c Config) check() error {
	switch c.Accel {
	case AccelAuto, AccelKVM, AccelTCG:
	default:
		return &hypervisor.PropertyError{Property: "[qemu] accel", Value: c.Accel, Allowed: []string{AccelAuto, AccelKVM, AccelTCG}}
	}
	if c.Binary == "" {
		return fmt.Errorf("qemu: [qemu] binary is empty")
	}
	if c.User != "" && !userName.MatchString(c.User) {
		return &hypervisor.PropertyError{Property: "[qemu] user", Value: c.User, Reason: "must be a login name"}
	}
	if c.Machine != "" && !machineName.MatchString(c.Machine) {
		return &hypervisor.PropertyError{Property: "[qemu] machine_type", Value: c.Machine, Reason: "must be a QEMU machine type name such as q35"}
	}
	return nil
}

// Supported lists the domain values the QEMU driver accepts.
func Supported() hypervisor.Supported {
	return hypervisor.Supported{
		Arch:         []string{"x86_64"},
		DiskBus:      []string{"virtio", "nvme", "sata", "scsi", "ide"},
		CDROMBus:     []string{"sata", "scsi", "ide"},
		VIFModel:     slices.Clone(vifModels),
		Firmware:     []string{"bios", "uefi"},
		RNGModel:     []string{"virtio"},
		PointerModel: []string{"usbtablet"},
		VideoModel:   []string{"vga", "virtio", "cirrus", "none"},
		DiskFormat:   []string{"raw", "qcow2"},
		MaxVCPUs:     255,
	}
}

// DomainOptions is what hypervisor/domain needs to build domains for this
// driver. accel is the resolved accelerator ("kvm" or "tcg").
func DomainOptions(c Config, accel string) domain.Options {
	typ := "qemu"
	if accel == AccelKVM {
		typ = "kvm"
	}
	return domain.Options{
		Driver:            "qemu",
		Type:              typ,
		Supported:         Supported(),
		Arch:              "x86_64",
		AllowThreads:      true,
		DefaultDiskBus:    "virtio",
		DefaultCDROMBus:   "sata",
		DefaultVIFModel:   "virtio",
		DefaultVideoModel: "vga",
		LoaderPath:        c.OVMFCode,
		NVRAMTemplate:     c.OVMFVars,
		Console:           "pty",
		RNGBackend:        "/dev/urandom",
		USBController:     "qemu-xhci",
		DiskDriver:        "qemu",
	}
}
