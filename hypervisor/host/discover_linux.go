//go:build linux

package host

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"time"

	"golang.org/x/sys/unix"
)

// Discover reads this Linux host: /proc/cpuinfo, /proc/meminfo,
// /sys/devices/system/{cpu,node}, /dev/kvm, and the QEMU version from
// `qemu-system-<arch> --version` (QEMU is the hypervisor here).
func Discover() (*Host, error) {
	var uts unix.Utsname
	if err := unix.Uname(&uts); err != nil {
		return nil, fmt.Errorf("host discovery: uname: %w", err)
	}
	h := &Host{
		Arch:           NovaArch(unix.ByteSliceToString(uts.Machine[:])),
		OSRelease:      unix.ByteSliceToString(uts.Release[:]),
		HypervisorType: "QEMU",
	}
	var err error
	if h.Hostname, err = os.Hostname(); err != nil {
		return nil, fmt.Errorf("host discovery: hostname: %w", err)
	}

	cpuText, err := os.ReadFile("/proc/cpuinfo")
	if err != nil {
		return nil, fmt.Errorf("host discovery: %w", err)
	}
	ci, err := ParseLinuxCPUInfo(string(cpuText))
	if err != nil {
		return nil, fmt.Errorf("host discovery: %w", err)
	}
	h.CPU = CPU{Vendor: ci.Vendor, Model: ci.Model, Features: ci.Features, PhysAddrBits: ci.PhysAddrBits}

	memText, err := os.ReadFile("/proc/meminfo")
	if err != nil {
		return nil, fmt.Errorf("host discovery: %w", err)
	}
	mi, err := ParseLinuxMemInfo(string(memText))
	if err != nil {
		return nil, fmt.Errorf("host discovery: %w", err)
	}
	h.MemoryMB, h.MemoryFreeMB = mi.TotalMB, mi.FreeMB

	topo, online := readLinuxTopology()
	h.CPU.Topology = LinuxTopology(topo)
	h.VCPUs = online
	if h.VCPUs == 0 {
		h.VCPUs = ci.Processors
	}
	h.NUMANodes = countMatches("/sys/devices/system/node/node[0-9]*")
	if h.NUMANodes == 0 {
		h.NUMANodes = 1
	}

	if up, err := os.ReadFile("/proc/uptime"); err == nil {
		if s, err := ParseUptime(string(up)); err == nil {
			h.Uptime = time.Duration(s * float64(time.Second))
		}
	}

	h.Virt = linuxVirt(h.CPU)
	if h.HypervisorVersion, err = qemuVersion(h.Arch); err != nil {
		return nil, fmt.Errorf("host discovery: %w", err)
	}
	return h, nil
}

var cpuDirRE = regexp.MustCompile(`/cpu(\d+)$`)

// readLinuxTopology returns the package/core ids of the online CPUs and
// their count. Offline CPUs have no topology directory.
func readLinuxTopology() ([]LinuxCPUTopology, int) {
	dirs, _ := filepath.Glob("/sys/devices/system/cpu/cpu[0-9]*")
	var out []LinuxCPUTopology
	for _, d := range dirs {
		if !cpuDirRE.MatchString(d) {
			continue
		}
		pkg, err1 := readIntFile(filepath.Join(d, "topology/physical_package_id"))
		core, err2 := readIntFile(filepath.Join(d, "topology/core_id"))
		if err1 != nil || err2 != nil {
			continue
		}
		out = append(out, LinuxCPUTopology{PackageID: pkg, CoreID: core})
	}
	return out, len(out)
}

func readIntFile(path string) (int, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return 0, err
	}
	return strconv.Atoi(strings.TrimSpace(string(b)))
}

func countMatches(pattern string) int {
	m, _ := filepath.Glob(pattern)
	return len(m)
}

func linuxVirt(c CPU) Virt {
	v := Virt{}
	switch {
	case c.HasFeature("vmx"):
		v.Extension = "vmx"
	case c.HasFeature("svm"):
		v.Extension = "svm"
	}
	if f, err := os.OpenFile("/dev/kvm", os.O_RDWR, 0); err == nil {
		f.Close()
		v.Ready = true
		v.UnrestrictedGuest = true
	}
	return v
}

// qemuBinary names the system emulator for a Nova architecture.
func qemuBinary(arch string) string { return "qemu-system-" + arch }

func qemuVersion(arch string) (int, error) {
	bin := qemuBinary(arch)
	path, err := exec.LookPath(bin)
	if err != nil {
		return 0, fmt.Errorf("hypervisor version: %s not found: %w", bin, err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, path, "--version").Output()
	if err != nil {
		return 0, fmt.Errorf("hypervisor version: %s --version: %w", path, err)
	}
	return ParseQEMUVersion(string(out))
}

// DiscoverUSB lists the host's USB devices from sysfsRoot/bus/usb/devices
// (sysfsRoot "" is /sys; tests present fixture trees through it), root
// hubs and interfaces left out, ordered by bus and port path.
func DiscoverUSB(sysfsRoot string) ([]USBDevice, error) { return readSysfsUSB(sysfsRoot) }

// DiscoverPCI lists the host's PCI devices from sysfsRoot/bus/pci/devices
// (sysfsRoot "" is /sys), ordered by address, each with its bound driver
// (vfio-pci for a device reserved for guests), NUMA node and SR-IOV role.
func DiscoverPCI(sysfsRoot string) ([]PCIDevice, error) { return readSysfsPCI(sysfsRoot) }
