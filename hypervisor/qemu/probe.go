package qemu

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	"libvirt.org/go/libvirtxml"
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

// probeDomain is the probe guest: the payload as its only disk, on the
// driver's default machine type (no machine of its own, so c.Machine
// applies as for real guests).
func probeDomain(disk string) *libvirtxml.Domain {
	return &libvirtxml.Domain{
		Name:   "novabsd-accel-probe",
		Memory: &libvirtxml.DomainMemory{Value: 32, Unit: "MiB"},
		OS:     &libvirtxml.DomainOS{Type: &libvirtxml.DomainOSType{Type: "hvm", Arch: "x86_64"}},
		Devices: &libvirtxml.DomainDeviceList{Disks: []libvirtxml.DomainDisk{{
			Device: "disk",
			Driver: &libvirtxml.DomainDiskDriver{Name: "qemu", Type: "raw"},
			Source: &libvirtxml.DomainDiskSource{File: &libvirtxml.DomainDiskSourceFile{File: disk}},
			Target: &libvirtxml.DomainDiskTarget{Dev: "vda", Bus: "virtio"},
			Boot:   &libvirtxml.DomainDeviceBoot{Order: 1},
		}}},
	}
}

// ProbeAccel boots the probe payload under accel within timeout and returns
// nil when it ran. The command line is BuildArgv's for a guest of c, so the
// probe runs the machine type and CPU model (-cpu host under KVM) real
// guests get: a probe on a simpler machine passed on kvm_pvm hosts whose
// real guests then died (failed to set MSR 0x10a). A payload that did not
// run is an *AccelError carrying QEMU's stderr; a missing binary or a
// failure to prepare the probe is returned as it is.
func ProbeAccel(ctx context.Context, c Config, accel string, timeout time.Duration) error {
	dir, err := os.MkdirTemp("", "novabsd-accel-probe")
	if err != nil {
		return fmt.Errorf("qemu: accelerator probe: %w", err)
	}
	defer os.RemoveAll(dir)
	disk := filepath.Join(dir, "probe.img")
	if err := os.WriteFile(disk, probePayload(), 0o600); err != nil {
		return fmt.Errorf("qemu: accelerator probe: %w", err)
	}
	// SeaBIOS does not boot a one-sector virtio or AHCI disk (only
	// piix IDE did, which the old pc-only probe used): pad it to 1 MiB.
	if err := os.Truncate(disk, 1<<20); err != nil {
		return fmt.Errorf("qemu: accelerator probe: %w", err)
	}
	argv, err := BuildArgv(probeDomain(disk), c, accel, Runtime{Dir: dir, QMPSocket: filepath.Join(dir, qmpSocketFile)})
	if err != nil {
		return fmt.Errorf("qemu: accelerator probe: %w", err)
	}
	argv = append(argv, "-device", "isa-debug-exit,iobase=0xf4,iosize=0x04")
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	var stderr bytes.Buffer
	cmd := exec.CommandContext(ctx, argv[0], argv[1:]...)
	cmd.Stdout, cmd.Stderr = &stderr, &stderr
	err = cmd.Run()
	var ee *exec.ExitError
	switch {
	case errors.As(err, &ee) && ee.ExitCode() == probeExit:
		return nil
	case errors.Is(err, exec.ErrNotFound):
		return fmt.Errorf("qemu: accelerator probe: %w", err)
	case ctx.Err() == context.DeadlineExceeded:
		return &AccelError{Accel: accel, Reason: fmt.Sprintf("the probe guest did not finish within %v%s", timeout, stderrSummary(stderr.Bytes()))}
	case err == nil:
		return &AccelError{Accel: accel, Reason: "the probe guest exited without running its payload" + stderrSummary(stderr.Bytes())}
	}
	return &AccelError{Accel: accel, Reason: "the probe guest failed (" + err.Error() + ")" + stderrSummary(stderr.Bytes())}
}

// stderrSummary is ": " and QEMU's last stderr lines, or "".
func stderrSummary(b []byte) string {
	b = bytes.TrimSpace(b)
	if len(b) == 0 {
		return ""
	}
	if len(b) > 512 {
		b = b[len(b)-512:]
	}
	return ": " + strings.ReplaceAll(string(b), "\n", "; ")
}
