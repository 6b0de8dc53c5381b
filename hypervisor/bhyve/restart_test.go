package bhyve

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/novabsd/novabsd/hypervisor"
	"github.com/novabsd/novabsd/hypervisor/restarttest"
	"libvirt.org/go/libvirtxml"
)

// serviceEnv makes this test binary a stand-in novabsd service (serve): it
// builds the driver on the rig's stand-ins, spawns or adopts one guest, says
// "ready STATE" and waits to be killed, as the service is by SIGKILL. The
// guests it started outlive it, as bhyve guests outlive novabsd.
const serviceEnv = "NOVABSD_BHYVE_TEST_SERVICE"

// serviceArgs is serviceEnv's value, JSON.
type serviceArgs struct {
	Op    string // "spawn" (from the saved domain) or "info" (adopt)
	Pause bool   // pause the guest before saying ready
	Bin   string // rig.bin
	State string // rig.state
	Guest hypervisor.Guest
}

func TestMain(m *testing.M) {
	if a := os.Getenv(serviceEnv); a != "" {
		os.Exit(serve(a))
	}
	os.Exit(m.Run())
}

func serve(arg string) int {
	var a serviceArgs
	if err := json.Unmarshal([]byte(arg), &a); err != nil {
		fmt.Println("error", err)
		return 2
	}
	ctx := context.Background()
	d := New(rigConfig(a.Bin, a.State))
	st := hypervisor.Running
	var err error
	switch a.Op {
	case "spawn":
		var dom *libvirtxml.Domain
		if dom, err = hypervisor.LoadDomain(a.Guest.Dir); err == nil {
			err = d.Spawn(ctx, a.Guest, dom)
		}
	case "info":
		var info hypervisor.Info
		info, err = d.Info(ctx, a.Guest)
		st = info.State
	default:
		err = fmt.Errorf("unknown op %q", a.Op)
	}
	if err == nil && a.Pause {
		if err = d.Pause(ctx, a.Guest); err == nil {
			st = hypervisor.Paused
		}
	}
	if err != nil {
		fmt.Println("error", err)
		return 1
	}
	fmt.Println("ready", int(st))
	// Until killed: the test holds stdin open and never writes.
	_, _ = bufio.NewReader(os.Stdin).ReadByte()
	return 0
}

// runService runs serve with a, waits for its answer, then kills it with
// SIGKILL and returns the state it reported.
func runService(t *testing.T, a serviceArgs) hypervisor.PowerState {
	t.Helper()
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	arg, _ := json.Marshal(a)
	cmd := exec.Command(self)
	cmd.Env = append(os.Environ(), serviceEnv+"="+string(arg))
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	defer stdin.Close()
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	lines := make(chan string, 1)
	go func() {
		l, _ := bufio.NewReader(stdout).ReadString('\n')
		lines <- strings.TrimSpace(l)
	}()
	var line string
	select {
	case line = <-lines:
	case <-time.After(20 * time.Second):
	}
	cmd.Process.Kill() // SIGKILL: the service gets no chance to stop its guests
	cmd.Wait()
	n, ok := strings.CutPrefix(line, "ready ")
	st, err := strconv.Atoi(n)
	if !ok || err != nil {
		t.Fatalf("service %s: %q; stderr: %s", a.Op, line, stderr.String())
	}
	return hypervisor.PowerState(st)
}

// bhyveEngine runs restarttest's cases on the rig: guests are stand-in
// bhyves, started by a service process that is then killed.
type bhyveEngine struct{ r *rig }

func (e bhyveEngine) Driver(t *testing.T) hypervisor.Driver {
	return New(rigConfig(e.r.bin, e.r.state))
}

func (e bhyveEngine) Guest() (hypervisor.Guest, *libvirtxml.Domain) { return e.r.g, e.r.dom }

func (e bhyveEngine) Orphan(t *testing.T, g hypervisor.Guest, dom *libvirtxml.Domain) int {
	t.Helper()
	if err := hypervisor.SaveDomain(g.Dir, dom); err != nil {
		t.Fatal(err)
	}
	if st := runService(t, serviceArgs{Op: "spawn", Bin: e.r.bin, State: e.r.state, Guest: g}); st != hypervisor.Running {
		t.Fatalf("service spawned %s", st)
	}
	pids := e.Processes(t, g)
	if len(pids) != 1 {
		t.Fatalf("after the service was killed its guest runs as %v, want one bhyve", pids)
	}
	return pids[0]
}

