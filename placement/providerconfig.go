package placement

import (
	"fmt"
	"math"
	"regexp"
	"sort"
	"strings"
)

// ComputeNodeID is the provider config identification that means "every
// compute node root provider not named explicitly".
const ComputeNodeID = "$COMPUTE_NODE"

// ProviderConfigFile is one `[compute] provider_config_location` YAML file
// after parsing (ReadProviderConfigDir reads them).
type ProviderConfigFile struct {
	// Source is the file's base name, used in messages.
	Source string
	// SchemaVersion is meta.schema_version, "1.<minor>".
	SchemaVersion string
	Providers     []ProviderConfigEntry
	// Unused are messages about keys the schema lets through (so that newer
	// minor versions can add them) but that Nova does not use.
	Unused []string
}

// ProviderConfigEntry is one providers[] item.
type ProviderConfigEntry struct {
	// UUID (a UUID or ComputeNodeID) or Name identifies the provider;
	// exactly one must be set.
	UUID string
	Name string
	// Inventories are inventories.additional, keyed by CUSTOM_* class.
	Inventories map[string]CustomInventory
	// Traits are traits.additional, CUSTOM_* only.
	Traits []string
}

// CustomInventory is an inventory from a provider config: only Total is
// required; the rest default as Placement defaults them.
type CustomInventory struct {
	Total           int64
	Reserved        *int64
	MinUnit         *int64
	MaxUnit         *int64
	StepSize        *int64
	AllocationRatio *float64
}

// maxInventoryInt is Placement's default max_unit and the largest integer
// its schema accepts.
const maxInventoryInt = 2147483647

// Inventory fills the omitted fields with Placement's defaults
// (placement/handlers/inventory.py INVENTORY_DEFAULTS).
func (c CustomInventory) Inventory() Inventory {
	inv := Inventory{Total: c.Total, MinUnit: 1, MaxUnit: maxInventoryInt, StepSize: 1, AllocationRatio: 1.0}
	if c.Reserved != nil {
		inv.Reserved = *c.Reserved
	}
	if c.MinUnit != nil {
		inv.MinUnit = *c.MinUnit
	}
	if c.MaxUnit != nil {
		inv.MaxUnit = *c.MaxUnit
	}
	if c.StepSize != nil {
		inv.StepSize = *c.StepSize
	}
	if c.AllocationRatio != nil {
		inv.AllocationRatio = *c.AllocationRatio
	}
	return inv
}

var (
	schemaVersionRE = regexp.MustCompile(`^1\.([0-9]|[1-9][0-9]+)$`)
	uuidRE          = regexp.MustCompile(`^[0-9A-Fa-f]{8}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{12}$`)
	customNameRE    = regexp.MustCompile(`^CUSTOM_[A-Z0-9_]+$`)
)

// ProviderConfigs are validated provider config entries, keyed by the UUID
// or name that identifies them.
type ProviderConfigs struct {
	entries map[string]providerConfig
	// Ignored names entries with neither inventories nor traits, which
	// Nova skips with a warning; compute/ logs them.
	Ignored []string
	// NewerMinor names files whose schema minor version is above 1.0, which
	// Nova accepts with a warning.
	NewerMinor []string
	// Unused tells of keys the files hold that nothing uses: Nova ignores
	// them silently, compute/ warns, since a misspelt key is the usual
	// cause.
	Unused []string
	// Files are the files read, in order (ReadProviderConfigDir).
	Files []string
}

type providerConfig struct {
	ProviderConfigEntry
	source string
}

