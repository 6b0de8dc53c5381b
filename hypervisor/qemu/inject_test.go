package qemu

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/novabsd/novabsd/hypervisor"
	"github.com/novabsd/novabsd/hypervisor/domain"
	"libvirt.org/go/libvirtxml"
)

// splitOpts splits a QEMU option value at single commas; ",," is an
// escaped comma inside a value (QEMU's get_opt_value).
func splitOpts(v string) []string {
	var out []string
	var cur strings.Builder
	for i := 0; i < len(v); i++ {
		if v[i] == ',' {
			if i+1 < len(v) && v[i+1] == ',' {
				cur.WriteByte(',')
				i++
				continue
			}
			out = append(out, cur.String())
			cur.Reset()
			continue
		}
		cur.WriteByte(v[i])
	}
	return append(out, cur.String())
}

// noArgFlags are the flags the builder emits without a value.
var noArgFlags = map[string]bool{"-no-user-config": true, "-nodefaults": true}

// optFlags take a QEMU option list; the others take one plain value.
var optFlags = map[string]bool{
	"-name": true, "-machine": true, "-accel": true, "-sandbox": true, "-run-with": true, "-smp": true,
	"-drive": true, "-mon": true, "-rtc": true, "-boot": true, "-device": true, "-netdev": true,
	"-chardev": true, "-vnc": true, "-object": true,
}

// parsedArgv is a command line parsed back the way QEMU reads it: per
// flag, its values and, for option lists, the keys used ("" for the
// implied first one) and each key's values.
type parsedArgv struct {
	flags map[string]bool
	keys  map[string]map[string]bool     // flag -> keys
	vals  map[string]map[string][]string // flag -> key -> values
}

func parseArgv(t testing.TB, argv []string) parsedArgv {
	p := parsedArgv{flags: map[string]bool{}, keys: map[string]map[string]bool{}, vals: map[string]map[string][]string{}}
	for i := 1; i < len(argv); i++ {
		f := argv[i]
		if !strings.HasPrefix(f, "-") {
			t.Fatalf("argv[%d] = %q where a flag belongs: %q", i, f, argv)
		}
		p.flags[f] = true
		if noArgFlags[f] {
			continue
		}
		if i+1 >= len(argv) {
			t.Fatalf("flag %s without its value: %q", f, argv)
		}
		i++
		if !optFlags[f] {
			continue
		}
		if p.keys[f] == nil {
			p.keys[f], p.vals[f] = map[string]bool{}, map[string][]string{}
		}
		for j, o := range splitOpts(argv[i]) {
			k, v, ok := strings.Cut(o, "=")
			if !ok && j == 0 {
				k, v = "", o // the implied key (machine type, device driver, backend)
			}
			p.keys[f][k] = true
			p.vals[f][k] = append(p.vals[f][k], v)
		}
	}
	return p
}

// allowedArgv is what the builder emits for benign domains: every golden
// case, plus the options those cases happen not to use.
func allowedArgv(t testing.TB) parsedArgv {
	all := parsedArgv{flags: map[string]bool{"-incoming": true, "-run-with": true, "-k": true, "-cpu": true},
		keys: map[string]map[string]bool{"-drive": {"cache": true}, "-chardev": {"path": true, "server": true, "wait": true},
			"-run-with": {"user": true}, "-device": {"bus": true, "channel": true, "scsi-id": true, "lun": true}},
		vals: map[string]map[string][]string{}}
	for _, tc := range argvCases {
		for _, accel := range []string{AccelKVM, AccelTCG, AccelAuto} {
			dom, err := domain.Build(tc.spec("/var/lib/novabsd/instances/x"), tc.props, DomainOptions(DefaultConfig(), AccelTCG))
			if err != nil {
				t.Fatal(err)
			}
			argv, err := BuildArgv(placedCopy(dom, Machine(dom, DefaultConfig())), DefaultConfig(), accel, runtimeFor(dom, DefaultConfig()))
			if err != nil {
				t.Fatal(err)
			}
			p := parseArgv(t, argv)
			for f := range p.flags {
				all.flags[f] = true
			}
			for f, ks := range p.keys {
				if all.keys[f] == nil {
					all.keys[f] = map[string]bool{}
				}
				for k := range ks {
					all.keys[f][k] = true
				}
			}
		}
	}
	return all
}

