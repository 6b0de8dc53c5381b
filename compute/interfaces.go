package compute

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"

	"libvirt.org/go/libvirtxml"

	"github.com/novabsd/novabsd/hypervisor"
	"github.com/novabsd/novabsd/internal/revert"
	"github.com/novabsd/novabsd/network"
	"github.com/novabsd/novabsd/rpc"
	"github.com/novabsd/novabsd/rpc/vo"
)

type externalEventArgs struct {
	Instances []*vo.Object `json:"instances"`
	Events    []*vo.Object `json:"events"`
}

// externalInstanceEvent is Neutron's (and Cinder's) notifications, as nova's manager handles them: network-changed
// refreshes the info cache from Neutron, network-vif-deleted drops the port from the cache and from a running
// guest, and every other event wakes whoever waits for it (a build or an attach waiting for network-vif-plugged).
// An event nobody waits for is logged and harmless: Neutron sends network-vif-plugged more than once per port.
func (s *Service) externalInstanceEvent(ctx context.Context, args json.RawMessage) (any, error) {
	var a externalEventArgs
	if err := rpc.DecodeArgs(args, &a); err != nil {
		return nil, err
	}
	// Every event is checked before any is acted on, so a malformed batch is refused whole.
	type event struct{ name, tag, status, uuid string }
	evs := make([]event, 0, len(a.Events))
	for _, ev := range a.Events {
		name, tag, status, uuid, err := externalEvent{ev}.fields()
		if err != nil {
			return nil, &rpc.ArgsError{Err: fmt.Errorf("external_instance_event: %w", err)}
		}
		evs = append(evs, event{name, tag, status, uuid})
	}
	rc := requestContext(ctx)
	for _, ev := range evs {
		log := s.log.With("instance", ev.uuid, "event", eventKey(ev.name, ev.tag), "status", ev.status)
		var inst *vo.Object
		for _, i := range a.Instances {
			if i != nil && instanceUUID(i) == ev.uuid {
				inst = i
			}
		}
		if inst == nil || s.lc == nil || s.lc.net == nil {
			log.Info("Received external instance event")
			continue
		}
		switch ev.name {
		case "network-changed":
			log.Debug("Refreshing instance network info cache due to event")
			s.refreshInfoCache(ctx, rc, inst, log)
		case "network-vif-deleted":
			s.vifDeleted(ctx, rc, inst, ev.tag, log)
		default:
			if s.lc.net.events.pop(ev.uuid, eventKey(ev.name, ev.tag), ev.status) {
				log.Debug("Processing event")
				continue
			}
			task, _ := asInstance(inst).TaskState()
			if ev.name == "network-vif-unplugged" && (task == taskDeleting || task == "migrating") {
				log.Debug("Received event for an instance being deleted or migrated")
				continue
			}
			vm, _ := asInstance(inst).VMState()
			log.Warn("Received unexpected event", "vm_state", vm, "task_state", task)
		}
	}
	return nil, nil
}

// refreshInfoCache is the network-changed handling: the ports are read again from Neutron and the cache saved
// when they changed.
func (s *Service) refreshInfoCache(ctx context.Context, rc *rpc.RequestContext, inst *vo.Object, log *slog.Logger) {
	_, err := s.refreshNetworkInfo(ctx, rc, inst, log)
	switch {
	case errors.Is(err, network.ErrNotFound):
		log.Info("Failed to process external instance event", "error", err)
	case err != nil:
		log.Warn("Cannot refresh the network info cache", "error", err)
	}
}

