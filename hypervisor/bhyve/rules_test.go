package bhyve

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strings"
	"testing"

	"github.com/novabsd/novabsd/hypervisor"
	"libvirt.org/go/libvirtxml"
)

// strictDomain is a small valid domain; a case adds to it.
type strictDomain struct {
	arch    string // "x86_64" (default) or "aarch64"
	loader  bool   // bhyveload guest: no bootrom (amd64 only)
	vcpus   int    // default 2
	top     string // elements after <vcpu>: <cpu>, <cputune>, <memoryBacking>
	devices string // elements after the root disk
}

func (s strictDomain) xml() string {
	arch, vcpus, os := s.arch, s.vcpus, "<os firmware='efi'>"
	if arch == "" {
		arch = "x86_64"
	}
	if vcpus == 0 {
		vcpus = 2
	}
	if s.loader {
		os = "<os>"
	}
	return fmt.Sprintf(`<domain type='bhyve'>
  <name>strict</name>
  <uuid>11111111-2222-3333-4444-555555555555</uuid>
  <memory unit='MiB'>1024</memory>
  <vcpu>%d</vcpu>
  %s
  %s<type arch='%s'>hvm</type></os>
  <devices>
    <disk type='file' device='disk'><source file='/vm/strict/disk0'/><target dev='vda' bus='virtio'/></disk>
    %s
  </devices>
</domain>`, vcpus, s.top, os, arch, s.devices)
}

func (s strictDomain) config() Config {
	if s.arch == "aarch64" {
		return arm64Config()
	}
	return amd64Config()
}

func pciAt(slot, fn int) string {
	return fmt.Sprintf("<address type='pci' domain='0' bus='0' slot='%d' function='%d'/>", slot, fn)
}

func vdisk(dev, extra string) string {
	return fmt.Sprintf("<disk type='file' device='disk'><source file='/vm/strict/%s'/><target dev='%s' bus='virtio'/>%s</disk>", dev, dev, extra)
}

func nvmeDisk(dev, extra string) string {
	return fmt.Sprintf("<disk type='file' device='disk'><source file='/vm/strict/%s'/><target dev='%s' bus='nvme'/>%s</disk>", dev, dev, extra)
}

func sataDisk(dev, extra string) string {
	return fmt.Sprintf("<disk type='file' device='disk'><source file='/vm/strict/%s'/><target dev='%s' bus='sata'/>%s</disk>", dev, dev, extra)
}

func iface(tap, mac, extra string) string {
	return fmt.Sprintf("<interface type='ethernet'><mac address='%s'/><target dev='%s'/><model type='virtio'/>%s</interface>", mac, tap, extra)
}

const (
	vnc5901   = "<graphics type='vnc' port='5901' listen='127.0.0.1'/><video><model type='gop'/></video>"
	tablet    = "<controller type='usb' index='0' model='nec-xhci'/><input type='tablet' bus='usb'/>"
	nmdm0     = "<serial type='nmdm'><source master='/dev/nmdm-strict.0A' slave='/dev/nmdm-strict.0B'/><target port='0'/></serial>"
	nmdm1     = "<serial type='nmdm'><source master='/dev/nmdm-strict.1A' slave='/dev/nmdm-strict.1B'/><target port='1'/></serial>"
	passthru  = "<hostdev mode='subsystem' type='pci' managed='no'><source><address domain='0' bus='3' slot='0' function='0'/></source></hostdev>"
	lockedMem = "<memoryBacking><locked/></memoryBacking>"
)

func numaCells(cells ...string) string {
	var b strings.Builder
	b.WriteString("<cpu><numa>")
	for i, c := range cells {
		fmt.Fprintf(&b, "<cell id='%d' cpus='%s' memory='512' unit='MiB'/>", i, c)
	}
	b.WriteString("</numa></cpu>")
	return b.String()
}

