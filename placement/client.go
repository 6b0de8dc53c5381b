package placement

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"

	"github.com/gophercloud/gophercloud/v2"
	"github.com/gophercloud/gophercloud/v2/openstack"

	"github.com/novabsd/novabsd/internal/tlsclient"
)

// Client talks to Placement as the compute node's service user. It is safe
// for concurrent use.
type Client struct {
	sc       *gophercloud.ServiceClient
	traits   traitCatalog
	children childCache
}

// New authenticates to Keystone v3 (the token is reused and renewed on 401)
// and locates Placement: EndpointOverride if set, else the catalog entry of
// ServiceType in RegionName, trying ValidInterfaces in order.
func New(ctx context.Context, o Options) (*Client, error) {
	if err := o.validate(); err != nil {
		return nil, err
	}
	pc, err := openstack.NewClient(o.AuthURL)
	if err != nil {
		return nil, &ConfigError{Field: "auth_url", Err: err}
	}
	hc, err := httpClient(o)
	if err != nil {
		return nil, err
	}
	pc.HTTPClient = *hc
	if o.UserAgent != "" {
		pc.UserAgent.Prepend(o.UserAgent)
	}
	if err := openstack.AuthenticateV3(ctx, pc, authOptions(o), gophercloud.EndpointOpts{}); err != nil {
		if gophercloud.ResponseCodeIs(err, http.StatusUnauthorized) {
			return nil, fmt.Errorf("placement: keystone at %s refused the [placement] credentials of %s: %w",
				o.AuthURL, userLabel(o), err)
		}
		return nil, classify("authenticate to keystone at "+o.AuthURL, err)
	}
	endpoint, err := locate(pc, o)
	if err != nil {
		return nil, err
	}
	return &Client{sc: &gophercloud.ServiceClient{ProviderClient: pc, Endpoint: endpoint, Type: "placement"}}, nil
}

// Endpoint is the Placement base URL in use.
func (c *Client) Endpoint() string { return c.sc.Endpoint }

func userLabel(o Options) string {
	if o.Username != "" {
		return "user " + o.Username
	}
	return "user id " + o.UserID
}

func authOptions(o Options) *gophercloud.AuthOptions {
	userDomainName, userDomainID := o.UserDomainName, o.UserDomainID
	if userDomainName == "" && userDomainID == "" {
		userDomainName, userDomainID = o.DefaultDomainName, o.DefaultDomainID
	}
	scope := &gophercloud.AuthScope{ProjectID: o.ProjectID, ProjectName: o.ProjectName}
	if o.ProjectID == "" {
		scope.DomainName, scope.DomainID = o.ProjectDomainName, o.ProjectDomainID
		if scope.DomainName == "" && scope.DomainID == "" {
			scope.DomainName, scope.DomainID = o.DefaultDomainName, o.DefaultDomainID
		}
	}
	ao := &gophercloud.AuthOptions{
		IdentityEndpoint: o.AuthURL,
		UserID:           o.UserID,
		Password:         o.Password,
		Scope:            scope,
		AllowReauth:      true,
	}
	if o.UserID == "" {
		ao.Username, ao.DomainName, ao.DomainID = o.Username, userDomainName, userDomainID
	}
	return ao
}

func httpClient(o Options) (*http.Client, error) {
	tr := http.DefaultTransport.(*http.Transport).Clone()
	cfg, err := tlsclient.Config(tlsclient.Options{CAFile: o.CAFile, CertFile: o.CertFile, KeyFile: o.KeyFile,
		Insecure: o.Insecure})
	var te *tlsclient.Error
	if errors.As(err, &te) {
		return nil, &ConfigError{Field: te.Field, Err: fmt.Errorf("%s: %w", te.Path, te.Err)}
	} else if err != nil {
		return nil, err
	}
	tr.TLSClientConfig = cfg
	return &http.Client{Transport: tr, Timeout: o.Timeout}, nil
}

