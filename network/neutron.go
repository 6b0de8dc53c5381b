package network

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/gophercloud/gophercloud/v2"
	"github.com/gophercloud/gophercloud/v2/openstack"
	"github.com/gophercloud/gophercloud/v2/openstack/networking/v2/extensions/layer3/floatingips"
	"github.com/gophercloud/gophercloud/v2/openstack/networking/v2/extensions/security/groups"
	"github.com/gophercloud/gophercloud/v2/openstack/networking/v2/networks"
	"github.com/gophercloud/gophercloud/v2/openstack/networking/v2/ports"
	"github.com/gophercloud/gophercloud/v2/openstack/networking/v2/subnets"
	"github.com/gophercloud/gophercloud/v2/pagination"

	"github.com/novabsd/novabsd/internal/retry"
	"github.com/novabsd/novabsd/internal/tlsclient"
)

// DefaultValidInterfaces is nova's [neutron] valid_interfaces default.
var DefaultValidInterfaces = []string{"internal", "public"}

// ConfigError is a [neutron] option that cannot work.
type ConfigError struct {
	Field string // the nova.conf option
	Err   error
}

func (e *ConfigError) Error() string { return fmt.Sprintf("network: [neutron] %s: %v", e.Field, e.Err) }

func (e *ConfigError) Unwrap() error { return e.Err }

func (cfg Config) validate() error {
	if cfg.AuthURL == "" {
		return &ConfigError{Field: "auth_url", Err: errors.New("not set")}
	}
	if u, err := url.Parse(cfg.AuthURL); err != nil || u.Scheme == "" || u.Host == "" {
		return &ConfigError{Field: "auth_url", Err: fmt.Errorf("%q is not an absolute URL", cfg.AuthURL)}
	}
	if cfg.Username == "" {
		return &ConfigError{Field: "username", Err: errors.New("not set")}
	}
	if cfg.Password == "" {
		return &ConfigError{Field: "password", Err: errors.New("not set")}
	}
	if cfg.ProjectName == "" {
		return &ConfigError{Field: "project_name", Err: errors.New("not set")}
	}
	if cfg.EndpointOverride != "" {
		if u, err := url.Parse(cfg.EndpointOverride); err != nil || u.Scheme == "" || u.Host == "" {
			return &ConfigError{Field: "endpoint_override", Err: fmt.Errorf("%q is not an absolute URL", cfg.EndpointOverride)}
		}
	}
	for _, i := range cfg.ValidInterfaces {
		if interfaceName(i) == "" {
			return &ConfigError{Field: "valid_interfaces", Err: fmt.Errorf("unknown interface %q (want internal, public or admin)", i)}
		}
	}
	if cfg.Timeout < 0 {
		return &ConfigError{Field: "timeout", Err: errors.New("negative")}
	}
	if cfg.HTTPRetries < 0 {
		return &ConfigError{Field: "http_retries", Err: errors.New("negative")}
	}
	return nil
}

// interfaceName accepts keystoneauth's spellings ("internal", "internalURL") and returns the catalog's.
func interfaceName(s string) string {
	switch strings.TrimSuffix(s, "URL") {
	case "internal":
		return "internal"
	case "public":
		return "public"
	case "admin":
		return "admin"
	}
	return ""
}

func (cfg Config) authOptions() *gophercloud.AuthOptions {
	userDomainName, userDomainID := cfg.UserDomainName, cfg.UserDomainID
	if userDomainName == "" && userDomainID == "" {
		userDomainID = "default" // keystoneauth's password plugin has no default; devstack's is Default
	}
	scope := &gophercloud.AuthScope{ProjectName: cfg.ProjectName,
		DomainName: cfg.ProjectDomainName, DomainID: cfg.ProjectDomainID}
	if scope.DomainName == "" && scope.DomainID == "" {
		scope.DomainID = "default"
	}
	return &gophercloud.AuthOptions{
		IdentityEndpoint: cfg.AuthURL,
		Username:         cfg.Username,
		Password:         cfg.Password,
		DomainName:       userDomainName,
		DomainID:         userDomainID,
		Scope:            scope,
		AllowReauth:      true, // gophercloud authenticates again on 401 and repeats the request once
	}
}