// Devices, machines and backends the builder may name as an option list's
// first element.
var allowedImplied = map[string][]string{
	"-device": {"virtio-blk-pci", "nvme", "ich9-ahci", "ide-hd", "ide-cd", "virtio-scsi-pci", "scsi-hd", "scsi-cd",
		"virtio-net-pci", "e1000", "e1000e", "rtl8139", "ne2k_pci", "pcie-root-port", "VGA", "virtio-vga", "cirrus-vga", "virtio-rng-pci",
		"qemu-xhci", "nec-xhci", "usb-tablet"},
	"-netdev":  {"tap"},
	"-chardev": {"pty", "socket", "file", "null"},
	"-object":  {"rng-random"},
	"-accel":   {"kvm", "tcg"},
	"-sandbox": {"on"},
}

// checkNoInjection fails when argv holds a flag, an option key or a device
// the builder never emits, or a host path QEMU could read as a protocol.
func checkNoInjection(t testing.TB, argv []string, allowed parsedArgv, machine string) {
	t.Helper()
	p := parseArgv(t, argv)
	for f := range p.flags {
		if !allowed.flags[f] {
			t.Fatalf("flag %s injected: %q", f, argv)
		}
	}
	for f, ks := range p.keys {
		for k := range ks {
			if !allowed.keys[f][k] {
				t.Fatalf("option %s %q injected: %q", f, k, argv)
			}
		}
	}
	for f, names := range allowedImplied {
		for _, v := range p.vals[f][""] {
			if !slices.Contains(names, v) {
				t.Fatalf("%s %q injected: %q", f, v, argv)
			}
		}
	}
	if got := p.vals["-machine"][""]; len(got) != 1 || got[0] != machine {
		t.Fatalf("-machine %q, want exactly %q: %q", got, machine, argv)
	}
	for _, f := range []string{"-drive", "-chardev", "-object"} {
		for _, k := range []string{"file", "path", "logfile", "filename"} {
			for _, v := range p.vals[f][k] {
				if !strings.HasPrefix(v, "/") {
					t.Fatalf("%s %s=%q is not an absolute path: %q", f, k, v, argv)
				}
			}
		}
	}
	if got := p.vals["-mon"]["chardev"]; !slices.Equal(got, []string{"charmonitor"}) {
		t.Fatalf("-mon chardev=%q, want the one monitor socket: %q", got, argv)
	}
}

