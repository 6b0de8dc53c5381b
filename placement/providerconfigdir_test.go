package placement

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
)

// writeConfigDir makes a directory holding files (name to content).
func writeConfigDir(t *testing.T, files map[string]string) string {
	t.Helper()
	dir := t.TempDir()
	for name, body := range files {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

func i64(v int64) *int64     { return &v }
func f64(v float64) *float64 { return &v }

func TestReadProviderConfigDir(t *testing.T) {
	dir := writeConfigDir(t, map[string]string{
		"20-named.yaml": `meta:
  schema_version: '1.2'
  owner: ops          # not used by Nova
providers:
- identification:
    name: cn2
  traits:
    additional: [CUSTOM_CN2, CUSTOM_CN2]
- identification:
    uuid: ` + otherUUID + `
  inventories:
    additional:
      - CUSTOM_A: {total: 4.0, reserved: 1, min_unit: 1, max_unit: 2, step_size: 1, allocation_ratio: 2}
        CUSTOM_B:
          total: 1
      - CUSTOM_C: {total: 3, allocation_ratio: 1.5}
  comment: rack 4
`,
		"10-all.yaml": novaSample,
		"30-empty.yaml": `meta: {schema_version: "1.0"}
providers:
  - identification: {name: nothing}
    traits: {}
`,
		".hidden.yaml":  "not: [read",
		"README":        "not read either",
		"old.yaml.orig": "nor this",
		"40-none.yaml":  "meta: {schema_version: '1.0'}\n",
	})
	pc, err := ReadProviderConfigDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var files []string
	for _, f := range pc.Files {
		files = append(files, filepath.Base(f))
	}
	if want := []string{"10-all.yaml", "20-named.yaml", "30-empty.yaml", "40-none.yaml"}; !slices.Equal(files, want) {
		t.Errorf("files %q, want %q (sorted, *.yaml only, no hidden ones)", files, want)
	}
	if !slices.Equal(pc.NewerMinor, []string{"20-named.yaml"}) || !slices.Equal(pc.Ignored, []string{"nothing in 30-empty.yaml"}) {
		t.Errorf("newer minor %q, ignored %q", pc.NewerMinor, pc.Ignored)
	}
	if len(pc.Unused) != 2 || !strings.Contains(pc.Unused[0], "20-named.yaml line 3: meta.owner is not a key") ||
		!strings.Contains(pc.Unused[1], "20-named.yaml line 17: providers[1].comment is not a key") {
		t.Errorf("unused %q", pc.Unused)
	}

	want := map[string]ProviderConfigEntry{
		ComputeNodeID: {UUID: ComputeNodeID, Traits: []string{"CUSTOM_EXAMPLE_TRAIT"},
			Inventories: map[string]CustomInventory{"CUSTOM_EXAMPLE_RESOURCE_CLASS": {Total: 100, Reserved: i64(0),
				MinUnit: i64(1), MaxUnit: i64(10), StepSize: i64(1), AllocationRatio: f64(1)}}},
		"cn2": {Name: "cn2", Traits: []string{"CUSTOM_CN2", "CUSTOM_CN2"}},
		otherUUID: {UUID: otherUUID, Inventories: map[string]CustomInventory{
			"CUSTOM_A": {Total: 4, Reserved: i64(1), MinUnit: i64(1), MaxUnit: i64(2), StepSize: i64(1), AllocationRatio: f64(2)},
			"CUSTOM_B": {Total: 1},
			"CUSTOM_C": {Total: 3, AllocationRatio: f64(1.5)}}},
	}
	if len(pc.entries) != len(want) {
		t.Errorf("%d entries, want %d", len(pc.entries), len(want))
	}
	for id, w := range want {
		if got := pc.entries[id].ProviderConfigEntry; !reflect.DeepEqual(got, w) {
			t.Errorf("%s:\n got %+v\nwant %+v", id, got, w)
		}
	}
}

// TestReadProviderConfigDirAnchors reads a file sharing values through anchors, aliases and a merge key, which
// safe_load reads and Nova therefore accepts.
func TestReadProviderConfigDirAnchors(t *testing.T) {
	dir := writeConfigDir(t, map[string]string{"a.yaml": `meta: {schema_version: '1.0'}
x-defaults: &defaults {reserved: 0, allocation_ratio: 1.0}
providers:
  - identification: {name: a}
    inventories:
      additional:
        - CUSTOM_A: {<<: *defaults, total: 4}
    traits: &traits {additional: [CUSTOM_T]}
  - identification: {name: b}
    traits: *traits
`})
	pc, err := ReadProviderConfigDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]ProviderConfigEntry{
		"a": {Name: "a", Traits: []string{"CUSTOM_T"}, Inventories: map[string]CustomInventory{
			"CUSTOM_A": {Total: 4, Reserved: i64(0), AllocationRatio: f64(1)}}},
		"b": {Name: "b", Traits: []string{"CUSTOM_T"}},
	}
	for id, w := range want {
		if got := pc.entries[id].ProviderConfigEntry; !reflect.DeepEqual(got, w) {
			t.Errorf("%s:\n got %+v\nwant %+v", id, got, w)
		}
	}
	if len(pc.Unused) != 1 || !strings.Contains(pc.Unused[0], "a.yaml line 2: x-defaults is not a key") {
		t.Errorf("unused %q", pc.Unused)
	}
}

func TestReadProviderConfigDirMissing(t *testing.T) {
	pc, err := ReadProviderConfigDir(filepath.Join(t.TempDir(), "absent"))
	if err != nil || len(pc.Files) != 0 || len(pc.entries) != 0 {
		t.Fatalf("missing directory: %+v, %v; want no configs and no error, as in Nova", pc, err)
	}
	notDir := filepath.Join(t.TempDir(), "file")
	if err := os.WriteFile(notDir, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	var ce *ConfigError
	if _, err := ReadProviderConfigDir(notDir); !errors.As(err, &ce) || ce.Field != "provider_config_location" {
		t.Errorf("a file as the directory: %v, want a ConfigError", err)
	}
	dir := t.TempDir()
	if err := os.Mkdir(filepath.Join(dir, "sub.yaml"), 0o755); err != nil {
		t.Fatal(err)
	}
	if _, err := ReadProviderConfigDir(dir); !errors.As(err, &ce) || !strings.Contains(err.Error(), "sub.yaml") {
		t.Errorf("unreadable *.yaml: %v, want a ConfigError naming it", err)
	}
}

func TestReadProviderConfigDirRefuses(t *testing.T) {
	const head = "meta:\n  schema_version: '1.0'\nproviders:\n"
	inv := func(body string) string {
		return head + "  - identification: {name: n}\n    inventories:\n      additional:\n        - " + body + "\n"
	}
	tests := []struct {
		name  string
		files map[string]string
		want  string
	}{
		{"not YAML", map[string]string{"a.yaml": head + "  - identification: {name: n}\n   traits: {}\n"},
			"a.yaml line 5: did not find expected '-' indicator"},
		{"name that YAML 1.1 reads as a boolean", map[string]string{"a.yaml": head + "  - identification: {name: yes}\n"},
			"a.yaml line 4: providers[0].identification.name must be a string, not a boolean (yes)"},
		{"uuid that YAML 1.1 reads as an integer", map[string]string{"a.yaml": head + "  - identification:\n      uuid: 0x1F\n"},
			"a.yaml line 5: providers[0].identification.uuid must be a string, not an integer (0x1F)"},
		{"duplicate key", map[string]string{"a.yaml": head + "  - identification: {name: n}\n    traits: {additional: [CUSTOM_A]}\n" +
			"    traits: {additional: [CUSTOM_B]}\n"}, "a.yaml line 6: duplicate key \"traits\" (first on line 5)"},
		{"second document", map[string]string{"a.yaml": head + "---\n" + head}, "a.yaml line 4: a second document"},
		{"empty file", map[string]string{"a.yaml": "# nothing\n"}, "a.yaml line 1: the file is empty"},
		{"not a mapping", map[string]string{"a.yaml": "- a\n"}, "a.yaml line 1: the document must be a mapping, not a list"},
		{"no meta", map[string]string{"a.yaml": "providers: []\n"}, "no meta.schema_version"},
		{"meta not a mapping", map[string]string{"a.yaml": "meta: 1.0\n"}, "meta must be a mapping, not a float (1.0)"},
		{"no schema_version", map[string]string{"a.yaml": "meta: {}\n"}, "meta has no schema_version"},
		{"unquoted schema_version", map[string]string{"a.yaml": "meta:\n  schema_version: 1.0\n"},
			"a.yaml line 2: meta.schema_version must be a string such as '1.0', not a float (1.0) (quote it"},
		{"schema 2 before anything else", map[string]string{"a.yaml": "meta: {schema_version: '2.0'}\nproviders: 7\n"},
			"a.yaml line 1: meta.schema_version \"2.0\" is not a supported version"},
		{"reserved key", map[string]string{"a.yaml": "meta: {schema_version: '1.0'}\n__source_file: x\n"},
			"__source_file is reserved"},
		{"providers not a list", map[string]string{"a.yaml": head + "  identification: {name: n}\n"},
			"a.yaml line 4: providers must be a list, not a mapping"},
		{"providers null", map[string]string{"a.yaml": head}, "providers must be a list, not empty (null)"},
		{"provider not a mapping", map[string]string{"a.yaml": head + "  - n\n"}, "providers[0] must be a mapping"},
		{"no identification", map[string]string{"a.yaml": head + "  - traits: {additional: [CUSTOM_A]}\n"},
			"a.yaml line 4: providers[0] has no identification"},
		{"identification with both", map[string]string{"a.yaml": head + "  - identification: {name: n, uuid: " + otherUUID + "}\n"},
			"providers[0].identification must have exactly one of uuid or name, not 2 keys (name, uuid)"},
		{"unknown identification", map[string]string{"a.yaml": head + "  - identification: {hostname: n}\n"},
			"providers[0].identification.hostname is not a known identification"},
		{"numeric name", map[string]string{"a.yaml": head + "  - identification: {name: 42}\n"},
			"providers[0].identification.name must be a string, not an integer (42)"},
		{"empty uuid", map[string]string{"a.yaml": head + "  - identification: {uuid: ''}\n"},
			"providers[0].identification.uuid is empty"},
		{"bad uuid", map[string]string{"a.yaml": head + "  - identification: {uuid: nope}\n    traits: {additional: [CUSTOM_A]}\n"},
			"identification uuid \"nope\" is neither a UUID nor $COMPUTE_NODE"},
		{"inventories not a mapping", map[string]string{"a.yaml": head + "  - identification: {name: n}\n    inventories: [CUSTOM_A]\n"},
			"a.yaml line 5: providers[0].inventories must be a mapping, not a list"},
		{"additional not a list", map[string]string{"a.yaml": head + "  - identification: {name: n}\n    inventories: {additional: {CUSTOM_A: {total: 1}}}\n"},
			"providers[0].inventories.additional must be a list"},
		{"inventory item not a mapping", map[string]string{"a.yaml": inv("CUSTOM_A")},
			"providers[0].inventories.additional[0] must be a mapping, not the string \"CUSTOM_A\""},
		{"lower case class", map[string]string{"a.yaml": inv("custom_a: {total: 1}")},
			"a.yaml line 7: providers[0].inventories.additional[0]: resource class \"custom_a\" must be"},
		{"standard class", map[string]string{"a.yaml": inv("VCPU: {total: 1}")}, "only custom resource classes are allowed: VCPU"},
		{"class twice", map[string]string{"a.yaml": inv("CUSTOM_A: {total: 1}\n        - CUSTOM_A: {total: 2}")},
			"a.yaml line 8: providers[0].inventories.additional[1]: resource class CUSTOM_A is given twice"},
		{"no total", map[string]string{"a.yaml": inv("CUSTOM_A: {reserved: 1}")}, "CUSTOM_A has no total"},
		{"inventory null", map[string]string{"a.yaml": inv("CUSTOM_A:")}, "CUSTOM_A must be a mapping, not empty (null)"},
		{"unknown inventory field", map[string]string{"a.yaml": inv("CUSTOM_A: {total: 1, totl: 2}")},
			"CUSTOM_A.totl is not an inventory field"},
		{"quoted total", map[string]string{"a.yaml": inv("CUSTOM_A: {total: '4'}")},
			"CUSTOM_A.total must be an integer, not the string \"4\""},
		{"boolean total", map[string]string{"a.yaml": inv("CUSTOM_A: {total: yes}")},
			"CUSTOM_A.total must be an integer, not a boolean (yes)"},
		{"fractional reserved", map[string]string{"a.yaml": inv("CUSTOM_A: {total: 4, reserved: 0.5}")},
			"CUSTOM_A.reserved must be an integer, not a float (0.5)"},
		{"string ratio", map[string]string{"a.yaml": inv("CUSTOM_A: {total: 4, allocation_ratio: high}")},
			"CUSTOM_A.allocation_ratio must be a number"},
		{"total zero", map[string]string{"a.yaml": inv("CUSTOM_A: {total: 0}")},
			"inventory CUSTOM_A: total 0 is outside what Placement accepts (1 to 2147483647)"},
		{"negative reserved", map[string]string{"a.yaml": inv("CUSTOM_A: {total: 1, reserved: -1}")}, "reserved -1 is outside"},
		{"huge max_unit", map[string]string{"a.yaml": inv("CUSTOM_A: {total: 1, max_unit: 2147483648}")}, "max_unit 2147483648 is outside"},
		{"infinite ratio", map[string]string{"a.yaml": inv("CUSTOM_A: {total: 1, allocation_ratio: .inf}")},
			"allocation_ratio +Inf is outside"},
		{"traits not a mapping", map[string]string{"a.yaml": head + "  - identification: {name: n}\n    traits: [CUSTOM_A]\n"},
			"providers[0].traits must be a mapping, not a list"},
		{"trait not a string", map[string]string{"a.yaml": head + "  - identification: {name: n}\n    traits: {additional: [1]}\n"},
			"providers[0].traits.additional[0] must be a trait name (1 to 255 upper case letters, digits or _), not an integer (1)"},
		{"lower case trait", map[string]string{"a.yaml": head + "  - identification: {name: n}\n    traits: {additional: [custom_a]}\n"},
			"not the string \"custom_a\""},
		{"standard trait", map[string]string{"a.yaml": head + "  - identification: {name: n}\n    traits: {additional: [HW_CPU_X86_AVX]}\n"},
			"only custom traits are allowed: HW_CPU_X86_AVX"},
		{"same provider in two files", map[string]string{
			"a.yaml": head + "  - identification: {name: n}\n    traits: {additional: [CUSTOM_A]}\n",
			"b.yaml": head + "  - identification: {name: n}\n    traits: {additional: [CUSTOM_B]}\n"},
			"provider n has multiple definitions in source file(s): a.yaml, b.yaml"},
		{"first bad file stops", map[string]string{"a.yaml": "meta: [\n", "b.yaml": "meta: {\n"}, "a.yaml line 1:"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := ReadProviderConfigDir(writeConfigDir(t, tt.files))
			var ce *ConfigError
			if !errors.As(err, &ce) || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("error %v\nwant a ConfigError mentioning %q", err, tt.want)
			}
		})
	}
}

