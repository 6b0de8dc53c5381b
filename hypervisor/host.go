package hypervisor

// HostResources is what a driver reports about the host for resource
// tracking. Discovery (sysctl, /proc) lives in hypervisor/host; a driver fills
// the hypervisor-specific fields and delegates the rest.
type HostResources struct {
	Arch              string   // libvirt arch name: "x86_64", "aarch64"
	CPUModel          string   // e.g. "Intel(R) Xeon(R) ..."
	VCPUs             int      // logical CPUs usable by guests
	MemoryMB          int64    // physical memory
	MemoryFreeMB      int64    // memory not in use
	HypervisorType    string   // "bhyve", "QEMU", "KVM"
	HypervisorVersion int      // major*1000000 + minor*1000 + patch, as libvirt encodes it
	CPUFlags          []string // lower-case feature names, e.g. "vmx", "svm", "avx2"
}