// TestStrictRules lists every rule of Rule with a domain that breaks it
// and the device the refusal must name. Each domain is refused three ways:
// by BuildPlan, by the driver's CheckDomain (what compute/ asks before it
// makes disks) and, for the host's arch, by the registered argv builder
// `novabsd domain argv` uses.
func TestStrictRules(t *testing.T) {
	many := func(n int) string {
		var b strings.Builder
		for i := 0; i < n; i++ {
			b.WriteString(vdisk(fmt.Sprintf("vd%c%c", 'b'+i/26, 'a'+i%26), ""))
		}
		return b.String()
	}
	tests := []struct {
		name   string
		dom    strictDomain
		cfg    func(*Config)
		rule   Rule
		device string // the refusal's Property contains it
	}{
		// PCI addresses.
		{"bus 1", strictDomain{devices: iface("tap0", "52:54:00:00:00:01", "<address type='pci' domain='0' bus='1' slot='3' function='0'/>")}, nil, RulePCIBus, "interface 0"},
		{"pci domain 1", strictDomain{devices: vdisk("vdb", "<address type='pci' domain='1' bus='0' slot='3' function='0'/>")}, nil, RulePCIDomain, "disk vdb"},
		{"slot 32", strictDomain{devices: vdisk("vdb", pciAt(32, 0))}, nil, RulePCISlotRange, "disk vdb"},
		{"function 8", strictDomain{devices: vdisk("vdb", pciAt(3, 8))}, nil, RulePCIFuncRange, "disk vdb"},
		{"slot 0", strictDomain{devices: "<rng model='virtio'><backend model='random'>/dev/random</backend>" + pciAt(0, 3) + "</rng>"}, nil, RulePCISlot0, "rng 0"},
		{"two disks on one slot", strictDomain{devices: vdisk("vdb", pciAt(5, 0)) + vdisk("vdc", pciAt(5, 0))}, nil, RulePCIClash, "disk vdc"},
		{"two devices on one function", strictDomain{devices: vdisk("vdb", pciAt(6, 0)) + iface("tap0", "52:54:00:00:00:01", pciAt(6, 2)) +
			"<rng model='virtio'><backend model='random'>/dev/random</backend>" + pciAt(6, 2) + "</rng>"}, nil, RulePCIClash, "rng 0"},
		{"device on the LPC bridge's slot", strictDomain{devices: "<controller type='isa' index='0'>" + pciAt(4, 0) + "</controller>" + iface("tap0", "52:54:00:00:00:01", pciAt(4, 0))}, nil, RulePCIClash, "interface 0"},
		{"function without function 0", strictDomain{devices: iface("tap0", "52:54:00:00:00:01", pciAt(7, 3))}, nil, RulePCIFunc0, "interface 0"},
		{"31 disks", strictDomain{devices: many(30)}, nil, RulePCISlotsFull, "disk vdcd"},
		// Controllers.
		{"pcie-root", strictDomain{devices: "<controller type='pci' index='0' model='pcie-root'/>"}, nil, RuleController, "controller pci 0"},
		{"pci-bridge", strictDomain{devices: "<controller type='pci' index='1' model='pci-bridge'/>"}, nil, RuleController, "controller pci 1"},
		{"isa index 1", strictDomain{devices: "<controller type='isa' index='1'/>"}, nil, RuleController, "controller isa 1"},
		{"two isa controllers", strictDomain{devices: "<controller type='isa' index='0'/><controller type='isa' index='0'/>"}, nil, RuleController, "controller isa 0"},
		{"two usb controllers", strictDomain{devices: "<controller type='usb' index='0' model='nec-xhci'/><controller type='usb' index='1' model='nec-xhci'/>"}, nil, RuleController, "controller usb 1"},
		{"sata unit 32", strictDomain{devices: sataDisk("sda", "<address type='drive' controller='0' bus='0' target='0' unit='32'/>")}, nil, RuleSATAPort, "disk sda"},
		{"sata bus 1", strictDomain{devices: sataDisk("sda", "<address type='drive' controller='0' bus='1' target='0' unit='0'/>")}, nil, RuleSATAPort, "disk sda"},
		// Disks.
		{"nvme named like virtio", strictDomain{devices: nvmeDisk("vdb", "")}, nil, RuleNVMeName, "disk vdb"},
		{"nvme namespace 0", strictDomain{devices: nvmeDisk("nvme0n0", "")}, nil, RuleNVMeName, "disk nvme0n0"},
		{"two namespaces on one controller", strictDomain{devices: nvmeDisk("nvme0n1", "") + nvmeDisk("nvme0n2", "")}, nil, RuleNVMePerCtrl, "disk nvme0n2"},
		{"nvme serial 21", strictDomain{devices: nvmeDisk("nvme0n1", "<serial>0123456789abcdefghijk</serial>")}, nil, RuleNVMeSerial, "disk nvme0n1"},
		{"nvme serial not ascii", strictDomain{devices: nvmeDisk("nvme0n1", "<serial>disk-\u00e9t\u00e9</serial>")}, nil, RuleNVMeSerial, "disk nvme0n1"},
		{"nvme serial tab", strictDomain{devices: nvmeDisk("nvme0n1", "<serial>a&#9;b</serial>")}, nil, RuleNVMeSerial, "disk nvme0n1"},
		{"eui64 15 digits", strictDomain{devices: nvmeDisk("nvme0n1", "<wwn>0123456789abcde</wwn>")}, nil, RuleNVMeEUI64, "disk nvme0n1"},
		{"eui64 not hex", strictDomain{devices: nvmeDisk("nvme0n1", "<wwn>0123456789abcdeg</wwn>")}, nil, RuleNVMeEUI64, "disk nvme0n1"},
		{"eui64 zero", strictDomain{devices: nvmeDisk("nvme0n1", "<wwn>0000000000000000</wwn>")}, nil, RuleNVMeEUI64, "disk nvme0n1"},
		{"wwn on virtio", strictDomain{devices: vdisk("vdb", "<wwn>5000c50015ea71ad</wwn>")}, nil, RuleNVMeEUI64, "disk vdb"},
		{"rotation rate on virtio", strictDomain{devices: "<disk type='file' device='disk'><source file='/vm/strict/vdb'/><target dev='vdb' bus='virtio' rotation_rate='1'/></disk>"}, nil, RuleDiskOption, "disk vdb"},
		{"queues on sata", strictDomain{devices: "<disk type='file' device='disk'><driver name='file' type='raw' queues='2'/><source file='/vm/strict/sda'/><target dev='sda' bus='sata'/></disk>"}, nil, RuleDiskOption, "disk sda"},
		// vCPUs and NUMA.
		{"topology product", strictDomain{vcpus: 4, top: "<cpu><topology sockets='2' cores='3' threads='1'/></cpu>"}, nil, RuleVCPUTopology, "cpu topology"},
		{"topology dies", strictDomain{vcpus: 4, top: "<cpu><topology sockets='1' dies='2' cores='2' threads='1'/></cpu>"}, nil, RuleVCPUTopology, "cpu topology"},
		{"above hw.vmm.maxcpu", strictDomain{vcpus: 8}, func(c *Config) { c.MaxVCPUs = 4 }, RuleVCPUMax, "vcpu"},
		{"above VM_MAXCPU", strictDomain{vcpus: vmMaxCPU + 1}, nil, RuleVCPUMax, "vcpu"},
		{"pin of a missing vcpu", strictDomain{top: "<cputune><vcpupin vcpu='2' cpuset='1'/></cputune>"}, nil, RuleVCPUPin, "vcpupin 2"},
		{"nine numa cells", strictDomain{vcpus: 9, top: numaCells("0", "1", "2", "3", "4", "5", "6", "7", "8")}, nil, RuleNUMA, "numa"},
		{"numa cell without cpus", strictDomain{top: "<cpu><numa><cell id='0' cpus='0-1' memory='512' unit='MiB'/><cell id='1' memory='512' unit='MiB'/></numa></cpu>"}, nil, RuleNUMA, "numa cell 1"},
		{"numa cpu out of range", strictDomain{top: numaCells("0", "1-2")}, nil, RuleNUMA, "numa cell 1"},
		{"numa cells share a cpu", strictDomain{top: numaCells("0-1", "1")}, nil, RuleNUMA, "numa cell 1"},
		{"numa with bhyveload", strictDomain{loader: true, top: numaCells("0", "1")}, nil, RuleNUMA, "numa"},
		{"numa on arm64", strictDomain{arch: "aarch64", top: numaCells("0", "1")}, nil, RuleNUMA, "numa"},
		{"numa on 14/15", strictDomain{top: numaCells("0", "1")}, nil, RuleNUMA, "numa"},
		// Serial ports and consoles.
		{"pty serial", strictDomain{devices: "<serial type='pty'><target port='0'/></serial>"}, nil, RuleSerial, "serial type"},
		{"serial port 4", strictDomain{devices: "<serial type='nmdm'><source master='/dev/nmdm-strict.4A' slave='/dev/nmdm-strict.4B'/><target port='4'/></serial>"}, nil, RuleSerial, "serial 4"},
		{"two serials on port 1", strictDomain{devices: nmdm1 + nmdm1}, nil, RuleSerial, "serial 1"},
		{"tcp serial connecting", strictDomain{devices: "<serial type='tcp'><source mode='connect' host='127.0.0.1' service='4555'/><protocol type='raw'/><target port='0'/></serial>"}, nil, RuleSerial, "serial 0"},
		{"tcp serial telnet", strictDomain{devices: "<serial type='tcp'><source mode='bind' host='127.0.0.1' service='4555'/><protocol type='telnet'/><target port='0'/></serial>"}, nil, RuleSerial, "serial 0"},
		{"nmdm master B", strictDomain{devices: "<serial type='nmdm'><source master='/dev/nmdm-strict.0B' slave='/dev/nmdm-strict.0A'/><target port='0'/></serial>"}, nil, RuleNMDMName, "serial 0 nmdm master"},
		{"nmdm pair mismatch", strictDomain{devices: "<serial type='nmdm'><source master='/dev/nmdm-strict.0A' slave='/dev/nmdm-other.0B'/><target port='0'/></serial>"}, nil, RuleNMDMName, "serial 0 nmdm slave"},
		// UEFI-only and arch-only devices.
		{"vnc with bhyveload", strictDomain{loader: true, devices: vnc5901}, nil, RuleUEFIOnly, "graphics"},
		{"tablet with bhyveload", strictDomain{loader: true, devices: tablet}, nil, RuleUEFIOnly, "input tablet"},
		{"vnc on arm64", strictDomain{arch: "aarch64", devices: vnc5901}, nil, RuleAMD64Only, "graphics"},
		{"tablet on arm64", strictDomain{arch: "aarch64", devices: tablet}, nil, RuleAMD64Only, "input tablet"},
		{"isa on arm64", strictDomain{arch: "aarch64", devices: "<controller type='isa' index='0'/>"}, nil, RuleAMD64Only, "controller isa 0"},
		{"e1000 on arm64", strictDomain{arch: "aarch64", devices: "<interface type='ethernet'><mac address='52:54:00:00:00:01'/><target dev='tap0'/><model type='e1000'/></interface>"}, nil, RuleAMD64Only, "interface 0 model"},
		{"passthrough on arm64", strictDomain{arch: "aarch64", top: lockedMem, devices: passthru}, nil, RuleAMD64Only, "hostdev pci"},
		{"com2 on arm64", strictDomain{arch: "aarch64", devices: nmdm0 + nmdm1}, nil, RuleAMD64Only, "serial ports"},
		// NICs.
		{"duplicate mac", strictDomain{devices: iface("tap0", "52:54:00:00:00:01", "") + iface("tap1", "52:54:00:00:00:01", "")}, nil, RuleMAC, "interface 1"},
		{"duplicate mac other case", strictDomain{devices: iface("tap0", "52:54:00:AA:00:01", "") + iface("tap1", "52:54:00:aa:00:01", "")}, nil, RuleMAC, "interface 1"},
		{"multicast mac", strictDomain{devices: iface("tap0", "01:00:5e:00:00:01", "")}, nil, RuleMAC, "interface 0"},
		{"zero mac", strictDomain{devices: iface("tap0", "00:00:00:00:00:00", "")}, nil, RuleMAC, "interface 0"},
		// Passthrough, VNC.
		{"passthrough without locked memory", strictDomain{devices: passthru}, nil, RuleHostdevMemory, "hostdev 0"},
		{"vnc port 5800", strictDomain{devices: "<graphics type='vnc' port='5800' listen='127.0.0.1'/><video><model type='gop'/></video>"}, nil, RuleVNC, "graphics vnc port"},
		{"vnc 320x200", strictDomain{devices: "<graphics type='vnc' port='5901' listen='127.0.0.1'/><video><model type='gop'><resolution x='320' y='200'/></model></video>"}, nil, RuleVNC, "video resolution"},
		{"vnc 2560x1440", strictDomain{devices: "<graphics type='vnc' port='5901' listen='127.0.0.1'/><video><model type='gop'><resolution x='2560' y='1440'/></model></video>"}, nil, RuleVNC, "video resolution"},
		// Buses bhyve has no emulation for.
		{"scsi disk", strictDomain{devices: "<disk type='file' device='disk'><source file='/vm/strict/sdb'/><target dev='sdb' bus='scsi'/></disk>"}, nil, RuleUnsupportedBus, "disk bus"},
		{"scsi controller", strictDomain{devices: "<controller type='scsi' index='0' model='virtio-scsi'/>"}, nil, RuleUnsupportedBus, "controller type"},
		{"virtio input", strictDomain{devices: "<input type='keyboard' bus='virtio'/>"}, nil, RuleUnsupportedBus, "input"},
		// Host USB devices: base bhyve has no passthrough; the libusb one selects by vendor and product only.
		{"usb hostdev on base bhyve", strictDomain{devices: usbdev("")}, nil, RuleUSBPassthru, "hostdev 0 usb 1234:0001"},
		{"usb hostdev pinned to a port", strictDomain{devices: usbdev("<address bus='1' port='2'/>")}, withUSB, RuleUSBPassthru, "hostdev 0 usb 1234:0001 address"},
		{"usb hostdev without vendor", strictDomain{devices: "<hostdev mode='subsystem' type='usb'><source><product id='0x0001'/></source></hostdev>"}, withUSB, RuleUSBPassthru, "hostdev 0 usb"},
		{"usb hostdev vendor not hex", strictDomain{devices: "<hostdev mode='subsystem' type='usb'><source><vendor id='0x12,x'/><product id='0x0001'/></source></hostdev>"}, withUSB, RuleUSBPassthru, "hostdev 0 usb vendor"},
		{"usb hostdev on arm64", strictDomain{arch: "aarch64", devices: usbdev("")}, withUSB, RuleAMD64Only, "hostdev 0 usb 1234:0001"},
		{"scsi hostdev", strictDomain{devices: "<hostdev mode='subsystem' type='scsi'><source><adapter name='scsi_host0'/><address bus='0' target='0' unit='0'/></source></hostdev>"}, nil, RuleUnsupportedBus, "hostdev type"},
		{"rtl8139", strictDomain{devices: "<interface type='ethernet'><mac address='52:54:00:00:00:01'/><target dev='tap0'/><model type='rtl8139'/></interface>"}, nil, RuleUnsupportedBus, "interface 0 model"},
	}
	seen := map[Rule]bool{}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			x := tt.dom.xml()
			var dom libvirtxml.Domain
			if err := dom.Unmarshal(x); err != nil {
				t.Fatalf("test XML: %v\n%s", err, x)
			}
			cfg := tt.dom.config()
			if tt.cfg != nil {
				tt.cfg(&cfg)
			}
			want := func(how string, err error) {
				t.Helper()
				var re *RuleError
				if !errors.As(err, &re) {
					t.Fatalf("%s: got %v; want a RuleError %s", how, err, tt.rule)
				}
				if re.Rule != tt.rule || !strings.Contains(re.Property, tt.device) {
					t.Fatalf("%s: got rule %s on %q (%v); want rule %s on %q", how, re.Rule, re.Property, err, tt.rule, tt.device)
				}
				if !errors.Is(err, hypervisor.ErrInvalidProperty) || !strings.Contains(err.Error(), tt.device) {
					t.Fatalf("%s: %v is not an invalid-property error naming %q", how, err, tt.device)
				}
			}
			_, err := BuildPlan(&dom, cfg)
			want("BuildPlan", err)
			want("CheckDomain", New(cfg).CheckDomain(context.Background(), &dom))
			if cfg.Arch == DefaultConfig().Arch && tt.cfg == nil {
				_, err := hypervisor.ArgvForXML("bhyve", []byte(x))
				want("domain argv", err)
			}
			seen[tt.rule] = true
		})
	}
	for _, r := range allRules {
		if !seen[r] {
			t.Errorf("rule %s has no breaking case", r)
		}
	}
}

