package qemu

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"slices"
	"strings"
	"time"

	"github.com/novabsd/novabsd/hypervisor"
	"github.com/novabsd/novabsd/hypervisor/domain"
	"libvirt.org/go/libvirtxml"
)

var _ hypervisor.NICHotplugger = (*Driver)(nil)

// hotplugPorts is how many empty PCI Express root ports a q35 guest starts
// with beyond one per NIC, so NICs can be added while it runs: Q35's root
// bus takes no hot-plugged device, a root port takes exactly one. libvirt
// keeps a spare port for the same reason (Nova's [libvirt] num_pcie_ports).
const hotplugPorts = 8

// detachTimeout bounds the wait for the guest to release a NIC after
// device_del: Linux's PCIe hot-plug driver alone waits 5 s after the
// attention button, and TCG guests are slow.
const detachTimeout = 60 * time.Second

// ErrDetachTimeout: the guest did not release a device after device_del
// within the time allowed; the device is still attached.
var ErrDetachTimeout = errors.New("guest did not release the device in time")

// placeNICs gives every interface of a q35 domain its own PCI Express root
// port, recorded in the domain as libvirt records it (a pcie-root-port
// controller and the interface's <address bus=N/>), and, on a domain that
// had no root port yet, hotplugPorts empty ones. Recorded, the layout is
// the same at every start, so a guest resumed from a saved state finds its
// devices where they were, hot-plugged ones included. Other machines put
// NICs on the root bus and need nothing here.
func placeNICs(dom *libvirtxml.Domain, machine string) {
	if dom.Devices == nil || !pcieMachine(machine) {
		return
	}
	d := dom.Devices
	var ports []uint
	var top uint
	for _, c := range d.Controllers {
		if c.Type != "pci" || c.Index == nil {
			continue
		}
		top = max(top, *c.Index)
		if c.Model == "pcie-root-port" {
			ports = append(ports, *c.Index)
		}
	}
	slices.Sort(ports)
	used := usedPorts(d)
	fresh := len(ports) == 0
	addPort := func() uint {
		top++
		idx := top
		d.Controllers = append(d.Controllers, libvirtxml.DomainController{Type: "pci", Model: "pcie-root-port", Index: &idx})
		ports = append(ports, idx)
		return idx
	}
	for i := range d.Interfaces {
		if d.Interfaces[i].Address != nil {
			continue
		}
		p, ok := freePort(ports, used)
		if !ok {
			p = addPort()
		}
		used[p] = true
		d.Interfaces[i].Address = portAddress(p)
	}
	if fresh {
		for range hotplugPorts {
			addPort()
		}
	}
}

// placedCopy is dom with placeNICs applied, dom itself untouched.
func placedCopy(dom *libvirtxml.Domain, machine string) *libvirtxml.Domain {
	if dom.Devices == nil {
		return dom
	}
	cp := *dom
	devs := *dom.Devices
	devs.Controllers = slices.Clone(devs.Controllers)
	devs.Interfaces = slices.Clone(devs.Interfaces)
	cp.Devices = &devs
	placeNICs(&cp, machine)
	return &cp
}

// sameLayout reports whether placing a changed nothing: the same
// controllers and every interface already addressed.
func sameLayout(a, b *libvirtxml.Domain) bool {
	if a.Devices == nil || b.Devices == nil {
		return a.Devices == b.Devices
	}
	if len(a.Devices.Controllers) != len(b.Devices.Controllers) {
		return false
	}
	for i := range a.Devices.Interfaces {
		if (a.Devices.Interfaces[i].Address == nil) != (b.Devices.Interfaces[i].Address == nil) {
			return false
		}
	}
	return true
}

func usedPorts(d *libvirtxml.DomainDeviceList) map[uint]bool {
	used := map[uint]bool{}
	for _, n := range d.Interfaces {
		if n.Address != nil && n.Address.PCI != nil && n.Address.PCI.Bus != nil && *n.Address.PCI.Bus != 0 {
			used[*n.Address.PCI.Bus] = true
		}
	}
	return used
}

func freePort(ports []uint, used map[uint]bool) (uint, bool) {
	for _, p := range ports {
		if !used[p] {
			return p, true
		}
	}
	return 0, false
}

func portAddress(bus uint) *libvirtxml.DomainAddress {
	zero, b, slot, fn := uint(0), bus, uint(0), uint(0)
	return &libvirtxml.DomainAddress{PCI: &libvirtxml.DomainAddressPCI{Domain: &zero, Bus: &b, Slot: &slot, Function: &fn}}
}

func rootSlotAddress(slot uint) *libvirtxml.DomainAddress {
	zero, bus, s, fn := uint(0), uint(0), slot, uint(0)
	return &libvirtxml.DomainAddress{PCI: &libvirtxml.DomainAddressPCI{Domain: &zero, Bus: &bus, Slot: &s, Function: &fn}}
}

