package placement

import (
	"context"
	"errors"
	"net/http"

	"github.com/gophercloud/gophercloud/v2/openstack/placement/v1/allocations"
	"github.com/gophercloud/gophercloud/v2/openstack/placement/v1/resourceproviders"
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
	got, err := allocations.Get(ctx, c.service(ctx, mvConsumerAllocation), consumer).Extract()
	if err != nil {
		return nil, classify("get allocations of consumer "+consumer, err)
	}
	out := &ConsumerAllocations{Allocations: make(map[string]ProviderAllocation, len(got.Allocations))}
	for rp, a := range got.Allocations {
		out.Allocations[rp] = ProviderAllocation{Generation: int64(a.Generation), Resources: toInt64(a.Resources)}
	}
	if got.ConsumerGeneration != nil {
		g := int64(*got.ConsumerGeneration)
		out.ConsumerGeneration = &g
	}
	if got.ProjectID != nil {
		out.ProjectID = *got.ProjectID
	}
	if got.UserID != nil {
		out.UserID = *got.UserID
	}
	return out, nil
}

// PutConsumerAllocations replaces a consumer's allocations (an empty
// Allocations map removes them). The body must carry the consumer
// generation read before (nil for a new consumer); a stale one matches
// ErrGenerationConflict and, as in Nova, is the caller's to resolve.
func (c *Client) PutConsumerAllocations(ctx context.Context, consumer string, a ConsumerAllocations) error {
	if a.Allocations == nil {
		a.Allocations = map[string]ProviderAllocation{}
	}
	// Generations inside allocations are read-only in PUT bodies, which
	// allocations.UpdateOpts leaves out.
	opts := allocations.UpdateOpts{Allocations: make(map[string]allocations.ProviderAllocationsOpts, len(a.Allocations)),
		ProjectID: a.ProjectID, UserID: a.UserID}
	for rp, pa := range a.Allocations {
		res := make(map[string]int, len(pa.Resources))
		for rc, n := range pa.Resources {
			res[rc] = int(n)
		}
		opts.Allocations[rp] = allocations.ProviderAllocationsOpts{Resources: res}
	}
	if a.ConsumerGeneration != nil {
		g := int(*a.ConsumerGeneration)
		opts.ConsumerGeneration = &g
	}
	err := allocations.Update(ctx, c.service(ctx, mvConsumerAllocation), consumer, opts).ExtractErr()
	if err != nil {
		return classify("put allocations of consumer "+consumer, err)
	}
	return nil
}

// DeleteConsumerAllocations removes all of a consumer's allocations
// without a generation check; a consumer with none is not an error.
func (c *Client) DeleteConsumerAllocations(ctx context.Context, consumer string) error {
	err := allocations.Delete(ctx, c.service(ctx, noVersion), consumer).ExtractErr()
	if err == nil {
		return nil
	}
	if err = classify("delete allocations of consumer "+consumer, err); errors.Is(err, ErrNotFound) {
		return nil
	}
	return err
}

// GetProviderAllocations reads every allocation against a provider, keyed
// by consumer: consumer -> resource class -> amount.
func (c *Client) GetProviderAllocations(ctx context.Context, uuid string) (map[string]map[string]int64, int64, error) {
	out, err := resourceproviders.GetAllocations(ctx, c.service(ctx, noVersion), uuid).Extract()
	if err != nil {
		return nil, 0, classify("get allocations on provider "+uuid, err)
	}
	res := make(map[string]map[string]int64, len(out.Allocations))
	for consumer, a := range out.Allocations {
		res[consumer] = toInt64(a.Resources)
	}
	return res, int64(out.ResourceProviderGeneration), nil
}

// toInt64 converts gophercloud's amounts (int, 64 bits on every platform
// novabsd builds for) to this package's.
func toInt64(m map[string]int) map[string]int64 {
	out := make(map[string]int64, len(m))
	for k, v := range m {
		out[k] = int64(v)
	}
	return out
}

// MoveAllocations gives target the allocations source holds and leaves source with none, in one POST
// /allocations (1.28) so no moment exists where neither or both hold them: Nova's move_allocations, with which
// a failed move hands the allocations a migration holds back to its instance. The target's own allocations
// are replaced, as Nova's are. A source with no allocations moves nothing and reports false. A consumer
// generation conflict (another writer in between) is retried from a fresh read, three times as Nova does.
func (c *Client) MoveAllocations(ctx context.Context, source, target string) (bool, error) {
	var err error
	for attempt := 0; attempt < 3; attempt++ {
		var src, dst *ConsumerAllocations
		if src, err = c.GetConsumerAllocations(ctx, source); err != nil {
			return false, err
		}
		if len(src.Allocations) == 0 {
			return false, nil
		}
		if dst, err = c.GetConsumerAllocations(ctx, target); err != nil {
			return false, err
		}
		body := map[string]any{
			source: moveEntry(map[string]ProviderAllocation{}, src, src.ConsumerGeneration),
			target: moveEntry(src.Allocations, src, dst.ConsumerGeneration),
		}
		_, err = c.call(ctx, "move allocations of "+source+" to "+target, http.MethodPost, "allocations",
			mvConsumerAllocation, body, nil, http.StatusNoContent)
		if !errors.Is(err, ErrGenerationConflict) {
			break
		}
	}
	return err == nil, err
}

// moveEntry is one consumer's part of a POST /allocations body; project and user stay the source's, as both
// consumers of a move belong to the same server.
func moveEntry(allocs map[string]ProviderAllocation, owner *ConsumerAllocations, gen *int64) map[string]any {
	res := make(map[string]any, len(allocs))
	for rp, a := range allocs {
		res[rp] = map[string]any{"resources": a.Resources}
	}
	return map[string]any{"allocations": res, "project_id": owner.ProjectID, "user_id": owner.UserID,
		"consumer_generation": gen}
}
