package placement

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sort"
	"strings"
	"sync"

	"github.com/google/uuid"
)

// ChildProvider is a provider under the compute node's root that this service owns: one host device offered
// for passthrough. Its name is ChildName(root name, device id), as Nova names its PCI providers
// "<hostname>_<address>"; Sync treats every direct child of the root whose name starts with "<root name>_" as
// its own.
type ChildProvider struct {
	// UUID must stay the same across restarts so allocations made against the provider keep pointing at the
	// device: ChildUUID(root uuid, device id).
	UUID string
	Name string
	// Inventory maps resource class -> total; each record gets reserved 0, min_unit 1, max_unit total,
	// step_size 1 and allocation_ratio 1.0 (a device is not shared).
	Inventory map[string]int64
	// Traits are the provider's whole trait set: CUSTOM_* ones are created when missing, standard ones this
	// Placement does not know are left out (and reported), as for the root.
	Traits []string
}

// ChildState is a child provider as Sync left it.
type ChildState struct {
	Provider    ResourceProvider
	Inventories Inventories
	Traits      []string
	// UnknownTraits are standard traits asked for that this Placement does not know (left out of Traits).
	UnknownTraits    []string
	Created          bool
	Renamed          bool
	InventoryChanged bool
	TraitsChanged    bool
}

// ErrInvalidChild: a ChildProvider in a SyncRequest cannot be written as given.
var ErrInvalidChild = errors.New("placement: invalid child provider")

// childNamespace is the uuid v5 namespace of ChildUUID. It must never change: the uuids derived from it are
// what allocations in Placement refer to.
var childNamespace = uuid.MustParse("3f0b6c2e-8d41-4e57-9a1c-6b2f0d7e5a93")

// ChildUUID is the uuid of the child provider for a device of the node whose root provider is rootUUID: a
// uuid v5 of both, so a restarted service (or a new Client) finds the providers it made before.
func ChildUUID(rootUUID, deviceID string) string {
	if u, err := uuid.Parse(rootUUID); err == nil {
		rootUUID = u.String() // Placement answers with lowercase uuids; accept either spelling
	}
	return uuid.NewSHA1(childNamespace, []byte(rootUUID+"/"+deviceID)).String()
}

// ChildName is the name of the child provider for a device of the node whose root provider is named
// rootName ("<root name>_<device id>"), the prefix by which Sync recognises the children it owns.
func ChildName(rootName, deviceID string) string { return rootName + "_" + deviceID }

// maxProviderName is the length Placement allows a provider name.
const maxProviderName = 200

// childCache remembers, per root provider, that its tree held none of our children after the last sync, so
// a node without passthrough devices does not list its tree on every periodic update. A new Client (a
// restart) knows nothing and reads the tree once, which is how children left from before are found.
type childCache struct {
	mu        sync.Mutex
	childless map[string]bool
}

func (cc *childCache) isChildless(root string) bool {
	cc.mu.Lock()
	defer cc.mu.Unlock()
	return cc.childless[root]
}

func (cc *childCache) set(root string, childless bool) {
	cc.mu.Lock()
	defer cc.mu.Unlock()
	if cc.childless == nil {
		cc.childless = map[string]bool{}
	}
	cc.childless[root] = childless
}

