package placement

import (
	"context"
	"net/http"
	"net/url"

	"github.com/gophercloud/gophercloud/v2/openstack/placement/v1/resourceclasses"
)

// Inventory is one resource class's inventory record.
type Inventory struct {
	Total           int64   `json:"total"`
	Reserved        int64   `json:"reserved"`
	MinUnit         int64   `json:"min_unit"`
	MaxUnit         int64   `json:"max_unit"`
	StepSize        int64   `json:"step_size"`
	AllocationRatio float64 `json:"allocation_ratio"`
}

// Inventories are keyed by resource class.
type Inventories map[string]Inventory

// Equal reports whether two inventories hold the same records.
func (a Inventories) Equal(b Inventories) bool {
	if len(a) != len(b) {
		return false
	}
	for rc, inv := range a {
		if other, ok := b[rc]; !ok || other != inv {
			return false
		}
	}
	return true
}

type inventoriesBody struct {
	Generation  int64       `json:"resource_provider_generation"`
	Inventories Inventories `json:"inventories"`
}

// GetInventories reads a provider's inventories and its generation. It and
// SetInventories stay hand-written: gophercloud's resourceproviders.Inventory
// holds allocation_ratio as a float32, which would send 1.1 as
// 1.100000023841858 and make every comparison with the float64 ratios
// computed here unequal, rewriting the inventory on every update.
func (c *Client) GetInventories(ctx context.Context, uuid string) (Inventories, int64, error) {
	var out inventoriesBody
	_, err := c.call(ctx, "get inventory of "+uuid, http.MethodGet,
		"resource_providers/"+url.PathEscape(uuid)+"/inventories", noVersion, nil, &out, http.StatusOK)
	if err != nil {
		return nil, 0, err
	}
	if out.Inventories == nil {
		out.Inventories = Inventories{}
	}
	return out.Inventories, out.Generation, nil
}

// SetInventories replaces all of a provider's inventories, given the
// provider generation it was computed from, and returns the new
// generation. A stale generation is an error matching
// ErrGenerationConflict; removing or shrinking a class in use one matching
// ErrInventoryInUse. Custom resource classes must exist first
// (EnsureResourceClasses).
func (c *Client) SetInventories(ctx context.Context, uuid string, generation int64, inv Inventories) (int64, error) {
	if inv == nil {
		inv = Inventories{}
	}
	var out inventoriesBody
	_, err := c.call(ctx, "set inventory of "+uuid, http.MethodPut,
		"resource_providers/"+url.PathEscape(uuid)+"/inventories", mvInventorySet,
		inventoriesBody{Generation: generation, Inventories: inv}, &out, http.StatusOK)
	if err != nil {
		return 0, err
	}
	return out.Generation, nil
}

// EnsureResourceClasses creates the CUSTOM_* classes among names (standard
// classes always exist). PUT is idempotent: 201 created, 204 existed.
func (c *Client) EnsureResourceClasses(ctx context.Context, names []string) error {
	for _, rc := range names {
		if !isCustom(rc) {
			continue
		}
		if err := resourceclasses.Update(ctx, c.service(ctx, mvResourceClass), rc).ExtractErr(); err != nil {
			return classify("create resource class "+rc, err)
		}
	}
	return nil
}
