package passthrough

import (
	"errors"
	"reflect"
	"strings"
	"testing"

	"github.com/novabsd/novabsd/hypervisor/host"
)

// hostPCI is a host with an SR-IOV NIC (PF 3b:00.0 and two VFs), a GPU on
// vfio-pci, an unbound QuickAssist card and a NIC on its host driver.
var hostPCI = []host.PCIDevice{
	{Driver: "e1000e", Slot: 0x1f, Function: 6, Vendor: 0x8086, Device: 0x15bb, Class: 0x020000, NUMANode: -1},
	{Driver: "vfio-pci", Bus: 0x3b, Vendor: 0x8086, Device: 0x1572, Class: 0x020000, TotalVFs: 64},
	{Driver: "vfio-pci", Bus: 0x3b, Slot: 2, Vendor: 0x8086, Device: 0x154c, PhysFn: "0000:3b:00.0"},
	{Driver: "vfio-pci", Bus: 0x3b, Slot: 2, Function: 1, Vendor: 0x8086, Device: 0x154c, PhysFn: "0000:3b:00.0"},
	{Driver: "vfio-pci", Bus: 0x5e, Vendor: 0x10de, Device: 0x1eb8, Class: 0x030200, NUMANode: 1},
	{Bus: 0xaf, Vendor: 0x8086, Device: 0x37c8, Class: 0x0b4000, NUMANode: 1},
	{Driver: "vfio-pci", Domain: 0x10000, Vendor: 0x10de, Device: 0x1eb8},
}

// matched lists the addresses of hostPCI the specs select.
func matched(t *testing.T, value string) []string {
	t.Helper()
	specs, err := ParsePCIDeviceSpecs([]string{value})
	if err != nil {
		t.Fatalf("%s: %v", value, err)
	}
	var out []string
	for _, d := range hostPCI {
		for _, s := range specs {
			if s.Match(d) {
				out = append(out, d.Address())
				break
			}
		}
	}
	return out
}

func TestPCIDeviceSpecMatch(t *testing.T) {
	tests := []struct {
		spec string
		want []string
	}{
		{`{"vendor_id": "10de", "product_id": "1EB8"}`, []string{"0000:5e:00.0"}},
		{`{"vendor_id": " 0x8086", "product_id": "*"}`,
			[]string{"0000:00:1f.6", "0000:3b:00.0", "0000:3b:02.0", "0000:3b:02.1", "0000:af:00.0"}},
		{`{"address": "*:3b:02.*"}`, []string{"0000:3b:02.0", "0000:3b:02.1"}},
		{`{"address": "3b:02"}`, []string{"0000:3b:02.0", "0000:3b:02.1"}},
		{`{"address": ".1"}`, []string{"0000:3b:02.1"}},
		{`{"address": "5e:"}`, []string{"0000:5e:00.0"}},
		// A single PF address selects the PF and its VFs.
		{`{"address": "0000:3b:00.0"}`, []string{"0000:3b:00.0", "0000:3b:02.0", "0000:3b:02.1"}},
		{`{"address": "0000:3b:00.0", "product_id": "154c"}`, []string{"0000:3b:02.0", "0000:3b:02.1"}},
		// A wildcard PF address does not.
		{`{"address": "*:3b:00.*"}`, []string{"0000:3b:00.0"}},
		{`{"address": {"bus": "3b", "function": "[1-7]"}}`, []string{"0000:3b:02.1"}},
		{`{"address": {"domain": "0000", "bus": "5e", "slot": "00", "function": "0"}}`, []string{"0000:5e:00.0"}},
		{`{"address": {"domain": "0000", "bus": "3b", "slot": "00", "function": "0"}}`,
			[]string{"0000:3b:00.0", "0000:3b:02.0", "0000:3b:02.1"}},
		// Regular expressions match from the start, as Python's re.match.
		{`{"address": {"bus": "a"}}`, []string{"0000:af:00.0"}},
		{`{"address": {"bus": "3B"}}`, nil},
		{`[{"vendor_id": "10de"}, {"address": "af:00.0"}]`, []string{"0000:5e:00.0", "0000:af:00.0"}},
		{`{"vendor_id": "10de", "physical_network": null, "managed": "no", "remote_managed": "false",
		   "live_migratable": false, "one_time_use": "off", "resource_class": "gpu", "traits": "blue, big"}`,
			[]string{"0000:5e:00.0"}},
	}
	for _, tt := range tests {
		if got := matched(t, tt.spec); !reflect.DeepEqual(got, tt.want) {
			t.Errorf("%s: matched %v, want %v", tt.spec, got, tt.want)
		}
	}
}

