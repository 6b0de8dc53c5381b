package host

import (
	"bufio"
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"time"
)

// FreeBSDSysctls holds sysctl values as `sysctl -n` prints them, keyed by
// OID. The FreeBSD reader fills it from the kernel; tests fill it from
// recorded `sysctl` output.
type FreeBSDSysctls map[string]string

// FreeBSDOIDs lists the sysctls ParseFreeBSD reads. Those under hw.vmm
// exist only once vmm.ko is loaded; the others always exist.
var FreeBSDOIDs = []string{
	"kern.hostname", "kern.osrelease", "kern.osreldate", "kern.boottime",
	"hw.ncpu", "hw.physmem", "hw.pagesize", "hw.model", "hw.machine_arch",
	"kern.smp.cores", "kern.smp.threads_per_core", "vm.ndomains",
	"vm.stats.vm.v_free_count", "vm.stats.vm.v_inactive_count",
	"hw.vmm.maxcpu", "hw.vmm.vmx.initialized", "hw.vmm.vmx.cap.unrestricted_guest",
	"hw.vmm.svm.features", "hw.vmm.iommu.enable", "hw.vmm.iommu.initialized",
}

// ParseSysctlOutput reads `sysctl OID...` output ("name: value" lines) into
// FreeBSDSysctls. Lines without a ": " separator continue the previous
// value, as multi-line values (kern.sched.topology_spec) do.
func ParseSysctlOutput(text string) FreeBSDSysctls {
	// Lines are gathered per OID and joined once: appending to the map's
	// string line by line would copy a long value once per line.
	lines := map[string][]string{}
	last := ""
	sc := bufio.NewScanner(strings.NewReader(text))
	sc.Buffer(make([]byte, 64*1024), 1024*1024)
	for sc.Scan() {
		line := sc.Text()
		name, value, ok := strings.Cut(line, ": ")
		if ok && !strings.ContainsAny(name, " \t<") {
			lines[name] = []string{value}
			last = name
			continue
		}
		if last != "" {
			lines[last] = append(lines[last], line)
		}
	}
	out := make(FreeBSDSysctls, len(lines))
	for name, l := range lines {
		out[name] = strings.Join(l, "\n")
	}
	return out
}

func (s FreeBSDSysctls) str(oid string) (string, bool) {
	v, ok := s[oid]
	return strings.TrimSpace(v), ok
}

func (s FreeBSDSysctls) int(oid string) (int64, bool, error) {
	v, ok := s.str(oid)
	if !ok {
		return 0, false, nil
	}
	n, err := strconv.ParseInt(v, 10, 64)
	if err != nil {
		// u_int values such as hw.vmm.svm.features may exceed int64 only in
		// theory; keep them as unsigned to be exact.
		u, uerr := strconv.ParseUint(v, 10, 64)
		if uerr != nil {
			return 0, true, &ParseError{Source: "sysctl " + oid, Value: v, Err: err}
		}
		n = int64(u)
	}
	return n, true, nil
}

func (s FreeBSDSysctls) mustInt(oid string) (int64, error) {
	n, ok, err := s.int(oid)
	if err != nil {
		return 0, err
	}
	if !ok {
		return 0, &ParseError{Source: "sysctl " + oid, Err: fmt.Errorf("missing")}
	}
	return n, nil
}

// svmUninitialised is hw.vmm.svm.features before svm_init ran (~0U): what
// an Intel host, or an AMD host without usable SVM, reports.
const svmUninitialised = 0xffffffff

