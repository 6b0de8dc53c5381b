package host

import (
	"sort"
	"strings"
)

// featureAliases maps kernel flag names (Linux /proc/cpuinfo, FreeBSD
// dmesg, both lower-cased) to the names Nova's libvirt driver uses for the
// same feature. Names that are already the same are not listed. Nova maps
// "sse3" (not libvirt's "pni") to HW_CPU_X86_SSE3, so SSE3 is spelled sse3.
var featureAliases = map[string]string{
	// Linux /proc/cpuinfo spellings.
	"pni":                "sse3",
	"pclmulqdq":          "pclmuldq",
	"sse4_1":             "sse4.1",
	"sse4_2":             "sse4.2",
	"sha_ni":             "sha-ni",
	"avx512_vpopcntdq":   "avx512-vpopcntdq",
	"avx512_vnni":        "avx512vnni",
	"avx512_vbmi2":       "avx512vbmi2",
	"avx512_bitalg":      "avx512bitalg",
	"avx512_bf16":        "avx512-bf16",
	"avx512_fp16":        "avx512-fp16",
	"avx512_4vnniw":      "avx512-4vnniw",
	"avx512_4fmaps":      "avx512-4fmaps",
	"avx_vnni":           "avx-vnni",
	"amx_bf16":           "amx-bf16",
	"amx_int8":           "amx-int8",
	"amx_tile":           "amx-tile",
	"tsc_deadline_timer": "tsc-deadline",
	"md_clear":           "md-clear",
	"spec_ctrl":          "spec-ctrl",
	"arch_capabilities":  "arch-capabilities",
	"flush_l1d":          "flush-l1d",
	"intel_pt":           "intel-pt",
	"virt_ssbd":          "virt-ssbd",
	"amd_ssbd":           "amd-ssbd",
	"amd_stibp":          "amd-stibp",
	// FreeBSD dmesg spellings (sys/x86/x86/identcpu.c).
	"mon":             "monitor",
	"tscdlt":          "tsc-deadline",
	"aesni":           "aes",
	"htt":             "ht",
	"hv":              "hypervisor",
	"page1gb":         "pdpe1gb",
	"lahf":            "lahf_lm",
	"cmp":             "cmp_legacy",
	"cr8":             "cr8legacy",
	"cr8_legacy":      "cr8legacy",
	"mas":             "misalignsse",
	"prefetch":        "3dnowprefetch",
	"topology":        "topoext",
	"pcxc":            "perfctr_core",
	"pnxc":            "perfctr_nb",
	"tscadj":          "tsc_adjust",
	"proctrace":       "intel-pt",
	"sha":             "sha-ni",
	"mmx+":            "mmxext",
	"3dnow!":          "3dnow",
	"3dnow!+":         "3dnowext",
	"l1dfl":           "flush-l1d",
	"arch_cap":        "arch-capabilities",
	"core_cap":        "core-capability",
	"psn":             "pn",
	"clfsh":           "clflush",
	"dts":             "ds",
	"ffxsr":           "fxsr_opt",
	"avx512vpopcntdq": "avx512-vpopcntdq",
	"amxbf16":         "amx-bf16",
	"amxint8":         "amx-int8",
	"amxtile":         "amx-tile",
	"avx512fp16":      "avx512-fp16",
}

// NormalizeFeature returns the name Nova's libvirt driver uses for a CPU
// flag as a kernel prints it.
func NormalizeFeature(flag string) string {
	f := strings.ToLower(strings.TrimSpace(flag))
	if a, ok := featureAliases[f]; ok {
		return a
	}
	return f
}

// normalizeFeatures normalises, de-duplicates and sorts flags, dropping
// empty names.
func normalizeFeatures(flags []string) []string {
	set := make(map[string]struct{}, len(flags))
	for _, f := range flags {
		if n := NormalizeFeature(f); n != "" {
			set[n] = struct{}{}
		}
	}
	out := make([]string, 0, len(set))
	for f := range set {
		out = append(out, f)
	}
	sort.Strings(out)
	return out
}

// x86Vendor maps a CPUID vendor string to libvirt's vendor name.
func x86Vendor(origin string) string {
	switch strings.TrimSpace(origin) {
	case "GenuineIntel":
		return "Intel"
	case "AuthenticAMD":
		return "AMD"
	case "HygonGenuine":
		return "Hygon"
	case "CentaurHauls":
		return "VIA"
	case "  Shanghai  ", "Shanghai":
		return "Zhaoxin"
	}
	return strings.TrimSpace(origin)
}

// armImplementers maps MIDR implementer codes to libvirt's arm vendor names
// (cpu_map/arm_vendors.xml).
var armImplementers = map[int]string{
	0x41: "ARM",
	0x42: "Broadcom",
	0x43: "Cavium",
	0x46: "Fujitsu",
	0x48: "HiSilicon",
	0x4e: "NVIDIA",
	0x50: "APM",
	0x51: "Qualcomm",
	0x61: "Apple",
	0x6d: "Microsoft",
	0xc0: "Ampere",
}

// armParts names the common ARM Ltd cores by MIDR part number.
var armParts = map[int]string{
	0xd03: "Cortex-A53",
	0xd04: "Cortex-A35",
	0xd05: "Cortex-A55",
	0xd07: "Cortex-A57",
	0xd08: "Cortex-A72",
	0xd09: "Cortex-A73",
	0xd0a: "Cortex-A75",
	0xd0b: "Cortex-A76",
	0xd0c: "Neoverse-N1",
	0xd0d: "Cortex-A77",
	0xd40: "Neoverse-V1",
	0xd41: "Cortex-A78",
	0xd49: "Neoverse-N2",
	0xd4f: "Neoverse-V2",
	0xd8e: "Neoverse-N3",
	0xd84: "Neoverse-V3",
}