// LoadProviderConfigs validates parsed files as nova/compute/provider_config.py
// does: schema major version 1, exactly one of uuid (UUID or $COMPUTE_NODE)
// or name (1-200 characters), only CUSTOM_* resource classes and traits,
// and no provider defined twice across files. Inventory values must also be
// within what Placement accepts.
func LoadProviderConfigs(files []ProviderConfigFile) (*ProviderConfigs, error) {
	pc := &ProviderConfigs{entries: map[string]providerConfig{}}
	for _, f := range files {
		field := "provider config " + f.Source
		if err := checkSchemaVersion(f.SchemaVersion); err != nil {
			return nil, &ConfigError{Field: field, Err: err}
		}
		if f.SchemaVersion != "1.0" {
			pc.NewerMinor = append(pc.NewerMinor, f.Source)
		}
		pc.Unused = append(pc.Unused, f.Unused...)
		for i, p := range f.Providers {
			id, err := p.validate()
			if err != nil {
				return nil, &ConfigError{Field: fmt.Sprintf("%s providers[%d]", field, i), Err: err}
			}
			if len(p.Inventories) == 0 && len(p.Traits) == 0 {
				pc.Ignored = append(pc.Ignored, fmt.Sprintf("%s in %s", id, f.Source))
				continue
			}
			if prev, dup := pc.entries[id]; dup {
				return nil, &ConfigError{Field: field, Err: fmt.Errorf(
					"provider %s has multiple definitions in source file(s): %s, %s", id, prev.source, f.Source)}
			}
			pc.entries[id] = providerConfig{ProviderConfigEntry: p, source: f.Source}
		}
	}
	return pc, nil
}

// checkSchemaVersion accepts the versions Nova parses: major 1, any minor.
func checkSchemaVersion(v string) error {
	if !schemaVersionRE.MatchString(v) {
		return fmt.Errorf("meta.schema_version %q is not a supported version (want 1.<minor>, e.g. '1.0')", v)
	}
	return nil
}

// maxAllocationRatio is the largest allocation_ratio Placement stores
// (SQL_SP_FLOAT_MAX).
const maxAllocationRatio = 3.40282e+38

// check applies Placement's bounds for inventory fields
// (placement/schemas/inventory.py): Nova passes the values on unchecked and
// every inventory update then fails, so they are refused at load instead.
func (c CustomInventory) check(rc string) error {
	fields := []struct {
		name string
		v    *int64
		min  int64
	}{{"total", &c.Total, 1}, {"reserved", c.Reserved, 0}, {"min_unit", c.MinUnit, 1},
		{"max_unit", c.MaxUnit, 1}, {"step_size", c.StepSize, 1}}
	for _, f := range fields {
		if f.v != nil && (*f.v < f.min || *f.v > maxInventoryInt) {
			return fmt.Errorf("inventory %s: %s %d is outside what Placement accepts (%d to %d)",
				rc, f.name, *f.v, f.min, maxInventoryInt)
		}
	}
	if r := c.AllocationRatio; r != nil && (math.IsNaN(*r) || math.IsInf(*r, 0) || *r > maxAllocationRatio) {
		return fmt.Errorf("inventory %s: allocation_ratio %v is outside what Placement accepts (at most %g)",
			rc, *r, maxAllocationRatio)
	}
	return nil
}

func (p ProviderConfigEntry) validate() (string, error) {
	switch {
	case p.UUID != "" && p.Name != "":
		return "", fmt.Errorf("identification has both uuid %q and name %q; give one", p.UUID, p.Name)
	case p.UUID == "" && p.Name == "":
		return "", fmt.Errorf("identification needs a uuid or a name")
	case p.UUID != "" && p.UUID != ComputeNodeID && !uuidRE.MatchString(p.UUID):
		return "", fmt.Errorf("identification uuid %q is neither a UUID nor %s", p.UUID, ComputeNodeID)
	case p.UUID == "" && len(p.Name) > 200:
		return "", fmt.Errorf("identification name is %d characters long (at most 200)", len(p.Name))
	}
	var bad []string
	for rc := range p.Inventories {
		if !customNameRE.MatchString(rc) || len(rc) > 255 {
			bad = append(bad, rc)
		}
	}
	if len(bad) > 0 {
		sort.Strings(bad)
		return "", fmt.Errorf("invalid resource class, only custom resource classes are allowed: %s", strings.Join(bad, ", "))
	}
	rcs := make([]string, 0, len(p.Inventories))
	for rc := range p.Inventories {
		rcs = append(rcs, rc)
	}
	sort.Strings(rcs)
	for _, rc := range rcs {
		if err := p.Inventories[rc].check(rc); err != nil {
			return "", err
		}
	}
	for _, t := range p.Traits {
		if !customNameRE.MatchString(t) || len(t) > 255 {
			bad = append(bad, t)
		}
	}
	if len(bad) > 0 {
		sort.Strings(bad)
		return "", fmt.Errorf("invalid traits, only custom traits are allowed: %s", strings.Join(bad, ", "))
	}
	id := p.UUID
	if id == "" {
		id = p.Name
	}
	return id, nil
}

