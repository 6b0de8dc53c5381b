package host

import (
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"testing"
)

func readTestdata(t *testing.T, name string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func TestParseLinuxCPUInfo(t *testing.T) {
	tests := []struct {
		file        string
		vendor      string
		model       string
		bits, procs int
		mustHave    []string
		mustNotHave []string
	}{
		{"linux-x86_64-amd.cpuinfo", "AMD", "AMD EPYC", 48, 2,
			[]string{"sse3", "pclmuldq", "sse4.1", "sse4.2", "sha-ni", "tsc-deadline", "cr8legacy", "aes", "avx2", "abm", "sse4a"},
			[]string{"pni", "pclmulqdq", "sse4_1", "sha_ni", "svm"}},
		{"linux-aarch64.cpuinfo", "ARM", "Neoverse-N1", 0, 2,
			[]string{"fp", "asimd", "evtstrm", "aes", "pmull", "sha1", "sha2", "crc32", "atomics", "fphp",
				"asimdhp", "cpuid", "asimdrdm", "lrcpc", "dcpop", "asimddp", "ssbs"},
			nil},
	}
	for _, tt := range tests {
		t.Run(tt.file, func(t *testing.T) {
			ci, err := ParseLinuxCPUInfo(readTestdata(t, tt.file))
			if err != nil {
				t.Fatal(err)
			}
			if ci.Vendor != tt.vendor || ci.Model != tt.model || ci.PhysAddrBits != tt.bits || ci.Processors != tt.procs {
				t.Errorf("got vendor %q model %q bits %d processors %d, want %q %q %d %d",
					ci.Vendor, ci.Model, ci.PhysAddrBits, ci.Processors, tt.vendor, tt.model, tt.bits, tt.procs)
			}
			c := CPU{Features: ci.Features}
			for _, f := range tt.mustHave {
				if !c.HasFeature(f) {
					t.Errorf("feature %q missing from %v", f, ci.Features)
				}
			}
			for _, f := range tt.mustNotHave {
				if c.HasFeature(f) {
					t.Errorf("feature %q must not be reported", f)
				}
			}
		})
	}
}

func TestParseLinuxCPUInfoErrors(t *testing.T) {
	for name, in := range map[string]string{
		"empty":           "",
		"bad implementer": "processor\t: 0\nCPU implementer\t: zz\n",
		"bad address":     "processor\t: 0\naddress sizes\t: many bits physical\n",
	} {
		t.Run(name, func(t *testing.T) {
			var pe *ParseError
			if _, err := ParseLinuxCPUInfo(in); !errors.As(err, &pe) {
				t.Errorf("error %v, want *ParseError", err)
			}
		})
	}
}

func TestParseLinuxMemInfo(t *testing.T) {
	got, err := ParseLinuxMemInfo(readTestdata(t, "linux.meminfo"))
	if err != nil {
		t.Fatal(err)
	}
	// MemTotal 24684092 kB; MemFree+Buffers+Cached = 23743600 kB.
	if want := (LinuxMemInfo{TotalMB: 24105, FreeMB: 23187}); got != want {
		t.Errorf("got %+v, want %+v", got, want)
	}
	if _, err := ParseLinuxMemInfo("MemFree: 12 kB\n"); err == nil {
		t.Error("meminfo without MemTotal accepted")
	}
	if _, err := ParseLinuxMemInfo("MemTotal: twelve kB\n"); err == nil {
		t.Error("non-numeric MemTotal accepted")
	}
}

func TestLinuxTopology(t *testing.T) {
	tests := []struct {
		name string
		cpus []LinuxCPUTopology
		want Topology
	}{
		{"none", nil, Topology{1, 1, 1}},
		{"2 cores no SMT", []LinuxCPUTopology{{0, 0}, {0, 1}}, Topology{1, 2, 1}},
		{"1 socket 2 cores SMT2", []LinuxCPUTopology{{0, 0}, {0, 1}, {0, 0}, {0, 1}}, Topology{1, 2, 2}},
		{"2 sockets 2 cores SMT2", []LinuxCPUTopology{
			{0, 0}, {0, 1}, {1, 0}, {1, 1}, {0, 0}, {0, 1}, {1, 0}, {1, 1}}, Topology{2, 2, 2}},
	}
	for _, tt := range tests {
		if got := LinuxTopology(tt.cpus); got != tt.want {
			t.Errorf("%s: got %+v, want %+v", tt.name, got, tt.want)
		}
	}
}

func TestParseUptime(t *testing.T) {
	if got, err := ParseUptime("350735.47 234388.90\n"); err != nil || got != 350735.47 {
		t.Errorf("got %v, %v", got, err)
	}
	if _, err := ParseUptime(""); err == nil {
		t.Error("empty uptime accepted")
	}
}

func TestNormalizeFeature(t *testing.T) {
	tests := map[string]string{
		"pni": "sse3", "SSE3": "sse3", "pclmulqdq": "pclmuldq", "PCLMULQDQ": "pclmuldq",
		"sse4_2": "sse4.2", "SSE4.2": "sse4.2", "AESNI": "aes", "aes": "aes", "sha_ni": "sha-ni",
		"avx512_vpopcntdq": "avx512-vpopcntdq", "Page1GB": "pdpe1gb", "LAHF": "lahf_lm", "VMX": "vmx",
		" svm ": "svm", "amx_tile": "amx-tile",
	}
	for in, want := range tests {
		if got := NormalizeFeature(in); got != want {
			t.Errorf("NormalizeFeature(%q) = %q, want %q", in, got, want)
		}
	}
	if got := normalizeFeatures([]string{"SSE2", "sse2", "", "pni", "AESNI"}); !reflect.DeepEqual(got, []string{"aes", "sse2", "sse3"}) {
		t.Errorf("normalizeFeatures = %v", got)
	}
}
