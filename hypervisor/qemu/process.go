package qemu

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/novabsd/novabsd/hypervisor"
	"github.com/novabsd/novabsd/hypervisor/beneath"
	"github.com/novabsd/novabsd/internal/revert"
	"libvirt.org/go/libvirtxml"
)

// vm is one supervised QEMU process.
type vm struct {
	g    hypervisor.Guest
	pid  int
	mon  *Monitor
	done chan struct{} // closed when the process has exited

	mu       sync.Mutex
	exitCode int  // valid after done; -1 when killed by a signal or unknown
	stopping bool // the driver asked it to stop, so an exit is no crash
	guestOff bool // QEMU reported a guest-initiated shutdown
}

// watch records SHUTDOWN events: for an adopted process they are the only
// way to tell a guest that powered off from one killed from outside.
func (v *vm) watch() {
	events, _ := v.mon.Subscribe()
	for ev := range events {
		if ev.Name != "SHUTDOWN" {
			continue
		}
		var data struct {
			Guest bool `json:"guest"`
		}
		if json.Unmarshal(ev.Data, &data) == nil && data.Guest {
			v.mu.Lock()
			v.guestOff = true
			v.mu.Unlock()
		}
	}
}

func (v *vm) alive() bool {
	select {
	case <-v.done:
		return false
	default:
		return true
	}
}

// wait blocks until the process exits or d passes; reports whether it exited.
func (v *vm) wait(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-v.done:
		return true
	case <-t.C:
	case <-ctx.Done():
	}
	return false
}

// exitState is the power state of a process that has ended: a guest that
// powered itself off (exit 0) or that we stopped is Shutdown; anything else
// (killed from outside, QEMU error) is Crashed.
func (v *vm) exitState() hypervisor.PowerState {
	v.mu.Lock()
	defer v.mu.Unlock()
	if v.stopping || v.guestOff || v.exitCode == 0 {
		return hypervisor.Shutdown
	}
	return hypervisor.Crashed
}

// relBeneath returns path relative to dir, refusing paths outside it: the
// driver writes instance files only beneath the instance directory.
func relBeneath(dir, path string) (string, error) {
	if !filepath.IsAbs(path) {
		return filepath.Clean(path), nil
	}
	rel, err := filepath.Rel(dir, path)
	if err != nil || !filepath.IsLocal(rel) {
		return "", fmt.Errorf("qemu: %s is not beneath the instance directory %s", path, dir)
	}
	return rel, nil
}

// preflight checks, before anything is made, that this host's QEMU can run
// dom as configured: the machine type is one the binary offers, the sandbox
// and the unprivileged user are there, and the firmware files exist.
func (d *Driver) preflight(ctx context.Context, dom *libvirtxml.Domain) (*Binary, error) {
	bin, err := ProbeBinary(ctx, d.cfg.Binary)
	if err != nil {
		return nil, err
	}
	if err := d.checkHost(bin, dom); err != nil {
		return nil, err
	}
	if dom.OS != nil && dom.OS.Loader != nil && dom.OS.Loader.Path != "" {
		if _, err := os.Stat(dom.OS.Loader.Path); err != nil {
			return nil, &hypervisor.MissingError{What: "UEFI firmware", Path: dom.OS.Loader.Path, Err: err}
		}
		if nv := dom.OS.NVRam; nv != nil && nv.NVRam != "" {
			if _, err := os.Stat(nv.NVRam); errors.Is(err, fs.ErrNotExist) {
				tmpl := nv.Template
				if tmpl == "" {
					tmpl = d.cfg.OVMFVars
				}
				if _, err := os.Stat(tmpl); err != nil {
					return nil, &hypervisor.MissingError{What: "UEFI variables template", Path: tmpl, Err: err}
				}
			}
		}
	}
	return bin, nil
}

// checkHost is preflight's part that needs no files of the guest.
func (d *Driver) checkHost(bin *Binary, dom *libvirtxml.Domain) error {
	if m := Machine(dom, d.cfg); !bin.HasMachine(m) {
		return &hypervisor.PropertyError{Property: "hw_machine_type", Value: m, Allowed: bin.Machines, Driver: "qemu",
			Reason: bin.Path + " has no such machine type"}
	}
	if d.cfg.Sandbox && !bin.Sandbox {
		return &hypervisor.UnsupportedError{Driver: "qemu", Op: "-sandbox " + sandboxOpts,
			Reason: bin.Path + " was built without seccomp or lacks these options; set [qemu] sandbox = false to run guests unsandboxed"}
	}
	if _, _, err := d.qemuUser(); err != nil {
		return err
	}
	return checkPassthrough(bin, d.cfg.Sysfs, dom)
}

