package image

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

// needOrSkip fails under CI and skips otherwise when a host component is missing.
func needOrSkip(t *testing.T, what string, err error) {
	t.Helper()
	if err == nil {
		return
	}
	if os.Getenv("CI") == "true" {
		t.Fatalf("%s: %v", what, err)
	}
	t.Skipf("%s unavailable (set CI=true to make this fatal): %v", what, err)
}

func ensureNow(t *testing.T) Paths {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	p, err := Ensure(ctx, Dir())
	needOrSkip(t, "building the tiny image", err)
	return p
}

var (
	ensureOnce  sync.Once
	ensuredPath Paths
	ensureErr   error
)

// ensure builds (or checks) the image once per test binary.
func ensure(t *testing.T) Paths {
	t.Helper()
	ensureOnce.Do(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
		defer cancel()
		ensuredPath, ensureErr = Ensure(ctx, Dir())
	})
	needOrSkip(t, "building the tiny image", ensureErr)
	return ensuredPath
}

func TestEnsureIsCached(t *testing.T) {
	p := ensureNow(t)
	before, err := os.Stat(p.Raw)
	if err != nil {
		t.Fatal(err)
	}
	p2 := ensureNow(t)
	after, err := os.Stat(p2.Raw)
	if err != nil {
		t.Fatal(err)
	}
	if !after.ModTime().Equal(before.ModTime()) {
		t.Errorf("second Ensure rewrote %s (mtime %v -> %v)", p.Raw, before.ModTime(), after.ModTime())
	}
}

func TestImageFormats(t *testing.T) {
	p := ensure(t)
	_, err := exec.LookPath("qemu-img")
	needOrSkip(t, "qemu-img", err)
	for _, tc := range []struct {
		path, format string
	}{{p.Raw, "raw"}, {p.QCOW2, "qcow2"}} {
		out, err := exec.Command("qemu-img", "info", "--output=json", tc.path).Output()
		if err != nil {
			t.Fatalf("qemu-img info %s: %v", tc.path, err)
		}
		var info struct {
			Format      string `json:"format"`
			VirtualSize int64  `json:"virtual-size"`
		}
		if err := json.Unmarshal(out, &info); err != nil {
			t.Fatalf("qemu-img info %s: %v", tc.path, err)
		}
		if info.Format != tc.format {
			t.Errorf("%s: format %q, want %q", tc.path, info.Format, tc.format)
		}
		// "Tens of MB at most": the guest must stay cheap to copy and convert.
		if info.VirtualSize <= 0 || info.VirtualSize > 64<<20 {
			t.Errorf("%s: virtual size %d, want 0 < size <= 64 MiB", tc.path, info.VirtualSize)
		}
	}
}

// TestBootMarkerAndPowerdown boots each format under TCG, waits for Marker on the serial
// console, then presses the ACPI power button over QMP and expects QEMU to exit by itself.
func TestBootMarkerAndPowerdown(t *testing.T) {
	p := ensure(t)
	_, err := exec.LookPath("qemu-system-x86_64")
	needOrSkip(t, "qemu-system-x86_64", err)
	for _, tc := range []struct{ path, format string }{{p.Raw, "raw"}, {p.QCOW2, "qcow2"}} {
		t.Run(tc.format, func(t *testing.T) {
			dir := t.TempDir()
			serial := filepath.Join(dir, "serial.log")
			qmp := filepath.Join(dir, "qmp.sock")
			// -snapshot: the shared image is never written.
			cmd := exec.Command("qemu-system-x86_64", "-accel", "tcg", "-m", "128", "-nodefaults",
				"-display", "none", "-snapshot", "-no-reboot",
				"-drive", "file="+tc.path+",format="+tc.format+",if=virtio",
				"-serial", "file:"+serial, "-qmp", "unix:"+qmp+",server=on,wait=off")
			out := &strings.Builder{}
			cmd.Stdout, cmd.Stderr = out, out
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			exited := make(chan error, 1)
			go func() { exited <- cmd.Wait() }()
			defer func() {
				_ = cmd.Process.Kill()
			}()

			start := time.Now()
			if err := waitForLine(serial, Marker, 90*time.Second, exited); err != nil {
				log, _ := os.ReadFile(serial)
				t.Fatalf("%v\nqemu: %s\nserial:\n%s", err, out, log)
			}
			t.Logf("%s: marker after %v", tc.format, time.Since(start).Round(100*time.Millisecond))

			if err := qmpCommand(qmp, "system_powerdown"); err != nil {
				t.Fatal(err)
			}
			select {
			case err := <-exited:
				if err != nil {
					t.Fatalf("qemu exited with %v after powerdown: %s", err, out)
				}
			case <-time.After(60 * time.Second):
				log, _ := os.ReadFile(serial)
				t.Fatalf("guest ignored the ACPI power button for 60s; serial:\n%s", log)
			}
			log, _ := os.ReadFile(serial)
			if !strings.Contains(string(log), "reboot: Power down") {
				t.Errorf("no clean kernel power-down on the console:\n%s", log)
			}
		})
	}
}

func waitForLine(path, line string, timeout time.Duration, exited <-chan error) error {
	deadline := time.Now().Add(timeout)
	for time.Now().Before(deadline) {
		if b, err := os.ReadFile(path); err == nil {
			sc := bufio.NewScanner(strings.NewReader(string(b)))
			for sc.Scan() {
				if strings.TrimSpace(sc.Text()) == line {
					return nil
				}
			}
		}
		select {
		case err := <-exited:
			return fmt.Errorf("qemu exited (%v) before %q", err, line)
		case <-time.After(100 * time.Millisecond):
		}
	}
	return fmt.Errorf("no %q on the console within %v", line, timeout)
}

// qmpCommand connects to a QMP socket, negotiates capabilities and runs one command.
func qmpCommand(sock, command string) error {
	var conn net.Conn
	var err error
	for i := 0; i < 50; i++ {
		if conn, err = net.Dial("unix", sock); err == nil {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	if err != nil {
		return fmt.Errorf("connecting to QMP %s: %w", sock, err)
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(10 * time.Second))
	dec := json.NewDecoder(conn)
	var greeting map[string]any
	if err := dec.Decode(&greeting); err != nil {
		return fmt.Errorf("QMP greeting: %w", err)
	}
	for _, c := range []string{"qmp_capabilities", command} {
		if _, err := fmt.Fprintf(conn, "{\"execute\":%q}\n", c); err != nil {
			return fmt.Errorf("QMP %s: %w", c, err)
		}
		for {
			var msg map[string]any
			if err := dec.Decode(&msg); err != nil {
				return fmt.Errorf("QMP %s reply: %w", c, err)
			}
			if e, ok := msg["error"]; ok {
				return fmt.Errorf("QMP %s: %v", c, e)
			}
			if _, ok := msg["return"]; ok {
				break
			}
		}
	}
	return nil
}
