package network

import (
	"context"
	"errors"

	"github.com/gophercloud/gophercloud/v2/openstack/networking/v2/ports"
)

// vifTypeUnbound is Neutron's binding:vif_type of a port no host is bound to.
const vifTypeUnbound = "unbound"

// UnbindHost is nova's unbind_ports(detach=False), which shelve-offload uses: each port of portIDs loses its
// host binding (binding:host_id cleared, this host's binding:profile keys dropped) but stays the instance's
// (device_id and device_owner kept), so an unshelve on any host finds it again. A port gone is skipped; every
// port is tried and the error joins the failures.
func (c *Client) UnbindHost(ctx context.Context, instanceUUID string, portIDs []string) error {
	if instanceUUID == "" {
		return &Error{Op: "unbind host", Message: "no instance given", Kind: ErrInvalidInput}
	}
	var errs []error
	for _, id := range portIDs {
		if id == "" {
			continue
		}
		p, err := c.showPort(ctx, id)
		if isNotFound(err) {
			continue
		}
		if err != nil {
			errs = append(errs, err)
			continue
		}
		if p.DeviceID != "" && p.DeviceID != instanceUUID {
			continue // taken by another device meanwhile: not this instance's to change
		}
		profile := map[string]any{}
		for k, v := range p.Profile {
			profile[k] = v
		}
		for _, k := range profileKeysOfHost {
			delete(profile, k)
		}
		_, err = c.updatePort(ctx, "unbind host", id, portBody{"binding:host_id": nil, "binding:profile": profile})
		if err != nil && !isNotFound(err) {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// BindHost is nova's setup_instance_network_on_host as unshelve calls it (_update_port_binding_for_instance
// without a migration): every port of the instance not bound to b.Host, or whose binding failed or is unbound,
// is bound to it with device_owner "compute:<zone>". A port Neutron cannot bind there is ErrBindingFailed.
func (c *Client) BindHost(ctx context.Context, b Binding) error {
	if b.InstanceUUID == "" || b.Host == "" {
		return &Error{Op: "bind host", Message: "the binding needs an instance and a host", Kind: ErrInvalidInput}
	}
	// nova lists by device and the instance's project: a port of another project naming the instance as its
	// device is not the instance's.
	listed, err := c.listPorts(ctx, ports.ListOpts{DeviceID: b.InstanceUUID, TenantID: b.ProjectID})
	if err != nil {
		return err
	}
	for _, p := range listed {
		if p.ID == "" || (p.HostID == b.Host && p.VIFType != vifTypeUnbound && p.VIFType != vifTypeBindingFailed) {
			continue
		}
		body := portBody{"binding:host_id": b.Host, "device_owner": deviceOwner(b)}
		if _, ok := p.Profile["migrating_to"]; ok {
			profile := map[string]any{}
			for k, v := range p.Profile {
				if k != "migrating_to" {
					profile[k] = v
				}
			}
			body["binding:profile"] = profile
		}
		bound, err := c.updatePort(ctx, "bind host", p.ID, body)
		if err != nil {
			return err
		}
		if bound.VIFType == vifTypeBindingFailed {
			return &Error{Op: "bind to host " + b.Host, Port: p.ID, Network: p.NetworkID, Kind: ErrBindingFailed}
		}
	}
	return nil
}
