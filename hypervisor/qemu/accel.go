package qemu

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"regexp"
	"strings"
	"sync"
	"time"

	"github.com/novabsd/novabsd/hypervisor"
	"github.com/novabsd/novabsd/hypervisor/beneath"
	"libvirt.org/go/libvirtxml"
)

// ErrAccelUnusable: the accelerator cannot run guests on this host.
var ErrAccelUnusable = errors.New("accelerator unusable on this host")

// AccelError says why an accelerator cannot run guests here, in QEMU's
// words. errors.Is(err, ErrAccelUnusable) is true for it.
type AccelError struct {
	Accel  string // "kvm"
	Reason string // the stderr lines that tell, or what the probe saw
}

func (e *AccelError) Error() string {
	return fmt.Sprintf("%s unusable on this host: %s", strings.ToUpper(e.Accel), e.Reason)
}

// Is reports ErrAccelUnusable.
func (e *AccelError) Is(target error) bool { return target == ErrAccelUnusable }

// kvmDevice is where KVM is looked for; a variable so tests can stand in
// a host that has one.
var kvmDevice = "/dev/kvm"

// defaultKVMWatch is how long a guest is watched after starting under KVM
// until one has survived it: kvm_pvm kills guests within their first
// second (at vCPU set-up or in the boot loader), and only the first
// guests pay the wait.
const defaultKVMWatch = 3 * time.Second

// probeKey identifies what a probe result holds for: the binary, and the
// machine type real guests run.
type probeKey struct{ binary, machine string }

// accelCache keeps auto's resolution for the process lifetime, so drivers
// made again (tests, a reloaded engine) neither probe again nor go back to
// a KVM that killed a guest.
var accelCache struct {
	sync.Mutex
	m map[probeKey]string
}

// resolveAccel turns "auto" into "kvm" or "tcg" once per binary and
// machine: KVM is used only when the KVM device exists and the probe guest
// ran under it.
func resolveAccel(ctx context.Context, c Config, log *slog.Logger) string {
	if c.Accel != AccelAuto {
		return c.Accel
	}
	key := probeKey{c.Binary, c.Machine}
	accelCache.Lock()
	defer accelCache.Unlock()
	if a, ok := accelCache.m[key]; ok {
		return a
	}
	a := AccelTCG
	if _, err := os.Stat(kvmDevice); err == nil {
		if err := ProbeAccel(ctx, c, AccelKVM, 5*time.Second); err == nil {
			a = AccelKVM
		} else {
			log.Warn("qemu: " + kvmDevice + " present but the KVM probe guest did not run; guests run under TCG: " + err.Error())
		}
	}
	if accelCache.m == nil {
		accelCache.m = map[probeKey]string{}
	}
	accelCache.m[key] = a
	return a
}

// accelState is one driver's accelerator: resolved on first use, switched
// to TCG for good when a guest dies of KVM.
type accelState struct {
	mu     sync.Mutex
	accel  string // "" until resolved
	proven bool   // a KVM guest outlived the watch; later starts skip it
}

// Accel returns the accelerator guests start with ("kvm" or "tcg"),
// probing once when configured "auto". It turns "tcg" when a guest died
// under KVM for KVM's sake, and stays so for the process lifetime.
func (d *Driver) Accel(ctx context.Context) string {
	d.acc.mu.Lock()
	defer d.acc.mu.Unlock()
	if d.acc.accel == "" {
		d.acc.accel = resolveAccel(ctx, d.cfg, d.log())
	}
	return d.acc.accel
}

func (d *Driver) log() *slog.Logger {
	if d.cfg.Logger != nil {
		return d.cfg.Logger
	}
	return slog.Default()
}

// launch starts dom under the driver's accelerator. A KVM guest is watched
// for its first seconds (until one survives them): if it dies then, or
// stops in internal-error, and QEMU's stderr blames KVM, then under "auto"
// the guest is started again at once under TCG and, once that run is up,
// KVM is marked unusable for the process (logged at ERROR), so this build
// succeeds and later guests go straight to TCG. Under an explicit "kvm" it
// is an *AccelError naming the option to change. A failure QEMU does not
// blame on KVM is returned as it is, and KVM stays.
func (d *Driver) launch(ctx context.Context, g hypervisor.Guest, dom *libvirtxml.Domain, paused bool) (*vm, error) {
	accel := d.Accel(ctx)
	v, err := d.start(ctx, g, dom, nil, accel, paused)
	if accel != AccelKVM {
		return v, err
	}
	reason, died := d.watchKVM(ctx, g, v, err)
	if !died {
		return v, err
	}
	kerr := &AccelError{Accel: AccelKVM, Reason: reason}
	if v != nil {
		d.discard(ctx, g, dom, v)
	}
	if d.cfg.Accel != AccelAuto {
		return nil, fmt.Errorf("qemu: starting %s: %w (set [qemu] accel = auto or tcg to run guests under TCG)", g.Name, kerr)
	}
	v, err = d.start(ctx, g, dom, nil, AccelTCG, paused)
	if err != nil {
		// TCG failing too means KVM was not (only) to blame: keep it.
		return nil, fmt.Errorf("qemu: starting %s: died under KVM (%v), then failed under TCG: %w", g.Name, kerr, err)
	}
	d.kvmUnusable(g, kerr)
	if dom.Type == "kvm" {
		// The saved domain says how the guest runs (virsh-style dumpxml).
		dom.Type = "qemu"
		if err := hypervisor.SaveDomain(g.Dir, dom); err != nil {
			d.log().Warn("qemu: "+g.Name+" runs under TCG but its domain file still says kvm", "error", err)
		}
	}
	return v, nil
}

