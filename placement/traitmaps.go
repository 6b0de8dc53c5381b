package placement

// x86CPUTraits maps CPU feature names (as hypervisor/host normalises them,
// i.e. the names Nova's libvirt driver sees) to os-traits, as Nova's
// libvirt utils CPU_TRAITS_MAPPING does. svm and vmx set both the generic
// and the vendor trait.
var x86CPUTraits = map[string][]string{
	"3dnow":            {"HW_CPU_X86_3DNOW"},
	"abm":              {"HW_CPU_X86_ABM"},
	"aes":              {"HW_CPU_X86_AESNI"},
	"amx-bf16":         {"HW_CPU_X86_AMXBF16"},
	"amx-int8":         {"HW_CPU_X86_AMXINT8"},
	"amx-tile":         {"HW_CPU_X86_AMXTILE"},
	"avx":              {"HW_CPU_X86_AVX"},
	"avx2":             {"HW_CPU_X86_AVX2"},
	"avx512bw":         {"HW_CPU_X86_AVX512BW"},
	"avx512cd":         {"HW_CPU_X86_AVX512CD"},
	"avx512dq":         {"HW_CPU_X86_AVX512DQ"},
	"avx512er":         {"HW_CPU_X86_AVX512ER"},
	"avx512f":          {"HW_CPU_X86_AVX512F"},
	"avx512pf":         {"HW_CPU_X86_AVX512PF"},
	"avx512vl":         {"HW_CPU_X86_AVX512VL"},
	"avx512vnni":       {"HW_CPU_X86_AVX512VNNI"},
	"avx512vbmi":       {"HW_CPU_X86_AVX512VBMI"},
	"avx512ifma":       {"HW_CPU_X86_AVX512IFMA"},
	"avx512vbmi2":      {"HW_CPU_X86_AVX512VBMI2"},
	"avx512bitalg":     {"HW_CPU_X86_AVX512BITALG"},
	"vaes":             {"HW_CPU_X86_AVX512VAES"},
	"gfni":             {"HW_CPU_X86_AVX512GFNI"},
	"vpclmulqdq":       {"HW_CPU_X86_AVX512VPCLMULQDQ"},
	"avx512-vpopcntdq": {"HW_CPU_X86_AVX512VPOPCNTDQ"},
	"bmi1":             {"HW_CPU_X86_BMI"},
	"bmi2":             {"HW_CPU_X86_BMI2"},
	"pclmuldq":         {"HW_CPU_X86_CLMUL"},
	"f16c":             {"HW_CPU_X86_F16C"},
	"fma":              {"HW_CPU_X86_FMA3"},
	"fma4":             {"HW_CPU_X86_FMA4"},
	"mmx":              {"HW_CPU_X86_MMX"},
	"mpx":              {"HW_CPU_X86_MPX"},
	"sha-ni":           {"HW_CPU_X86_SHA"},
	"sse":              {"HW_CPU_X86_SSE"},
	"sse2":             {"HW_CPU_X86_SSE2"},
	"sse3":             {"HW_CPU_X86_SSE3"},
	"sse4.1":           {"HW_CPU_X86_SSE41"},
	"sse4.2":           {"HW_CPU_X86_SSE42"},
	"sse4a":            {"HW_CPU_X86_SSE4A"},
	"ssse3":            {"HW_CPU_X86_SSSE3"},
	"svm":              {"HW_CPU_X86_SVM", "HW_CPU_X86_AMD_SVM"},
	"tbm":              {"HW_CPU_X86_TBM"},
	"vmx":              {"HW_CPU_X86_VMX", "HW_CPU_X86_INTEL_VMX"},
	"xop":              {"HW_CPU_X86_XOP"},
}

