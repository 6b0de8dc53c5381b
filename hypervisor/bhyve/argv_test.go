package bhyve

import (
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/novabsd/novabsd/hypervisor"
	"github.com/novabsd/novabsd/hypervisor/domain"
)

var update = flag.Bool("update", false, "rewrite golden argv files under testdata/golden")

const uuid = "6f1c2a9e-3d4b-4c5a-8e7f-0a1b2c3d4e5f"

func amd64Config() Config {
	c := DefaultConfig()
	c.Arch = "x86_64"
	return c
}

func arm64Config() Config {
	c := DefaultConfig()
	c.Arch = "aarch64"
	return c
}

func spec(vcpus, memMB int) hypervisor.Spec {
	return hypervisor.Spec{UUID: uuid, Name: "instance-0000002a", Dir: "/var/lib/novabsd/instances/" + uuid, VCPUs: vcpus, MemoryMB: memMB}
}

func root(bus string) hypervisor.Disk {
	return hypervisor.Disk{Role: hypervisor.RoleRoot, Path: "/dev/zvol/tank/novabsd/" + uuid + "_disk", Format: "raw", Bus: bus}
}

func nic(i int, model string) hypervisor.NIC {
	return hypervisor.NIC{MAC: fmt.Sprintf("fa:16:3e:00:00:%02x", i), Model: model, Tap: fmt.Sprintf("tap%d", i)}
}

func disks(bus string, n int) []hypervisor.Disk {
	d := []hypervisor.Disk{root(bus)}
	roles := []hypervisor.DiskRole{hypervisor.RoleEphemeral, hypervisor.RoleSwap, hypervisor.RoleVolume, hypervisor.RoleVolume}
	for i := 1; i < n; i++ {
		d = append(d, hypervisor.Disk{Role: roles[(i-1)%len(roles)], Path: fmt.Sprintf("/dev/zvol/tank/novabsd/%s_disk.%d", uuid, i), Format: "raw", Bus: bus})
	}
	return d
}

type specCase struct {
	name  string
	cfg   Config
	spec  func() hypervisor.Spec
	image map[string]string
	extra map[string]string
}

