//go:build e2e

package e2e

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

// e2eProviderConfig is an operator's [compute] provider_config_location file: a custom inventory and trait for
// every compute node root provider.
const e2eProviderConfig = `# written by devstack/e2e TestProviderConfig
meta:
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
`

// TestProviderConfig: provider config files reach Placement as Nova's nova-compute puts them there, and a bad one
// stops the service before it joins the cloud.
func TestProviderConfig(t *testing.T) {
	requireRig(t)
	host := fmt.Sprintf("e2e-pconf-%d", time.Now().Unix()%100000)
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "e2e.yaml"), []byte(e2eProviderConfig), 0o644); err != nil {
		t.Fatal(err)
	}
	extra := "[DEFAULT]\nupdate_resources_interval = 10\n[compute]\nprovider_config_location = " + dir + "\n"
	n := startNovabsdConf(t, host, extra)
	n.waitLog(t, "Compute service started", 90*time.Second)
	t.Cleanup(func() { deleteHost(t, host) })
	n.waitLog(t, "Loaded provider configs", time.Second)
	rp := providerUUID(t, host)

	t.Run("inventory and trait appear on the node's provider", func(t *testing.T) {
		// The start-up audit normally writes them; a Placement hiccup there is retried every 10 s.
		deadline := time.Now().Add(60 * time.Second)
		var total float64
		var traits []string
		for {
			total = 0
			for _, r := range openstackJSON(t, "resource", "provider", "inventory", "list", rp) {
				if field(r, "resource_class") == "CUSTOM_NOVABSD_E2E" {
					total = num(t, r, "total")
				}
			}
			traits = providerTraits(t, rp)
			if total == 4 && slices.Contains(traits, "CUSTOM_NOVABSD_E2E_TRAIT") || time.Now().After(deadline) {
				break
			}
			time.Sleep(3 * time.Second)
		}
		if total != 4 {
			t.Errorf("CUSTOM_NOVABSD_E2E total = %v, want 4", total)
		}
		for _, want := range []string{"CUSTOM_NOVABSD_E2E_TRAIT", "COMPUTE_NODE"} {
			if !slices.Contains(traits, want) {
				t.Errorf("trait %s missing from %v", want, traits)
			}
		}
	})

	t.Run("a bad file stops the service at start", func(t *testing.T) {
		bad := t.TempDir()
		// A duplicate key: PyYAML would keep the last one silently, Nova's schema check too; novabsd refuses it.
		body := strings.Replace(e2eProviderConfig, "            total: 4\n", "            total: 4\n            total: 5\n", 1)
		if err := os.WriteFile(filepath.Join(bad, "bad.yaml"), []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
		badHost := host + "-bad"
		conf, err := rigCommand(context.Background(), "compute-conf", badHost).Output()
		if err != nil {
			t.Fatalf("rig.sh compute-conf %s: %v", badHost, err)
		}
		conf = append(conf, "\n[compute]\nprovider_config_location = "+bad+"\n"...)
		confPath := filepath.Join(t.TempDir(), "nova.conf")
		if err := os.WriteFile(confPath, conf, 0o600); err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		out, err := exec.CommandContext(ctx, novabsdBin, "compute", "--config-file", confPath).CombinedOutput()
		if ctx.Err() != nil || err == nil {
			t.Fatalf("novabsd compute with a bad provider config: %v (context %v), want it to exit with an error\n%s",
				err, ctx.Err(), out)
		}
		if want := `bad.yaml line 11: duplicate key "total" (first on line 10)`; !strings.Contains(string(out), want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
		if svc := computeService(t, badHost); svc != nil {
			t.Errorf("the refused host registered a service: %v", svc)
		}
	})
}
