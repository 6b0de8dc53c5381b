//go:build !unix

package bhyve

import (
	"os"
	"os/exec"
)

// bhyve exists only on FreeBSD; elsewhere the driver compiles so tooling
// builds everywhere, and Pause reports the missing signals as unsupported.
var (
	sigPause  os.Signal
	sigResume os.Signal
)

func detach(*exec.Cmd) {}

var sigTerm os.Signal = os.Kill
