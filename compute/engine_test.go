package compute

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/novabsd/novabsd/conf"
	"github.com/novabsd/novabsd/hypervisor"
	"github.com/novabsd/novabsd/hypervisor/bhyve"
	"github.com/novabsd/novabsd/hypervisor/host"
	"github.com/novabsd/novabsd/hypervisor/qemu"
	"github.com/novabsd/novabsd/placement"
	"github.com/novabsd/novabsd/rpc/vo"
)

// capsDriver is a driver known only by its capabilities, which is all the node's reports may read.
type capsDriver struct {
	hypervisor.Driver
	caps hypervisor.Capabilities
}

func (d capsDriver) Capabilities() hypervisor.Capabilities { return d.caps }

// TestImageTypeTraits checks that COMPUTE_IMAGE_TYPE_* follow the disk formats and CD-ROM buses the engine
// supports, whatever its name: the disks storage makes are raw, imported from raw or qcow2 images, and an iso
// image is a CD-ROM.
func TestImageTypeTraits(t *testing.T) {
	tests := []struct {
		name   string
		values hypervisor.Supported
		want   []string
	}{
		{"raw disks, no CD-ROM", hypervisor.Supported{DiskFormat: []string{"raw"}}, []string{"QCOW2", "RAW"}},
		{"raw disks and a CD-ROM bus", hypervisor.Supported{DiskFormat: []string{"raw"}, CDROMBus: []string{"sata"}},
			[]string{"ISO", "QCOW2", "RAW"}},
		{"raw and qcow2 disks", hypervisor.Supported{DiskFormat: []string{"raw", "qcow2"}}, []string{"QCOW2", "RAW"}},
		{"qcow2 disks only: storage's raw disks cannot boot", hypervisor.Supported{DiskFormat: []string{"qcow2"},
			CDROMBus: []string{"sata"}}, nil},
		{"nothing", hypervisor.Supported{}, nil},
		{"bhyve amd64", bhyve.Supported("x86_64"), []string{"ISO", "QCOW2", "RAW"}},
		{"qemu", qemu.Supported(), []string{"ISO", "QCOW2", "RAW"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			traits := placement.CapabilityTraits(capabilityTraits(hypervisor.Capabilities{Values: tt.values}), nil)
			var got []string
			for trait, on := range traits {
				if f, ok := strings.CutPrefix(trait, "COMPUTE_IMAGE_TYPE_"); ok && on {
					got = append(got, f)
				}
			}
			slices.Sort(got)
			if !slices.Equal(got, tt.want) {
				t.Errorf("image type traits %v, want %v", got, tt.want)
			}
		})
	}
}

// TestAttachInterfaceTrait: COMPUTE_NET_ATTACH_INTERFACE follows NIC hot-plug; tagged attach is never offered.
func TestAttachInterfaceTrait(t *testing.T) {
	for _, hot := range []bool{false, true} {
		traits := placement.CapabilityTraits(capabilityTraits(hypervisor.Capabilities{NICHotplug: hot}), nil)
		if traits["COMPUTE_NET_ATTACH_INTERFACE"] != hot || traits["COMPUTE_NET_ATTACH_INTERFACE_WITH_TAG"] {
			t.Errorf("NICHotplug %v: attach traits %v, %v", hot, traits["COMPUTE_NET_ATTACH_INTERFACE"],
				traits["COMPUTE_NET_ATTACH_INTERFACE_WITH_TAG"])
		}
	}
}