// qemuUser returns the uid and gid QEMU drops to; -1, -1 when it keeps
// running as the service's user.
func (d *Driver) qemuUser() (uid, gid int, err error) {
	if d.cfg.User == "" || d.cfg.User == "root" {
		return -1, -1, nil
	}
	u, err := user.Lookup(d.cfg.User)
	if err != nil {
		return -1, -1, &hypervisor.MissingError{What: "qemu user ([qemu] user)", Path: d.cfg.User,
			Err: fmt.Errorf("%w; create it (useradd --system %s) or name another", err, d.cfg.User)}
	}
	uid, _ = strconv.Atoi(u.Uid)
	gid, _ = strconv.Atoi(u.Gid)
	return uid, gid, nil
}

// reachable refuses an instance directory QEMU's user cannot reach: QEMU
// reopens the guest's disks there after it has dropped root (suspend,
// resume), which would otherwise fail deep inside a migration. A directory
// lets the user through with its others' search bit, or with the owner's
// or group's when they are the user's.
func reachable(dir, name string, uid, gid int) error {
	if uid < 0 {
		return nil
	}
	for p := filepath.Clean(dir); ; p = filepath.Dir(p) {
		fi, err := os.Stat(p)
		if err != nil {
			return fmt.Errorf("qemu: %w", err)
		}
		m := fi.Mode().Perm()
		ou, og, ok := fileOwner(fi)
		if ok && m&0o001 == 0 && !(ou == uid && m&0o100 != 0) && !(og == gid && m&0o010 != 0) {
			return &hypervisor.UnsupportedError{Driver: "qemu", Op: "running guests in " + dir,
				Reason: fmt.Sprintf("[qemu] user %s cannot pass through %s (mode %04o): QEMU reopens the guest's disks there after dropping root; let others search it (o+x)", name, p, m)}
		}
		if p == filepath.Dir(p) {
			return nil
		}
	}
}

// grantGuestFiles gives QEMU's user the files QEMU opens again after it has
// dropped root: writable disks (reopened when a suspend inactivates them
// and a resume activates them), the NVRAM and the console logs. Only files
// beneath the instance directory and ZFS volumes are changed, never a host
// file a domain happens to name; the previous owners come back on undo.
func grantGuestFiles(g hypervisor.Guest, dom *libvirtxml.Domain, uid, gid int, rv *revert.Reverter) error {
	if uid < 0 {
		return nil
	}
	var paths []string
	if dom.Devices != nil {
		for i := range dom.Devices.Disks {
			dk := &dom.Devices.Disks[i]
			if p := diskPath(dk); p != "" && dk.ReadOnly == nil && dk.Device != "cdrom" {
				paths = append(paths, p)
			}
		}
		for _, sr := range dom.Devices.Serials {
			if sr.Log != nil && sr.Log.File != "" {
				paths = append(paths, sr.Log.File)
			}
		}
	}
	if dom.OS != nil && dom.OS.NVRam != nil && dom.OS.NVRam.NVRam != "" {
		paths = append(paths, dom.OS.NVRam.NVRam)
	}
	for _, p := range paths {
		var fi os.FileInfo
		var err error
		chown := os.Lchown
		switch {
		case strings.HasPrefix(p, "/dev/zvol/"):
			fi, err = os.Stat(p) // a link to the device node on Linux
			chown = os.Chown
		default:
			if _, rerr := relBeneath(g.Dir, p); rerr != nil {
				continue
			}
			fi, err = os.Lstat(p)
			if err == nil && !fi.Mode().IsRegular() {
				continue
			}
		}
		if err != nil {
			return fmt.Errorf("qemu: giving %s to the qemu user: %w", p, err)
		}
		oldUID, oldGID, ok := fileOwner(fi)
		if !ok || (oldUID == uid && oldGID == gid) {
			continue
		}
		if err := chown(p, uid, gid); err != nil {
			return fmt.Errorf("qemu: giving %s to the qemu user: %w", p, err)
		}
		rv.Add(func() error { return chown(p, oldUID, oldGID) })
	}
	return nil
}

