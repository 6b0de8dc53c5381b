package qemu

import (
	"fmt"
	"os"
	"strconv"
	"strings"
	"time"
)

// cpuTime reads utime+stime of pid from /proc (clock ticks of 100 Hz, the
// USER_HZ Linux exposes).
func cpuTime(pid int) time.Duration {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0
	}
	s := string(b)
	i := strings.LastIndexByte(s, ')')
	if i < 0 {
		return 0
	}
	f := strings.Fields(s[i+1:])
	if len(f) < 13 {
		return 0
	}
	u, _ := strconv.ParseUint(f[11], 10, 64)
	k, _ := strconv.ParseUint(f[12], 10, 64)
	return time.Duration(u+k) * (time.Second / 100)
}
