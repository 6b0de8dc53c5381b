package compute

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	"libvirt.org/go/libvirtxml"

	"github.com/novabsd/novabsd/conf"
	"github.com/novabsd/novabsd/hypervisor"
	"github.com/novabsd/novabsd/internal/retry"
	"github.com/novabsd/novabsd/network"
	"github.com/novabsd/novabsd/network/plug"
	"github.com/novabsd/novabsd/rpc"
	"github.com/novabsd/novabsd/rpc/vo"
)

// neutronAPI is the part of Nova's network API the manager uses; *network.Client implements it. It is an
// interface so the manager's flows are tested with a stand-in while Neutron is not there.
type neutronAPI interface {
	Allocate(ctx context.Context, b network.Binding, reqs []network.Request) (network.Info, error)
	Deallocate(ctx context.Context, instanceUUID string, info network.Info) error
	Refresh(ctx context.Context, instanceUUID string, prev network.Info) (network.Info, error)
	AttachPort(ctx context.Context, b network.Binding, r network.Request) (network.VIF, error)
	DetachPort(ctx context.Context, instanceUUID string, vif network.VIF) error
	UnbindHost(ctx context.Context, instanceUUID string, portIDs []string) error
	BindHost(ctx context.Context, b network.Binding) error
}

// vifPlugger connects taps to the host's switch; *plug.Plugger implements it.
type vifPlugger interface {
	Plug(ctx context.Context, p plug.Port) error
	Unplug(ctx context.Context, p plug.Port) error
	Check(ctx context.Context) error
}

var (
	_ neutronAPI = (*network.Client)(nil)
	_ vifPlugger = (*plug.Plugger)(nil)
)

// networking is the manager's side of Neutron: the client, the plugger, who owns taps, and the waiters for
// Neutron's external events.
type networking struct {
	api     neutronAPI
	plugger vifPlugger
	// owner is the engine's hypervisor.TapOwner, asked at each plug (so a user created after the start is
	// found); nil: the engine opens taps as root.
	owner  hypervisor.TapOwner
	events instanceEvents
	// cacheLocks serialises the info cache updates of one instance (nova's refresh_cache-<uuid> lock). It is not
	// the instance lock: a build holds that while it waits for the events whose handling takes this one.
	cacheLocks keyedLocks
}

// newNetworking builds the Neutron client and the plugger from nova.conf.
func newNetworking(cfg *conf.Config, drv hypervisor.Driver) (*networking, error) {
	n := cfg.Neutron
	nc := network.Config{AuthURL: n.AuthURL, Username: n.Username, UserDomainName: n.UserDomainName,
		UserDomainID: n.UserDomainID, Password: n.Password, ProjectName: n.ProjectName,
		ProjectDomainName: n.ProjectDomainName, ProjectDomainID: n.ProjectDomainID, RegionName: n.RegionName,
		ValidInterfaces: n.ValidInterfaces, EndpointOverride: n.EndpointOverride, CAFile: n.CAFile,
		Insecure: n.Insecure, HTTPRetries: n.HTTPRetries, OVSBridge: n.OVSBridge}
	if n.Timeout != nil {
		nc.Timeout = seconds(*n.Timeout)
	}
	api, err := network.NewClient(nc)
	if err != nil {
		return nil, fmt.Errorf("[neutron]: %w", err)
	}
	o := cfg.OSVIFOVS
	pl := plug.New(plug.Config{OVSDB: o.OVSDBConnection, Timeout: seconds(o.OVSVsctlTimeout)})
	owner, _ := drv.(hypervisor.TapOwner)
	return &networking{api: api, plugger: pl, owner: owner}, nil
}

// tapOwner is the uid that must be able to open the taps, -1 for root only.
func (n *networking) tapOwner() (int, error) {
	if n.owner == nil {
		return -1, nil
	}
	uid, err := n.owner.TapOwner()
	if err != nil {
		return 0, fmt.Errorf("owner of the taps: %w", err)
	}
	return uid, nil
}

