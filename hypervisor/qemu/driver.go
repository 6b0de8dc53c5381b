package qemu

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"sort"
	"sync"
	"syscall"
	"time"

	"github.com/novabsd/novabsd/hypervisor"
	"github.com/novabsd/novabsd/hypervisor/beneath"
	"github.com/novabsd/novabsd/hypervisor/domain"
	"github.com/novabsd/novabsd/hypervisor/host"
	"libvirt.org/go/libvirtxml"
)

// quitWait is how long QEMU gets to exit after quit before SIGKILL.
const quitWait = 5 * time.Second

// Driver runs guests as QEMU processes. It implements hypervisor.Driver.
type Driver struct {
	cfg Config
	mu  sync.Mutex
	vms map[string]*vm // by guest name

	acc      accelState
	kvmWatch time.Duration // how long a KVM guest is watched for dying of KVM
}

var _ hypervisor.Driver = (*Driver)(nil)

// New returns a driver for cfg. The binary is checked at Spawn, so a host
// without QEMU still starts the service and reports a typed error then.
func New(cfg Config) (*Driver, error) {
	if err := cfg.check(); err != nil {
		return nil, err
	}
	return &Driver{cfg: cfg, vms: map[string]*vm{}, kvmWatch: defaultKVMWatch}, nil
}

// Name returns "qemu".
func (d *Driver) Name() string { return "qemu" }

// hypervisorType is libvirt's name for its QEMU driver, whatever the accelerator, as Nova reports it.
const hypervisorType = "QEMU"

// Capabilities reports pause, suspend, soft reboot and NIC hot-plug, and host device passthrough as far as this
// host can do it: USB when the binary has usb-host, PCI when it has vfio-pci and the kernel has the vfio-pci
// driver (the binary is probed once and cached; a binary that cannot be probed passes nothing through).
func (d *Driver) Capabilities() hypervisor.Capabilities {
	c := hypervisor.Capabilities{HypervisorType: hypervisorType, Pause: true, Suspend: true, SoftReboot: true,
		NICHotplug: true, NMI: true, Diagnostics: true, SerialTCP: true, StartPaused: true, Values: Supported()}
	if bin, err := ProbeBinary(context.Background(), d.cfg.Binary); err == nil {
		c.USBPassthru = bin.USBHost
		c.PCIPassthru = bin.VFIO && vfioAvailable(d.cfg.Sysfs)
	}
	return c
}

// CheckDomain refuses, without touching the host, a domain this host's QEMU
// would not run: a value that cannot reach the command line safely, a
// machine type the binary does not offer, a missing sandbox or user.
// compute/ calls it before it makes any disk.
func (d *Driver) CheckDomain(ctx context.Context, dom *libvirtxml.Domain) error {
	bin, err := ProbeBinary(ctx, d.cfg.Binary)
	if err != nil {
		return err
	}
	if err := d.checkHost(bin, dom); err != nil {
		return err
	}
	cfg := d.cfg
	cfg.Binary = bin.Path
	rt := newRuntime(runtimeFor(dom, cfg).Dir, dom, cfg)
	rt.RunWith = bin.RunWith()
	_, err = BuildArgv(placedCopy(dom, Machine(dom, cfg)), cfg, AccelTCG, rt)
	return err
}

// DomainOptions is DomainOptions for this driver's configuration and
// resolved accelerator, with the machine types its binary really offers
// (none listed when the binary cannot be probed: Spawn then reports why).
func (d *Driver) DomainOptions(ctx context.Context) domain.Options {
	o := DomainOptions(d.cfg, d.Accel(ctx))
	if bin, err := ProbeBinary(ctx, d.cfg.Binary); err == nil {
		o.Supported.MachineType = bin.Machines
	}
	return o
}

// get returns the guest's live process, adopting one a previous service
// process left running; nil when none runs.
func (d *Driver) get(ctx context.Context, g hypervisor.Guest) *vm {
	d.mu.Lock()
	v := d.vms[g.Name]
	d.mu.Unlock()
	if v != nil && v.alive() {
		return v
	}
	if v == nil {
		if v = d.adopt(ctx, g); v != nil {
			d.mu.Lock()
			d.vms[g.Name] = v
			d.mu.Unlock()
			return v
		}
	}
	return nil
}

