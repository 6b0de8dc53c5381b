package network

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/netip"
	"sync"
	"time"

	"github.com/gophercloud/gophercloud/v2"
	"github.com/gophercloud/gophercloud/v2/openstack/common/extensions"
	"github.com/gophercloud/gophercloud/v2/openstack/networking/v2/ports"

	"github.com/novabsd/novabsd/internal/revert"
)

// Config is how to reach Neutron: nova.conf's [neutron] group as compute/ reads it (keystoneauth password plugin,
// session and adapter options).
type Config struct {
	AuthURL           string
	Username          string
	UserDomainName    string
	UserDomainID      string
	Password          string
	ProjectName       string
	ProjectDomainName string
	ProjectDomainID   string
	RegionName        string
	ValidInterfaces   []string // "internal", "public", "admin" in order of preference
	EndpointOverride  string
	CAFile            string
	Insecure          bool
	Timeout           time.Duration // per HTTP request; 0: none
	HTTPRetries       int           // [neutron] http_retries: retries of idempotent requests on connection errors
	OVSBridge         string        // [neutron] ovs_bridge, the integration bridge when a binding names none
}

// Request is one entry of the requested networks of a build or an interface attach.
type Request struct {
	NetworkID string // empty when PortID is given
	PortID    string // a port the user created (--port); taken over, never deleted
	FixedIP   string // requested address on NetworkID; empty: Neutron picks
	Tag       string // device tag
}

// Binding is what every port of the instance is bound with.
type Binding struct {
	InstanceUUID     string
	Host             string // binding:host_id, this compute host's name (= the OVN chassis)
	AvailabilityZone string // device_owner is "compute:" + zone ("compute:nova")
	ProjectID        string // owner of ports created for the instance
	SecurityGroups   []string
	// Hostname is the instance's hostname. When Neutron has the dns-integration extension, ports on networks
	// without a dns_domain get it as dns_name, as nova sets it (OVN's DHCP then hands it to the guest).
	Hostname string
}

// Typed errors, so compute/ words faults as nova does.
var (
	// ErrPortInUse: a requested port already has a device (PortInUse).
	ErrPortInUse = errors.New("port is still in use")
	// ErrPortBoundElsewhere: a requested port is bound to another host.
	ErrPortBoundElsewhere = errors.New("port is bound to another host")
	// ErrBindingFailed: Neutron could not bind the port to this host (vif_type binding_failed: PortBindingFailed).
	ErrBindingFailed = errors.New("binding failed for port")
	// ErrNotFound: network or port does not exist (NetworkNotFound, PortNotFound).
	ErrNotFound = errors.New("not found")
	// ErrUnavailable: Neutron cannot be reached or answers 5xx.
	ErrUnavailable = errors.New("neutron unavailable")
)

// Client is Nova's network API for one compute host. Its methods are safe for concurrent use.
type Client struct {
	cfg        Config
	http       *http.Client
	retryPause time.Duration // between retries of idempotent requests; neutronclient's retry_interval

	mu         sync.Mutex                 // guards sc and connecting, never held across I/O
	sc         *gophercloud.ServiceClient // nil until the first authentication succeeds
	connecting chan struct{}              // closed when the authentication in progress ends
	dnsExt     bool                       // Neutron has dns-integration, as of dnsChecked
	dnsChecked time.Time                  // zero: not asked yet
}

// NewClient returns a client for cfg; it authenticates lazily, on first use, and again when the token expires.
// It checks the options and the CA file now, so a bad [neutron] section fails at start-up.
func NewClient(cfg Config) (*Client, error) {
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	if cfg.OVSBridge == "" {
		cfg.OVSBridge = "br-int"
	}
	cfg.ValidInterfaces = append([]string(nil), cfg.ValidInterfaces...)
	hc, err := newHTTPClient(cfg)
	if err != nil {
		return nil, err
	}
	return &Client{cfg: cfg, http: hc, retryPause: time.Second}, nil
}

// requested is one request after validation: its network and, for a port request, the port as it was.
type requested struct {
	Request
	network neutronNetwork
	before  *neutronPort // the user's port before it was taken over; nil for a network request
	bound   neutronPort  // the port as Neutron answered the binding
}

