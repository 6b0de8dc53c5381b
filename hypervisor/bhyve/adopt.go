package bhyve

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/novabsd/novabsd/hypervisor"
	"github.com/novabsd/novabsd/hypervisor/beneath"
)

// pidFile, in the instance directory, names the bhyve process the driver
// started last for the guest. bhyve has no pid file of its own, and its
// process outlives the service (its own process group), so a restarted
// service finds its guests through this file and re-attaches them (adopt).
const pidFile = "bhyve.pid"

// pausedFile, in the instance directory, marks a guest the driver paused
// (SIGSTOP): a stopped bhyve looks like a running one from outside, and a
// restarted service must report it Paused, as it is, and not Running.
const pausedFile = "bhyve.paused"

// markPaused records whether the guest is paused, for a later adoption.
func (v *vm) markPaused(paused bool) {
	if !paused {
		if dd, err := beneath.Open(v.g.Dir); err == nil {
			_ = dd.Remove(pausedFile)
			dd.Close()
		}
		return
	}
	if err := beneath.WriteFile(v.g.Dir, pausedFile, nil, 0o600); err != nil {
		v.logf("cannot record the pause (a service restart would report the guest running): %v", err)
	}
}

// writePID records pid as the guest's bhyve; a failure is logged, not fatal:
// the guest runs, only a later restart could not adopt it.
func (v *vm) writePID(pid int) {
	if err := beneath.WriteFile(v.g.Dir, pidFile, []byte(strconv.Itoa(pid)+"\n"), 0o600); err != nil {
		v.logf("cannot record bhyve's pid %d (a service restart will not adopt this guest): %v", pid, err)
	}
}

// removeRunFiles drops the pid file and the pause mark once supervision has
// ended, so no later start trusts a pid the kernel may give to another
// process.
func removeRunFiles(dir string) {
	if dd, err := beneath.Open(dir); err == nil {
		_ = dd.Remove(pidFile)
		_ = dd.Remove(pausedFile)
		dd.Close()
	}
}

// errBadPIDFile: the pid file holds something other than one positive pid.
var errBadPIDFile = errors.New("bhyve pid file does not hold one positive process id")

// parsePID reads the pid file's contents: one decimal pid and a newline.
func parsePID(b []byte) (int, error) {
	s := strings.TrimSuffix(string(b), "\n")
	pid, err := strconv.Atoi(s)
	if err != nil || pid <= 0 || s != strconv.Itoa(pid) {
		return 0, fmt.Errorf("%w: %q", errBadPIDFile, tail(string(b), 32))
	}
	return pid, nil
}

// isBhyveOf reports whether args, a process's arguments as the kernel
// reports them, are those of a bhyve running the VM name. bhyve renames
// itself once the VM is set up (setproctitle with the VM name, so the
// kernel then reports the single string "bhyve: NAME"); before that its
// arguments end with the VM name and start with the bhyve binary, or with
// an interpreter and then the binary when bhyve is a script (the tests'
// stand-in). Anything else — a recycled pid, a zombie without arguments,
// bhyveload, another VM's bhyve — is not the guest.
func isBhyveOf(args []string, bhyve, name string) bool {
	if len(args) == 0 || name == "" {
		return false
	}
	if len(args) == 1 {
		title := strings.TrimSpace(args[0])
		return title == "bhyve: "+name || title == filepath.Base(bhyve)+": "+name
	}
	if args[len(args)-1] != name {
		return false
	}
	is := func(a string) bool { return a == bhyve || filepath.Base(a) == filepath.Base(bhyve) }
	return is(args[0]) || (len(args) > 2 && is(args[1]) && !strings.HasPrefix(args[1], "-"))
}

// running reports whether pid is, right now, a bhyve running the VM name.
func (d *Driver) running(pid int, name string) bool {
	args, err := procArgs(pid)
	return err == nil && isBhyveOf(args, d.cfg.Bhyve, name)
}

