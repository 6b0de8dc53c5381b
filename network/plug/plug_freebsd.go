//go:build freebsd

package plug

// newDevice plugs with FreeBSD's ifconfig(8).
func newDevice(run runFunc) device { return &ifconfigDevice{bin: "/sbin/ifconfig", run: run} }
