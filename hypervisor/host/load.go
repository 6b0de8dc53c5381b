package host

import (
	"encoding/binary"
	"fmt"
	"time"
)

// Load is what uptime(1) reports: time since boot, users logged in and the 1, 5 and 15 minute load averages.
// Reading it costs a few system calls and at most one small file, never a discovery of the host.
type Load struct {
	// Uptime is the time since boot.
	Uptime time.Duration
	// Users is the number of login sessions as uptime(1) counts them (-1 when it cannot tell).
	Users int
	// Averages are the load averages, already rounded as the kernel shows them where it rounds.
	Averages [3]float64
}

// Linux load averages are fixed point with 11 fractional bits (FSHIFT); sysinfo(2) shifts them to 16.
const (
	linuxFShift      = 11
	linuxSILoadShift = 16
)

// LinuxLoadAverage converts one of sysinfo(2)'s loads to the value /proc/loadavg prints (and procps reads back):
// the kernel adds FIXED_1/200 and truncates to hundredths (fs/proc/loadavg.c LOAD_INT/LOAD_FRAC).
func LinuxLoadAverage(siLoad uint64) float64 {
	a := siLoad>>(linuxSILoadShift-linuxFShift) + (1<<linuxFShift)/200
	whole := a >> linuxFShift
	frac := ((a & (1<<linuxFShift - 1)) * 100) >> linuxFShift
	return float64(whole*100+frac) / 100 // the double nearest the printed hundredths, as procps reads it back
}

// Record layout of glibc's struct utmp on Linux (x86_64, aarch64; the 64-bit ABIs share it): 384 bytes,
// ut_type a short at offset 0, ut_user 32 bytes at offset 44.
const (
	utmpRecordSize  = 384
	utmpUserOffset  = 44
	utmpUserProcess = 7
)

// CountUtmpUsers counts the USER_PROCESS records with a user name in the contents of a Linux utmp file
// (/var/run/utmp), as procps' uptime does without logind.
func CountUtmpUsers(b []byte) int {
	n := 0
	for ; len(b) >= utmpRecordSize; b = b[utmpRecordSize:] {
		if int16(binary.NativeEndian.Uint16(b[0:2])) == utmpUserProcess && b[utmpUserOffset] != 0 {
			n++
		}
	}
	return n
}

// Record layout of FreeBSD's utx.active (struct futx in lib/libc/gen/utxdb.h, packed): fu_type one byte, then
// fu_tv (8), fu_id (8), fu_pid (4), fu_user (32) ... 197 bytes in all.
const (
	futxRecordSize  = 197
	futxUserProcess = 4
)

// CountUtxUsers counts the USER_PROCESS records in the contents of FreeBSD's /var/run/utx.active, as w(1) does.
func CountUtxUsers(b []byte) int {
	n := 0
	for ; len(b) >= futxRecordSize; b = b[futxRecordSize:] {
		if b[0] == futxUserProcess {
			n++
		}
	}
	return n
}

// ParseFreeBSDLoadavg reads the vm.loadavg sysctl (struct loadavg: three 32-bit fixpt_t, then the long fscale
// at offset 16 on the 64-bit platforms) as getloadavg(3) does.
func ParseFreeBSDLoadavg(raw []byte) ([3]float64, error) {
	var out [3]float64
	if len(raw) < 24 {
		return out, &ParseError{Source: "sysctl vm.loadavg", Err: fmt.Errorf("%d bytes, want 24", len(raw))}
	}
	fscale := binary.NativeEndian.Uint64(raw[16:24])
	if fscale == 0 {
		return out, &ParseError{Source: "sysctl vm.loadavg", Err: fmt.Errorf("fscale is 0")}
	}
	for i := range out {
		out[i] = float64(binary.NativeEndian.Uint32(raw[4*i:])) / float64(fscale)
	}
	return out, nil
}
