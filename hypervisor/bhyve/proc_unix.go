//go:build unix

package bhyve

import (
	"os"
	"os/exec"
	"syscall"
)

// Pausing stops bhyve's vCPU threads with SIGSTOP; upstream has no pause
// command (bhyve.md, "Notes for mapping Nova operations").
var (
	sigPause  os.Signal = syscall.SIGSTOP
	sigResume os.Signal = syscall.SIGCONT
)

// detach puts bhyve in a session of its own, so neither a terminal's
// signals to the service nor the service's end reach the guest: in the
// service's session, a paused (stopped) bhyve's process group would be
// orphaned when the service dies, and the kernel then sends it SIGHUP, which
// ends bhyve, before SIGCONT.
func detach(c *exec.Cmd) { c.SysProcAttr = &syscall.SysProcAttr{Setsid: true} }

// sigTerm is bhyve's ACPI power button.
var sigTerm os.Signal = syscall.SIGTERM