// TestEngineConfig checks that the storage and VNC settings come from the group of the engine compute_driver
// names, and only from it.
func TestEngineConfig(t *testing.T) {
	base := func() *conf.Config {
		c := &conf.Config{}
		c.VNC.ServerListen = "10.0.0.5"
		c.Bhyve.StorageBackend, c.Bhyve.ZFSPool, c.Bhyve.ZFSDatasetPrefix = "zfs", "zroot", "novabsd"
		c.Bhyve.VNCListen, c.Bhyve.VNCPortMin, c.Bhyve.VNCPortMax = "10.0.0.6", 6000, 6010
		c.Qemu.StorageBackend, c.Qemu.ZFSPool, c.Qemu.ZFSDatasetPrefix = "file", "tank", "q"
		return c
	}
	tests := []struct {
		name string
		edit func(c *conf.Config)
		want engineSettings
	}{
		{"bhyve: its zfs pool and VNC range", func(c *conf.Config) { c.Default.ComputeDriver = "bhyve" },
			engineSettings{name: "bhyve", zfsPool: "zroot", zfsPrefix: "novabsd", vncListen: "10.0.0.6", vncMin: 6000, vncMax: 6010}},
		{"bhyve files, listen from [vnc]", func(c *conf.Config) {
			c.Default.ComputeDriver, c.Bhyve.StorageBackend, c.Bhyve.VNCListen = "novabsd.bhyve", "file", ""
		}, engineSettings{name: "bhyve", vncListen: "10.0.0.5", vncMin: 6000, vncMax: 6010}},
		{"qemu files: bhyve's pool and range do not apply", func(c *conf.Config) { c.Default.ComputeDriver = "qemu" },
			engineSettings{name: "qemu", vncListen: "10.0.0.5", vncMin: 5900, vncMax: 5999}},
		{"libvirt driver on zfs", func(c *conf.Config) {
			c.Default.ComputeDriver, c.Qemu.StorageBackend, c.VNC.ServerListen = "libvirt.LibvirtDriver", "zfs", ""
		}, engineSettings{name: "qemu", zfsPool: "tank", zfsPrefix: "q", vncListen: "127.0.0.1", vncMin: 5900, vncMax: 5999}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := base()
			tt.edit(c)
			if got := engineConfig(c); got != tt.want {
				t.Errorf("engineConfig = %+v, want %+v", got, tt.want)
			}
			if got := (&Service{}).zfsPool(c); got != tt.want.zfsPool {
				t.Errorf("zfsPool = %q, want %q", got, tt.want.zfsPool)
			}
		})
	}
}

// TestBhyveVMMDir: [bhyve] vmm_dir is where the bhyve engine looks for kernel VMs (what List reports besides the
// guests it supervises), and a vmm_dir that is not absolute stops the engine with a conf.Error naming file, line and
// option.
func TestBhyveVMMDir(t *testing.T) {
	vmm := t.TempDir()
	if err := os.WriteFile(filepath.Join(vmm, "instance-0000002a"), nil, 0o600); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name, value string
		wantList    []string // nil: newEngine must refuse the value
	}{
		{"absolute directory", vmm, []string{"instance-0000002a"}},
		{"relative directory", "dev/vmm", nil},
		{"empty", "", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg, path := loadConf(t, "[DEFAULT]\ncompute_driver = bhyve\ninstances_path = "+t.TempDir()+
				"\n[bhyve]\nstorage_backend = file\nvmm_dir = "+tt.value+"\n")
			e, err := newEngine(cfg, slog.Default())
			if tt.wantList == nil {
				var ce *conf.Error
				if !errors.As(err, &ce) || ce.File != path || ce.Line != 6 || ce.Group != "bhyve" ||
					ce.Option != "vmm_dir" || !strings.Contains(err.Error(), "not an absolute path") {
					t.Fatalf("newEngine error %v, want a conf.Error for %s:6 [bhyve] vmm_dir", err, path)
				}
				return
			}
			if err != nil {
				t.Fatalf("newEngine: %v", err)
			}
			got, err := e.driver.List(context.Background())
			if err != nil || !slices.Equal(got, tt.wantList) {
				t.Fatalf("List = %v, %v; want the VMs of vmm_dir %v", got, err, tt.wantList)
			}
		})
	}
}