func specCases() []specCase {
	var cs []specCase
	add := func(name string, cfg Config, image, extra map[string]string, f func(*hypervisor.Spec)) {
		cs = append(cs, specCase{name: name, cfg: cfg, image: image, extra: extra, spec: func() hypervisor.Spec {
			s := spec(2, 2048)
			f(&s)
			return s
		}})
	}
	full := func(s *hypervisor.Spec) {
		s.Disks = disks("", 1)
		s.NICs = []hypervisor.NIC{nic(0, "")}
		s.VNC = &hypervisor.VNC{Listen: "127.0.0.1", Port: 5901}
	}
	add("uefi-virtio-full", amd64Config(), map[string]string{"hw_rng_model": "virtio", "hw_pointer_model": "usbtablet"}, nil, full)
	for _, n := range []int{1, 2, 3, 4, 8, 12, 16} {
		n := n
		add(fmt.Sprintf("vcpus-%02d", n), amd64Config(), nil, nil, func(s *hypervisor.Spec) { s.VCPUs = n; s.Disks = disks("virtio", 1) })
	}
	add("vcpus-16-sockets2-threads2", amd64Config(), map[string]string{"hw_cpu_threads": "2"}, map[string]string{"hw:cpu_max_sockets": "2"}, func(s *hypervisor.Spec) { s.VCPUs = 16; s.Disks = disks("virtio", 1) })
	add("bhyveload-freebsd", amd64Config(), map[string]string{"os_distro": "freebsd"}, nil, func(s *hypervisor.Spec) {
		s.Disks = disks("virtio", 3)
		s.NICs = []hypervisor.NIC{nic(0, "virtio")}
	})
	add("bhyveload-vnc-dropped", amd64Config(), map[string]string{"hw_firmware_type": "bios"}, nil, func(s *hypervisor.Spec) {
		s.Disks = disks("virtio", 1)
		s.VNC = &hypervisor.VNC{Listen: "127.0.0.1"}
	})
	for _, bus := range []string{"virtio", "sata", "nvme"} {
		bus := bus
		add("disks-"+bus+"-x4", amd64Config(), map[string]string{"hw_disk_bus": bus}, nil, func(s *hypervisor.Spec) { s.Disks = disks("", 4) })
	}
	add("sata-with-configdrive-cdrom", amd64Config(), map[string]string{"hw_disk_bus": "sata"}, nil, func(s *hypervisor.Spec) {
		s.Disks = append(disks("", 2), hypervisor.Disk{Role: hypervisor.RoleConfigDrive, Path: "/var/lib/novabsd/instances/" + uuid + "/disk.config", CDROM: true})
	})
	add("iso-boot-cdrom", amd64Config(), nil, nil, func(s *hypervisor.Spec) {
		s.Disks = []hypervisor.Disk{{Role: hypervisor.RoleCDROM, Path: "/var/cache/novabsd/install.iso"}, {Role: hypervisor.RoleEphemeral, Path: "/dev/zvol/tank/e0"}}
	})
	for _, m := range []string{"virtio", "e1000"} {
		m := m
		add("nics-"+m+"-x3", amd64Config(), map[string]string{"hw_vif_model": m}, nil, func(s *hypervisor.Spec) {
			s.Disks = disks("", 1)
			s.NICs = []hypervisor.NIC{nic(0, ""), nic(1, ""), nic(2, "")}
		})
	}
	// Nova's tap names ("tap" and the port id's first 11 characters, 14 in
	// all), one virtio-net with the network's MTU and one e1000 (no mtu=).
	add("nics-nova-taps", amd64Config(), nil, nil, func(s *hypervisor.Spec) {
		s.Disks = disks("", 1)
		s.NICs = []hypervisor.NIC{
			{MAC: "fa:16:3e:5d:01:0a", Model: "virtio", Tap: "tap3f2a9c1e-7b4", MTU: 1442},
			{MAC: "FA:16:3E:5D:01:0B", Model: "e1000", Tap: "tap0d9e8f7a-6b5", MTU: 1442},
		}
	})
	add("nic-bridge-mtu", amd64Config(), nil, nil, func(s *hypervisor.Spec) {
		s.Disks = disks("", 1)
		n := nic(7, "")
		n.Bridge, n.MTU = "bridge0", 9000
		s.NICs = []hypervisor.NIC{n}
	})
	add("vnc-password-ipv6", amd64Config(), nil, nil, func(s *hypervisor.Spec) {
		s.Disks = disks("", 1)
		s.VNC = &hypervisor.VNC{Listen: "::1", Port: 5910, Password: "s3cret", Keymap: "de_noacc"}
	})
	add("pci-passthru", amd64Config(), nil, nil, func(s *hypervisor.Spec) {
		s.Disks = disks("", 1)
		s.PCI = []hypervisor.PCIDevice{{Address: "0000:03:00.0"}, {Address: "04:00.1"}}
	})
	// Host USB devices on a bhyve with the libusb-based xhci passthrough, sharing the tablet's xhci controller.
	usb := amd64Config()
	usb.USBPassthru = true
	add("usb-passthru", usb, map[string]string{"hw_pointer_model": "usbtablet"}, nil, func(s *hypervisor.Spec) {
		s.Disks = disks("", 1)
		s.VNC = &hypervisor.VNC{Listen: "127.0.0.1", Port: 5901}
		s.USB = []hypervisor.USBDevice{{Vendor: 0x0dea, Product: 0x7e57}, {Vendor: 0x46d, Product: 0xc52b}}
	})
	add("usb-passthru-bhyveload", usb, map[string]string{"os_distro": "freebsd"}, nil, func(s *hypervisor.Spec) {
		s.Disks = disks("virtio", 1)
		s.USB = []hypervisor.USBDevice{{Vendor: 0x0dea, Product: 0x7e57}}
	})
	add("many-devices", amd64Config(), map[string]string{"hw_rng_model": "virtio", "hw_pointer_model": "usbtablet"}, nil, func(s *hypervisor.Spec) {
		s.VCPUs = 8
		s.MemoryMB = 16384
		s.Disks = disks("virtio", 5)
		s.NICs = []hypervisor.NIC{nic(0, ""), nic(1, ""), nic(2, ""), nic(3, "")}
		s.VNC = &hypervisor.VNC{Listen: "0.0.0.0"}
	})
	// A flavor with ephemeral_gb and swap on the file store: disk.eph0 and disk.swap in the instance directory, on
	// the root's bus.
	add("flavor-ephemeral-swap-files", amd64Config(), nil, nil, func(s *hypervisor.Spec) {
		dir := "/var/lib/novabsd/instances/" + uuid + "/"
		s.Disks = []hypervisor.Disk{{Role: hypervisor.RoleRoot, Path: dir + "disk", Format: "raw"},
			{Role: hypervisor.RoleEphemeral, Path: dir + "disk.eph0", Format: "raw"},
			{Role: hypervisor.RoleSwap, Path: dir + "disk.swap", Format: "raw"}}
		s.NICs = []hypervisor.NIC{nic(0, "")}
	})
	// The same from block device mappings on the ZFS store: two ephemerals, the second on NVMe as its mapping's
	// disk_bus asks, and the swap zvol.
	add("bdm-ephemerals-nvme-swap-zvols", amd64Config(), nil, nil, func(s *hypervisor.Spec) {
		z := "/dev/zvol/tank/novabsd/instances/" + uuid + "/"
		s.Disks = []hypervisor.Disk{{Role: hypervisor.RoleRoot, Path: z + "disk", Format: "raw"},
			{Role: hypervisor.RoleEphemeral, Path: z + "disk.eph0", Format: "raw"},
			{Role: hypervisor.RoleEphemeral, Path: z + "disk.eph1", Format: "raw", Bus: "nvme"},
			{Role: hypervisor.RoleSwap, Path: z + "disk.swap", Format: "raw"}}
	})
	// novabsd_disk_bus=nvme over hw_disk_bus=virtio: the root, ephemeral and swap zvols on NVMe, the config drive
	// on its CD-ROM bus.
	add("novabsd-disk-bus-nvme", amd64Config(), map[string]string{"novabsd_disk_bus": "nvme", "hw_disk_bus": "virtio"}, nil,
		func(s *hypervisor.Spec) {
			z := "/dev/zvol/tank/novabsd/instances/" + uuid + "/"
			s.Disks = []hypervisor.Disk{{Role: hypervisor.RoleRoot, Path: z + "disk", Format: "raw"},
				{Role: hypervisor.RoleEphemeral, Path: z + "disk.eph0", Format: "raw"},
				{Role: hypervisor.RoleSwap, Path: z + "disk.swap", Format: "raw"},
				{Role: hypervisor.RoleConfigDrive, Path: "/var/lib/novabsd/instances/" + uuid + "/disk.config",
					CDROM: true, ReadOnly: true}}
			s.NICs = []hypervisor.NIC{nic(0, "")}
		})
	// [serial_console] enabled: the argv keeps com1 on the nmdm pair (the console log); the TCP console is the
	// driver's bridge (TestConsolePlanTCP checks the plan).
	add("serial-console-tcp", amd64Config(), nil, nil, func(s *hypervisor.Spec) {
		s.Disks = disks("virtio", 1)
		s.SerialTCP = &hypervisor.SerialTCP{Listen: "192.0.2.7", Port: 10042}
	})
	add("arm64", arm64Config(), map[string]string{"hw_rng_model": "virtio"}, nil, func(s *hypervisor.Spec) {
		s.Disks = disks("virtio", 2)
		s.NICs = []hypervisor.NIC{nic(0, "")}
	})
	return cs
}

