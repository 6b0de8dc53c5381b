package bhyve

import "golang.org/x/sys/unix"

// hostMaxVCPUs is hw.vmm.maxcpu, the vCPUs vmm.ko gives one guest (by
// default the host's CPU count); 0 while vmm.ko is not loaded.
func hostMaxVCPUs() int {
	n, err := unix.SysctlUint32("hw.vmm.maxcpu")
	if err != nil {
		return 0
	}
	return int(n)
}
