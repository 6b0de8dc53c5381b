package bhyve

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/novabsd/novabsd/hypervisor"
	"github.com/novabsd/novabsd/hypervisor/beneath"
	"libvirt.org/go/libvirtxml"
)

// Driver runs guests with bhyve. Create it with New.
type Driver struct {
	cfg Config

	mu  sync.Mutex
	vms map[string]*vm // by VM name

	snapOnce sync.Once
	snapErr  error // nil when the host's bhyve can save and restore
}

var _ hypervisor.Driver = (*Driver)(nil)

// New returns a driver using cfg (zero fields take DefaultConfig's values;
// a zero MaxVCPUs is read from the host's hw.vmm.maxcpu when vmm.ko is
// loaded, so CheckDomain refuses what this host's vmm would).
func New(cfg Config) *Driver {
	cfg = cfg.withDefaults()
	if cfg.MaxVCPUs == 0 {
		cfg.MaxVCPUs = hostMaxVCPUs()
	}
	if !cfg.USBPassthru {
		cfg.USBPassthru = DetectUSBPassthru(cfg.Bhyve) == nil
	}
	return &Driver{cfg: cfg, vms: map[string]*vm{}}
}

// Name returns "bhyve".
func (d *Driver) Name() string { return "bhyve" }

// hypervisorType is bhyve's name as libvirt's bhyve driver and Nova report it.
const hypervisorType = "bhyve"

// Capabilities reports what this host's bhyve can do.
func (d *Driver) Capabilities() hypervisor.Capabilities {
	return hypervisor.Capabilities{
		HypervisorType: hypervisorType,
		Pause:          sigPause != nil,
		Suspend:        d.snapshots() == nil,
		SoftReboot:     true,
		PCIPassthru:    d.cfg.Arch == "x86_64",
		USBPassthru:    d.cfg.Arch == "x86_64" && d.cfg.USBPassthru, // xhci is amd64's; the passthrough is out of tree
		NMI:            d.cfg.Arch == "x86_64",                      // bhyvectl's --inject-nmi is amd64's
		Diagnostics:    true,
		SerialTCP:      true, // the console's nmdm B side bridged to TCP (Plan.ConsoleTCP)
		Values:         d.supported(),
	}
}

// supported is Supported for the host's arch with its vCPU limit.
func (d *Driver) supported() hypervisor.Supported {
	s := Supported(d.cfg.Arch)
	s.MaxVCPUs = maxVCPUs(d.cfg)
	return s
}

// snapshots detects BHYVE_SNAPSHOT support once: such builds list -r in
// bhyve's usage, stock release builds do not (bhyve.md §e.1, §j.4).
func (d *Driver) snapshots() error {
	d.snapOnce.Do(func() {
		out, _ := exec.Command(d.cfg.Bhyve, "-h").CombinedOutput()
		if !strings.Contains(string(out), "-r ") && !strings.Contains(string(out), "[-r") {
			d.snapErr = &hypervisor.UnsupportedError{Driver: "bhyve", Op: "suspend/resume", Reason: "host bhyve was built without BHYVE_SNAPSHOT (no -r in its usage)"}
		}
	})
	return d.snapErr
}

func (d *Driver) get(name string) *vm {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.vms[name]
}

// live returns the supervised vm of g if its supervision is still running,
// adopting a bhyve a previous service process left running for it.
func (d *Driver) live(g hypervisor.Guest) *vm {
	v := d.attach(g)
	if v == nil {
		return nil
	}
	select {
	case <-v.done:
		return nil
	default:
		return v
	}
}

// checkHost reports a missing binary or firmware before anything starts.
func (d *Driver) checkHost(p *Plan) error {
	need := []struct{ what, path string }{{"bhyve binary", p.Bhyve[0]}, {"bhyvectl binary", d.cfg.Bhyvectl}}
	if p.Loader != nil {
		need = append(need, struct{ what, path string }{"boot loader", p.Loader[0]})
	}
	if p.Bootrom != "" {
		need = append(need, struct{ what, path string }{"firmware", p.Bootrom})
	}
	for _, n := range need {
		if _, err := os.Stat(n.path); err != nil {
			return &hypervisor.MissingError{What: n.what, Path: n.path, Err: err}
		}
	}
	return nil
}