// ParseFreeBSD builds a Host from sysctl values and the boot messages
// (/var/run/dmesg.boot, which holds the CPU feature lines). now is the
// current time, used for the uptime.
func ParseFreeBSD(s FreeBSDSysctls, dmesgBoot string, now time.Time) (*Host, error) {
	h := &Host{HypervisorType: "bhyve", NUMANodes: 1}
	h.Hostname, _ = s.str("kern.hostname")
	h.OSRelease, _ = s.str("kern.osrelease")

	machine, ok := s.str("hw.machine_arch")
	if !ok || machine == "" {
		return nil, &ParseError{Source: "sysctl hw.machine_arch", Err: fmt.Errorf("missing")}
	}
	h.Arch = NovaArch(machine)

	ncpu, err := s.mustInt("hw.ncpu")
	if err != nil {
		return nil, err
	}
	if ncpu < 1 {
		return nil, &ParseError{Source: "sysctl hw.ncpu", Value: strconv.FormatInt(ncpu, 10), Err: fmt.Errorf("must be at least 1")}
	}
	h.VCPUs = int(ncpu)

	physmem, err := s.mustInt("hw.physmem")
	if err != nil {
		return nil, err
	}
	h.MemoryMB = physmem / (1024 * 1024)
	if err := parseFreeBSDFreeMemory(s, h); err != nil {
		return nil, err
	}

	osreldate, err := s.mustInt("kern.osreldate")
	if err != nil {
		return nil, err
	}
	h.OSRelDate = int(osreldate)
	if h.HypervisorVersion, err = OSRelDateVersion(int(osreldate)); err != nil {
		return nil, err
	}

	if n, ok, err := s.int("vm.ndomains"); err != nil {
		return nil, err
	} else if ok && n > 0 {
		h.NUMANodes = int(n)
	}
	if bt, ok := s.str("kern.boottime"); ok {
		sec, err := parseBootTime(bt)
		if err != nil {
			return nil, err
		}
		if up := now.Sub(time.Unix(sec, 0)); up > 0 {
			h.Uptime = up
		}
	}

	model, _ := s.str("hw.model")
	boot := parseDmesgCPU(dmesgBoot)
	h.CPU = CPU{Model: collapseSpaces(model), Features: boot.features, PhysAddrBits: boot.physAddrBits}
	if h.Arch == "aarch64" {
		// arm64 hw.model is "<implementer> <part> r<v>p<r>".
		f := strings.Fields(model)
		if len(f) >= 2 {
			h.CPU.Vendor, h.CPU.Model = f[0], f[1]
		}
	} else {
		h.CPU.Vendor = x86Vendor(boot.origin)
		if h.CPU.Vendor == "" {
			h.CPU.Vendor = vendorFromBrand(model)
		}
	}
	if err := parseFreeBSDTopology(s, boot, h); err != nil {
		return nil, err
	}
	if err := parseFreeBSDVirt(s, h); err != nil {
		return nil, err
	}
	if err := parseFreeBSDIOMMU(s, dmesgBoot, h); err != nil {
		return nil, err
	}
	return h, nil
}

// FreeBSDOutputs is everything FreeBSD discovery reads, as text: tests
// fill it from recorded outputs, Discover from the running host.
type FreeBSDOutputs struct {
	Sysctl FreeBSDSysctls
	// DmesgBoot is /var/run/dmesg.boot.
	DmesgBoot string
	// Pciconf is `pciconf -lv`, Usbconfig `usbconfig dump_device_desc`
	// (or `usbconfig list`), Ifconfig `ifconfig -a`, ZpoolList
	// `zpool list -Hp`.
	Pciconf, Usbconfig, Ifconfig, ZpoolList string
	// Problems are the optional commands that could not run, and why.
	Problems []string
}

// ParseFreeBSDOutputs builds the whole Host, devices included, from what
// FreeBSD discovery read.
func ParseFreeBSDOutputs(o FreeBSDOutputs, now time.Time) (*Host, error) {
	h, err := ParseFreeBSD(o.Sysctl, o.DmesgBoot, now)
	if err != nil {
		return nil, err
	}
	d := &h.Devices
	if d.PCI, err = ParsePciconf(o.Pciconf); err != nil {
		return nil, err
	}
	if d.USB, err = ParseUsbconfig(o.Usbconfig); err != nil {
		return nil, err
	}
	if d.Interfaces, err = ParseIfconfig(o.Ifconfig); err != nil {
		return nil, err
	}
	if d.Pools, err = ParseZpoolList(o.ZpoolList); err != nil {
		return nil, err
	}
	d.Problems = append([]string(nil), o.Problems...)
	return h, nil
}

// iommuUnitRE matches the boot message of an IOMMU unit attaching: Intel
// VT-d "dmar0: <DMA remap>" (sys/x86/iommu/intel_drv.c), AMD "amdiommu0:
// <DMA remap>" (sys/x86/iommu/amd_drv.c) or vmm.ko's own AMD-Vi driver
// "ivhd0: <AMD-Vi/IOMMU ivhd ...>" (sys/amd64/vmm/amd/ivhd_acpi.c).
var iommuUnitRE = regexp.MustCompile(`^((?:dmar|amdiommu)\d+): <DMA remap>|^(ivhd\d+): <AMD-Vi/IOMMU`)

