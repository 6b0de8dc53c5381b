// Package image locates, and builds on demand, the tiny test guest that devstack/image/build.sh
// makes from Debian packages: a BIOS-bootable disk whose init prints Marker on ttyS0, then a
// heartbeat line every few seconds, and powers off on the ACPI power button. It brings its NICs up with DHCP
// (hot-plugged ones too), reads a config drive or the metadata service, and prints what it got (Lines).
//
// Tests of the hypervisor drivers and the end-to-end suite share it through this package.
package image

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
)

// Marker is the line the guest's init prints on the serial console once it is up and its
// ACPI power button is armed.
const Marker = "NOVABSD-TINY-GUEST-READY"

// Console lines the guest prints on ttyS0 besides Marker (README.md lists them). A line may follow other output
// on the same console line (the shell's "Please press Enter" prompt has no newline), so look for them with Lines,
// Addresses and Gone rather than by whole lines.
const (
	// LinePrefix starts every line of the guest's own.
	LinePrefix = "novabsd-tiny: "
	// ConfigDriveUUIDPrefix is followed by the uuid in the config drive's openstack/latest/meta_data.json.
	ConfigDriveUUIDPrefix = LinePrefix + "config-drive uuid "
	// UserDataPrefix is followed by the first line of the user_data the config drive or the metadata service gave,
	// or NoUserData.
	UserDataPrefix = LinePrefix + "user-data "
	// MetadataUUIDPrefix is followed by the uuid the metadata service at 169.254.169.254 gave (no config drive).
	MetadataUUIDPrefix = LinePrefix + "metadata uuid "
	// PingPrefix is followed by "<address> ok" or "<address> failed" for each user data line "ping <address>" (from
	// the config drive or the metadata service): the guest pings that address once it has one of its own.
	PingPrefix = LinePrefix + "ping "
	// NoUserData is what UserDataPrefix is followed by when there is no user_data.
	NoUserData = "none"
	// GoneSuffix ends "novabsd-tiny: <nic> gone", printed when a NIC disappears (hot unplug).
	GoneSuffix = " gone"
	// PCIPrefix is followed by "<address> <vendor> <device> <class>" for each PCI function, before Marker.
	PCIPrefix = LinePrefix + "pci "
	// DiskPrefix is followed by "<name> <PCI address or ->" for each disk once the drivers have found them.
	DiskPrefix = LinePrefix + "disk "
)

// PCIFunction is one PCI function the guest was given ("novabsd-tiny: pci ..." line), as sysfs shows it.
type PCIFunction struct {
	Address string // "0000:00:04.0"
	Vendor  uint16 // 0x8086
	Device  uint16 // 0x100e
	Class   uint32 // 0x020000: base class, subclass, programming interface
}

// PCIFunctions returns the PCI lines on the console, in order.
func PCIFunctions(console []byte) []PCIFunction {
	var out []PCIFunction
	for _, rest := range Lines(console, PCIPrefix) {
		f := strings.Fields(rest)
		if len(f) != 4 {
			continue
		}
		v, err1 := strconv.ParseUint(f[1], 0, 16)
		d, err2 := strconv.ParseUint(f[2], 0, 16)
		c, err3 := strconv.ParseUint(f[3], 0, 32)
		if err1 != nil || err2 != nil || err3 != nil {
			continue
		}
		out = append(out, PCIFunction{Address: f[0], Vendor: uint16(v), Device: uint16(d), Class: uint32(c)})
	}
	return out
}

// Disk is one disk the guest found ("novabsd-tiny: disk ..." line).
type Disk struct {
	Name string // "vda", "sda", "nvme0n1"
	PCI  string // address of the PCI function it hangs from; "" if none
}

// Disks returns the disk lines on the console, in order.
func Disks(console []byte) []Disk {
	var out []Disk
	for _, rest := range Lines(console, DiskPrefix) {
		f := strings.Fields(rest)
		if len(f) != 2 {
			continue
		}
		d := Disk{Name: f[0], PCI: f[1]}
		if d.PCI == "-" {
			d.PCI = ""
		}
		out = append(out, d)
	}
	return out
}

// Lines returns what follows prefix on each console line that holds it, in order.
func Lines(console []byte, prefix string) []string {
	var out []string
	for _, line := range strings.Split(string(console), "\n") {
		if i := strings.Index(line, prefix); i >= 0 {
			out = append(out, strings.TrimRight(line[i+len(prefix):], "\r"))
		}
	}
	return out
}

