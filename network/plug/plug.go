// Package plug connects a guest's host device (a tap) to what a Neutron port binding names, as os-vif's plugins
// do: an Open vSwitch integration bridge for vif_type "ovs" (OVN's binding), a plain bridge for vif_type "bridge"
// (a Linux bridge, FreeBSD's if_bridge). It knows taps, bridges and OVS; nothing of Nova or of the hypervisor.
//
// Taps are made by the host's own interfaces (tun ioctls on Linux, ifconfig(8) on FreeBSD); the switch is
// driven through ovs-vsctl, one transaction per plug, as os-vif's vsctl driver does. Every value that reaches a
// command line is checked first.
package plug

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/novabsd/novabsd/internal/revert"
)

// Kind is how a port is connected on the host.
type Kind string

// The kinds plugged; every other vif_type is refused before anything is made.
const (
	KindOVS    Kind = "ovs"
	KindBridge Kind = "bridge"
)

// Port is the host side of one Neutron port.
type Port struct {
	Kind         Kind
	PortID       string // Neutron port id: OVS external_ids:iface-id
	MAC          string // the port's MAC: external_ids:attached-mac
	InstanceUUID string // external_ids:vm-uuid
	Tap          string // host device, network.TapName(PortID)
	Bridge       string // integration bridge (br-int) or the bridge the binding names
	MTU          int    // 0: leave the device's default
	// DatapathType is the binding's datapath_type ("netdev" for OVS's userspace datapath, "system"); empty: as
	// the bridge has it.
	DatapathType string
	// Owner is the uid allowed to open the tap (the user the engine's guests run as); -1: root only.
	Owner int
}

// Config says how to reach the host's switch.
type Config struct {
	// OVSDB is the ovsdb-server connection ("unix:/run/openvswitch/db.sock", "tcp:127.0.0.1:6640"), as os-vif's
	// [os_vif_ovs] ovsdb_connection.
	OVSDB string
	// Vsctl is the ovs-vsctl binary; "" finds it on PATH.
	Vsctl string
	// Timeout bounds each switch command, as [os_vif_ovs] ovs_vsctl_timeout; 0 is os-vif's default, 120 s.
	Timeout time.Duration
}

// ErrUnsupportedKind is returned for a port whose Kind this package does not plug.
var ErrUnsupportedKind = errors.New("plug: unsupported vif type")

// ErrInvalid is wrapped by every refusal of a Port or Config value (see *FieldError).
var ErrInvalid = errors.New("invalid value")

// ErrSwitchUnreachable is wrapped by Check's error when ovs-vsctl cannot reach the switch's database.
var ErrSwitchUnreachable = errors.New("open vswitch database unreachable")

// ErrSwitchTimeout is wrapped when ovs-vsctl gave up at its timeout: the database took the change but
// ovs-vswitchd did not apply it in time (it is stopped or stuck).
var ErrSwitchTimeout = errors.New("open vswitch timed out")

// Error is what Plug, Unplug and Check return: the operation, the tap it was about and the cause.
type Error struct {
	Op  string // "plug", "unplug" or "check"
	Tap string // "" for check
	Err error
}

func (e *Error) Error() string {
	if e.Tap == "" {
		return fmt.Sprintf("%s switch: %v", e.Op, e.Err)
	}
	return fmt.Sprintf("%s %s: %v", e.Op, e.Tap, e.Err)
}

func (e *Error) Unwrap() error { return e.Err }

// Plugger creates and connects taps. Its methods are safe for concurrent use on different ports.
type Plugger struct {
	cfg Config
	run runFunc // every command (ovs-vsctl, ifconfig) goes through it: the seam tests record
	dev device  // the host's taps and plain bridges
}

// New returns a Plugger for cfg.
func New(cfg Config) *Plugger {
	return &Plugger{cfg: cfg, run: runCommand, dev: newDevice(runCommand)}
}

// undoTimeout bounds the clean-up of a failed plug, which runs even when the caller's context has ended: a
// cancelled build must not leave its tap behind.
const undoTimeout = 30 * time.Second