// parseFreeBSDIOMMU reads vmm.ko's hw.vmm.iommu.enable and .initialized
// (sys/amd64/vmm/io/iommu.c) and the first IOMMU unit the boot messages
// name. enable is a tunable that defaults to 1, so its absence (vmm.ko not
// loaded, or arm64) reads as not initialised but not disabled either.
func parseFreeBSDIOMMU(s FreeBSDSysctls, dmesgBoot string, h *Host) error {
	io := IOMMU{}
	enable, ok, err := s.int("hw.vmm.iommu.enable")
	if err != nil {
		return err
	}
	io.Enabled = !ok || enable != 0
	if h.Arch != "x86_64" {
		io.Enabled = false // no bhyve IOMMU support outside amd64
	}
	init, _, err := s.int("hw.vmm.iommu.initialized")
	if err != nil {
		return err
	}
	io.Initialized = io.Enabled && init == 1
	sc := bufio.NewScanner(strings.NewReader(dmesgBoot))
	sc.Buffer(make([]byte, 64*1024), 1024*1024)
	for sc.Scan() {
		if m := iommuUnitRE.FindStringSubmatch(sc.Text()); m != nil {
			io.Hardware = m[1] + m[2]
			break
		}
	}
	h.Devices.IOMMU = io
	return nil
}

func parseFreeBSDFreeMemory(s FreeBSDSysctls, h *Host) error {
	page, ok, err := s.int("hw.pagesize")
	if err != nil || !ok {
		return err
	}
	var pages int64
	for _, oid := range []string{"vm.stats.vm.v_free_count", "vm.stats.vm.v_inactive_count"} {
		n, _, err := s.int(oid)
		if err != nil {
			return err
		}
		pages += n
	}
	h.MemoryFreeMB = pages * page / (1024 * 1024)
	return nil
}

var bootTimeRE = regexp.MustCompile(`sec\s*=\s*(\d+)`)

// parseBootTime accepts `sysctl -n kern.boottime` output
// ("{ sec = 1750000000, usec = 12 } Sun Jun 15 ...") or plain seconds.
func parseBootTime(v string) (int64, error) {
	if m := bootTimeRE.FindStringSubmatch(v); m != nil {
		v = m[1]
	}
	n, err := strconv.ParseInt(strings.TrimSpace(v), 10, 64)
	if err != nil {
		return 0, &ParseError{Source: "sysctl kern.boottime", Value: v, Err: err}
	}
	return n, nil
}

func parseFreeBSDTopology(s FreeBSDSysctls, boot dmesgCPU, h *Host) error {
	t := Topology{Sockets: 1, Threads: 1}
	// The boot line is only believed when its packages and threads fit in
	// hw.ncpu; larger numbers (a damaged dmesg.boot) would also overflow
	// their product to zero.
	if boot.packages > 0 && boot.packages <= h.VCPUs && boot.threads <= h.VCPUs {
		// "FreeBSD/SMP: 2 package(s) x 12 core(s) x 2 hardware threads";
		// cores per socket also absorbs AMD's "groups x cache groups".
		t.Sockets = boot.packages
		if boot.threads > 0 {
			t.Threads = boot.threads
		}
		t.Cores = h.VCPUs / (t.Sockets * t.Threads)
	} else {
		tpc, ok, err := s.int("kern.smp.threads_per_core")
		if err != nil {
			return err
		}
		if ok && tpc > 0 {
			t.Threads = int(tpc)
		}
		cores, ok, err := s.int("kern.smp.cores")
		if err != nil {
			return err
		}
		if ok && cores > 0 {
			t.Cores = int(cores)
		} else {
			t.Cores = h.VCPUs / t.Threads
		}
	}
	if t.Cores < 1 {
		t.Cores = 1
	}
	h.CPU.Topology = t
	return nil
}

