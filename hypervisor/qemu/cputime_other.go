//go:build !linux

package qemu

import "time"

// cpuTime is unknown off Linux (QEMU is the Linux engine).
func cpuTime(int) time.Duration { return 0 }
