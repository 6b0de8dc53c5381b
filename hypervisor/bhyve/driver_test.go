package bhyve

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/novabsd/novabsd/hypervisor"
	"github.com/novabsd/novabsd/hypervisor/domain"
	"libvirt.org/go/libvirtxml"
)

// rig runs the driver against the stand-in executables in testdata, which
// behave as bhyve(8), bhyvectl(8) and bhyveload(8) document.
type rig struct {
	t     *testing.T
	state string
	bin   string // the stand-ins and firmware files
	drv   *Driver
	g     hypervisor.Guest
	dom   *libvirtxml.Domain
}

func newRig(t *testing.T, image map[string]string) *rig {
	t.Helper()
	state, bin, inst := t.TempDir(), t.TempDir(), t.TempDir()
	for _, n := range []string{"bhyve", "bhyvectl", "bhyveload"} {
		b, err := os.ReadFile(filepath.Join("testdata", n+"-standin"))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(bin, n), b, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	t.Setenv("BHYVE_STANDIN_STATE", state)
	os.WriteFile(filepath.Join(bin, "BHYVE_UEFI_CODE.fd"), []byte("code"), 0o644)
	os.WriteFile(filepath.Join(bin, "BHYVE_UEFI_VARS.fd"), []byte("vars-template"), 0o644)
	cfg := rigConfig(bin, state)
	s := hypervisor.Spec{UUID: uuid, Name: "instance-00000001", Dir: inst, VCPUs: 1, MemoryMB: 256,
		Disks: []hypervisor.Disk{{Role: hypervisor.RoleRoot, Path: filepath.Join(inst, "disk"), Format: "raw"}},
		NICs:  []hypervisor.NIC{{MAC: "fa:16:3e:00:00:01", Tap: "tap0"}},
	}
	dom, err := domain.Build(s, domain.Props{Image: image}, DomainOptions(cfg))
	if err != nil {
		t.Fatal(err)
	}
	// A FIFO stands in for the nmdm pair: bhyve writes the A side, the
	// driver's console logger reads the B side; here both are one FIFO,
	// the B name a symlink to it (the pair's names must match, rule
	// nmdm-name).
	fifo := filepath.Join(state, "nmdm0A")
	if err := syscall.Mkfifo(fifo, 0o600); err != nil {
		t.Fatal(err)
	}
	slave := filepath.Join(state, "nmdm0B")
	if err := os.Symlink(fifo, slave); err != nil {
		t.Fatal(err)
	}
	src := &libvirtxml.DomainChardevSource{NMDM: &libvirtxml.DomainChardevSourceNMDM{Master: fifo, Slave: slave}}
	dom.Devices.Serials[0].Source = src
	dom.Devices.Consoles[0].Source = src
	r := &rig{t: t, state: state, bin: bin, drv: New(cfg), g: hypervisor.Guest{UUID: uuid, Name: s.Name, Dir: inst}, dom: dom}
	t.Cleanup(func() { r.drv.Destroy(context.Background(), r.g) })
	return r
}

// rigConfig is the driver's configuration on the stand-ins in bin, with
// their kernel (/dev/vmm) under state.
func rigConfig(bin, state string) Config {
	return Config{
		Bhyve: filepath.Join(bin, "bhyve"), Bhyvectl: filepath.Join(bin, "bhyvectl"), Bhyveload: filepath.Join(bin, "bhyveload"),
		UEFIFirmware: filepath.Join(bin, "BHYVE_UEFI_CODE.fd"), UEFIVarsTemplate: filepath.Join(bin, "BHYVE_UEFI_VARS.fd"),
		Arch: "x86_64", FwCfgQEMU: true,
		VMMDir: filepath.Join(state, "vmm"), StartGrace: 300 * time.Millisecond, LoaderTimeout: 5 * time.Second,
	}
}

func (r *rig) script(lines ...string) {
	os.WriteFile(filepath.Join(r.state, "script."+r.g.Name), []byte(strings.Join(lines, "\n")+"\n"), 0o644)
}

func (r *rig) lines(name string) []string {
	b, _ := os.ReadFile(filepath.Join(r.state, name))
	s := strings.TrimSpace(string(b))
	if s == "" {
		return nil
	}
	return strings.Split(s, "\n")
}

func (r *rig) spawn() {
	r.t.Helper()
	if err := r.drv.Spawn(context.Background(), r.g, r.dom); err != nil {
		r.t.Fatalf("spawn: %v", err)
	}
}

func (r *rig) vmExists() bool {
	_, err := os.Stat(filepath.Join(r.state, "vmm", r.g.Name))
	return err == nil
}

// eventually polls cond for up to 5 s.
func (r *rig) eventually(what string, cond func() bool) {
	r.t.Helper()
	for end := time.Now().Add(5 * time.Second); time.Now().Before(end); time.Sleep(20 * time.Millisecond) {
		if cond() {
			return
		}
	}
	r.t.Fatalf("timed out waiting for %s", what)
}

func (r *rig) state_() hypervisor.PowerState {
	info, err := r.drv.Info(context.Background(), r.g)
	if err != nil {
		r.t.Fatalf("info: %v", err)
	}
	return info.State
}

func TestSpawnConsolePowerOff(t *testing.T) {
	r := newRig(t, nil)
	r.spawn()
	if st := r.state_(); st != hypervisor.Running {
		t.Fatalf("state after spawn = %s", st)
	}
	// The saved domain is what the driver ran.
	saved, err := hypervisor.LoadDomain(r.g.Dir)
	if err != nil || saved.Name != r.g.Name {
		t.Fatalf("saved domain: %v", err)
	}
	plan, _ := BuildPlan(r.dom, r.drv.cfg)
	if got := r.lines("argv." + r.g.Name); len(got) != 1 || got[0] != strings.Join(plan.Bhyve[1:], " ") {
		t.Fatalf("bhyve ran with %q, want %q", got, plan.Bhyve[1:])
	}
	if nv, err := os.ReadFile(filepath.Join(r.g.Dir, hypervisor.NVRAMFile)); err != nil || string(nv) != "vars-template" {
		t.Fatalf("NVRAM copy = %q, %v", nv, err)
	}
	r.eventually("console marker", func() bool {
		out, _ := r.drv.ConsoleOutput(context.Background(), r.g, 0)
		return strings.Contains(string(out), "standin boot "+r.g.Name)
	})
	if out, _ := r.drv.ConsoleOutput(context.Background(), r.g, 5); len(out) != 5 {
		t.Fatalf("ConsoleOutput(max 5) returned %d bytes", len(out))
	}
	if names, _ := r.drv.List(context.Background()); len(names) != 1 || names[0] != r.g.Name {
		t.Fatalf("List = %v", names)
	}
	if err := r.drv.Spawn(context.Background(), r.g, r.dom); !errors.Is(err, hypervisor.ErrInvalidState) {
		t.Fatalf("second spawn = %v; want ErrInvalidState", err)
	}
	// The stand-in guest honours the ACPI button: exit 1, no force needed.
	if err := r.drv.PowerOff(context.Background(), r.g, 3*time.Second); err != nil {
		t.Fatal(err)
	}
	if st := r.state_(); st != hypervisor.Shutdown {
		t.Fatalf("state after power off = %s", st)
	}
	if r.vmExists() {
		t.Fatal("kernel VM left after power off")
	}
	for _, l := range r.lines("bhyvectl.log") {
		if strings.Contains(l, "--force-poweroff") {
			t.Fatalf("forced although the guest powered off: %s", l)
		}
	}
	if err := r.drv.PowerOn(context.Background(), r.g); err != nil {
		t.Fatal(err)
	}
	if st := r.state_(); st != hypervisor.Running {
		t.Fatalf("state after power on = %s", st)
	}
}

// TestStandInLeavesAbsentConsoleAlone: a domain whose nmdm pair does not exist (a Linux host, which has no nmdm(4))
// runs on the stand-in without a file appearing where the device would be: the end-to-end tests run the bhyve
// engine on the stand-ins with the /dev/nmdm<uuid>A that compute/ writes into every domain.
func TestStandInLeavesAbsentConsoleAlone(t *testing.T) {
	r := newRig(t, nil)
	master, slave := filepath.Join(r.state, "nmdm7A"), filepath.Join(r.state, "nmdm7B")
	src := &libvirtxml.DomainChardevSource{NMDM: &libvirtxml.DomainChardevSourceNMDM{Master: master, Slave: slave}}
	r.dom.Devices.Serials[0].Source = src
	r.dom.Devices.Consoles[0].Source = src
	r.spawn()
	if st := r.state_(); st != hypervisor.Running {
		t.Fatalf("state after spawn = %s, want running without a console device", st)
	}
	// The stand-in writes its boot line right after recording its pid; give it a second to do so.
	r.eventually("the stand-in's pid file", func() bool { return len(r.lines("pid."+r.g.Name)) == 1 })
	for end := time.Now().Add(time.Second); time.Now().Before(end); time.Sleep(20 * time.Millisecond) {
		if _, err := os.Lstat(master); err == nil {
			t.Fatalf("the stand-in created %s where the nmdm device would be", master)
		}
	}
	if err := r.drv.PowerOff(context.Background(), r.g, 3*time.Second); err != nil {
		t.Fatal(err)
	}
}

func TestPowerOffForcesIgnoringGuest(t *testing.T) {
	r := newRig(t, nil)
	os.WriteFile(filepath.Join(r.state, "ignore-term."+r.g.Name), nil, 0o644)
	r.spawn()
	start := time.Now()
	if err := r.drv.PowerOff(context.Background(), r.g, 1500*time.Millisecond); err != nil {
		t.Fatal(err)
	}
	if time.Since(start) < 1500*time.Millisecond {
		t.Fatalf("forced after %s, before the graceful timeout", time.Since(start))
	}
	if st := r.state_(); st != hypervisor.Shutdown {
		t.Fatalf("state = %s", st)
	}
	if !strings.Contains(strings.Join(r.lines("bhyvectl.log"), "\n"), "--force-poweroff") {
		t.Fatal("bhyvectl --force-poweroff not used")
	}
}

func TestExitCodes(t *testing.T) {
	tests := []struct {
		name    string
		script  []string
		want    hypervisor.PowerState
		starts  int
		loaders int
	}{
		{name: "guest reboot restarts", script: []string{"exit 0 after 0.5", "run"}, want: hypervisor.Running, starts: 2, loaders: 2},
		{name: "poweroff stops", script: []string{"exit 1 after 0.5"}, want: hypervisor.Shutdown, starts: 1, loaders: 1},
		{name: "halt stops", script: []string{"exit 2 after 0.5"}, want: hypervisor.Shutdown, starts: 1, loaders: 1},
		{name: "triple fault crashes", script: []string{"exit 3 after 0.5"}, want: hypervisor.Crashed, starts: 1, loaders: 1},
		{name: "error crashes", script: []string{"exit 4 after 0.5"}, want: hypervisor.Crashed, starts: 1, loaders: 1},
		{name: "reboot then crash", script: []string{"exit 0 after 0.4", "exit 3 after 0.4"}, want: hypervisor.Crashed, starts: 2, loaders: 2},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			// FreeBSD guests boot through bhyveload, which must run again
			// before every bhyve start.
			r := newRig(t, map[string]string{"os_distro": "freebsd"})
			r.script(tt.script...)
			r.spawn()
			r.eventually("final state "+tt.want.String(), func() bool {
				return r.state_() == tt.want && len(r.lines("argv."+r.g.Name)) == tt.starts
			})
			time.Sleep(700 * time.Millisecond) // nothing further happens
			if got := len(r.lines("argv." + r.g.Name)); got != tt.starts {
				t.Fatalf("bhyve started %d times, want %d", got, tt.starts)
			}
			if got := len(r.lines("bhyveload.log")); got != tt.loaders {
				t.Fatalf("bhyveload ran %d times, want %d", got, tt.loaders)
			}
			if st := r.state_(); st != tt.want {
				t.Fatalf("state = %s, want %s", st, tt.want)
			}
			if tt.want != hypervisor.Running && r.vmExists() {
				t.Fatal("kernel VM not destroyed after the guest stopped")
			}
		})
	}
}