// hotplugIDs are the QEMU ids of a hot-plugged NIC, derived from its MAC so
// they cannot collide with the index-based ids of the command line
// ("net0"): a MAC has twelve hex digits.
func hotplugIDs(mac string) (dev, netdev string) {
	h := strings.ReplaceAll(mac, ":", "")
	return "net" + h, "hostnet" + h
}

// AttachNIC adds nic to the guest: on a running or paused guest over QMP
// (netdev_add on the tap, then device_add on a free root port or root-bus
// slot), and in either case to g.Dir/DomainFile, so later starts keep it.
// On a guest that is shut down only the domain file changes, as Nova's
// libvirt driver changes only the persistent definition then. The tap must
// exist, persistent and owned by [qemu] user: QEMU opens it after it has
// dropped root, and without CAP_NET_ADMIN TUNSETIFF attaches only to a tap
// its user owns. The sandbox needs no loosening for it: with script=no
// QEMU opens /dev/net/tun and issues ioctls, never forks or execs
// (spawn=deny) nor touches scheduling (resourcecontrol=deny).
// nic.Model empty means virtio; compute/ passes the image's hw_vif_model.
func (d *Driver) AttachNIC(ctx context.Context, g hypervisor.Guest, nic hypervisor.NIC) error {
	if err := g.Check(); err != nil {
		return err
	}
	iface, err := domain.Interface(nic, nil, DomainOptions(d.cfg, AccelTCG))
	if err != nil {
		return err
	}
	mac := iface.MAC.Address
	dom, err := hypervisor.LoadDomain(g.Dir)
	if err != nil {
		return err
	}
	if dom.Devices == nil {
		dom.Devices = &libvirtxml.DomainDeviceList{}
	}
	if i := findMAC(dom, mac); i >= 0 {
		return &hypervisor.PropertyError{Property: "mac", Value: mac, Driver: "qemu", Reason: "guest " + g.Name + " already has an interface with this MAC"}
	}
	st, err := d.state(ctx, g)
	if err != nil {
		return err
	}
	machine := Machine(dom, d.cfg)
	old := *dom.Devices
	restore := func() error {
		dom.Devices = &old
		return hypervisor.SaveDomain(g.Dir, dom)
	}
	switch st {
	case hypervisor.Shutdown, hypervisor.Crashed:
		devs := old
		devs.Interfaces = append(slices.Clone(old.Interfaces), iface)
		devs.Controllers = slices.Clone(old.Controllers)
		dom.Devices = &devs
		placeNICs(dom, machine) // a stopped guest may get a new root port
		if _, err := d.argvFor(dom); err != nil {
			return err
		}
		return hypervisor.SaveDomain(g.Dir, dom)
	case hypervisor.Running, hypervisor.Paused:
	default:
		return &hypervisor.StateError{Guest: g.Name, Op: "attach interface", State: st}
	}
	v := d.get(ctx, g)
	if v == nil {
		return &hypervisor.StateError{Guest: g.Name, Op: "attach interface", State: hypervisor.Shutdown}
	}
	if pcieMachine(machine) {
		var ports []uint
		for _, c := range old.Controllers {
			if c.Type == "pci" && c.Model == "pcie-root-port" && c.Index != nil {
				ports = append(ports, *c.Index)
			}
		}
		slices.Sort(ports)
		p, ok := freePort(ports, usedPorts(&old))
		if !ok {
			why := fmt.Sprintf("all %d of its PCI Express root ports are in use", len(ports))
			if len(ports) == 0 {
				why = "it was started without PCI Express root ports for hot-plug"
			}
			return &hypervisor.UnsupportedError{Driver: "qemu", Op: "attaching another interface to " + g.Name,
				Reason: why + "; attach the interface while it is stopped, or stop and start it to get spare ports"}
		}
		iface.Address = portAddress(p)
	} else {
		slot, err := freeRootSlot(ctx, v.mon, &old)
		if err != nil {
			return fmt.Errorf("qemu: attach interface %s to %s: %w", mac, g.Name, err)
		}
		iface.Address = rootSlotAddress(slot)
	}
	devs := old
	devs.Interfaces = append(slices.Clone(old.Interfaces), iface)
	dom.Devices = &devs
	// Checked as the command line of the next start, which also checks the
	// tap name and model as the boot path does.
	ports := map[uint]bool{}
	for _, c := range devs.Controllers {
		if c.Type == "pci" && c.Model == "pcie-root-port" && c.Index != nil {
			ports[*c.Index] = true
		}
	}
	spec, perr := nicSpecFor(len(devs.Interfaces)-1, &iface, ports, rootBus(machine))
	if perr != nil {
		return perr
	}
	if _, err := d.argvFor(dom); err != nil {
		return err
	}
	// The domain first: putting the old one back is sure, unplugging a
	// device again needs the guest's help.
	if err := hypervisor.SaveDomain(g.Dir, dom); err != nil {
		return err
	}
	devID, netdev := hotplugIDs(mac)
	fail := func(err error) error {
		err = fmt.Errorf("qemu: attach interface %s to %s: %w", mac, g.Name, err)
		if rerr := restore(); rerr != nil {
			return errors.Join(err, rerr)
		}
		return err
	}
	if err := v.mon.Execute(ctx, "netdev_add", map[string]any{"type": "tap", "id": netdev, "ifname": spec.tap,
		"script": "no", "downscript": "no", "vhost": false}, nil); err != nil {
		return fail(fmt.Errorf("opening tap %s: %w", spec.tap, err))
	}
	args := map[string]any{"driver": spec.device, "id": devID, "netdev": netdev, "mac": spec.mac,
		"bus": spec.bus, "addr": fmt.Sprintf("0x%x", spec.addr)}
	if spec.mtu > 0 {
		args["host_mtu"] = spec.mtu
	}
	if err := v.mon.Execute(ctx, "device_add", args, nil); err != nil {
		// Undone with a fresh context: the caller's may be what ended.
		uctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		var qe *QMPError
		if !errors.As(err, &qe) {
			// No answer (the context ended): QEMU may have added the
			// device all the same, and then it is attached.
			if id, _, ferr := findLiveNIC(uctx, v.mon, mac); ferr == nil && id == devID {
				return nil
			}
		}
		if derr := v.mon.Execute(uctx, "netdev_del", map[string]string{"id": netdev}, nil); derr != nil {
			err = errors.Join(err, fmt.Errorf("removing netdev %s again: %w", netdev, derr))
		}
		return fail(err)
	}
	return nil
}