func parseFreeBSDVirt(s FreeBSDSysctls, h *Host) error {
	v := Virt{}
	if n, ok, err := s.int("hw.vmm.maxcpu"); err != nil {
		return err
	} else if ok {
		v.MaxGuestVCPUs = int(n)
	}
	vmxInit, vmxOK, err := s.int("hw.vmm.vmx.initialized")
	if err != nil {
		return err
	}
	svm, svmOK, err := s.int("hw.vmm.svm.features")
	if err != nil {
		return err
	}
	switch {
	case h.Arch == "aarch64":
		// arm64 vmm.ko refuses to load without EL2, so its sysctls existing
		// means guests can run.
		v.Ready = v.MaxGuestVCPUs > 0
		v.UnrestrictedGuest = v.Ready
	case vmxOK && vmxInit == 1:
		v.Extension, v.Ready = "vmx", true
		ug, _, err := s.int("hw.vmm.vmx.cap.unrestricted_guest")
		if err != nil {
			return err
		}
		v.UnrestrictedGuest = ug == 1
	case svmOK && svm != 0 && svm != svmUninitialised:
		v.Extension, v.Ready, v.UnrestrictedGuest = "svm", true, true
	default:
		// vmm.ko not loaded (or failed to initialise): say what the CPU has.
		if h.CPU.HasFeature("vmx") {
			v.Extension = "vmx"
		} else if h.CPU.HasFeature("svm") {
			v.Extension = "svm"
		}
	}
	h.Virt = v
	return nil
}

// dmesgCPU is what the boot messages say about the boot CPU.
type dmesgCPU struct {
	origin   string
	features []string
	packages int
	threads  int
	// physAddrBits comes from arm64's "Memory Model Features 0 = <...,1TB PA>".
	physAddrBits int
}

var (
	// "  Features2=0x7ffafbff<SSE3,PCLMULQDQ,...>"
	x86FeatureLineRE = regexp.MustCompile(`^\s+((?:[A-Za-z0-9]+ )*Features?\d?(?: Extensions ID EBX)?)=0x[0-9a-fA-F]+<([^>]*)>`)
	// "  Instruction Set Attributes 0 = <DP,RDM,Atomic,CRC32,SHA2,SHA1,AES+PMULL>"
	armFeatureLineRE = regexp.MustCompile(`^\s*(Instruction Set Attributes \d|Processor Features \d)\s*=\s*<([^>]*)>`)
	originRE         = regexp.MustCompile(`Origin\s*=\s*"([^"]+)"`)
	smpRE            = regexp.MustCompile(`^FreeBSD/SMP: (\d+) package\(s\)(.*)$`)
	smpThreadsRE     = regexp.MustCompile(`x (\d+) hardware threads`)
	armPARangeRE     = regexp.MustCompile(`[<,](\d+)(GB|TB|PB) PA[,>]`)
)

// parseDmesgCPU extracts the CPU identification FreeBSD prints at boot
// (sys/x86/x86/identcpu.c, sys/arm64/arm64/identcpu.c, mp_x86.c).
func parseDmesgCPU(text string) dmesgCPU {
	var d dmesgCPU
	var flags []string
	sc := bufio.NewScanner(strings.NewReader(text))
	sc.Buffer(make([]byte, 64*1024), 1024*1024)
	for sc.Scan() {
		line := sc.Text()
		if d.origin == "" {
			if m := originRE.FindStringSubmatch(line); m != nil {
				d.origin = m[1]
			}
		}
		if m := x86FeatureLineRE.FindStringSubmatch(line); m != nil {
			flags = append(flags, x86DmesgFlags(m[1], m[2])...)
			continue
		}
		if m := armFeatureLineRE.FindStringSubmatch(line); m != nil {
			flags = append(flags, armDmesgFlags(m[2])...)
			continue
		}
		if m := armPARangeRE.FindStringSubmatch(line); m != nil && d.physAddrBits == 0 {
			d.physAddrBits = paRangeBits(m[1], m[2])
		}
		if m := smpRE.FindStringSubmatch(line); m != nil {
			d.packages, _ = strconv.Atoi(m[1])
			if t := smpThreadsRE.FindStringSubmatch(m[2]); t != nil {
				d.threads, _ = strconv.Atoi(t[1])
			}
		}
	}
	if len(flags) > 0 {
		d.features = normalizeFeatures(flags)
	}
	return d
}