// checkConfigDriveFormat refuses vfat: this service writes config drives as ISO 9660 volumes only, and a guest
// told to look for a vfat drive would not find its metadata.
func checkConfigDriveFormat(cfg *conf.Config) error {
	if cfg.Default.ConfigDriveFormat == "" || cfg.Default.ConfigDriveFormat == "iso9660" {
		return nil
	}
	loc, _ := cfg.Where("DEFAULT", "config_drive_format")
	return &conf.Error{File: loc.File, Line: loc.Line, Group: "DEFAULT", Option: "config_drive_format",
		Reason: fmt.Sprintf("%q is not supported: novabsd writes config drives as ISO 9660 (iso9660) only",
			cfg.Default.ConfigDriveFormat)}
}

// --- requested networks ---------------------------------------------------------------------------------------

// networkRequests reads build_and_run_instance's requested_networks: nil with no error for none to allocate
// (absent, empty or --nic none). "auto" stays the network id "auto", which the network API resolves as nova does
// (the project's one network, else an auto-allocated topology).
func networkRequests(list *vo.Object) ([]network.Request, error) {
	if list == nil {
		return nil, nil
	}
	objs, err := list.Objects()
	if err != nil {
		return nil, abort(err, "requested_networks unreadable")
	}
	var reqs []network.Request
	for _, o := range objs {
		v := networkRequest{o}
		var r network.Request
		for dst, read := range map[*string]func() (string, error){&r.NetworkID: v.NetworkID, &r.PortID: v.PortID,
			&r.FixedIP: v.Address, &r.Tag: v.Tag} {
			if *dst, err = read(); err != nil {
				return nil, abort(err, "requested_networks unreadable")
			}
		}
		if r.NetworkID == "none" {
			if len(objs) > 1 {
				return nil, abort(nil, "requested_networks: \"none\" cannot be combined with other networks")
			}
			return nil, nil
		}
		if r.PortID != "" {
			r.NetworkID = "" // the port names its network
		}
		reqs = append(reqs, r)
	}
	return reqs, nil
}

// binding is what the instance's ports are bound with.
func (s *Service) binding(inst *vo.Object, securityGroups json.RawMessage) network.Binding {
	v := asInstance(inst)
	az, _ := optString(inst, "availability_zone")
	b := network.Binding{InstanceUUID: instanceUUID(inst), Host: s.cfg.Load().Default.Host,
		AvailabilityZone: orDefault(az, "nova"), ProjectID: checkedRead(v.ProjectID())}
	if len(securityGroups) > 0 {
		// build_and_run_instance sends names (["default"]); nova.objects lists are also accepted.
		var names []string
		if json.Unmarshal(securityGroups, &names) == nil {
			b.SecurityGroups = names
		}
	}
	return b
}

// neutronFault is nova's exception for a Neutron failure about req that the API reports as such (PortInUse,
// PortNotFound, NetworkNotFound, PortBindingFailed), worded as nova's; nil for any other failure. The port or
// network named is the one Neutron's error names, else the request's.
func neutronFault(err error, req network.Request) *rpc.RemoteError {
	port, netw := req.PortID, req.NetworkID
	var ne *network.Error
	if errors.As(err, &ne) {
		port, netw = orDefault(ne.Port, port), orDefault(ne.Network, netw)
	}
	switch {
	case port == "" && netw == "":
		return nil // nothing to name: the caller's generic wording says more than "Port  is still in use."
	case errors.Is(err, network.ErrPortInUse), errors.Is(err, network.ErrPortBoundElsewhere):
		if port == "" {
			return nil
		}
		return novaError("PortInUse", 409, "Port %s is still in use.", port)
	case errors.Is(err, network.ErrBindingFailed):
		if port == "" {
			return nil
		}
		return novaError("PortBindingFailed", 500,
			"Binding failed for port %s, please check neutron logs for more information.", port)
	case errors.Is(err, network.ErrNotFound) && port != "":
		return novaError("PortNotFound", 404, "Port id %s could not be found.", port)
	case errors.Is(err, network.ErrNotFound):
		return novaError("NetworkNotFound", 404, "Network %s could not be found.", netw)
	}
	return nil
}

