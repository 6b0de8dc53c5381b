package bhyve

import (
	"os"
	"strconv"
	"time"
)

// procArgs returns the arguments of process pid as the kernel reports them
// (/proc/PID/cmdline); a zombie has none. bhyve does not run on Linux; this
// serves the stand-in tests and tooling.
func procArgs(pid int) ([]string, error) {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/cmdline")
	if err != nil {
		return nil, err
	}
	return splitArgs(b), nil
}

// waitExit waits for a process that is not this one's child to end. Linux
// offers no exit status of another parent's child, so it polls alive and
// returns -1 (unknown) once the process is gone.
func waitExit(pid int, alive func() bool) int {
	return pollExit(alive, 100*time.Millisecond)
}
