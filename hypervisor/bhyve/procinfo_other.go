//go:build !linux && !freebsd

package bhyve

import (
	"errors"
	"time"
)

// procArgs: this system has no process arguments the driver knows how to
// read, so no guest is ever adopted on it (bhyve runs only on FreeBSD).
func procArgs(pid int) ([]string, error) {
	return nil, errors.ErrUnsupported
}

// waitExit polls alive; the exit status is unknown (-1).
func waitExit(pid int, alive func() bool) int {
	return pollExit(alive, 100*time.Millisecond)
}
