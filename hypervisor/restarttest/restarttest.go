// Package restarttest checks one promise every hypervisor.Driver makes: a
// guest outlives the service that started it, and a restarted service finds
// it again. Guests are their own processes (bhyve, QEMU) and keep running
// when novabsd stops; the next start must adopt them — report them Running,
// list them, serve their console, stop them on request — and must never kill
// them, start a second process for the same guest, or report a running
// guest shut down. A guest whose process ended while the service was down is
// reported off and leaves nothing behind on the host; a recorded pid the
// kernel has since given to another process is neither adopted nor killed.
//
// The cases are the same for every engine, so they live here, and each
// driver package's tests run them (Run) through an Engine that knows how
// that driver's guests are started and found. It is a test helper package:
// only _test files import it.
package restarttest

import (
	"context"
	"errors"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/novabsd/novabsd/hypervisor"
	"libvirt.org/go/libvirtxml"
)

// Engine is what one driver's tests give Run. Each Engine serves one guest
// on a host of its own (own instance and state directories), so cases do not
// see each other's guests.
type Engine interface {
	// Driver returns a new driver, as a starting service builds it.
	Driver(t *testing.T) hypervisor.Driver
	// Guest returns the guest and the domain it is started from.
	Guest() (hypervisor.Guest, *libvirtxml.Domain)
	// Orphan starts g from dom in a service that then ends without stopping
	// it (as after SIGKILL), and returns the pid of g's engine process.
	Orphan(t *testing.T, g hypervisor.Guest, dom *libvirtxml.Domain) int
	// Readopt runs one more service that starts, adopts g by asking the
	// driver for its Info, and ends without stopping it; it returns the
	// state that service reported.
	Readopt(t *testing.T, g hypervisor.Guest) hypervisor.PowerState
	// Processes returns the pids of g's live engine processes, found
	// without asking the driver (zombies are not live).
	Processes(t *testing.T, g hypervisor.Guest) []int
	// Say makes the running guest print a line on its console and returns
	// the line.
	Say(t *testing.T, g hypervisor.Guest) string
	// RecordPID overwrites the driver's record of g's engine process with
	// pid, as a service that started g long ago would have left it.
	RecordPID(t *testing.T, g hypervisor.Guest, pid int)
	// Leftovers lists what g still holds on the host beyond its process
	// (bhyve: its kernel VM); empty when nothing.
	Leftovers(t *testing.T, g hypervisor.Guest) []string
}

// Run runs every case, each on a fresh Engine from newEngine.
func Run(t *testing.T, newEngine func(t *testing.T) Engine) {
	cases := []struct {
		name string
		run  func(t *testing.T, e Engine)
	}{
		{"running guest is adopted", adoptsRunning},
		{"guest ended while the service was down", endedWhileDown},
		{"recycled pid is neither adopted nor killed", recycledPID},
		{"restarts never duplicate a guest", noDuplicate},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) { c.run(t, newEngine(t)) })
	}
}

// adoptsRunning: a running guest is reported Running and listed by the new
// driver, no second process is started for it, its console is still
// written, and Destroy ends the adopted process.
func adoptsRunning(t *testing.T, e Engine) {
	ctx := context.Background()
	g, dom := e.Guest()
	pid := e.Orphan(t, g, dom)
	d := e.Driver(t)
	wantState(t, d, g, hypervisor.Running)
	wantListed(t, d, g, true)
	wantProcesses(t, e, g, pid)
	if err := d.Spawn(ctx, g, dom); !errors.Is(err, hypervisor.ErrInvalidState) {
		t.Errorf("Spawn of the adopted running guest: %v, want ErrInvalidState", err)
	}
	_ = d.PowerOn(ctx, g) // nil (already on) or ErrInvalidState; either way no new process
	wantProcesses(t, e, g, pid)
	line := e.Say(t, g)
	eventually(t, "the adopted guest's console line "+strconv.Quote(line), func() bool {
		out, err := d.ConsoleOutput(ctx, g, 0)
		return err == nil && strings.Contains(string(out), line)
	})
	if err := d.Destroy(ctx, g); err != nil {
		t.Fatalf("Destroy of the adopted guest: %v", err)
	}
	eventually(t, "the adopted process to end", func() bool { return len(e.Processes(t, g)) == 0 })
	wantOff(t, d, g)
	wantListed(t, d, g, false)
	wantClean(t, e, g)
}

// endedWhileDown: a guest whose process ended while no service ran is
// reported off, not listed, leaves nothing behind, and powers on again as
// one new process.
func endedWhileDown(t *testing.T, e Engine) {
	ctx := context.Background()
	g, dom := e.Guest()
	pid := e.Orphan(t, g, dom)
	kill(t, e, g, pid)
	d := e.Driver(t)
	wantOff(t, d, g)
	wantListed(t, d, g, false)
	wantClean(t, e, g)
	if err := d.PowerOn(ctx, g); err != nil {
		t.Fatalf("PowerOn after the guest ended while the service was down: %v", err)
	}
	wantState(t, d, g, hypervisor.Running)
	if got := e.Processes(t, g); len(got) != 1 || got[0] == pid {
		t.Errorf("processes after PowerOn %v, want one new one (the old was %d)", got, pid)
	}
	if err := d.Destroy(ctx, g); err != nil {
		t.Fatal(err)
	}
	eventually(t, "the guest's process to end", func() bool { return len(e.Processes(t, g)) == 0 })
}