// Allocate creates a port on each requested network and takes over each requested port, all bound to b, and
// returns network_info in request order (the ports as Neutron answered after binding). On error nothing it did
// remains: ports it created are deleted and ports it took over are released to how they were.
func (c *Client) Allocate(ctx context.Context, b Binding, reqs []Request) (Info, error) {
	if b.InstanceUUID == "" || b.ProjectID == "" || b.Host == "" {
		return nil, &Error{Op: "allocate", Message: "the binding needs an instance, a project and a host", Kind: ErrInvalidInput}
	}
	if len(reqs) == 0 {
		return Info{}, nil
	}
	rs, sgIDs, err := c.validate(ctx, b, reqs)
	if err != nil {
		return nil, err
	}

	// Undo steps run with a context of their own: the caller's may have ended, which may be why they run.
	rv := revert.New()
	undoCtx := ctx
	fail := func(err error) (Info, error) {
		uctx, cancel := undoContext(ctx)
		defer cancel()
		undoCtx = uctx
		if uerr := rv.Fail(); uerr != nil {
			err = errors.Join(err, fmt.Errorf("network: undoing the allocation of instance %s: %w", b.InstanceUUID, uerr))
		}
		return nil, err
	}

	// Create the ports first, as nova does, so a network that cannot take a port fails before any is bound.
	for i := range rs {
		r := &rs[i]
		if r.before != nil {
			continue
		}
		body := portBody{"device_id": b.InstanceUUID, "network_id": r.network.ID, "admin_state_up": true,
			"tenant_id": b.ProjectID}
		if r.FixedIP != "" {
			body["fixed_ips"] = []map[string]string{{"ip_address": r.FixedIP}}
		}
		if len(sgIDs) > 0 {
			body["security_groups"] = sgIDs
		}
		p, err := c.createPort(ctx, r.network.ID, body)
		if err != nil {
			return fail(err)
		}
		if p.ID == "" {
			return fail(&Error{Op: "create port", Network: r.network.ID, Message: "Neutron's answer has no port id",
				Kind: ErrBadResponse})
		}
		id := p.ID
		rv.Add(func() error { return c.deletePort(undoCtx, id) })
		r.PortID = id
		if p.VIFType == vifTypeBindingFailed {
			return fail(&Error{Op: "create port", Port: id, Network: r.network.ID, Kind: ErrBindingFailed})
		}
	}

	dns := false
	if b.Hostname != "" {
		if dns, err = c.hasDNS(ctx); err != nil {
			return fail(err)
		}
	}
	// Bind every port to this host and the instance.
	for i := range rs {
		r := &rs[i]
		body := portBody{"device_id": b.InstanceUUID, "device_owner": deviceOwner(b), "binding:host_id": b.Host}
		if dns && r.network.DNSDomain == "" {
			// On a network with a dns_domain nova sets dns_name separately with the user's token, for
			// Designate's records in the user's zone; this client has only the service user's.
			body["dns_name"] = b.Hostname
		}
		if r.before != nil {
			if len(r.before.Profile) > 0 {
				body["binding:profile"] = r.before.Profile
			}
			before := *r.before
			// Registered before the update: an update whose answer was lost may still have been applied.
			rv.Add(func() error { return c.restore(undoCtx, before) })
		}
		p, err := c.updatePort(ctx, "bind", r.PortID, body)
		if err != nil {
			return fail(err)
		}
		if p.VIFType == vifTypeBindingFailed {
			return fail(&Error{Op: "bind to host " + b.Host, Port: r.PortID, Network: r.network.ID, Kind: ErrBindingFailed})
		}
		if p.ID == "" {
			p.ID = r.PortID
		}
		r.bound = p
	}

	info := make(Info, 0, len(rs))
	x := newInfoCache(c)
	for _, r := range rs {
		v, err := x.vif(ctx, r.bound, &r.network)
		if err != nil {
			return fail(err)
		}
		v.PreserveOnDelete = r.before != nil
		if r.Tag != "" {
			v.Meta["tag"] = r.Tag
		}
		info = append(info, v)
	}
	rv.Success()
	return info, nil
}