func TestParsePCIDeviceSpecsErrors(t *testing.T) {
	tests := []struct{ value, key, reason string }{
		{`{"vendor_id": "8086"`, "", "not JSON"},
		{`"8086"`, "", "not a JSON object or a list"},
		{`[1]`, "", "list of objects"},
		{`{} {}`, "", "text after"},
		{`{"vendor_id": "10000"}`, "vendor_id", "greater than ffff"},
		{`{"vendor_id": "80z6"}`, "vendor_id", "not a hexadecimal"},
		{`{"vendor_id": 8086}`, "vendor_id", "not a JSON string"},
		{`{"address": "0:0:0:0.0"}`, "address", "more than domain:bus:slot"},
		{`{"address": "*:100:00.0"}`, "address", "bus"},
		{`{"address": "00:20.0"}`, "address", "slot"},
		{`{"address": "00:1f.8"}`, "address", "function"},
		{`{"address": "0*:00.0"}`, "address", "not a hexadecimal"},
		{`{"address": {"bus": "(?=3b)"}}`, "address", "RE2"},
		{`{"address": {"func": "0"}}`, "address", "unknown address field"},
		{`{"address": 3}`, "address", "not a string or an object"},
		{`{"devname": "eth0"}`, "devname", "address"},
		{`{"address": "3b:02.0", "physical_network": "physnet1"}`, "physical_network", "Neutron"},
		{`{"remote_managed": "true"}`, "remote_managed", "Neutron"},
		{`{"trusted": "yes"}`, "trusted", "Neutron"},
		{`{"trusted": "maybe"}`, "trusted", "not a boolean"},
		{`{"managed": "perhaps"}`, "managed", "not a boolean"},
		{`{"live_migratable": "yes"}`, "live_migratable", "not supported"},
		{`{"one_time_use": true}`, "one_time_use", "not supported"},
		{`{"resource_class": "custom_a-b"}`, "resource_class", "not a valid custom name"},
		{`{"resource_class": ""}`, "resource_class", "empty"},
		{`{"traits": "a,,b"}`, "traits", "empty trait name"},
		{`{"vendorid": "8086"}`, "vendorid", "unknown key"},
	}
	for _, tt := range tests {
		_, err := ParsePCIDeviceSpecs([]string{`{"vendor_id": "8086"}`, tt.value})
		var pe *PCIError
		if !errors.As(err, &pe) || pe.Option != OptDeviceSpec || pe.Entry != tt.value || pe.Key != tt.key ||
			!strings.Contains(pe.Reason, tt.reason) {
			t.Errorf("%s: got %v, want key %q and %q", tt.value, err, tt.key, tt.reason)
		}
	}
}

func TestSelectPCI(t *testing.T) {
	specs, err := ParsePCIDeviceSpecs([]string{
		`{"vendor_id": "10de", "product_id": "1eb8", "resource_class": "nvidia_t4", "traits": "HW_GPU_API_VULKAN,fast"}`,
		`{"address": "0000:3b:00.0", "product_id": "154c"}`,
		`{"address": "*:af:*"}`,
	})
	if err != nil {
		t.Fatal(err)
	}
	got := SelectPCI(specs, hostPCI)
	var ids, rcs []string
	for _, d := range got {
		ids = append(ids, d.Address+"="+d.ID+"/"+d.DeviceType)
		rcs = append(rcs, d.ResourceClass(nil))
	}
	wantIDs := []string{"0000:3b:02.0=0000:3B:00.0/type-VF", "0000:3b:02.1=0000:3B:00.0/type-VF",
		"0000:5e:00.0=0000:5E:00.0/type-PCI"}
	wantRCs := []string{"CUSTOM_PCI_8086_154C", "CUSTOM_PCI_8086_154C", "CUSTOM_NVIDIA_T4"}
	if !reflect.DeepEqual(ids, wantIDs) || !reflect.DeepEqual(rcs, wantRCs) {
		t.Fatalf("selected %v with %v, want %v with %v", ids, rcs, wantIDs, wantRCs)
	}
	gpu := got[2]
	std := func(s string) bool { return s == "HW_GPU_API_VULKAN" || s == "PGPU" }
	if tr := gpu.Traits(std); !reflect.DeepEqual(tr, []string{"COMPUTE_MANAGED_PCI_DEVICE", "CUSTOM_FAST",
		"HW_GPU_API_VULKAN"}) {
		t.Errorf("traits %v", tr)
	}
	if tr := gpu.Traits(nil); !reflect.DeepEqual(tr, []string{"COMPUTE_MANAGED_PCI_DEVICE", "CUSTOM_FAST",
		"CUSTOM_HW_GPU_API_VULKAN"}) {
		t.Errorf("traits without standards %v", tr)
	}
	if gpu.NUMANode != 1 || gpu.Class != 0x030200 {
		t.Errorf("gpu %+v", gpu)
	}
	unbound := UnboundPCI(specs, hostPCI)
	if len(unbound) != 1 || unbound[0].Address() != "0000:af:00.0" {
		t.Errorf("unbound %v", unbound)
	}
	if err := CheckPCIProviders(got, nil); err != nil {
		t.Errorf("CheckPCIProviders: %v", err)
	}
}

