//go:build !linux

package qemu

import "time"

// cpuTime is unknown off Linux (QEMU is the Linux engine).
func cpuTime(int) time.Duration { return 0 }

// threadCPUTime is unknown off Linux.
func threadCPUTime(int, int) (time.Duration, bool) { return 0, false }

// processUptime is unknown off Linux.
func processUptime(int) (time.Duration, bool) { return 0, false }
