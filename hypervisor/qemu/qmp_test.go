package qemu

import (
	"context"
	"errors"
	"os/exec"
	"path/filepath"
	"testing"
	"time"
)

// startBareQEMU runs a disk-less, paused (-S) QEMU with a QMP socket.
func startBareQEMU(t *testing.T) *Monitor {
	t.Helper()
	bin := needQEMU(t)
	sock := filepath.Join(t.TempDir(), "qmp.sock")
	cmd := exec.Command(bin, "-accel", "tcg", "-machine", "pc", "-nodefaults", "-no-user-config", "-display", "none", "-m", "32", "-S",
		"-qmp", "unix:"+sock+",server=on,wait=off")
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() { cmd.Wait(); close(done) }()
	t.Cleanup(func() { cmd.Process.Kill(); <-done })
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	for {
		m, err := DialQMP(ctx, sock)
		if err == nil {
			t.Cleanup(func() { m.Close() })
			return m
		}
		if ctx.Err() != nil {
			t.Fatalf("no QMP: %v", err)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func nextEvent(t *testing.T, ch <-chan Event, name string) Event {
	t.Helper()
	timeout := time.After(10 * time.Second)
	for {
		select {
		case ev, ok := <-ch:
			if !ok {
				t.Fatalf("event channel closed waiting for %s", name)
			}
			if ev.Name == name {
				return ev
			}
		case <-timeout:
			t.Fatalf("no %s event", name)
		}
	}
}

func TestQMP(t *testing.T) {
	m := startBareQEMU(t)
	ctx := context.Background()
	events, unsubscribe := m.Subscribe()
	defer unsubscribe()

	steps := []struct {
		cmd        string
		event      string
		wantStatus string
	}{
		{"", "", "prelaunch"},
		{"cont", "RESUME", "running"},
		{"stop", "STOP", "paused"},
		{"cont", "RESUME", "running"},
		{"system_reset", "RESET", "running"},
		{"system_powerdown", "POWERDOWN", "running"}, // no ACPI OS: the guest ignores it
	}
	for _, s := range steps {
		if s.cmd != "" {
			if err := m.Execute(ctx, s.cmd, nil, nil); err != nil {
				t.Fatalf("%s: %v", s.cmd, err)
			}
			nextEvent(t, events, s.event)
		}
		st, err := m.QueryStatus(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if st.Status != s.wantStatus {
			t.Fatalf("after %q status %q, want %q", s.cmd, st.Status, s.wantStatus)
		}
	}

	// Errors come back typed, with QEMU's class.
	err := m.Execute(ctx, "no-such-command", nil, nil)
	var qe *QMPError
	if !errors.As(err, &qe) || qe.Class != "CommandNotFound" {
		t.Fatalf("unknown command: %v, want a CommandNotFound QMPError", err)
	}
	err = m.Execute(ctx, "human-monitor-command", map[string]any{"bogus-arg": 1}, nil)
	if !errors.As(err, &qe) || qe.Class != "GenericError" {
		t.Fatalf("bad arguments: %v, want a GenericError", err)
	}

	// Concurrent commands are matched to their own replies by id.
	errs := make(chan error, 8)
	for range 8 {
		go func() {
			var v struct {
				QEMU struct{ Major int } `json:"qemu"`
			}
			err := m.Execute(ctx, "query-version", nil, &v)
			if err == nil && v.QEMU.Major < 2 {
				err = errors.New("implausible version")
			}
			errs <- err
		}()
	}
	for range 8 {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}

	// quit: SHUTDOWN, then the connection ends and commands fail typed.
	if err := m.Execute(ctx, "quit", nil, nil); err != nil {
		t.Fatal(err)
	}
	nextEvent(t, events, "SHUTDOWN")
	select {
	case <-m.Done():
	case <-time.After(10 * time.Second):
		t.Fatal("monitor not closed after quit")
	}
	if err := m.Execute(ctx, "query-status", nil, nil); !errors.Is(err, ErrMonitorClosed) {
		t.Fatalf("after quit: %v, want ErrMonitorClosed", err)
	}
}