// For returns the entry that applies to a provider: one naming its UUID or
// its name wins over $COMPUTE_NODE (which applies only to compute node
// roots). nil when none applies. Identifying one provider by both UUID and
// name is an error, as in Nova.
func (pc *ProviderConfigs) For(uuid, name string, computeNode bool) (*ProviderConfigEntry, string, error) {
	if pc == nil {
		return nil, "", nil
	}
	byUUID, okU := pc.entries[uuid]
	byName, okN := pc.entries[name]
	switch {
	case okU && okN && uuid != name:
		return nil, "", &ConfigError{Field: "provider config " + byName.source, Err: fmt.Errorf(
			"conflicts with provider config %s: the same provider is specified using both name %q and uuid %q",
			byUUID.source, name, uuid)}
	case okU:
		return &byUUID.ProviderConfigEntry, byUUID.source, nil
	case okN:
		return &byName.ProviderConfigEntry, byName.source, nil
	}
	if e, ok := pc.entries[ComputeNodeID]; ok && computeNode {
		return &e.ProviderConfigEntry, e.source, nil
	}
	return nil, "", nil
}

// Unmatched lists the entries that name a provider other than the compute
// node's root (uuid, name): a compute with one node never has such a
// provider, and Nova warns that each is ignored.
func (pc *ProviderConfigs) Unmatched(uuid, name string) []string {
	if pc == nil {
		return nil
	}
	var out []string
	for id, e := range pc.entries {
		if id != ComputeNodeID && id != uuid && id != name {
			out = append(out, fmt.Sprintf("%s in %s", id, e.source))
		}
	}
	sort.Strings(out)
	return out
}

// Apply merges the entry for a provider into the inventory and traits the
// compute computed for it, as ResourceTracker._merge_provider_configs: the
// entry's traits are added, its inventories added, and an inventory of a
// class the driver already reports is an error naming the file. ownerNova
// adds OWNER_NOVA to a provider an entry touches (2026.2).
func (pc *ProviderConfigs) Apply(uuid, name string, computeNode, ownerNova bool, inv Inventories, traits []string) (Inventories, []string, error) {
	e, source, err := pc.For(uuid, name, computeNode)
	if err != nil || e == nil {
		return inv, traits, err
	}
	var clash []string
	for rc := range e.Inventories {
		if _, ok := inv[rc]; ok {
			clash = append(clash, rc)
		}
	}
	if len(clash) > 0 {
		sort.Strings(clash)
		return nil, nil, &ConfigError{Field: "provider config " + source, Err: fmt.Errorf(
			"attempts to define an inventory that is owned by the virt driver: %s", strings.Join(clash, ","))}
	}
	merged := make(Inventories, len(inv)+len(e.Inventories))
	for rc, v := range inv {
		merged[rc] = v
	}
	for rc, v := range e.Inventories {
		merged[rc] = v.Inventory()
	}
	set := map[string]bool{}
	for _, t := range traits {
		set[t] = true
	}
	for _, t := range e.Traits {
		set[t] = true
	}
	if ownerNova {
		set[TraitOwnerNova] = true
	}
	out := make([]string, 0, len(set))
	for t := range set {
		out = append(out, t)
	}
	sort.Strings(out)
	return merged, out, nil
}
