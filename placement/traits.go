package placement

import (
	"context"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/gophercloud/gophercloud/v2/openstack/placement/v1/resourceproviders"
	"github.com/gophercloud/gophercloud/v2/openstack/placement/v1/traits"
)

// unknownTraitTTL is how long a standard trait this Placement did not know is left out before it is asked
// again: Placement learns new os-traits only when it is upgraded, which is rare but happens under a running
// compute.
const unknownTraitTTL = 10 * time.Minute

// traitCatalog remembers which standard traits this Placement has: one binary serves clouds of several
// releases, and a trait from a newer os-traits (HW_CPU_X86_AMXTILE on 2025.1, say) makes Placement refuse the
// whole set of a provider's traits.
type traitCatalog struct {
	mu      sync.Mutex
	known   map[string]bool
	unknown map[string]time.Time // when it was last found missing
}

// GetTraits reads a provider's traits (sorted) and its generation.
func (c *Client) GetTraits(ctx context.Context, uuid string) ([]string, int64, error) {
	out, err := resourceproviders.GetTraits(ctx, c.service(ctx, mvTraits), uuid).Extract()
	if err != nil {
		return nil, 0, classify("get traits of "+uuid, err)
	}
	sort.Strings(out.Traits)
	return out.Traits, int64(out.ResourceProviderGeneration), nil
}

// listTraits asks which of names this Placement has: GET /traits?name=in:...
// (Placement does not page).
func (c *Client) listTraits(ctx context.Context, names []string) (map[string]bool, error) {
	page, err := traits.List(c.service(ctx, mvTraits), traits.ListOpts{Name: "in:" + strings.Join(names, ",")}).AllPages(ctx)
	if err != nil {
		return nil, classify("list traits", err)
	}
	have, err := traits.ExtractTraits(page)
	if err != nil {
		return nil, classify("list traits", err)
	}
	known := make(map[string]bool, len(have))
	for _, t := range have {
		known[t] = true
	}
	return known, nil
}

// EnsureTraits creates the CUSTOM_* traits among names that Placement does
// not know yet: GET /traits?name=in:... then PUT /traits/CUSTOM_X for each
// missing one, as Nova's _ensure_traits does. Standard traits are not
// created (Placement would refuse).
func (c *Client) EnsureTraits(ctx context.Context, names []string) error {
	var custom []string
	for _, t := range names {
		if isCustom(t) {
			custom = append(custom, t)
		}
	}
	if len(custom) == 0 {
		return nil
	}
	known, err := c.listTraits(ctx, custom)
	if err != nil {
		return err
	}
	for _, t := range custom {
		if known[t] {
			continue
		}
		// PUT /traits/CUSTOM_X: 201 created, 204 existed.
		if err := traits.Create(ctx, c.service(ctx, mvTraits), t).ExtractErr(); err != nil {
			return classify("create trait "+t, err)
		}
	}
	return nil
}

// SetTraits replaces a provider's traits (creating custom ones first) and
// returns the new generation. A stale generation matches
// ErrGenerationConflict.
func (c *Client) SetTraits(ctx context.Context, uuid string, generation int64, names []string) (int64, error) {
	if err := c.EnsureTraits(ctx, names); err != nil {
		return 0, err
	}
	if names == nil {
		names = []string{}
	}
	out, err := resourceproviders.UpdateTraits(ctx, c.service(ctx, mvTraits), uuid,
		resourceproviders.UpdateTraitsOpts{Traits: names, ResourceProviderGeneration: int(generation)}).Extract()
	if err != nil {
		return 0, classify("set traits of "+uuid, err)
	}
	return int64(out.ResourceProviderGeneration), nil
}

// GetAggregates reads the aggregates a provider belongs to (nova-api puts
// compute nodes in them; the compute only reads them).
func (c *Client) GetAggregates(ctx context.Context, uuid string) ([]string, int64, error) {
	out, err := resourceproviders.GetAggregates(ctx, c.service(ctx, mvAggregates), uuid).Extract()
	if err != nil {
		return nil, 0, classify("get aggregates of "+uuid, err)
	}
	// The generation is in the body from 1.19 on, which is what is asked for.
	var gen int64
	if out.ResourceProviderGeneration != nil {
		gen = int64(*out.ResourceProviderGeneration)
	}
	return out.Aggregates, gen, nil
}

func isCustom(name string) bool { return strings.HasPrefix(name, "CUSTOM_") }

// FilterKnownTraits returns names without the standard traits this Placement does not have (sorted, in
// unknown), asking Placement only about names it has not answered for yet. Custom traits are always kept:
// SetTraits creates them.
func (c *Client) FilterKnownTraits(ctx context.Context, names []string) (kept, unknown []string, err error) {
	cat := &c.traits
	now := time.Now()
	cat.mu.Lock()
	if cat.known == nil {
		cat.known, cat.unknown = map[string]bool{}, map[string]time.Time{}
	}
	var ask []string
	for _, t := range names {
		if isCustom(t) || cat.known[t] {
			continue
		}
		if at, ok := cat.unknown[t]; ok && now.Sub(at) < unknownTraitTTL {
			continue
		}
		ask = append(ask, t)
	}
	cat.mu.Unlock()
	if len(ask) > 0 {
		have, err := c.listTraits(ctx, ask)
		if err != nil {
			return nil, nil, err
		}
		cat.mu.Lock()
		for _, t := range ask {
			if have[t] {
				cat.known[t] = true
				delete(cat.unknown, t)
			} else {
				cat.unknown[t] = now
			}
		}
		cat.mu.Unlock()
	}
	cat.mu.Lock()
	defer cat.mu.Unlock()
	kept = make([]string, 0, len(names))
	for _, t := range names {
		if !isCustom(t) && !cat.known[t] {
			unknown = append(unknown, t)
			continue
		}
		kept = append(kept, t)
	}
	sort.Strings(unknown)
	return kept, unknown, nil
}