// Plug creates p.Tap (owned by p.Owner, MTU set, up) and connects it as p.Kind says. It is idempotent: a tap
// already plugged for the same port is left as it is. On error nothing it made remains.
func (pl *Plugger) Plug(ctx context.Context, p Port) error {
	if err := p.validate(); err != nil {
		return &Error{Op: "plug", Tap: p.Tap, Err: err}
	}
	if p.Kind == KindOVS {
		if err := pl.cfg.validate(); err != nil {
			return &Error{Op: "plug", Tap: p.Tap, Err: err}
		}
	}
	r := revert.New()
	defer r.Fail()
	undoCtx := func() (context.Context, context.CancelFunc) {
		return context.WithTimeout(context.WithoutCancel(ctx), undoTimeout)
	}
	fail := func(err error) error {
		if uerr := r.Fail(); uerr != nil {
			err = errors.Join(err, fmt.Errorf("undoing: %w", uerr))
		}
		return &Error{Op: "plug", Tap: p.Tap, Err: err}
	}

	created, err := pl.dev.ensureTap(ctx, p)
	if err != nil {
		return fail(err)
	}
	if created {
		r.Add(func() error {
			c, cancel := undoCtx()
			defer cancel()
			return pl.dev.deleteTap(c, p.Tap)
		})
	}

	switch p.Kind {
	case KindOVS:
		if created {
			// ovs-vsctl commits before it waits for ovs-vswitchd, so a timed-out plug may have left its row;
			// a row for a tap that did not exist before this plug is stale either way, so it goes too. Its
			// failure is not reported: it fails only when the database cannot be reached, which the plug's own
			// error already says, and then no row was written.
			r.Add(func() error {
				c, cancel := undoCtx()
				defer cancel()
				_ = pl.vsctl(c, min(pl.timeout(), checkTimeout), true, delPortArgs(p.Tap))
				return nil
			})
		}
		err = pl.vsctl(ctx, pl.timeout(), false, addPortArgs(p))
	case KindBridge:
		err = pl.dev.joinBridge(ctx, p.Tap, p.Bridge)
	}
	if err != nil {
		return fail(err)
	}
	r.Success()
	return nil
}

// Unplug disconnects and deletes p.Tap. A tap or switch port that is already gone is not an error.
// Only p.Kind, p.Tap and p.Bridge are used; when the switch cannot be reached the tap is still deleted and the
// switch's error returned. The port's row is removed without waiting for ovs-vswitchd (--no-wait): the database
// is what OVN reads, and a stopped ovs-vswitchd must not hold a server's delete for ovs_vsctl_timeout.
func (pl *Plugger) Unplug(ctx context.Context, p Port) error {
	if err := p.validateUnplug(); err != nil {
		return &Error{Op: "unplug", Tap: p.Tap, Err: err}
	}
	var errs []error
	if p.Kind == KindOVS {
		if err := pl.cfg.validate(); err != nil {
			return &Error{Op: "unplug", Tap: p.Tap, Err: err}
		}
		if err := pl.vsctl(ctx, pl.timeout(), true, delPortArgs(p.Tap)); err != nil {
			errs = append(errs, err)
		}
	}
	// Deleting the device also takes it out of a plain bridge.
	if err := pl.dev.deleteTap(ctx, p.Tap); err != nil {
		errs = append(errs, err)
	}
	if len(errs) > 0 {
		return &Error{Op: "unplug", Tap: p.Tap, Err: errors.Join(errs...)}
	}
	return nil
}

// checkTimeout bounds Check: it answers whether the switch is there, which must not take ovs_vsctl_timeout.
const checkTimeout = 5 * time.Second

// Check tells whether the switch's database answers; its error wraps ErrSwitchUnreachable when it does not, so a
// caller can fault an instance clearly when OVS is stopped rather than wait out a plug.
func (pl *Plugger) Check(ctx context.Context) error {
	if err := pl.cfg.validate(); err != nil {
		return &Error{Op: "check", Err: err}
	}
	t := min(pl.timeout(), checkTimeout)
	if err := pl.vsctl(ctx, t, false, checkArgs()); err != nil {
		return &Error{Op: "check", Err: fmt.Errorf("%w: %w", ErrSwitchUnreachable, err)}
	}
	return nil
}