// adopt re-attaches a guest whose bhyve a previous service process started
// and left running: the pid in the guest's pid file must still be a bhyve
// for this VM (a pid the kernel gave to another process is neither adopted
// nor signalled). An adopted guest gets its console log and TCP console
// back and is supervised as if this process had started it. When the
// recorded bhyve is gone (it ended while the service was down), its kernel
// VM, which bhyve leaves behind on every exit but a suspend, is destroyed
// as after any exit, and nil is returned: the guest is shut down.
func (d *Driver) adopt(g hypervisor.Guest) *vm {
	b, err := beneath.ReadFile(g.Dir, pidFile)
	if err != nil {
		return nil // never started by a service that recorded it, or cleanly ended
	}
	pid, err := parsePID(b)
	if err == nil && d.running(pid, g.Name) {
		return d.adoptRunning(g, pid)
	}
	// Ours ended unseen: whatever its exit, bhyve(8) leaves the VM to be
	// destroyed by whoever supervised it.
	if d.vmExists(g.Name) {
		if derr := d.destroyVM(context.Background(), g.Name); derr != nil {
			logTo(g.Dir, "adopt: leftover VM %s: %v", g.Name, derr)
		}
	}
	removeRunFiles(g.Dir)
	return nil
}

// adoptRunning builds the supervision of the running bhyve pid. A guest
// whose domain cannot be read back or no longer builds (a host setting or a
// rule that changed since it started) is adopted all the same, without its
// console, and crashes rather than restarts if it reboots: a running guest is
// never left unsupervised, reported off or destroyed over its files.
func (d *Driver) adoptRunning(g hypervisor.Guest, pid int) *vm {
	plan := &Plan{Name: g.Name}
	dom, err := hypervisor.LoadDomain(g.Dir)
	if err == nil {
		var p *Plan
		if p, err = BuildPlan(dom, d.cfg); err == nil {
			plan = p
		}
	}
	if err != nil {
		logTo(g.Dir, "adopt: bhyve %d of %s is supervised without its console, and cannot restart: %v", pid, g.Name, err)
	}
	proc, _ := os.FindProcess(pid) // never fails on unix
	state := hypervisor.Running
	if _, err := beneath.ReadFile(g.Dir, pausedFile); err == nil {
		state = hypervisor.Paused
	}
	return &vm{d: d, g: g, plan: plan, state: state, proc: proc, gen: 1,
		started: make(chan struct{}), done: make(chan struct{})}
}

// attach returns the supervised vm of g, adopting a bhyve a previous service
// process left running; nil when none is known.
func (d *Driver) attach(g hypervisor.Guest) *vm {
	if v := d.get(g.Name); v != nil {
		return v
	}
	v := d.adopt(g)
	if v == nil {
		return nil
	}
	d.mu.Lock()
	if old := d.vms[g.Name]; old != nil {
		// Adopted meanwhile by a concurrent call: keep that one. Nothing of
		// v runs yet.
		d.mu.Unlock()
		return old
	}
	d.vms[g.Name] = v
	d.mu.Unlock()
	v.startConsole()
	v.logf("adopted bhyve %d left running by a previous service process", v.pid())
	go v.run("", nil, v.pid())
	return v
}

// vmExists reports whether the kernel has a VM called name.
func (d *Driver) vmExists(name string) bool {
	_, err := os.Stat(filepath.Join(d.cfg.VMMDir, name))
	return !errors.Is(err, fs.ErrNotExist)
}

// pid is the running bhyve's pid, 0 if none.
func (v *vm) pid() int {
	v.mu.Lock()
	defer v.mu.Unlock()
	if v.proc == nil {
		return 0
	}
	return v.proc.Pid
}

// logTo appends a service message to the guest's bhyve.log.
func logTo(dir, format string, args ...any) {
	if f, err := beneath.OpenFile(dir, "bhyve.log", os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o600); err == nil {
		fmt.Fprintf(f, "novabsd: "+format+"\n", args...)
		f.Close()
	}
}

// pollExit returns -1 once alive reports false, checking every interval.
func pollExit(alive func() bool, interval time.Duration) int {
	for alive() {
		time.Sleep(interval)
	}
	return -1
}

// splitArgs splits a process's argument block as the kernel gives it (NUL-separated, NUL-terminated); an empty
// block, a zombie's, has none.
func splitArgs(b []byte) []string {
	b = bytes.TrimSuffix(b, []byte{0})
	if len(b) == 0 {
		return nil
	}
	var args []string
	for _, a := range bytes.Split(b, []byte{0}) {
		args = append(args, string(a))
	}
	return args
}