// allocateError words a failed allocation as nova's build does: Neutron being unreachable, or a binding this
// host's switch could not make, may succeed on another host; a request that is wrong anywhere (a port in use, a
// network or port that does not exist) aborts.
func allocateError(err error, reqs []network.Request) error {
	var req network.Request
	if len(reqs) == 1 {
		req = reqs[0] // with several, only Neutron's error can tell which one failed
	}
	f := neutronFault(err, req)
	switch {
	case errors.Is(err, network.ErrUnavailable):
		return reschedule(err, "Failed to allocate the network(s): Neutron is unreachable")
	case f != nil && f.Class == "PortBindingFailed":
		return reschedule(err, "%s", f.Message)
	case f != nil:
		return abort(err, "%s", f.Message)
	case errors.Is(err, network.ErrPortInUse), errors.Is(err, network.ErrPortBoundElsewhere),
		errors.Is(err, network.ErrNotFound), errors.Is(err, network.ErrNetworkAmbiguous),
		errors.Is(err, network.ErrCannotAutoAllocate), errors.Is(err, network.ErrInvalidInput):
		// Every host would get the same answer from Neutron for these.
		return abort(err, "Failed to allocate the network(s), not rescheduling.")
	}
	return reschedule(err, "Failed to allocate the network(s)")
}

// --- info cache -------------------------------------------------------------------------------------------------

// cachedNetworkInfo reads network_info from the instance's info_cache; loaded is false when the instance carries
// no info_cache (not in the attributes the caller loaded).
func cachedNetworkInfo(inst *vo.Object) (info network.Info, loaded bool, err error) {
	ic, p, err := vo.Get[*vo.Object](inst, "info_cache")
	if err != nil {
		return nil, false, err
	}
	if p != vo.Present || ic == nil {
		return network.Info{}, false, nil
	}
	raw, _, err := vo.Get[string](ic, "network_info")
	if err != nil {
		return nil, true, err
	}
	info, err = network.Parse([]byte(raw))
	return info, true, err
}

// networkInfo is instance.get_network_info(): the info cache the instance carries, else the one the conductor
// has (InstanceInfoCache.get_by_instance_uuid, as the lazy load of info_cache does).
func (s *Service) networkInfo(ctx context.Context, rc *rpc.RequestContext, inst *vo.Object) (network.Info, error) {
	info, loaded, err := cachedNetworkInfo(inst)
	if err != nil || loaded {
		return info, err
	}
	return s.reloadNetworkInfo(ctx, rc, inst)
}

// reloadNetworkInfo reads the info cache the conductor has now and sets it on the instance. Code that changes the
// cache uses it under the instance's cache lock rather than the copy the instance came with: an event's instance
// was read by nova-api before the build saved its cache, and a list computed from that copy would drop what the
// cache has gained since (preserve_on_delete of the user's port, which then went with the server).
func (s *Service) reloadNetworkInfo(ctx context.Context, rc *rpc.RequestContext, inst *vo.Object) (network.Info, error) {
	ic, err := s.cond.classObject(ctx, rc, "InstanceInfoCache", "get_by_instance_uuid",
		[]string{"InstanceInfoCache"}, []any{instanceUUID(inst)}, nil)
	if isRemote(err, "InstanceInfoCacheNotFound") || (err == nil && ic == nil) {
		return network.Info{}, nil
	}
	if err != nil {
		return nil, err
	}
	raw, err := json.Marshal(ic)
	if err != nil {
		return nil, err
	}
	inst.Data["info_cache"] = raw // loaded, not changed: Instance.save must not write it back
	raws, _, err := vo.Get[string](ic, "network_info")
	if err != nil {
		return nil, err
	}
	return network.Parse([]byte(raws))
}