// benignDomain is a domain using every device kind the builder knows.
func benignDomain(n uint) *libvirtxml.Domain {
	port := uint(0)
	rootPort, zero := n%300+1, uint(0)
	return &libvirtxml.Domain{
		Name: "instance-0000002a", UUID: "8a1c5e7e-2f38-4a0c-9a53-3c6f0d9b7a10",
		Memory: &libvirtxml.DomainMemory{Value: n%(1<<22) + 1024, Unit: "KiB"},
		VCPU:   &libvirtxml.DomainVCPU{Value: n%8 + 1},
		OS: &libvirtxml.DomainOS{Type: &libvirtxml.DomainOSType{Arch: "x86_64", Machine: "q35"},
			Loader: &libvirtxml.DomainLoader{Path: "/fw/code.fd", Type: "pflash"},
			NVRam:  &libvirtxml.DomainNVRam{NVRam: "/i/nvram.fd"}},
		Devices: &libvirtxml.DomainDeviceList{
			Disks: []libvirtxml.DomainDisk{
				{Device: "disk", Driver: &libvirtxml.DomainDiskDriver{Type: "raw", Cache: "none"},
					Source: &libvirtxml.DomainDiskSource{File: &libvirtxml.DomainDiskSourceFile{File: "/i/disk"}},
					Target: &libvirtxml.DomainDiskTarget{Dev: "vda", Bus: "virtio"}, Serial: "s1",
					Boot: &libvirtxml.DomainDeviceBoot{Order: n % 10}},
				{Device: "cdrom", Source: &libvirtxml.DomainDiskSource{File: &libvirtxml.DomainDiskSourceFile{File: "/i/cd.iso"}},
					Target: &libvirtxml.DomainDiskTarget{Dev: "sda", Bus: "sata"}},
			},
			Interfaces: []libvirtxml.DomainInterface{{MAC: &libvirtxml.DomainInterfaceMAC{Address: "fa:16:3e:00:00:01"},
				Model: &libvirtxml.DomainInterfaceModel{Type: "virtio"}, Target: &libvirtxml.DomainInterfaceTarget{Dev: "tap0"},
				MTU:     &libvirtxml.DomainInterfaceMTU{Size: n % 70000},
				Address: &libvirtxml.DomainAddress{PCI: &libvirtxml.DomainAddressPCI{Domain: &zero, Bus: &rootPort, Slot: &zero, Function: &zero}}}},
			Serials: []libvirtxml.DomainSerial{
				{Source: &libvirtxml.DomainChardevSource{Pty: &libvirtxml.DomainChardevSourcePty{}},
					Target: &libvirtxml.DomainSerialTarget{Port: &port}, Log: &libvirtxml.DomainChardevLog{File: "/i/console.log", Append: "off"}},
				{Source: &libvirtxml.DomainChardevSource{UNIX: &libvirtxml.DomainChardevSourceUNIX{Path: "/i/serial1.sock"}}},
				{Source: &libvirtxml.DomainChardevSource{TCP: &libvirtxml.DomainChardevSourceTCP{Mode: "bind",
					Host: "127.0.0.1", Service: "10000"}}},
			},
			Graphics: []libvirtxml.DomainGraphic{{VNC: &libvirtxml.DomainGraphicVNC{Listen: "127.0.0.1", Keymap: "en-us", Port: int(n % 70000), Passwd: "pw"}}},
			Videos:   []libvirtxml.DomainVideo{{Model: libvirtxml.DomainVideoModel{Type: "vga"}}},
			RNGs: []libvirtxml.DomainRNG{{Model: "virtio", Backend: &libvirtxml.DomainRNGBackend{
				Random: &libvirtxml.DomainRNGBackendRandom{Device: "/dev/urandom"}}}},
			Controllers: []libvirtxml.DomainController{{Type: "usb", Model: "qemu-xhci"},
				{Type: "pci", Model: "pcie-root-port", Index: &rootPort}},
			Inputs: []libvirtxml.DomainInput{{Type: "tablet", Bus: "usb"}},
		},
		CPU: &libvirtxml.DomainCPU{Topology: &libvirtxml.DomainCPUTopology{Sockets: int(n % 5), Cores: int(n % 3), Threads: 1}},
	}
}

