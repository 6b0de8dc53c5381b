package placement

import (
	"errors"
	"fmt"
	"io/fs"
	"math"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
)

// ReadProviderConfigDir reads the provider config files of
// [compute] provider_config_location as Nova's get_provider_configs does:
// every dir/*.yaml in name order (names starting with "." excluded, as
// Python's glob excludes them), each checked against Nova's schema 1.x,
// then all validated together by LoadProviderConfigs.
//
// A missing directory means no provider configs, as in Nova, which logs
// and carries on; Files is then empty. A directory that exists but cannot
// be listed, a file that cannot be read, a file that is not YAML or that
// parseYAML refuses, or a schema violation is a *ConfigError naming the
// file and, where there is one, the line.
func ReadProviderConfigDir(dir string) (*ProviderConfigs, error) {
	entries, err := os.ReadDir(dir)
	if errors.Is(err, fs.ErrNotExist) {
		return LoadProviderConfigs(nil)
	}
	if err != nil {
		return nil, &ConfigError{Field: "provider_config_location", Err: err}
	}
	var names []string
	for _, e := range entries {
		if n := e.Name(); strings.HasSuffix(n, ".yaml") && !strings.HasPrefix(n, ".") {
			names = append(names, n)
		}
	}
	sort.Strings(names)
	files := make([]ProviderConfigFile, 0, len(names))
	paths := make([]string, 0, len(names))
	for _, n := range names {
		path := filepath.Join(dir, n)
		data, err := os.ReadFile(path)
		if err != nil {
			return nil, &ConfigError{Field: "provider config", Err: err}
		}
		f, err := decodeProviderConfig(path, data)
		if err != nil {
			return nil, &ConfigError{Field: "provider config", Err: err}
		}
		files = append(files, f)
		paths = append(paths, path)
	}
	pc, err := LoadProviderConfigs(files)
	if err != nil {
		return nil, err
	}
	pc.Files = paths
	return pc, nil
}

// Nova's schema patterns for resource class and trait names (custom ones
// are required later, by validate).
var rcOrTraitRE = regexp.MustCompile(`^[A-Z0-9_]{1,255}$`)

// configDecoder maps a parsed file onto ProviderConfigFile, checking it as
// Nova's SCHEMA_V1 does: identification and inventory records allow only
// their known keys; the other mappings allow unknown ones (for newer minor
// versions), which are reported in Unused.
type configDecoder struct {
	path string
	file ProviderConfigFile
}

func (d *configDecoder) errf(n *yamlNode, format string, args ...any) error {
	return &yamlError{File: d.path, Line: n.line, Msg: fmt.Sprintf(format, args...)}
}

// want checks a node's kind, naming the path to it.
func (d *configDecoder) want(n *yamlNode, kind yamlKind, path string) error {
	if n.kind == kind {
		return nil
	}
	name := map[yamlKind]string{yamlMap: "a mapping", yamlSeq: "a list"}[kind]
	return d.errf(n, "%s must be %s, not %s", path, name, describe(n))
}

