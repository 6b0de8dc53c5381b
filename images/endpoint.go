package images

import (
	"encoding/json"
	"fmt"
	"regexp"
	"strings"
)

// catalogEntry accepts both catalog shapes that reach a compute node: the v2
// shape keystonemiddleware hands nova-api (publicURL/internalURL/adminURL per
// endpoint) and the Keystone v3 shape (one endpoint per interface).
type catalogEntry struct {
	Type      string            `json:"type"`
	Name      string            `json:"name"`
	Endpoints []catalogEndpoint `json:"endpoints"`
}

type catalogEndpoint struct {
	Region      string `json:"region"`
	RegionID    string `json:"region_id"`
	Interface   string `json:"interface"`
	URL         string `json:"url"`
	PublicURL   string `json:"publicURL"`
	InternalURL string `json:"internalURL"`
	AdminURL    string `json:"adminURL"`
}

func (e catalogEndpoint) urlFor(iface string) string {
	if e.Interface != "" {
		if strings.TrimSuffix(e.Interface, "URL") == iface {
			return e.URL
		}
		return ""
	}
	switch iface {
	case "public":
		return e.PublicURL
	case "internal":
		return e.InternalURL
	case "admin":
		return e.AdminURL
	}
	return ""
}

var versionSuffix = regexp.MustCompile(`/v\d+(\.\d+)?/?$`)

// normaliseEndpoint strips a trailing /v2 or /v2.1 (nova does the same, for
// glanceclient's sake) and ends the URL with "/" so "v2/..." can be appended.
func normaliseEndpoint(u string) string {
	u = versionSuffix.ReplaceAllString(u, "/")
	if !strings.HasSuffix(u, "/") {
		u += "/"
	}
	return u
}

// catalogEndpointURL finds the image endpoint as keystoneauth's adapter does:
// the first valid interface, in order, that has an endpoint of the right
// service type (and name and region, when configured).
func catalogEndpointURL(raw json.RawMessage, o *GlanceOptions) (string, error) {
	if len(raw) == 0 || string(raw) == "null" {
		return "", fmt.Errorf("%w: the request context carries no service catalog and no endpoint is configured", ErrNoEndpoint)
	}
	var cat []catalogEntry
	if err := json.Unmarshal(raw, &cat); err != nil {
		return "", fmt.Errorf("%w: service catalog is not a list of services: %v", ErrNoEndpoint, err)
	}
	for _, iface := range o.validInterfaces() {
		for _, svc := range cat {
			if svc.Type != o.serviceType() || (o.ServiceName != "" && svc.Name != o.ServiceName) {
				continue
			}
			for _, ep := range svc.Endpoints {
				if o.RegionName != "" && ep.Region != o.RegionName && ep.RegionID != o.RegionName {
					continue
				}
				if u := ep.urlFor(iface); u != "" {
					return normaliseEndpoint(u), nil
				}
			}
		}
	}
	return "", fmt.Errorf("%w: no %q service with interface %v in region %q in the service catalog",
		ErrNoEndpoint, o.serviceType(), o.validInterfaces(), o.RegionName)
}
