package bhyve

import (
	"context"
	"errors"
	"slices"
	"strings"
	"testing"

	"github.com/novabsd/novabsd/hypervisor"
	"github.com/novabsd/novabsd/hypervisor/domain"
	"libvirt.org/go/libvirtxml"
)

// bhyve's flags as the builder uses them: with a value, and without.
var (
	bhyveValueFlags = map[string]bool{"-c": true, "-m": true, "-p": true, "-U": true, "-s": true, "-l": true, "-o": true, "-K": true}
	bhyveBareFlags  = map[string]bool{"-u": true, "-H": true, "-P": true, "-A": true, "-w": true, "-S": true}
)

// slotKeys are the options each -s emulation may carry after its
// positional argument (path, backend), per bhyve(8) and bhyve_config(5).
var slotKeys = map[string][]string{
	"hostbridge": nil, "lpc": nil, "virtio-rnd": nil,
	"virtio-blk": {"nocache", "direct", "nodelete", "ro", "sectorsize", "ser", "bootindex"},
	"ahci-hd":    {"nocache", "direct", "nodelete", "ro", "sectorsize", "ser", "bootindex"},
	"ahci-cd":    {"nocache", "direct", "nodelete", "ro", "sectorsize", "ser", "bootindex"},
	"nvme":       {"nocache", "direct", "nodelete", "ro", "sectsz", "ser", "bootindex", "maxq", "qsz", "eui64"},
	"virtio-net": {"mac", "mtu", "bootindex", "open"},
	"e1000":      {"mac", "bootindex", "open"},
	"fbuf":       {"tcp", "w", "h", "wait", "password"},
	"xhci":       {"tablet"},
	"passthru":   nil,
}

// positional says whether an emulation's first option is a path or
// backend rather than key=value.
var positional = map[string]bool{"virtio-blk": true, "ahci-hd": true, "ahci-cd": true, "nvme": true,
	"virtio-net": true, "e1000": true, "passthru": true}

// checkBhyveArgv parses a bhyve command line back the way bhyve reads it
// (commas separate options; bhyve has no escape) and fails on any flag,
// device, option or config key the builder does not emit for benign
// domains, or a VM name other than name.
func checkBhyveArgv(t testing.TB, argv []string, name string) {
	t.Helper()
	if len(argv) < 2 || argv[len(argv)-1] != name {
		t.Fatalf("VM name is not the last argument %q: %q", name, argv)
	}
	for i := 1; i < len(argv)-1; i++ {
		f := argv[i]
		if bhyveBareFlags[f] {
			continue
		}
		if !bhyveValueFlags[f] || i+1 >= len(argv)-1 {
			t.Fatalf("argv[%d] %q injected: %q", i, f, argv)
		}
		i++
		v := argv[i]
		parts := strings.Split(v, ",")
		switch f {
		case "-s":
			if len(parts) < 2 {
				t.Fatalf("-s %q without emulation", v)
			}
			emu, opts := parts[1], parts[2:]
			keys, ok := slotKeys[emu]
			if !ok {
				t.Fatalf("-s emulation %q injected: %q", emu, argv)
			}
			if positional[emu] {
				if len(opts) == 0 {
					t.Fatalf("-s %q lacks its path or backend", v)
				}
				if p := opts[0]; (emu != "virtio-net" && emu != "e1000" && emu != "passthru") && !strings.HasPrefix(p, "/") {
					t.Fatalf("-s %s path %q is not absolute: %q", emu, p, argv)
				}
				opts = opts[1:]
			}
			for _, o := range opts {
				k, _, _ := strings.Cut(o, "=")
				if !slices.Contains(keys, k) {
					t.Fatalf("-s %s option %q injected: %q", emu, o, argv)
				}
			}
		case "-l":
			switch {
			case parts[0] == "bootrom":
				if len(parts) < 2 || len(parts) > 4 {
					t.Fatalf("-l %q injected", v)
				}
				for j, p := range parts[1:] {
					if p == "fwcfg=qemu" && j == len(parts)-2 {
						continue
					}
					if !strings.HasPrefix(p, "/") || strings.Contains(p, "=") {
						t.Fatalf("-l bootrom part %q injected: %q", p, argv)
					}
				}
			case slices.Contains([]string{"com1", "com2", "com3", "com4"}, parts[0]):
				if len(parts) != 2 || !(strings.HasPrefix(parts[1], "/") || strings.HasPrefix(parts[1], "tcp=")) {
					t.Fatalf("-l %q injected: %q", v, argv)
				}
			default:
				t.Fatalf("-l device %q injected: %q", parts[0], argv)
			}
		case "-o":
			k, _, _ := strings.Cut(v, "=")
			if k != "bootrom" && k != "console" {
				t.Fatalf("-o %q injected: %q", v, argv)
			}
		case "-K":
			if !keymapRe.MatchString(v) {
				t.Fatalf("-K %q: %q", v, argv)
			}
		}
	}
}

