// Package plug connects a guest's host device (a tap) to what a Neutron port binding names, as os-vif's plugins
// do: an Open vSwitch integration bridge for vif_type "ovs" (OVN's binding), a plain bridge for vif_type "bridge"
// (a Linux bridge, FreeBSD's if_bridge). It knows taps, bridges and OVS; nothing of Nova or of the hypervisor.
package plug

import (
	"context"
	"errors"
	"time"
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
	// Timeout bounds each switch command, as [os_vif_ovs] ovs_vsctl_timeout.
	Timeout time.Duration
}

// ErrUnsupportedKind is returned for a port whose Kind this package does not plug.
var ErrUnsupportedKind = errors.New("plug: unsupported vif type")

// Plugger creates and connects taps. Its methods are safe for concurrent use on different ports.
type Plugger struct {
	cfg Config
}

// New returns a Plugger for cfg.
func New(cfg Config) *Plugger { return &Plugger{cfg: cfg} }

// Plug creates p.Tap (owned by p.Owner, MTU set, up) and connects it as p.Kind says. It is idempotent: a tap
// already plugged for the same port is left as it is. On error nothing it made remains.
func (pl *Plugger) Plug(ctx context.Context, p Port) error {
	return errors.New("plug: not implemented yet")
}

// Unplug disconnects and deletes p.Tap. A tap or switch port that is already gone is not an error.
func (pl *Plugger) Unplug(ctx context.Context, p Port) error {
	return errors.New("plug: not implemented yet")
}

// Check reports whether the host's switch answers (ovsdb-server reachable through cfg.OVSDB), so that a host
// whose switch is down refuses builds with a clear error instead of half-plugging a tap.
func (pl *Plugger) Check(ctx context.Context) error {
	return errors.New("plug: not implemented yet")
}
