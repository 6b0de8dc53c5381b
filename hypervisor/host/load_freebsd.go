//go:build freebsd

package host

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"time"

	"golang.org/x/sys/unix"
)

// utxActivePath holds the utmpx records of the users logged in now.
const utxActivePath = "/var/run/utx.active"

// ReadLoad reads uptime(1)'s figures as w(1) does: CLOCK_UPTIME, vm.loadavg and the USER_PROCESS records of
// utx.active.
func ReadLoad() (Load, error) {
	var ts unix.Timespec
	if err := unix.ClockGettime(unix.CLOCK_UPTIME, &ts); err != nil {
		return Load{}, fmt.Errorf("uptime: clock_gettime(CLOCK_UPTIME): %w", err)
	}
	raw, err := unix.SysctlRaw("vm.loadavg")
	if err != nil {
		return Load{}, fmt.Errorf("uptime: sysctl vm.loadavg: %w", err)
	}
	avg, err := ParseFreeBSDLoadavg(raw)
	if err != nil {
		return Load{}, fmt.Errorf("uptime: %w", err)
	}
	l := Load{Uptime: time.Duration(ts.Nano()), Averages: avg}
	switch b, err := os.ReadFile(utxActivePath); {
	case err == nil:
		l.Users = CountUtxUsers(b)
	case errors.Is(err, fs.ErrNotExist):
		l.Users = 0
	default:
		l.Users = -1
	}
	return l, nil
}

// Refresh re-reads the values of h that change while the host runs (memory, uptime), keeping what was
// discovered once (CPU, topology, hypervisor version), so a periodic audit does not rediscover the host.
func Refresh(h *Host) error {
	s := FreeBSDSysctls{}
	for _, oid := range []string{"hw.physmem", "hw.pagesize", "vm.stats.vm.v_free_count", "vm.stats.vm.v_inactive_count"} {
		var v uint64
		var err error
		if oid == "hw.physmem" {
			v, err = unix.SysctlUint64(oid)
		} else {
			var n uint32
			n, err = unix.SysctlUint32(oid)
			v = uint64(n)
		}
		if err != nil {
			return fmt.Errorf("host refresh: sysctl %s: %w", oid, err)
		}
		s[oid] = fmt.Sprint(v)
	}
	physmem, err := s.mustInt("hw.physmem")
	if err != nil {
		return fmt.Errorf("host refresh: %w", err)
	}
	h.MemoryMB = physmem / (1024 * 1024)
	if err := parseFreeBSDFreeMemory(s, h); err != nil {
		return fmt.Errorf("host refresh: %w", err)
	}
	var ts unix.Timespec
	if err := unix.ClockGettime(unix.CLOCK_UPTIME, &ts); err == nil {
		h.Uptime = time.Duration(ts.Nano())
	}
	return nil
}