// bhyveFields each set one string of a bhyve domain that reaches argv.
var bhyveFields = []func(d *libvirtxml.Domain, s string){
	func(d *libvirtxml.Domain, s string) { d.UUID = s },
	func(d *libvirtxml.Domain, s string) { d.OS.Loader.Path = s },
	func(d *libvirtxml.Domain, s string) { d.OS.NVRam.NVRam = s },
	func(d *libvirtxml.Domain, s string) { d.Devices.Disks[0].Source.Block.Dev = s },
	func(d *libvirtxml.Domain, s string) { d.Devices.Disks[0].Serial = s },
	func(d *libvirtxml.Domain, s string) { d.Devices.Disks[0].Driver.Cache = s },
	func(d *libvirtxml.Domain, s string) { d.Devices.Disks[0].Target.Bus = s },
	func(d *libvirtxml.Domain, s string) { d.Devices.Disks[1].Source.Block.Dev = s },
	func(d *libvirtxml.Domain, s string) { d.Devices.Disks[2].Serial = s },
	func(d *libvirtxml.Domain, s string) { d.Devices.Disks[2].WWN = s },
	func(d *libvirtxml.Domain, s string) { d.Devices.Disks[2].Target.Dev = s },
	func(d *libvirtxml.Domain, s string) { d.Devices.Interfaces[0].MAC.Address = s },
	func(d *libvirtxml.Domain, s string) { d.Devices.Interfaces[0].Model.Type = s },
	func(d *libvirtxml.Domain, s string) { d.Devices.Interfaces[0].Target.Dev = s },
	func(d *libvirtxml.Domain, s string) { d.Devices.Graphics[0].VNC.Listen = s },
	func(d *libvirtxml.Domain, s string) { d.Devices.Graphics[0].VNC.Keymap = s },
	func(d *libvirtxml.Domain, s string) { d.Devices.Graphics[0].VNC.Passwd = s },
	func(d *libvirtxml.Domain, s string) { d.Devices.Serials[0].Source.NMDM.Master = s },
	func(d *libvirtxml.Domain, s string) { d.Devices.Serials[0].Source.NMDM.Slave = s },
	func(d *libvirtxml.Domain, s string) { d.Devices.Videos[0].Model.Type = s },
	func(d *libvirtxml.Domain, s string) { d.Devices.Controllers[0].Model = s },
	func(d *libvirtxml.Domain, s string) { d.Memory.Unit = s },
}

// FuzzArgvNoInjection builds bhyve's argv from a benign domain with the
// fuzzed string in one field (and in all at once), the numbers fuzzed,
// then checks no flag, device, option or config key appears that the
// builder does not emit for benign domains.
func FuzzArgvNoInjection(f *testing.F) {
	for _, s := range []string{"x", "/dev/zvol/a,ro", "tap0,mac=00:00:00:00:00:00", "127.0.0.1,wait", "../../etc/x",
		"/dev/nmdm0A", "bootrom=/x", "com1,/dev/x", "a=b", "fa:16:3e:00:00:01", "virtio", "sata", "-S", "",
		"5000c50015ea71ad", "0x5000c50015ea71ad,ser=x", "nvme1n1", "nvme0n2"} {
		f.Add(s, uint(2))
	}
	f.Fuzz(func(t *testing.T, s string, n uint) {
		sp := spec(int(n%16)+1, int(n%65536)+1)
		sp.Disks = append(disks("virtio", 1), hypervisor.Disk{Role: hypervisor.RoleEphemeral, Path: "/dev/zvol/tank/e", Format: "raw", Bus: "sata"},
			hypervisor.Disk{Role: hypervisor.RoleEphemeral, Path: "/dev/zvol/tank/n", Format: "raw", Bus: "nvme", Serial: "NV01"})
		sp.NICs = []hypervisor.NIC{nic(0, "")}
		sp.VNC = &hypervisor.VNC{Listen: "127.0.0.1", Port: int(n % 70000), Keymap: "us_unix"}
		cfg := amd64Config()
		props := domain.Props{Image: map[string]string{"hw_firmware_type": "uefi", "hw_pointer_model": "usbtablet", "hw_rng_model": "virtio"}}
		for i := 0; i <= len(bhyveFields); i++ {
			base, err := domain.Build(sp, props, DomainOptions(cfg))
			if err != nil {
				return
			}
			dom := *base
			if len(dom.Devices.Videos) == 0 {
				dom.Devices.Videos = []libvirtxml.DomainVideo{{Model: libvirtxml.DomainVideoModel{Type: "gop"}}}
			}
			if len(dom.Devices.Controllers) == 0 || dom.Devices.Disks[0].Driver == nil || dom.OS.Loader == nil || dom.OS.NVRam == nil {
				t.Fatalf("benign domain lacks a field the fuzzer sets: %+v", base)
			}
			for j, set := range bhyveFields {
				if i == j || i == len(bhyveFields) {
					set(&dom, s)
				}
			}
			p, err := BuildPlan(&dom, cfg)
			if err != nil {
				if !errors.Is(err, hypervisor.ErrInvalidProperty) {
					t.Fatalf("error %v is not a PropertyError", err)
				}
				continue
			}
			checkBhyveArgv(t, p.Bhyve, dom.Name)
		}
	})
}

