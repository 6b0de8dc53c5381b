package images

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"strings"
	"sync/atomic"
	"time"

	"github.com/gophercloud/gophercloud/v2"

	"github.com/novabsd/novabsd/internal/retry"
	"github.com/novabsd/novabsd/internal/tlsclient"
)

// GlanceOptions are the [glance] (keystoneauth session and adapter options
// plus nova's own) and [service_user] settings the client needs. The zero
// value means nova's defaults except NumRetries, which callers map from
// [glance] num_retries (default 3).
type GlanceOptions struct {
	// APIServers is the deprecated [glance] api_servers: when set, it replaces
	// catalog lookup and retries rotate through it.
	APIServers []string
	// EndpointOverride is [glance] endpoint_override.
	EndpointOverride string
	// ServiceType is [glance] service_type; "image" when empty.
	ServiceType string
	// ServiceName is [glance] service_name; any name when empty.
	ServiceName string
	// RegionName is [glance] region_name; any region when empty.
	RegionName string
	// ValidInterfaces is [glance] valid_interfaces; internal then public when empty.
	ValidInterfaces []string
	// CAFile, CertFile, KeyFile and Insecure are the session's TLS options.
	CAFile, CertFile, KeyFile string
	Insecure                  bool
	// Timeout is the session timeout. As in keystoneauth it bounds connecting
	// and waiting for a response, not the transfer of a large image body.
	Timeout time.Duration
	// NumRetries is [glance] num_retries: 1+NumRetries attempts on connection
	// errors and 503, as GlanceClientWrapper.call makes.
	NumRetries int
	// RetryDelay is the pause between attempts; one second (nova's) when zero.
	RetryDelay time.Duration
	// ServiceToken, when set ([service_user] send_service_user_token), gives
	// the token sent as X-Service-Token with every request.
	ServiceToken func(ctx context.Context) (string, error)
	// UserAgent is prepended to gophercloud's User-Agent.
	UserAgent string
	// Transport replaces the transport built from the TLS and timeout options.
	Transport http.RoundTripper
}

func (o *GlanceOptions) serviceType() string {
	if o.ServiceType == "" {
		return "image"
	}
	return o.ServiceType
}

func (o *GlanceOptions) validInterfaces() []string {
	if len(o.ValidInterfaces) == 0 {
		return []string{"internal", "public"}
	}
	out := make([]string, len(o.ValidInterfaces))
	for i, v := range o.ValidInterfaces {
		out[i] = strings.TrimSuffix(v, "URL")
	}
	return out
}

// retryPolicy is nova's: NumRetries more attempts after the first (none when the request cannot be
// repeated), RetryDelay (1 s unless set) apart.
func (o *GlanceOptions) retryPolicy(repeatable bool) retry.Policy {
	p := retry.Policy{Attempts: 1, Backoff: retry.Backoff{Initial: o.RetryDelay}}
	if repeatable {
		p.Attempts += o.NumRetries
	}
	if p.Initial <= 0 {
		p.Initial = time.Second
	}
	return p
}

// Glance is built once from the options; it owns the connection pool that
// every per-request Client shares.
type Glance struct {
	opts      GlanceOptions
	transport http.RoundTripper
	next      atomic.Uint64 // rotates APIServers across clients
}

// NewGlance checks the options and builds the shared transport.
func NewGlance(o GlanceOptions) (*Glance, error) {
	o.APIServers = append([]string(nil), o.APIServers...)
	for i, s := range o.APIServers {
		if !strings.HasPrefix(s, "http://") && !strings.HasPrefix(s, "https://") {
			return nil, fmt.Errorf("images: [glance] api_servers entry %q is not an http(s) URL", s)
		}
		o.APIServers[i] = normaliseEndpoint(s)
	}
	if o.NumRetries < 0 {
		return nil, fmt.Errorf("images: [glance] num_retries is %d; it must be 0 or more", o.NumRetries)
	}
	g := &Glance{opts: o, transport: o.Transport}
	if g.transport == nil {
		t, err := buildTransport(&o)
		if err != nil {
			return nil, err
		}
		g.transport = t
	}
	return g, nil
}