// deviceOwner is "compute:" and the instance's zone; nova's default_availability_zone "nova" when none is given.
func deviceOwner(b Binding) string {
	if b.AvailabilityZone == "" {
		return "compute:nova"
	}
	return "compute:" + b.AvailabilityZone
}

// validate checks every request before anything is changed, as nova's _validate_requested_port_ids and
// _validate_requested_network_ids do, and resolves the security groups to ids.
func (c *Client) validate(ctx context.Context, b Binding, reqs []Request) ([]requested, []string, error) {
	rs := make([]requested, len(reqs))
	nets := map[string]*neutronNetwork{}
	seenPorts := map[string]bool{}
	for i, r := range reqs {
		rs[i].Request = r
		switch {
		case r.PortID != "":
			if seenPorts[r.PortID] {
				return nil, nil, &Error{Op: "allocate", Port: r.PortID, Message: "requested twice", Kind: ErrInvalidInput}
			}
			seenPorts[r.PortID] = true
			p, err := c.showPort(ctx, r.PortID)
			if err != nil {
				return nil, nil, err
			}
			if err := usable(p, r.PortID, b); err != nil {
				return nil, nil, err
			}
			rs[i].before = &p
			rs[i].NetworkID = p.NetworkID
		case r.NetworkID != "":
			if r.FixedIP != "" {
				if _, err := netip.ParseAddr(r.FixedIP); err != nil {
					return nil, nil, &Error{Op: "allocate", Network: r.NetworkID,
						Message: fmt.Sprintf("fixed IP %q is not an IP address", r.FixedIP), Kind: ErrInvalidInput}
				}
			}
		default:
			return nil, nil, &Error{Op: "allocate", Message: fmt.Sprintf("request %d names neither a network nor a port", i),
				Kind: ErrInvalidInput}
		}
		if nets[rs[i].NetworkID] == nil {
			n, err := c.showNetwork(ctx, rs[i].NetworkID)
			if err != nil {
				return nil, nil, err
			}
			if n.ID == "" {
				n.ID = rs[i].NetworkID
			}
			nets[rs[i].NetworkID] = &n
		}
	}
	sgIDs, err := c.securityGroupIDs(ctx, b)
	if err != nil {
		return nil, nil, err
	}
	for i := range rs {
		n := nets[rs[i].NetworkID]
		rs[i].network = *n
		// nova's _create_ports_for_instance: Neutron applies security groups only to ports with addresses.
		if n.portSecurity() && len(n.Subnets) == 0 {
			return nil, nil, &Error{Op: "allocate", Network: n.ID, Kind: ErrSecurityGroup,
				Message: "the network has port security enabled but no subnet, so security groups cannot be applied"}
		}
		if !n.portSecurity() && len(sgIDs) > 0 {
			return nil, nil, &Error{Op: "allocate", Network: n.ID, Kind: ErrSecurityGroup,
				Message: "the network has port security disabled, so security groups cannot be applied"}
		}
	}
	return rs, sgIDs, nil
}

// usable is nova's check of a requested port, plus the host check nova leaves to Neutron's binding.
func usable(p neutronPort, id string, b Binding) error {
	switch {
	case p.project() != b.ProjectID:
		return &Error{Op: "take over", Port: id, Message: fmt.Sprintf("owned by project %s, not %s", p.project(), b.ProjectID),
			Kind: ErrPortNotUsable}
	case p.DeviceID != "":
		return &Error{Op: "take over", Port: id, Message: "device " + p.DeviceID + " uses it", Kind: ErrPortInUse}
	case p.HostID != "" && p.HostID != b.Host:
		return &Error{Op: "take over", Port: id, Message: "bound to host " + p.HostID, Kind: ErrPortBoundElsewhere}
	case p.VIFType == vifTypeBindingFailed:
		return &Error{Op: "take over", Port: id, Kind: ErrBindingFailed}
	case b.Hostname != "" && p.DNSName != nil && *p.DNSName != "" && *p.DNSName != b.Hostname:
		return &Error{Op: "take over", Port: id, Kind: ErrPortNotUsable, // nova's PortNotUsableDNS
			Message: fmt.Sprintf("its dns_name %q is not the instance's hostname %q", *p.DNSName, b.Hostname)}
	}
	return nil
}