// TestArgvInjectionRefused: values that reached bhyve's command line with
// only a comma check, or none, are refused with a PropertyError.
func TestArgvInjectionRefused(t *testing.T) {
	tests := []struct {
		name, prop string
		edit       func(*libvirtxml.Domain)
	}{
		{"relative disk", "disk source", func(d *libvirtxml.Domain) { d.Devices.Disks[0].Source.Block.Dev = "disk" }},
		{"bootrom with comma", "bootrom", func(d *libvirtxml.Domain) { d.OS.Loader.Path = "/fw,/etc/shadow" }},
		{"nvram with comma", "nvram", func(d *libvirtxml.Domain) { d.OS.NVRam.NVRam = "/i/nvram,fwcfg=bhyve" }},
		{"vnc listen with option", "vnc listen", func(d *libvirtxml.Domain) { d.Devices.Graphics[0].VNC.Listen = "0.0.0.0:1,wait" }},
		{"keymap path", "vnc keymap", func(d *libvirtxml.Domain) { d.Devices.Graphics[0].VNC.Keymap = "../../../etc/shadow" }},
		{"mac", "mac", func(d *libvirtxml.Domain) { d.Devices.Interfaces[0].MAC.Address = "fa:16:3e:00:00:01=x" }},
		{"tap", "interface target dev", func(d *libvirtxml.Domain) { d.Devices.Interfaces[0].Target.Dev = "tap0=x" }},
		{"nmdm elsewhere", "nmdm master", func(d *libvirtxml.Domain) { d.Devices.Serials[0].Source.NMDM.Master = "/etc/shadow" }},
		{"uuid", "uuid", func(d *libvirtxml.Domain) { d.UUID = "-S" }},
		{"memory", "memory", func(d *libvirtxml.Domain) { d.Memory.Value, d.Memory.Unit = 1<<40, "TiB" }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			sp := spec(2, 2048)
			sp.Disks = disks("virtio", 1)
			sp.NICs = []hypervisor.NIC{nic(0, "")}
			sp.VNC = &hypervisor.VNC{Listen: "127.0.0.1", Port: 5901, Keymap: "us_unix"}
			dom, err := domain.Build(sp, domain.Props{Image: map[string]string{"hw_firmware_type": "uefi"}}, DomainOptions(amd64Config()))
			if err != nil {
				t.Fatal(err)
			}
			tt.edit(dom)
			_, err = BuildPlan(dom, amd64Config())
			var pe *hypervisor.PropertyError
			if !errors.As(err, &pe) || !strings.Contains(pe.Property, tt.prop) {
				t.Fatalf("err = %v, want a PropertyError naming %s", err, tt.prop)
			}
		})
	}
}

// TestCheckDomain: the driver refuses through hypervisor.DomainChecker what
// BuildPlan refuses, so compute/ can ask before it makes disks.
func TestCheckDomain(t *testing.T) {
	var c hypervisor.DomainChecker = New(amd64Config())
	sp := spec(2, 2048)
	sp.Disks = disks("virtio", 1)
	dom, err := domain.Build(sp, domain.Props{}, DomainOptions(amd64Config()))
	if err != nil {
		t.Fatal(err)
	}
	if err := c.CheckDomain(context.Background(), dom); err != nil {
		t.Fatalf("benign domain refused: %v", err)
	}
	dom.Devices.Disks[0].Source.Block.Dev = "/dev/zvol/a,ro"
	if err := c.CheckDomain(context.Background(), dom); !errors.Is(err, hypervisor.ErrInvalidProperty) {
		t.Fatalf("CheckDomain = %v, want ErrInvalidProperty", err)
	}
}
