package bhyve

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/novabsd/novabsd/hypervisor"
	"github.com/novabsd/novabsd/hypervisor/beneath"
)

// intent is what the driver asked of the running bhyve, so the supervisor
// can tell an exit it caused from one the guest caused.
type intent int

const (
	intentNone intent = iota
	intentPowerOff
	intentDestroy
	intentReboot     // restart whatever the exit code
	intentSoftReboot // power button pressed; a poweroff exit restarts
	intentSuspend
)

// Exit statuses of bhyve(8).
const (
	exitReboot    = 0
	exitPowerOff  = 1
	exitHalt      = 2
	exitTriple    = 3
	exitError     = 4
	exitSuspended = 5 // documented for 15/main; 14.x exits 0 after --suspend
)

// vm is one supervised guest.
type vm struct {
	d    *Driver
	g    hypervisor.Guest
	plan *Plan

	mu      sync.Mutex
	state   hypervisor.PowerState
	intent  intent
	proc    *os.Process
	gen     int           // bhyve processes started so far
	started chan struct{} // closed and replaced on every start
	done    chan struct{} // closed when supervision ends
	lastErr error         // why the guest crashed, for Info/logs
	cpu     time.Duration // CPU time of finished bhyve runs
	console *os.File      // nmdm B side, read into the console log

	// bridge serves the B side on Plan.ConsoleTCP; nil without a TCP console.
	bridge *consoleBridge
	// logger is the goroutine copying the B side into the log (and to bridge).
	logger sync.WaitGroup
}

func (v *vm) set(f func()) {
	v.mu.Lock()
	defer v.mu.Unlock()
	f()
}

// run supervises the guest: (destroy stale VM) → loader → bhyve, again on
// every reboot exit, until a poweroff, halt, crash or driver request. first
// receives the outcome of the first start: nil once bhyve survived
// StartGrace, else why it did not. adopted, when not 0, is a running bhyve
// of this guest that a previous service process started: it is watched
// until it exits, and its exit handled as any other.
func (v *vm) run(restore string, first chan<- error, adopted int) {
	defer close(v.done)
	defer v.stopConsole()
	defer removeRunFiles(v.g.Dir)
	defer v.d.destroyVM(context.Background(), v.plan.Name)
	report := func(err error) {
		if first != nil {
			first <- err
			first = nil
		}
	}
	if adopted != 0 {
		// Not our child: its exit status comes from the kernel's process
		// events where the host has them (FreeBSD), else it is unknown
		// (-1), and only the driver's intent tells a reboot from an end.
		code := waitExit(adopted, func() bool { return v.d.running(adopted, v.plan.Name) })
		if again := v.exited(code, ""); !again {
			return
		}
	}
	for {
		if len(v.plan.Bhyve) == 0 {
			// An adopted guest whose domain no longer builds (adoptRunning).
			err := fmt.Errorf("cannot restart %s: its domain does not build; see bhyve.log", v.plan.Name)
			v.set(func() { v.state, v.lastErr = hypervisor.Crashed, err })
			report(err)
			return
		}
		v.d.destroyVM(context.Background(), v.plan.Name)
		if restore == "" && v.plan.Loader != nil {
			if err := v.load(); err != nil {
				v.set(func() { v.state, v.lastErr = hypervisor.Crashed, err })
				report(err)
				return
			}
		}
		argv := v.plan.Bhyve
		if restore != "" {
			argv = v.plan.RestoreArgv(restore)
		}
		cmd, stderr, err := v.start(argv)
		if err != nil {
			v.set(func() { v.state, v.lastErr = hypervisor.Crashed, err })
			report(err)
			return
		}
		exited := make(chan error, 1)
		go func() { exited <- cmd.Wait() }()
		var werr error
		if first != nil {
			select {
			case werr = <-exited:
				code := exitCode(cmd.ProcessState)
				err := fmt.Errorf("bhyve exited with status %d right after start: %s", code, tail(stderr.String(), 512))
				v.set(func() { v.state, v.lastErr = hypervisor.Crashed, err })
				report(err)
				return
			case <-time.After(v.d.cfg.StartGrace):
			}
		}
		if restore != "" {
			// Restored: the state is consumed, and a later Info must not
			// call the guest suspended.
			v.d.removeState(v.g.Dir)
			restore = ""
		}
		report(nil)
		if werr == nil {
			werr = <-exited
		}
		code := exitCode(cmd.ProcessState)
		if again := v.exited(code, stderr.String()); !again {
			return
		}
	}
}

