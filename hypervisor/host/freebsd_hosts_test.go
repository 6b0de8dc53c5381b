package host

import (
	"os"
	"path/filepath"
	"reflect"
	"testing"
	"time"
)

// loadFreeBSDOutputs reads every recorded output of one fixture host
// (testdata/README.md says where each comes from).
func loadFreeBSDOutputs(t testing.TB, name string) FreeBSDOutputs {
	t.Helper()
	read := func(ext string) string {
		b, err := os.ReadFile(filepath.Join("testdata", name+"."+ext))
		if err != nil {
			t.Fatal(err)
		}
		return string(b)
	}
	return FreeBSDOutputs{
		Sysctl: ParseSysctlOutput(read("sysctl")), DmesgBoot: read("dmesg"),
		Pciconf: read("pciconf"), Usbconfig: read("usbconfig"), Ifconfig: read("ifconfig"), ZpoolList: read("zpool"),
	}
}

// TestFreeBSDHostInventory: each recorded host gives the numbers Placement's
// VCPU, MEMORY_MB and DISK_GB inventories are made of, the CPU features its
// HW_CPU_* traits come from, and the devices passthrough will need.
func TestFreeBSDHostInventory(t *testing.T) {
	type iface struct {
		name, mac string
		up        bool
		ipv4      []string
	}
	tests := []struct {
		name      string
		vcpus     int
		memoryMB  int64
		pool      string // the pool instance disks live on
		diskGB    int64
		threads   int
		features  []string // every feature that maps to a HW_CPU_* trait
		virt      Virt
		iommu     IOMMU
		ready     bool     // PassthroughReady
		ppt       []string // bhyve slots of the devices ppt(4) holds
		pciCount  int
		usb       []USBDevice
		ifaces    []iface
		poolNames []string
	}{
		{
			name: "freebsd-14.3-amd64-intel", vcpus: 48, memoryMB: 196467, pool: "tank", diskGB: 3712, threads: 2,
			features: []string{"mmx", "sse", "sse2", "sse3", "pclmuldq", "vmx", "ssse3", "fma", "sse4.1", "sse4.2",
				"aes", "avx", "f16c", "abm", "bmi1", "avx2", "bmi2", "mpx", "avx512f", "avx512dq", "avx512cd",
				"avx512bw", "avx512vl", "avx512vnni"},
			virt:  Virt{Extension: "vmx", Ready: true, MaxGuestVCPUs: 48, UnrestrictedGuest: true},
			iommu: IOMMU{Enabled: true, Initialized: true}, ready: true,
			ppt: []string{"59/0/0", "94/0/0"}, pciCount: 11,
			usb: []USBDevice{
				{Bus: 0, Address: 1, Description: "XHCI root HUB 0x8086", Mode: "HOST", Speed: "SUPER", Power: "SAVE",
					Class: 9, Manufacturer: "0x8086", Product: "XHCI root HUB"},
				{Bus: 0, Address: 2, Description: "Dell USB Entry Keyboard DELL", Mode: "HOST", Speed: "LOW", Power: "ON",
					PowerMA: 100, VendorID: 0x413c, ProductID: 0x2107, Manufacturer: "DELL", Product: "Dell USB Entry Keyboard"},
				{Bus: 0, Address: 3, Description: "DataTraveler 3.0 Kingston", Mode: "HOST", Speed: "SUPER", Power: "ON",
					PowerMA: 144, VendorID: 0x0951, ProductID: 0x1666, Manufacturer: "Kingston", Product: "DataTraveler 3.0",
					Serial: "E0D55EA57438F3B0B8690A2A"},
			},
			ifaces: []iface{
				{"ixl0", "3c:fd:fe:a1:b2:c0", true, []string{"192.0.2.21/24"}},
				{"ixl1", "3c:fd:fe:a1:b2:c1", false, nil},
				{"lo0", "", true, []string{"127.0.0.1/8"}},
				{"bridge0", "58:9c:fc:10:2a:7e", true, nil},
				{"tap0", "58:9c:fc:00:5e:9a", true, nil},
			},
			poolNames: []string{"tank", "zroot"},
		},
		{
			name: "freebsd-14.3-amd64-amd", vcpus: 32, memoryMB: 130704, pool: "zroot", diskGB: 1856, threads: 2,
			features: []string{"mmx", "sse", "sse2", "sse3", "pclmuldq", "ssse3", "fma", "sse4.1", "sse4.2", "aes",
				"avx", "f16c", "svm", "abm", "sse4a", "bmi1", "avx2", "bmi2", "sha-ni"},
			virt:  Virt{Extension: "svm", Ready: true, MaxGuestVCPUs: 32, UnrestrictedGuest: true},
			iommu: IOMMU{Enabled: true, Initialized: true, Hardware: "ivhd0"}, ready: true,
			ppt: []string{"129/0/0", "129/0/1"}, pciCount: 10,
			usb: []USBDevice{
				{Bus: 0, Address: 1, Description: "XHCI root HUB 0x1022", Mode: "HOST", Speed: "SUPER", Power: "SAVE",
					Class: 9, Manufacturer: "0x1022", Product: "XHCI root HUB"},
				{Bus: 0, Address: 2, Description: "Virtual Keyboard and Mouse American Megatrends Inc.", Mode: "HOST",
					Speed: "HIGH", Power: "ON", PowerMA: 100, VendorID: 0x046b, ProductID: 0xff10,
					Manufacturer: "American Megatrends Inc.", Product: "Virtual Keyboard and Mouse"},
			},
			ifaces: []iface{
				{"igb0", "a8:a1:59:3c:11:02", true, []string{"198.51.100.7/24"}},
				{"ix0", "a8:a1:59:3c:11:04", true, []string{"10.20.0.7/22"}},
				{"lo0", "", true, []string{"127.0.0.1/8"}},
			},
			poolNames: []string{"zroot"},
		},
		{
			name: "freebsd-15.0-arm64", vcpus: 80, memoryMB: 261496, pool: "zroot", diskGB: 3568, threads: 1,
			features: []string{"fp", "asimd", "aes", "pmull", "sha1", "sha2", "crc32", "atomics", "fphp", "asimdhp",
				"asimdrdm", "lrcpc", "dcpop", "asimddp", "cpuid"},
			virt:     Virt{Ready: true, MaxGuestVCPUs: 80, UnrestrictedGuest: true},
			iommu:    IOMMU{},
			pciCount: 6,
			usb: []USBDevice{
				{Bus: 0, Address: 1, Description: "XHCI root HUB 0x1912", Mode: "HOST", Speed: "SUPER", Power: "SAVE",
					Class: 9, Manufacturer: "0x1912", Product: "XHCI root HUB"},
			},
			ifaces: []iface{
				{"mce0", "b8:ce:f6:4e:90:a2", true, []string{"203.0.113.40/25"}},
				{"mce1", "b8:ce:f6:4e:90:a3", false, nil},
				{"lo0", "", true, []string{"127.0.0.1/8"}},
			},
			poolNames: []string{"zroot"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h, err := ParseFreeBSDOutputs(loadFreeBSDOutputs(t, tt.name), time.Unix(1766000000, 0))
			if err != nil {
				t.Fatal(err)
			}
			if h.VCPUs != tt.vcpus || h.MemoryMB != tt.memoryMB {
				t.Errorf("VCPU %d MEMORY_MB %d, want %d and %d", h.VCPUs, h.MemoryMB, tt.vcpus, tt.memoryMB)
			}
			var names []string
			diskGB := int64(-1)
			for _, p := range h.Devices.Pools {
				names = append(names, p.Name)
				if p.Name == tt.pool {
					diskGB = p.Disk().TotalGB()
				}
			}
			if diskGB != tt.diskGB || !reflect.DeepEqual(names, tt.poolNames) {
				t.Errorf("pools %v, DISK_GB from %s %d; want %v and %d", names, tt.pool, diskGB, tt.poolNames, tt.diskGB)
			}
			if h.CPU.Topology.Threads != tt.threads {
				t.Errorf("threads per core %d, want %d (HW_CPU_HYPERTHREADING)", h.CPU.Topology.Threads, tt.threads)
			}
			for _, f := range tt.features {
				if !h.CPU.HasFeature(f) {
					t.Errorf("feature %q missing: %v", f, h.CPU.Features)
				}
			}
			if h.Virt != tt.virt {
				t.Errorf("virt %+v, want %+v", h.Virt, tt.virt)
			}
			if h.Devices.IOMMU != tt.iommu || h.PassthroughReady() != tt.ready {
				t.Errorf("iommu %+v ready %v, want %+v %v", h.Devices.IOMMU, h.PassthroughReady(), tt.iommu, tt.ready)
			}
			var ppt []string
			for _, d := range h.Devices.PCI {
				if d.Passthrough() {
					ppt = append(ppt, d.BhyveSlot())
				}
			}
			if !reflect.DeepEqual(ppt, tt.ppt) || len(h.Devices.PCI) != tt.pciCount {
				t.Errorf("%d PCI devices, ppt %v; want %d and %v", len(h.Devices.PCI), ppt, tt.pciCount, tt.ppt)
			}
			if !reflect.DeepEqual(h.Devices.USB, tt.usb) {
				t.Errorf("USB\n got %+v\nwant %+v", h.Devices.USB, tt.usb)
			}
			if len(h.Devices.Interfaces) != len(tt.ifaces) {
				t.Fatalf("%d interfaces, want %d: %+v", len(h.Devices.Interfaces), len(tt.ifaces), h.Devices.Interfaces)
			}
			for i, want := range tt.ifaces {
				got := h.Devices.Interfaces[i]
				up := got.HasFlag("UP") && got.HasFlag("RUNNING") && (got.Status == "" || got.Status == "active")
				if got.Name != want.name || got.MAC != want.mac || up != want.up || !reflect.DeepEqual(got.IPv4, want.ipv4) {
					t.Errorf("interface %d = %+v, want %+v", i, got, want)
				}
			}
		})
	}
}