// CheckDomain is hypervisor.DomainChecker: the command lines Spawn would run
// are built, without touching the host, so a value bhyve does not take is
// refused before compute/ makes the guest's disks.
func (d *Driver) CheckDomain(_ context.Context, dom *libvirtxml.Domain) error {
	_, err := BuildPlan(dom, d.cfg)
	return err
}

// Spawn writes dom to the instance dir and starts the guest.
func (d *Driver) Spawn(ctx context.Context, g hypervisor.Guest, dom *libvirtxml.Domain) error {
	if err := g.Check(); err != nil {
		return err
	}
	if g.Name != dom.Name {
		return fmt.Errorf("spawn %s: domain is named %q", g.Name, dom.Name)
	}
	if v := d.live(g); v != nil {
		return &hypervisor.StateError{Guest: g.Name, Op: "spawn", State: hypervisor.Running}
	}
	for _, n := range dom.Devices.Interfaces {
		if n.Source == nil || n.Source.User == nil {
			if n.Target == nil || n.Target.Dev == "" {
				return fmt.Errorf("spawn %s: interface %v has no tap device; the network layer must create it", g.Name, n.MAC)
			}
		}
	}
	if err := fixedVNCPort(dom); err != nil {
		return fmt.Errorf("spawn %s: %w", g.Name, err)
	}
	// Refuse before the domain file is written: a domain bhyve would not
	// run leaves nothing behind.
	if _, err := BuildPlan(dom, d.cfg); err != nil {
		return fmt.Errorf("spawn %s: %w", g.Name, err)
	}
	if err := hypervisor.SaveDomain(g.Dir, dom); err != nil {
		return err
	}
	return d.boot(ctx, g, dom, "", "spawn")
}

// boot builds the plan and starts supervision; restore names a saved state.
func (d *Driver) boot(ctx context.Context, g hypervisor.Guest, dom *libvirtxml.Domain, restore, op string) error {
	plan, err := BuildPlan(dom, d.cfg)
	if err != nil {
		return fmt.Errorf("%s %s: %w", op, g.Name, err)
	}
	if err := d.checkHost(plan); err != nil {
		return fmt.Errorf("%s %s: %w", op, g.Name, err)
	}
	if err := d.prepareNVRAM(g, plan); err != nil {
		return fmt.Errorf("%s %s: %w", op, g.Name, err)
	}
	v := &vm{d: d, g: g, plan: plan, started: make(chan struct{}), done: make(chan struct{})}
	d.mu.Lock()
	if old := d.vms[g.Name]; old != nil {
		select {
		case <-old.done:
		default:
			d.mu.Unlock()
			return &hypervisor.StateError{Guest: g.Name, Op: op, State: hypervisor.Running}
		}
	}
	d.vms[g.Name] = v
	d.mu.Unlock()
	v.startConsole()
	first := make(chan error, 1)
	go v.run(restore, first, 0)
	select {
	case err = <-first:
	case <-ctx.Done():
		err = ctx.Err()
		v.set(func() { v.intent = intentDestroy })
		v.signal(os.Kill)
	}
	if err != nil {
		<-v.done
		d.mu.Lock()
		if d.vms[g.Name] == v {
			delete(d.vms, g.Name)
		}
		d.mu.Unlock()
		return fmt.Errorf("%s %s: %w", op, g.Name, err)
	}
	return nil
}

// prepareNVRAM gives a UEFI guest its own copy of the variable store the
// first time, so boot order and keys persist across restarts.
func (d *Driver) prepareNVRAM(g hypervisor.Guest, p *Plan) error {
	if p.NVRAM == "" || d.cfg.UEFIVarsTemplate == "" {
		return nil
	}
	rel, err := filepath.Rel(g.Dir, p.NVRAM)
	if err != nil || strings.HasPrefix(rel, "..") {
		return nil // an operator-managed file outside the instance dir
	}
	if _, err := beneath.ReadFile(g.Dir, rel); err == nil {
		return nil
	}
	tmpl, err := os.ReadFile(d.cfg.UEFIVarsTemplate)
	if err != nil {
		return &hypervisor.MissingError{What: "UEFI variables template", Path: d.cfg.UEFIVarsTemplate, Err: err}
	}
	return beneath.WriteFile(g.Dir, rel, tmpl, 0o600)
}

