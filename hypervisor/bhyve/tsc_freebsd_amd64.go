package bhyve

import "golang.org/x/sys/unix"

// tscFrequency is machdep.tsc_freq, the rate of the ticks vmm counts vCPU
// runtime in (a variable so tests can set a rate).
var tscFrequency = func() (uint64, bool) {
	f, err := unix.SysctlUint64("machdep.tsc_freq")
	return f, err == nil && f > 0
}