// vifDeleted is _process_instance_vif_deleted_event: a port Neutron deleted leaves the cache, and the guest when
// the engine can detach it; a running guest of an engine without NIC hot-plug keeps the NIC (without traffic)
// until the server is deleted, which unplugs its tap. The server's state never changes for it.
func (s *Service) vifDeleted(ctx context.Context, rc *rpc.RequestContext, inst *vo.Object, portID string, log *slog.Logger) {
	uuid := instanceUUID(inst)
	unlock := s.lc.net.cacheLocks.lock(uuid)
	defer unlock()
	info, err := s.reloadNetworkInfo(ctx, rc, inst)
	if err != nil {
		log.Warn("Cannot read the network info cache", "error", err)
		return
	}
	i := slices.IndexFunc(info, func(v network.VIF) bool { return v.ID == portID })
	if i < 0 {
		return
	}
	vif := info[i]
	log.Info("Neutron deleted interface; detaching it from the instance and deleting it from the info cache",
		"port", portID)
	info = slices.Delete(slices.Clone(info), i, i+1)
	if err := s.saveInfoCache(ctx, rc, inst, info); err != nil {
		log.Warn("Cannot save the network info cache", "error", err)
	}
	g, err := s.guestOf(inst)
	if err != nil {
		return
	}
	nic := hypervisor.NIC{MAC: vif.Address, Tap: network.TapName(vif.ID)}
	err = s.detachGuestNIC(ctx, g, nic)
	switch {
	case errors.Is(err, hypervisor.ErrUnsupported):
		// A live guest (or one suspended with its devices) of an engine without NIC hot-plug keeps the NIC. It
		// carries no traffic, its port being gone; the server stays as it is, the NIC leaves the guest at its
		// next start (dropStaleNICs), and its tap is unplugged then or when the server is deleted.
		log.Warn("This hypervisor cannot detach interfaces from a running guest: it keeps the NIC of the port "+
			"Neutron deleted (without traffic) until it is stopped and started again, or deleted", "port", portID,
			"tap", nic.Tap, "error", err)
	case err != nil:
		log.Warn("Detach interface failed", "port", portID, "error", err)
	default:
		s.unplugVIFs(ctx, inst, network.Info{vif})
	}
}

// detachGuestNIC takes nic out of g as the libvirt driver's detach does, from the live guest and from its
// definition: through the engine's NIC hot-plug when it has it; otherwise from the domain file of a guest that
// is stopped, as no process holds the NIC then. A live guest of an engine without hot-plug keeps it: the error
// wraps hypervisor.ErrUnsupported.
func (s *Service) detachGuestNIC(ctx context.Context, g hypervisor.Guest, nic hypervisor.NIC) error {
	hot, herr := hypervisor.AsNICHotplugger(s.lc.eng.driver)
	if herr == nil {
		return hot.DetachNIC(ctx, g, nic)
	}
	if ps := s.powerState(ctx, g); ps != powerShutdown && ps != powerCrashed {
		return fmt.Errorf("guest in power state %d: %w", ps, herr)
	}
	_, err := dropDomainNICs(g, hasMAC(nic.MAC))
	return err
}

// dropDomainNICs removes the interfaces drop chooses from the domain file of g, which is not running, and
// returns them; a file left as it was is not written.
func dropDomainNICs(g hypervisor.Guest, drop func(libvirtxml.DomainInterface) bool) ([]libvirtxml.DomainInterface, error) {
	dom, err := hypervisor.LoadDomain(g.Dir)
	if err != nil {
		return nil, err
	}
	if dom.Devices == nil {
		return nil, nil
	}
	var kept, dropped []libvirtxml.DomainInterface
	for _, i := range dom.Devices.Interfaces {
		if drop(i) {
			dropped = append(dropped, i)
		} else {
			kept = append(kept, i)
		}
	}
	if len(dropped) == 0 {
		return nil, nil
	}
	dom.Devices.Interfaces = kept
	return dropped, hypervisor.SaveDomain(g.Dir, dom)
}

// hasMAC chooses the interface with mac.
func hasMAC(mac string) func(libvirtxml.DomainInterface) bool {
	return func(i libvirtxml.DomainInterface) bool { return i.MAC != nil && strings.EqualFold(i.MAC.Address, mac) }
}

