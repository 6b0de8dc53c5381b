package domain

import (
	"errors"
	"testing"

	"github.com/novabsd/novabsd/hypervisor"
)

func qemuLike() Options {
	return Options{
		Driver: "test", Type: "kvm", Arch: "x86_64", AllowThreads: true,
		Supported: hypervisor.Supported{
			DiskBus: []string{"virtio", "scsi", "sata", "ide"}, CDROMBus: []string{"ide", "sata"},
			VIFModel: []string{"virtio", "e1000"}, Firmware: []string{"bios", "uefi"},
			RNGModel: []string{"virtio"}, PointerModel: []string{"usbtablet", "ps2mouse"},
			VideoModel: []string{"virtio", "cirrus"}, DiskFormat: []string{"raw", "qcow2"},
		},
		DefaultDiskBus: "virtio", DefaultCDROMBus: "ide", DefaultVIFModel: "virtio", DefaultVideoModel: "virtio",
		Console: "pty", RNGBackend: "/dev/urandom", USBController: "qemu-xhci",
	}
}

func TestBuildDomain(t *testing.T) {
	s := hypervisor.Spec{UUID: "u-1", Name: "instance-1", Dir: "/inst", VCPUs: 4, MemoryMB: 1024,
		Disks: []hypervisor.Disk{
			{Role: hypervisor.RoleRoot, Path: "/inst/disk", Format: "qcow2"},
			{Role: hypervisor.RoleEphemeral, Path: "/dev/zvol/t/e", Format: "raw"},
			{Role: hypervisor.RoleConfigDrive, Path: "/inst/disk.config", CDROM: true},
		},
		NICs: []hypervisor.NIC{{MAC: "FA:16:3E:00:00:01", Tap: "tap0"}},
		VNC:  &hypervisor.VNC{Listen: "127.0.0.1"},
	}
	img := map[string]string{"hw_disk_bus": "scsi", "hw_firmware_type": "uefi", "hw_pointer_model": "usbtablet", "hw_rng_model": "virtio", "hw_cpu_sockets": "2"}
	dom, err := Build(s, Props{Image: img, Extra: map[string]string{"hw_rng:allowed": "false"}}, qemuLike())
	if err != nil {
		t.Fatal(err)
	}
	d := dom.Devices
	checks := []struct {
		what      string
		got, want any
	}{
		{"memory KiB", dom.Memory.Value, uint(1024 * 1024)},
		{"root target", d.Disks[0].Target.Dev + "/" + d.Disks[0].Target.Bus, "sda/scsi"},
		{"root boot", d.Disks[0].Boot != nil && d.Disks[0].Boot.Order == 1, true},
		{"ephemeral block", d.Disks[1].Source.Block != nil && d.Disks[1].Target.Dev == "sdb", true},
		{"cdrom bus", d.Disks[2].Device + "/" + d.Disks[2].Target.Bus + "/" + d.Disks[2].Target.Dev, "cdrom/ide/hda"},
		{"mac normalised", d.Interfaces[0].MAC.Address, "fa:16:3e:00:00:01"},
		{"nvram", dom.OS.NVRam.NVRam, "/inst/nvram.fd"},
		{"efi autoselect", dom.OS.Firmware, "efi"},
		{"rng disallowed by flavor", len(d.RNGs), 0},
		{"tablet", len(d.Inputs) == 1 && d.Inputs[0].Type == "tablet", true},
		{"console log", d.Serials[0].Log.File, "/inst/console.log"},
		{"vnc autoport", d.Graphics[0].VNC.AutoPort, "yes"},
	}
	if tp := dom.CPU.Topology; tp.Sockets != 2 || tp.Cores != 2 || tp.Threads != 1 {
		t.Errorf("topology = %+v, want 2 sockets x 2 cores x 1 thread", tp)
	}
	for _, c := range checks {
		if c.got != c.want {
			t.Errorf("%s = %v, want %v", c.what, c.got, c.want)
		}
	}
}

func TestBuildRejects(t *testing.T) {
	base := func() hypervisor.Spec {
		return hypervisor.Spec{UUID: "u", Name: "n", Dir: "/d", VCPUs: 1, MemoryMB: 64,
			Disks: []hypervisor.Disk{{Role: hypervisor.RoleRoot, Path: "/d/disk"}}}
	}
	tests := []struct {
		name  string
		image map[string]string
		mod   func(*hypervisor.Spec)
		prop  string
	}{
		{"nvme not offered", map[string]string{"hw_disk_bus": "nvme"}, nil, "hw_disk_bus"},
		{"vif model", map[string]string{"hw_vif_model": "ne2k_pci"}, func(s *hypervisor.Spec) { s.NICs = []hypervisor.NIC{{MAC: "fa:16:3e:00:00:01", Tap: "t"}} }, "hw_vif_model"},
		{"long vnc password", nil, func(s *hypervisor.Spec) { s.VNC = &hypervisor.VNC{Password: "123456789"} }, "vnc password"},
		{"bad pci", nil, func(s *hypervisor.Spec) { s.PCI = []hypervisor.PCIDevice{{Address: "03:00"}} }, "pci address"},
		{"zero memory", nil, func(s *hypervisor.Spec) { s.MemoryMB = 0 }, "memory_mb"},
		{"machine", nil, nil, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := base()
			if tt.mod != nil {
				tt.mod(&s)
			}
			_, err := Build(s, Props{Image: tt.image}, qemuLike())
			if tt.prop == "" {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			var pe *hypervisor.PropertyError
			if !errors.As(err, &pe) || pe.Property != tt.prop {
				t.Fatalf("got %v; want PropertyError on %s", err, tt.prop)
			}
		})
	}
}

// TestDiskDriverName checks that <disk><driver name> comes from the driver's options, not from the domain type.
func TestDiskDriverName(t *testing.T) {
	tests := []struct{ typ, driver string }{
		{"kvm", "qemu"},
		{"qemu", "qemu"},
		{"kvm", ""},
		{"bhyve", ""},
	}
	for _, tt := range tests {
		o := qemuLike()
		o.Type, o.DiskDriver = tt.typ, tt.driver
		s := hypervisor.Spec{UUID: "u-1", Name: "instance-1", Dir: "/inst", VCPUs: 1, MemoryMB: 256,
			Disks: []hypervisor.Disk{{Role: hypervisor.RoleRoot, Path: "/inst/disk", Format: "raw"}}}
		dom, err := Build(s, Props{}, o)
		if err != nil {
			t.Fatal(err)
		}
		if got := dom.Devices.Disks[0].Driver.Name; got != tt.driver {
			t.Errorf("type %s, DiskDriver %q: disk driver name %q", tt.typ, tt.driver, got)
		}
	}
}
