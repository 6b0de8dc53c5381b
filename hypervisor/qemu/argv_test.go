package qemu

import (
	"context"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/novabsd/novabsd/hypervisor"
	"github.com/novabsd/novabsd/hypervisor/domain"
	"libvirt.org/go/libvirtxml"
)

var update = flag.Bool("update", false, "rewrite golden files")

type argvCase struct {
	name  string
	spec  func(dir string) hypervisor.Spec
	props domain.Props
	// hostOnly marks a case that needs a device of the host (a PCI function bound to vfio-pci): its golden is
	// checked, but TestArgvAcceptedByQEMU cannot start it here (TestCheckVFIO covers its host check).
	hostOnly bool
}

func baseSpec(dir string, disks ...hypervisor.Disk) hypervisor.Spec {
	return hypervisor.Spec{UUID: "8a1c5e7e-2f38-4a0c-9a53-3c6f0d9b7a10", Name: "instance-0000002a", Dir: dir, VCPUs: 1, MemoryMB: 512, Disks: disks}
}

func disk(dir, name, bus string, opts ...func(*hypervisor.Disk)) hypervisor.Disk {
	d := hypervisor.Disk{Role: hypervisor.RoleEphemeral, Path: filepath.Join(dir, name), Format: "raw", Bus: bus}
	for _, o := range opts {
		o(&d)
	}
	return d
}

func root(d *hypervisor.Disk)  { d.Role = hypervisor.RoleRoot }
func cdrom(d *hypervisor.Disk) { d.Role, d.CDROM = hypervisor.RoleCDROM, true }

