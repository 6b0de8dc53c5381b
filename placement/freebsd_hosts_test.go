package placement_test

// This test reads hypervisor/host's recorded FreeBSD hosts, only as a test:
// it checks that they end up as the Placement inventory and traits
// compute/node.go's syncRequest would send (VCPU, MEMORY_MB, DISK_GB from
// the instances pool; HW_CPU_* traits, HW_CPU_HYPERTHREADING and HW_ARCH_*).
// Neither package's production code imports the other.

import (
	"os"
	"path/filepath"
	"reflect"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/novabsd/novabsd/hypervisor/host"
	"github.com/novabsd/novabsd/placement"
)

func recordedHost(t *testing.T, name string) *host.Host {
	t.Helper()
	read := func(ext string) string {
		b, err := os.ReadFile(filepath.Join("..", "hypervisor", "host", "testdata", name+"."+ext))
		if err != nil {
			t.Fatal(err)
		}
		return string(b)
	}
	h, err := host.ParseFreeBSDOutputs(host.FreeBSDOutputs{
		Sysctl: host.ParseSysctlOutput(read("sysctl")), DmesgBoot: read("dmesg"), Pciconf: read("pciconf"),
		Usbconfig: read("usbconfig"), Ifconfig: read("ifconfig"), ZpoolList: read("zpool"),
	}, time.Unix(1766000000, 0))
	if err != nil {
		t.Fatal(err)
	}
	return h
}

func TestFreeBSDHostsPlacement(t *testing.T) {
	tests := []struct {
		name      string
		pool      string
		inventory map[string]int64 // totals
		hwTraits  []string         // every HW_* trait
	}{
		{
			name: "freebsd-14.3-amd64-intel", pool: "tank",
			inventory: map[string]int64{placement.VCPU: 48, placement.MemoryMB: 196467, placement.DiskGB: 3712},
			hwTraits: []string{"HW_ARCH_X86_64", "HW_CPU_HYPERTHREADING",
				"HW_CPU_X86_ABM", "HW_CPU_X86_AESNI", "HW_CPU_X86_AVX", "HW_CPU_X86_AVX2", "HW_CPU_X86_AVX512BW",
				"HW_CPU_X86_AVX512CD", "HW_CPU_X86_AVX512DQ", "HW_CPU_X86_AVX512F", "HW_CPU_X86_AVX512VL",
				"HW_CPU_X86_AVX512VNNI", "HW_CPU_X86_BMI", "HW_CPU_X86_BMI2", "HW_CPU_X86_CLMUL", "HW_CPU_X86_F16C",
				"HW_CPU_X86_FMA3", "HW_CPU_X86_INTEL_VMX", "HW_CPU_X86_MMX", "HW_CPU_X86_MPX", "HW_CPU_X86_SSE",
				"HW_CPU_X86_SSE2", "HW_CPU_X86_SSE3", "HW_CPU_X86_SSE41", "HW_CPU_X86_SSE42", "HW_CPU_X86_SSSE3",
				"HW_CPU_X86_VMX"},
		},
		{
			name: "freebsd-14.3-amd64-amd", pool: "zroot",
			inventory: map[string]int64{placement.VCPU: 32, placement.MemoryMB: 130704, placement.DiskGB: 1856},
			hwTraits: []string{"HW_ARCH_X86_64", "HW_CPU_HYPERTHREADING",
				"HW_CPU_X86_ABM", "HW_CPU_X86_AESNI", "HW_CPU_X86_AMD_SVM", "HW_CPU_X86_AVX", "HW_CPU_X86_AVX2",
				"HW_CPU_X86_BMI", "HW_CPU_X86_BMI2", "HW_CPU_X86_CLMUL", "HW_CPU_X86_F16C", "HW_CPU_X86_FMA3",
				"HW_CPU_X86_MMX", "HW_CPU_X86_SHA", "HW_CPU_X86_SSE", "HW_CPU_X86_SSE2", "HW_CPU_X86_SSE3",
				"HW_CPU_X86_SSE41", "HW_CPU_X86_SSE42", "HW_CPU_X86_SSE4A", "HW_CPU_X86_SSSE3", "HW_CPU_X86_SVM"},
		},
		{
			name: "freebsd-15.0-arm64", pool: "zroot",
			inventory: map[string]int64{placement.VCPU: 80, placement.MemoryMB: 261496, placement.DiskGB: 3568},
			hwTraits: []string{"HW_ARCH_AARCH64",
				"HW_CPU_AARCH64_AES", "HW_CPU_AARCH64_ASIMD", "HW_CPU_AARCH64_ASIMDDP", "HW_CPU_AARCH64_ASIMDHP",
				"HW_CPU_AARCH64_ASIMDRDM", "HW_CPU_AARCH64_ATOMICS", "HW_CPU_AARCH64_CPUID", "HW_CPU_AARCH64_CRC32",
				"HW_CPU_AARCH64_DCPOP", "HW_CPU_AARCH64_FP", "HW_CPU_AARCH64_FPHP", "HW_CPU_AARCH64_LRCPC",
				"HW_CPU_AARCH64_PMULL", "HW_CPU_AARCH64_SHA1", "HW_CPU_AARCH64_SHA2"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := recordedHost(t, tt.name)
			var disk host.Disk
			found := false
			for _, p := range h.Devices.Pools {
				if p.Name == tt.pool {
					disk, found = p.Disk(), true
				}
			}
			if !found {
				t.Fatalf("no pool %q in %+v", tt.pool, h.Devices.Pools)
			}
			// As compute/node.go's syncRequest builds it.
			res := placement.HostResources{VCPUs: int64(h.VCPUs), MemoryMB: h.MemoryMB, DiskGB: disk.TotalGB()}
			inv := placement.ComputeInventory(res, placement.DefaultResourceConfig(), nil)
			got := map[string]int64{}
			for rc, i := range inv {
				got[rc] = i.Total
			}
			if !reflect.DeepEqual(got, tt.inventory) {
				t.Errorf("inventory totals %v, want %v", got, tt.inventory)
			}
			traits := placement.ComputeTraits(placement.TraitInputs{
				Arch: h.Arch, CPUFeatures: h.CPU.Features, Hyperthreading: h.CPU.Topology.Threads > 1,
			})
			var hw []string
			for _, tr := range traits {
				if strings.HasPrefix(tr, "HW_") {
					hw = append(hw, tr)
				}
			}
			want := append([]string(nil), tt.hwTraits...)
			sort.Strings(want)
			if !reflect.DeepEqual(hw, want) {
				t.Errorf("HW_* traits\n got %v\nwant %v", hw, want)
			}
		})
	}
}