// fixedVNCPort refuses graphics without a fixed port: bhyve has no autoport,
// and the console proxy must be told the real port, so the caller picks one
// (hypervisor.Ports) and writes it into the domain before Spawn.
func fixedVNCPort(dom *libvirtxml.Domain) error {
	if dom.Devices == nil {
		return nil
	}
	for _, gr := range dom.Devices.Graphics {
		if v := gr.VNC; v != nil && (v.Port <= 0 || v.AutoPort == "yes") {
			return &hypervisor.PropertyError{Property: "graphics port", Value: strconv.Itoa(v.Port), Driver: "bhyve",
				Reason: "bhyve has no autoport: the domain must name the VNC port"}
		}
	}
	return nil
}

// Destroy stops the guest at once and frees the kernel VM.
func (d *Driver) Destroy(ctx context.Context, g hypervisor.Guest) error {
	if err := g.Check(); err != nil {
		return err
	}
	if v := d.live(g); v != nil {
		v.set(func() { v.intent = intentDestroy })
		v.signal(sigResume)
		v.signal(os.Kill)
		if !v.waitDone(ctx, 30*time.Second) {
			return fmt.Errorf("destroy %s: bhyve did not exit after SIGKILL", g.Name)
		}
	}
	d.mu.Lock()
	delete(d.vms, g.Name)
	d.mu.Unlock()
	d.destroyVM(ctx, g.Name)
	return nil
}

// destroyVM runs bhyvectl --destroy when the kernel VM exists.
func (d *Driver) destroyVM(ctx context.Context, name string) error {
	if _, err := os.Stat(filepath.Join(d.cfg.VMMDir, name)); errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	return d.ctl(ctx, name, "--destroy")
}

func (d *Driver) ctl(ctx context.Context, name string, args ...string) error {
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, d.cfg.Bhyvectl, append([]string{"--vm=" + name}, args...)...).CombinedOutput()
	if err != nil {
		return fmt.Errorf("bhyvectl %s --vm=%s: %w: %s", strings.Join(args, " "), name, err, tail(string(out), 256))
	}
	return nil
}

// PowerOff presses the ACPI power button (SIGTERM), waits up to graceful,
// then forces the poweroff.
func (d *Driver) PowerOff(ctx context.Context, g hypervisor.Guest, graceful time.Duration) error {
	if err := g.Check(); err != nil {
		return err
	}
	v := d.live(g)
	if v == nil {
		return d.requireKnown(g)
	}
	v.signal(sigResume) // a paused guest cannot see the button
	return d.stop(ctx, v, graceful, intentPowerOff)
}

// stop asks, waits, then forces; the supervisor records intent's outcome.
func (d *Driver) stop(ctx context.Context, v *vm, graceful time.Duration, in intent) error {
	if graceful > 0 {
		v.signal(sigTerm)
		// vm-bhyve presses twice a second apart: some guests miss the first.
		if !v.waitDone(ctx, min(time.Second, graceful)) {
			v.signal(sigTerm)
			if v.waitDone(ctx, graceful-min(time.Second, graceful)) {
				return nil
			}
		} else {
			return nil
		}
	}
	v.set(func() { v.intent = in })
	_ = d.ctl(ctx, v.plan.Name, "--force-poweroff")
	if v.waitDone(ctx, 5*time.Second) {
		return nil
	}
	v.signal(os.Kill)
	if !v.waitDone(ctx, 30*time.Second) {
		return fmt.Errorf("power off %s: %w", v.plan.Name, errStillRunning)
	}
	return nil
}

// requireKnown is nil for a guest the service has files for.
func (d *Driver) requireKnown(g hypervisor.Guest) error {
	if _, err := beneath.ReadFile(g.Dir, hypervisor.DomainFile); err != nil {
		return hypervisor.NotFound("bhyve", g.Name)
	}
	return nil
}

// PowerOn starts a shut-down guest from its saved domain.
func (d *Driver) PowerOn(ctx context.Context, g hypervisor.Guest) error {
	if err := g.Check(); err != nil {
		return err
	}
	if d.live(g) != nil {
		return nil // already running, as Nova expects power_on to be idempotent
	}
	if d.hasState(g.Dir) {
		return &hypervisor.StateError{Guest: g.Name, Op: "power on", State: hypervisor.Suspended}
	}
	dom, err := hypervisor.LoadDomain(g.Dir)
	if err != nil {
		return err
	}
	return d.boot(ctx, g, dom, "", "power on")
}

