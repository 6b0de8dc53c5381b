package compute

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"

	"github.com/novabsd/novabsd/hypervisor"
	"github.com/novabsd/novabsd/network"
	"github.com/novabsd/novabsd/network/plug"
)

// fakeNeutron stands in for the Neutron client: it makes ports as Neutron would answer them after binding and
// remembers which are bound, so tests see what a flow left behind.
type fakeNeutron struct {
	mu       sync.Mutex
	allocErr error
	vifType  string // binding:vif_type of the ports it makes; "" is ovs
	active   bool   // whether the ports are ACTIVE when returned
	seq      int
	bound    map[string]string // port id -> instance uuid
	calls    []string
	// refresh, when set, is what Refresh answers.
	refresh network.Info
	// refreshBy, when it has the instance, is what Refresh answers for it (before refresh).
	refreshBy map[string]network.Info
	// refreshErr, when set, is Refresh's error.
	refreshErr error
	// refreshed are the instance uuids Refresh was asked about, in order; prevs the cache each call was given.
	refreshed []string
	prevs     []network.Info
	// allocGate, when set, holds Allocate (without mu) until it is closed.
	allocGate chan struct{}
	// deallocated is the network_info each Deallocate call was given, in order.
	deallocated []network.Info
	// deallocErrs are returned by the next Deallocate calls, in turn.
	deallocErrs []error
	// hosts is each port's binding:host_id as Allocate, UnbindHost and BindHost left it.
	hosts map[string]string
	// unbindErr and bindErr, when set, are UnbindHost's and BindHost's errors.
	unbindErr, bindErr error
}

func newFakeNeutron() *fakeNeutron {
	return &fakeNeutron{bound: map[string]string{}, hosts: map[string]string{}}
}

func (n *fakeNeutron) newVIF(uuid string, r network.Request) network.VIF {
	n.seq++
	// The sequence number is in the first 11 characters too: a port's tap is named after them (network.TapName).
	id := fmt.Sprintf("aaaa%04d-bbbb-4ccc-8ddd-%012d", n.seq, n.seq)
	if r.PortID != "" {
		id = r.PortID
	}
	n.bound[id] = uuid
	n.hosts[id] = testHost
	return network.VIF{ID: id, Address: fmt.Sprintf("fa:16:3e:00:00:%02x", n.seq), Type: orDefault(n.vifType, "ovs"),
		DevName: network.TapName(id), OVSInterfaceID: id, Active: n.active, VNICType: "normal",
		PreserveOnDelete: r.PortID != "",
		Network: &network.Network{ID: orDefault(r.NetworkID, "net-1"), Bridge: "br-int", Label: "private",
			Meta: map[string]any{"mtu": 1442},
			Subnets: []network.Subnet{{CIDR: "10.0.0.0/24", Version: 4,
				IPs: []network.FixedIP{{IP: network.IP{Address: fmt.Sprintf("10.0.0.%d", 10+n.seq), Type: "fixed", Version: 4}}}}}},
		Details: map[string]any{"datapath_type": "netdev"}}
}

func (n *fakeNeutron) Allocate(_ context.Context, b network.Binding, reqs []network.Request) (network.Info, error) {
	n.mu.Lock()
	n.calls = append(n.calls, "allocate "+b.Host+" compute:"+b.AvailabilityZone)
	gate := n.allocGate
	n.mu.Unlock()
	if gate != nil {
		<-gate
	}
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.allocErr != nil {
		return nil, n.allocErr
	}
	info := network.Info{}
	for _, r := range reqs {
		info = append(info, n.newVIF(b.InstanceUUID, r))
	}
	return info, nil
}

func (n *fakeNeutron) Deallocate(_ context.Context, uuid string, info network.Info) error {
	n.mu.Lock()
	defer n.mu.Unlock()
	n.calls = append(n.calls, "deallocate")
	n.deallocated = append(n.deallocated, info)
	if len(n.deallocErrs) > 0 {
		err := n.deallocErrs[0]
		n.deallocErrs = n.deallocErrs[1:]
		if err != nil {
			return err
		}
	}
	for id, owner := range n.bound {
		if owner == uuid {
			delete(n.bound, id)
		}
	}
	return nil
}

func (n *fakeNeutron) Refresh(_ context.Context, uuid string, prev network.Info) (network.Info, error) {
	n.mu.Lock()
	defer n.mu.Unlock()
	n.calls = append(n.calls, "refresh")
	n.refreshed = append(n.refreshed, uuid)
	n.prevs = append(n.prevs, prev)
	if n.refreshErr != nil {
		return nil, n.refreshErr
	}
	if info, ok := n.refreshBy[uuid]; ok {
		return info, nil
	}
	if n.refresh != nil {
		return n.refresh, nil
	}
	return prev, nil
}

