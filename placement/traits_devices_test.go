package placement

import (
	"context"
	"reflect"
	"slices"
	"strings"
	"testing"
)

// TestDeviceTraits checks the owned device families against os-traits (3.9, Nova 2026.1's): every trait of each
// family is owned, with Nova's spelling turned into the trait's ('-' and '.' as '_'), true only for the values
// given, and nvme as novabsd's own trait.
func TestDeviceTraits(t *testing.T) {
	tests := []struct {
		name string
		m    DeviceModels
		want []string // the true ones
	}{
		{"nothing", DeviceModels{}, nil},
		{"spellings", DeviceModels{VIFModels: []string{"spapr-vlan", "ne2k_pci"}, TPMVersions: []string{"1.2", "2.0"},
			TPMModels: []string{"tpm-tis", "tpm-crb"}, VIOMMUModels: []string{"smmuv3"}, SoundModels: []string{"ich9"}},
			[]string{"COMPUTE_NET_VIF_MODEL_NE2K_PCI", "COMPUTE_NET_VIF_MODEL_SPAPR_VLAN", "COMPUTE_SECURITY_TPM_1_2",
				"COMPUTE_SECURITY_TPM_2_0", "COMPUTE_SECURITY_TPM_CRB", "COMPUTE_SECURITY_TPM_TIS",
				"COMPUTE_SOUND_MODEL_ICH9", "COMPUTE_VIOMMU_MODEL_SMMUV3"}},
		{"nvme is novabsd's; values os-traits lacks give nothing", DeviceModels{StorageBuses: []string{"nvme", "virtio", "sd"},
			VideoModels: []string{"gop", "ramfb"}},
			[]string{"COMPUTE_GRAPHICS_MODEL_GOP", "COMPUTE_STORAGE_BUS_VIRTIO", TraitStorageBusNVMe}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			traits := DeviceTraits(tt.m)
			// os-traits: 9 storage buses, 13 VIF models, 9 graphics, 8 sound, 4 TPM, 4 vIOMMU models; and NVMe.
			if len(traits) != 9+13+9+8+4+4+1 {
				t.Errorf("%d owned device traits, want 48", len(traits))
			}
			var got []string
			for tr, on := range traits {
				if on {
					got = append(got, tr)
				}
				if !isCustom(tr) && !strings.HasPrefix(tr, "COMPUTE_") {
					t.Errorf("owned trait %s is not a COMPUTE_ one", tr)
				}
			}
			slices.Sort(got)
			if want := slices.Sorted(slices.Values(tt.want)); !slices.Equal(got, want) {
				t.Errorf("true traits %q,\nwant %q", got, want)
			}
		})
	}
}

// TestSyncSendsDeviceTraits: the engine's device traits reach the provider through Sync; the custom NVMe trait is
// created first, stale owned traits are removed, an operator's traits kept, and a standard one this Placement does
// not know yet is left out rather than failing the whole set.
func TestSyncSendsDeviceTraits(t *testing.T) {
	f := newFakeCloud(t)
	delete(f.traits, "COMPUTE_GRAPHICS_MODEL_GOP") // an older os-traits
	c := newTestClient(t, f)
	ctx := context.Background()
	if _, err := c.Sync(ctx, testSyncRequest()); err != nil {
		t.Fatal(err)
	}
	// What a former engine (Nova's libvirt driver) left, and an operator's trait.
	rp := f.providers[nodeUUID]
	f.traits["CUSTOM_RACK_A"] = true
	rp.Traits = append(rp.Traits, "COMPUTE_STORAGE_BUS_SCSI", "COMPUTE_GRAPHICS_MODEL_QXL", "CUSTOM_RACK_A")
	rp.Gen++
	f.resetCalls()

	req := testSyncRequest()
	req.Traits.DriverTraits = DeviceTraits(DeviceModels{StorageBuses: []string{"virtio", "nvme", "sata"},
		VIFModels: []string{"virtio", "e1000"}, VideoModels: []string{"gop", "none"}})
	res, err := c.Sync(ctx, req)
	if err != nil {
		t.Fatalf("sync with device traits: %v", err)
	}
	want := []string{"COMPUTE_GRAPHICS_MODEL_NONE", "COMPUTE_IMAGE_TYPE_QCOW2", "COMPUTE_IMAGE_TYPE_RAW",
		"COMPUTE_NET_ATTACH_INTERFACE", "COMPUTE_NET_VIF_MODEL_E1000", "COMPUTE_NET_VIF_MODEL_VIRTIO", "COMPUTE_NODE",
		"COMPUTE_STORAGE_BUS_SATA", "COMPUTE_STORAGE_BUS_VIRTIO", "CUSTOM_NOVABSD_STORAGE_BUS_NVME", "CUSTOM_RACK_A",
		"HW_ARCH_X86_64", "HW_CPU_X86_AVX2", "HW_CPU_X86_INTEL_VMX", "HW_CPU_X86_SSE2", "HW_CPU_X86_VMX"}
	got := slices.Sorted(slices.Values(f.providers[nodeUUID].Traits))
	if !reflect.DeepEqual(got, want) {
		t.Errorf("placement traits\n %q\nwant\n %q", got, want)
	}
	if !reflect.DeepEqual(res.UnknownTraits, []string{"COMPUTE_GRAPHICS_MODEL_GOP"}) || !res.TraitsChanged {
		t.Errorf("unknown traits %q, changed %v; want COMPUTE_GRAPHICS_MODEL_GOP left out and the set changed",
			res.UnknownTraits, res.TraitsChanged)
	}
	calls := strings.Join(f.callLog(), "\n")
	if !strings.Contains(calls, "PUT traits/"+TraitStorageBusNVMe+" @1.6") {
		t.Errorf("the custom NVMe trait was not created before use; calls:\n%s", calls)
	}

	// The engine loses NVMe (another engine, same node): the custom trait goes too.
	req.Traits.DriverTraits = DeviceTraits(DeviceModels{StorageBuses: []string{"virtio"}})
	if _, err := c.Sync(ctx, req); err != nil {
		t.Fatal(err)
	}
	if tr := f.providers[nodeUUID].Traits; slices.Contains(tr, TraitStorageBusNVMe) || slices.Contains(tr, "COMPUTE_STORAGE_BUS_SATA") {
		t.Errorf("placement traits %q keep what the engine no longer offers", tr)
	}
}