// TestFreeBSDHostIntelDetails pins down the values the table above only
// counts: one PCI device in full, a bridge's members, IPv6 addresses and a
// pool's every column.
func TestFreeBSDHostIntelDetails(t *testing.T) {
	h, err := ParseFreeBSDOutputs(loadFreeBSDOutputs(t, "freebsd-14.3-amd64-intel"), time.Unix(1766000000, 0))
	if err != nil {
		t.Fatal(err)
	}
	gpu := PCIDevice{Driver: "ppt", Unit: 1, Bus: 94, Class: 0x030200, Revision: 0xa1, Vendor: 0x10de, Device: 0x1eb8,
		SubVendor: 0x10de, SubDevice: 0x12a2, VendorName: "NVIDIA Corporation", DeviceName: "TU104GL [Tesla T4]",
		ClassName: "display", Subclass: "3D", NUMANode: -1}
	if got := h.Devices.PCI[9]; got != gpu || got.Selector() != "pci0:94:0:0" || got.Address() != "0000:5e:00.0" {
		t.Errorf("PCI[9] = %+v (%s), want %+v", got, got.Selector(), gpu)
	}
	if mei := h.Devices.PCI[2]; mei.Driver != "none" || mei.Subclass != "" || mei.ClassName != "simple comms" {
		t.Errorf("unattached MEI = %+v", mei)
	}
	br := h.Devices.Interfaces[3]
	if !reflect.DeepEqual(br.Members, []string{"tap0", "ixl0"}) || !reflect.DeepEqual(br.Groups, []string{"bridge"}) ||
		br.MTU != 9000 {
		t.Errorf("bridge0 = %+v", br)
	}
	ixl0 := h.Devices.Interfaces[0]
	if !reflect.DeepEqual(ixl0.IPv6, []string{"fe80::3efd:feff:fea1:b2c0/64", "2001:db8:10::21/64"}) ||
		ixl0.Media != "Ethernet autoselect (10Gbase-SR <full-duplex>)" {
		t.Errorf("ixl0 = %+v", ixl0)
	}
	want := ZPool{Name: "tank", Size: 3712 << 30, Allocated: 1 << 40, Free: 2688 << 30, Fragmentation: 7,
		Capacity: 27, Dedup: 1, Health: "ONLINE"}
	if h.Devices.Pools[0] != want {
		t.Errorf("pool %+v, want %+v", h.Devices.Pools[0], want)
	}
}

// TestPassthroughNeedsIOMMU: ppt devices are no use until vmm.ko has set up
// the IOMMU, and an operator's hw.vmm.iommu.enable=0 turns it off.
func TestPassthroughNeedsIOMMU(t *testing.T) {
	for _, tc := range []struct {
		name   string
		change func(FreeBSDSysctls)
	}{
		{"not initialised", func(s FreeBSDSysctls) { s["hw.vmm.iommu.initialized"] = "0" }},
		{"disabled", func(s FreeBSDSysctls) { s["hw.vmm.iommu.enable"] = "0" }},
		{"vmm.ko not loaded", func(s FreeBSDSysctls) {
			for k := range s {
				if len(k) > 7 && k[:7] == "hw.vmm." {
					delete(s, k)
				}
			}
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			o := loadFreeBSDOutputs(t, "freebsd-14.3-amd64-intel")
			tc.change(o.Sysctl)
			h, err := ParseFreeBSDOutputs(o, time.Now())
			if err != nil {
				t.Fatal(err)
			}
			if h.PassthroughReady() {
				t.Errorf("passthrough ready with %+v", h.Devices.IOMMU)
			}
		})
	}
}