// securityGroupIDs resolves the binding's security groups by name, else by id, among the project's (nova's
// _process_security_groups). Only "default" is nothing to resolve: Neutron gives new ports the default group.
func (c *Client) securityGroupIDs(ctx context.Context, b Binding) ([]string, error) {
	if len(b.SecurityGroups) == 0 || (len(b.SecurityGroups) == 1 && b.SecurityGroups[0] == "default") {
		return nil, nil
	}
	groups, err := c.listSecurityGroups(ctx, b.ProjectID)
	if err != nil {
		return nil, err
	}
	var ids []string
	for _, want := range b.SecurityGroups {
		byName, byID := "", ""
		for _, g := range groups {
			if g.Name == want {
				if byName != "" {
					return nil, &Error{Op: "allocate", Kind: ErrSecurityGroup,
						Message: fmt.Sprintf("multiple security groups are named %q; use an id", want)}
				}
				byName = g.ID
			}
			if g.ID == want {
				byID = g.ID
			}
		}
		switch {
		case byName != "":
			ids = append(ids, byName)
		case byID != "":
			ids = append(ids, byID)
		default:
			return nil, &Error{Op: "allocate", Kind: ErrSecurityGroup,
				Message: fmt.Sprintf("security group %q not found in project %s", want, b.ProjectID)}
		}
	}
	return ids, nil
}

// restore puts a taken-over port's device and binding fields back to how they were before Allocate.
func (c *Client) restore(ctx context.Context, before neutronPort) error {
	var host any
	if before.HostID != "" {
		host = before.HostID
	}
	profile := before.Profile
	if profile == nil {
		profile = map[string]any{}
	}
	body := portBody{"device_id": before.DeviceID, "device_owner": before.DeviceOwner, "binding:host_id": host,
		"binding:profile": profile}
	if before.DNSName != nil {
		body["dns_name"] = *before.DNSName
	}
	_, err := c.updatePort(ctx, "restore", before.ID, body)
	if isNotFound(err) {
		return nil
	}
	return err
}

// profileKeysOfHost are the binding:profile keys that describe this host's device for the port; unbinding
// removes them and keeps the user's (nova's _unbind_ports).
var profileKeysOfHost = []string{"pci_vendor_info", "pci_slot", "allocation", "arq_uuid", "physical_network",
	"card_serial_number", "vf_num", "pf_mac_address", "device_mac_address"}

// unbind releases a user's port from the instance: device and host cleared, the host's profile keys dropped. A
// port gone, or already taken by another device, is left alone.
func (c *Client) unbind(ctx context.Context, instanceUUID, portID string) error {
	p, err := c.showPort(ctx, portID)
	if isNotFound(err) {
		return nil
	}
	if err != nil {
		return err
	}
	if p.DeviceID != "" && p.DeviceID != instanceUUID {
		return nil
	}
	if p.DeviceID == "" && p.DeviceOwner == "" && p.HostID == "" {
		return nil // released already
	}
	profile := map[string]any{}
	for k, v := range p.Profile {
		profile[k] = v
	}
	for _, k := range profileKeysOfHost {
		delete(profile, k)
	}
	body := portBody{"device_id": "", "device_owner": "", "binding:host_id": nil, "binding:profile": profile}
	if p.DNSName != nil && *p.DNSName != "" {
		dns, err := c.hasDNS(ctx)
		if err != nil {
			return err
		}
		if dns {
			n, err := c.showNetwork(ctx, p.NetworkID)
			if err != nil && !isNotFound(err) {
				return err
			}
			if n.DNSDomain == "" {
				body["dns_name"] = "" // as nova's _unbind_ports resets it; with a dns_domain, the user's token would
			}
		}
	}
	_, err = c.updatePort(ctx, "unbind", portID, body)
	if isNotFound(err) {
		return nil
	}
	return err
}

