package domain

import (
	"errors"
	"slices"
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

// TestNovabsdDiskBus: novabsd_disk_bus puts the root, ephemeral and swap disks on its bus over hw_disk_bus, takes
// exactly the driver's disk buses (nvme included, which Nova's hw_disk_bus cannot name), and leaves alone a disk
// with its own bus and the CD-ROMs.
func TestNovabsdDiskBus(t *testing.T) {
	o := qemuLike()
	o.Supported.DiskBus = append(o.Supported.DiskBus, "nvme")
	spec := hypervisor.Spec{UUID: "u", Name: "n", Dir: "/d", VCPUs: 1, MemoryMB: 64,
		Disks: []hypervisor.Disk{
			{Role: hypervisor.RoleRoot, Path: "/d/disk"},
			{Role: hypervisor.RoleEphemeral, Path: "/d/disk.eph0"},
			{Role: hypervisor.RoleEphemeral, Path: "/d/disk.eph1", Bus: "sata"},
			{Role: hypervisor.RoleSwap, Path: "/d/disk.swap"},
			{Role: hypervisor.RoleConfigDrive, Path: "/d/disk.config", CDROM: true},
		}}
	tests := []struct {
		name  string
		image map[string]string
		want  []string // target dev/bus per disk
		prop  string   // refused property
	}{
		{"nvme over hw_disk_bus", map[string]string{"novabsd_disk_bus": "nvme", "hw_disk_bus": "scsi"},
			[]string{"nvme0n1/nvme", "nvme1n1/nvme", "sda/sata", "nvme2n1/nvme", "hda/ide"}, ""},
		{"a Nova bus too", map[string]string{"novabsd_disk_bus": "sata", "hw_disk_bus": "virtio"},
			[]string{"sda/sata", "sdb/sata", "sdc/sata", "sdd/sata", "hda/ide"}, ""},
		{"empty is unset", map[string]string{"novabsd_disk_bus": "", "hw_disk_bus": "scsi"},
			[]string{"sda/scsi", "sdb/scsi", "sdc/sata", "sdd/scsi", "hda/ide"}, ""},
		{"hw_disk_bus alone", map[string]string{"hw_disk_bus": "nvme"},
			[]string{"nvme0n1/nvme", "nvme1n1/nvme", "sda/sata", "nvme2n1/nvme", "hda/ide"}, ""},
		{"a bus the driver lacks", map[string]string{"novabsd_disk_bus": "usb"}, nil, "novabsd_disk_bus"},
		{"a CD-ROM bus is no disk bus", map[string]string{"novabsd_disk_bus": "fdc", "hw_disk_bus": "virtio"}, nil,
			"novabsd_disk_bus"},
		{"not a bus", map[string]string{"novabsd_disk_bus": "nvme,serial=x"}, nil, "novabsd_disk_bus"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dom, err := Build(spec, Props{Image: tt.image}, o)
			if tt.prop != "" {
				var pe *hypervisor.PropertyError
				if !errors.As(err, &pe) || pe.Property != tt.prop || pe.Value != tt.image[tt.prop] {
					t.Fatalf("got %v; want a PropertyError on %s", err, tt.prop)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			var got []string
			for _, d := range dom.Devices.Disks {
				got = append(got, d.Target.Dev+"/"+d.Target.Bus)
			}
			if !slices.Equal(got, tt.want) {
				t.Errorf("disks %q, want %q", got, tt.want)
			}
		})
	}
}

// TestDiskBusNamesTheProperty: DiskBus, which compute/ uses for the iso and rescue decisions, reports the
// property that set the bus.
func TestDiskBusNamesTheProperty(t *testing.T) {
	o := qemuLike()
	tests := []struct {
		image     map[string]string
		prop, bus string
		err       bool
	}{
		{nil, "hw_disk_bus", "", false},
		{map[string]string{"hw_disk_bus": "scsi"}, "hw_disk_bus", "scsi", false},
		{map[string]string{"hw_disk_bus": "nvme"}, "hw_disk_bus", "", true},
		{map[string]string{"novabsd_disk_bus": "sata", "hw_disk_bus": "scsi"}, "novabsd_disk_bus", "sata", false},
		{map[string]string{"novabsd_disk_bus": "nvme", "hw_disk_bus": "scsi"}, "novabsd_disk_bus", "", true},
	}
	for _, tt := range tests {
		prop, bus, err := DiskBus(tt.image, o)
		if prop != tt.prop || bus != tt.bus || (err != nil) != tt.err {
			t.Errorf("DiskBus(%v) = %q, %q, %v; want %q, %q, error %v", tt.image, prop, bus, err, tt.prop, tt.bus, tt.err)
		}
		var pe *hypervisor.PropertyError
		if err != nil && (!errors.As(err, &pe) || pe.Property != tt.prop) {
			t.Errorf("DiskBus(%v) error %v does not name %s", tt.image, err, tt.prop)
		}
	}
}