// usbdev is a host USB device 1234:0001 with extra source elements.
func usbdev(extra string) string {
	return "<hostdev mode='subsystem' type='usb'><source><vendor id='0x1234'/><product id='0x0001'/>" + extra + "</source></hostdev>"
}

// withUSB is a host whose bhyve has the libusb-based xhci passthrough.
func withUSB(c *Config) { c.USBPassthru = true }

// allRules is every Rule constant; TestStrictRules fails for one without
// a case.
var allRules = []Rule{RulePCIBus, RulePCIDomain, RulePCISlotRange, RulePCIFuncRange, RulePCISlot0, RulePCIClash,
	RulePCIFunc0, RulePCISlotsFull, RuleController, RuleSATAPort, RuleNVMeName, RuleNVMePerCtrl, RuleNVMeSerial,
	RuleNVMeEUI64, RuleDiskOption, RuleVCPUTopology, RuleVCPUMax, RuleVCPUPin, RuleNUMA, RuleSerial, RuleNMDMName,
	RuleUEFIOnly, RuleAMD64Only, RuleMAC, RuleHostdevMemory, RuleUSBPassthru, RuleVNC, RuleUnsupportedBus}

// TestStrictRulesEdges: the values at each limit are accepted and reach
// the argv as bhyve takes them, so the rules are not stricter than bhyve.
func TestStrictRulesEdges(t *testing.T) {
	tests := []struct {
		name string
		dom  strictDomain
		cfg  func(*Config)
		want []string // substrings of the bhyve argv
	}{
		{"slot 31 and functions", strictDomain{devices: vdisk("vdb", pciAt(31, 0)) + vdisk("vdc", pciAt(31, 7)) + iface("tap0", "52:54:00:00:00:01", pciAt(2, 1)) + vdisk("vdd", pciAt(2, 0))},
			nil, []string{"-s 31:0,virtio-blk,/vm/strict/vdb", "-s 31:7,virtio-blk,/vm/strict/vdc", "-s 2:0,virtio-blk,/vm/strict/vdd", "-s 2:1,virtio-net,tap0"}},
		{"30 devices fill bus 0", strictDomain{devices: func() string {
			var b strings.Builder
			for i := 0; i < 29; i++ {
				b.WriteString(vdisk(fmt.Sprintf("vdz%d", i), ""))
			}
			return b.String()
		}()}, nil, []string{"-s 1:0,lpc", "-s 31:0,virtio-blk,/vm/strict/vdz28"}},
		{"slot 1 taken moves the LPC bridge to the next free slot, before the other devices (libvirt)", strictDomain{devices: vdisk("vdb", pciAt(1, 0))}, nil, []string{"-s 1:0,virtio-blk,/vm/strict/vdb", "-s 2:0,lpc", "-s 3:0,virtio-blk,/vm/strict/disk0"}},
		{"ISA controller places the LPC bridge", strictDomain{devices: "<controller type='isa' index='0'>" + pciAt(31, 0) + "</controller>"}, nil, []string{"-s 31:0,lpc"}},
		{"sata unit 31", strictDomain{devices: sataDisk("sda", "<address type='drive' controller='0' bus='0' target='0' unit='31'/>")}, nil, []string{"ahci-hd,/vm/strict/sda"}},
		{"nvme serial 20 and eui64", strictDomain{devices: nvmeDisk("nvme0n1", "<serial>0123456789abcdefghij</serial><wwn>0x5000C50015EA71AD</wwn>") + nvmeDisk("nvme1n1", "")},
			nil, []string{"nvme,/vm/strict/nvme0n1,eui64=0x5000c50015ea71ad,ser=0123456789abcdefghij", "nvme,/vm/strict/nvme1n1"}},
		{"hw.vmm.maxcpu exactly", strictDomain{vcpus: 4}, func(c *Config) { c.MaxVCPUs = 4 }, []string{"-c 4"}},
		{"pin of the last vcpu", strictDomain{top: "<cputune><vcpupin vcpu='1' cpuset='3'/></cputune>"}, nil, []string{"-p 1:3"}},
		{"four com ports", strictDomain{devices: nmdm0 + nmdm1 + "<serial type='tcp'><source mode='bind' host='127.0.0.1' service='4555'/><protocol type='raw'/><target port='3'/></serial>"},
			nil, []string{"-l com1,/dev/nmdm-strict.0A", "-l com2,/dev/nmdm-strict.1A", "-l com4,tcp=127.0.0.1:4555"}},
		{"passthrough with locked memory", strictDomain{top: lockedMem, devices: passthru}, nil, []string{"-S", "passthru,3/0/0"}},
		{"vnc 640x480 on 5900", strictDomain{devices: "<graphics type='vnc' port='5900' listen='127.0.0.1'/><video><model type='gop'><resolution x='640' y='480'/></model></video>"},
			nil, []string{"fbuf,tcp=127.0.0.1:5900,w=640,h=480"}},
		{"arm64 console", strictDomain{arch: "aarch64", devices: nmdm0}, nil, []string{"-o console=/dev/nmdm-strict.0A"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var dom libvirtxml.Domain
			if err := dom.Unmarshal(tt.dom.xml()); err != nil {
				t.Fatal(err)
			}
			cfg := tt.dom.config()
			if tt.cfg != nil {
				tt.cfg(&cfg)
			}
			p, err := BuildPlan(&dom, cfg)
			if err != nil {
				t.Fatalf("refused: %v", err)
			}
			got := strings.Join(p.Bhyve, " ")
			for _, w := range tt.want {
				if !strings.Contains(got, w) {
					t.Errorf("argv lacks %q:\n%s", w, got)
				}
			}
		})
	}
}

// TestSpawnRefusesBeforeWriting: Spawn refuses a rule-breaking domain
// before it writes the domain file or starts anything.
func TestSpawnRefusesBeforeWriting(t *testing.T) {
	dir := t.TempDir()
	var dom libvirtxml.Domain
	x := strictDomain{devices: iface("tap0", "52:54:00:00:00:01", "") + iface("tap1", "52:54:00:00:00:01", "")}.xml()
	if err := dom.Unmarshal(x); err != nil {
		t.Fatal(err)
	}
	cfg := amd64Config()
	cfg.Bhyve = "/nonexistent/bhyve" // anything that ran would fail differently
	g := hypervisor.Guest{UUID: "11111111-2222-3333-4444-555555555555", Name: "strict", Dir: dir}
	err := New(cfg).Spawn(context.Background(), g, &dom)
	var re *RuleError
	if !errors.As(err, &re) || re.Rule != RuleMAC {
		t.Fatalf("Spawn = %v; want the mac rule", err)
	}
	entries, _ := os.ReadDir(dir)
	if len(entries) != 0 {
		t.Fatalf("Spawn left %v in the instance directory", entries)
	}
}