// Reboot restarts the guest: soft presses the power button and restarts on
// its poweroff, hard resets it (bhyvectl --force-reset, exit 0).
func (d *Driver) Reboot(ctx context.Context, g hypervisor.Guest, how hypervisor.RebootType, graceful time.Duration) error {
	if err := g.Check(); err != nil {
		return err
	}
	v := d.live(g)
	if v == nil {
		return d.PowerOn(ctx, g)
	}
	v.mu.Lock()
	gen, started := v.gen, v.started
	v.mu.Unlock()
	v.signal(sigResume)
	if how == hypervisor.RebootSoft && graceful > 0 {
		v.set(func() { v.intent = intentSoftReboot })
		v.signal(sigTerm)
		if waitStarted(ctx, started, graceful) {
			return nil
		}
	}
	v.set(func() { v.intent = intentReboot })
	if err := d.ctl(ctx, g.Name, "--force-reset"); err != nil {
		v.signalGen(gen, os.Kill)
	}
	if !waitStarted(ctx, started, 30*time.Second) {
		v.mu.Lock()
		defer v.mu.Unlock()
		if v.gen == gen {
			return fmt.Errorf("reboot %s: guest did not restart (state %s): %v", g.Name, v.state, v.lastErr)
		}
	}
	return nil
}

func waitStarted(ctx context.Context, started <-chan struct{}, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-started:
		return true
	case <-t.C:
	case <-ctx.Done():
	}
	return false
}

// Pause stops the guest's vCPU threads.
func (d *Driver) Pause(ctx context.Context, g hypervisor.Guest) error {
	if err := g.Check(); err != nil {
		return err
	}
	if sigPause == nil {
		return &hypervisor.UnsupportedError{Driver: "bhyve", Op: "pause"}
	}
	v := d.live(g)
	if v == nil {
		return d.notRunning(g, "pause")
	}
	if !v.signal(sigPause) {
		return d.notRunning(g, "pause")
	}
	v.set(func() { v.state = hypervisor.Paused })
	v.markPaused(true)
	return nil
}

// Unpause resumes a paused guest.
func (d *Driver) Unpause(ctx context.Context, g hypervisor.Guest) error {
	if err := g.Check(); err != nil {
		return err
	}
	v := d.live(g)
	if v == nil || sigResume == nil {
		return d.notRunning(g, "unpause")
	}
	v.mu.Lock()
	st := v.state
	v.mu.Unlock()
	if st != hypervisor.Paused {
		return &hypervisor.StateError{Guest: g.Name, Op: "unpause", State: st}
	}
	v.signal(sigResume)
	v.set(func() { v.state = hypervisor.Running })
	v.markPaused(false)
	return nil
}

func (d *Driver) notRunning(g hypervisor.Guest, op string) error {
	info, err := d.Info(context.Background(), g)
	if err != nil {
		return err
	}
	return &hypervisor.StateError{Guest: g.Name, Op: op, State: info.State}
}

// Suspend saves the running state beneath the instance dir
// (bhyvectl --suspend) and ends the bhyve process.
func (d *Driver) Suspend(ctx context.Context, g hypervisor.Guest) error {
	if err := g.Check(); err != nil {
		return err
	}
	if err := d.snapshots(); err != nil {
		return err
	}
	v := d.live(g)
	if v == nil {
		return d.notRunning(g, "suspend")
	}
	if !v.plan.Checkpointable {
		return &hypervisor.UnsupportedError{Driver: "bhyve", Op: "suspend", Reason: "the guest has a device bhyve cannot save (nvme or PCI passthrough)"}
	}
	v.signal(sigResume)
	v.set(func() { v.intent = intentSuspend })
	if err := d.ctl(ctx, g.Name, "--suspend="+filepath.Join(g.Dir, hypervisor.StateFile)); err != nil {
		v.set(func() { v.intent = intentNone })
		return fmt.Errorf("suspend %s: %w", g.Name, err)
	}
	if !v.waitDone(ctx, 5*time.Minute) {
		return fmt.Errorf("suspend %s: %w", g.Name, errStillRunning)
	}
	v.mu.Lock()
	defer v.mu.Unlock()
	if v.state != hypervisor.Suspended || !d.hasState(g.Dir) {
		return fmt.Errorf("suspend %s: guest ended %s without a saved state: %v", g.Name, v.state, v.lastErr)
	}
	return nil
}