func (d *Driver) put(g hypervisor.Guest, v *vm) {
	d.mu.Lock()
	d.vms[g.Name] = v
	d.mu.Unlock()
}

func hasState(g hypervisor.Guest) bool {
	_, err := os.Stat(g.Dir + "/" + hypervisor.StateFile)
	return err == nil
}

// Spawn writes the domain and starts the guest.
func (d *Driver) Spawn(ctx context.Context, g hypervisor.Guest, dom *libvirtxml.Domain) error {
	return d.spawn(ctx, g, dom, false)
}

// spawn is Spawn, with the vCPUs stopped when paused.
func (d *Driver) spawn(ctx context.Context, g hypervisor.Guest, dom *libvirtxml.Domain, paused bool) error {
	if err := g.Check(); err != nil {
		return err
	}
	if v := d.get(ctx, g); v != nil {
		return &hypervisor.StateError{Guest: g.Name, Op: "spawn", State: hypervisor.Running}
	}
	if _, err := d.preflight(ctx, dom); err != nil {
		return err
	}
	// The saved domain records where each NIC sits, so every later start
	// (and a resume from saved state) builds the same PCI layout.
	dom = placedCopy(dom, Machine(dom, d.cfg))
	if err := hypervisor.SaveDomain(g.Dir, dom); err != nil {
		return err
	}
	v, err := d.launch(ctx, g, dom, paused)
	if err != nil {
		return err
	}
	d.put(g, v)
	return nil
}

// SpawnPaused is Spawn with the vCPUs stopped (-S, QEMU's "prelaunch" state, which Info reports as Paused); Unpause
// runs the guest. While KVM is not yet proven on this host the guest starts running instead, as Spawn starts it:
// only a running guest shows whether KVM can run it (launch).
func (d *Driver) SpawnPaused(ctx context.Context, g hypervisor.Guest, dom *libvirtxml.Domain) (bool, error) {
	if d.Accel(ctx) == AccelKVM && !d.kvmProven() {
		return false, d.Spawn(ctx, g, dom)
	}
	return true, d.spawn(ctx, g, dom, true)
}

// Destroy kills the guest and drops its saved state.
func (d *Driver) Destroy(ctx context.Context, g hypervisor.Guest) error {
	if err := g.Check(); err != nil {
		return err
	}
	if v := d.get(ctx, g); v != nil {
		d.stop(ctx, v, 0)
	}
	d.mu.Lock()
	delete(d.vms, g.Name)
	d.mu.Unlock()
	if dir, err := beneath.Open(g.Dir); err == nil {
		for _, f := range []string{hypervisor.StateFile, hypervisor.StateFile + ".part", pidFile, qmpSocketFile} {
			if err := dir.Remove(f); err != nil && !errors.Is(err, fs.ErrNotExist) {
				dir.Close()
				return fmt.Errorf("qemu: destroy %s: %w", g.Name, err)
			}
		}
		dir.Close()
	}
	return nil
}

// stop ends the process: ACPI power button first when graceful > 0, then
// QMP quit, then SIGKILL.
func (d *Driver) stop(ctx context.Context, v *vm, graceful time.Duration) {
	if graceful > 0 && v.mon != nil {
		if v.mon.Execute(ctx, "system_powerdown", nil, nil) == nil && v.wait(ctx, graceful) {
			return
		}
	}
	v.mu.Lock()
	v.stopping = true
	v.mu.Unlock()
	if v.mon != nil {
		qctx, cancel := context.WithTimeout(context.Background(), time.Second)
		v.mon.Execute(qctx, "quit", nil, nil)
		cancel()
		if v.wait(context.Background(), quitWait) {
			return
		}
	}
	syscall.Kill(v.pid, syscall.SIGKILL)
	v.wait(context.Background(), quitWait)
}

// PowerOff presses the power button, waits up to graceful, then forces.
func (d *Driver) PowerOff(ctx context.Context, g hypervisor.Guest, graceful time.Duration) error {
	if err := g.Check(); err != nil {
		return err
	}
	v := d.get(ctx, g)
	if v == nil {
		st, err := d.state(ctx, g)
		if err != nil {
			return err
		}
		return &hypervisor.StateError{Guest: g.Name, Op: "power off", State: st}
	}
	d.stop(ctx, v, graceful)
	return nil
}