// validateChildren checks the children before anything is written, so a bad one leaves Placement as it was.
func validateChildren(req SyncRequest) error {
	prefix := req.Name + "_"
	seenUUID := map[string]bool{strings.ToLower(req.UUID): true}
	seenName := map[string]bool{}
	for _, ch := range req.Children {
		bad := func(format string, args ...any) error {
			return fmt.Errorf("%w %q (uuid %s): %s", ErrInvalidChild, ch.Name, ch.UUID, fmt.Sprintf(format, args...))
		}
		switch {
		case !uuidRE.MatchString(ch.UUID):
			return bad("the uuid is not a uuid")
		case seenUUID[strings.ToLower(ch.UUID)]:
			return bad("the uuid is the root's or another child's")
		case !strings.HasPrefix(ch.Name, prefix) || len(ch.Name) == len(prefix):
			return bad("the name must be %q followed by the device id", prefix)
		case len(ch.Name) > maxProviderName:
			return bad("the name is longer than Placement's %d characters", maxProviderName)
		case seenName[ch.Name]:
			return bad("another child has the same name")
		case len(ch.Inventory) == 0:
			return bad("no inventory")
		}
		seenUUID[strings.ToLower(ch.UUID)], seenName[ch.Name] = true, true
		for rc, total := range ch.Inventory {
			if !rcOrTraitRE.MatchString(rc) {
				return bad("resource class %q is not a resource class name", rc)
			}
			if total < 1 || total > maxInventoryInt {
				return bad("%s total %d is outside 1..%d", rc, total, maxInventoryInt)
			}
		}
		for _, t := range ch.Traits {
			if !rcOrTraitRE.MatchString(t) || (isCustom(t) && !customNameRE.MatchString(t)) {
				return bad("trait %q is not a trait name", t)
			}
		}
	}
	return nil
}

// childInventories is what a ChildProvider's inventory becomes in Placement.
func childInventories(ch ChildProvider) Inventories {
	inv := make(Inventories, len(ch.Inventory))
	for rc, total := range ch.Inventory {
		inv[rc] = Inventory{Total: total, Reserved: 0, MinUnit: 1, MaxUnit: total, StepSize: 1, AllocationRatio: 1.0}
	}
	return inv
}

// syncChildren brings the root's children in line with req.Children after the root itself was synced: owned
// children no longer wanted are deleted (or, while allocations hold them, kept full and reported), then each
// wanted one is created, renamed, and given its inventory and traits where they differ. rootCreated says the
// root was created by this sync (so it has no children to read).
func (c *Client) syncChildren(ctx context.Context, req SyncRequest, root *ResourceProvider, rootCreated bool,
	res *SyncResult) error {
	if len(req.Children) == 0 {
		if rootCreated {
			c.children.set(root.UUID, true)
			return nil
		}
		if c.children.isChildless(root.UUID) {
			return nil
		}
	}
	var tree []ResourceProvider
	if !rootCreated {
		var err error
		if tree, err = c.ProvidersInTree(ctx, root.UUID); err != nil {
			return err
		}
	}
	wanted := make(map[string]bool, len(req.Children))
	for _, ch := range req.Children {
		wanted[strings.ToLower(ch.UUID)] = true
	}
	inTree := make(map[string]ResourceProvider, len(tree))
	var unwanted []ResourceProvider
	prefix := req.Name + "_"
	for _, p := range tree {
		inTree[strings.ToLower(p.UUID)] = p
		// Only direct children named with our prefix are ours: Neutron's, Cyborg's or an operator's
		// providers in the same tree are left alone.
		if p.ParentProviderUUID == root.UUID && strings.HasPrefix(p.Name, prefix) && !wanted[strings.ToLower(p.UUID)] {
			unwanted = append(unwanted, p)
		}
	}
	sort.Slice(unwanted, func(i, j int) bool { return unwanted[i].Name < unwanted[j].Name })

	// Deletions first, so a name they free can be taken by a wanted child.
	for _, p := range unwanted {
		retired, err := c.retireChild(ctx, p)
		if err != nil {
			return err
		}
		if retired == nil {
			res.DeletedChildren = append(res.DeletedChildren, p)
			continue
		}
		res.RetiredInUse = append(res.RetiredInUse, *retired)
	}

	for _, ch := range req.Children {
		st, err := c.syncChild(ctx, ch, root, inTree)
		if err != nil {
			return err
		}
		res.Children = append(res.Children, *st)
	}
	c.children.set(root.UUID, len(res.Children) == 0 && len(res.RetiredInUse) == 0)
	return nil
}