// TestNodeReportsEngineHypervisorType checks that the ComputeNode's hypervisor_type and its HVSpec's hv_type are
// the engine's, not the host's operating system's.
func TestNodeReportsEngineHypervisorType(t *testing.T) {
	tests := []struct{ hvType, wantSpec string }{
		{"bhyve", "bhyve"},
		{"QEMU", "qemu"},
	}
	for _, tt := range tests {
		t.Run(tt.hvType, func(t *testing.T) {
			s, _, err := newTestService(t, nil)
			if err != nil {
				t.Fatal(err)
			}
			s.release, _ = ReleaseByName("2026.1")
			s.lc = newLifecycle(&engine{driver: capsDriver{caps: hypervisor.Capabilities{HypervisorType: tt.hvType}}}, 1)
			// The host's discovery says otherwise: what the node reports must not come from it.
			res := &resources{host: &host.Host{Arch: "x86_64", VCPUs: 4, MemoryMB: 8192, HypervisorType: "other"}}
			values, err := s.nodeValues(s.cfg.Load(), res)
			if err != nil {
				t.Fatal(err)
			}
			if got := values["hypervisor_type"]; got != tt.hvType {
				t.Errorf("hypervisor_type = %v, want %s", got, tt.hvType)
			}
			specs := values["supported_hv_specs"].([]*vo.Object)
			var hv string
			if len(specs) != 1 || json.Unmarshal(specs[0].Data["hv_type"], &hv) != nil || hv != tt.wantSpec {
				t.Errorf("supported_hv_specs = %v, want one with hv_type %s", specs, tt.wantSpec)
			}
		})
	}
}

// TestDeviceTraits checks the device traits each engine's values earn: the buses, NIC and video models it offers
// are true, every other trait of those families false (so Placement drops stale ones), the sound, TPM and vIOMMU
// families all false, and NVMe as novabsd's own trait. Only the values decide, never the engine's name.
func TestDeviceTraits(t *testing.T) {
	tests := []struct {
		name   string
		values hypervisor.Supported
		want   []string // the true ones
	}{
		{"qemu", qemu.Supported(), []string{
			"COMPUTE_GRAPHICS_MODEL_CIRRUS", "COMPUTE_GRAPHICS_MODEL_NONE", "COMPUTE_GRAPHICS_MODEL_VGA",
			"COMPUTE_GRAPHICS_MODEL_VIRTIO",
			"COMPUTE_NET_VIF_MODEL_E1000", "COMPUTE_NET_VIF_MODEL_E1000E", "COMPUTE_NET_VIF_MODEL_NE2K_PCI",
			"COMPUTE_NET_VIF_MODEL_RTL8139", "COMPUTE_NET_VIF_MODEL_VIRTIO",
			"COMPUTE_STORAGE_BUS_IDE", "COMPUTE_STORAGE_BUS_SATA", "COMPUTE_STORAGE_BUS_SCSI",
			"COMPUTE_STORAGE_BUS_VIRTIO", placement.TraitStorageBusNVMe}},
		{"bhyve amd64", bhyve.Supported("x86_64"), []string{
			"COMPUTE_GRAPHICS_MODEL_GOP", "COMPUTE_GRAPHICS_MODEL_NONE",
			"COMPUTE_NET_VIF_MODEL_E1000", "COMPUTE_NET_VIF_MODEL_VIRTIO",
			"COMPUTE_STORAGE_BUS_SATA", "COMPUTE_STORAGE_BUS_VIRTIO", placement.TraitStorageBusNVMe}},
		{"bhyve arm64", bhyve.Supported("aarch64"), []string{
			"COMPUTE_GRAPHICS_MODEL_GOP", "COMPUTE_GRAPHICS_MODEL_NONE", "COMPUTE_NET_VIF_MODEL_VIRTIO",
			"COMPUTE_STORAGE_BUS_SATA", "COMPUTE_STORAGE_BUS_VIRTIO", placement.TraitStorageBusNVMe}},
		{"a CD-ROM bus alone earns its trait; no NVMe", hypervisor.Supported{DiskBus: []string{"virtio"},
			CDROMBus: []string{"ide"}}, []string{"COMPUTE_STORAGE_BUS_IDE", "COMPUTE_STORAGE_BUS_VIRTIO"}},
		{"nothing", hypervisor.Supported{}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			traits := deviceTraits(hypervisor.Capabilities{HypervisorType: "other", Values: tt.values})
			var got []string
			for trait, on := range traits {
				if on {
					got = append(got, trait)
				}
			}
			slices.Sort(got)
			want := slices.Sorted(slices.Values(tt.want))
			if !slices.Equal(got, want) {
				t.Errorf("true traits %q,\nwant %q", got, want)
			}
			// Owned and false: what the libvirt driver also reports false on such a host.
			for _, off := range []string{"COMPUTE_STORAGE_BUS_USB", "COMPUTE_NET_VIF_MODEL_SPAPR_VLAN",
				"COMPUTE_GRAPHICS_MODEL_QXL", "COMPUTE_SOUND_MODEL_ICH9", "COMPUTE_SECURITY_TPM_2_0",
				"COMPUTE_SECURITY_TPM_1_2", "COMPUTE_SECURITY_TPM_TIS", "COMPUTE_SECURITY_TPM_CRB",
				"COMPUTE_VIOMMU_MODEL_AUTO", "COMPUTE_VIOMMU_MODEL_INTEL"} {
				if on, owned := traits[off]; !owned || on {
					t.Errorf("%s: owned %v, on %v; want owned and off", off, owned, on)
				}
			}
		})
	}
}