// start runs QEMU for dom under accel and connects QMP. incoming, when set,
// is a saved state to restore. On error everything start made is removed
// again, except QEMU's stderr log (stderrFile), which says why.
func (d *Driver) start(ctx context.Context, g hypervisor.Guest, dom *libvirtxml.Domain, incoming *os.File, accel string,
	paused bool) (*vm, error) {
	bin, err := d.preflight(ctx, dom)
	if err != nil {
		return nil, err
	}
	dir, err := beneath.Open(g.Dir)
	if err != nil {
		return nil, fmt.Errorf("qemu: %w", err)
	}
	defer dir.Close()
	rt := newRuntime(g.Dir, dom, d.cfg)
	rt.RunWith = bin.RunWith()
	rt.Paused = paused
	if incoming != nil {
		rt.IncomingFD = 3 // first of cmd.ExtraFiles
	}
	cfg := d.cfg
	cfg.Binary = bin.Path
	argv, err := BuildArgv(dom, cfg, accel, rt)
	if err != nil {
		return nil, err
	}
	rv := revert.New()
	defer rv.Fail()
	if filepath.Dir(rt.QMPSocket) != g.Dir {
		if err := os.MkdirAll(filepath.Dir(rt.QMPSocket), 0o700); err != nil {
			return nil, fmt.Errorf("qemu: %w", err)
		}
	}
	os.Remove(rt.QMPSocket)
	dir.Remove(pidFile)
	if err := d.ensureNVRAM(dir, g, dom, rv); err != nil {
		return nil, err
	}
	if err := consoleLogs(dir, g, dom); err != nil {
		return nil, err
	}
	uid, gid, err := d.qemuUser()
	if err != nil {
		return nil, err
	}
	if err := reachable(g.Dir, d.cfg.User, uid, gid); err != nil {
		return nil, err
	}
	if err := grantGuestFiles(g, dom, uid, gid, rv); err != nil {
		return nil, err
	}
	logf, err := dir.OpenFile(stderrFile, os.O_CREATE|os.O_TRUNC|os.O_WRONLY, 0o600)
	if err != nil {
		return nil, fmt.Errorf("qemu: %w", err)
	}
	defer logf.Close()
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.Dir = g.Dir
	// Own session: the guest survives signals to the service's process
	// group, and a service restart can adopt it again from the pid file.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	if incoming != nil {
		cmd.ExtraFiles = []*os.File{incoming}
	}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("qemu: starting %s: %w", bin.Path, err)
	}
	v := &vm{g: g, pid: cmd.Process.Pid, done: make(chan struct{})}
	go func() {
		err := cmd.Wait()
		code := 0
		var ee *exec.ExitError
		if errors.As(err, &ee) {
			code = ee.ExitCode() // -1 when killed by a signal
		}
		v.mu.Lock()
		v.exitCode = code
		v.mu.Unlock()
		close(v.done)
	}()
	rv.Add(func() error {
		cmd.Process.Kill()
		<-v.done
		os.Remove(rt.QMPSocket)
		dir.Remove(pidFile)
		return nil
	})
	mon, err := d.connect(ctx, v, rt.QMPSocket)
	if err != nil {
		return nil, fmt.Errorf("%w%s", err, stderrTail(g.Dir))
	}
	v.mon = mon
	rv.Add(mon.Close)
	go v.watch()
	if err := setVNCPassword(ctx, mon, dom); err != nil {
		return nil, err
	}
	rv.Success()
	return v, nil
}

// connect waits for QEMU's QMP socket; QEMU creates it during start-up.
func (d *Driver) connect(ctx context.Context, v *vm, path string) (*Monitor, error) {
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	for {
		if !v.alive() {
			return nil, fmt.Errorf("qemu: process exited during start-up")
		}
		mon, err := DialQMP(ctx, path)
		if err == nil {
			return mon, nil
		}
		select {
		case <-ctx.Done():
			return nil, fmt.Errorf("qemu: no QMP on %s: %w", path, err)
		case <-v.done:
		case <-time.After(10 * time.Millisecond):
		}
	}
}

// stderrTail returns QEMU's last error lines for error messages.
func stderrTail(dir string) string {
	b, err := beneath.ReadFile(dir, stderrFile)
	if err != nil || len(bytes.TrimSpace(b)) == 0 {
		return ""
	}
	if len(b) > 512 {
		b = b[len(b)-512:]
	}
	return ": " + strings.TrimSpace(string(b))
}