func TestSpawnFailureLeavesNothing(t *testing.T) {
	r := newRig(t, nil)
	r.script("exit 4")
	err := r.drv.Spawn(context.Background(), r.g, r.dom)
	if err == nil || !strings.Contains(err.Error(), "status 4") || !strings.Contains(err.Error(), "guest fault") {
		t.Fatalf("spawn = %v; want the exit status and bhyve's message", err)
	}
	if r.vmExists() {
		t.Fatal("kernel VM left behind")
	}
	if names, _ := r.drv.List(context.Background()); len(names) != 0 {
		t.Fatalf("List after failed spawn = %v", names)
	}
}

// TestSpawnNeedsFixedVNCPort checks that bhyve, which has no autoport, starts a guest on the VNC port its domain
// names and refuses a domain that names none, before anything starts.
func TestSpawnNeedsFixedVNCPort(t *testing.T) {
	tests := []struct {
		name string
		vnc  libvirtxml.DomainGraphicVNC
		want string // fbuf argument in bhyve's argv; "" for a refusal
	}{
		{"fixed port", libvirtxml.DomainGraphicVNC{Listen: "127.0.0.1", Port: 5931, AutoPort: "no"}, "tcp=127.0.0.1:5931"},
		{"autoport", libvirtxml.DomainGraphicVNC{Listen: "127.0.0.1", AutoPort: "yes"}, ""},
		{"no port", libvirtxml.DomainGraphicVNC{Listen: "127.0.0.1"}, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := newRig(t, nil)
			vnc := tt.vnc
			r.dom.Devices.Graphics = []libvirtxml.DomainGraphic{{VNC: &vnc}}
			err := r.drv.Spawn(context.Background(), r.g, r.dom)
			if tt.want == "" {
				var pe *hypervisor.PropertyError
				if !errors.As(err, &pe) || pe.Property != "graphics port" {
					t.Fatalf("spawn = %v; want a PropertyError for the graphics port", err)
				}
				if r.vmExists() || len(r.lines("argv."+r.g.Name)) != 0 {
					t.Fatal("bhyve ran for a refused domain")
				}
				if _, err := os.Stat(filepath.Join(r.g.Dir, hypervisor.DomainFile)); err == nil {
					t.Fatal("domain file written for a refused domain")
				}
				return
			}
			if err != nil {
				t.Fatalf("spawn: %v", err)
			}
			if argv := strings.Join(r.lines("argv."+r.g.Name), "\n"); !strings.Contains(argv, tt.want) {
				t.Errorf("bhyve argv %q lacks %s", argv, tt.want)
			}
		})
	}
}