// saveInfoCache is update_instance_cache_with_nw_info: a new InstanceInfoCache with instance_uuid and
// network_info (the JSON text of the list) saved through the conductor, then set on the instance as loaded.
func (s *Service) saveInfoCache(ctx context.Context, rc *rpc.RequestContext, inst *vo.Object, info network.Info) error {
	if info == nil {
		info = network.Info{}
	}
	text, err := json.Marshal(info)
	if err != nil {
		return err
	}
	ic := vo.New("InstanceInfoCache", s.release.ObjectVersion("InstanceInfoCache"))
	ic.SetString("instance_uuid", instanceUUID(inst))
	ic.SetString("network_info", string(text))
	if _, err := s.cond.objectAction(ctx, rc, ic, "save", nil, nil); err != nil {
		return fmt.Errorf("saving the network info cache: %w", err)
	}
	ic.ResetChanges()
	raw, err := json.Marshal(ic)
	if err != nil {
		return err
	}
	inst.Data["info_cache"] = raw
	return nil
}

// --- plugging ---------------------------------------------------------------------------------------------------

// unsupportedVIF is a port bound with a vif_type this host cannot plug.
type unsupportedVIF struct{ port, vifType string }

func (e *unsupportedVIF) Error() string {
	if e.vifType == "binding_failed" {
		return fmt.Sprintf("Binding failed for port %s, please check neutron logs for more information.", e.port)
	}
	return fmt.Sprintf("Unsupported VIF type %s for port %s: this host plugs ovs and bridge ports only",
		orDefault(e.vifType, "(none)"), e.port)
}

// hostPort is how vif is plugged on this host; an unsupported vif type is an *unsupportedVIF.
func (s *Service) hostPort(inst *vo.Object, vif network.VIF) (plug.Port, error) {
	p := plug.Port{PortID: vif.ID, MAC: vif.Address, InstanceUUID: instanceUUID(inst), Tap: network.TapName(vif.ID),
		MTU: vif.MTU()}
	if vif.Network != nil {
		p.Bridge = vif.Network.Bridge
	}
	if dt, ok := vif.Details["datapath_type"].(string); ok {
		p.DatapathType = dt
	}
	switch vif.Type {
	case "ovs":
		p.Kind = plug.KindOVS
		if p.Bridge == "" {
			p.Bridge = orDefault(s.cfg.Load().Neutron.OVSBridge, "br-int")
		}
	case "bridge":
		p.Kind = plug.KindBridge
		if p.Bridge == "" {
			return p, fmt.Errorf("port %s: vif_type bridge without a bridge name", vif.ID)
		}
	default:
		return p, &unsupportedVIF{port: vif.ID, vifType: vif.Type}
	}
	return p, nil
}

// guestNICs are the guest's interfaces for info, in its order; every VIF must be pluggable.
func (s *Service) guestNICs(inst *vo.Object, info network.Info) ([]hypervisor.NIC, error) {
	nics := make([]hypervisor.NIC, 0, len(info))
	for _, vif := range info {
		p, err := s.hostPort(inst, vif)
		if err != nil {
			return nil, err
		}
		nics = append(nics, hypervisor.NIC{MAC: vif.Address, Tap: p.Tap, MTU: p.MTU})
	}
	return nics, nil
}

// plugVIFs plugs every VIF of info (plug_vifs); plugging is idempotent, so a tap already there is kept. On error
// the taps it made are unplugged again.
func (s *Service) plugVIFs(ctx context.Context, inst *vo.Object, info network.Info) error {
	if len(info) == 0 {
		return nil
	}
	if s.lc.net == nil {
		return errors.New("this host has no network plugging configured")
	}
	owner, err := s.lc.net.tapOwner()
	if err != nil {
		return err
	}
	var done []plug.Port
	for _, vif := range info {
		p, err := s.hostPort(inst, vif)
		p.Owner = owner
		if err == nil {
			err = s.lc.net.plugger.Plug(ctx, p)
		}
		if err != nil {
			for _, d := range done {
				if uerr := s.lc.net.plugger.Unplug(context.WithoutCancel(ctx), d); uerr != nil {
					s.log.Warn("Cannot unplug a VIF after a failed plug", "instance", instanceUUID(inst),
						"port", d.PortID, "error", uerr)
				}
			}
			return fmt.Errorf("plugging port %s: %w", vif.ID, err)
		}
		done = append(done, p)
	}
	return nil
}

