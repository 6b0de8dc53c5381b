//go:build e2e

package e2e

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
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
	dir := t.TempDir()
	conf, err := rigCommand(context.Background(), "compute-conf", host).Output()
	if err != nil {
		t.Fatalf("rig.sh compute-conf %s: %v", host, err)
	}
	conf = append(conf, "\n"+extra...)
	n := &novabsd{host: host, conf: filepath.Join(dir, "nova.conf"), logPath: filepath.Join(dir, "novabsd.log"),
		done: make(chan struct{}), stopping: make(chan struct{})}
	if err := os.WriteFile(n.conf, conf, 0o600); err != nil {
		t.Fatal(err)
	}
	logf, err := os.Create(n.logPath)
	if err != nil {
		t.Fatal(err)
	}
	n.cmd = exec.Command(novabsdBin, "compute", "--config-file", n.conf)
	n.cmd.Stdout, n.cmd.Stderr = logf, logf
	if err := n.cmd.Start(); err != nil {
		logf.Close()
		t.Fatalf("starting novabsd: %v", err)
	}
	go func() {
		err := n.cmd.Wait()
		logf.Close()
		n.mu.Lock()
		n.waitErr = err
		n.mu.Unlock()
		close(n.done)
		select {
		case <-n.stopping:
		default:
			t.Errorf("novabsd compute (host %s) exited early: %v\n%s", host, err, n.Log())
		}
	}()
	t.Cleanup(func() {
		n.stopOnce.Do(func() { close(n.stopping) })
		_ = n.cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-n.done:
		case <-time.After(30 * time.Second):
			_ = n.cmd.Process.Kill()
			<-n.done
			t.Errorf("novabsd compute (host %s) ignored SIGTERM for 30 s\n%s", host, n.Log())
		}
		if t.Failed() {
			t.Logf("novabsd log (host %s):\n%s", host, n.Log())
		}
	})
	return n
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
	deadline := time.Now().Add(timeout)
	for time.Now().Before(deadline) {
		if b, err := os.ReadFile(n.logPath); err == nil && bytes.Contains(b, []byte(s)) {
			return
		}
		select {
		case <-n.done:
			t.Fatalf("novabsd exited before logging %q\n%s", s, n.Log())
		case <-time.After(50 * time.Millisecond):
		}
	}
	t.Fatalf("novabsd did not log %q within %v\n%s", s, timeout, tail(n.Log(), 40))
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