func TestMissingBinary(t *testing.T) {
	r := newRig(t, nil)
	r.drv.cfg.Bhyve = filepath.Join(r.state, "no-such-bhyve")
	err := r.drv.Spawn(context.Background(), r.g, r.dom)
	var me *hypervisor.MissingError
	if !errors.As(err, &me) || !errors.Is(err, hypervisor.ErrMissingComponent) || me.Path != r.drv.cfg.Bhyve {
		t.Fatalf("spawn = %v; want MissingError for the bhyve binary", err)
	}
}

func TestKilledFromOutsideIsShutOff(t *testing.T) {
	r := newRig(t, nil)
	r.spawn()
	pid, _ := os.ReadFile(filepath.Join(r.state, "pid."+r.g.Name))
	p, err := os.FindProcess(atoi(strings.TrimSpace(string(pid))))
	if err != nil {
		t.Fatal(err)
	}
	p.Kill()
	r.eventually("shut off after kill", func() bool { return r.state_() == hypervisor.Shutdown })
}

func TestHardRebootAndDestroy(t *testing.T) {
	r := newRig(t, nil)
	r.spawn()
	if err := r.drv.Reboot(context.Background(), r.g, hypervisor.RebootHard, 0); err != nil {
		t.Fatal(err)
	}
	r.eventually("second bhyve start", func() bool { return len(r.lines("argv."+r.g.Name)) == 2 })
	if err := r.drv.Reboot(context.Background(), r.g, hypervisor.RebootSoft, 3*time.Second); err != nil {
		t.Fatal(err)
	}
	r.eventually("third bhyve start", func() bool { return len(r.lines("argv."+r.g.Name)) == 3 })
	if !strings.Contains(strings.Join(r.lines("bhyvectl.log"), "\n"), "--force-reset") {
		t.Fatal("hard reboot did not use bhyvectl --force-reset")
	}
	if err := r.drv.Destroy(context.Background(), r.g); err != nil {
		t.Fatal(err)
	}
	if r.vmExists() {
		t.Fatal("kernel VM left after destroy")
	}
	if st := r.state_(); st != hypervisor.Shutdown {
		t.Fatalf("state after destroy = %s", st)
	}
	other := r.g
	other.Name, other.Dir = "instance-ffffffff", t.TempDir()
	if err := r.drv.Destroy(context.Background(), other); err != nil {
		t.Fatalf("destroying an unknown guest: %v", err)
	}
	if _, err := r.drv.Info(context.Background(), other); !errors.Is(err, hypervisor.ErrNotFound) {
		t.Fatalf("Info(unknown) = %v; want ErrNotFound", err)
	}
}