// unplugVIFs unplugs every VIF of info it knows how to, logging failures (unplug_vifs at clean-up).
func (s *Service) unplugVIFs(ctx context.Context, inst *vo.Object, info network.Info) {
	if s.lc.net == nil {
		return
	}
	for _, vif := range info {
		p, err := s.hostPort(inst, vif)
		if err != nil {
			continue // never plugged
		}
		if err := s.lc.net.plugger.Unplug(ctx, p); err != nil {
			s.log.Warn("Cannot unplug VIF", "instance", instanceUUID(inst), "port", vif.ID, "tap", p.Tap, "error", err)
		}
	}
}

// replugVIFs plugs the instance's VIFs again before its guest starts (nova's _hard_reboot and power_on plug_vifs,
// init_host for running guests): after a host restart the taps are gone.
func (s *Service) replugVIFs(ctx context.Context, rc *rpc.RequestContext, inst *vo.Object) error {
	if s.lc.net == nil {
		return nil
	}
	info, err := s.networkInfo(ctx, rc, inst)
	if err != nil {
		return fmt.Errorf("reading network info: %w", err)
	}
	if g, err := s.guestOf(inst); err == nil {
		// An empty cache may be a lost one rather than a server without ports: nothing is dropped on its word.
		if ps := s.powerState(ctx, g); len(info) > 0 && (ps == powerShutdown || ps == powerCrashed) {
			s.dropStaleNICs(ctx, inst, g, info)
		}
	}
	return s.plugVIFs(ctx, inst, info)
}

// dropStaleNICs takes out of a stopped guest's domain the NICs whose port the info cache no longer lists, and
// unplugs their taps: the NIC a running guest kept when Neutron deleted its port (an engine without NIC
// hot-plug). The guest then starts with the cache's NICs, as the libvirt driver's power-on and hard reboot
// define the guest from network_info; a tap that vanished meanwhile (host restart) cannot fail the start.
func (s *Service) dropStaleNICs(ctx context.Context, inst *vo.Object, g hypervisor.Guest, info network.Info) {
	stale := func(i libvirtxml.DomainInterface) bool {
		return i.Target != nil && strings.HasPrefix(i.Target.Dev, network.TapName("")) &&
			!slices.ContainsFunc(info, func(v network.VIF) bool { return network.TapName(v.ID) == i.Target.Dev })
	}
	dropped, err := dropDomainNICs(g, stale)
	if err != nil {
		logInstance(s.log, inst).Warn("Cannot drop the NICs of deleted ports from the guest's domain", "error", err)
		return
	}
	if len(dropped) == 0 {
		return
	}
	for _, i := range dropped {
		logInstance(s.log, inst).Info("Dropped the NIC of a port no longer attached before starting the guest",
			"tap", i.Target.Dev)
	}
	s.unplugPorts(ctx, instanceUUID(inst), interfacePorts(dropped), info)
}

// --- clean-up ---------------------------------------------------------------------------------------------------

// deallocatePolicy is _try_deallocate_network's: up to three retries after a connection failure, pausing 2, 4,
// then 6 s (at most 12).
var deallocatePolicy = retry.Policy{Backoff: retry.Backoff{Initial: 2 * time.Second, Step: 2 * time.Second,
	Max: 12 * time.Second}, Attempts: 4}

// deallocate releases the instance's ports, retrying while Neutron is unreachable, then empties the info cache
// (deallocate_for_instance). Ports already gone are not errors (the network API says so).
func (s *Service) deallocate(ctx context.Context, rc *rpc.RequestContext, inst *vo.Object, info network.Info) error {
	uuid := instanceUUID(inst)
	var last error
	for attempt := range retry.Loop(ctx, deallocatePolicy) {
		if last = s.lc.net.api.Deallocate(ctx, uuid, info); last == nil {
			break
		}
		if !errors.Is(last, network.ErrUnavailable) {
			break
		}
		s.log.Warn("Failed to deallocate network for instance; retrying", "instance", uuid, "attempt", attempt+1,
			"error", last)
	}
	if last != nil {
		s.log.Error("Failed to deallocate network for instance", "instance", uuid, "error", last)
		return fmt.Errorf("deallocating the network of instance %s: %w", uuid, last)
	}
	if len(info) > 0 {
		if err := s.saveInfoCache(ctx, rc, inst, network.Info{}); err != nil && !instanceGone(err) {
			s.log.Warn("Cannot empty the network info cache", "instance", uuid, "error", err)
		}
	}
	return nil
}

