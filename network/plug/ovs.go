package plug

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// runFunc runs one command, argv[0] being the program, never through a shell, and returns its standard output.
// A failure's error is a *cmdError carrying the command's standard error.
type runFunc func(ctx context.Context, argv []string) ([]byte, error)

// cmdError is a failed command: what it printed on standard error is the useful part ("ovs-vsctl: no bridge
// named br-int", "ifconfig: interface tap0 does not exist").
type cmdError struct {
	Prog   string
	Stderr string
	Err    error
}

func (e *cmdError) Error() string {
	if e.Stderr == "" {
		return fmt.Sprintf("%s: %v", e.Prog, e.Err)
	}
	return fmt.Sprintf("%s: %v: %s", e.Prog, e.Err, e.Stderr)
}

func (e *cmdError) Unwrap() error { return e.Err }

// runCommand is the real runFunc.
func runCommand(ctx context.Context, argv []string) ([]byte, error) {
	cmd := exec.CommandContext(ctx, argv[0], argv[1:]...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	// A child that leaves a grandchild holding the pipes must not keep Run waiting past the kill.
	cmd.WaitDelay = 2 * time.Second
	if err := cmd.Run(); err != nil {
		return stdout.Bytes(), &cmdError{Prog: filepath.Base(argv[0]), Stderr: strings.TrimSpace(stderr.String()), Err: err}
	}
	return stdout.Bytes(), nil
}

// defaultVsctlTimeout is os-vif's [os_vif_ovs] ovs_vsctl_timeout default.
const defaultVsctlTimeout = 120 * time.Second

func (pl *Plugger) timeout() time.Duration {
	if pl.cfg.Timeout <= 0 {
		return defaultVsctlTimeout
	}
	return pl.cfg.Timeout
}

// vsctl runs one ovs-vsctl transaction made of args. ovs-vsctl bounds itself with --timeout (whole seconds,
// rounded up: 0 would mean forever); the context gets a little more, so the switch's own message wins.
// noWait skips the wait for ovs-vswitchd to apply the change, for clean-ups that must not hang on a dead switch.
func (pl *Plugger) vsctl(ctx context.Context, timeout time.Duration, noWait bool, args []string) error {
	secs := int64((timeout + time.Second - 1) / time.Second)
	if secs < 1 {
		secs = 1
	}
	bin := pl.cfg.Vsctl
	if bin == "" {
		bin = "ovs-vsctl"
	}
	argv := []string{bin, "--timeout=" + strconv.FormatInt(secs, 10)}
	if pl.cfg.OVSDB != "" {
		argv = append(argv, "--db="+pl.cfg.OVSDB)
	}
	if noWait {
		argv = append(argv, "--no-wait")
	}
	argv = append(argv, args...)
	ctx, cancel := context.WithTimeout(ctx, time.Duration(secs)*time.Second+3*time.Second)
	defer cancel()
	_, err := pl.run(ctx, argv)
	// ovs-vsctl enforces --timeout with alarm(2): SIGALRM is its timeout, which (the database having answered)
	// usually means ovs-vswitchd is not applying changes.
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		if ws, ok := ee.Sys().(syscall.WaitStatus); ok && ws.Signaled() && ws.Signal() == syscall.SIGALRM {
			return fmt.Errorf("%w after %ds (is ovs-vswitchd running?): %w", ErrSwitchTimeout, secs, err)
		}
	}
	return err
}

// addPortArgs is the plug transaction, as os-vif's create_ovs_vif_port writes it: the port added to the bridge
// if it is not there yet and its interface given the external_ids OVN binds by (iface-id), the MAC and the
// instance, with the MTU requested of the switch too. The bridge's datapath_type is set, as os-vif does, when the
// binding names one; the bridge is never created: a missing integration bridge is an error naming it.
func addPortArgs(p Port) []string {
	var a []string
	if p.DatapathType != "" {
		a = append(a, "--", "set", "Bridge", p.Bridge, "datapath_type="+p.DatapathType)
	}
	a = append(a, "--", "--may-exist", "add-port", p.Bridge, p.Tap,
		"--", "set", "Interface", p.Tap,
		"external_ids:iface-id="+p.PortID,
		"external_ids:iface-status=active",
		"external_ids:attached-mac="+p.MAC,
		"external_ids:vm-uuid="+p.InstanceUUID)
	if p.MTU > 0 {
		a = append(a, "mtu_request="+strconv.Itoa(p.MTU))
	}
	return a
}

// delPortArgs removes the tap's port from whichever bridge holds it; one that is not there is not an error.
// The bridge is not named: an unplug must succeed also when the port sits on another bridge or the bridge is
// gone, and the tap's name is the port's own.
func delPortArgs(tap string) []string {
	return []string{"--", "--if-exists", "del-port", tap}
}

// checkArgs reads one value of the switch's root row: it answers as soon as the database does.
func checkArgs() []string {
	return []string{"--", "get", "Open_vSwitch", ".", "ovs_version"}
}
