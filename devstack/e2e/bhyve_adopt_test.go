//go:build e2e

package e2e

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/novabsd/novabsd/hypervisor/restarttest"
)

// The bhyve engine end to end, on the stand-ins of bhyve(8), bhyvectl(8) and bhyveload(8) in
// hypervisor/bhyve/testdata: this Linux host has no vmm(4), so each guest is a stand-in shell process that behaves as
// bhyve documents (its VM listed in the stand-in's vmm directory, SIGTERM the power button). Guests boot with
// --nic none (bhyve's tap plugging is FreeBSD's) from the raw tiny image (bhyve opens raw disks only).

// bhyveStandIns is a novabsd host's bhyve engine on the stand-ins: their state directory (BHYVE_STANDIN_STATE), where
// the stand-ins list VMs (vmm_dir) and record their pids.
type bhyveStandIns struct {
	bhyve string // the bhyve stand-in's path, as its processes' command lines show it
	state string
	conf  string // nova.conf text that runs the bhyve engine on them
}

// newBhyveStandIns prepares the stand-ins for a host started later in this test: their state directory, passed to
// the service (and so to the stand-ins it starts) as BHYVE_STANDIN_STATE, and firmware files the driver requires to
// exist. At the end any stand-in guest still running for one of names() is killed, so a failed test leaves no process.
func newBhyveStandIns(t *testing.T, names func() []string) *bhyveStandIns {
	t.Helper()
	testdata := filepath.Join(repoRoot, "hypervisor", "bhyve", "testdata")
	fw := t.TempDir()
	code, vars := filepath.Join(fw, "BHYVE_UEFI_CODE.fd"), filepath.Join(fw, "BHYVE_UEFI_VARS.fd")
	for _, f := range []string{code, vars} {
		if err := os.WriteFile(f, []byte("stand-in firmware\n"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	s := &bhyveStandIns{bhyve: filepath.Join(testdata, "bhyve-standin"), state: t.TempDir()}
	// The service inherits the test's environment (launchNovabsd), and the stand-ins the service's.
	t.Setenv("BHYVE_STANDIN_STATE", s.state)
	s.conf = fmt.Sprintf(`[DEFAULT]
compute_driver = bhyve
[bhyve]
bhyve_path = %s
bhyvectl_path = %s
bhyveload_path = %s
vmm_dir = %s
uefi_firmware = %s
uefi_vars_template = %s
storage_backend = file
`, s.bhyve, filepath.Join(testdata, "bhyvectl-standin"), filepath.Join(testdata, "bhyveload-standin"),
		filepath.Join(s.state, "vmm"), code, vars)
	t.Cleanup(func() {
		for _, name := range names() {
			for _, pid := range s.processes(t, name) {
				t.Errorf("stand-in guest %s (pid %d) still running at the end of the test: killed", name, pid)
				_ = syscall.Kill(pid, syscall.SIGKILL)
			}
		}
	})
	return s
}

// processes returns the pids of the live stand-in bhyve processes running the VM name (its last argument).
func (s *bhyveStandIns) processes(t *testing.T, name string) []int {
	t.Helper()
	return restarttest.Processes(t, func(cmdline string) bool {
		return strings.Contains(cmdline, s.bhyve+" ") && strings.HasSuffix(cmdline, " "+name)
	})
}

// vmListed reports whether the stand-in kernel lists the VM name.
func (s *bhyveStandIns) vmListed(name string) bool {
	_, err := os.Stat(filepath.Join(s.state, "vmm", name))
	return err == nil
}

// bhyveGuest is one server of the test and the stand-in process running it.
type bhyveGuest struct {
	id, name string // server id; instance (VM) name
	pid      int
}

// checkOneProcess fails unless exactly one stand-in process runs g, and it is g.pid: the guest was neither killed
// nor started a second time.
func (s *bhyveStandIns) checkOneProcess(t *testing.T, g bhyveGuest, when string) {
	t.Helper()
	got := s.processes(t, g.name)
	if !slices.Equal(got, []int{g.pid}) {
		t.Fatalf("%s: stand-in bhyve processes of server %s (VM %s) are %v, want exactly the one it ran on before, %d",
			when, g.id, g.name, got, g.pid)
	}
}

// checkHostServers checks what `openstack server list --host` shows for the guests: each ACTIVE, power state running.
func checkHostServers(t *testing.T, host string, guests []bhyveGuest, when string) {
	t.Helper()
	rows := openstackJSON(t, "server", "list", "--host", host, "--long")
	for _, g := range guests {
		i := slices.IndexFunc(rows, func(r map[string]any) bool { return field(r, "ID") == g.id })
		if i < 0 {
			t.Fatalf("%s: `openstack server list --host %s` does not list server %s: %v", when, host, g.id, rows)
		}
		// With -f json the CLI gives the power state as Nova's code.
		ps, _ := rows[i]["Power State"].(float64)
		if st := field(rows[i], "Status"); st != "ACTIVE" || int(ps) != running {
			t.Fatalf("%s: `openstack server list` shows server %s as %s, power state %v; want ACTIVE, %d (Running)",
				when, g.id, st, rows[i]["Power State"], running)
		}
	}
}

// TestBhyveStandInGuestsAdoptedAfterKill: with two bhyve guests running, the service is killed (SIGKILL, as a crash)
// and started again; the new process adopts the guests it finds running: the same stand-in processes run on (none
// killed, none started twice), Nova shows them ACTIVE and Running, also after power-state syncs, and they stop,
// start and delete as any guest does.
func TestBhyveStandInGuestsAdoptedAfterKill(t *testing.T) {
	requireRig(t)
	var guests []bhyveGuest
	si := newBhyveStandIns(t, func() []string {
		var names []string
		for _, g := range guests {
			names = append(names, g.name)
		}
		return names
	})
	host := fmt.Sprintf("e2e-bhyve-%d", time.Now().UnixNano()%100000)
	hostConf := lifecycleExtra + si.conf
	n := startNovabsdConf(t, host, hostConf)
	n.waitLog(t, "Compute service started", 90*time.Second)
	t.Cleanup(func() { deleteHost(t, host) })
	rig(t, "discover")

	for i := range 2 {
		id := createServer(t, host, fmt.Sprintf("e2e-bhyve-%d", i), "tiny", "--nic", "none")
		s := serverShow(t, id)
		g := bhyveGuest{id: id, name: field(s, "OS-EXT-SRV-ATTR:instance_name")}
		if g.name == "" {
			t.Fatalf("server %s: no instance name in %v", id, s)
		}
		pids := si.processes(t, g.name)
		if len(pids) != 1 {
			t.Fatalf("ACTIVE server %s (VM %s) has stand-in bhyve processes %v, want one", id, g.name, pids)
		}
		g.pid = pids[0]
		recorded, err := os.ReadFile(filepath.Join(instanceDir(host, id), "bhyve.pid"))
		if err != nil || strings.TrimSpace(string(recorded)) != strconv.Itoa(g.pid) {
			t.Fatalf("server %s: bhyve.pid holds %q (%v), want the running stand-in's pid %d", id, recorded, err, g.pid)
		}
		if !si.vmListed(g.name) {
			t.Fatalf("server %s: VM %s is not listed in the stand-in's vmm directory", id, g.name)
		}
		guests = append(guests, g)
	}

	n.kill(t)
	for _, g := range guests {
		si.checkOneProcess(t, g, "after SIGKILL of the service")
	}

	n2 := startNovabsdConf(t, host, hostConf)
	// Cleanups run last first: this one deletes what is left while the restarted service still runs.
	t.Cleanup(func() {
		for _, g := range guests {
			deleteServer(t, g.id)
		}
	})
	n2.waitLog(t, "Compute service started", 90*time.Second)
	for _, g := range guests {
		log := filepath.Join(instanceDir(host, g.id), "bhyve.log")
		want := fmt.Sprintf("adopted bhyve %d left running by a previous service process", g.pid)
		deadline := time.Now().Add(30 * time.Second)
		for {
			b, _ := os.ReadFile(log)
			if strings.Contains(string(b), want) {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("server %s: the restarted service did not adopt stand-in %d within 30 s (%s lacks %q):\n%s",
					g.id, g.pid, log, want, tail(string(b), 10))
			}
			time.Sleep(time.Second)
		}
		si.checkOneProcess(t, g, "after the restart")
	}
	checkHostServers(t, host, guests, "after the restart")

	// sync_power_state_interval is 10 s (lifecycleExtra): two syncs must leave the adopted guests as they are.
	time.Sleep(25 * time.Second)
	for _, g := range guests {
		si.checkOneProcess(t, g, "25 s after the restart (power-state syncs)")
	}
	checkHostServers(t, host, guests, "25 s after the restart (power-state syncs)")

	a, b := guests[0], guests[1]
	openstack(t, "server", "stop", a.id)
	s := waitServer(t, a.id, "SHUTOFF", 2*time.Minute)
	if ps, _ := s["OS-EXT-STS:power_state"].(float64); int(ps) != shutdown {
		t.Errorf("stopped adopted server %s: power state %v, want %d (shutdown)", a.id, s["OS-EXT-STS:power_state"], shutdown)
	}
	if pids := si.processes(t, a.name); len(pids) != 0 {
		t.Fatalf("stopped adopted server %s: stand-in bhyve processes %v still run (was %d)", a.id, pids, a.pid)
	}
	if si.vmListed(a.name) {
		t.Errorf("stopped adopted server %s: VM %s still listed in vmm_dir (not destroyed)", a.id, a.name)
	}
	si.checkOneProcess(t, b, "after stopping the other server")

	openstack(t, "server", "start", a.id)
	s = waitServer(t, a.id, "ACTIVE", 2*time.Minute)
	if ps, _ := s["OS-EXT-STS:power_state"].(float64); int(ps) != running {
		t.Errorf("restarted server %s: power state %v, want %d (running)", a.id, s["OS-EXT-STS:power_state"], running)
	}
	pids := si.processes(t, a.name)
	if len(pids) != 1 || pids[0] == a.pid {
		t.Fatalf("started server %s: stand-in bhyve processes %v, want one new process (the stopped one was %d)",
			a.id, pids, a.pid)
	}
	guests[0].pid = pids[0]
	checkHostServers(t, host, guests, "after stop and start")

	for _, g := range guests {
		openstack(t, "server", "delete", "--wait", g.id)
		if pids := si.processes(t, g.name); len(pids) != 0 {
			t.Errorf("deleted server %s: stand-in bhyve processes %v still run", g.id, pids)
		}
		if _, err := os.Stat(instanceDir(host, g.id)); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("deleted server %s: instance directory still there (%v)", g.id, err)
		}
		if si.vmListed(g.name) {
			t.Errorf("deleted server %s: VM %s still listed in vmm_dir", g.id, g.name)
		}
	}
}