// UnbindHost clears the host binding of the ports (they stay the instance's), as recorded in hosts.
func (n *fakeNeutron) UnbindHost(_ context.Context, uuid string, ids []string) error {
	n.mu.Lock()
	defer n.mu.Unlock()
	n.calls = append(n.calls, fmt.Sprintf("unbind-host %d", len(ids)))
	if n.unbindErr != nil {
		return n.unbindErr
	}
	for _, id := range ids {
		if n.bound[id] == uuid {
			delete(n.hosts, id)
		}
	}
	return nil
}

// BindHost binds every port of the instance to b.Host.
func (n *fakeNeutron) BindHost(_ context.Context, b network.Binding) error {
	n.mu.Lock()
	defer n.mu.Unlock()
	n.calls = append(n.calls, "bind-host "+b.Host)
	if n.bindErr != nil {
		return n.bindErr
	}
	for id, owner := range n.bound {
		if owner == b.InstanceUUID {
			n.hosts[id] = b.Host
		}
	}
	return nil
}

func (n *fakeNeutron) AttachPort(_ context.Context, b network.Binding, r network.Request) (network.VIF, error) {
	n.mu.Lock()
	defer n.mu.Unlock()
	n.calls = append(n.calls, "attach-port")
	if n.allocErr != nil {
		return network.VIF{}, n.allocErr
	}
	return n.newVIF(b.InstanceUUID, r), nil
}

func (n *fakeNeutron) DetachPort(_ context.Context, _ string, vif network.VIF) error {
	n.mu.Lock()
	defer n.mu.Unlock()
	n.calls = append(n.calls, "detach-port")
	delete(n.bound, vif.ID)
	return nil
}

func (n *fakeNeutron) boundPorts() int {
	n.mu.Lock()
	defer n.mu.Unlock()
	return len(n.bound)
}

func (n *fakeNeutron) callList() []string {
	n.mu.Lock()
	defer n.mu.Unlock()
	return slices.Clone(n.calls)
}

// fakePlugger stands in for network/plug: it keeps the plugged taps.
type fakePlugger struct {
	mu       sync.Mutex
	plugged  map[string]plug.Port
	checkErr error
	// unplugged are the ports Unplug was given, in order.
	unplugged []plug.Port
	// onPlug, when set, runs (without mu) after each successful Plug: Neutron's answer to a plugged port.
	onPlug func(p plug.Port)
}

func newFakePlugger() *fakePlugger { return &fakePlugger{plugged: map[string]plug.Port{}} }

func (p *fakePlugger) Plug(_ context.Context, port plug.Port) error {
	if port.Kind != plug.KindOVS && port.Kind != plug.KindBridge {
		return plug.ErrUnsupportedKind
	}
	p.mu.Lock()
	p.plugged[port.Tap] = port
	hook := p.onPlug
	p.mu.Unlock()
	if hook != nil {
		hook(port)
	}
	return nil
}

func (p *fakePlugger) Unplug(_ context.Context, port plug.Port) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	delete(p.plugged, port.Tap)
	p.unplugged = append(p.unplugged, port)
	return nil
}

func (p *fakePlugger) Check(context.Context) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.checkErr
}

func (p *fakePlugger) taps() []string {
	p.mu.Lock()
	defer p.mu.Unlock()
	var out []string
	for t := range p.plugged {
		out = append(out, t)
	}
	slices.Sort(out)
	return out
}

// fakeHotDriver is fakeDriver with NIC hot-plug, as the QEMU engine has it.
type fakeHotDriver struct {
	*fakeDriver
	attachErr error
	nics      map[string]hypervisor.NIC // MAC -> NIC of the running guest
}

func (d *fakeHotDriver) Capabilities() hypervisor.Capabilities {
	c := d.fakeDriver.Capabilities()
	c.NICHotplug = true
	return c
}

func (d *fakeHotDriver) AttachNIC(_ context.Context, g hypervisor.Guest, nic hypervisor.NIC) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.state[g.Name] != hypervisor.Running {
		return &hypervisor.StateError{Guest: g.Name, Op: "attach NIC", State: d.state[g.Name]}
	}
	if d.attachErr != nil {
		return d.attachErr
	}
	if _, dup := d.nics[nic.MAC]; dup {
		return errors.New("duplicate MAC")
	}
	d.nics[nic.MAC] = nic
	return nil
}

func (d *fakeHotDriver) DetachNIC(_ context.Context, _ hypervisor.Guest, nic hypervisor.NIC) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	delete(d.nics, nic.MAC)
	return nil
}
