package placement

import (
	"fmt"
	"net/url"
	"time"
)

// Options are the [placement] keystoneauth options the client honours.
// compute/ fills them from nova.conf.
type Options struct {
	// AuthURL is the Keystone endpoint, with or without the /v3 suffix.
	AuthURL string
	// Username or UserID identify the service user; Password its secret.
	Username string
	UserID   string
	Password string
	// UserDomainName / UserDomainID scope the user name.
	UserDomainName string
	UserDomainID   string
	// ProjectName / ProjectID are the project the token is scoped to.
	ProjectName string
	ProjectID   string
	// ProjectDomainName / ProjectDomainID scope the project name.
	ProjectDomainName string
	ProjectDomainID   string
	// DefaultDomainName / DefaultDomainID fill the user and project domains
	// when those are not given, as keystoneauth's default_domain_* do.
	DefaultDomainName string
	DefaultDomainID   string

	// RegionName selects catalog endpoints of one region ("" = any).
	RegionName string
	// ValidInterfaces are tried in order (default internal, public).
	ValidInterfaces []string
	// ServiceType is the catalog type (default "placement").
	ServiceType string
	// ServiceName optionally narrows the catalog entry.
	ServiceName string
	// EndpointOverride bypasses the catalog.
	EndpointOverride string

	// CAFile verifies TLS servers; CertFile/KeyFile present a client
	// certificate; Insecure skips verification.
	CAFile   string
	CertFile string
	KeyFile  string
	Insecure bool
	// Timeout bounds each HTTP request (0 = none, keystoneauth's default).
	Timeout time.Duration
	// UserAgent is prepended to gophercloud's User-Agent.
	UserAgent string
}

// DefaultValidInterfaces is nova's [placement] valid_interfaces default.
var DefaultValidInterfaces = []string{"internal", "public"}

func (o Options) validate() error {
	if o.AuthURL == "" {
		return &ConfigError{Field: "auth_url", Err: fmt.Errorf("not set")}
	}
	if u, err := url.Parse(o.AuthURL); err != nil || u.Scheme == "" || u.Host == "" {
		return &ConfigError{Field: "auth_url", Err: fmt.Errorf("%q is not an absolute URL", o.AuthURL)}
	}
	if o.Username == "" && o.UserID == "" {
		return &ConfigError{Field: "username", Err: fmt.Errorf("neither username nor user_id is set")}
	}
	if o.Password == "" {
		return &ConfigError{Field: "password", Err: fmt.Errorf("not set")}
	}
	if o.ProjectName == "" && o.ProjectID == "" {
		return &ConfigError{Field: "project_name", Err: fmt.Errorf("neither project_name nor project_id is set")}
	}
	if o.EndpointOverride != "" {
		if u, err := url.Parse(o.EndpointOverride); err != nil || u.Scheme == "" || u.Host == "" {
			return &ConfigError{Field: "endpoint_override", Err: fmt.Errorf("%q is not an absolute URL", o.EndpointOverride)}
		}
	}
	for _, i := range o.ValidInterfaces {
		if _, ok := interfaceName(i); !ok {
			return &ConfigError{Field: "valid_interfaces", Err: fmt.Errorf("unknown interface %q (want internal, public or admin)", i)}
		}
	}
	if o.Timeout < 0 {
		return &ConfigError{Field: "timeout", Err: fmt.Errorf("negative")}
	}
	return nil
}

// interfaceName accepts keystoneauth's spellings ("internal",
// "internalURL") and returns the catalog's.
func interfaceName(s string) (string, bool) {
	switch s {
	case "internal", "internalURL":
		return "internal", true
	case "public", "publicURL":
		return "public", true
	case "admin", "adminURL":
		return "admin", true
	}
	return "", false
}