func TestPauseUnpause(t *testing.T) {
	r := newRig(t, nil)
	r.spawn()
	if err := r.drv.Pause(context.Background(), r.g); err != nil {
		t.Fatal(err)
	}
	if st := r.state_(); st != hypervisor.Paused {
		t.Fatalf("state = %s", st)
	}
	if err := r.drv.Unpause(context.Background(), r.g); err != nil {
		t.Fatal(err)
	}
	if err := r.drv.Unpause(context.Background(), r.g); !errors.Is(err, hypervisor.ErrInvalidState) {
		t.Fatalf("unpause of a running guest = %v; want ErrInvalidState", err)
	}
}

func TestSuspendUnsupported(t *testing.T) {
	r := newRig(t, nil)
	r.spawn()
	err := r.drv.Suspend(context.Background(), r.g)
	if !errors.Is(err, hypervisor.ErrUnsupported) || !strings.Contains(err.Error(), "BHYVE_SNAPSHOT") {
		t.Fatalf("suspend = %v; want ErrUnsupported naming BHYVE_SNAPSHOT", err)
	}
	if r.drv.Capabilities().Suspend {
		t.Fatal("capabilities claim suspend")
	}
	if st := r.state_(); st != hypervisor.Running {
		t.Fatalf("refused suspend changed state to %s", st)
	}
}