// Deallocate releases every port of the instance: ports it created (PreserveOnDelete false) are deleted, the
// user's ports are unbound (binding:host_id, device_id, device_owner and binding:profile cleared). Ports with
// device_id = instanceUUID that info does not list are released too. Ports already gone are not an error.
// Every port is tried; the error joins the failures.
func (c *Client) Deallocate(ctx context.Context, instanceUUID string, info Info) error {
	if instanceUUID == "" {
		return &Error{Op: "deallocate", Message: "no instance given", Kind: ErrInvalidInput}
	}
	listed, err := c.listPorts(ctx, ports.ListOpts{DeviceID: instanceUUID})
	if err != nil {
		return err
	}
	preserve := map[string]bool{}
	for _, v := range info {
		if v.PreserveOnDelete {
			preserve[v.ID] = true
		}
	}
	var errs []error
	done := map[string]bool{}
	for _, p := range listed {
		if p.ID == "" || done[p.ID] {
			continue
		}
		done[p.ID] = true
		if preserve[p.ID] {
			errs = append(errs, c.unbind(ctx, instanceUUID, p.ID))
		} else {
			errs = append(errs, c.deletePort(ctx, p.ID))
		}
	}
	// The user's ports the cache lists but Neutron no longer shows with this device (a half-done release):
	// unbind clears what is left of the binding, unless another device took them.
	for _, v := range info {
		if v.PreserveOnDelete && !done[v.ID] {
			done[v.ID] = true
			errs = append(errs, c.unbind(ctx, instanceUUID, v.ID))
		}
	}
	return errors.Join(errs...)
}

// Refresh reads the instance's ports again (network-changed, the heal periodic task) and returns network_info
// keeping prev's order for ports still there; ports new to the instance follow in Neutron's order, and
// PreserveOnDelete and the device tag are kept from prev.
func (c *Client) Refresh(ctx context.Context, instanceUUID string, prev Info) (Info, error) {
	if instanceUUID == "" {
		return nil, &Error{Op: "refresh", Message: "no instance given", Kind: ErrInvalidInput}
	}
	listed, err := c.listPorts(ctx, ports.ListOpts{DeviceID: instanceUUID})
	if err != nil {
		return nil, err
	}
	byID := map[string]neutronPort{}
	var order []string
	for _, p := range listed {
		if p.ID == "" {
			continue
		}
		if _, dup := byID[p.ID]; !dup {
			byID[p.ID] = p
		}
	}
	old := map[string]VIF{}
	for _, v := range prev {
		if _, ok := byID[v.ID]; ok {
			if _, dup := old[v.ID]; !dup {
				order = append(order, v.ID)
			}
		}
		old[v.ID] = v
	}
	for _, p := range listed {
		if _, known := old[p.ID]; !known && p.ID != "" {
			order = append(order, p.ID)
			old[p.ID] = VIF{} // so a duplicate in the listing is not added twice
		}
	}
	info := make(Info, 0, len(order))
	x := newInfoCache(c)
	for _, id := range order {
		v, err := x.vif(ctx, byID[id], nil)
		if err != nil {
			return nil, err
		}
		o := old[id]
		v.PreserveOnDelete = o.PreserveOnDelete
		if tag, ok := o.Meta["tag"]; ok {
			v.Meta["tag"] = tag
		}
		info = append(info, v)
	}
	return info, nil
}

// Show describes one port as network_info does (PreserveOnDelete false: only the caller knows).
func (c *Client) Show(ctx context.Context, portID string) (VIF, error) {
	if portID == "" {
		return VIF{}, &Error{Op: "show port", Message: "no port given", Kind: ErrInvalidInput}
	}
	p, err := c.showPort(ctx, portID)
	if err != nil {
		return VIF{}, err
	}
	if p.ID == "" {
		p.ID = portID
	}
	return newInfoCache(c).vif(ctx, p, nil)
}

// AttachPort allocates one more port for a running instance (interface attach), by Allocate's rules.
func (c *Client) AttachPort(ctx context.Context, b Binding, r Request) (VIF, error) {
	info, err := c.Allocate(ctx, b, []Request{r})
	if err != nil {
		return VIF{}, err
	}
	if len(info) != 1 {
		return VIF{}, &Error{Op: "attach", Message: fmt.Sprintf("allocated %d ports for one request", len(info)),
			Kind: ErrBadResponse}
	}
	return info[0], nil
}

