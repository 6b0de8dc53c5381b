package host

import (
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"testing"
	"time"
)

func loadFreeBSD(t *testing.T, name string) (FreeBSDSysctls, string) {
	t.Helper()
	sys, err := os.ReadFile(filepath.Join("testdata", name+".sysctl"))
	if err != nil {
		t.Fatal(err)
	}
	dmesg, err := os.ReadFile(filepath.Join("testdata", name+".dmesg"))
	if err != nil {
		t.Fatal(err)
	}
	return ParseSysctlOutput(string(sys)), string(dmesg)
}

func TestParseFreeBSDRecordedHosts(t *testing.T) {
	now := time.Unix(1766000000, 0)
	tests := []struct {
		name        string
		want        Host // Features and Uptime are checked separately
		mustHave    []string
		mustNotHave []string
	}{
		{
			name: "freebsd-14.3-amd64-intel",
			want: Host{
				Hostname: "cn-intel-01.example.org", Arch: "x86_64", VCPUs: 48,
				MemoryMB: 196467, MemoryFreeMB: 183296, NUMANodes: 2,
				HypervisorType: "bhyve", HypervisorVersion: 14003000,
				OSRelease: "14.3-RELEASE-p2", OSRelDate: 1403000,
				CPU: CPU{Vendor: "Intel", Model: "Intel(R) Xeon(R) Silver 4214R CPU @ 2.40GHz",
					Topology: Topology{Sockets: 2, Cores: 12, Threads: 2}},
				Virt:    Virt{Extension: "vmx", Ready: true, MaxGuestVCPUs: 48, UnrestrictedGuest: true},
				Devices: Devices{IOMMU: IOMMU{Enabled: true, Initialized: true}},
			},
			mustHave: []string{"vmx", "sse3", "pclmuldq", "sse4.1", "sse4.2", "aes", "tsc-deadline",
				"avx512f", "avx512vnni", "spec-ctrl", "flush-l1d", "lahf_lm", "abm", "3dnowprefetch",
				"pdpe1gb", "monitor", "ht", "x2apic", "xtpr", "intel-pt", "xgetbv1", "mpx", "fma", "mmx"},
			mustNotHave: []string{"svm", "sse4_1", "pni", "aesni", "page1gb", "ibpb", "rdcl_no"},
		},
		{
			name: "freebsd-14.3-amd64-amd",
			want: Host{
				Hostname: "cn-amd-01", Arch: "x86_64", VCPUs: 32,
				MemoryMB: 130704, MemoryFreeMB: 120000, NUMANodes: 1,
				HypervisorType: "bhyve", HypervisorVersion: 14003000,
				OSRelease: "14.3-RELEASE", OSRelDate: 1403000,
				CPU: CPU{Vendor: "AMD", Model: "AMD EPYC 7302P 16-Core Processor",
					Topology: Topology{Sockets: 1, Cores: 16, Threads: 2}},
				Virt:    Virt{Extension: "svm", Ready: true, MaxGuestVCPUs: 32, UnrestrictedGuest: true},
				Devices: Devices{IOMMU: IOMMU{Enabled: true, Initialized: true, Hardware: "ivhd0"}},
			},
			mustHave: []string{"svm", "sse4a", "sha-ni", "amd-stibp", "ibpb", "amd-ssbd", "mmxext",
				"fxsr_opt", "cmp_legacy", "topoext", "cr8legacy", "misalignsse", "avx2", "abm"},
			mustNotHave: []string{"vmx", "spec-ctrl", "stibp", "sha", "avx512f"},
		},
		{
			name: "freebsd-15.0-arm64",
			want: Host{
				Hostname: "cn-arm-01.example.org", Arch: "aarch64", VCPUs: 80,
				MemoryMB: 261496, MemoryFreeMB: 251000, NUMANodes: 1,
				HypervisorType: "bhyve", HypervisorVersion: 15000068,
				OSRelease: "15.0-RELEASE", OSRelDate: 1500068,
				CPU: CPU{Vendor: "ARM", Model: "Neoverse-N1", PhysAddrBits: 40,
					Topology: Topology{Sockets: 1, Cores: 80, Threads: 1}},
				Virt: Virt{Ready: true, MaxGuestVCPUs: 80, UnrestrictedGuest: true},
			},
			mustHave: []string{"aes", "asimd", "asimddp", "asimdhp", "asimdrdm", "atomics", "cpuid",
				"crc32", "dcpop", "fp", "fphp", "lrcpc", "pmull", "sha1", "sha2"},
			mustNotHave: []string{"sha512", "sve", "ssbs msr"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			sys, dmesg := loadFreeBSD(t, tt.name)
			got, err := ParseFreeBSD(sys, dmesg, now)
			if err != nil {
				t.Fatal(err)
			}
			features := got.CPU.Features
			uptime := got.Uptime
			got.CPU.Features, got.Uptime = nil, 0
			if !reflect.DeepEqual(*got, tt.want) {
				t.Errorf("host mismatch\n got %+v\nwant %+v", *got, tt.want)
			}
			boot := sys["kern.boottime"]
			sec, _ := parseBootTime(boot)
			if want := now.Sub(time.Unix(sec, 0)); uptime != want {
				t.Errorf("uptime %v, want %v", uptime, want)
			}
			have := map[string]bool{}
			for i, f := range features {
				have[f] = true
				if i > 0 && features[i-1] >= f {
					t.Errorf("features not sorted/unique at %q", f)
				}
			}
			for _, f := range tt.mustHave {
				if !have[f] {
					t.Errorf("feature %q missing from %v", f, features)
				}
			}
			for _, f := range tt.mustNotHave {
				if have[f] {
					t.Errorf("feature %q must not be reported", f)
				}
			}
		})
	}
}