func checkGolden(t *testing.T, name string, got string) {
	t.Helper()
	path := filepath.Join("testdata", "golden", name+".argv")
	if *update {
		if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test -update to create)", err)
	}
	if string(want) != got {
		t.Errorf("argv differs from %s:\n got: %s\nwant: %s", path, got, want)
	}
}

func TestGoldenFromSpec(t *testing.T) {
	for _, c := range specCases() {
		t.Run(c.name, func(t *testing.T) {
			dom, err := domain.Build(c.spec(), domain.Props{Image: c.image, Extra: c.extra}, DomainOptions(c.cfg))
			if err != nil {
				t.Fatalf("build domain: %v", err)
			}
			plan, err := BuildPlan(dom, c.cfg)
			if err != nil {
				t.Fatalf("build argv: %v", err)
			}
			checkGolden(t, c.name, hypervisor.FormatArgv(plan.Lines()))
			// The domain survives the XML round trip the service relies on.
			x, err := dom.Marshal()
			if err != nil {
				t.Fatal(err)
			}
			lines, err := hypervisor.ArgvForXML("bhyve", []byte(x))
			var re *RuleError
			switch {
			case c.cfg.USBPassthru && DetectUSBPassthru(DefaultConfig().Bhyve) != nil:
				if !errors.As(err, &re) || re.Rule != RuleUSBPassthru {
					t.Fatalf("ArgvForXML without the host's USB passthrough: %v, want rule %s", err, RuleUSBPassthru)
				}
			case err != nil:
				t.Fatalf("ArgvForXML: %v", err)
			}
			// (A host USB device needs the libusb passthrough in the host's bhyve, which domain argv reads from the
			// default binary: not this test's host.)
			if c.cfg.Arch == DefaultConfig().Arch && !c.cfg.USBPassthru && hypervisor.FormatArgv(lines) != hypervisor.FormatArgv(plan.Lines()) {
				t.Errorf("argv from XML differs:\n%s\n%s", hypervisor.FormatArgv(lines), hypervisor.FormatArgv(plan.Lines()))
			}
		})
	}
}