// Address is one "novabsd-tiny: <nic> <mac> <address>/<prefix length>" line: a NIC got an address by DHCP.
type Address struct {
	NIC    string
	MAC    net.HardwareAddr
	Prefix netip.Prefix
}

// Addresses returns the address lines on the console, in order.
func Addresses(console []byte) []Address {
	var out []Address
	for _, rest := range Lines(console, LinePrefix) {
		f := strings.Fields(rest)
		if len(f) != 3 {
			continue
		}
		mac, err := net.ParseMAC(f[1])
		if err != nil {
			continue
		}
		p, err := netip.ParsePrefix(f[2])
		if err != nil {
			continue
		}
		out = append(out, Address{NIC: f[0], MAC: mac, Prefix: p})
	}
	return out
}

// Gone returns the NICs the console reported gone, in order.
func Gone(console []byte) []string {
	var out []string
	for _, rest := range Lines(console, LinePrefix) {
		if nic, ok := strings.CutSuffix(rest, GoneSuffix); ok && nic != "" && !strings.Contains(nic, " ") {
			out = append(out, nic)
		}
	}
	return out
}

// DefaultDir is where build.sh writes the image when no directory is given.
const DefaultDir = "/var/cache/novabsd/image"

// DirEnv names the environment variable that overrides DefaultDir.
const DirEnv = "NOVABSD_IMAGE_DIR"

// File names inside the image directory.
const (
	RawName    = "tiny.raw"       // MBR disk: syslinux, kernel, busybox initramfs
	QCOW2Name  = "tiny.qcow2"     // the same disk as qcow2
	KernelName = "tiny.vmlinuz"   // the kernel, for direct-kernel boots
	InitrdName = "tiny.initrd.gz" // the initramfs, for direct-kernel boots
)

// KernelCmdline is the command line for direct-kernel boots of KernelName with InitrdName;
// the disk's syslinux uses the same one.
const KernelCmdline = "console=ttyS0,115200 panic=-1"

// Paths are the files of one built image.
type Paths struct {
	Dir    string
	Raw    string
	QCOW2  string
	Kernel string
	Initrd string
}

// Dir returns the image directory: $NOVABSD_IMAGE_DIR, else DefaultDir.
func Dir() string {
	if d := os.Getenv(DirEnv); d != "" {
		return d
	}
	return DefaultDir
}

// In returns the paths of the image files in dir, built or not.
func In(dir string) Paths {
	return Paths{
		Dir:    dir,
		Raw:    filepath.Join(dir, RawName),
		QCOW2:  filepath.Join(dir, QCOW2Name),
		Kernel: filepath.Join(dir, KernelName),
		Initrd: filepath.Join(dir, InitrdName),
	}
}

// BuildError reports a failed build.sh run with its output.
type BuildError struct {
	Dir    string
	Output string
	Err    error
}

func (e *BuildError) Error() string {
	return fmt.Sprintf("building the tiny image in %s: %v\n%s", e.Dir, e.Err, e.Output)
}

func (e *BuildError) Unwrap() error { return e.Err }

// Ensure runs build.sh for dir (a no-op when the image there is up to date) and returns its
// paths. build.sh needs apt (Debian's mirror) the first time, and syslinux, mtools,
// dosfstools and qemu-utils on the host.
func Ensure(ctx context.Context, dir string) (Paths, error) {
	script, err := BuildScript()
	if err != nil {
		return Paths{}, err
	}
	var out bytes.Buffer
	cmd := exec.CommandContext(ctx, "/bin/bash", script, dir)
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Run(); err != nil {
		return Paths{}, &BuildError{Dir: dir, Output: out.String(), Err: err}
	}
	p := In(dir)
	for _, f := range []string{p.Raw, p.QCOW2, p.Kernel, p.Initrd} {
		if _, err := os.Stat(f); err != nil {
			return Paths{}, &BuildError{Dir: dir, Output: out.String(), Err: fmt.Errorf("build.sh left no %s: %w", f, err)}
		}
	}
	return p, nil
}

// BuildScript returns the path of build.sh next to this source file: tests run from a
// checkout, so the script is found relative to the package, whatever the working directory.
func BuildScript() (string, error) {
	_, self, _, ok := runtime.Caller(0)
	if !ok {
		return "", fmt.Errorf("locating devstack/image/build.sh: no caller information")
	}
	script := filepath.Join(filepath.Dir(self), "build.sh")
	if _, err := os.Stat(script); err != nil {
		return "", fmt.Errorf("locating devstack/image/build.sh: %w", err)
	}
	return script, nil
}