// TestProviderConfigFileThroughSync follows an operator's file to Placement: the custom class and trait are
// created, then the inventory and traits set on the compute node's provider.
func TestProviderConfigFileThroughSync(t *testing.T) {
	dir := writeConfigDir(t, map[string]string{"e2e.yaml": `meta:
  schema_version: '1.0'
providers:
  - identification:
      uuid: $COMPUTE_NODE
    inventories:
      additional:
        - CUSTOM_NOVABSD_E2E:
            total: 4
    traits:
      additional:
        - CUSTOM_NOVABSD_E2E_TRAIT
`})
	pc, err := ReadProviderConfigDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	f := newFakeCloud(t)
	c := newTestClient(t, f)
	req := testSyncRequest()
	req.ProviderConfigs = pc
	req.Traits.OwnerNova = true
	if _, err := c.Sync(context.Background(), req); err != nil {
		t.Fatal(err)
	}
	rp := f.providers[nodeUUID]
	want := Inventory{Total: 4, MinUnit: 1, MaxUnit: maxInventoryInt, StepSize: 1, AllocationRatio: 1}
	if rp.Inv["CUSTOM_NOVABSD_E2E"] != want {
		t.Errorf("inventory %+v, want CUSTOM_NOVABSD_E2E %+v", rp.Inv, want)
	}
	for _, tr := range []string{"CUSTOM_NOVABSD_E2E_TRAIT", TraitOwnerNova, TraitComputeNode} {
		if !slices.Contains(rp.Traits, tr) {
			t.Errorf("traits %q lack %s", rp.Traits, tr)
		}
	}
	calls := strings.Join(f.callLog(), "\n")
	for _, want := range []string{"PUT resource_classes/CUSTOM_NOVABSD_E2E @", "PUT traits/CUSTOM_NOVABSD_E2E_TRAIT @"} {
		if !strings.Contains(calls, want) {
			t.Errorf("no %q among calls:\n%s", want, calls)
		}
	}

	// A second audit finds nothing to change.
	f.resetCalls()
	res, err := c.Sync(context.Background(), req)
	if err != nil {
		t.Fatal(err)
	}
	if res.InventoryChanged || res.TraitsChanged {
		t.Errorf("second sync changed inventory %v traits %v; calls:\n%s", res.InventoryChanged, res.TraitsChanged,
			strings.Join(f.callLog(), "\n"))
	}
}