// PowerOn starts a shut-down guest from its saved domain.
func (d *Driver) PowerOn(ctx context.Context, g hypervisor.Guest) error {
	if err := g.Check(); err != nil {
		return err
	}
	st, err := d.state(ctx, g)
	if err != nil {
		return err
	}
	if st != hypervisor.Shutdown && st != hypervisor.Crashed {
		return &hypervisor.StateError{Guest: g.Name, Op: "power on", State: st}
	}
	return d.startFromDomain(ctx, g)
}

func (d *Driver) startFromDomain(ctx context.Context, g hypervisor.Guest) error {
	dom, err := hypervisor.LoadDomain(g.Dir)
	if err != nil {
		return err
	}
	// A fresh start may lay out what the domain does not record yet (one
	// saved before NICs were placed, or a NIC added while the guest was
	// off); a resume never does (Resume starts QEMU itself): its saved
	// state fixes the layout.
	if placed := placedCopy(dom, Machine(dom, d.cfg)); !sameLayout(dom, placed) {
		if err := hypervisor.SaveDomain(g.Dir, placed); err != nil {
			return err
		}
		dom = placed
	}
	v, err := d.launch(ctx, g, dom, false)
	if err != nil {
		return err
	}
	d.put(g, v)
	return nil
}

// Reboot: soft presses the power button and starts the guest again once it
// is off (guest-agnostic, unlike Ctrl-Alt-Del); a guest still up after
// graceful is stopped by force. Hard stops at once and starts again, so a
// changed domain takes effect as after Nova's hard reboot.
func (d *Driver) Reboot(ctx context.Context, g hypervisor.Guest, how hypervisor.RebootType, graceful time.Duration) error {
	if err := g.Check(); err != nil {
		return err
	}
	v := d.get(ctx, g)
	if v == nil {
		st, err := d.state(ctx, g)
		if err != nil {
			return err
		}
		if how == hypervisor.RebootSoft || st == hypervisor.Suspended {
			return &hypervisor.StateError{Guest: g.Name, Op: how.String() + " reboot", State: st}
		}
		return d.startFromDomain(ctx, g)
	}
	if how == hypervisor.RebootHard {
		graceful = 0
	}
	d.stop(ctx, v, graceful)
	return d.startFromDomain(ctx, g)
}

// Pause stops the vCPUs.
func (d *Driver) Pause(ctx context.Context, g hypervisor.Guest) error {
	if err := g.Check(); err != nil {
		return err
	}
	return d.transition(ctx, g, "pause", hypervisor.Running, "stop")
}

// Unpause resumes the vCPUs.
func (d *Driver) Unpause(ctx context.Context, g hypervisor.Guest) error {
	if err := g.Check(); err != nil {
		return err
	}
	return d.transition(ctx, g, "unpause", hypervisor.Paused, "cont")
}

func (d *Driver) transition(ctx context.Context, g hypervisor.Guest, op string, from hypervisor.PowerState, cmd string) error {
	st, err := d.state(ctx, g)
	if err != nil {
		return err
	}
	if st != from {
		return &hypervisor.StateError{Guest: g.Name, Op: op, State: st}
	}
	v := d.get(ctx, g)
	if v == nil {
		return &hypervisor.StateError{Guest: g.Name, Op: op, State: hypervisor.Shutdown}
	}
	if err := v.mon.Execute(ctx, cmd, nil, nil); err != nil {
		return fmt.Errorf("qemu: %s %s: %w", op, g.Name, err)
	}
	return nil
}

// Info reports the power state; a vanished process is never Running.
func (d *Driver) Info(ctx context.Context, g hypervisor.Guest) (hypervisor.Info, error) {
	if err := g.Check(); err != nil {
		return hypervisor.Info{}, err
	}
	st, err := d.state(ctx, g)
	if err != nil {
		return hypervisor.Info{}, err
	}
	info := hypervisor.Info{State: st}
	if dom, err := hypervisor.LoadDomain(g.Dir); err == nil {
		if dom.VCPU != nil {
			info.VCPUs = int(dom.VCPU.Value)
		}
		if dom.Memory != nil {
			if mib, err := toMiB(dom.Memory.Value, dom.Memory.Unit); err == nil {
				info.MemoryKB = mib * 1024
			}
		}
	}
	if v := d.get(ctx, g); v != nil {
		info.CPUTime = cpuTime(v.pid)
	}
	return info, nil
}

