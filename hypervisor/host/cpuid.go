package host

import (
	"runtime"

	"golang.org/x/sys/cpu"
)

// cpuidFeatures lists the features the running CPU reports through CPUID
// (amd64) or the ID registers (arm64), for when the kernel's boot messages
// are not available. It sees fewer flags than the kernel prints (no
// vmx/svm, for instance), which is why it is only a fallback.
func cpuidFeatures() []string {
	var on []string
	add := func(has bool, names ...string) {
		if has {
			on = append(on, names...)
		}
	}
	switch runtime.GOARCH {
	case "amd64", "386":
		x := cpu.X86
		add(x.HasAES, "aes")
		add(x.HasADX, "adx")
		add(x.HasAVX, "avx")
		add(x.HasAVX2, "avx2")
		add(x.HasAVX512F, "avx512f")
		add(x.HasAVX512CD, "avx512cd")
		add(x.HasAVX512ER, "avx512er")
		add(x.HasAVX512PF, "avx512pf")
		add(x.HasAVX512VL, "avx512vl")
		add(x.HasAVX512BW, "avx512bw")
		add(x.HasAVX512DQ, "avx512dq")
		add(x.HasAVX512IFMA, "avx512ifma")
		add(x.HasAVX512VBMI, "avx512vbmi")
		add(x.HasAVX512VPOPCNTDQ, "avx512-vpopcntdq")
		add(x.HasAVX512VNNI, "avx512vnni")
		add(x.HasAVX512GFNI, "gfni")
		add(x.HasAVX512VAES, "vaes")
		add(x.HasAVX512VPCLMULQDQ, "vpclmulqdq")
		add(x.HasAVX512VBMI2, "avx512vbmi2")
		add(x.HasAVX512BITALG, "avx512bitalg")
		add(x.HasAVX512BF16, "avx512-bf16")
		add(x.HasAMXTile, "amx-tile")
		add(x.HasAMXInt8, "amx-int8")
		add(x.HasAMXBF16, "amx-bf16")
		add(x.HasBMI1, "bmi1")
		add(x.HasBMI2, "bmi2")
		add(x.HasCX16, "cx16")
		add(x.HasERMS, "erms")
		add(x.HasF16C, "f16c")
		add(x.HasFMA, "fma")
		add(x.HasLAHF, "lahf_lm")
		add(x.HasMOVBE, "movbe")
		add(x.HasOSXSAVE, "osxsave")
		add(x.HasPCLMULQDQ, "pclmuldq")
		add(x.HasPOPCNT, "popcnt")
		add(x.HasRDRAND, "rdrand")
		add(x.HasRDSEED, "rdseed")
		add(x.HasSSE2, "sse2", "sse", "mmx") // SSE2 implies SSE and MMX
		add(x.HasSSE3, "sse3")
		add(x.HasSSSE3, "ssse3")
		add(x.HasSSE41, "sse4.1")
		add(x.HasSSE42, "sse4.2")
		add(x.HasXSAVE, "xsave")
	case "arm64":
		a := cpu.ARM64
		add(a.HasFP, "fp")
		add(a.HasASIMD, "asimd")
		add(a.HasEVTSTRM, "evtstrm")
		add(a.HasAES, "aes")
		add(a.HasPMULL, "pmull")
		add(a.HasSHA1, "sha1")
		add(a.HasSHA2, "sha2")
		add(a.HasCRC32, "crc32")
		add(a.HasATOMICS, "atomics")
		add(a.HasFPHP, "fphp")
		add(a.HasASIMDHP, "asimdhp")
		add(a.HasCPUID, "cpuid")
		add(a.HasASIMDRDM, "asimdrdm")
		add(a.HasJSCVT, "jscvt")
		add(a.HasFCMA, "fcma")
		add(a.HasLRCPC, "lrcpc")
		add(a.HasDCPOP, "dcpop")
		add(a.HasSHA3, "sha3")
		add(a.HasSM3, "sm3")
		add(a.HasSM4, "sm4")
		add(a.HasASIMDDP, "asimddp")
		add(a.HasSHA512, "sha512")
		add(a.HasSVE, "sve")
		add(a.HasSVE2, "sve2")
		add(a.HasASIMDFHM, "asimdfhm")
		add(a.HasDIT, "dit")
		add(a.HasI8MM, "i8mm")
	}
	return normalizeFeatures(on)
}
