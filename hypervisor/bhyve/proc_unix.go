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

// detach puts bhyve in its own process group so a terminal's signals to the
// service do not reach guests.
func detach(c *exec.Cmd) { c.SysProcAttr = &syscall.SysProcAttr{Setpgid: true} }

// sigTerm is bhyve's ACPI power button.
var sigTerm os.Signal = syscall.SIGTERM