func buildTransport(o *GlanceOptions) (*http.Transport, error) {
	t := http.DefaultTransport.(*http.Transport).Clone()
	tc, err := tlsclient.Config(tlsclient.Options{CAFile: o.CAFile, CertFile: o.CertFile, KeyFile: o.KeyFile,
		Insecure: o.Insecure})
	if err != nil {
		return nil, fmt.Errorf("images: [glance] %w", err)
	}
	t.TLSClientConfig = tc
	if o.Timeout > 0 {
		t.DialContext = (&net.Dialer{Timeout: o.Timeout, KeepAlive: 30 * time.Second}).DialContext
		t.TLSHandshakeTimeout = o.Timeout
		t.ResponseHeaderTimeout = o.Timeout
	}
	return t, nil
}

// Auth is what the RPC context carries for Glance: the user's token
// (_context_auth_token), the global request id and the service catalog as sent.
type Auth struct {
	Token           string
	GlobalRequestID string
	ServiceCatalog  json.RawMessage
}

// Client talks to Glance for one request with one user's token. It is cheap:
// make one per RPC call.
type Client struct {
	g         *Glance
	endpoints []string // tried in turn on retries
	provider  *gophercloud.ProviderClient
	http      *http.Client
	token     string
}

// Client makes a client for one request. Without a token it refuses, as
// nova's periodic tasks must not call Glance with an admin context.
func (g *Glance) Client(a Auth) (*Client, error) {
	if a.Token == "" {
		return nil, fmt.Errorf("images: the request context has no auth token; Glance needs the user's token")
	}
	var eps []string
	switch {
	case g.opts.EndpointOverride != "":
		eps = []string{normaliseEndpoint(g.opts.EndpointOverride)}
	case len(g.opts.APIServers) > 0:
		n := len(g.opts.APIServers)
		start := int(g.next.Add(1) % uint64(n))
		for i := range n {
			eps = append(eps, g.opts.APIServers[(start+i)%n])
		}
	default:
		ep, err := catalogEndpointURL(a.ServiceCatalog, &g.opts)
		if err != nil {
			return nil, fmt.Errorf("images: %w", err)
		}
		eps = []string{ep}
	}
	hc := &http.Client{Transport: &headerTransport{base: g.transport, requestID: a.GlobalRequestID, serviceToken: g.opts.ServiceToken}}
	pc := &gophercloud.ProviderClient{HTTPClient: *hc}
	if g.opts.UserAgent != "" {
		pc.UserAgent.Prepend(g.opts.UserAgent)
	}
	pc.SetToken(a.Token)
	return &Client{g: g, endpoints: eps, provider: pc, http: hc, token: a.Token}, nil
}

// Endpoint is the Glance URL the first attempt uses (ends in "/").
func (c *Client) Endpoint() string { return c.endpoints[0] }

func (c *Client) service(attempt int) *gophercloud.ServiceClient {
	ep := c.endpoints[attempt%len(c.endpoints)]
	return &gophercloud.ServiceClient{ProviderClient: c.provider, Endpoint: ep, ResourceBase: ep + "v2/", Type: "image"}
}

// headerTransport adds the headers every nova Glance request carries that
// gophercloud's image calls cannot be told to send.
type headerTransport struct {
	base         http.RoundTripper
	requestID    string
	serviceToken func(context.Context) (string, error)
}

func (t *headerTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	if t.requestID == "" && t.serviceToken == nil {
		return t.base.RoundTrip(req)
	}
	r := req.Clone(req.Context())
	if t.requestID != "" {
		r.Header.Set("X-OpenStack-Request-ID", t.requestID)
	}
	if t.serviceToken != nil {
		tok, err := t.serviceToken(req.Context())
		if err != nil {
			if req.Body != nil {
				req.Body.Close()
			}
			return nil, fmt.Errorf("getting the service token: %w", err)
		}
		r.Header.Set("X-Service-Token", tok)
	}
	return t.base.RoundTrip(r)
}