// aarch64CPUTraits maps arm64 hwcap names to os-traits' HW_CPU_AARCH64_*
// (os_traits/hw/cpu/aarch64.py). Nova's libvirt driver has no such mapping;
// reporting them is our addition, so they are owned (and removed when
// absent) like the x86 ones.
var aarch64CPUTraits = map[string][]string{
	"fp": {"HW_CPU_AARCH64_FP"}, "asimd": {"HW_CPU_AARCH64_ASIMD"}, "evtstrm": {"HW_CPU_AARCH64_EVTSTRM"},
	"aes": {"HW_CPU_AARCH64_AES"}, "pmull": {"HW_CPU_AARCH64_PMULL"}, "sha1": {"HW_CPU_AARCH64_SHA1"},
	"sha2": {"HW_CPU_AARCH64_SHA2"}, "crc32": {"HW_CPU_AARCH64_CRC32"}, "fphp": {"HW_CPU_AARCH64_FPHP"},
	"asimdhp": {"HW_CPU_AARCH64_ASIMDHP"}, "asimdrdm": {"HW_CPU_AARCH64_ASIMDRDM"},
	"atomics": {"HW_CPU_AARCH64_ATOMICS"}, "jscvt": {"HW_CPU_AARCH64_JSCVT"}, "fcma": {"HW_CPU_AARCH64_FCMA"},
	"lrcpc": {"HW_CPU_AARCH64_LRCPC"}, "dcpop": {"HW_CPU_AARCH64_DCPOP"}, "sha3": {"HW_CPU_AARCH64_SHA3"},
	"sm3": {"HW_CPU_AARCH64_SM3"}, "sm4": {"HW_CPU_AARCH64_SM4"}, "asimddp": {"HW_CPU_AARCH64_ASIMDDP"},
	"sha512": {"HW_CPU_AARCH64_SHA512"}, "sve": {"HW_CPU_AARCH64_SVE"}, "cpuid": {"HW_CPU_AARCH64_CPUID"},
}

// hwArchTraits are os-traits' HW_ARCH_* names (os_traits/hw/arch.py), keyed
// by Nova architecture name.
var hwArchTraits = map[string]string{
	"alpha": "HW_ARCH_ALPHA", "armv6": "HW_ARCH_ARMV6", "armv7": "HW_ARCH_ARMV7", "armv7b": "HW_ARCH_ARMV7B",
	"aarch64": "HW_ARCH_AARCH64", "cris": "HW_ARCH_CRIS", "i686": "HW_ARCH_I686", "ia64": "HW_ARCH_IA64",
	"lm32": "HW_ARCH_LM32", "m68k": "HW_ARCH_M68K", "microblaze": "HW_ARCH_MICROBLAZE",
	"microblazeel": "HW_ARCH_MICROBLAZEEL", "mips": "HW_ARCH_MIPS", "mipsel": "HW_ARCH_MIPSEL",
	"mips64": "HW_ARCH_MIPS64", "mips64el": "HW_ARCH_MIPS64EL", "openrisc": "HW_ARCH_OPENRISC",
	"parisc": "HW_ARCH_PARISC", "parisc64": "HW_ARCH_PARISC64", "ppc": "HW_ARCH_PPC", "ppcle": "HW_ARCH_PPCLE",
	"ppc64": "HW_ARCH_PPC64", "ppc64le": "HW_ARCH_PPC64LE", "ppcemb": "HW_ARCH_PPCEMB", "s390": "HW_ARCH_S390",
	"s390x": "HW_ARCH_S390X", "sh4": "HW_ARCH_SH4", "sh4eb": "HW_ARCH_SH4EB", "sparc": "HW_ARCH_SPARC",
	"sparc64": "HW_ARCH_SPARC64", "unicore32": "HW_ARCH_UNICORE32", "x86_64": "HW_ARCH_X86_64",
	"xtensa": "HW_ARCH_XTENSA", "xtensaeb": "HW_ARCH_XTENSAEB",
}

// computeArchTraits are os-traits' COMPUTE_ARCH_* (emulated architectures).
var computeArchTraits = map[string]string{
	"aarch64": "COMPUTE_ARCH_AARCH64", "mipsel": "COMPUTE_ARCH_MIPSEL", "ppc64le": "COMPUTE_ARCH_PPC64LE",
	"riscv64": "COMPUTE_ARCH_RISCV64", "s390x": "COMPUTE_ARCH_S390X", "x86_64": "COMPUTE_ARCH_X86_64",
}

// Traits the compute node sets whatever its driver.
const (
	TraitComputeNode     = "COMPUTE_NODE"
	TraitStatusDisabled  = "COMPUTE_STATUS_DISABLED"
	TraitOwnerNova       = "OWNER_NOVA"
	TraitHyperthreading  = "HW_CPU_HYPERTHREADING"
	TraitRemoteManaged   = "COMPUTE_REMOTE_MANAGED_PORTS"
	imageTypeTraitPrefix = "COMPUTE_IMAGE_TYPE_"
)
