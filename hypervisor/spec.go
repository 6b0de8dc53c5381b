package hypervisor

import (
	"fmt"
	"strconv"
	"strings"
)

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

// USBDevice is a host USB device passed to a guest. Vendor and Product
// always select it; Bus and Port, when set, also pin it to one place on the
// host, so that two identical devices (same vendor and product) go to
// different guests. The engine waits for a device that is absent when the
// guest starts and attaches it once it appears (QEMU's usb-host does).
type USBDevice struct {
	Vendor, Product uint16
	// Bus is the host USB bus number (Linux's busnum, FreeBSD's ugenB.D
	// bus); 0 selects by vendor and product only. Device numbers are not
	// used: they change each time a device is plugged in again.
	Bus int
	// Port is the port path on Bus from the root hub, digits separated by
	// dots ("1" or "1.2" for port 2 of the hub on root port 1); empty
	// selects by vendor and product on any port. A port needs a bus.
	Port string
}

// Instance file names, relative to the instance directory.
const (
	DomainFile     = "domain.xml"  // the libvirt domain both drivers read
	ConsoleLogFile = "console.log" // serial console output
	NVRAMFile      = "nvram.fd"    // UEFI variables
	StateFile      = "state"       // running state saved by Suspend (drivers may add suffixes)
	CheckpointDir  = "checkpoints" // one subdirectory per checkpoint
)

// Limits of a USB device's host location: bus numbers are one byte on
// Linux and FreeBSD, a hub has at most 255 ports, and USB allows five hub
// tiers below the root hub (at most seven numbers with the root port).
const (
	maxUSBBus       = 255
	maxUSBPortDepth = 7
	maxUSBHubPort   = 255
)

// Check refuses a USB device whose location could not be a host's (and so
// must not reach an engine's command line): a bus outside 1-255, a port
// without a bus, a port path that is not dot-separated numbers 1-255.
func (u USBDevice) Check() error {
	where := fmt.Sprintf("usb device %04x:%04x", u.Vendor, u.Product)
	if u.Bus < 0 || u.Bus > maxUSBBus {
		return &PropertyError{Property: where + " bus", Value: strconv.Itoa(u.Bus), Reason: fmt.Sprintf("a host USB bus number is 1 to %d (0: any bus)", maxUSBBus)}
	}
	if u.Port == "" {
		return nil
	}
	if u.Bus == 0 {
		return &PropertyError{Property: where + " port", Value: u.Port, Reason: "a port path needs the bus it is on"}
	}
	if !ValidUSBPort(u.Port) {
		return &PropertyError{Property: where + " port", Value: u.Port, Reason: fmt.Sprintf("a port path is up to %d port numbers (1-%d) separated by dots, e.g. 1.2", maxUSBPortDepth, maxUSBHubPort)}
	}
	return nil
}

// ValidUSBPort reports whether port is a USB port path: one to seven port
// numbers from 1 to 255, separated by dots, with nothing else ("1", "1.2").
func ValidUSBPort(port string) bool {
	parts := strings.Split(port, ".")
	if len(parts) > maxUSBPortDepth {
		return false
	}
	for _, p := range parts {
		if p == "" || len(p) > 3 || strings.TrimLeft(p, "0123456789") != "" || p[0] == '0' {
			return false
		}
		if n, _ := strconv.Atoi(p); n > maxUSBHubPort {
			return false
		}
	}
	return true
}
