package placement

import (
	"context"
	"net/http"
	"net/url"
	"sort"
	"strings"
)

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
