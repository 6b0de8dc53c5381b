package placement

import "testing"

func ratio(v float64) *float64 { return &v }

// The expected numbers follow Nova 2026.1's libvirt update_provider_tree and
// ComputeDriver._get_allocation_ratios for the same inputs.
func TestComputeInventory(t *testing.T) {
	host := HostResources{VCPUs: 8, MemoryMB: 16384, DiskGB: 100}
	std := func(total, reserved int64, r float64) Inventory {
		return Inventory{Total: total, Reserved: reserved, MinUnit: 1, MaxUnit: total, StepSize: 1, AllocationRatio: r}
	}
	tests := []struct {
		name    string
		host    HostResources
		cfg     func(*ResourceConfig)
		current Inventories
		want    Inventories
	}{
		{"defaults on a new provider", host, nil, nil,
			Inventories{VCPU: std(8, 0, 4.0), MemoryMB: std(16384, 512, 1.0), DiskGB: std(100, 0, 1.0)}},
		{"configured ratios override placement", host, func(c *ResourceConfig) {
			c.CPUAllocationRatio, c.RAMAllocationRatio, c.DiskAllocationRatio = ratio(16), ratio(1.5), ratio(2)
		}, Inventories{VCPU: std(8, 0, 8.0), MemoryMB: std(16384, 512, 3.0)},
			Inventories{VCPU: std(8, 0, 16), MemoryMB: std(16384, 512, 1.5), DiskGB: std(100, 0, 2)}},
		{"unset ratios keep placement's, initial for new classes", host, nil,
			Inventories{VCPU: std(8, 0, 8.0), MemoryMB: std(16384, 512, 1.25)},
			Inventories{VCPU: std(8, 0, 8.0), MemoryMB: std(16384, 512, 1.25), DiskGB: std(100, 0, 1.0)}},
		{"a ratio of 0 counts as unset", host, func(c *ResourceConfig) { c.CPUAllocationRatio = ratio(0) },
			Inventories{VCPU: std(8, 0, 3.0)},
			Inventories{VCPU: std(8, 0, 3.0), MemoryMB: std(16384, 512, 1.0), DiskGB: std(100, 0, 1.0)}},
		{"zed initial ratios", host, func(c *ResourceConfig) {
			c.InitialCPUAllocationRatio, c.InitialRAMAllocationRatio = 16.0, 1.5
		}, nil, Inventories{VCPU: std(8, 0, 16), MemoryMB: std(16384, 512, 1.5), DiskGB: std(100, 0, 1.0)}},
		{"reserves", host, func(c *ResourceConfig) {
			c.ReservedHostCPUs, c.ReservedHostMemoryMB, c.ReservedHostDiskMB = 2, 4096, 1025
		}, nil, Inventories{VCPU: std(8, 2, 4.0), MemoryMB: std(16384, 4096, 1.0), DiskGB: std(100, 2, 1.0)}},
		{"zero totals are omitted", HostResources{VCPUs: 0, MemoryMB: 2048, DiskGB: 0}, nil, nil,
			Inventories{MemoryMB: std(2048, 512, 1.0)}},
		{"reserved equal to total is kept (1.26)", HostResources{VCPUs: 2, MemoryMB: 512, DiskGB: 1}, nil, nil,
			Inventories{VCPU: std(2, 0, 4.0), MemoryMB: std(512, 512, 1.0), DiskGB: std(1, 0, 1.0)}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := DefaultResourceConfig()
			if tt.cfg != nil {
				tt.cfg(&cfg)
			}
			got := ComputeInventory(tt.host, cfg, tt.current)
			if !got.Equal(tt.want) {
				t.Errorf("got  %+v\nwant %+v", got, tt.want)
			}
		})
	}
}

func TestReservedDiskRoundsUpToGB(t *testing.T) {
	// nova compute_utils.convert_mb_to_ceil_gb
	for mb, want := range map[int64]int64{0: 0, 1: 1, 1023: 1, 1024: 1, 1025: 2, 2048: 2, 10241: 11, -5: 0} {
		if got := ceilMBToGB(mb); got != want {
			t.Errorf("ceilMBToGB(%d) = %d, want %d", mb, got, want)
		}
	}
}

func TestDefaultResourceConfigMatchesNova(t *testing.T) {
	d := DefaultResourceConfig()
	if d.ReservedHostMemoryMB != 512 || d.ReservedHostCPUs != 0 || d.ReservedHostDiskMB != 0 ||
		d.InitialCPUAllocationRatio != 4.0 || d.InitialRAMAllocationRatio != 1.0 || d.InitialDiskAllocationRatio != 1.0 ||
		d.CPUAllocationRatio != nil || d.RAMAllocationRatio != nil || d.DiskAllocationRatio != nil {
		t.Errorf("defaults %+v differ from nova.conf 2025.1-2026.2", d)
	}
}