// domainFields each set one string of a domain, or of the runtime, that
// reaches argv.
var domainFields = []func(d *libvirtxml.Domain, rt *Runtime, s string){
	func(d *libvirtxml.Domain, _ *Runtime, s string) { d.Name = s },
	func(d *libvirtxml.Domain, _ *Runtime, s string) { d.UUID = s },
	func(d *libvirtxml.Domain, _ *Runtime, s string) { d.OS.Type.Machine = s },
	func(d *libvirtxml.Domain, _ *Runtime, s string) { d.OS.Loader.Path = s },
	func(d *libvirtxml.Domain, _ *Runtime, s string) { d.OS.Loader.Type = s },
	func(d *libvirtxml.Domain, _ *Runtime, s string) { d.OS.NVRam.NVRam = s },
	func(d *libvirtxml.Domain, _ *Runtime, s string) { d.Devices.Disks[0].Driver.Cache = s },
	func(d *libvirtxml.Domain, _ *Runtime, s string) { d.Devices.Disks[0].Driver.Type = s },
	func(d *libvirtxml.Domain, _ *Runtime, s string) { d.Devices.Disks[0].Source.File.File = s },
	func(d *libvirtxml.Domain, _ *Runtime, s string) { d.Devices.Disks[0].Target.Dev = s },
	func(d *libvirtxml.Domain, _ *Runtime, s string) { d.Devices.Disks[0].Target.Bus = s },
	func(d *libvirtxml.Domain, _ *Runtime, s string) { d.Devices.Disks[0].Serial = s },
	func(d *libvirtxml.Domain, _ *Runtime, s string) { d.Devices.Disks[1].Source.File.File = s },
	func(d *libvirtxml.Domain, _ *Runtime, s string) { d.Devices.Disks[1].Target.Bus = s },
	func(d *libvirtxml.Domain, _ *Runtime, s string) { d.Devices.Interfaces[0].MAC.Address = s },
	func(d *libvirtxml.Domain, _ *Runtime, s string) { d.Devices.Interfaces[0].Model.Type = s },
	func(d *libvirtxml.Domain, _ *Runtime, s string) { d.Devices.Interfaces[0].Target.Dev = s },
	func(d *libvirtxml.Domain, _ *Runtime, s string) { d.Devices.Serials[0].Log.File = s },
	func(d *libvirtxml.Domain, _ *Runtime, s string) { d.Devices.Serials[0].Log.Append = s },
	func(d *libvirtxml.Domain, _ *Runtime, s string) { d.Devices.Serials[1].Source.UNIX.Path = s },
	func(d *libvirtxml.Domain, _ *Runtime, s string) { d.Devices.Serials[2].Source.TCP.Host = s },
	func(d *libvirtxml.Domain, _ *Runtime, s string) { d.Devices.Serials[2].Source.TCP.Service = s },
	func(d *libvirtxml.Domain, _ *Runtime, s string) { d.Devices.Serials[2].Source.TCP.Mode = s },
	func(d *libvirtxml.Domain, _ *Runtime, s string) { d.Devices.Graphics[0].VNC.Listen = s },
	func(d *libvirtxml.Domain, _ *Runtime, s string) { d.Devices.Graphics[0].VNC.Keymap = s },
	func(d *libvirtxml.Domain, _ *Runtime, s string) { d.Devices.Graphics[0].VNC.Passwd = s },
	func(d *libvirtxml.Domain, _ *Runtime, s string) { d.Devices.Videos[0].Model.Type = s },
	func(d *libvirtxml.Domain, _ *Runtime, s string) { d.Devices.RNGs[0].Backend.Random.Device = s },
	func(d *libvirtxml.Domain, _ *Runtime, s string) { d.Devices.RNGs[0].Model = s },
	func(d *libvirtxml.Domain, _ *Runtime, s string) { d.Devices.Controllers[0].Model = s },
	func(d *libvirtxml.Domain, _ *Runtime, s string) { d.Devices.Controllers[1].Model = s },
	func(d *libvirtxml.Domain, _ *Runtime, s string) { d.Devices.Controllers[1].Type = s },
	func(d *libvirtxml.Domain, _ *Runtime, s string) { d.Devices.Inputs[0].Type = s },
	func(d *libvirtxml.Domain, _ *Runtime, s string) { d.Memory.Unit = s },
	func(d *libvirtxml.Domain, _ *Runtime, s string) { d.Clock = &libvirtxml.DomainClock{Offset: s} },
	func(_ *libvirtxml.Domain, rt *Runtime, s string) { rt.QMPSocket = s },
	func(_ *libvirtxml.Domain, rt *Runtime, s string) { rt.PIDFile = s },
}

