//go:build linux

package host

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"strings"
	"sync"
	"time"

	"golang.org/x/sys/unix"
)

// Where procps' uptime looks for users: logind's sessions when systemd booted the host (sd_booted: the
// directory /run/systemd/system exists), otherwise utmp.
const (
	systemdRunDir     = "/run/systemd/system"
	logindSessionsDir = "/run/systemd/sessions"
	utmpPath          = "/var/run/utmp"
)

// ReadLoad reads uptime(1)'s figures: CLOCK_BOOTTIME (what /proc/uptime shows), sysinfo(2)'s load averages
// rounded as /proc/loadavg rounds them, and the users as procps counts them.
func ReadLoad() (Load, error) {
	var ts unix.Timespec
	if err := unix.ClockGettime(unix.CLOCK_BOOTTIME, &ts); err != nil {
		return Load{}, fmt.Errorf("uptime: clock_gettime(CLOCK_BOOTTIME): %w", err)
	}
	var si unix.Sysinfo_t
	if err := unix.Sysinfo(&si); err != nil {
		return Load{}, fmt.Errorf("uptime: sysinfo: %w", err)
	}
	l := Load{Uptime: time.Duration(ts.Nano()), Users: linuxUsers()}
	for i, v := range si.Loads {
		l.Averages[i] = LinuxLoadAverage(uint64(v))
	}
	return l, nil
}

// linuxUsers is procps' count_users: logind's session count on a systemd host (sd_get_sessions counts the
// regular files in its sessions directory), else the USER_PROCESS records of utmp (none when it is absent).
func linuxUsers() int {
	if systemdBooted() {
		entries, err := os.ReadDir(logindSessionsDir)
		if err != nil && !errors.Is(err, fs.ErrNotExist) {
			return -1
		}
		n := 0
		for _, e := range entries {
			if e.Type().IsRegular() && !strings.HasPrefix(e.Name(), ".") {
				n++
			}
		}
		return n
	}
	b, err := os.ReadFile(utmpPath)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return 0
		}
		return -1
	}
	return CountUtmpUsers(b)
}

// systemdBooted is sd_booted(), asked once: what init booted the host does not change until the next boot.
var systemdBooted = sync.OnceValue(func() bool {
	fi, err := os.Stat(systemdRunDir)
	return err == nil && fi.IsDir()
})

// Refresh re-reads the values of h that change while the host runs (memory, uptime), keeping what was
// discovered once (CPU, topology, hypervisor version), so a periodic audit does not rediscover the host.
func Refresh(h *Host) error {
	memText, err := os.ReadFile("/proc/meminfo")
	if err != nil {
		return fmt.Errorf("host refresh: %w", err)
	}
	mi, err := ParseLinuxMemInfo(string(memText))
	if err != nil {
		return fmt.Errorf("host refresh: %w", err)
	}
	h.MemoryMB, h.MemoryFreeMB = mi.TotalMB, mi.FreeMB
	var ts unix.Timespec
	if err := unix.ClockGettime(unix.CLOCK_BOOTTIME, &ts); err == nil {
		h.Uptime = time.Duration(ts.Nano())
	}
	return nil
}