// Resume restores a suspended guest with bhyve -r.
func (d *Driver) Resume(ctx context.Context, g hypervisor.Guest) error {
	if err := g.Check(); err != nil {
		return err
	}
	if err := d.snapshots(); err != nil {
		return err
	}
	if d.live(g) != nil {
		return &hypervisor.StateError{Guest: g.Name, Op: "resume", State: hypervisor.Running}
	}
	if !d.hasState(g.Dir) {
		return d.notRunning(g, "resume")
	}
	dom, err := hypervisor.LoadDomain(g.Dir)
	if err != nil {
		return err
	}
	return d.boot(ctx, g, dom, filepath.Join(g.Dir, hypervisor.StateFile), "resume")
}

var stateSuffixes = []string{"", ".kern", ".meta"}

func (d *Driver) hasState(dir string) bool {
	_, err := beneath.ReadFile(dir, hypervisor.StateFile+".meta")
	return err == nil
}

func (d *Driver) removeState(dir string) {
	for _, s := range stateSuffixes {
		if dd, err := beneath.Open(dir); err == nil {
			_ = dd.Remove(hypervisor.StateFile + s)
			dd.Close()
		}
	}
}

// Info reports the power state. A bhyve that a previous service process
// left running is adopted first (adopt); other guests this process does not
// supervise are judged from their files: saved state means suspended, a
// domain file means shut down.
func (d *Driver) Info(ctx context.Context, g hypervisor.Guest) (hypervisor.Info, error) {
	if err := g.Check(); err != nil {
		return hypervisor.Info{}, err
	}
	var info hypervisor.Info
	if v := d.attach(g); v != nil {
		v.mu.Lock()
		info.State = v.state
		v.mu.Unlock()
	} else if d.hasState(g.Dir) {
		info.State = hypervisor.Suspended
	} else if d.requireKnown(g) == nil {
		info.State = hypervisor.Shutdown
	} else {
		return info, hypervisor.NotFound("bhyve", g.Name)
	}
	if dom, err := hypervisor.LoadDomain(g.Dir); err == nil {
		if dom.VCPU != nil {
			info.VCPUs = int(dom.VCPU.Value)
		}
		if mib, err := memoryMiB(dom); err == nil {
			info.MemoryKB = mib * 1024
		}
	}
	return info, nil
}

// List returns supervised guests and any kernel VMs in VMMDir.
func (d *Driver) List(ctx context.Context) ([]string, error) {
	seen := map[string]bool{}
	d.mu.Lock()
	for n, v := range d.vms {
		select {
		case <-v.done:
		default:
			seen[n] = true
		}
	}
	d.mu.Unlock()
	ents, err := os.ReadDir(d.cfg.VMMDir)
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("list %s: %w", d.cfg.VMMDir, err)
	}
	for _, e := range ents {
		seen[e.Name()] = true
	}
	names := make([]string, 0, len(seen))
	for n := range seen {
		names = append(names, n)
	}
	sort.Strings(names)
	return names, nil
}

// ConsoleOutput returns the tail of the console log.
func (d *Driver) ConsoleOutput(ctx context.Context, g hypervisor.Guest, max int) ([]byte, error) {
	if err := g.Check(); err != nil {
		return nil, err
	}
	name := hypervisor.ConsoleLogFile
	if dom, err := hypervisor.LoadDomain(g.Dir); err == nil {
		if p, err := BuildPlan(dom, d.cfg); err == nil {
			name = consoleLogName(g.Dir, p.ConsoleLog)
		}
	}
	b, err := beneath.ReadFile(g.Dir, name)
	if errors.Is(err, fs.ErrNotExist) {
		if d.requireKnown(g) != nil {
			return nil, hypervisor.NotFound("bhyve", g.Name)
		}
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("console output of %s: %w", g.Name, err)
	}
	if max > 0 && len(b) > max {
		b = b[len(b)-max:]
	}
	return b, nil
}

// HostResources delegates to the configured host discovery.
func (d *Driver) HostResources(ctx context.Context) (hypervisor.HostResources, error) {
	if d.cfg.HostResources == nil {
		return hypervisor.HostResources{}, &hypervisor.UnsupportedError{Driver: "bhyve", Op: "host resources", Reason: "no host discovery configured"}
	}
	r, err := d.cfg.HostResources(ctx)
	if err == nil {
		r.HypervisorType = hypervisorType
	}
	return r, err
}
