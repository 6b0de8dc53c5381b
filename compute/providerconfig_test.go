package compute

import (
	"bytes"
	"errors"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/novabsd/novabsd/conf"
	"github.com/novabsd/novabsd/hypervisor/host"
	"github.com/novabsd/novabsd/placement"
)

const (
	testNodeUUID = "0b3f1c9e-5a2d-4e8f-9c7b-6d5e4f3a2b1c"
	gpuConfig    = `meta:
  schema_version: '1.0'
providers:
  - identification:
      uuid: $COMPUTE_NODE
    inventories:
      additional:
        - CUSTOM_GPU_SLOT: {total: 4, max_unit: 1}
    traits:
      additional: [CUSTOM_FAST_NIC]
`
)

// startableConfig is the least configuration New accepts.
func startableConfig() *conf.Config {
	cfg := &conf.Config{}
	cfg.Default.Host = testHost
	cfg.Default.TransportURL = "rabbit://guest:guest@127.0.0.1:5672/"
	cfg.Compute.MaxDiskDevicesToAttach = -1
	return cfg
}

// newTestService makes a Service with New, its provider configs in a temporary directory holding files.
func newTestService(t *testing.T, files map[string]string) (*Service, string, error) {
	t.Helper()
	dir := t.TempDir()
	for name, body := range files {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	var logs bytes.Buffer
	cfg := startableConfig()
	cfg.Compute.ProviderConfigLocation = dir
	s, err := New(cfg, Options{Logger: slog.New(slog.NewTextHandler(&logs, nil))})
	return s, logs.String(), err
}

func TestNewReadsProviderConfigs(t *testing.T) {
	tests := []struct {
		name     string
		files    map[string]string
		wantErr  string   // "" for success
		wantLogs []string // substrings of the log
	}{
		{name: "no files", wantLogs: []string{"No provider configs found"}},
		{name: "one file", files: map[string]string{"gpu.yaml": gpuConfig, "notes.txt": "not read"},
			wantLogs: []string{"Loaded provider configs", "gpu.yaml"}},
		{name: "warnings Nova gives and a misspelt key", files: map[string]string{"a.yaml": `meta: {schema_version: '1.1'}
providers:
  - identification: {name: other}
    inventory:
      additional: []
`}, wantLogs: []string{"level=WARN msg=\"Provider config file is at a schema minor version newer than 1.0",
			"level=WARN msg=\"Provider config entry has no additional inventories or traits and will be ignored\" provider=\"other in a.yaml\"",
			"level=WARN msg=\"Provider config key ignored\"", "providers[0].inventory is not a key"}},
		{name: "bad YAML", files: map[string]string{"gpu.yaml": gpuConfig, "z.yaml": "meta:\n\tschema_version: '1.0'\n"},
			wantErr: "z.yaml line 2: tab character in the indentation"},
		{name: "schema violation", files: map[string]string{"b.yaml": strings.Replace(gpuConfig, "total: 4", "total: four", 1)},
			wantErr: "b.yaml line 8: providers[0].inventories.additional[0].CUSTOM_GPU_SLOT.total must be an integer, not the string \"four\""},
		{name: "same provider in two files", files: map[string]string{"a.yaml": gpuConfig, "b.yaml": gpuConfig},
			wantErr: "multiple definitions in source file(s): a.yaml, b.yaml"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, logs, err := newTestService(t, tt.files)
			if tt.wantErr != "" {
				var ce *placement.ConfigError
				if err == nil || !errors.As(err, &ce) || !strings.Contains(err.Error(), tt.wantErr) ||
					!strings.HasPrefix(err.Error(), "[compute] provider_config_location: ") {
					t.Fatalf("New: %v, want a ConfigError mentioning %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			for _, want := range tt.wantLogs {
				if !strings.Contains(logs, want) {
					t.Errorf("log lacks %q:\n%s", want, logs)
				}
			}
			if s.providerConfigs == nil {
				t.Fatal("no provider configs kept")
			}
		})
	}
}

func TestNewWithoutProviderConfigLocation(t *testing.T) {
	cfg := &conf.Config{}
	cfg.Default.Host = testHost
	cfg.Default.TransportURL = "rabbit://guest:guest@127.0.0.1:5672/"
	cfg.Compute.MaxDiskDevicesToAttach = -1
	cfg.Compute.ProviderConfigLocation = filepath.Join(t.TempDir(), "absent")
	s, err := New(cfg, Options{Logger: slog.New(slog.NewTextHandler(&bytes.Buffer{}, nil))})
	if err != nil || s.providerConfigs == nil {
		t.Fatalf("missing directory: %v, %v; want no error, as in Nova", s, err)
	}
	cfg.Compute.ProviderConfigLocation = ""
	if s, err = New(cfg, Options{Logger: slog.New(slog.NewTextHandler(&bytes.Buffer{}, nil))}); err != nil || s.providerConfigs != nil {
		t.Fatalf("empty option: %v, %v", s, err)
	}
}

// TestSyncRequestAppliesProviderConfigs checks that every audit's request to Placement carries the provider
// configs, and what Sync makes of them for this node: the custom inventory and trait, and OWNER_NOVA from 2026.2.
func TestSyncRequestAppliesProviderConfigs(t *testing.T) {
	s, _, err := newTestService(t, map[string]string{"gpu.yaml": gpuConfig})
	if err != nil {
		t.Fatal(err)
	}
	s.nodeUUID = testNodeUUID
	cfg := s.cfg.Load()
	res := &resources{host: &host.Host{Arch: "x86_64", VCPUs: 4, MemoryMB: 8192}, disk: host.Disk{TotalBytes: 100 << 30}}
	for _, release := range []string{"2026.1", "2026.2"} {
		t.Run(release, func(t *testing.T) {
			s.release, _ = ReleaseByName(release)
			req := s.syncRequest(cfg, res, nil)
			if req.ProviderConfigs != s.providerConfigs || req.UUID != testNodeUUID || req.Name != testHost {
				t.Fatalf("request %+v does not carry the node and its provider configs", req)
			}
			inv, traits, err := req.ProviderConfigs.Apply(req.UUID, req.Name, true, req.Traits.OwnerNova,
				placement.ComputeInventory(req.Resources, req.Config, nil), placement.ComputeTraits(req.Traits))
			if err != nil {
				t.Fatal(err)
			}
			if got := inv["CUSTOM_GPU_SLOT"]; got.Total != 4 || got.MaxUnit != 1 || inv[placement.VCPU].Total != 4 {
				t.Errorf("inventory %+v, want CUSTOM_GPU_SLOT total 4 max_unit 1 beside VCPU", inv)
			}
			if !slices.Contains(traits, "CUSTOM_FAST_NIC") || slices.Contains(traits, placement.TraitOwnerNova) != (release == "2026.2") {
				t.Errorf("traits %q: want CUSTOM_FAST_NIC, and OWNER_NOVA only for 2026.2", traits)
			}
		})
	}
}

func TestCheckProviderConfigs(t *testing.T) {
	byName := `meta: {schema_version: '1.0'}
providers:
  - identification: {name: ` + testHost + `}
    traits: {additional: [CUSTOM_BY_NAME]}
  - identification: {name: elsewhere}
    traits: {additional: [CUSTOM_ELSEWHERE]}
`
	byUUID := `meta: {schema_version: '1.0'}
providers:
  - identification: {uuid: ` + testNodeUUID + `}
    traits: {additional: [CUSTOM_BY_UUID]}
`
	var logs bytes.Buffer
	s, _, err := newTestService(t, map[string]string{"a.yaml": byName})
	if err != nil {
		t.Fatal(err)
	}
	s.log = slog.New(slog.NewTextHandler(&logs, nil))
	s.nodeUUID = testNodeUUID
	if err := s.checkProviderConfigs(testHost); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(logs.String(), "does not exist on this node and will be ignored\" provider=\"elsewhere in a.yaml\"") {
		t.Errorf("no warning about the provider this node lacks:\n%s", logs.String())
	}

	s, _, err = newTestService(t, map[string]string{"a.yaml": byName, "b.yaml": byUUID})
	if err != nil {
		t.Fatal(err)
	}
	s.nodeUUID = testNodeUUID
	var se *StartupError
	if err := s.checkProviderConfigs(testHost); !errors.As(err, &se) || !strings.Contains(err.Error(), "both name") {
		t.Errorf("one node named by uuid and by name: %v, want a StartupError", err)
	}
}
