package bhyve

import (
	"errors"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// procArgs returns the arguments of process pid as the kernel reports them
// (sysctl kern.proc.args.PID, which shows bhyve's setproctitle once set); a
// zombie has none.
func procArgs(pid int) ([]string, error) {
	b, err := unix.SysctlRaw("kern.proc.args", pid)
	if err != nil {
		return nil, err
	}
	return splitArgs(b), nil
}

// waitExit waits for pid, a bhyve this process did not start, to end and
// returns its exit status: kqueue's EVFILT_PROC NOTE_EXIT reports it in the
// wait(2) format for any process the service may see, so an adopted guest's
// reboot (exit 0), poweroff (1) or fault (2, 3, 4) is told apart as for a
// child. Without kqueue it falls back to polling alive, the status unknown.
func waitExit(pid int, alive func() bool) int {
	kq, err := unix.Kqueue()
	if err != nil {
		return pollExit(alive, 100*time.Millisecond)
	}
	defer unix.Close(kq)
	var ev unix.Kevent_t
	unix.SetKevent(&ev, pid, unix.EVFILT_PROC, unix.EV_ADD|unix.EV_ONESHOT)
	ev.Fflags = unix.NOTE_EXIT
	if _, err := unix.Kevent(kq, []unix.Kevent_t{ev}, nil, nil); err != nil {
		if errors.Is(err, unix.ESRCH) {
			return -1 // ended between the check and here
		}
		return pollExit(alive, 100*time.Millisecond)
	}
	out := make([]unix.Kevent_t, 1)
	for {
		n, err := unix.Kevent(kq, nil, out, nil)
		if errors.Is(err, unix.EINTR) {
			continue
		}
		if err != nil {
			return pollExit(alive, 100*time.Millisecond)
		}
		if n == 1 && out[0].Fflags&unix.NOTE_EXIT != 0 {
			ws := syscall.WaitStatus(out[0].Data)
			if ws.Exited() {
				return ws.ExitStatus()
			}
			return -1 // killed by a signal
		}
	}
}