// FuzzArgvNoInjection builds argv from domains whose every string is the
// fuzzed one (and from the neutral spec through hypervisor/domain with the
// fuzzed value as every image property) and parses it back as QEMU does:
// no flag, option key or device may appear that the builder does not emit
// for benign domains, and the machine is exactly the one asked for.
func FuzzArgvNoInjection(f *testing.F) {
	for _, s := range []string{"q35", "q35,kernel=/vmlinuz,initrd=/etc/shadow", "a,,b", ",", "x=y", "none,file=/etc/shadow",
		"fa:16:3e:00:00:01,romfile=/x", "127.0.0.1,password=off", "../../../etc/shadow", "json:{\"driver\":\"file\"}",
		"00000000-0000-0000-0000-000000000000", "a\nb", "-daemonize", "virtio", "127.0.0.1,logfile=/etc/shadow",
		"10000,server=off", "::1"} {
		f.Add(s, uint(0))
		f.Add(s, uint(7))
	}
	allowed := allowedArgv(f)
	f.Fuzz(func(t *testing.T, s string, n uint) {
		// The fuzzed string in each field alone (benign values elsewhere),
		// then in all of them at once.
		for i := 0; i <= len(domainFields); i++ {
			c := DefaultConfig()
			if n%3 == 0 {
				c.User = "root"
			}
			dom := benignDomain(n)
			rt := Runtime{Dir: "/i", QMPSocket: "/run/q.qmp", PIDFile: "/i/qemu.pid", RunWith: n%2 == 0, IncomingFD: int(n % 5)}
			for j, set := range domainFields {
				if i == j || i == len(domainFields) {
					set(dom, &rt, s)
				}
			}
			if argv, err := BuildArgv(dom, c, AccelTCG, rt); err == nil {
				checkNoInjection(t, argv, allowed, Machine(dom, c))
			} else if !errors.Is(err, hypervisor.ErrInvalidProperty) && dom.Name != "" {
				t.Fatalf("error %v is not a PropertyError", err)
			}
		}
		props := map[string]string{}
		for _, k := range []string{"hw_machine_type", "hw_disk_bus", "hw_cdrom_bus", "hw_vif_model", "hw_video_model",
			"hw_rng_model", "hw_pointer_model", "hw_firmware_type", "os_type", "hw_cpu_sockets", "hw_cpu_cores", "hw_cpu_threads"} {
			props[k] = s
		}
		extra := map[string]string{"hw:cpu_sockets": s, "hw:cpu_max_cores": s, "hw_rng:allowed": s}
		spec := hypervisor.Spec{UUID: "8a1c5e7e-2f38-4a0c-9a53-3c6f0d9b7a10", Name: "instance-0000002a", Dir: "/i",
			VCPUs: int(n%16) + 1, MemoryMB: int(n%4096) + 1, VNC: &hypervisor.VNC{Listen: "127.0.0.1", Keymap: "en-us"},
			Disks: []hypervisor.Disk{{Role: hypervisor.RoleRoot, Path: "/i/disk", Format: "raw", Serial: s}},
			NICs:  []hypervisor.NIC{{MAC: "fa:16:3e:00:00:01", Tap: "tap0"}, {MAC: "fa:16:3e:00:00:02", Tap: s, MTU: int(n % 70000)}}}
		dom, err := domain.Build(spec, domain.Props{Image: props, Extra: extra}, DomainOptions(DefaultConfig(), AccelTCG))
		if err != nil {
			return
		}
		argv, err := BuildArgv(placedCopy(dom, Machine(dom, DefaultConfig())), DefaultConfig(), AccelTCG, runtimeFor(dom, DefaultConfig()))
		if err != nil {
			return
		}
		checkNoInjection(t, argv, allowed, Machine(dom, DefaultConfig()))
	})
}