// x86DmesgFlags splits one feature line. A few names mean different things
// on different lines: AMD's extended-feature IBPB/STIBP/SSBD are libvirt's
// ibpb/amd-stibp/amd-ssbd, Intel's leaf 7 EDX IBPB is spec-ctrl.
func x86DmesgFlags(label, list string) []string {
	var out []string
	for _, f := range strings.Split(list, ",") {
		f = strings.TrimSpace(f)
		if f == "" {
			continue
		}
		switch {
		case label == "AMD Extended Feature Extensions ID EBX":
			switch f {
			case "IBPB":
				f = "ibpb"
			case "STIBP":
				f = "amd-stibp"
			case "SSBD":
				f = "amd-ssbd"
			case "VIRT_SSBD":
				f = "virt-ssbd"
			case "IBRS":
				f = "ibrs"
			}
		case strings.HasPrefix(label, "Structured Extended Features") && f == "IBPB":
			f = "spec-ctrl"
		case label == "XSAVE Features" && f == "XINUSE":
			f = "xgetbv1"
		}
		out = append(out, f)
	}
	return out
}

// armFreeBSDFlags maps FreeBSD's arm64 ID register field names to the
// Linux hwcap names os-traits' HW_CPU_AARCH64_* traits are named after.
var armFreeBSDFlags = map[string][]string{
	"AES":         {"aes"},
	"AES+PMULL":   {"aes", "pmull"},
	"SHA1":        {"sha1"},
	"SHA2":        {"sha2"},
	"SHA2+SHA512": {"sha2", "sha512"},
	"CRC32":       {"crc32"},
	"Atomic":      {"atomics"},
	"RDM":         {"asimdrdm"},
	"SHA3":        {"sha3"},
	"SM3":         {"sm3"},
	"SM4":         {"sm4"},
	"DP":          {"asimddp"},
	"DotProd":     {"asimddp"},
	"FHM":         {"asimdfhm"},
	"CondM-8.4":   {"flagm"},
	"CondM-8.5":   {"flagm", "flagm2"},
	"RNG":         {"rng"},
	"DCPoP":       {"dcpop"},
	"DCCVADP":     {"dcpop", "dcpodp"},
	"JSCVT":       {"jscvt"},
	"FCMA":        {"fcma"},
	"RCPC":        {"lrcpc"},
	"RCPC-8.3":    {"lrcpc"},
	"RCPC-8.4":    {"lrcpc", "ilrcpc"},
	"FRINTTS":     {"frint"},
	"SB":          {"sb"},
	"BF16":        {"bf16"},
	"I8MM":        {"i8mm"},
	"FP":          {"fp"},
	"FP+HP":       {"fp", "fphp"},
	"AdvSIMD":     {"asimd"},
	"AdvSIMD+HP":  {"asimd", "asimdhp"},
	"SVE":         {"sve"},
	"PSTATE.DIT":  {"dit"},
	"DIT":         {"dit"},
}

func armDmesgFlags(list string) []string {
	var out []string
	for _, f := range strings.Split(list, ",") {
		if m, ok := armFreeBSDFlags[strings.TrimSpace(f)]; ok {
			out = append(out, m...)
		}
	}
	if len(out) > 0 {
		// FreeBSD emulates MRS reads of the ID registers for user space, as
		// Linux's "cpuid" hwcap announces.
		out = append(out, "cpuid")
	}
	return out
}

// paRangeBits turns FreeBSD's PARange text ("1TB") into address bits.
func paRangeBits(num, unit string) int {
	n, err := strconv.Atoi(num)
	if err != nil || n <= 0 {
		return 0
	}
	bits := map[string]int{"GB": 30, "TB": 40, "PB": 50}[unit]
	for n > 1 {
		if n%2 != 0 {
			return 0
		}
		n /= 2
		bits++
	}
	return bits
}

func vendorFromBrand(brand string) string {
	switch {
	case strings.Contains(brand, "Intel"):
		return "Intel"
	case strings.Contains(brand, "AMD"):
		return "AMD"
	case strings.Contains(brand, "Hygon"):
		return "Hygon"
	}
	return ""
}

func collapseSpaces(s string) string { return strings.Join(strings.Fields(s), " ") }