// cleanupAllocatedNetworks is _cleanup_allocated_networks, after a failed or rescheduled build: the taps are
// unplugged and the ports released (created ones deleted, the user's unbound), failures logged.
func (s *Service) cleanupAllocatedNetworks(ctx context.Context, rc *rpc.RequestContext, inst *vo.Object) {
	if s.lc.net == nil {
		return
	}
	info, err := s.networkInfo(ctx, rc, inst)
	if err != nil {
		s.log.Warn("Cannot read the network info cache; releasing the instance's ports by device", "instance",
			instanceUUID(inst), "error", err)
		info = network.Info{}
	}
	s.unplugVIFs(ctx, inst, info)
	if err := s.deallocate(ctx, rc, inst, info); err != nil {
		return
	}
	v := asInstance(inst)
	if sm, err := v.SystemMetadata(); err == nil && sm["network_allocated"] != "" {
		sm["network_allocated"] = "False"
		_ = v.SetSystemMetadata(sm)
	}
}

// --- Neutron's events (virtapi.wait_for_instance_event) -------------------------------------------------------

// eventKey is InstanceExternalEvent.make_key: "name-tag", or the name alone without a tag.
func eventKey(name, tag string) string {
	if tag == "" {
		return name
	}
	return name + "-" + tag
}

// instanceEvents holds the waiters for external events (ComputeManager.instance_events).
type instanceEvents struct {
	mu      sync.Mutex
	waiters map[string]map[string]chan string // instance uuid -> event key -> status
	// stopped is set by cancelAll: no event can arrive any more, so a new wait fails at once.
	stopped bool
	// deleting are the instances whose delete is under way (cancel, until done): a wait prepared meanwhile, by
	// a build that had not reached it yet, ends at once too.
	deleting map[string]bool
}

// statusDeleting is what cancel hands a waiter: not one of Neutron's statuses, it tells the wait that the
// instance is being deleted.
const statusDeleting = "\x00deleting"

// errInstanceDeleting ends a wait whose instance is being deleted.
var errInstanceDeleting = errors.New("the instance is being deleted")

// eventWait is a set of events registered for one instance before the action that causes them.
type eventWait struct {
	e     *instanceEvents
	uuid  string
	chans map[string]chan string
}

// prepare registers waiters for keys; call it before the action that makes Neutron send them, so an event that
// arrives at once is not lost.
func (e *instanceEvents) prepare(uuid string, keys []string) *eventWait {
	w := &eventWait{e: e, uuid: uuid, chans: map[string]chan string{}}
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.waiters == nil {
		e.waiters = map[string]map[string]chan string{}
	}
	if e.waiters[uuid] == nil {
		e.waiters[uuid] = map[string]chan string{}
	}
	for _, k := range keys {
		ch := make(chan string, 1)
		switch {
		case e.deleting[uuid]:
			ch <- statusDeleting
		case e.stopped:
			ch <- "failed" // nova: "In shutdown, no new events can be scheduled"
		default:
			e.waiters[uuid][k] = ch
		}
		w.chans[k] = ch
	}
	if len(e.waiters[uuid]) == 0 {
		delete(e.waiters, uuid)
	}
	return w
}

// cancel ends the waits for uuid's events at once (clear_events_for_instance, at a delete): they return
// errInstanceDeleting, so a build or an attach waiting for network-vif-plugged stops instead of holding the
// instance's lock, and with it the delete, for vif_plugging_timeout; so do the waits prepared for it until
// deleted is called. It returns how many waiters it ended.
func (e *instanceEvents) cancel(uuid string) int {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.deleting == nil {
		e.deleting = map[string]bool{}
	}
	e.deleting[uuid] = true
	n := len(e.waiters[uuid])
	for _, ch := range e.waiters[uuid] {
		ch <- statusDeleting // buffered, and sent to once: pop and cancel remove the waiter as they send
	}
	delete(e.waiters, uuid)
	return n
}