var argvCases = []argvCase{
	{name: "minimal", spec: func(dir string) hypervisor.Spec {
		return baseSpec(dir, disk(dir, "disk", "", root))
	}},
	{name: "every-disk-bus", spec: func(dir string) hypervisor.Spec {
		return baseSpec(dir,
			disk(dir, "disk", "virtio", root),
			disk(dir, "disk.eph0", "nvme"),
			disk(dir, "disk.eph1", "nvme"),
			disk(dir, "disk.eph2", "sata"),
			disk(dir, "disk.eph3", "scsi"),
			disk(dir, "disk.swap", "scsi"),
			disk(dir, "disk.config", "sata", cdrom),
		)
	}},
	{name: "nics", spec: func(dir string) hypervisor.Spec {
		s := baseSpec(dir, disk(dir, "disk", "", root))
		s.NICs = []hypervisor.NIC{
			{MAC: "fa:16:3e:00:00:01", Model: "virtio", MTU: 1450, Tap: "tap8a1c5e7e-01"},
			{MAC: "fa:16:3e:00:00:02", Model: "e1000", Tap: "tap8a1c5e7e-02"},
			{MAC: "fa:16:3e:00:00:03", Model: "e1000e", Tap: "tap8a1c5e7e-03"},
		}
		return s
	}},
	// Nova's tap names ("tap" and the port id's first 11 characters) on the
	// i440fx machine, whose root bus takes NICs itself: no root ports.
	{name: "nics-pc-rtl8139-ne2k", spec: func(dir string) hypervisor.Spec {
		s := baseSpec(dir, disk(dir, "disk", "", root))
		s.NICs = []hypervisor.NIC{
			{MAC: "FA:16:3E:00:00:0A", Tap: "tap3f2a9c1e-7b4", MTU: 1442},
			{MAC: "fa:16:3e:00:00:0b", Model: "ne2k_pci", Tap: "tap0d9e8f7a-6b5"},
		}
		return s
	}, props: domain.Props{Image: map[string]string{"hw_machine_type": "pc", "hw_vif_model": "rtl8139"}}},
	{name: "uefi-vnc-tablet-rng-smp", spec: func(dir string) hypervisor.Spec {
		s := baseSpec(dir, disk(dir, "disk", "", root))
		s.VCPUs = 4
		s.VNC = &hypervisor.VNC{Listen: "127.0.0.1", Password: "secret"}
		return s
	}, props: domain.Props{
		Image: map[string]string{"hw_firmware_type": "uefi", "hw_pointer_model": "usbtablet", "hw_rng_model": "virtio", "hw_machine_type": "q35"},
		Extra: map[string]string{"hw:cpu_sockets": "2"},
	}},
	// A flavor with ephemeral_gb and swap; the ephemeral's block device mapping asks for SATA, the swap keeps
	// the root's bus, the config drive follows them.
	{name: "flavor-ephemeral-swap", spec: func(dir string) hypervisor.Spec {
		return baseSpec(dir,
			disk(dir, "disk", "", root),
			disk(dir, "disk.eph0", "sata"),
			disk(dir, "disk.swap", "", func(d *hypervisor.Disk) { d.Role = hypervisor.RoleSwap }),
			disk(dir, "disk.config", "", func(d *hypervisor.Disk) {
				d.Role, d.CDROM, d.ReadOnly = hypervisor.RoleConfigDrive, true, true
			}),
		)
	}},
	// novabsd_disk_bus=nvme over hw_disk_bus=virtio: the root, ephemeral and swap disks on NVMe controllers, the
	// config drive on its CD-ROM bus.
	{name: "novabsd-disk-bus-nvme", spec: func(dir string) hypervisor.Spec {
		return baseSpec(dir,
			disk(dir, "disk", "", root),
			disk(dir, "disk.eph0", ""),
			disk(dir, "disk.swap", "", func(d *hypervisor.Disk) { d.Role = hypervisor.RoleSwap }),
			disk(dir, "disk.config", "", func(d *hypervisor.Disk) {
				d.Role, d.CDROM, d.ReadOnly = hypervisor.RoleConfigDrive, true, true
			}),
		)
	}, props: domain.Props{Image: map[string]string{"novabsd_disk_bus": "nvme", "hw_disk_bus": "virtio"}}},
	// [serial_console] enabled: the console log stays the chardev's logfile, the chardev a TCP listener.
	{name: "serial-tcp", spec: func(dir string) hypervisor.Spec {
		s := baseSpec(dir, disk(dir, "disk", "", root))
		s.SerialTCP = &hypervisor.SerialTCP{Listen: "127.0.0.1", Port: 47831}
		return s
	}},
	// Host USB devices on the xHCI controller the tablet would share: one by vendor and product, one pinned to
	// bus 3, port 1.2. Neither is on the test host: QEMU starts and waits for them to appear.
	{name: "usb-host-vendor-product", spec: func(dir string) hypervisor.Spec {
		s := baseSpec(dir, disk(dir, "disk", "", root))
		s.USB = []hypervisor.USBDevice{{Vendor: 0x0dea, Product: 0x7e57}}
		return s
	}},
	{name: "usb-host-bus-port-tablet", spec: func(dir string) hypervisor.Spec {
		s := baseSpec(dir, disk(dir, "disk", "", root))
		s.VNC = &hypervisor.VNC{Listen: "127.0.0.1"}
		s.USB = []hypervisor.USBDevice{{Vendor: 0x0dea, Product: 0x7e57, Bus: 3, Port: "1.2"}, {Vendor: 0x0dea, Product: 0x7e58}}
		return s
	}, props: domain.Props{Image: map[string]string{"hw_pointer_model": "usbtablet"}}},
	{name: "pci-vfio", hostOnly: true, spec: func(dir string) hypervisor.Spec {
		s := baseSpec(dir, disk(dir, "disk", "", root))
		s.PCI = []hypervisor.PCIDevice{{Address: "0000:03:00.0"}, {Address: "04:00.1"}}
		return s
	}},
	{name: "sata-default-qcow2-windows", spec: func(dir string) hypervisor.Spec {
		d := disk(dir, "disk", "", root)
		d.Format = "qcow2"
		return baseSpec(dir, d)
	}, props: domain.Props{Image: map[string]string{"hw_disk_bus": "sata", "os_type": "windows", "hw_vif_model": "e1000"}}},
}