func TestPCIPlacementNames(t *testing.T) {
	std := func(s string) bool { return s == "PGPU" || s == "HW_NIC_SRIOV" }
	rcs := []struct{ spec, want string }{
		{"", "CUSTOM_PCI_10DE_1EB8"}, {"pgpu", "PGPU"}, {"gpu.vf", "CUSTOM_GPU_VF"},
		{"custom_nvme256g", "CUSTOM_NVME256G"}, {"CUSTOM_X", "CUSTOM_X"}, {"a--b c", "CUSTOM_A_B_C"},
	}
	for _, r := range rcs {
		if got := PCIResourceClass(r.spec, 0x10de, 0x1eb8, std); got != r.want {
			t.Errorf("PCIResourceClass(%q) = %s, want %s", r.spec, got, r.want)
		}
	}
	// Nova does not trim trait names: " big" becomes CUSTOM__BIG; a
	// standard trait is standard only as written.
	got := PCITraits([]string{"blue", " big", "HW_NIC_SRIOV", "hw_nic_sriov", "custom_x", "blue"}, std)
	want := []string{"COMPUTE_MANAGED_PCI_DEVICE", "CUSTOM_BLUE", "CUSTOM_HW_NIC_SRIOV", "CUSTOM_X", "CUSTOM__BIG",
		"HW_NIC_SRIOV"}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("PCITraits = %v, want %v", got, want)
	}
}

func TestCheckPCIProviders(t *testing.T) {
	pf := PCIPassDevice{ID: "0000:3B:00.0", Address: "0000:3b:00.0", DeviceType: DeviceTypePF, Vendor: 0x8086,
		Product: 0x1572}
	vf := func(fn string, rc, traits string) PCIPassDevice {
		s := PCIDeviceSpec{ResourceClass: rc}
		if traits != "" {
			s.Traits = []string{traits}
		}
		return PCIPassDevice{ID: "0000:3B:00.0", Address: "0000:3b:02." + fn, DeviceType: DeviceTypeVF,
			Vendor: 0x8086, Product: 0x154c, Spec: s}
	}
	tests := []struct {
		devs []PCIPassDevice
		err  string
	}{
		{[]PCIPassDevice{vf("0", "", ""), vf("1", "", "")}, ""},
		{[]PCIPassDevice{pf, vf("0", "", "")}, "physical function"},
		{[]PCIPassDevice{vf("0", "", ""), pf}, "physical function"},
		{[]PCIPassDevice{vf("0", "", ""), vf("1", "net", "")}, "resource classes"},
		{[]PCIPassDevice{vf("0", "", "a"), vf("1", "", "b")}, "traits"},
	}
	for i, tt := range tests {
		err := CheckPCIProviders(tt.devs, nil)
		if tt.err == "" && err != nil || tt.err != "" && (err == nil || !strings.Contains(err.Error(), tt.err)) {
			t.Errorf("%d: got %v, want %q", i, err, tt.err)
		}
	}
}