func TestSuspendResume(t *testing.T) {
	r := newRig(t, nil)
	os.WriteFile(filepath.Join(r.state, "snapshot"), nil, 0o644)
	r.spawn()
	if !r.drv.Capabilities().Suspend {
		t.Fatal("snapshot-capable bhyve not detected")
	}
	if err := r.drv.Suspend(context.Background(), r.g); err != nil {
		t.Fatal(err)
	}
	if st := r.state_(); st != hypervisor.Suspended {
		t.Fatalf("state = %s", st)
	}
	for _, s := range stateSuffixes {
		if _, err := os.Stat(filepath.Join(r.g.Dir, hypervisor.StateFile+s)); err != nil {
			t.Fatalf("saved state file missing: %v", err)
		}
	}
	if err := r.drv.PowerOn(context.Background(), r.g); !errors.Is(err, hypervisor.ErrInvalidState) {
		t.Fatalf("power on of a suspended guest = %v; want ErrInvalidState", err)
	}
	if err := r.drv.Resume(context.Background(), r.g); err != nil {
		t.Fatal(err)
	}
	runs := r.lines("argv." + r.g.Name)
	if len(runs) != 2 || !strings.Contains(runs[1], "-r "+filepath.Join(r.g.Dir, hypervisor.StateFile)+" "+r.g.Name) {
		t.Fatalf("restore run = %q", runs)
	}
	r.eventually("restored marker", func() bool {
		out, _ := r.drv.ConsoleOutput(context.Background(), r.g, 0)
		return strings.Contains(string(out), "standin restored")
	})
	if st := r.state_(); st != hypervisor.Running {
		t.Fatalf("state after resume = %s", st)
	}
	if r.drv.hasState(r.g.Dir) {
		t.Fatal("saved state kept after a successful restore")
	}
}