// deleted ends what cancel started: the delete of uuid is over (done or failed).
func (e *instanceEvents) deleted(uuid string) {
	e.mu.Lock()
	defer e.mu.Unlock()
	delete(e.deleting, uuid)
}

// cancelAll is cancel_all_events, at a stop once no event can reach this service any more: every waiter gets a
// "failed" event, as nova's, and so does every later wait. It returns how many waiters it ended.
func (e *instanceEvents) cancelAll() int {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.stopped = true
	n := 0
	for _, keys := range e.waiters {
		for _, ch := range keys {
			ch <- "failed"
			n++
		}
	}
	e.waiters = nil
	return n
}

// pop hands an event to its waiter; false when nobody waits for it.
func (e *instanceEvents) pop(uuid, key, status string) bool {
	e.mu.Lock()
	defer e.mu.Unlock()
	ch, ok := e.waiters[uuid][key]
	if !ok {
		return false
	}
	delete(e.waiters[uuid], key)
	if len(e.waiters[uuid]) == 0 {
		delete(e.waiters, uuid)
	}
	ch <- status
	return true
}

// done unregisters whatever was not received.
func (w *eventWait) done() {
	w.e.mu.Lock()
	defer w.e.mu.Unlock()
	for k, ch := range w.chans {
		if w.e.waiters[w.uuid][k] == ch {
			delete(w.e.waiters[w.uuid], k)
		}
	}
	if len(w.e.waiters[w.uuid]) == 0 {
		delete(w.e.waiters, w.uuid)
	}
}

// errEventTimeout is the deadline passing before every event arrived (eventlet's Timeout in nova).
var errEventTimeout = errors.New("timed out waiting for network-vif-plugged")

// wait waits until every event arrived or the deadline passed; failed lists the keys that arrived with a status
// other than completed. It always unregisters the waiters.
func (w *eventWait) wait(ctx context.Context, deadline time.Duration) (failed []string, err error) {
	defer w.done()
	timer := time.NewTimer(deadline)
	defer timer.Stop()
	for k, ch := range w.chans {
		select {
		case status := <-ch:
			if status == statusDeleting {
				return failed, errInstanceDeleting
			}
			if status != "completed" {
				failed = append(failed, k)
			}
		case <-timer.C:
			return failed, fmt.Errorf("%w (%s)", errEventTimeout, k)
		case <-ctx.Done():
			return failed, ctx.Err()
		}
	}
	return failed, nil
}

// pluggedEvents are the network-vif-plugged events to wait for: of the VIFs not active yet (an active port sends
// no down-to-up event), as the libvirt driver's _get_neutron_events.
func pluggedEvents(info network.Info) []string {
	var keys []string
	for _, vif := range info {
		if !vif.Active && vif.VNICType != "remote-managed" {
			keys = append(keys, eventKey("network-vif-plugged", vif.ID))
		}
	}
	return keys
}

// errVIFCreate is nova's VirtualInterfaceCreateException.
var errVIFCreate = errors.New("Virtual Interface creation failed")

