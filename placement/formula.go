package placement

// Standard resource classes the compute node reports.
const (
	VCPU     = "VCPU"
	MemoryMB = "MEMORY_MB"
	DiskGB   = "DISK_GB"
)

// HostResources is what the host has, before reservations.
type HostResources struct {
	VCPUs    int64
	MemoryMB int64
	// DiskGB is whole GiB of instance storage (truncated, as Nova's int()).
	DiskGB int64
}

// ResourceConfig carries the nova.conf [DEFAULT] options that shape the
// inventory.
type ResourceConfig struct {
	ReservedHostCPUs     int64
	ReservedHostMemoryMB int64
	ReservedHostDiskMB   int64
	// CPUAllocationRatio etc. are [DEFAULT] *_allocation_ratio; nil (unset)
	// or 0 lets the initial ratio or Placement's current value apply.
	CPUAllocationRatio  *float64
	RAMAllocationRatio  *float64
	DiskAllocationRatio *float64
	// Initial*AllocationRatio are used when the provider has no inventory of
	// that class yet.
	InitialCPUAllocationRatio  float64
	InitialRAMAllocationRatio  float64
	InitialDiskAllocationRatio float64
}

// DefaultResourceConfig has nova.conf's defaults in 2025.1 to 2026.2.
func DefaultResourceConfig() ResourceConfig {
	return ResourceConfig{
		ReservedHostMemoryMB:       512,
		InitialCPUAllocationRatio:  4.0,
		InitialRAMAllocationRatio:  1.0,
		InitialDiskAllocationRatio: 1.0,
	}
}

// AllocationRatio decides one class's ratio as Nova's
// ComputeDriver._get_allocation_ratios does: the configured ratio if set
// and non-zero (it overrides what operators set through the Placement
// API), else the initial ratio if the provider has no inventory of the
// class yet, else the ratio already in Placement.
func AllocationRatio(configured *float64, initial float64, rc string, current Inventories) float64 {
	if configured != nil && *configured != 0 {
		return *configured
	}
	inv, ok := current[rc]
	if !ok {
		return initial
	}
	return inv.AllocationRatio
}

// ceilMBToGB rounds reserved megabytes up to whole GB, as Nova's
// compute_utils.convert_mb_to_ceil_gb.
func ceilMBToGB(mb int64) int64 {
	if mb <= 0 {
		return 0
	}
	return (mb + 1023) / 1024
}

// ComputeInventory returns the root provider's inventory as Nova's libvirt
// driver computes it in update_provider_tree: total = what the host has,
// reserved from reserved_host_*, min_unit 1, max_unit total, step_size 1,
// ratios per AllocationRatio. A class with total 0 is omitted, since
// Placement refuses total 0. current is the provider's inventory in
// Placement (nil when new).
func ComputeInventory(h HostResources, c ResourceConfig, current Inventories) Inventories {
	out := Inventories{}
	if h.MemoryMB > 0 {
		out[MemoryMB] = Inventory{
			Total: h.MemoryMB, Reserved: c.ReservedHostMemoryMB, MinUnit: 1, MaxUnit: h.MemoryMB, StepSize: 1,
			AllocationRatio: AllocationRatio(c.RAMAllocationRatio, c.InitialRAMAllocationRatio, MemoryMB, current),
		}
	}
	if h.VCPUs > 0 {
		out[VCPU] = Inventory{
			Total: h.VCPUs, Reserved: c.ReservedHostCPUs, MinUnit: 1, MaxUnit: h.VCPUs, StepSize: 1,
			AllocationRatio: AllocationRatio(c.CPUAllocationRatio, c.InitialCPUAllocationRatio, VCPU, current),
		}
	}
	if h.DiskGB > 0 {
		out[DiskGB] = Inventory{
			Total: h.DiskGB, Reserved: ceilMBToGB(c.ReservedHostDiskMB), MinUnit: 1, MaxUnit: h.DiskGB, StepSize: 1,
			AllocationRatio: AllocationRatio(c.DiskAllocationRatio, c.InitialDiskAllocationRatio, DiskGB, current),
		}
	}
	return out
}
