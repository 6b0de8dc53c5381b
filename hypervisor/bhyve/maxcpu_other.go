//go:build !freebsd

package bhyve

// hostMaxVCPUs: only FreeBSD has hw.vmm.maxcpu.
func hostMaxVCPUs() int { return 0 }