func TestParsePCIAliases(t *testing.T) {
	got, err := ParsePCIAliases([]string{
		`{"name": " QuickAssist ", "vendor_id": "8086", "product_id": "0443", "device_type": "type-PCI"}`,
		`{"name": "QuickAssist", "vendor_id": "8086", "product_id": "0442", "device_type": "type-PCI",
		  "numa_policy": "legacy", "capability_type": "pci"}`,
		`{"name": "gpu", "resource_class": "nvidia_t4", "traits": "fast", "numa_policy": "required",
		  "live_migratable": "no"}`,
	})
	if err != nil {
		t.Fatal(err)
	}
	no := false
	want := map[string][]PCIAlias{
		"QuickAssist": {
			{Name: "QuickAssist", Vendor: 0x8086, Product: 0x0443, DeviceType: DeviceTypePCI, NUMAPolicy: "legacy"},
			{Name: "QuickAssist", Vendor: 0x8086, Product: 0x0442, DeviceType: DeviceTypePCI, NUMAPolicy: "legacy"},
		},
		"gpu": {{Name: "gpu", Vendor: -1, Product: -1, NUMAPolicy: "required", ResourceClass: "nvidia_t4",
			Traits: []string{"fast"}, LiveMigratable: &no}},
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("got %+v, want %+v", got, want)
	}
	if err := ValidatePCIAliases(got, false); err == nil || !strings.Contains(err.Error(), `"gpu"`) {
		t.Errorf("without pci_in_placement: %v, want gpu refused for lack of ids", err)
	}
	if err := ValidatePCIAliases(got, true); err == nil || !strings.Contains(err.Error(), "QuickAssist") {
		t.Errorf("with pci_in_placement: %v, want QuickAssist refused for two specs", err)
	}
	delete(got, "QuickAssist")
	if err := ValidatePCIAliases(got, true); err != nil {
		t.Errorf("gpu alone with pci_in_placement: %v", err)
	}
}

func TestParsePCIAliasesErrors(t *testing.T) {
	first := `{"name": "a", "vendor_id": "8086", "product_id": "0443"}`
	tests := []struct{ value, key, reason string }{
		{`[{"name": "b"}]`, "", "not a JSON object"},
		{`{"vendor_id": "8086"}`, "name", "missing"},
		{`{"name": "  "}`, "name", "not only blanks"},
		{`{"name": "` + strings.Repeat("x", 257) + `"}`, "name", "256"},
		{`{"name": "a:b"}`, "name", "cannot name"},
		{`{"name": "b", "vendor_id": "0x8086"}`, "vendor_id", "four hexadecimal"},
		{`{"name": "b", "device_type": "type-VDPA"}`, "device_type", "is not type-PCI"},
		{`{"name": "b", "numa_policy": "strict"}`, "numa_policy", "not required"},
		{`{"name": "b", "capability_type": "usb"}`, "capability_type", "not pci"},
		{`{"name": "b", "live_migratable": true}`, "live_migratable", "JSON string"},
		{`{"name": "b", "device_id": "1502"}`, "device_id", "unknown key"},
		{`{"name": "a", "numa_policy": "required"}`, "numa_policy", "defined before"},
		{`{"name": "a", "device_type": "type-VF"}`, "device_type", "defined before"},
	}
	for _, tt := range tests {
		_, err := ParsePCIAliases([]string{first, tt.value})
		var pe *PCIError
		if !errors.As(err, &pe) || pe.Option != OptAlias || pe.Entry != tt.value || pe.Key != tt.key ||
			!strings.Contains(pe.Reason, tt.reason) {
			t.Errorf("%.60s: got %v, want key %q and %q", tt.value, err, tt.key, tt.reason)
		}
	}
}