// watchKVM reports whether the KVM guest just started died for KVM's sake,
// with the stderr lines that say so. startErr is start's error: a guest
// that did not get through start-up is judged by its stderr alone.
func (d *Driver) watchKVM(ctx context.Context, g hypervisor.Guest, v *vm, startErr error) (string, bool) {
	if startErr != nil {
		return kvmFailure(qemuStderr(g))
	}
	d.acc.mu.Lock()
	proven := d.acc.proven
	d.acc.mu.Unlock()
	if proven {
		return "", false
	}
	deadline := time.NewTimer(d.kvmWatch)
	defer deadline.Stop()
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	for {
		select {
		case <-v.done:
			return kvmFailure(qemuStderr(g))
		case <-tick.C:
			qctx, cancel := context.WithTimeout(ctx, time.Second)
			s, err := v.mon.QueryStatus(qctx)
			cancel()
			if err == nil && s.Status == "internal-error" {
				// QEMU keeps a guest KVM could not run, paused; under KVM
				// that is KVM's failure whatever the detail says.
				if reason, ok := kvmFailure(qemuStderr(g)); ok {
					return reason, true
				}
				return "the guest stopped in internal-error", true
			}
		case <-deadline.C:
			d.acc.mu.Lock()
			d.acc.proven = true
			d.acc.mu.Unlock()
			return "", false
		case <-ctx.Done():
			return "", false
		}
	}
}

// kvmProven reports whether a guest has already run under KVM long enough to show that KVM works here.
func (d *Driver) kvmProven() bool {
	d.acc.mu.Lock()
	defer d.acc.mu.Unlock()
	return d.acc.proven
}

// kvmUnusable switches the driver, and auto's cached resolution, to TCG.
func (d *Driver) kvmUnusable(g hypervisor.Guest, kerr *AccelError) {
	d.acc.mu.Lock()
	d.acc.accel = AccelTCG
	d.acc.mu.Unlock()
	accelCache.Lock()
	if accelCache.m == nil {
		accelCache.m = map[probeKey]string{}
	}
	accelCache.m[probeKey{d.cfg.Binary, d.cfg.Machine}] = AccelTCG
	accelCache.Unlock()
	d.log().Error(fmt.Sprintf("KVM unusable on this host: %s; guests now run under TCG", kerr.Reason),
		"guest", g.Name, "uuid", g.UUID)
}

// discard stops a guest start returned and removes what it left for the
// next start: its QMP socket and pid file.
func (d *Driver) discard(ctx context.Context, g hypervisor.Guest, dom *libvirtxml.Domain, v *vm) {
	d.stop(ctx, v, 0)
	v.mon.Close()
	os.Remove(newRuntime(g.Dir, dom, d.cfg).QMPSocket)
	if dir, err := beneath.Open(g.Dir); err == nil {
		dir.Remove(pidFile)
		dir.Close()
	}
}

// qemuStderr is what the guest's QEMU wrote to its stderr log.
func qemuStderr(g hypervisor.Guest) []byte {
	b, _ := beneath.ReadFile(g.Dir, stderrFile)
	return b
}

// kvmLine matches the stderr lines by which QEMU blames KVM: its KVM
// accelerator's messages, the KVM ioctl names, kvm_* function prefixes and
// assertions in its kvm*.c sources. Bare "kvm" is not enough: paths and
// guest names may contain it.
var kvmLine = []*regexp.Regexp{
	regexp.MustCompile(`(?i)\bKVM internal error\b`),
	regexp.MustCompile(`(?i)\bemulation failure\b`),
	regexp.MustCompile(`(?i)\bfailed to (set|get) MSR\b`),
	regexp.MustCompile(`(?i)\bkvm run failed\b`),
	regexp.MustCompile(`(?i)\bKVM: entry failed\b`),
	regexp.MustCompile(`(?i)\b(failed to initiali[sz]e kvm|could not access KVM kernel module)`),
	regexp.MustCompile(`\bKVM_[A-Z0-9_]+\b`),
	regexp.MustCompile(`\bkvm_[a-z0-9_]+: `),
	regexp.MustCompile(`/kvm[a-z0-9_-]*\.c:\d+: .*Assertion`),
}

// kvmFailure returns the stderr lines that blame KVM (joined with "; ",
// at most four), and whether there are any.
func kvmFailure(stderr []byte) (string, bool) {
	var hits []string
	for _, line := range strings.Split(string(stderr), "\n") {
		line = strings.TrimSpace(line)
		for _, re := range kvmLine {
			if re.MatchString(line) {
				hits = append(hits, line)
				break
			}
		}
	}
	if len(hits) == 0 {
		return "", false
	}
	if len(hits) > 4 {
		hits = hits[len(hits)-4:]
	}
	return strings.Join(hits, "; "), true
}