func TestParseFreeBSDArm64FeaturesExact(t *testing.T) {
	sys, dmesg := loadFreeBSD(t, "freebsd-15.0-arm64")
	h, err := ParseFreeBSD(sys, dmesg, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"aes", "asimd", "asimddp", "asimdhp", "asimdrdm", "atomics", "cpuid", "crc32",
		"dcpop", "fp", "fphp", "lrcpc", "pmull", "sha1", "sha2"}
	if !reflect.DeepEqual(h.CPU.Features, want) {
		t.Errorf("features %v, want %v", h.CPU.Features, want)
	}
}

func TestParseFreeBSDWithoutVMM(t *testing.T) {
	// Before vmm.ko loads, hw.vmm.* does not exist: the CPU still has VT-x
	// but bhyve cannot run yet.
	sys, dmesg := loadFreeBSD(t, "freebsd-14.3-amd64-intel")
	for oid := range sys {
		if len(oid) > 7 && oid[:7] == "hw.vmm." {
			delete(sys, oid)
		}
	}
	h, err := ParseFreeBSD(sys, dmesg, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	if want := (Virt{Extension: "vmx"}); h.Virt != want {
		t.Errorf("virt %+v, want %+v", h.Virt, want)
	}
}

func TestParseFreeBSDSVMUninitialisedOnIntel(t *testing.T) {
	// vmx failed to initialise (disabled in firmware): svm.features stays
	// ~0U and must not be mistaken for AMD-V.
	sys, dmesg := loadFreeBSD(t, "freebsd-14.3-amd64-intel")
	sys["hw.vmm.vmx.initialized"] = "0"
	h, err := ParseFreeBSD(sys, dmesg, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	if h.Virt.Ready || h.Virt.Extension != "vmx" {
		t.Errorf("virt %+v, want not ready, extension vmx", h.Virt)
	}
}

func TestParseFreeBSDWithoutDmesg(t *testing.T) {
	// Jails have no /var/run/dmesg.boot: topology then comes from kern.smp.*.
	sys, _ := loadFreeBSD(t, "freebsd-14.3-amd64-intel")
	h, err := ParseFreeBSD(sys, "", time.Now())
	if err != nil {
		t.Fatal(err)
	}
	if want := (Topology{Sockets: 1, Cores: 24, Threads: 2}); h.CPU.Topology != want {
		t.Errorf("topology %+v, want %+v", h.CPU.Topology, want)
	}
	if h.CPU.Vendor != "Intel" || len(h.CPU.Features) != 0 {
		t.Errorf("vendor %q features %v: want Intel from hw.model and no features", h.CPU.Vendor, h.CPU.Features)
	}
}

func TestParseFreeBSDBadInput(t *testing.T) {
	tests := []struct {
		name   string
		change func(FreeBSDSysctls)
		source string
	}{
		{"no machine arch", func(s FreeBSDSysctls) { delete(s, "hw.machine_arch") }, "sysctl hw.machine_arch"},
		{"ncpu garbage", func(s FreeBSDSysctls) { s["hw.ncpu"] = "lots" }, "sysctl hw.ncpu"},
		{"ncpu zero", func(s FreeBSDSysctls) { s["hw.ncpu"] = "0" }, "sysctl hw.ncpu"},
		{"no physmem", func(s FreeBSDSysctls) { delete(s, "hw.physmem") }, "sysctl hw.physmem"},
		{"osreldate short", func(s FreeBSDSysctls) { s["kern.osreldate"] = "1403" }, "kern.osreldate"},
		{"boottime garbage", func(s FreeBSDSysctls) { s["kern.boottime"] = "yesterday" }, "sysctl kern.boottime"},
		{"svm garbage", func(s FreeBSDSysctls) { s["hw.vmm.svm.features"] = "0xzz" }, "sysctl hw.vmm.svm.features"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			sys, dmesg := loadFreeBSD(t, "freebsd-14.3-amd64-intel")
			tt.change(sys)
			_, err := ParseFreeBSD(sys, dmesg, time.Now())
			var pe *ParseError
			if !errors.As(err, &pe) {
				t.Fatalf("error %v, want *ParseError", err)
			}
			if pe.Source != tt.source {
				t.Errorf("error names %q, want %q (%v)", pe.Source, tt.source, err)
			}
		})
	}
}

func TestParseSysctlOutputMultiline(t *testing.T) {
	in := "kern.ostype: FreeBSD\nkern.sched.topology_spec: <groups>\n <group level=\"1\">\n</groups>\nhw.ncpu: 4\n"
	got := ParseSysctlOutput(in)
	want := FreeBSDSysctls{
		"kern.ostype":              "FreeBSD",
		"kern.sched.topology_spec": "<groups>\n <group level=\"1\">\n</groups>",
		"hw.ncpu":                  "4",
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("got %q, want %q", got, want)
	}
}

func TestParseFreeBSDImplausibleSMPLine(t *testing.T) {
	// 2^32 packages x 2^32 threads overflowed to a zero divisor; numbers
	// beyond hw.ncpu now send topology to kern.smp.* instead.
	sys, _ := loadFreeBSD(t, "freebsd-14.3-amd64-intel")
	dmesg := "FreeBSD/SMP: 4294967296 package(s) x 4294967296 hardware threads\n"
	h, err := ParseFreeBSD(sys, dmesg, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	if want := (Topology{Sockets: 1, Cores: 24, Threads: 2}); h.CPU.Topology != want {
		t.Errorf("topology %+v, want %+v", h.CPU.Topology, want)
	}
}