func (d *Driver) state(ctx context.Context, g hypervisor.Guest) (hypervisor.PowerState, error) {
	if v := d.get(ctx, g); v != nil {
		s, err := v.mon.QueryStatus(ctx)
		if err != nil {
			if !v.alive() || errors.Is(err, ErrMonitorClosed) {
				v.wait(ctx, time.Second)
				return v.exitState(), nil
			}
			return hypervisor.NoState, fmt.Errorf("qemu: query-status %s: %w", g.Name, err)
		}
		return runState(s.Status), nil
	}
	if hasState(g) {
		return hypervisor.Suspended, nil
	}
	d.mu.Lock()
	v := d.vms[g.Name]
	d.mu.Unlock()
	if v != nil {
		return v.exitState(), nil
	}
	if _, err := os.Stat(g.Dir + "/" + hypervisor.DomainFile); err == nil {
		return hypervisor.Shutdown, nil
	}
	return hypervisor.NoState, hypervisor.NotFound("qemu", g.Name)
}

// runState maps QEMU's RunState to a power state.
func runState(s string) hypervisor.PowerState {
	switch s {
	case "running":
		return hypervisor.Running
	case "paused", "suspended", "inmigrate", "postmigrate", "finish-migrate", "prelaunch", "save-vm", "restore-vm", "debug", "colo":
		return hypervisor.Paused
	case "internal-error", "io-error", "guest-panicked":
		return hypervisor.Crashed
	case "shutdown":
		return hypervisor.Shutdown
	}
	return hypervisor.NoState
}

// List returns guests with a live process or saved state.
func (d *Driver) List(ctx context.Context) ([]string, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	var out []string
	for name, v := range d.vms {
		if v.alive() || hasState(v.g) {
			out = append(out, name)
		}
	}
	sort.Strings(out)
	return out, nil
}

// ConsoleOutput returns the end of the serial console log.
func (d *Driver) ConsoleOutput(ctx context.Context, g hypervisor.Guest, max int) ([]byte, error) {
	if err := g.Check(); err != nil {
		return nil, err
	}
	dom, err := hypervisor.LoadDomain(g.Dir)
	if err != nil {
		return nil, err
	}
	path := g.Dir + "/" + hypervisor.ConsoleLogFile
	if s := serial(dom); s != nil && s.Log != nil && s.Log.File != "" {
		path = s.Log.File
	}
	rel, err := relBeneath(g.Dir, path)
	if err != nil {
		return nil, err
	}
	f, err := beneath.OpenFile(g.Dir, rel, os.O_RDONLY, 0)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil // nothing printed yet
	} else if err != nil {
		return nil, fmt.Errorf("qemu: console log: %w", err)
	}
	defer f.Close()
	if max > 0 {
		if fi, err := f.Stat(); err == nil && fi.Size() > int64(max) {
			f.Seek(fi.Size()-int64(max), io.SeekStart)
		}
	}
	return io.ReadAll(f)
}

// HostResources reports the host as QEMU guests see it.
func (d *Driver) HostResources(ctx context.Context) (hypervisor.HostResources, error) {
	h, err := host.Discover()
	if err != nil {
		return hypervisor.HostResources{}, fmt.Errorf("qemu: host discovery: %w", err)
	}
	r := hypervisor.HostResources{
		Arch: h.Arch, CPUModel: h.CPU.Model, VCPUs: h.VCPUs, MemoryMB: h.MemoryMB, MemoryFreeMB: h.MemoryFreeMB,
		HypervisorType: hypervisorType, CPUFlags: h.CPU.Features,
	}
	if out, err := exec.CommandContext(ctx, d.cfg.Binary, "-version").Output(); err == nil {
		if v, err := host.ParseQEMUVersion(string(out)); err == nil {
			r.HypervisorVersion = v
		}
	}
	return r, nil
}
