package placement

import "strings"

// DeviceModels are the guest device values an engine offers on this host, in Nova's spellings (the values of
// hw_disk_bus, hw_vif_model, ...). compute/ fills them from the engine's capabilities; a family left empty is one
// the engine has nothing of.
type DeviceModels struct {
	StorageBuses []string // hw_disk_bus and hw_cdrom_bus values: "virtio", "sata", "nvme", ...
	VIFModels    []string // hw_vif_model: "virtio", "e1000", "ne2k_pci", ...
	VideoModels  []string // hw_video_model: "vga", "gop", "none", ...
	SoundModels  []string // hw_sound_model: "ich9", "virtio", ...
	TPMVersions  []string // hw_tpm_version: "1.2", "2.0"
	TPMModels    []string // hw_tpm_model: "tpm-tis", "tpm-crb"
	VIOMMUModels []string // hw_viommu_model: "intel", "smmuv3", "virtio", "auto"
}

// TraitStorageBusNVMe is novabsd's own trait for hosts whose engine gives guests NVMe disks. os-traits has no
// COMPUTE_STORAGE_BUS_NVME because Nova has no nvme disk bus (nova-api refuses hw_disk_bus=nvme); an image that
// asks for NVMe through novabsd_disk_bus requires this trait to land on such a host.
const TraitStorageBusNVMe = "CUSTOM_NOVABSD_STORAGE_BUS_NVME"

// deviceTraitFamilies are the device trait families Nova's libvirt driver owns (its static traits): for each, the
// trait prefix and every value os-traits has a trait for, in Nova's spelling. The trait is the prefix and the
// value upper-cased with '-' and '.' as '_'.
var deviceTraitFamilies = []struct {
	prefix string
	values []string
	models func(DeviceModels) []string
}{
	{"COMPUTE_STORAGE_BUS_", []string{"fdc", "ide", "lxc", "sata", "scsi", "usb", "virtio", "uml", "xen"},
		func(m DeviceModels) []string { return m.StorageBuses }},
	{"COMPUTE_NET_VIF_MODEL_", []string{"e1000", "e1000e", "lan9118", "netfront", "ne2k_pci", "pcnet", "rtl8139",
		"spapr-vlan", "sriov", "virtio", "vmxnet", "vmxnet3", "igb"},
		func(m DeviceModels) []string { return m.VIFModels }},
	{"COMPUTE_GRAPHICS_MODEL_", []string{"bochs", "cirrus", "gop", "none", "qxl", "vga", "virtio", "vmvga", "xen"},
		func(m DeviceModels) []string { return m.VideoModels }},
	{"COMPUTE_SOUND_MODEL_", []string{"sb16", "es1370", "pcspk", "ac97", "ich6", "ich9", "usb", "virtio"},
		func(m DeviceModels) []string { return m.SoundModels }},
	{"COMPUTE_SECURITY_TPM_", []string{"1.2", "2.0"},
		func(m DeviceModels) []string { return m.TPMVersions }},
	// The TPM model traits drop the "tpm-" of the model's name: COMPUTE_SECURITY_TPM_TIS for tpm-tis.
	{"COMPUTE_SECURITY_", []string{"tpm-tis", "tpm-crb"},
		func(m DeviceModels) []string { return m.TPMModels }},
	{"COMPUTE_VIOMMU_MODEL_", []string{"intel", "smmuv3", "virtio", "auto"},
		func(m DeviceModels) []string { return m.VIOMMUModels }},
}

// deviceTrait is the trait of value in the family with prefix.
func deviceTrait(prefix, value string) string {
	return prefix + strings.ToUpper(strings.NewReplacer("-", "_", ".", "_").Replace(value))
}

// DeviceTraits returns every device trait the node owns with whether the engine offers it, as the libvirt
// driver's static traits do: each family's every trait, true for the values in m and false for the rest, so a
// trait the engine lost is removed from the provider. Values os-traits has no trait for get none, except nvme,
// which gives TraitStorageBusNVMe. Traits a Placement of an older release does not know are left out at sync
// (Client.FilterKnownTraits), as Nova drops those os-traits lacks.
func DeviceTraits(m DeviceModels) map[string]bool {
	out := map[string]bool{}
	for _, f := range deviceTraitFamilies {
		have := map[string]bool{}
		for _, v := range f.models(m) {
			have[strings.ToLower(v)] = true
		}
		for _, v := range f.values {
			out[deviceTrait(f.prefix, v)] = have[v]
		}
	}
	nvme := false
	for _, b := range m.StorageBuses {
		nvme = nvme || strings.EqualFold(b, "nvme")
	}
	out[TraitStorageBusNVMe] = nvme
	return out
}