// DetachPort releases one port of the instance (interface detach): the user's port (v.PreserveOnDelete) is
// unbound, a port Nova created is deleted. A port already gone is not an error.
func (c *Client) DetachPort(ctx context.Context, instanceUUID string, v VIF) error {
	if instanceUUID == "" || v.ID == "" {
		return &Error{Op: "detach", Port: v.ID, Message: "instance and port must be given", Kind: ErrInvalidInput}
	}
	if v.PreserveOnDelete {
		return c.unbind(ctx, instanceUUID, v.ID)
	}
	return c.deletePort(ctx, v.ID)
}

// infoCache reads what building VIFs needs, once per network within one operation.
type infoCache struct {
	c        *Client
	networks map[string]neutronNetwork
	subnets  map[string][]neutronSubnet
	dhcp     map[string][]neutronPort
}

func newInfoCache(c *Client) *infoCache {
	return &infoCache{c: c, networks: map[string]neutronNetwork{}, subnets: map[string][]neutronSubnet{},
		dhcp: map[string][]neutronPort{}}
}

// vif builds the VIF of port p; net is its network when the caller has read it already.
func (x *infoCache) vif(ctx context.Context, p neutronPort, net *neutronNetwork) (VIF, error) {
	in := portInputs{port: p}
	nid := p.NetworkID
	if nid == "" {
		return buildVIF(in, x.c.cfg.OVSBridge) // reports the missing network
	}
	if net != nil {
		x.networks[nid] = *net
	}
	n, ok := x.networks[nid]
	if !ok {
		var err error
		if n, err = x.c.showNetwork(ctx, nid); err != nil {
			return VIF{}, err
		}
		x.networks[nid] = n
	}
	in.network = n
	if len(p.FixedIPs) > 0 {
		if _, ok := x.subnets[nid]; !ok {
			s, err := x.c.listSubnets(ctx, nid)
			if err != nil {
				return VIF{}, err
			}
			d, err := x.c.listPorts(ctx, ports.ListOpts{NetworkID: nid, DeviceOwner: "network:dhcp"})
			if err != nil {
				return VIF{}, err
			}
			x.subnets[nid], x.dhcp[nid] = s, d
		}
		in.subnets, in.dhcpPorts = x.subnets[nid], x.dhcp[nid]
		f, err := x.c.listFloatingIPs(ctx, p.ID)
		if err != nil {
			return VIF{}, err
		}
		in.floating = f
	}
	return buildVIF(in, x.c.cfg.OVSBridge)
}

// portBody is a port request body exactly as given: gophercloud's option structs cannot send the nulls and
// empty strings nova's bodies carry (binding:host_id null on unbind, device_id "").
type portBody map[string]any

// portOpts gives gophercloud a portBody (its header builder wants a struct).
type portOpts struct{ body portBody }

// ToPortCreateMap makes portOpts a ports.CreateOptsBuilder.
func (o portOpts) ToPortCreateMap() (map[string]any, error) {
	return map[string]any{"port": map[string]any(o.body)}, nil
}

// ToPortUpdateMap makes portOpts a ports.UpdateOptsBuilder.
func (o portOpts) ToPortUpdateMap() (map[string]any, error) {
	return map[string]any{"port": map[string]any(o.body)}, nil
}

// dnsRecheck is how long what Neutron's extensions are is believed; nova refreshes its extension cache as often.
const dnsRecheck = 10 * time.Minute

// hasDNS says whether Neutron has the dns-integration extension (ports take a dns_name).
func (c *Client) hasDNS(ctx context.Context) (bool, error) {
	c.mu.Lock()
	known, has := !c.dnsChecked.IsZero() && time.Since(c.dnsChecked) < dnsRecheck, c.dnsExt
	c.mu.Unlock()
	if known {
		return has, nil
	}
	err := c.idempotent(ctx, "show extension dns-integration", "", "", func(sc *gophercloud.ServiceClient) error {
		return extensions.Get(ctx, sc, "dns-integration").Err
	})
	switch {
	case err == nil:
		has = true
	case isNotFound(err):
		has = false
	default:
		return false, err
	}
	c.mu.Lock()
	c.dnsExt, c.dnsChecked = has, time.Now()
	c.mu.Unlock()
	return has, nil
}
