package network

import (
	"context"
	"errors"
	"time"
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
	cfg Config
}

// NewClient returns a client for cfg; it authenticates lazily, on first use, and again when the token expires.
func NewClient(cfg Config) (*Client, error) {
	return &Client{cfg: cfg}, nil
}

// Allocate creates a port on each requested network and takes over each requested port, all bound to b, and
// returns network_info in request order (the ports as Neutron answered after binding). On error nothing it did
// remains: ports it created are deleted and ports it took over are released to how they were.
func (c *Client) Allocate(ctx context.Context, b Binding, reqs []Request) (Info, error) {
	return nil, errors.New("network: not implemented yet")
}

// Deallocate releases every port of the instance: ports it created (PreserveOnDelete false) are deleted, the
// user's ports are unbound (binding:host_id, device_id, device_owner and binding:profile cleared). Ports with
// device_id = instanceUUID that info does not list are released too. Ports already gone are not an error.
func (c *Client) Deallocate(ctx context.Context, instanceUUID string, info Info) error {
	return errors.New("network: not implemented yet")
}

// Refresh reads the instance's ports again (network-changed, the heal periodic task) and returns network_info
// keeping prev's order for ports still there.
func (c *Client) Refresh(ctx context.Context, instanceUUID string, prev Info) (Info, error) {
	return nil, errors.New("network: not implemented yet")
}

// AttachPort creates a port on r's network or takes over r's port, bound to b, for an interface attach, and
// returns its VIF as Neutron answered after binding. On error nothing it did remains.
func (c *Client) AttachPort(ctx context.Context, b Binding, r Request) (VIF, error) {
	return VIF{}, errors.New("network: not implemented yet")
}

// DetachPort releases one port of the instance after an interface detach: deleted when this service created it
// (vif.PreserveOnDelete false), unbound otherwise. A port already gone is not an error.
func (c *Client) DetachPort(ctx context.Context, instanceUUID string, vif VIF) error {
	return errors.New("network: not implemented yet")
}