func TestFlavorPCIRequests(t *testing.T) {
	aliases, err := ParsePCIAliases([]string{
		`{"name": "qat", "vendor_id": "8086", "product_id": "0443", "numa_policy": "preferred"}`,
		`{"name": "gpu", "vendor_id": "10de", "product_id": "1eb8"}`,
	})
	if err != nil {
		t.Fatal(err)
	}
	got, err := FlavorPCIRequests(map[string]string{ExtraSpecPCI: " qat:2 , gpu: 1", "hw:cpu_policy": "x"}, aliases)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 2 || got[0].AliasName != "qat" || got[0].Count != 2 || got[0].NUMAPolicy != "preferred" ||
		got[1].AliasName != "gpu" || got[1].Count != 1 || got[1].Specs[0].Vendor != 0x10de {
		t.Errorf("got %+v", got)
	}
	if got, err := FlavorPCIRequests(map[string]string{}, aliases); got != nil || err != nil {
		t.Errorf("no extra spec: %v, %v", got, err)
	}
	bad := []struct{ value, part, reason string }{
		{"qat", "qat", "NAME:COUNT"},
		{"qat:1:2", "qat:1:2", "NAME:COUNT"},
		{"qat:1,", "", "NAME:COUNT"},
		{":1", ":1", "no alias name"},
		{"qat:two", "qat:two", "not a decimal"},
		{"qat:-1", "qat:-1", "not a decimal"},
		{"qat:0", "qat:0", "between 1 and"},
		{"qat:2000", "qat:2000", "between 1 and"},
		{"gpu:1,nic:1", "nic:1", `"nic" is not defined`},
	}
	for _, b := range bad {
		_, err := FlavorPCIRequests(map[string]string{ExtraSpecPCI: b.value}, aliases)
		var pe *PCIError
		if !errors.As(err, &pe) || pe.Option != ExtraSpecPCI || pe.Key != b.part || !strings.Contains(pe.Reason, b.reason) {
			t.Errorf("%q: got %v, want part %q and %q", b.value, err, b.part, b.reason)
		}
	}
}

// FuzzParsePCIDeviceSpecs: any value parses or fails with a *PCIError;
// a parsed spec's matching never panics.
func FuzzParsePCIDeviceSpecs(f *testing.F) {
	f.Add(`{"vendor_id": "10de", "address": "*:5e:00.*"}`)
	f.Add(`[{"address": {"bus": "3b", "function": "[1-7]"}}, {"traits": "a,b", "resource_class": "x"}]`)
	f.Add(`{"address": "0000:3b:00.0", "managed": "no", "physical_network": null}`)
	f.Fuzz(func(t *testing.T, v string) {
		specs, err := ParsePCIDeviceSpecs([]string{v})
		if err != nil {
			var pe *PCIError
			if !errors.As(err, &pe) {
				t.Fatalf("error %v is not a *PCIError", err)
			}
			return
		}
		sel := SelectPCI(specs, hostPCI)
		for _, d := range sel {
			if strings.ContainsAny(d.ID, "abcdef ") {
				t.Fatalf("selected %+v", d)
			}
			for _, tr := range d.Traits(nil) {
				if strings.Trim(tr, "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_") != "" {
					t.Fatalf("trait %q from %q", tr, v)
				}
			}
		}
	})
}

// FuzzParsePCIAliases: any value parses or fails with a *PCIError, and
// every parsed alias has a name a flavor can give.
func FuzzParsePCIAliases(f *testing.F) {
	f.Add(`{"name": "qat", "vendor_id": "8086", "product_id": "0443", "device_type": "type-PCI"}`)
	f.Add(`{"name": "gpu", "resource_class": "x", "traits": "a,b", "numa_policy": "", "live_migratable": "yes"}`)
	f.Fuzz(func(t *testing.T, v string) {
		aliases, err := ParsePCIAliases([]string{v})
		if err != nil {
			var pe *PCIError
			if !errors.As(err, &pe) {
				t.Fatalf("error %v is not a *PCIError", err)
			}
			return
		}
		for name, as := range aliases {
			if name == "" || strings.ContainsAny(name, ",:") || !numaPolicies[as[0].NUMAPolicy] {
				t.Fatalf("alias %+v from %q", as, v)
			}
		}
	})
}

// FuzzFlavorPCIRequests: any extra spec value gives requests for defined
// aliases with a count in range, or a *PCIError.
func FuzzFlavorPCIRequests(f *testing.F) {
	aliases := map[string][]PCIAlias{"qat": {{Name: "qat", NUMAPolicy: "legacy"}}, "gpu": {{Name: "gpu"}}}
	f.Add("qat:2,gpu:1")
	f.Add(" qat : 01 ")
	f.Add("qat:1,,")
	f.Fuzz(func(t *testing.T, v string) {
		reqs, err := FlavorPCIRequests(map[string]string{ExtraSpecPCI: v}, aliases)
		if err != nil {
			var pe *PCIError
			if !errors.As(err, &pe) {
				t.Fatalf("error %v is not a *PCIError", err)
			}
			return
		}
		for _, r := range reqs {
			if r.Count < 1 || r.Count > maxPCICount || aliases[r.AliasName] == nil {
				t.Fatalf("request %+v from %q", r, v)
			}
		}
	})
}
