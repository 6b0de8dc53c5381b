package placement

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
)

// SyncRequest is what the compute node knows about its root provider.
type SyncRequest struct {
	// UUID is the ComputeNode uuid (compute_id), Name its
	// hypervisor_hostname.
	UUID string
	Name string
	// Resources and Config give the standard inventory.
	Resources HostResources
	Config    ResourceConfig
	// Traits gives the owned traits; its Current field is ignored (Sync
	// reads the provider's traits from Placement).
	Traits TraitInputs
	// ProviderConfigs are the operator's additions (nil = none).
	ProviderConfigs *ProviderConfigs
	// Children are the host devices offered for passthrough, one provider each under the root (nil = none:
	// owned children left from before are then removed).
	Children []ChildProvider
}

// SyncResult is the provider as Sync left it.
type SyncResult struct {
	Provider         ResourceProvider
	Inventories      Inventories
	Traits           []string
	InventoryChanged bool
	TraitsChanged    bool
	// UnknownTraits are standard traits the host has that this Placement does not know (its os-traits is
	// older than ours): left out of Traits, since Placement refuses a set naming any of them.
	UnknownTraits []string
	// Attempts counts tries, more than 1 after generation conflicts.
	Attempts int
	// Children are the wanted child providers as left, in the order of SyncRequest.Children.
	Children []ChildState
	// DeletedChildren are owned children no longer wanted that this sync deleted.
	DeletedChildren []ResourceProvider
	// RetiredInUse are owned children no longer wanted that Placement would not delete (allocations still
	// hold them): kept with reserved = total so nothing new lands on them; the next sync tries again.
	RetiredInUse []ChildState
}

// MaxSyncAttempts matches Nova's @retrying(stop_max_attempt_number=4) on
// ResourceProviderUpdateConflict.
const MaxSyncAttempts = 4

// Sync brings the root provider in line with the host, as nova-compute's
// _update_to_placement does: ensure the provider exists, read its
// inventory and traits, compute the new ones (ComputeInventory,
// ComputeTraits, provider configs) and write only what changed. A
// generation conflict (someone else wrote the provider) re-reads and
// retries, MaxSyncAttempts times in all. Then the root's child providers
// follow req.Children (see ChildProvider): missing ones created, changed
// ones rewritten, owned ones no longer wanted deleted or, while in use,
// retired.
func (c *Client) Sync(ctx context.Context, req SyncRequest) (*SyncResult, error) {
	if req.UUID == "" || req.Name == "" {
		return nil, fmt.Errorf("placement: sync: provider uuid %q and name %q must both be set", req.UUID, req.Name)
	}
	if err := validateChildren(req); err != nil {
		return nil, err
	}
	var lastErr error
	for attempt := 1; attempt <= MaxSyncAttempts; attempt++ {
		res, err := c.syncOnce(ctx, req)
		if err == nil {
			res.Attempts = attempt
			return res, nil
		}
		if !errors.Is(err, ErrGenerationConflict) {
			return nil, err
		}
		lastErr = err
	}
	return nil, fmt.Errorf("placement: sync of provider %s gave up after %d generation conflicts: %w",
		req.UUID, MaxSyncAttempts, lastErr)
}

func (c *Client) syncOnce(ctx context.Context, req SyncRequest) (*SyncResult, error) {
	rp, created, err := c.ensureProvider(ctx, req.UUID, req.Name)
	if err != nil {
		return nil, err
	}
	curInv, gen, err := c.GetInventories(ctx, rp.UUID)
	if err != nil {
		return nil, err
	}
	curTraits, tgen, err := c.GetTraits(ctx, rp.UUID)
	if err != nil {
		return nil, err
	}
	if tgen != gen {
		// Written between our two reads: start again from a consistent view.
		return nil, &APIError{Op: "read provider " + rp.UUID, Status: 409, Code: codeConcurrentUpdate,
			Detail: fmt.Sprintf("generation moved from %d to %d while reading", gen, tgen)}
	}

	inv := ComputeInventory(req.Resources, req.Config, curInv)
	ti := req.Traits
	ti.Current = curTraits
	traits := ComputeTraits(ti)
	inv, traits, err = req.ProviderConfigs.Apply(rp.UUID, rp.Name, true, req.Traits.OwnerNova, inv, traits)
	if err != nil {
		return nil, err
	}

	var unknown []string
	if traits, unknown, err = c.FilterKnownTraits(ctx, traits); err != nil {
		return nil, err
	}

	res := &SyncResult{Provider: *rp, Inventories: inv, Traits: traits, UnknownTraits: unknown}
	if !inv.Equal(curInv) {
		if gen, err = c.setInventoriesWithClasses(ctx, rp.UUID, gen, inv); err != nil {
			return nil, err
		}
		res.InventoryChanged = true
	}
	if !SameTraits(traits, curTraits) {
		if gen, err = c.SetTraits(ctx, rp.UUID, gen, traits); err != nil {
			return nil, err
		}
		res.TraitsChanged = true
	}
	res.Provider.Generation = gen
	if err := c.syncChildren(ctx, req, rp, created, res); err != nil {
		return nil, err
	}
	return res, nil
}

// setInventoriesWithClasses creates the custom resource classes inv names that Placement lacks, then sets the
// provider's inventories (SetInventories).
func (c *Client) setInventoriesWithClasses(ctx context.Context, uuid string, gen int64, inv Inventories) (int64, error) {
	if err := c.EnsureResourceClasses(ctx, slices.Sorted(maps.Keys(inv))); err != nil {
		return gen, err
	}
	return c.SetInventories(ctx, uuid, gen, inv)
}