// connect authenticates and locates Neutron. It is called without any lock held.
func (c *Client) connect(ctx context.Context) (*gophercloud.ServiceClient, error) {
	pc, err := openstack.NewClient(c.cfg.AuthURL)
	if err != nil {
		return nil, &ConfigError{Field: "auth_url", Err: err}
	}
	pc.HTTPClient = *c.http
	if err := openstack.AuthenticateV3(ctx, pc, c.cfg.authOptions(), gophercloud.EndpointOpts{}); err != nil {
		if gophercloud.ResponseCodeIs(err, http.StatusUnauthorized) {
			return nil, &Error{Op: "authenticate to keystone at " + c.cfg.AuthURL, Status: http.StatusUnauthorized,
				Message: "the [neutron] credentials of user " + c.cfg.Username + " were refused", Kind: ErrForbidden}
		}
		return nil, classify("authenticate to keystone at "+c.cfg.AuthURL, "", "", err)
	}
	endpoint := c.cfg.EndpointOverride
	if endpoint == "" {
		ifaces := c.cfg.ValidInterfaces
		if len(ifaces) == 0 {
			ifaces = DefaultValidInterfaces
		}
		var tried []string
		for _, i := range ifaces {
			name := interfaceName(i)
			u, err := pc.EndpointLocator(gophercloud.EndpointOpts{Type: "network", Region: c.cfg.RegionName,
				Availability: gophercloud.Availability(name)})
			if err == nil {
				endpoint = u
				break
			}
			tried = append(tried, name)
		}
		if endpoint == "" {
			return nil, &ConfigError{Field: "valid_interfaces", Err: fmt.Errorf(
				"no \"network\" endpoint in the catalog for interfaces %v in region %q", tried, c.cfg.RegionName)}
		}
	}
	endpoint = gophercloud.NormalizeURL(endpoint)
	// Neutron's catalog entry is the API root; neutronclient adds the version, as gophercloud's NewNetworkV2 does.
	return &gophercloud.ServiceClient{ProviderClient: pc, Endpoint: endpoint, ResourceBase: endpoint + "v2.0/",
		Type: "network"}, nil
}

// service returns the authenticated service client, authenticating on first use. Concurrent first callers wait
// for one authentication rather than each making their own; a failed one is tried again by the next caller.
func (c *Client) service(ctx context.Context) (*gophercloud.ServiceClient, error) {
	for {
		c.mu.Lock()
		if c.sc != nil {
			sc := c.sc
			c.mu.Unlock()
			return sc, nil
		}
		if wait := c.connecting; wait != nil {
			c.mu.Unlock()
			select {
			case <-wait:
				continue
			case <-ctx.Done():
				return nil, classify("authenticate", "", "", ctx.Err())
			}
		}
		done := make(chan struct{})
		c.connecting = done
		c.mu.Unlock()

		sc, err := c.connect(ctx)

		c.mu.Lock()
		c.sc = sc
		c.connecting = nil
		c.mu.Unlock()
		close(done)
		if err != nil {
			return nil, err
		}
		return sc, nil
	}
}

type ctxKey int

const requestIDKey ctxKey = 0

// WithGlobalRequestID returns a context whose Neutron calls carry X-OpenStack-Request-ID, as nova sends its
// request context's global_request_id, so Neutron's log lines can be matched to the instance's action.
func WithGlobalRequestID(ctx context.Context, id string) context.Context {
	return context.WithValue(ctx, requestIDKey, id)
}

// forCall is the service client for one call: a shallow copy carrying the context's request id.
func forCall(ctx context.Context, sc *gophercloud.ServiceClient) *gophercloud.ServiceClient {
	id, _ := ctx.Value(requestIDKey).(string)
	if id == "" {
		return sc
	}
	cp := *sc
	cp.MoreHeaders = map[string]string{"X-OpenStack-Request-ID": id}
	return &cp
}

// idempotent runs an idempotent request (GET, PUT, DELETE) with [neutron] http_retries more attempts on
// connection errors, as neutronclient's retry_request does; any other failure is final at once.
func (c *Client) idempotent(ctx context.Context, op, portID, networkID string, fn func(sc *gophercloud.ServiceClient) error) error {
	sc, err := c.service(ctx)
	if err != nil {
		return err
	}
	sc = forCall(ctx, sc)
	policy := retry.Policy{Attempts: 1 + c.cfg.HTTPRetries, Backoff: retry.Backoff{Initial: c.retryPause}}
	var last error
	for range retry.Loop(ctx, policy) {
		last = fn(sc)
		if last == nil || !connectionError(last) {
			break
		}
	}
	if last != nil {
		return classify(op, portID, networkID, last)
	}
	return nil
}

// once runs a request that must not be repeated blindly (POST): a lost answer may hide a port that was created.
func (c *Client) once(ctx context.Context, op, portID, networkID string, fn func(sc *gophercloud.ServiceClient) error) error {
	sc, err := c.service(ctx)
	if err != nil {
		return err
	}
	if err := fn(forCall(ctx, sc)); err != nil {
		return classify(op, portID, networkID, err)
	}
	return nil
}

// The Neutron calls this package makes. Answers are read into this package's own types (model_neutron.go) so
// that nothing Neutron sends can panic the building of network_info.

func (c *Client) showPort(ctx context.Context, id string) (neutronPort, error) {
	var out neutronPort
	err := c.idempotent(ctx, "show port", id, "", func(sc *gophercloud.ServiceClient) error {
		return ports.Get(ctx, sc, id).ExtractInto(&out) // reads the "port" or "network" object
	})
	return out, err
}

