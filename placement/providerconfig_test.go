package placement

import (
	"errors"
	"reflect"
	"strings"
	"testing"
)

const otherUUID = "2c1d6f1e-9a7b-4c3d-8e2f-1a0b9c8d7e6f"

func TestLoadProviderConfigsRejects(t *testing.T) {
	tests := []struct {
		name  string
		files []ProviderConfigFile
		want  string
	}{
		{"schema 2", []ProviderConfigFile{{Source: "a.yaml", SchemaVersion: "2.0"}}, "schema_version"},
		{"schema junk", []ProviderConfigFile{{Source: "a.yaml", SchemaVersion: "1.x"}}, "schema_version"},
		{"both ids", []ProviderConfigFile{{Source: "a.yaml", SchemaVersion: "1.0",
			Providers: []ProviderConfigEntry{{UUID: otherUUID, Name: "n", Traits: []string{"CUSTOM_A"}}}}}, "both uuid"},
		{"no id", []ProviderConfigFile{{Source: "a.yaml", SchemaVersion: "1.0",
			Providers: []ProviderConfigEntry{{Traits: []string{"CUSTOM_A"}}}}}, "needs a uuid or a name"},
		{"bad uuid", []ProviderConfigFile{{Source: "a.yaml", SchemaVersion: "1.0",
			Providers: []ProviderConfigEntry{{UUID: "not-a-uuid", Traits: []string{"CUSTOM_A"}}}}}, "neither a UUID"},
		{"standard trait", []ProviderConfigFile{{Source: "a.yaml", SchemaVersion: "1.0",
			Providers: []ProviderConfigEntry{{UUID: ComputeNodeID, Traits: []string{"HW_CPU_X86_AVX"}}}}}, "only custom traits"},
		{"standard class", []ProviderConfigFile{{Source: "a.yaml", SchemaVersion: "1.0",
			Providers: []ProviderConfigEntry{{UUID: ComputeNodeID, Inventories: map[string]CustomInventory{VCPU: {Total: 1}}}}}},
			"only custom resource classes"},
		{"defined twice", []ProviderConfigFile{
			{Source: "a.yaml", SchemaVersion: "1.0", Providers: []ProviderConfigEntry{{Name: "cn1", Traits: []string{"CUSTOM_A"}}}},
			{Source: "b.yaml", SchemaVersion: "1.0", Providers: []ProviderConfigEntry{{Name: "cn1", Traits: []string{"CUSTOM_B"}}}}},
			"multiple definitions in source file(s): a.yaml, b.yaml"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := LoadProviderConfigs(tt.files)
			var ce *ConfigError
			if !errors.As(err, &ce) || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("error %v, want ConfigError mentioning %q", err, tt.want)
			}
		})
	}
}

func TestProviderConfigApply(t *testing.T) {
	pcs, err := LoadProviderConfigs([]ProviderConfigFile{
		{Source: "10-all.yaml", SchemaVersion: "1.0", Providers: []ProviderConfigEntry{
			{UUID: ComputeNodeID, Traits: []string{"CUSTOM_ALL"},
				Inventories: map[string]CustomInventory{"CUSTOM_SLOT": {Total: 2}}},
			{Name: "empty"},
		}},
		{Source: "20-cn2.yaml", SchemaVersion: "1.3", Providers: []ProviderConfigEntry{
			{Name: "cn2", Traits: []string{"CUSTOM_CN2"}},
			{UUID: otherUUID, Inventories: map[string]CustomInventory{"CUSTOM_X": {Total: 1}}},
		}},
	})
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(pcs.Ignored, []string{"empty in 10-all.yaml"}) || !reflect.DeepEqual(pcs.NewerMinor, []string{"20-cn2.yaml"}) {
		t.Errorf("ignored %q newer %q", pcs.Ignored, pcs.NewerMinor)
	}
	base := Inventories{VCPU: {Total: 4, MinUnit: 1, MaxUnit: 4, StepSize: 1, AllocationRatio: 4}}

	inv, traits, err := pcs.Apply(nodeUUID, "cn1", true, false, base, []string{"COMPUTE_NODE"})
	if err != nil {
		t.Fatal(err)
	}
	wantSlot := Inventory{Total: 2, MinUnit: 1, MaxUnit: maxInventoryInt, StepSize: 1, AllocationRatio: 1}
	if inv["CUSTOM_SLOT"] != wantSlot || inv[VCPU] != base[VCPU] || !reflect.DeepEqual(traits, []string{"COMPUTE_NODE", "CUSTOM_ALL"}) {
		t.Errorf("$COMPUTE_NODE entry: %+v %q", inv, traits)
	}

	// An explicit name wins over $COMPUTE_NODE; 2026.2 adds OWNER_NOVA.
	inv, traits, err = pcs.Apply(nodeUUID, "cn2", true, true, base, nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := inv["CUSTOM_SLOT"]; ok || !reflect.DeepEqual(traits, []string{"CUSTOM_CN2", "OWNER_NOVA"}) {
		t.Errorf("named entry: %+v %q", inv, traits)
	}

	// The same provider by uuid and by name is an error.
	if _, _, err := pcs.Apply(otherUUID, "cn2", true, false, base, nil); err == nil ||
		!strings.Contains(err.Error(), "both name") {
		t.Errorf("uuid+name: %v", err)
	}

	// A custom class the driver already reports is refused, naming the file.
	owned := Inventories{"CUSTOM_SLOT": {Total: 1}}
	if _, _, err := pcs.Apply(nodeUUID, "cn1", true, false, owned, nil); err == nil ||
		!strings.Contains(err.Error(), "10-all.yaml") || !strings.Contains(err.Error(), "CUSTOM_SLOT") {
		t.Errorf("owned inventory: %v", err)
	}

	// Nil configs change nothing.
	var none *ProviderConfigs
	inv, traits, err = none.Apply(nodeUUID, "cn1", true, false, base, []string{"A"})
	if err != nil || !inv.Equal(base) || !reflect.DeepEqual(traits, []string{"A"}) {
		t.Errorf("nil configs: %+v %q %v", inv, traits, err)
	}
}