// exited records what bhyve's exit means and says whether to start again.
func (v *vm) exited(code int, stderr string) (again bool) {
	v.mu.Lock()
	defer v.mu.Unlock()
	v.proc = nil
	in := v.intent
	v.intent = intentNone
	switch {
	case in == intentDestroy || in == intentPowerOff:
		v.state = hypervisor.Shutdown
	case in == intentSuspend && (code == exitReboot || code == exitSuspended):
		v.state = hypervisor.Suspended
	case in == intentReboot, code == exitReboot:
		return true
	case code == exitPowerOff && in == intentSoftReboot:
		return true
	case code == exitPowerOff, code == exitHalt:
		v.state = hypervisor.Shutdown
	case code < 0:
		// Killed from outside (kill -9, OOM): the guest is off, as libvirt
		// reports a domain destroyed behind its back.
		v.state = hypervisor.Shutdown
		v.lastErr = fmt.Errorf("bhyve for %s was killed by a signal", v.plan.Name)
	default:
		what := map[int]string{exitTriple: "triple fault", exitError: "bhyve error"}[code]
		if what == "" {
			what = "unexpected exit"
		}
		v.state = hypervisor.Crashed
		v.lastErr = fmt.Errorf("guest %s crashed (%s, bhyve exit status %d): %s", v.plan.Name, what, code, tail(stderr, 512))
	}
	return false
}

// exitCode maps a process state to bhyve's status; death by signal is -1.
func exitCode(ps *os.ProcessState) int {
	if ps == nil {
		return -1
	}
	return ps.ExitCode()
}

func (v *vm) load() error {
	ctx, cancel := context.WithTimeout(context.Background(), v.d.cfg.LoaderTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, v.plan.Loader[0], v.plan.Loader[1:]...)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	detach(cmd)
	if err := cmd.Run(); err != nil {
		if ctx.Err() != nil {
			return fmt.Errorf("%s did not finish within %s (waiting at its menu?)", filepath.Base(v.plan.Loader[0]), v.d.cfg.LoaderTimeout)
		}
		return fmt.Errorf("%s failed: %w: %s", filepath.Base(v.plan.Loader[0]), err, tail(out.String(), 512))
	}
	return nil
}

// start launches bhyve with its stdout and stderr appended to bhyve.log in
// the instance directory. The log file itself is bhyve's output, not a pipe
// to this process: bhyve outlives the service, and a pipe whose reader died
// with it would end the guest (SIGPIPE) at its next message. What bhyve
// printed is read back from the log for error messages (output.String);
// only when the log cannot be opened is it kept in memory instead.
func (v *vm) start(argv []string) (*exec.Cmd, fmt.Stringer, error) {
	cmd := exec.Command(argv[0], argv[1:]...)
	var output fmt.Stringer
	if f, err := beneath.OpenFile(v.g.Dir, "bhyve.log", os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o600); err == nil {
		defer f.Close() // the child keeps its own descriptor
		var from int64
		if fi, err := f.Stat(); err == nil {
			from = fi.Size()
		}
		output = &logSince{dir: v.g.Dir, from: from}
		cmd.Stdout, cmd.Stderr = f, f
	} else {
		buf := &bytes.Buffer{}
		w := &capped{buf: buf, max: 64 << 10}
		output = w
		cmd.Stdout, cmd.Stderr = w, w
	}
	detach(cmd)
	if err := cmd.Start(); err != nil {
		return nil, nil, fmt.Errorf("start bhyve: %w", err)
	}
	v.writePID(cmd.Process.Pid)
	v.markPaused(false) // a new bhyve runs
	v.mu.Lock()
	v.proc = cmd.Process
	v.state = hypervisor.Running
	v.gen++
	close(v.started)
	v.started = make(chan struct{})
	v.mu.Unlock()
	return cmd, output, nil
}

// logSince reads what was appended to the guest's bhyve.log after from (at
// most its last 64 KiB): bhyve's output since it was started.
type logSince struct {
	dir  string
	from int64
}

func (l *logSince) String() string {
	f, err := beneath.OpenFile(l.dir, "bhyve.log", os.O_RDONLY, 0)
	if err != nil {
		return ""
	}
	defer f.Close()
	from := l.from
	if fi, err := f.Stat(); err == nil && fi.Size()-from > 64<<10 {
		from = fi.Size() - 64<<10
	}
	b, _ := io.ReadAll(io.NewSectionReader(f, from, 64<<10))
	return string(b)
}

