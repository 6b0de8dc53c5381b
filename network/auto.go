package network

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/gophercloud/gophercloud/v2"
	"github.com/gophercloud/gophercloud/v2/openstack/networking/v2/networks"
)

// The words nova-api puts in a NetworkRequest's network_id for `--nic auto` and `--nic none`.
const (
	// NetworkAuto: the project's one available network, auto-allocated by Neutron when it has none.
	NetworkAuto = "auto"
	// NetworkNone: no network, no port.
	NetworkNone = "none"
)

// autoAllocatedTopology is the alias of Neutron's extension that makes a project a network, subnet and router
// on request (`openstack network auto allocated topology create`).
const autoAllocatedTopology = "auto-allocated-topology"

// resolve turns nova-api's words into what Allocate makes ports for: NetworkNone into no request, NetworkAuto
// into the network it chooses (nova's _validate_requested_network_ids for requested_networks.auto_allocate).
// Other requests are returned as they are.
func (c *Client) resolve(ctx context.Context, b Binding, reqs []Request) ([]Request, error) {
	for i, r := range reqs {
		if r.PortID != "" || (r.NetworkID != NetworkAuto && r.NetworkID != NetworkNone) {
			continue
		}
		if len(reqs) != 1 {
			// nova-api sends each word alone, from the "networks" string; in a list it is no network's id.
			return nil, &Error{Op: "allocate", Kind: ErrInvalidInput, Message: fmt.Sprintf(
				"request %d: network %q must be the only requested network", i, r.NetworkID)}
		}
		if r.NetworkID == NetworkNone {
			return nil, nil
		}
		if r.FixedIP != "" {
			return nil, &Error{Op: "allocate", Kind: ErrInvalidInput,
				Message: "a fixed IP cannot be requested on network \"auto\""}
		}
		id, err := c.autoNetwork(ctx, b.ProjectID)
		if err != nil {
			return nil, err
		}
		return []Request{{NetworkID: id, Tag: r.Tag}}, nil
	}
	return reqs, nil
}

// autoNetwork chooses the network for NetworkAuto: of the networks available to the project, its own that are
// up and those shared with it, the one there is. None: Neutron's auto-allocated topology for the project, made
// on first request. External networks (router:external) are never chosen: without nova's
// network:attach_external_network policy, which only the API's user context can pass, nova would refuse them.
func (c *Client) autoNetwork(ctx context.Context, project string) (string, error) {
	yes, no := true, false
	own, err := c.listNetworks(ctx, "list the project's networks",
		networks.ListOpts{TenantID: project, Shared: &no, AdminStateUp: &yes})
	if err != nil {
		return "", err
	}
	shared, err := c.listNetworks(ctx, "list shared networks", networks.ListOpts{Shared: &yes})
	if err != nil {
		return "", err
	}
	var ids []string
	seen := map[string]bool{}
	for _, n := range append(own, shared...) {
		if n.ID == "" {
			return "", &Error{Op: "list networks", Message: "Neutron listed a network without id", Kind: ErrBadResponse}
		}
		if n.External || seen[n.ID] {
			continue
		}
		seen[n.ID] = true
		ids = append(ids, n.ID)
	}
	switch len(ids) {
	case 1:
		return ids[0], nil
	case 0:
		return c.autoAllocate(ctx, project)
	}
	return "", &Error{Op: "choose network \"auto\"", Kind: ErrNetworkAmbiguous,
		Message: fmt.Sprintf("project %s has networks %s", project, strings.Join(ids, ", "))}
}

// autoAllocate asks Neutron for the project's auto-allocated network (nova's _auto_allocate_network). Neutron
// makes the topology on the first request and answers the same network after; a request repeated after a lost
// answer therefore makes nothing twice.
func (c *Client) autoAllocate(ctx context.Context, project string) (string, error) {
	const op = "auto-allocate a network"
	if !validProjectID(project) {
		return "", &Error{Op: op, Kind: ErrInvalidInput, Message: fmt.Sprintf("project id %q is not a Keystone id", project)}
	}
	has, err := c.hasExtension(ctx, autoAllocatedTopology)
	if err != nil {
		return "", err
	}
	if !has {
		return "", &Error{Op: op, Kind: ErrCannotAutoAllocate, Message: fmt.Sprintf(
			"project %s has no network available and Neutron has no %s extension", project, autoAllocatedTopology)}
	}
	var body struct {
		Topology struct {
			ID string `json:"id"`
		} `json:"auto_allocated_topology"`
	}
	err = c.idempotent(ctx, op, "", "", func(sc *gophercloud.ServiceClient) error {
		_, err := sc.Get(ctx, sc.ServiceURL(autoAllocatedTopology, project), &body, nil)
		return err
	})
	var e *Error
	if errors.As(err, &e) && e.Status == 409 {
		// Neutron's AutoAllocationFailure: no default external network or no default subnet pools.
		e.Kind = ErrCannotAutoAllocate
		return "", e
	}
	if err != nil {
		return "", err
	}
	if body.Topology.ID == "" {
		return "", &Error{Op: op, Message: "Neutron's answer names no network", Kind: ErrBadResponse}
	}
	return body.Topology.ID, nil
}

// validProjectID says whether id can be a Keystone project id (32 hex digits by default, any short
// identifier with a custom id generator), so it can go into a URL path as it is.
func validProjectID(id string) bool {
	if id == "" || len(id) > 64 {
		return false
	}
	for _, r := range id {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-' || r == '_') {
			return false
		}
	}
	return true
}
