//go:build freebsd

package host

import (
	"errors"
	"fmt"
	"os"
	"strconv"
	"time"

	"golang.org/x/sys/unix"
)

// dmesgBootPath holds the kernel messages of the current boot, including
// the CPU feature lines.
const dmesgBootPath = "/var/run/dmesg.boot"

// oidKind says how to read an OID with sysctl(3).
type oidKind int

const (
	oidString oidKind = iota
	oidInt32          // int and u_int
	oidUint64         // u_long
	oidTimeval
)

var freebsdOIDKinds = map[string]oidKind{
	"kern.hostname": oidString, "kern.osrelease": oidString, "hw.model": oidString,
	"hw.machine_arch": oidString, "kern.boottime": oidTimeval, "hw.physmem": oidUint64,
}

// Discover reads this FreeBSD host through sysctl(3) and
// /var/run/dmesg.boot. Features fall back to CPUID/ID registers when the
// boot messages are gone.
func Discover() (*Host, error) {
	s, err := readFreeBSDSysctls()
	if err != nil {
		return nil, fmt.Errorf("host discovery: %w", err)
	}
	dmesg, _ := os.ReadFile(dmesgBootPath) // absent in jails; features fall back below
	h, err := ParseFreeBSD(s, string(dmesg), time.Now())
	if err != nil {
		return nil, fmt.Errorf("host discovery: %w", err)
	}
	if len(h.CPU.Features) == 0 {
		h.CPU.Features = cpuidFeatures()
	}
	return h, nil
}

func readFreeBSDSysctls() (FreeBSDSysctls, error) {
	s := FreeBSDSysctls{}
	for _, oid := range FreeBSDOIDs {
		var v string
		var err error
		switch freebsdOIDKinds[oid] {
		case oidString:
			v, err = unix.Sysctl(oid)
		case oidUint64:
			var n uint64
			n, err = unix.SysctlUint64(oid)
			v = strconv.FormatUint(n, 10)
		case oidTimeval:
			var tv *unix.Timeval
			tv, err = unix.SysctlTimeval(oid)
			if err == nil {
				v = strconv.FormatInt(int64(tv.Sec), 10)
			}
		default:
			var n uint32
			n, err = unix.SysctlUint32(oid)
			v = strconv.FormatInt(int64(int32(n)), 10)
			if oid == "hw.vmm.svm.features" || oid == "hw.vmm.maxcpu" ||
				oid == "vm.stats.vm.v_free_count" || oid == "vm.stats.vm.v_inactive_count" {
				v = strconv.FormatUint(uint64(n), 10) // u_int
			}
		}
		if errors.Is(err, unix.ENOENT) {
			continue // hw.vmm.* before vmm.ko loads
		}
		if err != nil {
			return nil, fmt.Errorf("sysctl %s: %w", oid, err)
		}
		s[oid] = v
	}
	return s, nil
}