func (e bhyveEngine) Readopt(t *testing.T, g hypervisor.Guest) hypervisor.PowerState {
	return runService(t, serviceArgs{Op: "info", Bin: e.r.bin, State: e.r.state, Guest: g})
}

// Processes finds the stand-in bhyves of g: the stand-in's path, the VM name last.
func (e bhyveEngine) Processes(t *testing.T, g hypervisor.Guest) []int {
	bhyve := filepath.Join(e.r.bin, "bhyve")
	return restarttest.Processes(t, func(cmdline string) bool {
		return strings.Contains(cmdline, bhyve+" ") && strings.HasSuffix(cmdline, " "+g.Name)
	})
}

// Say has the stand-in guest print a line on its serial port (the nmdm A
// side), which only the driver's console logger turns into log lines.
func (e bhyveEngine) Say(t *testing.T, g hypervisor.Guest) string {
	line := fmt.Sprintf("adopted guest says %d", time.Now().UnixNano())
	tmp := filepath.Join(e.r.state, "say.tmp")
	if err := os.WriteFile(tmp, []byte(line+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, filepath.Join(e.r.state, "say."+g.Name)); err != nil {
		t.Fatal(err)
	}
	return line
}

func (e bhyveEngine) RecordPID(t *testing.T, g hypervisor.Guest, pid int) {
	if err := os.WriteFile(filepath.Join(g.Dir, pidFile), []byte(strconv.Itoa(pid)+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
}

// Leftovers: the kernel VM (the stand-in's /dev/vmm).
func (e bhyveEngine) Leftovers(t *testing.T, g hypervisor.Guest) []string {
	if e.r.vmExists() {
		return []string{"/dev/vmm/" + g.Name}
	}
	return nil
}

// TestRestartAdoptsGuests: the shared restart cases (hypervisor/restarttest)
// on bhyve, the service killed with SIGKILL between starts.
func TestRestartAdoptsGuests(t *testing.T) {
	restarttest.Run(t, func(t *testing.T) restarttest.Engine { return bhyveEngine{newRig(t, nil)} })
}

// TestAdoptedGuestTCPConsole: an adopted guest's TCP console is served again
// by the new service (the old listener died with the old service), and what
// the client types reaches the guest and the console log.
func TestAdoptedGuestTCPConsole(t *testing.T) {
	r := newRig(t, nil)
	port := freeTCPPort(t)
	tcp := &libvirtxml.DomainChardevSource{TCP: &libvirtxml.DomainChardevSourceTCP{Mode: "bind", Host: "127.0.0.1",
		Service: itoa(port)}}
	r.dom.Devices.Consoles[0].Source = tcp
	e := bhyveEngine{r}
	e.Orphan(t, r.g, r.dom)
	addr := net.JoinHostPort("127.0.0.1", itoa(port))
	if c, err := net.DialTimeout("tcp", addr, time.Second); err == nil {
		c.Close()
		t.Fatal("the console listens with no service running")
	}
	if st := r.state_(); st != hypervisor.Running { // the rig's driver is the restarted service
		t.Fatalf("adopted guest is %s", st)
	}
	c, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		t.Fatalf("the adopted guest's TCP console: %v", err)
	}
	defer c.Close()
	rd := bufio.NewReader(c)
	r.eventually("a typed line echoed by the guest side", func() bool {
		_, _ = c.Write([]byte("typed-after-restart\n"))
		_ = c.SetReadDeadline(time.Now().Add(200 * time.Millisecond))
		line, err := rd.ReadString('\n')
		return err == nil && strings.Contains(line, "typed-after-restart")
	})
	r.eventually("the typed line in the console log", func() bool {
		out, _ := r.drv.ConsoleOutput(context.Background(), r.g, 0)
		return strings.Contains(string(out), "typed-after-restart")
	})
}

// TestAdoptedGuestRebootsAndPowersOff: supervision of an adopted guest is
// whole: a hard reboot restarts it (a new bhyve, the same VM), and a power
// off ends it Shutdown with its kernel VM destroyed.
func TestAdoptedGuestRebootsAndPowersOff(t *testing.T) {
	r := newRig(t, nil)
	e := bhyveEngine{r}
	pid := e.Orphan(t, r.g, r.dom)
	ctx := context.Background()
	if err := r.drv.Reboot(ctx, r.g, hypervisor.RebootHard, 0); err != nil {
		t.Fatalf("reboot of the adopted guest: %v", err)
	}
	r.eventually("one new bhyve after the reboot", func() bool {
		p := e.Processes(t, r.g)
		return len(p) == 1 && p[0] != pid
	})
	if st := r.state_(); st != hypervisor.Running {
		t.Fatalf("after reboot: %s", st)
	}
	if err := r.drv.PowerOff(ctx, r.g, 3*time.Second); err != nil {
		t.Fatal(err)
	}
	if st := r.state_(); st != hypervisor.Shutdown {
		t.Fatalf("after power off: %s", st)
	}
	if r.vmExists() {
		t.Fatal("kernel VM left after power off")
	}
	if _, err := os.Stat(filepath.Join(r.g.Dir, pidFile)); !os.IsNotExist(err) {
		t.Fatalf("pid file kept after the guest ended: %v", err)
	}
}

// TestAdoptsGuestWhoseDomainNoLongerBuilds: a running guest whose domain
// file is unreadable after the restart is still adopted — reported Running,
// not killed — and Destroy ends it and its kernel VM.
func TestAdoptsGuestWhoseDomainNoLongerBuilds(t *testing.T) {
	r := newRig(t, nil)
	e := bhyveEngine{r}
	pid := e.Orphan(t, r.g, r.dom)
	if err := os.WriteFile(filepath.Join(r.g.Dir, hypervisor.DomainFile), []byte("<domain"), 0o600); err != nil {
		t.Fatal(err)
	}
	info, err := r.drv.Info(context.Background(), r.g)
	if err != nil || info.State != hypervisor.Running {
		t.Fatalf("Info: %s, %v; want running", info.State, err)
	}
	if p := e.Processes(t, r.g); len(p) != 1 || p[0] != pid || !r.vmExists() {
		t.Fatalf("processes %v (want %d), VM exists %v", p, pid, r.vmExists())
	}
	if err := r.drv.Destroy(context.Background(), r.g); err != nil {
		t.Fatal(err)
	}
	r.eventually("the guest to end", func() bool { return len(e.Processes(t, r.g)) == 0 })
	if r.vmExists() {
		t.Fatal("kernel VM left after destroy")
	}
}

// TestAdoptedGuestStaysPaused: a guest paused (SIGSTOP) when the service
// died is adopted Paused, not Running, and Unpause runs it again.
func TestAdoptedGuestStaysPaused(t *testing.T) {
	r := newRig(t, nil)
	if err := hypervisor.SaveDomain(r.g.Dir, r.dom); err != nil {
		t.Fatal(err)
	}
	if st := runService(t, serviceArgs{Op: "spawn", Pause: true, Bin: r.bin, State: r.state, Guest: r.g}); st != hypervisor.Paused {
		t.Fatalf("service paused the guest: %s", st)
	}
	e := bhyveEngine{r}
	pids := e.Processes(t, r.g)
	if len(pids) != 1 || procState(t, pids[0]) != "T" {
		t.Fatalf("the paused guest's bhyve %v is not stopped", pids)
	}
	if st := r.state_(); st != hypervisor.Paused {
		t.Fatalf("adopted paused guest is %s", st)
	}
	if err := r.drv.Unpause(context.Background(), r.g); err != nil {
		t.Fatal(err)
	}
	if st := r.state_(); st != hypervisor.Running {
		t.Fatalf("after unpause: %s", st)
	}
	r.eventually("the bhyve running again", func() bool { return procState(t, pids[0]) != "T" })
	if _, err := os.Stat(filepath.Join(r.g.Dir, pausedFile)); !os.IsNotExist(err) {
		t.Fatalf("pause mark kept after unpause: %v", err)
	}
}

// procState is ps(1)'s state letter of pid ("T": stopped).
func procState(t *testing.T, pid int) string {
	out, err := exec.Command("ps", "-o", "stat=", "-p", strconv.Itoa(pid)).Output()
	if err != nil {
		t.Fatalf("ps -p %d: %v", pid, err)
	}
	return strings.TrimSpace(string(out))[:1]
}

// TestIsBhyveOf: which process arguments are a bhyve running the VM.
func TestIsBhyveOf(t *testing.T) {
	const bhyve, name = "/usr/sbin/bhyve", "instance-00000001"
	tests := []struct {
		args []string
		want bool
	}{
		{[]string{"bhyve: instance-00000001"}, true}, // after setproctitle
		{[]string{"/usr/sbin/bhyve", "-c", "1", "-m", "256M", "instance-00000001"}, true},
		{[]string{"bhyve", "-c", "1", "instance-00000001"}, true},
		{[]string{"/bin/sh", "/usr/sbin/bhyve", "-c", "1", "instance-00000001"}, true}, // a script run by its interpreter
		{[]string{"bhyve: instance-00000002"}, false},
		{[]string{"bhyve: instance-000000011"}, false},
		{[]string{"/usr/sbin/bhyve", "-c", "1", "instance-00000002"}, false},
		{[]string{"/usr/sbin/bhyveload", "-m", "256M", "instance-00000001"}, false},
		{[]string{"sh", "-c", "sleep 60", "instance-00000001"}, false},
		{[]string{"sleep", "60"}, false},
		{[]string{"instance-00000001"}, false},
		{nil, false}, // a zombie
		{[]string{""}, false},
	}
	for _, tt := range tests {
		if got := isBhyveOf(tt.args, bhyve, name); got != tt.want {
			t.Errorf("isBhyveOf(%q) = %v, want %v", tt.args, got, tt.want)
		}
	}
}

// TestParsePID: the pid file holds one positive decimal pid.
func TestParsePID(t *testing.T) {
	tests := []struct {
		in   string
		want int
	}{
		{"4242\n", 4242}, {"4242", 4242}, {"1\n", 1},
		{"", 0}, {"\n", 0}, {"0\n", 0}, {"-5\n", 0}, {"+5\n", 0}, {"05\n", 0}, {" 5\n", 0}, {"5 6\n", 0},
		{"5\n\n", 0}, {"99999999999999999999\n", 0}, {"abc\n", 0},
	}
	for _, tt := range tests {
		got, err := parsePID([]byte(tt.in))
		if got != tt.want || (err == nil) != (tt.want != 0) {
			t.Errorf("parsePID(%q) = %d, %v; want %d", tt.in, got, err, tt.want)
		}
	}
}

// FuzzParsePID: any pid file content gives a positive pid that reads back
// the same, or an error; never a panic.
func FuzzParsePID(f *testing.F) {
	for _, s := range []string{"4242\n", "", "0", "-1\n", "1e3", "\x00"} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		pid, err := parsePID(b)
		if err != nil {
			return
		}
		if pid <= 0 || strings.TrimSuffix(string(b), "\n") != strconv.Itoa(pid) {
			t.Fatalf("parsePID(%q) = %d", b, pid)
		}
	})
}

// FuzzIsBhyveOf: process arguments are the kernel's, so outside input; only
// arguments naming the VM can match.
func FuzzIsBhyveOf(f *testing.F) {
	f.Add("bhyve: vm1", "", "vm1")
	f.Add("/usr/sbin/bhyve", "-c 1", "vm1")
	f.Fuzz(func(t *testing.T, a0, mid, name string) {
		args := append([]string{a0}, strings.Fields(mid)...)
		if len(args) > 1 {
			args = append(args, name)
		}
		if isBhyveOf(args, "/usr/sbin/bhyve", "vm1") && !strings.Contains(strings.Join(args, "\x00"), "vm1") {
			t.Fatalf("isBhyveOf(%q) matched without the VM name", args)
		}
	})
}
