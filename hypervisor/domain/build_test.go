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

// TestUnsupportedRefused: every image property or extra spec asking for a device no engine gives fails the build
// with a PropertyError naming the property Nova takes the value from; values asking for nothing pass.
func TestUnsupportedRefused(t *testing.T) {
	type kv = map[string]string
	tests := []struct {
		name         string
		image, extra kv
		prop         string // "" passes
	}{
		{"secure boot required by image", kv{"os_secure_boot": "required"}, nil, "os_secure_boot"},
		{"secure boot required by flavor", nil, kv{"os:secure_boot": "required"}, "os:secure_boot"},
		{"secure boot optional", kv{"os_secure_boot": "optional"}, kv{"os:secure_boot": "optional"}, ""},
		{"secure boot disabled", kv{"os_secure_boot": "disabled"}, kv{"os:secure_boot": "disabled"}, ""},
		{"secure boot required by image beside a disabled flavor", kv{"os_secure_boot": "required"},
			kv{"os:secure_boot": "disabled"}, "os_secure_boot"},
		{"secure boot unknown policy", kv{"os_secure_boot": "maybe"}, nil, "os_secure_boot"},
		{"tpm version by image", kv{"hw_tpm_version": "2.0"}, nil, "hw_tpm_version"},
		{"tpm version by flavor wins", kv{"hw_tpm_version": "2.0"}, kv{"hw:tpm_version": "2.0"}, "hw:tpm_version"},
		{"tpm model alone asks for no TPM (image)", kv{"hw_tpm_model": "tpm-crb"}, nil, ""},
		{"tpm model alone asks for no TPM (flavor)", nil, kv{"hw:tpm_model": "tpm-tis"}, ""},
		{"tpm model with a version", kv{"hw_tpm_model": "tpm-crb", "hw_tpm_version": "2.0"}, nil, "hw_tpm_version"},
		{"sound by image", kv{"hw_sound_model": "ich9"}, nil, "hw_sound_model"},
		{"sound by flavor", nil, kv{"hw:sound_model": "virtio"}, "hw:sound_model"},
		{"memory encryption by image", kv{"hw_mem_encryption": "True"}, nil, "hw_mem_encryption"},
		{"memory encryption by flavor", nil, kv{"hw:mem_encryption": "yes"}, "hw:mem_encryption"},
		{"memory encryption off", kv{"hw_mem_encryption": "false"}, kv{"hw:mem_encryption": "no"}, ""},
		{"viommu by image", kv{"hw_viommu_model": "auto"}, nil, "hw_viommu_model"},
		{"viommu by flavor", nil, kv{"hw:viommu_model": "intel"}, "hw:viommu_model"},
		{"two serial ports by image", kv{"hw_serial_port_count": "2"}, nil, "hw_serial_port_count"},
		{"two serial ports by flavor", nil, kv{"hw:serial_port_count": "2"}, "hw:serial_port_count"},
		{"image lowers the flavor's serial ports to one", kv{"hw_serial_port_count": "1"},
			kv{"hw:serial_port_count": "4"}, ""},
		{"image serial ports above the flavor's", kv{"hw_serial_port_count": "3"}, kv{"hw:serial_port_count": "2"},
			"hw_serial_port_count"},
		{"one serial port", kv{"hw_serial_port_count": "1"}, kv{"hw:serial_port_count": "1"}, ""},
		{"serial port count not a number", nil, kv{"hw:serial_port_count": "two"}, "hw:serial_port_count"},
		{"negative serial port count", kv{"hw_serial_port_count": "-1"}, nil, "hw_serial_port_count"},
		{"watchdog by image", kv{"hw_watchdog_action": "reset"}, nil, "hw_watchdog_action"},
		{"watchdog by flavor", nil, kv{"hw:watchdog_action": "poweroff"}, "hw:watchdog_action"},
		{"image disables the flavor's watchdog", kv{"hw_watchdog_action": "disabled"},
			kv{"hw:watchdog_action": "reset"}, ""},
		{"image watchdog wins over a disabled flavor", kv{"hw_watchdog_action": "pause"},
			kv{"hw:watchdog_action": "disabled"}, "hw_watchdog_action"},
		{"watchdog disabled", nil, kv{"hw:watchdog_action": "disabled"}, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := hypervisor.Spec{UUID: "u", Name: "n", Dir: "/d", VCPUs: 1, MemoryMB: 64,
				Disks: []hypervisor.Disk{{Role: hypervisor.RoleRoot, Path: "/d/disk"}}}
			dom, err := Build(s, Props{Image: tt.image, Extra: tt.extra}, qemuLike())
			if tt.prop == "" {
				if err != nil || dom == nil {
					t.Fatalf("refused: %v", err)
				}
				return
			}
			var pe *hypervisor.PropertyError
			if !errors.As(err, &pe) || pe.Property != tt.prop || pe.Driver != "test" {
				t.Fatalf("got %v; want a PropertyError of driver test on %s", err, tt.prop)
			}
			if want := firstSet(tt.extra[tt.prop], tt.image[tt.prop]); pe.Value != want {
				t.Errorf("refused value %q, want %q", pe.Value, want)
			}
		})
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