// TestArgvInjectionRefused: each value that once reached QEMU's command
// line unchecked is refused with a PropertyError naming it.
func TestArgvInjectionRefused(t *testing.T) {
	tests := []struct {
		name, prop string
		edit       func(*libvirtxml.Domain)
	}{
		{"machine with kernel and initrd", "hw_machine_type", func(d *libvirtxml.Domain) {
			d.OS.Type.Machine = "q35,kernel=/vmlinuz,initrd=/etc/shadow"
		}},
		{"machine with space", "hw_machine_type", func(d *libvirtxml.Domain) { d.OS.Type.Machine = "q35 x" }},
		{"disk cache with file", "driver/@cache", func(d *libvirtxml.Domain) { d.Devices.Disks[0].Driver.Cache = "none,file=/etc/shadow" }},
		{"target dev with option", "target/@dev", func(d *libvirtxml.Domain) { d.Devices.Disks[0].Target.Dev = "vda,romfile=/x" }},
		{"relative disk as json", "source", func(d *libvirtxml.Domain) {
			d.Devices.Disks[0].Source.File.File = `json:{"driver":"file","filename":"/etc/shadow"}`
		}},
		{"mac with romfile", "mac/@address", func(d *libvirtxml.Domain) {
			d.Devices.Interfaces[0].MAC.Address = "fa:16:3e:00:00:01,romfile=/etc/shadow"
		}},
		{"vnc listen with option", "graphics/@listen", func(d *libvirtxml.Domain) {
			d.Devices.Graphics[0].VNC.Listen = "0.0.0.0,password=off"
		}},
		{"keymap path", "graphics/@keymap", func(d *libvirtxml.Domain) { d.Devices.Graphics[0].VNC.Keymap = "../../../etc/shadow" }},
		{"vnc port", "graphics/@port", func(d *libvirtxml.Domain) {
			d.Devices.Graphics[0].VNC.Port, d.Devices.Graphics[0].VNC.AutoPort = 99999, "no"
		}},
		{"uuid", "uuid", func(d *libvirtxml.Domain) { d.UUID = "x -daemonize" }},
		{"console log relative", "log file", func(d *libvirtxml.Domain) { d.Devices.Serials[0].Log.File = "console.log" }},
		{"vcpus", "vcpus", func(d *libvirtxml.Domain) { d.VCPU.Value = 100000 }},
		{"memory", "memory", func(d *libvirtxml.Domain) { d.Memory.Value, d.Memory.Unit = 1<<40, "MiB" }},
		{"tap name", "target/@dev", func(d *libvirtxml.Domain) { d.Devices.Interfaces[0].Target.Dev = "tap0/../x" }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			spec := baseSpec("/var/lib/novabsd/instances/x", disk("/var/lib/novabsd/instances/x", "disk", "", root))
			spec.NICs = []hypervisor.NIC{{MAC: "fa:16:3e:00:00:01", Tap: "tap0"}}
			spec.VNC = &hypervisor.VNC{Listen: "127.0.0.1", Keymap: "en-us"}
			dom, err := domain.Build(spec, domain.Props{}, DomainOptions(DefaultConfig(), AccelTCG))
			if err != nil {
				t.Fatal(err)
			}
			rt := runtimeFor(dom, DefaultConfig())
			tt.edit(dom)
			_, err = BuildArgv(dom, DefaultConfig(), AccelTCG, rt)
			var pe *hypervisor.PropertyError
			if !errors.As(err, &pe) || !strings.Contains(pe.Property, tt.prop) {
				t.Fatalf("err = %v, want a PropertyError naming %s", err, tt.prop)
			}
		})
	}
}

// TestArgvEscapesPaths: commas in host paths are doubled wherever QEMU
// parses the path inside an option list, the QMP socket included.
func TestArgvEscapesPaths(t *testing.T) {
	dir := "/var/lib/nova,x/instances/i,d"
	spec := baseSpec(dir, disk(dir, "disk,format=qcow2", "", root))
	spec.ConsoleLog = dir + "/console,log"
	dom, err := domain.Build(spec, domain.Props{Image: map[string]string{"hw_firmware_type": "uefi"}}, DomainOptions(DefaultConfig(), AccelTCG))
	if err != nil {
		t.Fatal(err)
	}
	rt := Runtime{Dir: dir, QMPSocket: dir + "/qmp,sock", PIDFile: dir + "/qemu.pid"}
	argv, err := BuildArgv(dom, DefaultConfig(), AccelTCG, rt)
	if err != nil {
		t.Fatal(err)
	}
	checkNoInjection(t, argv, allowedArgv(t), "q35")
	p := parseArgv(t, argv)
	for _, want := range []struct{ flag, key, val string }{
		{"-chardev", "path", dir + "/qmp,sock"},
		{"-drive", "file", dir + "/disk,format=qcow2"},
		{"-drive", "file", dir + "/" + hypervisor.NVRAMFile},
		{"-chardev", "logfile", dir + "/console,log"},
	} {
		if !slices.Contains(p.vals[want.flag][want.key], want.val) {
			t.Errorf("%s %s=%q not found as one value: %v", want.flag, want.key, want.val, p.vals[want.flag][want.key])
		}
	}
}