// recycledPID: the guest's process ended while the service was down and the
// kernel gave its pid to an unrelated process, one whose arguments even end
// with the guest's name. The driver neither adopts nor signals it, through
// Info, PowerOff and Destroy.
func recycledPID(t *testing.T, e Engine) {
	ctx := context.Background()
	g, dom := e.Guest()
	pid := e.Orphan(t, g, dom)
	kill(t, e, g, pid)
	stranger := exec.Command("sh", "-c", "sleep 60", g.Name)
	if err := stranger.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan struct{})
	go func() { stranger.Wait(); close(exited) }()
	t.Cleanup(func() { stranger.Process.Kill(); <-exited })
	e.RecordPID(t, g, stranger.Process.Pid)
	d := e.Driver(t)
	wantOff(t, d, g)
	wantListed(t, d, g, false)
	_ = d.PowerOff(ctx, g, 0) // not running: ErrInvalidState or nil
	if err := d.Destroy(ctx, g); err != nil {
		t.Fatalf("Destroy: %v", err)
	}
	wantClean(t, e, g)
	select {
	case <-exited:
		t.Fatalf("the unrelated process %d holding the recorded pid was killed: %v", stranger.Process.Pid, stranger.ProcessState)
	case <-time.After(300 * time.Millisecond):
	}
}

// noDuplicate: a guest adopted by one restarted service and then by another
// is still the one process, and the driver asked twice starts nothing.
func noDuplicate(t *testing.T, e Engine) {
	ctx := context.Background()
	g, dom := e.Guest()
	pid := e.Orphan(t, g, dom)
	if st := e.Readopt(t, g); st != hypervisor.Running {
		t.Fatalf("the first restarted service reported %s, want running", st)
	}
	wantProcesses(t, e, g, pid)
	d := e.Driver(t)
	for range 2 {
		wantState(t, d, g, hypervisor.Running)
		_ = d.PowerOn(ctx, g)
		wantProcesses(t, e, g, pid)
	}
	if err := d.Destroy(ctx, g); err != nil {
		t.Fatal(err)
	}
	eventually(t, "the guest's process to end", func() bool { return len(e.Processes(t, g)) == 0 })
}

func wantState(t *testing.T, d hypervisor.Driver, g hypervisor.Guest, want hypervisor.PowerState) {
	t.Helper()
	info, err := d.Info(context.Background(), g)
	if err != nil || info.State != want {
		t.Fatalf("Info: %s, %v; want %s", info.State, err, want)
	}
}

// wantOff: Shutdown, or Crashed when the driver knows the exit was a fault.
func wantOff(t *testing.T, d hypervisor.Driver, g hypervisor.Guest) {
	t.Helper()
	info, err := d.Info(context.Background(), g)
	if err != nil || (info.State != hypervisor.Shutdown && info.State != hypervisor.Crashed) {
		t.Fatalf("Info: %s, %v; want shutdown (or crashed)", info.State, err)
	}
}

func wantListed(t *testing.T, d hypervisor.Driver, g hypervisor.Guest, want bool) {
	t.Helper()
	names, err := d.List(context.Background())
	if err != nil {
		t.Fatalf("List: %v", err)
	}
	if slices.Contains(names, g.Name) != want {
		t.Fatalf("List = %v; listed %s: want %v", names, g.Name, want)
	}
}

// wantProcesses: exactly the one process pid runs the guest.
func wantProcesses(t *testing.T, e Engine, g hypervisor.Guest, pid int) {
	t.Helper()
	if got := e.Processes(t, g); len(got) != 1 || got[0] != pid {
		t.Fatalf("processes of %s: %v, want just %d", g.Name, got, pid)
	}
}

func wantClean(t *testing.T, e Engine, g hypervisor.Guest) {
	t.Helper()
	if l := e.Leftovers(t, g); len(l) > 0 {
		t.Fatalf("left on the host: %v", l)
	}
}

// kill ends the guest's process from outside while no service runs, and
// waits until it is gone.
func kill(t *testing.T, e Engine, g hypervisor.Guest, pid int) {
	t.Helper()
	if err := syscall.Kill(pid, syscall.SIGKILL); err != nil {
		t.Fatalf("kill %d: %v", pid, err)
	}
	eventually(t, "the killed guest process to end", func() bool { return len(e.Processes(t, g)) == 0 })
}

// eventually polls cond for up to 10 s.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for end := time.Now().Add(10 * time.Second); time.Now().Before(end); time.Sleep(20 * time.Millisecond) {
		if cond() {
			return
		}
	}
	t.Fatalf("timed out waiting for %s", what)
}

// Processes returns the pids of the live processes (zombies left out) whose
// command line, as ps(1) shows it, satisfies match, leaving out those whose
// parent matches too: a guest process's own fork, caught before it has run
// another program, is not a second guest. Engines use it to find their
// guests' processes without the driver.
func Processes(t *testing.T, match func(cmdline string) bool) []int {
	t.Helper()
	out, err := exec.Command("ps", "-A", "-ww", "-o", "pid=", "-o", "ppid=", "-o", "stat=", "-o", "args=").Output()
	if err != nil {
		t.Fatalf("ps: %v", err)
	}
	parent := map[int]int{} // matching pid -> its parent
	for _, l := range strings.Split(string(out), "\n") {
		f := strings.Fields(l)
		if len(f) < 4 || strings.HasPrefix(f[2], "Z") {
			continue
		}
		pid, err1 := strconv.Atoi(f[0])
		ppid, err2 := strconv.Atoi(f[1])
		if err1 != nil || err2 != nil {
			continue
		}
		if match(strings.Join(f[3:], " ")) {
			parent[pid] = ppid
		}
	}
	var pids []int
	for pid, ppid := range parent {
		if _, fork := parent[ppid]; !fork {
			pids = append(pids, pid)
		}
	}
	slices.Sort(pids)
	return pids
}
