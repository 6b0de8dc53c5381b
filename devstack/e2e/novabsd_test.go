//go:build e2e

package e2e

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// novabsd is one `novabsd compute` process started by startNovabsd.
type novabsd struct {
	host    string
	conf    string
	logPath string
	cmd     *exec.Cmd
	done    chan struct{} // closed when the process has exited
	// stopping is closed (once) when the test stops the process on purpose, so its exit is expected.
	stopping chan struct{}
	stopOnce sync.Once
	mu       sync.Mutex
	waitErr  error
	// notify is the service-manager socket the process gets as NOTIFY_SOCKET, as under a Type=notify systemd unit;
	// notes are the messages it sent there (under mu), read until the process has exited.
	notify *net.UnixConn
	notes  []string
}

// startNovabsd runs `novabsd compute --config-file F` as compute host HOST with the nova.conf
// of `rig.sh compute-conf HOST`. Its output goes to a log file that the test prints if the
// process exits before the test ends (which fails the test); at the end it is stopped with
// SIGTERM and must exit within 30 s.
func startNovabsd(t *testing.T, host string) *novabsd {
	t.Helper()
	return startNovabsdConf(t, host, "")
}

// startNovabsdConf is startNovabsd with extra nova.conf text appended (later lines win, as in oslo).
func startNovabsdConf(t *testing.T, host, extra string) *novabsd {
	t.Helper()
	requireRig(t)
	n, err := launchNovabsd(host, extra, t.TempDir(), func(n *novabsd, err error) {
		t.Errorf("novabsd compute (host %s) exited early: %v\n%s", host, err, n.failureLog())
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := n.shutdown(); err != nil {
			t.Error(err)
		}
		if t.Failed() {
			t.Logf("novabsd log (host %s): %s", host, n.failureLog())
		}
	})
	return n
}

// launchNovabsd starts `novabsd compute` as host with the nova.conf of `rig.sh compute-conf HOST` plus extra, its
// files in dir. onEarlyExit (if not nil) is called from the process's waiter when it exits before shutdown or
// kill asked it to.
func launchNovabsd(host, extra, dir string, onEarlyExit func(*novabsd, error)) (*novabsd, error) {
	conf, err := rigCommand(context.Background(), "compute-conf", host).Output()
	if err != nil {
		return nil, fmt.Errorf("rig.sh compute-conf %s: %w", host, err)
	}
	conf = append(conf, "\n"+extra...)
	n := &novabsd{host: host, conf: filepath.Join(dir, "nova.conf"), logPath: filepath.Join(dir, "novabsd.log"),
		done: make(chan struct{}), stopping: make(chan struct{})}
	if err := os.WriteFile(n.conf, conf, 0o600); err != nil {
		return nil, err
	}
	logf, err := os.Create(n.logPath)
	if err != nil {
		return nil, err
	}
	sock := filepath.Join(dir, "notify")
	if n.notify, err = net.ListenUnixgram("unixgram", &net.UnixAddr{Name: sock, Net: "unixgram"}); err != nil {
		logf.Close()
		return nil, fmt.Errorf("notify socket: %w", err)
	}
	n.cmd = exec.Command(novabsdBin, "compute", "--config-file", n.conf)
	n.cmd.Env = append(os.Environ(), "NOTIFY_SOCKET="+sock)
	n.cmd.Stdout, n.cmd.Stderr = logf, logf
	if err := n.cmd.Start(); err != nil {
		logf.Close()
		n.notify.Close()
		return nil, fmt.Errorf("starting novabsd: %w", err)
	}
	notesDone := make(chan struct{})
	go func() {
		defer close(notesDone)
		buf := make([]byte, 4096)
		for {
			k, err := n.notify.Read(buf)
			if err != nil {
				return
			}
			n.mu.Lock()
			n.notes = append(n.notes, string(buf[:k]))
			n.mu.Unlock()
		}
	}()
	go func() {
		err := n.cmd.Wait()
		logf.Close()
		// The process has sent all it will: the reader ends with the socket.
		n.notify.Close()
		<-notesDone
		n.mu.Lock()
		n.waitErr = err
		n.mu.Unlock()
		close(n.done)
		select {
		case <-n.stopping:
		default:
			if onEarlyExit != nil {
				onEarlyExit(n, err)
			}
		}
	}()
	return n, nil
}

