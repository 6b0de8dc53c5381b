package placement

import (
	"context"
	"errors"
	"net/http"
	"net/url"
)

// ProviderAllocation is one provider's share of a consumer's allocation.
type ProviderAllocation struct {
	Generation int64            `json:"generation,omitempty"`
	Resources  map[string]int64 `json:"resources"`
}

// ConsumerAllocations is GET/PUT /allocations/{consumer} at 1.28.
type ConsumerAllocations struct {
	Allocations map[string]ProviderAllocation `json:"allocations"`
	// ConsumerGeneration is nil for a consumer Placement does not know yet.
	ConsumerGeneration *int64 `json:"consumer_generation"`
	ProjectID          string `json:"project_id,omitempty"`
	UserID             string `json:"user_id,omitempty"`
}

// GetConsumerAllocations reads a consumer's (an instance's or a
// migration's) allocations. An unknown consumer has none.
func (c *Client) GetConsumerAllocations(ctx context.Context, consumer string) (*ConsumerAllocations, error) {
	var out ConsumerAllocations
	_, err := c.call(ctx, "get allocations of consumer "+consumer, http.MethodGet,
		"allocations/"+url.PathEscape(consumer), mvConsumerAllocation, nil, &out, http.StatusOK)
	if err != nil {
		return nil, err
	}
	if out.Allocations == nil {
		out.Allocations = map[string]ProviderAllocation{}
	}
	return &out, nil
}

// PutConsumerAllocations replaces a consumer's allocations (an empty
// Allocations map removes them). The body must carry the consumer
// generation read before (nil for a new consumer); a stale one matches
// ErrGenerationConflict and, as in Nova, is the caller's to resolve.
func (c *Client) PutConsumerAllocations(ctx context.Context, consumer string, a ConsumerAllocations) error {
	if a.Allocations == nil {
		a.Allocations = map[string]ProviderAllocation{}
	}
	// Generations inside allocations are read-only in PUT bodies.
	body := ConsumerAllocations{Allocations: map[string]ProviderAllocation{},
		ConsumerGeneration: a.ConsumerGeneration, ProjectID: a.ProjectID, UserID: a.UserID}
	for rp, pa := range a.Allocations {
		body.Allocations[rp] = ProviderAllocation{Resources: pa.Resources}
	}
	_, err := c.call(ctx, "put allocations of consumer "+consumer, http.MethodPut,
		"allocations/"+url.PathEscape(consumer), mvConsumerAllocation, body, nil, http.StatusNoContent)
	return err
}

// DeleteConsumerAllocations removes all of a consumer's allocations
// without a generation check; a consumer with none is not an error.
func (c *Client) DeleteConsumerAllocations(ctx context.Context, consumer string) error {
	_, err := c.call(ctx, "delete allocations of consumer "+consumer, http.MethodDelete,
		"allocations/"+url.PathEscape(consumer), noVersion, nil, nil, http.StatusNoContent)
	if errors.Is(err, ErrNotFound) {
		return nil
	}
	return err
}

// GetProviderAllocations reads every allocation against a provider, keyed
// by consumer: consumer -> resource class -> amount.
func (c *Client) GetProviderAllocations(ctx context.Context, uuid string) (map[string]map[string]int64, int64, error) {
	var out struct {
		Allocations map[string]struct {
			Resources map[string]int64 `json:"resources"`
		} `json:"allocations"`
		Generation int64 `json:"resource_provider_generation"`
	}
	_, err := c.call(ctx, "get allocations on provider "+uuid, http.MethodGet,
		"resource_providers/"+url.PathEscape(uuid)+"/allocations", noVersion, nil, &out, http.StatusOK)
	if err != nil {
		return nil, 0, err
	}
	res := make(map[string]map[string]int64, len(out.Allocations))
	for consumer, a := range out.Allocations {
		res[consumer] = a.Resources
	}
	return res, out.Generation, nil
}
