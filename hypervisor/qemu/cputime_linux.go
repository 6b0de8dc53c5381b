package qemu

import (
	"fmt"
	"os"
	"strconv"
	"strings"
	"time"
)

// userHZ is the clock tick of /proc's times, fixed at 100 Hz for user space.
const userHZ = 100

// statFields are the fields of a /proc stat file after the command name (field 3 onwards), nil when unreadable.
func statFields(path string) []string {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil
	}
	s := string(b)
	i := strings.LastIndexByte(s, ')')
	if i < 0 {
		return nil
	}
	f := strings.Fields(s[i+1:])
	if len(f) < 20 {
		return nil
	}
	return f
}

// ticksTime is utime+stime of a stat file's fields.
func ticksTime(f []string) (time.Duration, bool) {
	u, err1 := strconv.ParseUint(f[11], 10, 64)
	k, err2 := strconv.ParseUint(f[12], 10, 64)
	if err1 != nil || err2 != nil {
		return 0, false
	}
	return time.Duration(u+k) * (time.Second / userHZ), true
}

// cpuTime reads utime+stime of pid from /proc (clock ticks of 100 Hz, the
// USER_HZ Linux exposes).
func cpuTime(pid int) time.Duration {
	f := statFields(fmt.Sprintf("/proc/%d/stat", pid))
	if f == nil {
		return 0
	}
	t, _ := ticksTime(f)
	return t
}

// threadCPUTime is utime+stime of thread tid of pid: a vCPU's time, as
// QEMU runs each vCPU on its own thread.
func threadCPUTime(pid, tid int) (time.Duration, bool) {
	f := statFields(fmt.Sprintf("/proc/%d/task/%d/stat", pid, tid))
	if f == nil {
		return 0, false
	}
	return ticksTime(f)
}

// processUptime is how long pid has run: the system's uptime less the
// process's start time (field 22, ticks since boot).
func processUptime(pid int) (time.Duration, bool) {
	f := statFields(fmt.Sprintf("/proc/%d/stat", pid))
	if f == nil {
		return 0, false
	}
	start, err := strconv.ParseUint(f[19], 10, 64)
	if err != nil {
		return 0, false
	}
	b, err := os.ReadFile("/proc/uptime")
	if err != nil {
		return 0, false
	}
	up, err := strconv.ParseFloat(strings.Fields(string(b) + " x")[0], 64)
	if err != nil {
		return 0, false
	}
	d := time.Duration(up*float64(time.Second)) - time.Duration(start)*(time.Second/userHZ)
	if d < 0 {
		return 0, false
	}
	return d, true
}