func buildCase(t *testing.T, tc argvCase, dir string) *libvirtxml.Domain {
	t.Helper()
	dom, err := domain.Build(tc.spec(dir), tc.props, DomainOptions(DefaultConfig(), AccelTCG))
	if err != nil {
		t.Fatal(err)
	}
	return dom
}

// TestArgvGolden compares the command line for fixed domains with golden
// files (go test -update rewrites them).
func TestArgvGolden(t *testing.T) {
	for _, tc := range argvCases {
		t.Run(tc.name, func(t *testing.T) {
			dom := buildCase(t, tc, "/var/lib/novabsd/instances/8a1c5e7e")
			argv, err := hypervisor.Argv("qemu", dom)
			if err != nil {
				t.Fatal(err)
			}
			got := hypervisor.FormatArgv(argv)
			golden := filepath.Join("testdata", tc.name+".argv")
			if *update {
				os.MkdirAll("testdata", 0o755)
				if err := os.WriteFile(golden, []byte(got), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(golden)
			if err != nil {
				t.Fatalf("%v (run go test -update)", err)
			}
			if got != string(want) {
				t.Fatalf("argv differs from %s:\n got: %s\nwant: %s", golden, got, want)
			}
		})
	}
}

// TestArgvAcceptedByQEMU spawns every golden case for real (disks are
// blank, so the firmware finds nothing to boot) to prove QEMU accepts the
// devices and options, then destroys it.
func TestArgvAcceptedByQEMU(t *testing.T) {
	needQEMU(t)
	d := tcgDriver(t)
	for _, tc := range argvCases {
		if tc.hostOnly {
			continue // needs a host device: see argvCase.hostOnly
		}
		t.Run(tc.name, func(t *testing.T) {
			dir := guestDir(t)
			dom := buildCase(t, tc, dir)
			for _, dk := range dom.Devices.Disks {
				if p := diskPath(&dk); p != "" {
					os.WriteFile(p, nil, 0o600)
					os.Truncate(p, 16<<20)
				}
			}
			if dk := dom.Devices.Disks[0]; dk.Driver.Type == "qcow2" {
				p := diskPath(&dk)
				os.Remove(p)
				if out, err := execOut("qemu-img", "create", "-q", "-f", "qcow2", p, "16M"); err != nil {
					t.Fatalf("%v: %s", err, out)
				}
			}
			// Taps belong to the network layer; the runnable variant leaves
			// the NICs unplugged (no netdev), which QEMU accepts.
			for i := range dom.Devices.Interfaces {
				dom.Devices.Interfaces[i].Target = nil
			}
			g := hypervisor.Guest{UUID: dom.UUID, Name: dom.Name, Dir: dir}
			ctx := context.Background()
			if err := d.Spawn(ctx, g, dom); err != nil {
				t.Fatal(err)
			}
			defer d.Destroy(ctx, g)
			wantState(t, d, g, hypervisor.Running)
		})
	}
}

// TestArgvLibvirtXML: domain XML as libvirt documents it, not written by
// novabsd, is accepted.
func TestArgvLibvirtXML(t *testing.T) {
	xml := `<domain type='kvm'>
  <name>demo</name>
  <uuid>c7a5fdbd-edaf-9455-926a-d65c16db1809</uuid>
  <memory unit='GiB'>1</memory>
  <vcpu>2</vcpu>
  <os><type arch='x86_64' machine='pc'>hvm</type><boot dev='hd'/></os>
  <devices>
    <disk type='file' device='disk'>
      <driver name='qemu' type='qcow2'/>
      <source file='/var/lib/libvirt/images/demo.qcow2'/>
      <target dev='vda' bus='virtio'/>
    </disk>
    <disk type='file' device='cdrom'>
      <source file='/var/lib/libvirt/images/boot.iso'/>
      <target dev='hdc' bus='ide'/>
      <readonly/>
    </disk>
    <interface type='ethernet'>
      <mac address='52:54:00:11:22:33'/>
      <target dev='tap0'/>
      <model type='virtio'/>
    </interface>
    <serial type='pty'><log file='/var/log/demo.log' append='on'/><target port='0'/></serial>
    <graphics type='vnc' port='5901' autoport='no' listen='0.0.0.0'/>
    <input type='tablet' bus='usb'/>
    <input type='mouse' bus='ps2'/>
    <rng model='virtio'><backend model='random'>/dev/random</backend></rng>
  </devices>
</domain>`
	argv, err := hypervisor.ArgvForXML("qemu", []byte(xml))
	if err != nil {
		t.Fatal(err)
	}
	got := strings.Join(argv[0], " ")
	for _, want := range []string{
		"-m 1024", "-smp 2", "-machine pc",
		"-drive if=none,id=drive-vda,format=qcow2,file=/var/lib/libvirt/images/demo.qcow2",
		"-device virtio-blk-pci,drive=drive-vda,id=vda",
		"-device ide-cd,bus=ide.0,drive=drive-hdc,id=hdc",
		"-netdev tap,id=hostnet0,ifname=tap0,script=no,downscript=no",
		"-device virtio-net-pci,id=net0,mac=52:54:00:11:22:33,netdev=hostnet0",
		"logfile=/var/log/demo.log,logappend=on",
		"-vnc 0.0.0.0:1", "-device usb-tablet,id=input0,bus=usb.0",
		"filename=/dev/random",
	} {
		if !strings.Contains(got, want) {
			t.Errorf("argv lacks %q:\n%s", want, got)
		}
	}
}

func TestArgvRefusals(t *testing.T) {
	cases := []struct{ name, xml, prop string }{
		{"usb disk", `<domain><name>x</name><memory>1024</memory><devices><disk device='disk'><source file='/a'/><target dev='sda' bus='usb'/></disk></devices></domain>`, "target/@bus"},
		{"arm guest", `<domain><name>x</name><memory>1024</memory><os><type arch='aarch64'>hvm</type></os></domain>`, "os/type/@arch"},
		{"vmdk", `<domain><name>x</name><memory>1024</memory><devices><disk device='disk'><driver type='vmdk'/><source file='/a'/><target dev='vda' bus='virtio'/></disk></devices></domain>`, "driver/@type"},
		{"spice", `<domain><name>x</name><memory>1024</memory><devices><graphics type='spice'/></devices></domain>`, "graphics/@type"},
		{"serial tcp host name", `<domain><name>x</name><memory>1024</memory><devices><serial type='tcp'><source mode='bind' host='evil.example' service='10000'/></serial></devices></domain>`, "serial[0]/source"},
		{"serial tcp option smuggled in the host", `<domain><name>x</name><memory>1024</memory><devices><serial type='tcp'><source mode='bind' host='127.0.0.1,logfile=/etc/x' service='10000'/></serial></devices></domain>`, "serial[0]/source"},
		{"serial tcp port out of range", `<domain><name>x</name><memory>1024</memory><devices><serial type='tcp'><source mode='bind' host='127.0.0.1' service='70000'/></serial></devices></domain>`, "serial[0]/source"},
		{"serial tcp port not a number", `<domain><name>x</name><memory>1024</memory><devices><serial type='tcp'><source mode='bind' host='127.0.0.1' service='1,server=off'/></serial></devices></domain>`, "serial[0]/source"},
		{"serial tcp connect mode", `<domain><name>x</name><memory>1024</memory><devices><serial type='tcp'><source mode='connect' host='127.0.0.1' service='10000'/></serial></devices></domain>`, "serial[0]/source/@mode"},
		{"pcnet nic", `<domain><name>x</name><memory>1024</memory><devices><interface type='ethernet'><model type='pcnet'/></interface></devices></domain>`, "model/@type"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := hypervisor.ArgvForXML("qemu", []byte(tc.xml))
			var pe *hypervisor.PropertyError
			if !errorsAs(err, &pe) || !strings.Contains(pe.Property, tc.prop) {
				t.Fatalf("err = %v, want a PropertyError naming %s", err, tc.prop)
			}
		})
	}
}
