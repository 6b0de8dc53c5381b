package hypervisor

// Spec is the neutral description of a guest that compute/ fills from Nova's
// instance and flavor, and that hypervisor/domain turns into a libvirt domain
// together with the image properties and flavor extra specs (passed as plain
// string maps so this package never sees Nova objects).
type Spec struct {
	UUID     string // instance uuid; becomes the domain uuid
	Name     string // domain name, also the VM name in the hypervisor (e.g. "instance-0000002a")
	Dir      string // instance directory; every instance file lives beneath it
	VCPUs    int    // flavor vcpus
	MemoryMB int    // flavor memory_mb
	// Arch is the guest architecture in libvirt's spelling ("x86_64",
	// "aarch64"); empty means the host's.
	Arch string
	// Loader is the UEFI firmware code file; empty lets the driver use its
	// configured default. Only used when the firmware is UEFI.
	Loader string
	// NVRAM is the UEFI variables file, beneath Dir; empty means
	// Dir/NVRAMFile.
	NVRAM string

	Disks []Disk
	NICs  []NIC

	// ConsoleLog is the file that keeps the serial console output; empty
	// means Dir/ConsoleLogFile.
	ConsoleLog string
	// SerialTCP, when set, also serves the serial console (port 0) on a
	// TCP listener for a console proxy; the log is kept all the same.
	SerialTCP *SerialTCP
	VNC       *VNC // nil: no graphics

	PCI []PCIDevice // host PCI devices passed through
	USB []USBDevice // host USB devices passed through

	// Metadata is free-form key/value data kept in the domain's
	// <metadata> (e.g. flavor name, project); drivers ignore it.
	Metadata map[string]string
}

// DiskRole says where a disk came from; it decides bus defaults and order.
type DiskRole string

// Disk roles, in Nova's block device order.
const (
	RoleRoot        DiskRole = "root"        // image or volume the guest boots from
	RoleEphemeral   DiskRole = "ephemeral"   // flavor ephemeral_gb
	RoleSwap        DiskRole = "swap"        // flavor swap
	RoleConfigDrive DiskRole = "configdrive" // config drive (cdrom unless config_drive_format=vfat)
	RoleVolume      DiskRole = "volume"      // attached Cinder volume
	RoleCDROM       DiskRole = "cdrom"       // ISO image booted as a cdrom (disk_format=iso)
)

// Disk is one guest disk backed by a host file or device.
type Disk struct {
	Role   DiskRole
	Path   string // host file or device (zvol) path
	Format string // "raw" or "qcow2"
	// Bus overrides the bus derived from novabsd_disk_bus, hw_disk_bus or
	// hw_cdrom_bus ("virtio", "nvme", "sata", "scsi", "ide"); empty
	// derives it.
	Bus string
	// CDROM presents the disk as a cdrom; RoleCDROM and a non-vfat
	// RoleConfigDrive imply it.
	CDROM    bool
	ReadOnly bool
	Serial   string // serial number shown to the guest (Nova uses the volume id)
	Boot     bool   // boot from this disk first; default is the root disk
}

// NIC is one guest network interface.
type NIC struct {
	MAC string // "fa:16:3e:.."
	// Model overrides hw_vif_model ("virtio", "e1000", ...); empty derives it.
	Model string
	// Tap is the host tap device (created by the network layer); the guest
	// is connected to it.
	Tap string
	// Bridge, when set, is the host bridge the tap joins.
	Bridge string
	MTU    int // 0: host default
}

// VNC is the guest's graphical console.
type VNC struct {
	Listen   string // address, e.g. "127.0.0.1"
	Port     int    // TCP port; 0 or -1 lets the driver choose
	Password string // optional; bhyve and QEMU limit it to 8 characters
	Keymap   string // optional, e.g. "en-us"
}

// SerialTCP is where a guest's serial console listens: one raw TCP
// client at a time, as nova-serialproxy connects.
type SerialTCP struct {
	Listen string // IP address literal, e.g. "127.0.0.1"
	Port   int    // TCP port, fixed (the caller picks it: Ports)
}

// PCIDevice is a host PCI function, as "domain:bus:slot.function" in hex
// ("0000:03:00.0").
type PCIDevice struct {
	Address string
}

// USBDevice is a host USB device selected by vendor and product id.
type USBDevice struct {
	Vendor, Product uint16
}

// Instance file names, relative to the instance directory.
const (
	DomainFile     = "domain.xml"  // the libvirt domain both drivers read
	ConsoleLogFile = "console.log" // serial console output
	NVRAMFile      = "nvram.fd"    // UEFI variables
	StateFile      = "state"       // running state saved by Suspend (drivers may add suffixes)
	CheckpointDir  = "checkpoints" // one subdirectory per checkpoint
)