// TestArgvRunAsAndSandbox: the unprivileged user and the seccomp sandbox
// on the command line, in the spelling of the QEMU version.
func TestArgvRunAsAndSandbox(t *testing.T) {
	tests := []struct {
		user    string
		sandbox bool
		runWith bool
		want    []string
		absent  []string
	}{
		{"novabsd-qemu", true, false, []string{"-runas novabsd-qemu", "-sandbox on,obsolete=deny,elevateprivileges=allow,spawn=deny,resourcecontrol=deny"}, []string{"-run-with"}},
		{"novabsd-qemu", true, true, []string{"-run-with user=novabsd-qemu"}, []string{"-runas"}},
		{"root", true, false, []string{"-sandbox " + sandboxOpts}, []string{"-runas", "-run-with"}},
		{"nobody", false, false, []string{"-runas nobody"}, []string{"-sandbox"}},
	}
	for _, tt := range tests {
		t.Run(fmt.Sprintf("%s-%v-%v", tt.user, tt.sandbox, tt.runWith), func(t *testing.T) {
			c := DefaultConfig()
			c.User, c.Sandbox = tt.user, tt.sandbox
			dom := buildCase(t, argvCases[0], "/i")
			rt := runtimeFor(dom, c)
			rt.RunWith = tt.runWith
			argv, err := BuildArgv(dom, c, AccelTCG, rt)
			if err != nil {
				t.Fatal(err)
			}
			got := strings.Join(argv, " ")
			for _, w := range tt.want {
				if !strings.Contains(got, w) {
					t.Errorf("argv lacks %q: %s", w, got)
				}
			}
			for _, a := range tt.absent {
				if strings.Contains(got, a) {
					t.Errorf("argv has %q: %s", a, got)
				}
			}
		})
	}
}

func TestParseMachineHelp(t *testing.T) {
	out := "Supported machines are:\nmicrovm              microvm (i386)\npc                   Standard PC (i440FX + PIIX, 1996) (alias of pc-i440fx-7.2)\n" +
		"pc-i440fx-7.2        Standard PC (i440FX + PIIX, 1996) (default)\nq35                  Standard PC (Q35 + ICH9, 2009) (alias of pc-q35-7.2)\n" +
		"pc-q35-7.2           Standard PC (Q35 + ICH9, 2009)\nnone                 empty machine\n"
	got, err := ParseMachineHelp(out)
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"microvm", "none", "pc", "pc-i440fx-7.2", "pc-q35-7.2", "q35"}
	if !slices.Equal(got, want) {
		t.Fatalf("machines = %q, want %q", got, want)
	}
	for _, bad := range []string{"", "Supported machines are:\n", "Supported machines are:\nq35,x=y  bad\n"} {
		if _, err := ParseMachineHelp(bad); err == nil {
			t.Errorf("ParseMachineHelp(%q) accepted", bad)
		}
	}
}

// FuzzParseMachineHelp: whatever a binary prints, the parser returns only
// names that are safe on -machine, or an error.
func FuzzParseMachineHelp(f *testing.F) {
	f.Add("Supported machines are:\npc   Standard PC (alias of pc-i440fx-7.2)\nq35  x\n")
	f.Add("q35,kernel=/x y\n")
	f.Fuzz(func(t *testing.T, out string) {
		names, err := ParseMachineHelp(out)
		if err != nil {
			return
		}
		for _, n := range names {
			if !machineName.MatchString(n) {
				t.Fatalf("unsafe machine name %q", n)
			}
		}
	})
}