// attachInterfaceArgs are attach_interface's arguments (compute RPC 6.x).
type attachInterfaceArgs struct {
	Instance    *vo.Object `json:"instance"`
	NetworkID   *string    `json:"network_id"`
	PortID      *string    `json:"port_id"`
	RequestedIP *string    `json:"requested_ip"`
	Tag         *string    `json:"tag"`
}

func deref(p *string) string {
	if p == nil {
		return ""
	}
	return *p
}

// attachInterface is attach_interface (a call): the new port's VIF, as a network-model dict, is the answer.
func (s *Service) attachInterface(ctx context.Context, args json.RawMessage) (any, error) {
	var a attachInterfaceArgs
	if err := decodeInstance(args, &a, func() *vo.Object { return a.Instance }); err != nil {
		return nil, err
	}
	rc, inst := requestContext(ctx), a.Instance
	req := network.Request{NetworkID: deref(a.NetworkID), PortID: deref(a.PortID), FixedIP: deref(a.RequestedIP),
		Tag: deref(a.Tag)}
	var vif network.VIF
	err := s.run(ctx, rc, inst, op{event: "compute_attach_interface", fault: true, lock: true}, func() error {
		var err error
		vif, err = s.doAttachInterface(ctx, rc, inst, req)
		return err
	})
	if err != nil {
		return nil, err
	}
	return vif, nil
}

// doAttachInterface is _attach_interface: refused at once by an engine without NIC hot-plug (nothing is asked of
// Neutron); otherwise the port is allocated and bound, its tap plugged, network-vif-plugged awaited, the NIC added
// to the running guest and the info cache saved. Any failure undoes every step before it, so the server and the
// port are as they were.
func (s *Service) doAttachInterface(ctx context.Context, rc *rpc.RequestContext, inst *vo.Object, req network.Request) (network.VIF, error) {
	uuid := instanceUUID(inst)
	hot, err := hypervisor.AsNICHotplugger(s.lc.eng.driver)
	if err != nil {
		return network.VIF{}, fmt.Errorf("%w (%w)", novaError("AttachInterfaceNotSupported", 400,
			"Attaching interfaces is not supported for instance %s.", uuid), err)
	}
	if req.Tag != "" {
		return network.VIF{}, novaError("NetworkInterfaceTaggedAttachNotSupported", 400,
			"Tagged network interface attachment is not supported for this server instance.")
	}
	failed := func(err error) error {
		return fmt.Errorf("%w (%w)", novaError("InterfaceAttachFailed", 500,
			"Failed to attach network adapter device to %s", uuid), err)
	}
	if s.lc.net == nil {
		return network.VIF{}, failed(errors.New("this compute node has no Neutron client"))
	}
	g, err := s.guestOf(inst)
	if err != nil {
		return network.VIF{}, err
	}
	cleanup := context.WithoutCancel(ctx)
	rv := revert.New()
	defer func() {
		if uerr := rv.Fail(); uerr != nil {
			s.log.Error("Cannot undo all of a failed interface attach", "instance", uuid, "error", uerr)
		}
	}()
	vif, err := s.lc.net.api.AttachPort(ctx, s.binding(inst, nil), req)
	if f := neutronFault(err, req); f != nil {
		return network.VIF{}, fmt.Errorf("%w (%w)", f, err)
	}
	if err != nil {
		return network.VIF{}, failed(err)
	}
	rv.Add(func() error { return s.lc.net.api.DetachPort(cleanup, uuid, vif) })
	p, err := s.hostPort(inst, vif) // for the undo, which needs no owner; plugAndWait plugs with it
	var uv *unsupportedVIF
	switch {
	case errors.As(err, &uv) && uv.vifType == "binding_failed":
		return network.VIF{}, fmt.Errorf("%w (%w)", novaError("PortBindingFailed", 500, "%s", uv.Error()), err)
	case err != nil:
		return network.VIF{}, failed(err)
	}
	if err := s.plugAndWait(ctx, inst, network.Info{vif}, nil); err != nil {
		return network.VIF{}, failed(err)
	}
	rv.Add(func() error { return s.lc.net.plugger.Unplug(cleanup, p) })
	sm, _ := asInstance(inst).SystemMetadata()
	nic := hypervisor.NIC{MAC: vif.Address, Tap: p.Tap, MTU: p.MTU, Model: sm["image_hw_vif_model"]}
	if err := hot.AttachNIC(ctx, g, nic); err != nil {
		return network.VIF{}, failed(err)
	}
	rv.Add(func() error { return hot.DetachNIC(cleanup, g, nic) })
	unlock := s.lc.net.cacheLocks.lock(uuid)
	defer unlock()
	info, err := s.reloadNetworkInfo(ctx, rc, inst)
	if err != nil {
		return network.VIF{}, failed(err)
	}
	// A network-changed for the new port may have put it in the cache already: it is listed once.
	info = slices.DeleteFunc(slices.Clone(info), func(v network.VIF) bool { return v.ID == vif.ID })
	info = append(info, vif)
	if err := s.saveInfoCache(ctx, rc, inst, info); err != nil {
		return network.VIF{}, failed(err)
	}
	rv.Success()
	return vif, nil
}

