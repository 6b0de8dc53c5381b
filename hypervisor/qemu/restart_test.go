package qemu

import (
	"context"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"

	"github.com/novabsd/novabsd/hypervisor"
	"github.com/novabsd/novabsd/hypervisor/restarttest"
	"libvirt.org/go/libvirtxml"
)

// qemuEngine runs restarttest's cases on the fake QEMU (fakeqemu_test.go). A
// QEMU guest is its own session (Setsid) and answers on its QMP socket, so a
// service's end is its driver dropping the guest and closing its monitor
// connection (QMP serves one client): the next driver finds the guest by its
// pid file and QMP alone. The fake stays this process's child, so it is reaped
// when it ends, as init reaps a real QEMU orphaned by the service.
type qemuEngine struct {
	h   *fakeHost
	g   hypervisor.Guest
	dom *libvirtxml.Domain
}

func (e *qemuEngine) Driver(t *testing.T) hypervisor.Driver {
	d, err := New(e.h.d.cfg)
	if err != nil {
		t.Fatal(err)
	}
	return d
}

func (e *qemuEngine) Guest() (hypervisor.Guest, *libvirtxml.Domain) { return e.g, e.dom }

// abandon is the end of the service that drove d: d forgets g and closes its
// QMP connection; the guest keeps running.
func abandon(d *Driver, g hypervisor.Guest) {
	d.mu.Lock()
	v := d.vms[g.Name]
	delete(d.vms, g.Name)
	d.mu.Unlock()
	if v != nil && v.mon != nil {
		v.mon.Close()
	}
}

func (e *qemuEngine) Orphan(t *testing.T, g hypervisor.Guest, dom *libvirtxml.Domain) int {
	t.Helper()
	d := e.Driver(t).(*Driver)
	if err := d.Spawn(context.Background(), g, dom); err != nil {
		t.Fatal(err)
	}
	abandon(d, g)
	pids := e.Processes(t, g)
	if len(pids) != 1 {
		t.Fatalf("the abandoned guest runs as %v, want one QEMU", pids)
	}
	return pids[0]
}

func (e *qemuEngine) Readopt(t *testing.T, g hypervisor.Guest) hypervisor.PowerState {
	t.Helper()
	d := e.Driver(t).(*Driver)
	info, err := d.Info(context.Background(), g)
	if err != nil {
		t.Fatal(err)
	}
	abandon(d, g)
	return info.State
}

// Processes finds the fake QEMUs of g by the -name argument.
func (e *qemuEngine) Processes(t *testing.T, g hypervisor.Guest) []int {
	return restarttest.Processes(t, func(cmdline string) bool {
		return strings.Contains(cmdline, " -name guest="+g.Name+",")
	})
}

func (e *qemuEngine) Say(t *testing.T, g hypervisor.Guest) string {
	for _, pid := range e.Processes(t, g) {
		if err := syscall.Kill(pid, syscall.SIGUSR1); err != nil {
			t.Fatal(err)
		}
	}
	return fakeConsoleLine
}

func (e *qemuEngine) RecordPID(t *testing.T, g hypervisor.Guest, pid int) {
	if err := os.WriteFile(filepath.Join(g.Dir, pidFile), []byte(strconv.Itoa(pid)+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
}

// Leftovers: a QEMU guest holds nothing on the host but its process.
func (e *qemuEngine) Leftovers(t *testing.T, g hypervisor.Guest) []string { return nil }

// TestRestartAdoptsGuests: the shared restart cases (hypervisor/restarttest) on QEMU.
func TestRestartAdoptsGuests(t *testing.T) {
	needQEMU(t) // the fake answers ProbeBinary's questions with the real binary
	n := 0
	restarttest.Run(t, func(t *testing.T) restarttest.Engine {
		h := newFakeHost(t, AccelTCG, fakeKVMOK)
		n++ // a guest name of its own per case: Processes finds guests by name
		g, dom := h.guest(t, n)
		return &qemuEngine{h: h, g: g, dom: dom}
	})
}
