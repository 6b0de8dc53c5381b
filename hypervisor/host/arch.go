package host

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/novabsd/novabsd/internal/version"
)

// NovaArch maps a kernel's machine architecture name (FreeBSD
// hw.machine_arch, Linux uname machine, Go's GOARCH) to the name Nova's
// Architecture field uses. Unknown names are returned lower-cased so Nova
// can reject them with its own message.
func NovaArch(machine string) string {
	m := strings.ToLower(strings.TrimSpace(machine))
	switch m {
	case "amd64", "x86_64", "x64":
		return "x86_64"
	case "arm64", "aarch64":
		return "aarch64"
	case "i386", "i486", "i586", "i686", "386":
		return "i686"
	case "armv7", "armv7l", "arm":
		return "armv7l"
	case "powerpc64le", "ppc64le":
		return "ppc64le"
	case "riscv64":
		return "riscv64"
	}
	return m
}

// EncodeVersion encodes a version as libvirt's virConnectGetVersion does and
// as ComputeNode.hypervisor_version carries it.
func EncodeVersion(major, minor, micro int) int {
	return major*1000000 + minor*1000 + micro
}

// OSRelDateVersion turns FreeBSD's kern.osreldate (MMmmRRR: 1403000 is
// 14.3, 1500012 is 15.0 with revision 12) into the libvirt-style encoded
// version used for hypervisor_version, so newer hosts compare higher as
// Nova's hypervisor version weigher expects.
func OSRelDateVersion(osreldate int) (int, error) {
	if osreldate < 100000 || osreldate > 99999999 {
		return 0, &ParseError{Source: "kern.osreldate", Value: strconv.Itoa(osreldate),
			Err: fmt.Errorf("not a MMmmRRR release date")}
	}
	major := osreldate / 100000
	minor := (osreldate / 1000) % 100
	rev := osreldate % 1000
	return EncodeVersion(major, minor, rev), nil
}

// ParseQEMUVersion reads the first line of `qemu-system-* --version`
// ("QEMU emulator version 10.0.2 (Debian 1:10.0.2+ds-1)") and returns the
// encoded version.
func ParseQEMUVersion(out string) (int, error) {
	line, _, _ := strings.Cut(strings.TrimSpace(out), "\n")
	const marker = "version "
	i := strings.Index(line, marker)
	if i < 0 {
		return 0, &ParseError{Source: "qemu --version", Value: line, Err: fmt.Errorf("no %q", strings.TrimSpace(marker))}
	}
	field := strings.Fields(line[i+len(marker):])
	if len(field) == 0 {
		return 0, &ParseError{Source: "qemu --version", Value: line, Err: fmt.Errorf("empty version")}
	}
	// Only the leading "major.minor[.micro]": older builds print "2.11.1(Debian ...)" with no space, and a
	// fourth part would be a packager's.
	num := field[0][:len(field[0])-len(strings.TrimLeft(field[0], "0123456789."))]
	if parts := strings.SplitN(num, ".", 4); len(parts) > 3 {
		num = strings.Join(parts[:3], ".")
	}
	v, err := version.Parse(strings.TrimSuffix(num, "."))
	if err != nil {
		return 0, &ParseError{Source: "qemu --version", Value: line, Err: err}
	}
	return EncodeVersion(v.Major, v.Minor, v.Patch), nil
}
