package placement

import (
	"context"
	"net/http"
	"net/url"
	"sort"
	"strings"
	"sync"
	"time"
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

type traitsBody struct {
	Traits     []string `json:"traits"`
	Generation int64    `json:"resource_provider_generation"`
}

// GetTraits reads a provider's traits (sorted) and its generation.
func (c *Client) GetTraits(ctx context.Context, uuid string) ([]string, int64, error) {
	var out traitsBody
	_, err := c.call(ctx, "get traits of "+uuid, http.MethodGet,
		"resource_providers/"+url.PathEscape(uuid)+"/traits", mvTraits, nil, &out, http.StatusOK)
	if err != nil {
		return nil, 0, err
	}
	sort.Strings(out.Traits)
	return out.Traits, out.Generation, nil
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
	var out struct {
		Traits []string `json:"traits"`
	}
	q := url.Values{"name": {"in:" + strings.Join(custom, ",")}}
	if _, err := c.call(ctx, "list traits", http.MethodGet, "traits?"+q.Encode(), mvTraits, nil, &out, http.StatusOK); err != nil {
		return err
	}
	known := make(map[string]bool, len(out.Traits))
	for _, t := range out.Traits {
		known[t] = true
	}
	for _, t := range custom {
		if known[t] {
			continue
		}
		if _, err := c.call(ctx, "create trait "+t, http.MethodPut, "traits/"+url.PathEscape(t), mvTraits,
			nil, nil, http.StatusCreated, http.StatusNoContent); err != nil {
			return err
		}
	}
	return nil
}

// SetTraits replaces a provider's traits (creating custom ones first) and
// returns the new generation. A stale generation matches
// ErrGenerationConflict.
func (c *Client) SetTraits(ctx context.Context, uuid string, generation int64, traits []string) (int64, error) {
	if err := c.EnsureTraits(ctx, traits); err != nil {
		return 0, err
	}
	if traits == nil {
		traits = []string{}
	}
	var out traitsBody
	_, err := c.call(ctx, "set traits of "+uuid, http.MethodPut,
		"resource_providers/"+url.PathEscape(uuid)+"/traits", mvTraits,
		traitsBody{Traits: traits, Generation: generation}, &out, http.StatusOK)
	if err != nil {
		return 0, err
	}
	return out.Generation, nil
}

// GetAggregates reads the aggregates a provider belongs to (nova-api puts
// compute nodes in them; the compute only reads them).
func (c *Client) GetAggregates(ctx context.Context, uuid string) ([]string, int64, error) {
	var out struct {
		Aggregates []string `json:"aggregates"`
		Generation int64    `json:"resource_provider_generation"`
	}
	_, err := c.call(ctx, "get aggregates of "+uuid, http.MethodGet,
		"resource_providers/"+url.PathEscape(uuid)+"/aggregates", mvAggregates, nil, &out, http.StatusOK)
	if err != nil {
		return nil, 0, err
	}
	return out.Aggregates, out.Generation, nil
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
		var out struct {
			Traits []string `json:"traits"`
		}
		q := url.Values{"name": {"in:" + strings.Join(ask, ",")}}
		if _, err := c.call(ctx, "list traits", http.MethodGet, "traits?"+q.Encode(), mvTraits, nil, &out, http.StatusOK); err != nil {
			return nil, nil, err
		}
		have := make(map[string]bool, len(out.Traits))
		for _, t := range out.Traits {
			have[t] = true
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
