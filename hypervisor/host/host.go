// Package host discovers what the machine offers to guests: logical CPUs,
// memory, local disk, the CPU's vendor, model, features and topology, the
// architecture and the hypervisor's type and version.
//
// Reading the operating system (sysctl on FreeBSD, /proc and /sys on Linux)
// is kept apart from parsing what was read, so the parsing of every platform
// is tested on recorded values on any machine.
package host

import (
	"errors"
	"time"
)

// Host is the machine as a compute node reports it.
type Host struct {
	// Hostname is the kernel's host name (kern.hostname, uname nodename).
	Hostname string
	// Arch is the architecture as Nova names it: "x86_64" or "aarch64".
	Arch string
	// VCPUs is the number of logical CPUs.
	VCPUs int
	// MemoryMB is physical memory in MiB.
	MemoryMB int64
	// MemoryFreeMB is memory the host can hand out without swapping, in MiB.
	MemoryFreeMB int64
	// CPU describes the host processor.
	CPU CPU
	// NUMANodes is the number of memory domains (at least 1).
	NUMANodes int
	// HypervisorType is what ComputeNode.hypervisor_type carries: "bhyve"
	// on FreeBSD, "QEMU" on Linux (libvirt's name for its qemu driver,
	// whether KVM or TCG runs the guests).
	HypervisorType string
	// HypervisorVersion is encoded as libvirt encodes versions:
	// major*1000000 + minor*1000 + micro. For bhyve it is the FreeBSD
	// release derived from kern.osreldate (1403000 -> 14003000).
	HypervisorVersion int
	// OSRelease is the kernel release string, e.g. "14.3-RELEASE-p2".
	OSRelease string
	// OSRelDate is kern.osreldate on FreeBSD, 0 elsewhere.
	OSRelDate int
	// Virt tells whether guests can use hardware virtualisation.
	Virt Virt
	// Uptime is the time since boot (zero when unknown).
	Uptime time.Duration
	// Devices are the host's PCI and USB devices, network interfaces, ZFS
	// pools and IOMMU (FreeBSD only for now).
	Devices Devices
}

// CPU describes the host processor.
type CPU struct {
	// Vendor as libvirt names it: "Intel", "AMD", "Hygon", "ARM", ...
	Vendor string
	// Model is the processor's brand string (hw.model, /proc/cpuinfo
	// "model name"), or the core name on arm64.
	Model string
	// Features are lower-case flag names as Nova's libvirt driver sees them
	// (libvirt's cpu_map names, e.g. "sse4.2", "pclmuldq", "vmx"; arm64
	// uses the Linux hwcap names, e.g. "asimd", "atomics"), sorted, unique.
	Features []string
	// Topology is the host's CPU topology.
	Topology Topology
	// PhysAddrBits is the physical address width (0 when unknown).
	PhysAddrBits int
}

// Topology is sockets x cores per socket x threads per core.
type Topology struct {
	Sockets int
	Cores   int
	Threads int
}

// Virt describes hardware virtualisation support.
type Virt struct {
	// Extension is "vmx" (Intel VT-x), "svm" (AMD-V) or "" (none, or arm64).
	Extension string
	// Ready is true when the hypervisor can use it now: vmm.ko initialised
	// on FreeBSD, /dev/kvm openable on Linux.
	Ready bool
	// MaxGuestVCPUs is hw.vmm.maxcpu on FreeBSD (0 when unknown).
	MaxGuestVCPUs int
	// UnrestrictedGuest is VT-x's unrestricted guest capability, needed by
	// UEFI and real-mode guests under bhyve (always true on AMD-V).
	UnrestrictedGuest bool
}

// HasFeature reports whether the CPU has the named (normalised) feature.
func (c CPU) HasFeature(name string) bool {
	for _, f := range c.Features {
		if f == name {
			return true
		}
	}
	return false
}

// ErrUnsupported is returned by discovery on an operating system this
// package does not know how to read.
var ErrUnsupported = errors.New("host discovery is not supported on this operating system")

// ParseError says which recorded value could not be understood.
type ParseError struct {
	// Source names what was parsed: a sysctl OID, a file or a command.
	Source string
	// Value is the offending text (possibly shortened).
	Value string
	// Err is the underlying cause, if any.
	Err error
}

func (e *ParseError) Error() string {
	msg := "cannot parse " + e.Source
	if e.Value != "" {
		v := e.Value
		if len(v) > 80 {
			v = v[:80] + "..."
		}
		msg += " value " + quote(v)
	}
	if e.Err != nil {
		msg += ": " + e.Err.Error()
	}
	return msg
}

func (e *ParseError) Unwrap() error { return e.Err }

func quote(s string) string { return "\"" + s + "\"" }
