package qemu

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"time"
)

// probeExit is the isa-debug-exit status of the probe payload: it writes
// 0x2a to port 0xf4 and QEMU exits with (0x2a<<1)|1.
const probeExit = 0x2a<<1 | 1

// probePayload is a one-sector MBR disk whose boot code runs in real mode:
// mov al,0x2a; out 0xf4,al; hlt; jmp $-3. Booting it takes the firmware
// (SeaBIOS) through its real/protected mode switches first, which is what
// some /dev/kvm providers (kvm_pvm) fail at: they open and create VMs fine
// but kill such guests with an emulation failure. Only a guest that reached
// its boot sector proves KVM usable.
func probePayload() []byte {
	b := make([]byte, 512)
	copy(b, []byte{0xb0, 0x2a, 0xe6, 0xf4, 0xf4, 0xeb, 0xfd})
	b[510], b[511] = 0x55, 0xaa
	return b
}

// ProbeAccel reports whether accel really runs a real-mode guest with
// binary, within timeout.
func ProbeAccel(ctx context.Context, binary, accel string, timeout time.Duration) (bool, error) {
	dir, err := os.MkdirTemp("", "novabsd-accel-probe")
	if err != nil {
		return false, err
	}
	defer os.RemoveAll(dir)
	disk := filepath.Join(dir, "probe.img")
	if err := os.WriteFile(disk, probePayload(), 0o600); err != nil {
		return false, err
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, binary, "-accel", accel, "-machine", "pc", "-nodefaults", "-no-user-config",
		"-display", "none", "-m", "32", "-drive", "file="+optEscape(disk)+",format=raw,if=ide",
		"-device", "isa-debug-exit,iobase=0xf4,iosize=0x04")
	err = cmd.Run()
	var ee *exec.ExitError
	if errors.As(err, &ee) && ee.ExitCode() == probeExit {
		return true, nil
	}
	if ctx.Err() == context.DeadlineExceeded {
		return false, nil // hung: the guest never ran
	}
	if errors.Is(err, exec.ErrNotFound) {
		return false, err
	}
	return false, nil
}

var accelCache struct {
	sync.Mutex
	m map[string]string
}

// resolveAccel turns "auto" into "kvm" or "tcg" once per binary: KVM is
// used only when /dev/kvm exists and the probe guest ran under it.
func resolveAccel(ctx context.Context, c Config) string {
	if c.Accel != AccelAuto {
		return c.Accel
	}
	accelCache.Lock()
	defer accelCache.Unlock()
	if a, ok := accelCache.m[c.Binary]; ok {
		return a
	}
	a := AccelTCG
	if _, err := os.Stat("/dev/kvm"); err == nil {
		if ok, _ := ProbeAccel(ctx, c.Binary, AccelKVM, 5*time.Second); ok {
			a = AccelKVM
		}
	}
	if accelCache.m == nil {
		accelCache.m = map[string]string{}
	}
	accelCache.m[c.Binary] = a
	return a
}