// TestGoldenLibvirtXML feeds domain XML written the way libvirt's bhyve
// driver documents it.
func TestGoldenLibvirtXML(t *testing.T) {
	files, _ := filepath.Glob(filepath.Join("testdata", "xml", "*.xml"))
	if len(files) == 0 {
		t.Fatal("no XML inputs in testdata/xml")
	}
	for _, f := range files {
		name := strings.TrimSuffix(filepath.Base(f), ".xml")
		t.Run(name, func(t *testing.T) {
			x, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			lines, err := hypervisor.ArgvForXML("bhyve", x)
			if strings.HasPrefix(name, "bad-") {
				if err == nil {
					t.Fatalf("accepted: %s", hypervisor.FormatArgv(lines))
				}
				checkGolden(t, "xml-"+name, "error: "+err.Error()+"\n")
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			checkGolden(t, "xml-"+name, hypervisor.FormatArgv(lines))
		})
	}
}

func TestRefused(t *testing.T) {
	tests := []struct {
		name     string
		cfg      Config
		image    map[string]string
		mod      func(*hypervisor.Spec)
		property string
	}{
		{name: "scsi bus", image: map[string]string{"hw_disk_bus": "scsi"}, property: "hw_disk_bus"},
		{name: "ide bus", image: map[string]string{"hw_disk_bus": "ide"}, property: "hw_disk_bus"},
		{name: "ide cdrom", image: map[string]string{"hw_cdrom_bus": "ide"}, mod: func(s *hypervisor.Spec) { s.Disks[0].CDROM = true }, property: "hw_cdrom_bus"},
		{name: "qcow2", mod: func(s *hypervisor.Spec) { s.Disks[0].Format = "qcow2" }, property: "disk_format"},
		{name: "ne2k_pci", mod: func(s *hypervisor.Spec) { s.NICs = []hypervisor.NIC{nic(0, "ne2k_pci")} }, property: "hw_vif_model"},
		{name: "rtl8139", image: map[string]string{"hw_vif_model": "rtl8139"}, mod: func(s *hypervisor.Spec) { s.NICs = []hypervisor.NIC{nic(0, "")} }, property: "hw_vif_model"},
		{name: "arm64 e1000", cfg: arm64Config(), image: map[string]string{"hw_vif_model": "e1000"}, mod: func(s *hypervisor.Spec) { s.NICs = []hypervisor.NIC{nic(0, "")} }, property: "hw_vif_model"},
		{name: "arm64 bios", cfg: arm64Config(), image: map[string]string{"hw_firmware_type": "bios"}, property: "hw_firmware_type"},
		{name: "tablet without vnc", image: map[string]string{"hw_pointer_model": "usbtablet"}, property: "hw_pointer_model"},
		{name: "bad firmware", image: map[string]string{"hw_firmware_type": "coreboot"}, property: "hw_firmware_type"},
		{name: "rng egd", image: map[string]string{"hw_rng_model": "egd"}, property: "hw_rng_model"},
		{name: "video cirrus", image: map[string]string{"hw_video_model": "cirrus"}, mod: func(s *hypervisor.Spec) { s.VNC = &hypervisor.VNC{} }, property: "hw_video_model"},
		{name: "usb passthrough", mod: func(s *hypervisor.Spec) { s.USB = []hypervisor.USBDevice{{Vendor: 0x1234, Product: 1}} }, property: "hostdev 0 usb 1234:0001"},
		{name: "bad mac", mod: func(s *hypervisor.Spec) { s.NICs = []hypervisor.NIC{{MAC: "zz", Tap: "tap0"}} }, property: "nic[0].mac"},
		{name: "comma in path", mod: func(s *hypervisor.Spec) { s.Disks[0].Path = "/tmp/a,ro" }, property: "disk source"},
		{name: "bad name", mod: func(s *hypervisor.Spec) { s.Name = "../../etc" }, property: "name"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := tt.cfg
			if cfg.Arch == "" {
				cfg = amd64Config()
			}
			s := spec(1, 512)
			s.Disks = disks("", 1)
			if tt.mod != nil {
				tt.mod(&s)
			}
			dom, err := domain.Build(s, domain.Props{Image: tt.image}, DomainOptions(cfg))
			if err == nil {
				_, err = BuildPlan(dom, cfg)
			}
			var pe *hypervisor.PropertyError
			if !errors.As(err, &pe) || pe.Property != tt.property {
				t.Fatalf("got %v; want PropertyError on %q", err, tt.property)
			}
			if !strings.Contains(err.Error(), tt.property) {
				t.Fatalf("message %q does not name %q", err, tt.property)
			}
		})
	}
}