func locate(pc *gophercloud.ProviderClient, o Options) (string, error) {
	if o.EndpointOverride != "" {
		return gophercloud.NormalizeURL(o.EndpointOverride), nil
	}
	serviceType := o.ServiceType
	if serviceType == "" {
		serviceType = "placement"
	}
	ifaces := o.ValidInterfaces
	if len(ifaces) == 0 {
		ifaces = DefaultValidInterfaces
	}
	var tried []string
	for _, i := range ifaces {
		name, _ := interfaceName(i)
		// Version 0 skips gophercloud's version discovery: Placement's
		// catalog URL is the API root.
		url, err := pc.EndpointLocator(gophercloud.EndpointOpts{
			Type: serviceType, Name: o.ServiceName, Region: o.RegionName,
			Availability: gophercloud.Availability(name),
		})
		if err == nil {
			return url, nil
		}
		tried = append(tried, name)
	}
	return "", &ConfigError{Field: "valid_interfaces", Err: fmt.Errorf(
		"no %q endpoint in the catalog for interfaces %v in region %q", serviceType, tried, o.RegionName)}
}

type ctxKey int

const requestIDKey ctxKey = 0

// WithGlobalRequestID returns a context whose Placement calls carry
// X-OpenStack-Request-ID, as Nova sends its context's global_id.
func WithGlobalRequestID(ctx context.Context, id string) context.Context {
	return context.WithValue(ctx, requestIDKey, id)
}

// noVersion sends no OpenStack-API-Version header (Placement then uses
// 1.0), as Nova does for the calls it makes without a microversion.
const noVersion = ""

// service is the client for one call: gophercloud's placement packages
// send the client's Microversion (as "OpenStack-API-Version: placement
// 1.x"; none for noVersion) and MoreHeaders, and Nova picks the
// microversion per call, so each call gets its own shallow copy.
func (c *Client) service(ctx context.Context, microversion string) *gophercloud.ServiceClient {
	sc := *c.sc
	sc.Microversion = microversion
	if id, _ := ctx.Value(requestIDKey).(string); id != "" {
		sc.MoreHeaders = map[string]string{"X-OpenStack-Request-ID": id}
	}
	return &sc
}

// call performs one request that gophercloud's placement packages cannot
// express (see its callers), with the given microversion. ok lists the
// statuses that count as success; any other becomes an *APIError, and
// transport failures and 5xx an *UnavailableError.
func (c *Client) call(ctx context.Context, op, method, path, microversion string, body, out any, ok ...int) (int, error) {
	sc := c.service(ctx, microversion)
	resp, err := sc.Request(ctx, method, sc.ServiceURL(path), &gophercloud.RequestOpts{
		JSONBody:     body,
		JSONResponse: out,
		OkCodes:      ok,
	})
	if err != nil {
		return 0, classify(op, err)
	}
	return resp.StatusCode, nil
}

// classify turns a gophercloud error into this package's error types.
func classify(op string, err error) error {
	var uerr gophercloud.ErrUnexpectedResponseCode
	if !errors.As(err, &uerr) {
		if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
			return fmt.Errorf("placement: %s: %w", op, err)
		}
		return &UnavailableError{Op: op, Err: err}
	}
	if uerr.Actual >= 500 {
		return &UnavailableError{Op: op, Err: err}
	}
	e := &APIError{Op: op, Method: uerr.Method, URL: uerr.URL, Status: uerr.Actual}
	var eb struct {
		Errors []struct {
			Code   string `json:"code"`
			Detail string `json:"detail"`
			Title  string `json:"title"`
		} `json:"errors"`
	}
	if json.Unmarshal(uerr.Body, &eb) == nil && len(eb.Errors) > 0 {
		e.Code, e.Detail = eb.Errors[0].Code, eb.Errors[0].Detail
		if e.Detail == "" {
			e.Detail = eb.Errors[0].Title
		}
	} else {
		e.Detail = string(uerr.Body)
		if len(e.Detail) > 512 {
			e.Detail = e.Detail[:512] + "..."
		}
	}
	return e
}