// plugAndWait plugs info's VIFs with waiters registered first, then waits up to vif_plugging_timeout for Neutron's
// network-vif-plugged events (_create_guest_with_network). A timeout or a failed event is fatal when
// vif_plugging_is_fatal says so; otherwise it is logged and the guest starts anyway. On error the taps are
// unplugged again.
//
// meanwhile, when set, runs once the taps are plugged and before the wait (the guest started paused, so that its
// process opens the taps while Neutron's events travel); its error ends the call with the taps unplugged.
func (s *Service) plugAndWait(ctx context.Context, inst *vo.Object, info network.Info, meanwhile func() error) error {
	d := s.cfg.Load().Default
	uuid := instanceUUID(inst)
	var keys []string
	if d.VIFPluggingTimeout > 0 {
		keys = pluggedEvents(info)
	}
	w := s.lc.net.events.prepare(uuid, keys)
	if err := s.plugVIFs(ctx, inst, info); err != nil {
		w.done()
		return err
	}
	if meanwhile != nil {
		if err := meanwhile(); err != nil {
			w.done()
			s.unplugVIFs(context.WithoutCancel(ctx), inst, info)
			return err
		}
	}
	failed, err := w.wait(ctx, seconds(d.VIFPluggingTimeout))
	switch {
	case errors.Is(err, errInstanceDeleting):
		// What the build's next save would meet (nova's UnexpectedDeletingTaskStateError): the build ends as
		// one whose instance vanished, without a fault, and the delete proceeds.
		s.unplugVIFs(context.WithoutCancel(ctx), inst, info)
		return fmt.Errorf("%w (%w)", novaError("UnexpectedDeletingTaskStateError", 409,
			"Conflict updating instance %s. Expected: {'task_state': ['spawning']}. Actual: {'task_state': 'deleting'}",
			uuid), err)
	case err != nil && !errors.Is(err, errEventTimeout):
		s.unplugVIFs(context.WithoutCancel(ctx), inst, info)
		return err
	case err != nil && d.VIFPluggingIsFatal:
		s.log.Warn("Timeout waiting for vif plugging events", "instance", uuid, "error", err)
		s.unplugVIFs(context.WithoutCancel(ctx), inst, info)
		return fmt.Errorf("%w: %w", errVIFCreate, err)
	case err != nil:
		s.log.Warn("Timeout waiting for vif plugging events; continuing as vif_plugging_is_fatal is false",
			"instance", uuid, "error", err)
	}
	if len(failed) > 0 {
		s.log.Error("Neutron reported failure on event", "instance", uuid, "events", failed)
		if d.VIFPluggingIsFatal {
			s.unplugVIFs(context.WithoutCancel(ctx), inst, info)
			return fmt.Errorf("%w: Neutron reported failure for %v", errVIFCreate, failed)
		}
	}
	return nil
}

// domainPorts are the taps a guest's domain file lists, as Unplug needs them: a tap in a plain bridge (<source
// bridge>) is KindBridge; the others are KindOVS, since this host joins them to the integration bridge, and
// OVS's `--if-exists del-port` needs only the tap's name. Only names this service gives taps are returned, so a
// domain file naming a host interface cannot make the clean-up delete it.
func domainPorts(dom *libvirtxml.Domain) []plug.Port {
	if dom == nil || dom.Devices == nil {
		return nil
	}
	return interfacePorts(dom.Devices.Interfaces)
}

// interfacePorts are domainPorts' for a list of interfaces.
func interfacePorts(ifaces []libvirtxml.DomainInterface) []plug.Port {
	var ports []plug.Port
	for _, iface := range ifaces {
		if iface.Target == nil || !strings.HasPrefix(iface.Target.Dev, network.TapName("")) {
			continue
		}
		p := plug.Port{Kind: plug.KindOVS, Tap: iface.Target.Dev}
		if iface.Source != nil && iface.Source.Bridge != nil {
			p.Kind, p.Bridge = plug.KindBridge, iface.Source.Bridge.Bridge
		}
		ports = append(ports, p)
	}
	return ports
}

// guestPorts are the taps of inst's guest as its domain file lists them; none when there is no file.
func (s *Service) guestPorts(inst *vo.Object) []plug.Port {
	g, err := s.guestOf(inst)
	if err != nil {
		return nil
	}
	dom, err := hypervisor.LoadDomain(g.Dir)
	if err != nil {
		return nil
	}
	return domainPorts(dom)
}

// unplugPorts unplugs ports whose tap is not one of info's (those are unplugged with their VIF), logging
// failures: the taps a guest kept after Neutron deleted their port (an engine without NIC hot-plug), or those of a
// guest whose instance was deleted while this service was down.
func (s *Service) unplugPorts(ctx context.Context, uuid string, ports []plug.Port, info network.Info) {
	if s.lc.net == nil {
		return
	}
	for _, p := range ports {
		if slices.ContainsFunc(info, func(v network.VIF) bool { return network.TapName(v.ID) == p.Tap }) {
			continue
		}
		if err := s.lc.net.plugger.Unplug(ctx, p); err != nil {
			s.log.Warn("Cannot unplug a leftover tap", "instance", uuid, "tap", p.Tap, "error", err)
		}
	}
}