// argvFor builds dom's command line as the next start would, only to check
// it; the runtime paths do not matter here.
func (d *Driver) argvFor(dom *libvirtxml.Domain) ([]string, error) {
	return BuildArgv(dom, d.cfg, AccelTCG, runtimeFor(dom, d.cfg))
}

// freeRootSlot picks a free slot on the root bus of a non-PCIe machine,
// from the top down: the command line's devices take the lowest free slots
// in order at every start, so a hot-plugged NIC recorded high up never
// lands where one of them will.
func freeRootSlot(ctx context.Context, mon *Monitor, devs *libvirtxml.DomainDeviceList) (uint, error) {
	var buses []struct {
		Bus     int `json:"bus"`
		Devices []struct {
			Slot uint `json:"slot"`
		} `json:"devices"`
	}
	if err := mon.Execute(ctx, "query-pci", nil, &buses); err != nil {
		return 0, err
	}
	used := map[uint]bool{}
	for _, b := range buses {
		if b.Bus != 0 {
			continue
		}
		for _, dv := range b.Devices {
			used[dv.Slot] = true
		}
	}
	for _, n := range devs.Interfaces {
		if a := n.Address; a != nil && a.PCI != nil && a.PCI.Slot != nil && (a.PCI.Bus == nil || *a.PCI.Bus == 0) {
			used[*a.PCI.Slot] = true
		}
	}
	for s := uint(31); s >= 1; s-- {
		if !used[s] {
			return s, nil
		}
	}
	return 0, &hypervisor.UnsupportedError{Driver: "qemu", Op: "attaching another interface", Reason: "no free slot on the root PCI bus"}
}

func findMAC(dom *libvirtxml.Domain, mac string) int {
	if dom.Devices == nil {
		return -1
	}
	for i, n := range dom.Devices.Interfaces {
		if n.MAC == nil {
			continue
		}
		if m, err := net.ParseMAC(n.MAC.Address); err == nil && m.String() == mac {
			return i
		}
	}
	return -1
}

// DetachNIC removes the NIC with nic.MAC: on a running guest device_del,
// then the wait for the guest to release it (DEVICE_DELETED, at most
// detachTimeout), then netdev_del; then it drops the interface from
// g.Dir/DomainFile. A shut-down guest only loses it from the file. A
// paused guest cannot release a device, so it is refused. A guest without
// that NIC is not an error; a detach that timed out can be repeated.
func (d *Driver) DetachNIC(ctx context.Context, g hypervisor.Guest, nic hypervisor.NIC) error {
	if err := g.Check(); err != nil {
		return err
	}
	hw, err := net.ParseMAC(nic.MAC)
	if err != nil || len(hw) != 6 {
		return &hypervisor.PropertyError{Property: "mac", Value: nic.MAC, Driver: "qemu", Reason: "must be a 48-bit MAC address"}
	}
	mac := hw.String()
	dom, err := hypervisor.LoadDomain(g.Dir)
	if err != nil {
		return err
	}
	st, err := d.state(ctx, g)
	if err != nil {
		return err
	}
	switch st {
	case hypervisor.Running:
		v := d.get(ctx, g)
		if v == nil {
			return &hypervisor.StateError{Guest: g.Name, Op: "detach interface", State: hypervisor.Shutdown}
		}
		if err := unplugNIC(ctx, v.mon, mac); err != nil {
			return fmt.Errorf("qemu: detach interface %s from %s: %w", mac, g.Name, err)
		}
	case hypervisor.Shutdown, hypervisor.Crashed:
	default:
		return &hypervisor.StateError{Guest: g.Name, Op: "detach interface", State: st}
	}
	i := findMAC(dom, mac)
	if i < 0 {
		return nil
	}
	devs := *dom.Devices
	devs.Interfaces = slices.Delete(slices.Clone(devs.Interfaces), i, i+1)
	dom.Devices = &devs
	return hypervisor.SaveDomain(g.Dir, dom)
}

