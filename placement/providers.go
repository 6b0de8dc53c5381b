package placement

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"

	"github.com/gophercloud/gophercloud/v2/openstack/placement/v1/resourceproviders"
)

// ResourceProvider is a Placement resource provider.
type ResourceProvider struct {
	UUID               string `json:"uuid"`
	Name               string `json:"name"`
	Generation         int64  `json:"generation"`
	ParentProviderUUID string `json:"parent_provider_uuid,omitempty"`
	RootProviderUUID   string `json:"root_provider_uuid,omitempty"`
}

func fromGophercloud(rp resourceproviders.ResourceProvider) ResourceProvider {
	return ResourceProvider{UUID: rp.UUID, Name: rp.Name, Generation: int64(rp.Generation),
		ParentProviderUUID: rp.ParentProviderUUID, RootProviderUUID: rp.RootProviderUUID}
}

// GetProvider reads one provider; a missing one is an error matching
// ErrNotFound.
func (c *Client) GetProvider(ctx context.Context, uuid string) (*ResourceProvider, error) {
	rp, err := resourceproviders.Get(ctx, c.service(ctx, mvProviderGet), uuid).Extract()
	if err != nil {
		return nil, classify("get resource provider "+uuid, err)
	}
	out := fromGophercloud(*rp)
	return &out, nil
}

// ProvidersInTree lists the providers of the tree rooted at (or
// containing) uuid: GET /resource_providers?in_tree=uuid. Empty when
// there is no such provider.
func (c *Client) ProvidersInTree(ctx context.Context, uuid string) ([]ResourceProvider, error) {
	return c.listProviders(ctx, "list resource provider tree of "+uuid, resourceproviders.ListOpts{InTree: uuid})
}

// FindProviderByName returns the provider with that name, or nil.
func (c *Client) FindProviderByName(ctx context.Context, name string) (*ResourceProvider, error) {
	rps, err := c.listProviders(ctx, "find resource provider named "+name, resourceproviders.ListOpts{Name: name})
	if err != nil || len(rps) == 0 {
		return nil, err
	}
	return &rps[0], nil
}

func (c *Client) listProviders(ctx context.Context, op string, q resourceproviders.ListOpts) ([]ResourceProvider, error) {
	// Placement does not page: one GET.
	page, err := resourceproviders.List(c.service(ctx, mvProviderGet), q).AllPages(ctx)
	if err != nil {
		return nil, classify(op, err)
	}
	rps, err := resourceproviders.ExtractResourceProviders(page)
	if err != nil {
		return nil, classify(op, err)
	}
	out := make([]ResourceProvider, len(rps))
	for i, rp := range rps {
		out[i] = fromGophercloud(rp)
	}
	return out, nil
}

// nameConflictMarker is how Placement words a duplicate provider name in a
// 409; Nova keys on this text too.
const nameConflictMarker = "Conflicting resource provider name:"

// CreateProvider creates a root provider (parent "" ) or a child. If a
// provider with this UUID appeared meanwhile it is read and returned, as
// Nova does; a provider with the same name but another UUID is a
// *ProviderNameConflictError.
func (c *Client) CreateProvider(ctx context.Context, uuid, name, parent string) (*ResourceProvider, error) {
	rp, _, err := c.createProvider(ctx, uuid, name, parent)
	return rp, err
}

// createProvider is CreateProvider also saying whether this call created the provider (false: it existed).
func (c *Client) createProvider(ctx context.Context, uuid, name, parent string) (*ResourceProvider, bool, error) {
	if uuid == "" || name == "" {
		return nil, false, fmt.Errorf("placement: create resource provider: uuid %q and name %q must both be set", uuid, name)
	}
	rp, err := resourceproviders.Create(ctx, c.service(ctx, mvProviderCreate),
		resourceproviders.CreateOpts{UUID: uuid, Name: name, ParentProviderUUID: parent}).Extract()
	if err == nil {
		out := fromGophercloud(*rp)
		return &out, true, nil
	}
	err = classify("create resource provider "+uuid, err)
	var ae *APIError
	if errors.As(err, &ae) && ae.Status == http.StatusConflict {
		if ae.Code == codeDuplicateName || strings.Contains(ae.Detail, nameConflictMarker) {
			return nil, false, &ProviderNameConflictError{UUID: uuid, Name: name, Detail: ae.Detail}
		}
		// Someone (another thread, a previous run) created this UUID.
		existing, err := c.GetProvider(ctx, uuid)
		return existing, false, err
	}
	return nil, false, err
}

// EnsureProvider returns the root provider uuid, creating it with name
// when missing, as nova-compute's _ensure_resource_provider does for its
// compute node (uuid = ComputeNode.uuid, name = hypervisor_hostname, which
// nova-api relies on to mirror host aggregates).
func (c *Client) EnsureProvider(ctx context.Context, uuid, name string) (*ResourceProvider, error) {
	rp, _, err := c.ensureProvider(ctx, uuid, name)
	return rp, err
}

// ensureProvider is EnsureProvider also saying whether this call created the provider (then it can have no
// children yet, which spares Sync reading its tree).
func (c *Client) ensureProvider(ctx context.Context, uuid, name string) (*ResourceProvider, bool, error) {
	rp, err := c.GetProvider(ctx, uuid)
	if err == nil {
		return rp, false, nil
	}
	if !errors.Is(err, ErrNotFound) {
		return nil, false, err
	}
	return c.createProvider(ctx, uuid, name, "")
}

// RenameProvider gives a provider a new name (PUT /resource_providers/{uuid}); a name another provider holds
// is a *ProviderNameConflictError.
func (c *Client) RenameProvider(ctx context.Context, uuid, name string) (*ResourceProvider, error) {
	rp, err := resourceproviders.Update(ctx, c.service(ctx, mvProviderGet), uuid,
		resourceproviders.UpdateOpts{Name: &name}).Extract()
	if err == nil {
		out := fromGophercloud(*rp)
		return &out, nil
	}
	err = classify("rename resource provider "+uuid, err)
	var ae *APIError
	if errors.As(err, &ae) && ae.Status == http.StatusConflict {
		return nil, &ProviderNameConflictError{UUID: uuid, Name: name, Detail: ae.Detail}
	}
	return nil, err
}

// DeleteProvider deletes a provider (after its allocations are gone); a
// provider already gone is not an error.
func (c *Client) DeleteProvider(ctx context.Context, uuid string) error {
	err := resourceproviders.Delete(ctx, c.service(ctx, noVersion), uuid).ExtractErr()
	if err == nil {
		return nil
	}
	if err = classify("delete resource provider "+uuid, err); errors.Is(err, ErrNotFound) {
		return nil
	}
	return err
}