// TestSyncRequestCarriesDeviceTraits: the audit's request to Placement carries the engine's device traits, and the
// set Sync computes from it adds them and removes the stale ones a former engine (or Nova's libvirt driver) left.
func TestSyncRequestCarriesDeviceTraits(t *testing.T) {
	s, _, err := newTestService(t, nil)
	if err != nil {
		t.Fatal(err)
	}
	s.nodeUUID = testNodeUUID
	s.release, _ = ReleaseByName("2026.1")
	s.lc = newLifecycle(&engine{driver: capsDriver{caps: hypervisor.Capabilities{Values: bhyve.Supported("x86_64")}}}, 1)
	res := &resources{host: &host.Host{Arch: "x86_64", VCPUs: 4, MemoryMB: 8192}, disk: host.Disk{TotalBytes: 100 << 30}}
	req := s.syncRequest(s.cfg.Load(), res, nil)
	if !req.Traits.DriverTraits[placement.TraitStorageBusNVMe] || !req.Traits.DriverTraits["COMPUTE_GRAPHICS_MODEL_GOP"] {
		t.Fatalf("request's driver traits %v lack the bhyve engine's", req.Traits.DriverTraits)
	}
	ti := req.Traits
	ti.Current = []string{"COMPUTE_STORAGE_BUS_SCSI", "COMPUTE_GRAPHICS_MODEL_QXL", "CUSTOM_RACK_A"}
	traits := placement.ComputeTraits(ti)
	for _, want := range []string{"COMPUTE_STORAGE_BUS_VIRTIO", "COMPUTE_STORAGE_BUS_SATA", placement.TraitStorageBusNVMe,
		"COMPUTE_NET_VIF_MODEL_E1000", "COMPUTE_GRAPHICS_MODEL_GOP", "CUSTOM_RACK_A"} {
		if !slices.Contains(traits, want) {
			t.Errorf("traits %q lack %s", traits, want)
		}
	}
	for _, stale := range []string{"COMPUTE_STORAGE_BUS_SCSI", "COMPUTE_GRAPHICS_MODEL_QXL"} {
		if slices.Contains(traits, stale) {
			t.Errorf("traits %q keep the stale %s", traits, stale)
		}
	}
}