// detachInterfaceArgs are detach_interface's arguments (compute RPC 6.x).
type detachInterfaceArgs struct {
	Instance *vo.Object `json:"instance"`
	PortID   string     `json:"port_id"`
}

// detachInterface is detach_interface (a cast): the NIC leaves the guest, its tap is unplugged, the port is
// released (deleted when this service created it) and the info cache saved without it. An engine without NIC
// hot-plug detaches from a stopped guest only.
func (s *Service) detachInterface(ctx context.Context, args json.RawMessage) (any, error) {
	var a detachInterfaceArgs
	if err := decodeInstance(args, &a, func() *vo.Object { return a.Instance }); err != nil {
		return nil, err
	}
	rc, inst := requestContext(ctx), a.Instance
	return nil, s.run(ctx, rc, inst, op{event: "compute_detach_interface", fault: true, lock: true}, func() error {
		return s.doDetachInterface(ctx, rc, inst, a.PortID)
	})
}

func (s *Service) doDetachInterface(ctx context.Context, rc *rpc.RequestContext, inst *vo.Object, portID string) error {
	uuid := instanceUUID(inst)
	if s.lc.net == nil {
		return novaError("PortNotFound", 404, "Port %s is not attached", portID)
	}
	unlock := s.lc.net.cacheLocks.lock(uuid)
	defer unlock()
	info, err := s.reloadNetworkInfo(ctx, rc, inst)
	if err != nil {
		return err
	}
	i := slices.IndexFunc(info, func(v network.VIF) bool { return v.ID == portID })
	if i < 0 {
		return novaError("PortNotFound", 404, "Port %s is not attached", portID)
	}
	vif := info[i]
	g, err := s.guestOf(inst)
	if err != nil {
		return err
	}
	err = s.detachGuestNIC(ctx, g, hypervisor.NIC{MAC: vif.Address, Tap: network.TapName(vif.ID)})
	if errors.Is(err, hypervisor.ErrUnsupported) {
		return translateEngineError(inst, err) // NotImplementedError, as a driver without detach_interface
	}
	if err != nil {
		s.log.Warn("Detach interface failed", "instance", uuid, "port", portID, "error", err)
		return fmt.Errorf("%w (%w)", novaError("InterfaceDetachFailed", 400,
			"Failed to detach network adapter device from %s", uuid), err)
	}
	s.unplugVIFs(ctx, inst, network.Info{vif})
	if err := s.lc.net.api.DetachPort(ctx, uuid, vif); err != nil {
		return fmt.Errorf("releasing port %s: %w", portID, err)
	}
	return s.saveInfoCache(ctx, rc, inst, slices.Delete(slices.Clone(info), i, i+1))
}