// unused notes the keys of a mapping outside known.
func (d *configDecoder) unused(n *yamlNode, path string, known ...string) {
	for _, k := range n.keys {
		if !contains(known, k) {
			d.file.Unused = append(d.file.Unused, fmt.Sprintf("%s line %d: %s%s is not a key Nova's provider config "+
				"schema uses; ignored (known here: %s)", d.path, n.fields[k].line, path, k, strings.Join(known, ", ")))
		}
	}
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// describe names a node's kind and value for messages.
func describe(n *yamlNode) string {
	switch v := n.value.(type) {
	case string:
		return fmt.Sprintf("the string %q", clip(v))
	case nil:
		if n.kind == yamlScalar {
			return "empty (null)"
		}
	default:
		return fmt.Sprintf("%s (%s)", n.kindName(), clip(n.src))
	}
	return n.kindName()
}

func decodeProviderConfig(path string, data []byte) (ProviderConfigFile, error) {
	root, err := parseYAML(path, data)
	if err != nil {
		return ProviderConfigFile{}, err
	}
	d := &configDecoder{path: path, file: ProviderConfigFile{Source: filepath.Base(path)}}
	if root == nil {
		return d.file, &yamlError{File: path, Line: 1, Msg: "the file is empty; it needs at least meta.schema_version"}
	}
	if err := d.want(root, yamlMap, "the document"); err != nil {
		return d.file, err
	}
	// Nova reads the schema version before checking anything else.
	meta, ok := root.fields["meta"]
	if !ok {
		return d.file, d.errf(root, "no meta.schema_version: the file must start with meta: {schema_version: '1.0'}")
	}
	if err := d.want(meta, yamlMap, "meta"); err != nil {
		return d.file, err
	}
	sv, ok := meta.fields["schema_version"]
	if !ok {
		return d.file, d.errf(meta, "meta has no schema_version")
	}
	version, ok := sv.value.(string)
	if !ok || sv.kind != yamlScalar {
		return d.file, d.errf(sv, "meta.schema_version must be a string such as '1.0', not %s "+
			"(quote it: unquoted, YAML reads 1.0 as a number)", describe(sv))
	}
	if err := checkSchemaVersion(version); err != nil {
		return d.file, d.errf(sv, "%v", err)
	}
	d.file.SchemaVersion = version
	if _, ok := root.fields["__source_file"]; ok {
		return d.file, d.errf(root.fields["__source_file"], "__source_file is reserved for Nova's own use")
	}
	d.unused(root, "", "meta", "providers")
	d.unused(meta, "meta.", "schema_version")

	providers, ok := root.fields["providers"]
	if !ok {
		return d.file, nil
	}
	if err := d.want(providers, yamlSeq, "providers"); err != nil {
		return d.file, err
	}
	for i, pn := range providers.items {
		p, err := d.provider(pn, fmt.Sprintf("providers[%d]", i))
		if err != nil {
			return d.file, err
		}
		d.file.Providers = append(d.file.Providers, p)
	}
	return d.file, nil
}

func (d *configDecoder) provider(n *yamlNode, path string) (ProviderConfigEntry, error) {
	var p ProviderConfigEntry
	if err := d.want(n, yamlMap, path); err != nil {
		return p, err
	}
	d.unused(n, path+".", "identification", "inventories", "traits")
	id, ok := n.fields["identification"]
	if !ok {
		return p, d.errf(n, "%s has no identification", path)
	}
	if err := d.identification(id, path+".identification", &p); err != nil {
		return p, err
	}
	if inv, ok := n.fields["inventories"]; ok {
		if err := d.inventories(inv, path+".inventories", &p); err != nil {
			return p, err
		}
	}
	if tr, ok := n.fields["traits"]; ok {
		if err := d.traits(tr, path+".traits", &p); err != nil {
			return p, err
		}
	}
	return p, nil
}

func (d *configDecoder) identification(n *yamlNode, path string, p *ProviderConfigEntry) error {
	if err := d.want(n, yamlMap, path); err != nil {
		return err
	}
	if len(n.keys) != 1 {
		return d.errf(n, "%s must have exactly one of uuid or name, not %d keys (%s)",
			path, len(n.keys), strings.Join(n.keys, ", "))
	}
	k := n.keys[0]
	v := n.fields[k]
	s, ok := v.value.(string)
	switch {
	case k != "uuid" && k != "name":
		return d.errf(v, "%s.%s is not a known identification (uuid or name)", path, k)
	case !ok || v.kind != yamlScalar:
		return d.errf(v, "%s.%s must be a string, not %s", path, k, describe(v))
	case s == "":
		return d.errf(v, "%s.%s is empty", path, k)
	case k == "uuid":
		p.UUID = s
	default:
		p.Name = s
	}
	return nil
}

// additional is the list under a section's only key, "additional" (inventories and traits share that shape);
// nil without error when the section leaves it out.
func (d *configDecoder) additional(n *yamlNode, path string) (*yamlNode, string, error) {
	if err := d.want(n, yamlMap, path); err != nil {
		return nil, "", err
	}
	d.unused(n, path+".", "additional")
	add, ok := n.fields["additional"]
	if !ok {
		return nil, "", nil
	}
	path += ".additional"
	if err := d.want(add, yamlSeq, path); err != nil {
		return nil, "", err
	}
	return add, path, nil
}

func (d *configDecoder) inventories(n *yamlNode, path string, p *ProviderConfigEntry) error {
	add, path, err := d.additional(n, path)
	if add == nil || err != nil {
		return err
	}
	for i, item := range add.items {
		ipath := fmt.Sprintf("%s[%d]", path, i)
		if err := d.want(item, yamlMap, ipath); err != nil {
			return err
		}
		for _, rc := range item.keys {
			rn := item.fields[rc]
			if !rcOrTraitRE.MatchString(rc) {
				return d.errf(rn, "%s: resource class %q must be 1 to 255 upper case letters, digits or _", ipath, rc)
			}
			if _, dup := p.Inventories[rc]; dup {
				return d.errf(rn, "%s: resource class %s is given twice for this provider", ipath, rc)
			}
			inv, err := d.inventory(rn, ipath+"."+rc)
			if err != nil {
				return err
			}
			if p.Inventories == nil {
				p.Inventories = map[string]CustomInventory{}
			}
			p.Inventories[rc] = inv
		}
	}
	return nil
}

var inventoryFields = []string{"total", "reserved", "min_unit", "max_unit", "step_size", "allocation_ratio"}

func (d *configDecoder) inventory(n *yamlNode, path string) (CustomInventory, error) {
	var inv CustomInventory
	if err := d.want(n, yamlMap, path); err != nil {
		return inv, err
	}
	for _, k := range n.keys {
		if !contains(inventoryFields, k) {
			return inv, d.errf(n.fields[k], "%s.%s is not an inventory field (%s)", path, k,
				strings.Join(inventoryFields, ", "))
		}
	}
	total, ok := n.fields["total"]
	if !ok {
		return inv, d.errf(n, "%s has no total", path)
	}
	var err error
	if inv.Total, err = d.integer(total, path+".total"); err != nil {
		return inv, err
	}
	for _, f := range []struct {
		name string
		dst  **int64
	}{{"reserved", &inv.Reserved}, {"min_unit", &inv.MinUnit}, {"max_unit", &inv.MaxUnit}, {"step_size", &inv.StepSize}} {
		if v, ok := n.fields[f.name]; ok {
			i, err := d.integer(v, path+"."+f.name)
			if err != nil {
				return inv, err
			}
			*f.dst = &i
		}
	}
	if v, ok := n.fields["allocation_ratio"]; ok {
		var r float64
		switch x := v.value.(type) {
		case int64:
			r = float64(x)
		case float64:
			r = x
		default:
			return inv, d.errf(v, "%s.allocation_ratio must be a number, not %s", path, describe(v))
		}
		inv.AllocationRatio = &r
	}
	return inv, nil
}

// integer accepts what JSON Schema's "integer" does: an integer, or a float
// with no fractional part.
func (d *configDecoder) integer(n *yamlNode, path string) (int64, error) {
	switch x := n.value.(type) {
	case int64:
		return x, nil
	case float64:
		if x == math.Trunc(x) && math.Abs(x) <= 1<<53 {
			return int64(x), nil
		}
	}
	return 0, d.errf(n, "%s must be an integer, not %s", path, describe(n))
}

func (d *configDecoder) traits(n *yamlNode, path string, p *ProviderConfigEntry) error {
	add, path, err := d.additional(n, path)
	if add == nil || err != nil {
		return err
	}
	for i, tn := range add.items {
		t, ok := tn.value.(string)
		if !ok || tn.kind != yamlScalar || !rcOrTraitRE.MatchString(t) {
			return d.errf(tn, "%s[%d] must be a trait name (1 to 255 upper case letters, digits or _), not %s",
				path, i, describe(tn))
		}
		p.Traits = append(p.Traits, t)
	}
	return nil
}