// retireChild deletes an owned child no longer wanted. Placement refuses (409) while allocations hold it
// (an instance still has the device) or while it has children of its own: then it is kept with reserved =
// total on every class, so nothing new is scheduled to it, and returned; a later sync tries the delete again.
func (c *Client) retireChild(ctx context.Context, p ResourceProvider) (*ChildState, error) {
	err := c.DeleteProvider(ctx, p.UUID)
	if err == nil {
		return nil, nil
	}
	if !errors.Is(err, ErrConflict) {
		return nil, err
	}
	inv, gen, err := c.GetInventories(ctx, p.UUID)
	if err != nil {
		return nil, err
	}
	full := make(Inventories, len(inv))
	for rc, i := range inv {
		i.Reserved = i.Total
		full[rc] = i
	}
	st := &ChildState{Provider: p, Inventories: full}
	if !full.Equal(inv) {
		if gen, err = c.SetInventories(ctx, p.UUID, gen, full); err != nil {
			return nil, err
		}
		st.InventoryChanged = true
	}
	st.Provider.Generation = gen
	if st.Traits, _, err = c.GetTraits(ctx, p.UUID); err != nil {
		return nil, err
	}
	return st, nil
}

// syncChild makes one wanted child as asked: created under the root when missing, renamed when its name
// differs, its inventory and traits written when they differ. A stale generation is returned as such for
// Sync to start again.
func (c *Client) syncChild(ctx context.Context, ch ChildProvider, root *ResourceProvider,
	inTree map[string]ResourceProvider) (*ChildState, error) {
	st := &ChildState{}
	var curInv Inventories
	var curTraits []string
	p, exists := inTree[strings.ToLower(ch.UUID)]
	if !exists {
		rp, created, err := c.createProvider(ctx, ch.UUID, ch.Name, root.UUID)
		if err != nil {
			return nil, fmt.Errorf("placement: child provider %q of %s: %w", ch.Name, root.UUID, err)
		}
		p, st.Created = *rp, created
	}
	if p.ParentProviderUUID != root.UUID {
		// The uuid is taken outside this node's tree (or deeper in it): writing to it would offer this
		// node's device from elsewhere.
		return nil, fmt.Errorf("%w %q: provider %s exists with parent %q, not the root %s", ErrInvalidChild,
			ch.Name, p.UUID, p.ParentProviderUUID, root.UUID)
	}
	if p.Name != ch.Name {
		rp, err := c.RenameProvider(ctx, p.UUID, ch.Name)
		if err != nil {
			return nil, fmt.Errorf("placement: child provider %q of %s: %w", ch.Name, root.UUID, err)
		}
		p.Name, st.Renamed = rp.Name, true
	}
	gen := p.Generation
	// Every inventory or trait write moves the generation: one still at 0 has neither.
	if gen != 0 {
		var err error
		if curInv, gen, err = c.GetInventories(ctx, p.UUID); err != nil {
			return nil, err
		}
		var tgen int64
		if curTraits, tgen, err = c.GetTraits(ctx, p.UUID); err != nil {
			return nil, err
		}
		if tgen != gen {
			return nil, &APIError{Op: "read provider " + p.UUID, Status: 409, Code: codeConcurrentUpdate,
				Detail: fmt.Sprintf("generation moved from %d to %d while reading", gen, tgen)}
		}
	}

	inv := childInventories(ch)
	traits := dedupSorted(ch.Traits)
	var err error
	if traits, st.UnknownTraits, err = c.FilterKnownTraits(ctx, traits); err != nil {
		return nil, err
	}
	if !inv.Equal(curInv) {
		if gen, err = c.setInventoriesWithClasses(ctx, p.UUID, gen, inv); err != nil {
			return nil, fmt.Errorf("placement: child provider %q: %w", ch.Name, err)
		}
		st.InventoryChanged = true
	}
	if !SameTraits(traits, curTraits) {
		if gen, err = c.SetTraits(ctx, p.UUID, gen, traits); err != nil {
			return nil, fmt.Errorf("placement: child provider %q: %w", ch.Name, err)
		}
		st.TraitsChanged = true
	}
	p.Generation = gen
	st.Provider, st.Inventories, st.Traits = p, inv, traits
	return st, nil
}

// dedupSorted returns names sorted without repeats (a repeat would make SameTraits see a change every time).
func dedupSorted(names []string) []string {
	out := append([]string(nil), names...)
	sort.Strings(out)
	return slices.Compact(out)
}