// unplugNIC finds the live NIC with mac, whatever id it was given (the
// command line's net0 or a hot-plug id), and removes it and its netdev.
func unplugNIC(ctx context.Context, mon *Monitor, mac string) error {
	id, netdev, err := findLiveNIC(ctx, mon, mac)
	if err != nil {
		return err
	}
	if id == "" {
		// Gone already, perhaps released after an earlier detach timed
		// out: its hot-plug netdev may remain.
		_, netdev = hotplugIDs(mac)
		if err := mon.Execute(ctx, "netdev_del", map[string]string{"id": netdev}, nil); err != nil && !notFound(err) {
			return err
		}
		return nil
	}
	events, done := mon.Subscribe()
	defer done()
	if err := mon.Execute(ctx, "device_del", map[string]string{"id": id}, nil); err != nil {
		return err
	}
	wctx, cancel := context.WithTimeout(ctx, detachTimeout)
	defer cancel()
	if err := waitDeleted(wctx, events, id); err != nil {
		return err
	}
	if netdev != "" {
		if err := mon.Execute(ctx, "netdev_del", map[string]string{"id": netdev}, nil); err != nil && !notFound(err) {
			return fmt.Errorf("removing netdev %s: %w", netdev, err)
		}
	}
	return nil
}

func waitDeleted(ctx context.Context, events <-chan Event, id string) error {
	for {
		select {
		case ev, ok := <-events:
			if !ok {
				return ErrMonitorClosed
			}
			if ev.Name != "DEVICE_DELETED" {
				continue
			}
			var data struct {
				Device string `json:"device"`
			}
			if json.Unmarshal(ev.Data, &data) == nil && data.Device == id {
				return nil
			}
		case <-ctx.Done():
			if errors.Is(ctx.Err(), context.DeadlineExceeded) {
				return fmt.Errorf("device %s: %w (waited %v for DEVICE_DELETED; the guest OS must support PCI hot-unplug; the interface stays attached and the detach can be repeated)",
					id, ErrDetachTimeout, detachTimeout)
			}
			return ctx.Err()
		}
	}
}

// findLiveNIC returns the id and netdev id of the guest's device with mac,
// or "" when it has none. Devices with ids are the children of
// /machine/peripheral; only network cards have a mac property.
func findLiveNIC(ctx context.Context, mon *Monitor, mac string) (id, netdev string, err error) {
	var children []struct {
		Name string `json:"name"`
		Type string `json:"type"`
	}
	if err := mon.Execute(ctx, "qom-list", map[string]string{"path": "/machine/peripheral"}, &children); err != nil {
		return "", "", err
	}
	for _, c := range children {
		if !strings.HasPrefix(c.Type, "child<") {
			continue
		}
		path := "/machine/peripheral/" + c.Name
		var m string
		if mon.Execute(ctx, "qom-get", map[string]string{"path": path, "property": "mac"}, &m) != nil {
			continue
		}
		if hw, err := net.ParseMAC(m); err != nil || hw.String() != mac {
			continue
		}
		var nd string
		if err := mon.Execute(ctx, "qom-get", map[string]string{"path": path, "property": "netdev"}, &nd); err != nil {
			nd = ""
		}
		return c.Name, nd, nil
	}
	return "", "", nil
}

// notFound reports QMP's answer for an id that names nothing.
func notFound(err error) bool {
	var qe *QMPError
	return errors.As(err, &qe) && (qe.Class == "DeviceNotFound" || strings.Contains(qe.Desc, "not found"))
}

// TapOwner returns the uid QEMU's guests run as, which must own a tap QEMU
// is to open after it has dropped root (a hot-plugged NIC), or -1 when QEMU
// keeps running as the service's user. The network layer creates taps
// owned by it (plug.Port.Owner).
func (d *Driver) TapOwner() (int, error) {
	uid, _, err := d.qemuUser()
	return uid, err
}