func (c *Client) listPorts(ctx context.Context, opts ports.ListOpts) ([]neutronPort, error) {
	var out []neutronPort
	err := c.idempotent(ctx, "list ports", "", opts.NetworkID, func(sc *gophercloud.ServiceClient) error {
		out = nil
		page, err := ports.List(sc, opts).AllPages(ctx)
		if err != nil {
			return err
		}
		return ports.ExtractPortsInto(page, &out)
	})
	return out, err
}

func (c *Client) createPort(ctx context.Context, networkID string, body portBody) (neutronPort, error) {
	var out neutronPort
	err := c.once(ctx, "create port", "", networkID, func(sc *gophercloud.ServiceClient) error {
		return ports.Create(ctx, sc, portOpts{body}).ExtractInto(&out) // reads the "port" or "network" object
	})
	return out, err
}

func (c *Client) updatePort(ctx context.Context, op, id string, body portBody) (neutronPort, error) {
	var out neutronPort
	err := c.idempotent(ctx, op, id, "", func(sc *gophercloud.ServiceClient) error {
		return ports.Update(ctx, sc, id, portOpts{body}).ExtractInto(&out) // reads the "port" or "network" object
	})
	return out, err
}

// deletePort deletes a port; one already gone is not an error.
func (c *Client) deletePort(ctx context.Context, id string) error {
	err := c.idempotent(ctx, "delete port", id, "", func(sc *gophercloud.ServiceClient) error {
		return ports.Delete(ctx, sc, id).ExtractErr()
	})
	if isNotFound(err) {
		return nil
	}
	return err
}

func (c *Client) showNetwork(ctx context.Context, id string) (neutronNetwork, error) {
	var out neutronNetwork
	err := c.idempotent(ctx, "show network", "", id, func(sc *gophercloud.ServiceClient) error {
		return networks.Get(ctx, sc, id).ExtractInto(&out) // reads the "port" or "network" object
	})
	return out, err
}

func (c *Client) listSubnets(ctx context.Context, networkID string) ([]neutronSubnet, error) {
	var out []neutronSubnet
	err := c.idempotent(ctx, "list subnets", "", networkID, func(sc *gophercloud.ServiceClient) error {
		out = nil
		page, err := subnets.List(sc, subnets.ListOpts{NetworkID: networkID}).AllPages(ctx)
		if err != nil {
			return err
		}
		return extractList(page, "subnets", &out)
	})
	return out, err
}

// listFloatingIPs lists the floating addresses pointing at a port; a Neutron without the L3 API (404) has none,
// as nova's _safe_get_floating_ips treats it.
func (c *Client) listFloatingIPs(ctx context.Context, portID string) ([]neutronFloatingIP, error) {
	var out []neutronFloatingIP
	err := c.idempotent(ctx, "list floating IPs", portID, "", func(sc *gophercloud.ServiceClient) error {
		out = nil
		page, err := floatingips.List(sc, floatingips.ListOpts{PortID: portID}).AllPages(ctx)
		if err != nil {
			return err
		}
		return floatingips.ExtractFloatingIPsInto(page, &out)
	})
	if isNotFound(err) {
		return nil, nil
	}
	return out, err
}

func (c *Client) listSecurityGroups(ctx context.Context, projectID string) ([]neutronSecurityGroup, error) {
	var out []neutronSecurityGroup
	err := c.idempotent(ctx, "list security groups", "", "", func(sc *gophercloud.ServiceClient) error {
		out = nil
		page, err := groups.List(sc, groups.ListOpts{TenantID: projectID}).AllPages(ctx)
		if err != nil {
			return err
		}
		return extractList(page, "security_groups", &out)
	})
	return out, err
}

// undoContext is the context undo steps run with: they must run even when the caller's context ended (that may
// be why they run), but not forever.
func undoContext(ctx context.Context) (context.Context, context.CancelFunc) {
	return context.WithTimeout(context.WithoutCancel(ctx), 2*time.Minute)
}

func newHTTPClient(cfg Config) (*http.Client, error) {
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tc, err := tlsclient.Config(tlsclient.Options{CAFile: cfg.CAFile, Insecure: cfg.Insecure})
	var te *tlsclient.Error
	if errors.As(err, &te) {
		return nil, &ConfigError{Field: te.Field, Err: fmt.Errorf("%s: %w", te.Path, te.Err)}
	} else if err != nil {
		return nil, &ConfigError{Field: "cafile", Err: err}
	}
	tr.TLSClientConfig = tc
	return &http.Client{Transport: tr, Timeout: cfg.Timeout}, nil
}

// extractList reads a list page into this package's types, for the resources gophercloud has no ...Into for.
func extractList(page pagination.Page, label string, v any) error {
	p, ok := page.(interface{ ExtractIntoSlicePtr(any, string) error })
	if !ok {
		return fmt.Errorf("%w: %T is not a list page", ErrBadResponse, page)
	}
	return p.ExtractIntoSlicePtr(v, label)
}