// capped keeps the last max bytes written, enough for error messages.
type capped struct {
	mu  sync.Mutex
	buf *bytes.Buffer
	max int
}

func (c *capped) String() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.buf.String()
}

func (c *capped) Write(p []byte) (int, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.buf.Write(p)
	if c.buf.Len() > c.max {
		b := c.buf.Bytes()[c.buf.Len()-c.max:]
		c.buf.Reset()
		c.buf.Write(b)
	}
	return len(p), nil
}

func tail(s string, n int) string {
	s = strings.TrimSpace(s)
	if len(s) > n {
		s = "..." + s[len(s)-n:]
	}
	if s == "" {
		return "(no output)"
	}
	return s
}

// startConsole copies the nmdm B side into the console log so console
// output is kept even with nobody attached (bhyve logs nothing itself),
// and serves it on Plan.ConsoleTCP when the domain names a TCP console. A
// TCP console that cannot listen is logged in bhyve.log and left out: the
// guest and its log do not depend on it.
func (v *vm) startConsole() {
	if v.plan.ConsoleSlave == "" {
		return
	}
	// O_RDWR keeps the device (or a FIFO in tests) from reporting EOF when
	// the guest side closes between bhyve restarts; O_NONBLOCK lets Close
	// interrupt the read through the poller.
	src, err := os.OpenFile(v.plan.ConsoleSlave, os.O_RDWR|syscall.O_NONBLOCK|noctty, 0)
	if err != nil {
		v.logf("console: open %s: %v", v.plan.ConsoleSlave, err)
		return
	}
	dst, err := beneath.OpenFile(v.g.Dir, consoleLogName(v.g.Dir, v.plan.ConsoleLog), os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o600)
	if err != nil {
		src.Close()
		v.logf("console: open log: %v", err)
		return
	}
	v.console = src
	if v.plan.ConsoleTCP != "" {
		if v.bridge, err = listenConsole(v.plan.ConsoleTCP, src); err != nil {
			v.logf("console: serial console on %s: %v", v.plan.ConsoleTCP, err)
		}
	}
	br := v.bridge
	v.logger.Add(1)
	go func() {
		defer v.logger.Done()
		defer dst.Close()
		buf := make([]byte, 4096)
		for {
			n, err := src.Read(buf)
			if n > 0 {
				_, _ = dst.Write(buf[:n])
				if br != nil {
					br.send(buf[:n])
				}
			}
			if err != nil {
				return
			}
		}
	}()
}

// stopConsole closes the B side, which ends the logger and any write of the
// TCP client to the guest, then the TCP console, and waits for both.
func (v *vm) stopConsole() {
	if v.console != nil {
		v.console.Close()
	}
	if v.bridge != nil {
		v.bridge.close()
	}
	v.logger.Wait()
}

func (v *vm) logf(format string, args ...any) { logTo(v.g.Dir, format, args...) }

// consoleLogName returns the log's name relative to the instance dir; a log
// path outside it is not honoured (instance files stay beneath their dir).
func consoleLogName(dir, log string) string {
	if log != "" {
		if rel, err := filepath.Rel(dir, log); err == nil && !strings.HasPrefix(rel, "..") && !filepath.IsAbs(rel) {
			return rel
		}
	}
	return hypervisor.ConsoleLogFile
}

// signal sends sig to the running bhyve; false if none runs.
func (v *vm) signal(sig os.Signal) bool {
	v.mu.Lock()
	p := v.proc
	v.mu.Unlock()
	if p == nil || sig == nil {
		return false
	}
	return p.Signal(sig) == nil
}

// signalGen signals the bhyve process only while it is still the gen-th one started: a fallback kill aimed at a
// guest that meanwhile restarted by itself must not hit its successor.
func (v *vm) signalGen(gen int, sig os.Signal) bool {
	v.mu.Lock()
	p := v.proc
	same := v.gen == gen
	v.mu.Unlock()
	if p == nil || sig == nil || !same {
		return false
	}
	return p.Signal(sig) == nil
}

func (v *vm) waitDone(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-v.done:
		return true
	case <-t.C:
		return false
	case <-ctx.Done():
		return false
	}
}

var errStillRunning = errors.New("bhyve still running")
