package qemu

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/novabsd/novabsd/hypervisor"
	"github.com/novabsd/novabsd/hypervisor/domain"
	"libvirt.org/go/libvirtxml"
)

const marker = "NOVABSD-TINY-GUEST-READY"

// testUser is an unprivileged account every Debian machine has; the tests
// run QEMU as it (novabsd's own novabsd-qemu may not exist here).
const testUser = "nobody"

func tcgDriver(t testing.TB) *Driver {
	t.Helper()
	c := DefaultConfig()
	c.Accel = AccelTCG
	c.RunDir = t.TempDir()
	c.User = testUser // as deployed: QEMU drops root once started
	d, err := New(c)
	if err != nil {
		t.Fatal(err)
	}
	return d
}

// tinyGuest builds the domain of a guest booting the tiny image.
func tinyGuest(t testing.TB, d *Driver, format string, image map[string]string) (hypervisor.Guest, *libvirtxml.Domain) {
	t.Helper()
	dir := guestDir(t)
	disk := tinyImage(t, dir, format)
	g := hypervisor.Guest{UUID: "6c0a8ed5-54d4-4c28-9ad5-2b7d3a0b1c01", Name: "instance-00000001", Dir: dir}
	spec := hypervisor.Spec{UUID: g.UUID, Name: g.Name, Dir: dir, VCPUs: 1, MemoryMB: 256,
		Disks: []hypervisor.Disk{{Role: hypervisor.RoleRoot, Path: disk, Format: format}}}
	dom, err := domain.Build(spec, domain.Props{Image: image}, DomainOptions(d.cfg, AccelTCG))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { d.Destroy(context.Background(), g) })
	return g, dom
}

// bootTiny spawns the tiny guest from a qcow2 image and waits for its marker on the console.
func bootTiny(t testing.TB, d *Driver) (hypervisor.Guest, *libvirtxml.Domain) {
	t.Helper()
	g, dom := tinyGuest(t, d, "qcow2", nil)
	if err := d.Spawn(context.Background(), g, dom); err != nil {
		t.Fatal(err)
	}
	waitConsole(t, d, g, marker, 1, 3*time.Minute)
	return g, dom
}

// waitConsole waits until the console log holds want count times.
func waitConsole(t testing.TB, d *Driver, g hypervisor.Guest, want string, count int, timeout time.Duration) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for time.Now().Before(deadline) {
		out, err := d.ConsoleOutput(context.Background(), g, 0)
		if err != nil {
			t.Fatal(err)
		}
		if bytes.Count(out, []byte(want)) >= count {
			return
		}
		time.Sleep(200 * time.Millisecond)
	}
	out, _ := d.ConsoleOutput(context.Background(), g, 2000)
	t.Fatalf("%q not seen %d times in the console within %v; console tail:\n%s", want, count, timeout, out)
}

func wantState(t testing.TB, d *Driver, g hypervisor.Guest, want hypervisor.PowerState) {
	t.Helper()
	info, err := d.Info(context.Background(), g)
	if err != nil {
		t.Fatal(err)
	}
	if info.State != want {
		t.Fatalf("state %v, want %v", info.State, want)
	}
}

func heartbeats(t testing.TB, d *Driver, g hypervisor.Guest) int {
	out, err := d.ConsoleOutput(context.Background(), g, 0)
	if err != nil {
		t.Fatal(err)
	}
	return bytes.Count(out, []byte("novabsd-tiny: alive"))
}

