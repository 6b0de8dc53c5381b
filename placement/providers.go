package placement

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
)

// ResourceProvider is a Placement resource provider.
type ResourceProvider struct {
	UUID               string `json:"uuid"`
	Name               string `json:"name"`
	Generation         int64  `json:"generation"`
	ParentProviderUUID string `json:"parent_provider_uuid,omitempty"`
	RootProviderUUID   string `json:"root_provider_uuid,omitempty"`
}

// GetProvider reads one provider; a missing one is an error matching
// ErrNotFound.
func (c *Client) GetProvider(ctx context.Context, uuid string) (*ResourceProvider, error) {
	var rp ResourceProvider
	_, err := c.call(ctx, "get resource provider "+uuid, http.MethodGet,
		"resource_providers/"+url.PathEscape(uuid), mvProviderGet, nil, &rp, http.StatusOK)
	if err != nil {
		return nil, err
	}
	return &rp, nil
}

// ProvidersInTree lists the providers of the tree rooted at (or
// containing) uuid: GET /resource_providers?in_tree=uuid. Empty when
// there is no such provider.
func (c *Client) ProvidersInTree(ctx context.Context, uuid string) ([]ResourceProvider, error) {
	return c.listProviders(ctx, "list resource provider tree of "+uuid, url.Values{"in_tree": {uuid}})
}

// FindProviderByName returns the provider with that name, or nil.
func (c *Client) FindProviderByName(ctx context.Context, name string) (*ResourceProvider, error) {
	rps, err := c.listProviders(ctx, "find resource provider named "+name, url.Values{"name": {name}})
	if err != nil || len(rps) == 0 {
		return nil, err
	}
	return &rps[0], nil
}

func (c *Client) listProviders(ctx context.Context, op string, q url.Values) ([]ResourceProvider, error) {
	var out struct {
		ResourceProviders []ResourceProvider `json:"resource_providers"`
	}
	_, err := c.call(ctx, op, http.MethodGet, "resource_providers?"+q.Encode(), mvProviderGet, nil, &out, http.StatusOK)
	if err != nil {
		return nil, err
	}
	return out.ResourceProviders, nil
}

// nameConflictMarker is how Placement words a duplicate provider name in a
// 409; Nova keys on this text too.
const nameConflictMarker = "Conflicting resource provider name:"

// CreateProvider creates a root provider (parent "" ) or a child. If a
// provider with this UUID appeared meanwhile it is read and returned, as
// Nova does; a provider with the same name but another UUID is a
// *ProviderNameConflictError.
func (c *Client) CreateProvider(ctx context.Context, uuid, name, parent string) (*ResourceProvider, error) {
	if uuid == "" || name == "" {
		return nil, fmt.Errorf("placement: create resource provider: uuid %q and name %q must both be set", uuid, name)
	}
	body := map[string]string{"uuid": uuid, "name": name}
	if parent != "" {
		body["parent_provider_uuid"] = parent
	}
	var rp ResourceProvider
	_, err := c.call(ctx, "create resource provider "+uuid, http.MethodPost, "resource_providers",
		mvProviderCreate, body, &rp, http.StatusOK)
	if err == nil {
		return &rp, nil
	}
	var ae *APIError
	if errors.As(err, &ae) && ae.Status == http.StatusConflict {
		if ae.Code == codeDuplicateName || strings.Contains(ae.Detail, nameConflictMarker) {
			return nil, &ProviderNameConflictError{UUID: uuid, Name: name, Detail: ae.Detail}
		}
		// Someone (another thread, a previous run) created this UUID.
		return c.GetProvider(ctx, uuid)
	}
	return nil, err
}

// EnsureProvider returns the root provider uuid, creating it with name
// when missing, as nova-compute's _ensure_resource_provider does for its
// compute node (uuid = ComputeNode.uuid, name = hypervisor_hostname, which
// nova-api relies on to mirror host aggregates).
func (c *Client) EnsureProvider(ctx context.Context, uuid, name string) (*ResourceProvider, error) {
	rp, err := c.GetProvider(ctx, uuid)
	if err == nil {
		return rp, nil
	}
	if !errors.Is(err, ErrNotFound) {
		return nil, err
	}
	return c.CreateProvider(ctx, uuid, name, "")
}

// DeleteProvider deletes a provider (after its allocations are gone); a
// provider already gone is not an error.
func (c *Client) DeleteProvider(ctx context.Context, uuid string) error {
	_, err := c.call(ctx, "delete resource provider "+uuid, http.MethodDelete,
		"resource_providers/"+url.PathEscape(uuid), noVersion, nil, nil, http.StatusNoContent)
	if errors.Is(err, ErrNotFound) {
		return nil
	}
	return err
}
