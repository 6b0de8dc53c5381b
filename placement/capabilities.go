package placement

import "strings"

// Capabilities are the driver capabilities Nova turns into COMPUTE_*
// traits (nova/virt/driver.py CAPABILITY_TRAITS_MAP). compute/ fills them
// from what the engine supports.
type Capabilities struct {
	AttachInterface          bool // COMPUTE_NET_ATTACH_INTERFACE
	DeviceTagging            bool // COMPUTE_DEVICE_TAGGING
	TaggedAttachInterface    bool // COMPUTE_NET_ATTACH_INTERFACE_WITH_TAG
	TaggedAttachVolume       bool // COMPUTE_VOLUME_ATTACH_WITH_TAG
	ExtendVolume             bool // COMPUTE_VOLUME_EXTEND
	MultiAttach              bool // COMPUTE_VOLUME_MULTI_ATTACH
	TrustedCerts             bool // COMPUTE_TRUSTED_CERTS
	Accelerators             bool // COMPUTE_ACCELERATORS
	MigrateToSameHost        bool // COMPUTE_SAME_HOST_COLD_MIGRATE
	BFVRescue                bool // COMPUTE_RESCUE_BFV
	SecureBoot               bool // COMPUTE_SECURITY_UEFI_SECURE_BOOT
	SocketPCINUMAAffinity    bool // COMPUTE_SOCKET_PCI_NUMA_AFFINITY
	RemoteManagedPorts       bool // COMPUTE_REMOTE_MANAGED_PORTS (only with such PCI pools)
	EphemeralEncryption      bool // COMPUTE_EPHEMERAL_ENCRYPTION
	EphemeralEncryptionLUKS  bool // COMPUTE_EPHEMERAL_ENCRYPTION_LUKS
	EphemeralEncryptionPlain bool // COMPUTE_EPHEMERAL_ENCRYPTION_PLAIN
	AddressSpacePassthrough  bool // COMPUTE_ADDRESS_SPACE_PASSTHROUGH
	AddressSpaceEmulated     bool // COMPUTE_ADDRESS_SPACE_EMULATED
	StatelessFirmware        bool // COMPUTE_SECURITY_STATELESS_FIRMWARE
	VirtioFS                 bool // COMPUTE_STORAGE_VIRTIO_FS
	MemBackingFile           bool // COMPUTE_MEM_BACKING_FILE
	// ImageTypes lists the disk formats the driver can boot, lower-case
	// ("raw", "qcow2", "iso", ...); each known one maps to
	// COMPUTE_IMAGE_TYPE_<FORMAT>.
	ImageTypes []string
}

// imageTypes are the formats Nova has a supports_image_type_* capability
// for.
var imageTypes = []string{"aki", "ami", "ari", "iso", "qcow2", "raw", "vdi", "vhd", "vhdx", "vmdk", "ploop"}

// CapabilityTraits returns every capability trait with whether it is
// supported, as ComputeDriver.capabilities_as_traits does; image types in
// exclude ([compute] image_type_exclude_list) are forced unsupported.
func CapabilityTraits(c Capabilities, exclude []string) map[string]bool {
	t := map[string]bool{
		"COMPUTE_NET_ATTACH_INTERFACE":          c.AttachInterface,
		"COMPUTE_DEVICE_TAGGING":                c.DeviceTagging,
		"COMPUTE_NET_ATTACH_INTERFACE_WITH_TAG": c.TaggedAttachInterface,
		"COMPUTE_VOLUME_ATTACH_WITH_TAG":        c.TaggedAttachVolume,
		"COMPUTE_VOLUME_EXTEND":                 c.ExtendVolume,
		"COMPUTE_VOLUME_MULTI_ATTACH":           c.MultiAttach,
		"COMPUTE_TRUSTED_CERTS":                 c.TrustedCerts,
		"COMPUTE_ACCELERATORS":                  c.Accelerators,
		"COMPUTE_SAME_HOST_COLD_MIGRATE":        c.MigrateToSameHost,
		"COMPUTE_RESCUE_BFV":                    c.BFVRescue,
		"COMPUTE_SECURITY_UEFI_SECURE_BOOT":     c.SecureBoot,
		"COMPUTE_SOCKET_PCI_NUMA_AFFINITY":      c.SocketPCINUMAAffinity,
		TraitRemoteManaged:                      c.RemoteManagedPorts,
		"COMPUTE_EPHEMERAL_ENCRYPTION":          c.EphemeralEncryption,
		"COMPUTE_EPHEMERAL_ENCRYPTION_LUKS":     c.EphemeralEncryptionLUKS,
		"COMPUTE_EPHEMERAL_ENCRYPTION_PLAIN":    c.EphemeralEncryptionPlain,
		"COMPUTE_ADDRESS_SPACE_PASSTHROUGH":     c.AddressSpacePassthrough,
		"COMPUTE_ADDRESS_SPACE_EMULATED":        c.AddressSpaceEmulated,
		"COMPUTE_SECURITY_STATELESS_FIRMWARE":   c.StatelessFirmware,
		"COMPUTE_STORAGE_VIRTIO_FS":             c.VirtioFS,
		"COMPUTE_MEM_BACKING_FILE":              c.MemBackingFile,
	}
	supported := map[string]bool{}
	for _, f := range c.ImageTypes {
		supported[strings.ToLower(f)] = true
	}
	for _, f := range exclude {
		delete(supported, strings.ToLower(strings.TrimSpace(f)))
	}
	for _, f := range imageTypes {
		t[imageTypeTraitPrefix+strings.ToUpper(f)] = supported[f]
	}
	return t
}