// TestLifecycle boots the tiny guest once and takes it through pause,
// suspend/resume and a graceful power off, then power on and kill -9.
func TestLifecycle(t *testing.T) {
	needQEMU(t)
	ctx := context.Background()
	d := tcgDriver(t)
	g, dom := bootTiny(t, d)
	wantState(t, d, g, hypervisor.Running)
	if err := d.Spawn(ctx, g, dom); !errors.Is(err, hypervisor.ErrInvalidState) {
		t.Fatalf("second spawn: %v, want ErrInvalidState", err)
	}

	// Pause: no heartbeat while paused.
	if err := d.Pause(ctx, g); err != nil {
		t.Fatal(err)
	}
	wantState(t, d, g, hypervisor.Paused)
	if err := d.Pause(ctx, g); !errors.Is(err, hypervisor.ErrInvalidState) {
		t.Fatalf("pause twice: %v", err)
	}
	before := heartbeats(t, d, g)
	time.Sleep(6 * time.Second)
	if n := heartbeats(t, d, g); n != before {
		t.Fatalf("heartbeats went from %d to %d while paused", before, n)
	}
	if err := d.Unpause(ctx, g); err != nil {
		t.Fatal(err)
	}
	wantState(t, d, g, hypervisor.Running)
	waitConsole(t, d, g, "novabsd-tiny: alive", before+1, time.Minute)

	// Suspend: the process goes, the state file stays; resume continues
	// the same guest (no new boot marker, heartbeats go on).
	if err := d.Suspend(ctx, g); err != nil {
		t.Fatal(err)
	}
	wantState(t, d, g, hypervisor.Suspended)
	if fi, err := os.Stat(filepath.Join(g.Dir, hypervisor.StateFile)); err != nil || fi.Size() < 1<<20 {
		t.Fatalf("state file: %v %v", fi, err)
	}
	if err := d.Resume(ctx, g); err != nil {
		t.Fatal(err)
	}
	wantState(t, d, g, hypervisor.Running)
	if _, err := os.Stat(filepath.Join(g.Dir, hypervisor.StateFile)); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("state file kept after resume: %v", err)
	}
	// The log restarts with the process (logappend=off): a heartbeat
	// without a new marker proves the guest resumed rather than rebooted.
	waitConsole(t, d, g, "novabsd-tiny: alive", 1, time.Minute)
	if out, _ := d.ConsoleOutput(ctx, g, 0); bytes.Contains(out, []byte(marker)) {
		t.Fatalf("guest booted again instead of resuming:\n%s", out)
	}

	// A new driver (service restart) adopts the running guest through its
	// pid file and QMP socket once the old one is gone: QMP serves one
	// client, so the old driver's connection is closed first and the rest
	// of the test uses the new driver.
	d.mu.Lock()
	old := d.vms[g.Name]
	delete(d.vms, g.Name)
	d.mu.Unlock()
	old.mon.Close()
	d = tcgDriver(t)
	t.Cleanup(func() { d.Destroy(context.Background(), g) })
	wantState(t, d, g, hypervisor.Running)
	if err := d.Pause(ctx, g); err != nil {
		t.Fatalf("pause through the adopting driver: %v", err)
	}
	wantState(t, d, g, hypervisor.Paused)
	if err := d.Unpause(ctx, g); err != nil {
		t.Fatal(err)
	}

	// Graceful power off: the guest's acpid powers it off.
	if err := d.PowerOff(ctx, g, 2*time.Minute); err != nil {
		t.Fatal(err)
	}
	waitConsole(t, d, g, "ACPI power button, powering off", 1, time.Second)
	wantState(t, d, g, hypervisor.Shutdown)

	// Power on; soft reboot (power button, then start again) boots anew.
	if err := d.PowerOn(ctx, g); err != nil {
		t.Fatal(err)
	}
	wantState(t, d, g, hypervisor.Running)
	waitConsole(t, d, g, marker, 1, 3*time.Minute)
	if err := d.Reboot(ctx, g, hypervisor.RebootSoft, 2*time.Minute); err != nil {
		t.Fatal(err)
	}
	wantState(t, d, g, hypervisor.Running)
	waitConsole(t, d, g, marker, 1, 3*time.Minute)
	if err := d.Reboot(ctx, g, hypervisor.RebootHard, 0); err != nil {
		t.Fatal(err)
	}
	wantState(t, d, g, hypervisor.Running)

	// Kill QEMU from outside: never reported running.
	d.mu.Lock()
	pid := d.vms[g.Name].pid
	d.mu.Unlock()
	syscall.Kill(pid, syscall.SIGKILL)
	time.Sleep(500 * time.Millisecond)
	wantState(t, d, g, hypervisor.Crashed)
	if err := d.Pause(ctx, g); !errors.Is(err, hypervisor.ErrInvalidState) {
		t.Fatalf("pause of a killed guest: %v", err)
	}
}

// TestSpawnPaused: a guest started paused has its QEMU process (and so its devices) but runs nothing — Info says
// Paused and the console stays silent — until Unpause, after which it boots; Destroy of a paused guest leaves no
// process.
func TestSpawnPaused(t *testing.T) {
	d := tcgDriver(t)
	ctx := context.Background()
	if _, ok := hypervisor.AsPausedSpawner(d); !ok {
		t.Fatal("the QEMU driver offers no paused start")
	}
	g, dom := tinyGuest(t, d, "qcow2", nil)
	paused, err := d.SpawnPaused(ctx, g, dom)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { d.Destroy(context.Background(), g) })
	if !paused {
		t.Fatal("SpawnPaused under TCG started the guest running")
	}
	if info, err := d.Info(ctx, g); err != nil || info.State != hypervisor.Paused {
		t.Fatalf("Info after SpawnPaused: %+v, %v; want Paused", info, err)
	}
	time.Sleep(2 * time.Second)
	if out, err := d.ConsoleOutput(ctx, g, 0); err != nil || len(out) != 0 {
		t.Fatalf("a paused guest wrote to its console (%v): %q", err, out)
	}
	if err := d.Unpause(ctx, g); err != nil {
		t.Fatal(err)
	}
	waitConsole(t, d, g, marker, 1, 3*time.Minute)
	if info, err := d.Info(ctx, g); err != nil || info.State != hypervisor.Running {
		t.Fatalf("Info after Unpause: %+v, %v; want Running", info, err)
	}

	// A guest destroyed while still paused (the wait for its ports failed) leaves nothing running.
	if err := d.Destroy(ctx, g); err != nil {
		t.Fatal(err)
	}
	if _, err := d.SpawnPaused(ctx, g, dom); err != nil {
		t.Fatal(err)
	}
	pid := d.get(ctx, g).pid
	if err := d.Destroy(ctx, g); err != nil {
		t.Fatal(err)
	}
	if syscall.Kill(pid, 0) == nil {
		t.Errorf("QEMU process %d of the destroyed paused guest still exists", pid)
	}
}
