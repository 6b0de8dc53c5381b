//go:build e2e

package e2e

import (
	"testing"

	tinyimage "github.com/novabsd/novabsd/devstack/image"
)

// field returns row[key] as a string ("" when absent or not a string).
func field(row map[string]any, key string) string {
	s, _ := row[key].(string)
	return s
}

func TestEndpointList(t *testing.T) {
	requireRig(t)
	rows := openstackJSON(t, "endpoint", "list")
	// Every service type must have all three interfaces in RegionOne, once each.
	seen := map[string]map[string]int{}
	for _, r := range rows {
		typ, iface := field(r, "Service Type"), field(r, "Interface")
		if field(r, "Region") != "RegionOne" {
			t.Errorf("endpoint %s %s in region %q, want RegionOne", typ, iface, field(r, "Region"))
		}
		if seen[typ] == nil {
			seen[typ] = map[string]int{}
		}
		seen[typ][iface]++
	}
	for _, typ := range []string{"identity", "image", "placement", "compute"} {
		for _, iface := range []string{"public", "internal", "admin"} {
			if n := seen[typ][iface]; n != 1 {
				t.Errorf("%s %s endpoints: %d, want exactly 1", typ, iface, n)
			}
		}
	}
}

func TestImageList(t *testing.T) {
	requireRig(t)
	rows := openstackJSON(t, "image", "list", "--long")
	want := map[string]string{"tiny": "raw", "tiny-qcow2": "qcow2"}
	for name, format := range want {
		n := 0
		for _, r := range rows {
			if field(r, "Name") != name {
				continue
			}
			n++
			if got := field(r, "Status"); got != "active" {
				t.Errorf("image %s status %q, want active", name, got)
			}
			if got := field(r, "Disk Format"); got != format {
				t.Errorf("image %s disk format %q, want %s", name, got, format)
			}
			if got := field(r, "Visibility"); got != "public" {
				t.Errorf("image %s visibility %q, want public", name, got)
			}
		}
		if n != 1 {
			t.Errorf("images named %s: %d, want exactly 1 (rows: %v)", name, n, rows)
		}
	}
	// The raw image in Glance is the file the tests boot locally: same size.
	show := openstackJSON1(t, "image", "show", "tiny")
	size, _ := show["size"].(float64)
	if st, err := statSize(tinyimage.In(tinyimage.Dir()).Raw); err != nil {
		t.Errorf("local tiny image: %v", err)
	} else if int64(size) != st {
		t.Errorf("glance image tiny has %d bytes, %s has %d", int64(size), tinyimage.RawName, st)
	}
}

func TestResourceProviderList(t *testing.T) {
	requireRig(t)
	// Placement answers through the osc-placement plugin; no compute has registered yet,
	// or several have: the answer must be a list either way.
	rows := openstackJSON(t, "resource", "provider", "list")
	for _, r := range rows {
		if field(r, "uuid") == "" || field(r, "name") == "" {
			t.Errorf("resource provider row without uuid or name: %v", r)
		}
	}
	// And the flavor the later lifecycle tests boot with is in place.
	f := openstackJSON1(t, "flavor", "show", "tiny")
	if v, _ := f["vcpus"].(float64); v != 1 {
		t.Errorf("flavor tiny vcpus %v, want 1", f["vcpus"])
	}
	if v, _ := f["ram"].(float64); v != 128 {
		t.Errorf("flavor tiny ram %v, want 128", f["ram"])
	}
	if v, _ := f["disk"].(float64); v != 1 {
		t.Errorf("flavor tiny disk %v, want 1", f["disk"])
	}
}
