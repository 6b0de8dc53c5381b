package novabsd_test

import (
	"os/exec"
	"slices"
	"strings"
	"testing"
)

const module = "github.com/novabsd/novabsd/"

// TestLayout holds the dependency rules of DEVELOPERS.md: compute/ is the only package that knows both Nova and the
// engine, so no other package imports it, and hypervisor/ knows nothing of Nova (its RPC, configuration, Neutron,
// Glance, Placement or config drive). Checked on the whole import graph, so an indirect import counts too.
func TestLayout(t *testing.T) {
	out, err := exec.Command("go", "list", "-deps=false", "-f", `{{.ImportPath}}{{range .Deps}} {{.}}{{end}}`,
		"./...").Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	rules := []struct {
		pkgPrefix string   // packages the rule applies to
		forbidden []string // import path prefixes (below the module) they must not depend on
		allowed   []string // exceptions below a forbidden prefix
	}{
		// images/qcow2 is the qcow2 format alone (no Glance, no Nova): the storage backends read headers with it.
		{"hypervisor", []string{"compute", "rpc", "conf", "network", "placement", "images", "configdrive"},
			[]string{"images/qcow2"}},
		{"images", []string{"compute"}, nil},
		{"placement", []string{"compute"}, nil},
		{"passthrough", []string{"compute"}, nil},
		{"rpc", []string{"compute"}, nil},
		{"network", []string{"compute", "hypervisor"}, nil},
		{"configdrive", []string{"compute", "hypervisor"}, nil},
		{"conf", []string{"compute"}, nil},
	}
	checked := 0
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		f := strings.Fields(line)
		pkg := strings.TrimPrefix(f[0], module)
		for _, r := range rules {
			if pkg != r.pkgPrefix && !strings.HasPrefix(pkg, r.pkgPrefix+"/") {
				continue
			}
			checked++
			for _, dep := range f[1:] {
				d, ok := strings.CutPrefix(dep, module)
				if !ok {
					continue
				}
				for _, bad := range r.forbidden {
					if (d == bad || strings.HasPrefix(d, bad+"/")) && !slices.Contains(r.allowed, d) {
						t.Errorf("%s depends on %s: %s/ must not import %s/", pkg, d, r.pkgPrefix, bad)
					}
				}
			}
		}
	}
	if checked < len(rules) {
		t.Fatalf("only %d packages matched the %d rules: is the module path %q still right?", checked, len(rules), module)
	}
}
