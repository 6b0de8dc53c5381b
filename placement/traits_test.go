package placement

import (
	"reflect"
	"sort"
	"testing"
)

func boolp(b bool) *bool { return &b }

func TestComputeTraits(t *testing.T) {
	tests := []struct {
		name string
		in   TraitInputs
		want []string
	}{
		{
			name: "intel host keeps operator traits and drops stale owned ones",
			in: TraitInputs{
				Current: []string{"CUSTOM_RACK_A", "HW_NIC_SRIOV", "HW_CPU_X86_SVM", "HW_CPU_X86_AMD_SVM",
					"COMPUTE_IMAGE_TYPE_VMDK", "COMPUTE_STATUS_DISABLED", "HW_CPU_HYPERTHREADING"},
				Capabilities:         Capabilities{AttachInterface: true, ImageTypes: []string{"raw", "qcow2", "iso"}},
				ImageTypeExcludeList: []string{"iso"},
				Arch:                 "x86_64",
				CPUFeatures:          []string{"vmx", "sse4.2", "pclmuldq", "aes", "sha-ni", "fma", "lahf_lm"},
				ServiceDisabled:      boolp(false),
			},
			want: []string{"COMPUTE_IMAGE_TYPE_QCOW2", "COMPUTE_IMAGE_TYPE_RAW", "COMPUTE_NET_ATTACH_INTERFACE",
				"COMPUTE_NODE", "CUSTOM_RACK_A", "HW_ARCH_X86_64", "HW_CPU_X86_AESNI", "HW_CPU_X86_CLMUL",
				"HW_CPU_X86_FMA3", "HW_CPU_X86_INTEL_VMX", "HW_CPU_X86_SHA", "HW_CPU_X86_SSE42", "HW_CPU_X86_VMX",
				"HW_NIC_SRIOV"},
		},
		{
			name: "disabled service, amd, hyperthreading, owner nova",
			in: TraitInputs{Arch: "x86_64", CPUFeatures: []string{"svm", "sse4a"}, Hyperthreading: true,
				ServiceDisabled: boolp(true), OwnerNova: true},
			want: []string{"COMPUTE_NODE", "COMPUTE_STATUS_DISABLED", "HW_ARCH_X86_64", "HW_CPU_HYPERTHREADING",
				"HW_CPU_X86_AMD_SVM", "HW_CPU_X86_SSE4A", "HW_CPU_X86_SVM", "OWNER_NOVA"},
		},
		{
			name: "unknown service state leaves the disabled trait alone",
			in:   TraitInputs{Current: []string{"COMPUTE_STATUS_DISABLED"}, Arch: "x86_64"},
			want: []string{"COMPUTE_NODE", "COMPUTE_STATUS_DISABLED", "HW_ARCH_X86_64"},
		},
		{
			name: "arm64 features map to aarch64 traits only",
			in: TraitInputs{Current: []string{"HW_CPU_X86_AESNI"}, Arch: "aarch64",
				CPUFeatures: []string{"aes", "asimd", "atomics", "ssbs"}, EmulationArchs: []string{"x86_64", "vax"}},
			want: []string{"COMPUTE_ARCH_X86_64", "COMPUTE_NODE", "HW_ARCH_AARCH64", "HW_CPU_AARCH64_AES",
				"HW_CPU_AARCH64_ASIMD", "HW_CPU_AARCH64_ATOMICS"},
		},
		{
			name: "remote managed ports need such PCI pools",
			in: TraitInputs{Arch: "x86_64", Capabilities: Capabilities{RemoteManagedPorts: true},
				Current: []string{TraitRemoteManaged}},
			want: []string{"COMPUTE_NODE", "HW_ARCH_X86_64"},
		},
		{
			name: "driver traits add and remove",
			in: TraitInputs{Arch: "x86_64", Current: []string{"COMPUTE_GRAPHICS_MODEL_QXL"},
				DriverTraits: map[string]bool{"COMPUTE_STORAGE_BUS_VIRTIO": true, "COMPUTE_GRAPHICS_MODEL_QXL": false}},
			want: []string{"COMPUTE_NODE", "COMPUTE_STORAGE_BUS_VIRTIO", "HW_ARCH_X86_64"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := ComputeTraits(tt.in)
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("got  %q\nwant %q", got, tt.want)
			}
		})
	}
}

func TestCPUTraitsCoverNovaMapping(t *testing.T) {
	// Every x86 feature Nova maps must give its trait(s) on x86 and none on
	// arm64.
	for feature, traits := range x86CPUTraits {
		on := CPUTraits("x86_64", []string{feature})
		off := CPUTraits("aarch64", []string{feature})
		for _, tr := range traits {
			if !on[tr] {
				t.Errorf("x86 feature %q did not set %s", feature, tr)
			}
			if off[tr] {
				t.Errorf("feature %q set %s on arm64", feature, tr)
			}
		}
	}
	if n := len(CPUTraits("x86_64", nil)); n != 46+23 {
		t.Errorf("%d owned CPU traits, want 46 x86 (Nova's 44 features, svm/vmx give two) + 23 aarch64", n)
	}
}

func TestCapabilityTraitsMatchNovaMap(t *testing.T) {
	got := CapabilityTraits(Capabilities{}, nil)
	var names []string
	for tr, on := range got {
		if on {
			t.Errorf("%s on with no capabilities", tr)
		}
		names = append(names, tr)
	}
	sort.Strings(names)
	// nova/virt/driver.py CAPABILITY_TRAITS_MAP has 32 entries.
	if len(names) != 32 {
		t.Errorf("%d capability traits, want 32: %q", len(names), names)
	}
}