// consoleLogs creates the serial log files beneath the instance directory
// mode 0600 before QEMU opens them: QEMU would create them 0644 (0666 less
// the umask), and a console log holds whatever the guest prints, keys and
// first-boot passwords included. grantGuestFiles then gives them to
// [qemu] user.
func consoleLogs(dir *beneath.Dir, g hypervisor.Guest, dom *libvirtxml.Domain) error {
	if dom.Devices == nil {
		return nil
	}
	for _, s := range dom.Devices.Serials {
		if s.Log == nil || s.Log.File == "" {
			continue
		}
		rel, err := relBeneath(g.Dir, s.Log.File)
		if err != nil {
			return err
		}
		f, err := dir.OpenFile(rel, os.O_CREATE|os.O_WRONLY, 0o600)
		if err != nil {
			return fmt.Errorf("qemu: console log: %w", err)
		}
		err = f.Chmod(0o600) // one an older service made 0644
		if cerr := f.Close(); err == nil {
			err = cerr
		}
		if err != nil {
			return fmt.Errorf("qemu: console log: %w", err)
		}
	}
	return nil
}

// ensureNVRAM gives a UEFI guest its own copy of the variables template.
func (d *Driver) ensureNVRAM(dir *beneath.Dir, g hypervisor.Guest, dom *libvirtxml.Domain, rv *revert.Reverter) error {
	if dom.OS == nil || dom.OS.Loader == nil || dom.OS.NVRam == nil || dom.OS.NVRam.NVRam == "" {
		return nil
	}
	rel, err := relBeneath(g.Dir, dom.OS.NVRam.NVRam)
	if err != nil {
		return err
	}
	if _, err := os.Stat(filepath.Join(g.Dir, rel)); err == nil {
		return nil
	}
	tmpl := dom.OS.NVRam.Template
	if tmpl == "" {
		tmpl = d.cfg.OVMFVars
	}
	data, err := os.ReadFile(tmpl)
	if err != nil {
		return &hypervisor.MissingError{What: "UEFI variables template", Path: tmpl, Err: err}
	}
	f, err := dir.OpenFile(rel, os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o600)
	if err != nil {
		return fmt.Errorf("qemu: creating NVRAM: %w", err)
	}
	rv.Add(func() error { return dir.Remove(rel) })
	_, err = f.Write(data)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("qemu: writing NVRAM: %w", err)
	}
	return nil
}

func setVNCPassword(ctx context.Context, mon *Monitor, dom *libvirtxml.Domain) error {
	if dom.Devices == nil {
		return nil
	}
	for _, gr := range dom.Devices.Graphics {
		if gr.VNC != nil && gr.VNC.Passwd != "" {
			if err := mon.Execute(ctx, "set_password", map[string]string{"protocol": "vnc", "password": gr.VNC.Passwd}, nil); err != nil {
				return fmt.Errorf("qemu: setting VNC password: %w", err)
			}
		}
	}
	return nil
}

// adopt finds a QEMU left running by an earlier service process through
// its pid file, checking the pid still belongs to this guest's QEMU.
func (d *Driver) adopt(ctx context.Context, g hypervisor.Guest) *vm {
	b, err := beneath.ReadFile(g.Dir, pidFile)
	if err != nil {
		return nil
	}
	pid, err := strconv.Atoi(strings.TrimSpace(string(b)))
	if err != nil || pid <= 0 {
		return nil
	}
	cmdline, err := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pid))
	if err != nil || (g.UUID != "" && !bytes.Contains(cmdline, []byte(g.UUID))) && !bytes.Contains(cmdline, []byte("guest="+g.Name+",")) {
		return nil
	}
	dom, err := hypervisor.LoadDomain(g.Dir)
	if err != nil {
		return nil
	}
	rt := newRuntime(g.Dir, dom, d.cfg)
	mon, err := DialQMP(ctx, rt.QMPSocket)
	if err != nil {
		return nil
	}
	v := &vm{g: g, pid: pid, mon: mon, done: make(chan struct{}), exitCode: -1}
	go v.watch()
	go func() {
		// Not our child: poll for its end.
		for syscall.Kill(pid, 0) == nil {
			select {
			case <-mon.Done():
				time.Sleep(50 * time.Millisecond)
			case <-time.After(500 * time.Millisecond):
			}
		}
		close(v.done)
	}()
	return v
}