// notified returns the service-manager messages the process has sent so far.
func (n *novabsd) notified() []string {
	n.mu.Lock()
	defer n.mu.Unlock()
	return slices.Clone(n.notes)
}

// shutdown sends SIGTERM, waits up to 30 s for the process (then kills it) and says what went wrong: no exit
// within 30 s, or an exit status other than 0.
func (n *novabsd) shutdown() error {
	n.stopOnce.Do(func() { close(n.stopping) })
	_ = n.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-n.done:
	case <-time.After(30 * time.Second):
		_ = n.cmd.Process.Kill()
		<-n.done
		return fmt.Errorf("novabsd compute (host %s) ignored SIGTERM for 30 s\n%s", n.host, n.failureLog())
	}
	return nil
}

// failureLog keeps a copy of the log where a failed run leaves it (the test's own directory goes with the test)
// and returns its path with its last lines: a whole log would bury the test's own failure lines in CI's output.
func (n *novabsd) failureLog() string {
	keep := filepath.Join(os.TempDir(), "novabsd-e2e-logs")
	_ = os.MkdirAll(keep, 0o755)
	dst := filepath.Join(keep, n.host+".log")
	if b, err := os.ReadFile(n.logPath); err == nil {
		_ = os.WriteFile(dst, b, 0o644)
	}
	return fmt.Sprintf("whole log kept in %s; its last lines:\n%s", dst, tail(n.Log(), 25))
}

// Log returns what the process has logged so far.
func (n *novabsd) Log() string {
	b, err := os.ReadFile(n.logPath)
	if err != nil {
		return fmt.Sprintf("(no log: %v)", err)
	}
	return string(b)
}

// waitLog waits until the log contains s, failing the test on timeout or early exit.
func (n *novabsd) waitLog(t *testing.T, s string, timeout time.Duration) {
	t.Helper()
	if err := n.awaitLog(s, timeout); err != nil {
		t.Fatal(err)
	}
}

// awaitLog waits until the log contains s; it fails on timeout or when the process exits first.
func (n *novabsd) awaitLog(s string, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	for time.Now().Before(deadline) {
		if b, err := os.ReadFile(n.logPath); err == nil && bytes.Contains(b, []byte(s)) {
			return nil
		}
		select {
		case <-n.done:
			return fmt.Errorf("novabsd (host %s) exited before logging %q\n%s", n.host, s, tail(n.Log(), 40))
		case <-time.After(50 * time.Millisecond):
		}
	}
	return fmt.Errorf("novabsd (host %s) did not log %q within %v\n%s", n.host, s, timeout, tail(n.Log(), 40))
}

func tail(s string, lines int) string {
	l := strings.Split(s, "\n")
	if len(l) > lines {
		l = l[len(l)-lines:]
	}
	return strings.Join(l, "\n")
}

// stop sends SIGTERM and waits for a clean exit (status 0), failing the test otherwise.
func (n *novabsd) stop(t *testing.T) {
	t.Helper()
	n.stopOnce.Do(func() { close(n.stopping) })
	_ = n.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-n.done:
	case <-time.After(30 * time.Second):
		t.Fatalf("novabsd compute (host %s) ignored SIGTERM for 30 s", n.host)
	}
	n.mu.Lock()
	err := n.waitErr
	n.mu.Unlock()
	if err != nil {
		t.Errorf("novabsd compute (host %s) exited with %v after SIGTERM, want status 0\n%s", n.host, err, tail(n.Log(), 20))
	}
}

// kill ends the process with SIGKILL, as a crash would, and waits for it.
func (n *novabsd) kill(t *testing.T) {
	t.Helper()
	n.stopOnce.Do(func() { close(n.stopping) })
	_ = n.cmd.Process.Kill()
	<-n.done
}
