package host

import (
	"errors"
	"reflect"
	"strings"
	"testing"
	"time"
)

func TestParseUsbconfigList(t *testing.T) {
	// Plain `usbconfig list`: no descriptors, so no ids; a description
	// holding '>' is still split at the last "> at usbus".
	in := "ugen1.1: <EHCI root HUB Intel> at usbus1, cfg=0 md=HOST spd=HIGH (480Mbps) pwr=SAVE (0mA)\n" +
		"ugen1.2: <Tablet >v2< Wacom> at usbus1, cfg=255 md=HOST spd=FULL (12Mbps) pwr=ON (98mA)\n"
	got, err := ParseUsbconfig(in)
	if err != nil {
		t.Fatal(err)
	}
	want := []USBDevice{
		{Bus: 1, Address: 1, Description: "EHCI root HUB Intel", Mode: "HOST", Speed: "HIGH", Power: "SAVE"},
		{Bus: 1, Address: 2, Description: "Tablet >v2< Wacom", Config: 255, Mode: "HOST", Speed: "FULL", Power: "ON",
			PowerMA: 98},
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("got %+v\nwant %+v", got, want)
	}
	if got[1].Name() != "ugen1.2" {
		t.Errorf("name %q", got[1].Name())
	}
	if none, err := ParseUsbconfig("No device match or lack of permissions.\n"); err != nil || len(none) != 0 {
		t.Errorf("no devices: %v, %v", none, err)
	}
}

func TestDeviceParsersRefuse(t *testing.T) {
	tests := []struct {
		name, in string
		parse    func(string) error
		source   string
	}{
		{"pciconf no selector", "igb0 class=0x020000\n", pciErr, "pciconf -lv line 1"},
		{"pciconf short selector", "igb0@pci0:1:0:\tclass=0x020000 vendor=0x8086 device=0x1533\n", pciErr, "pciconf -lv line 1"},
		{"pciconf slot 32", "igb0@pci0:1:32:0:\tclass=0x020000 vendor=0x8086 device=0x1533\n", pciErr, "pciconf -lv line 1"},
		{"pciconf decimal id", "igb0@pci0:1:0:0:\tclass=0x020000 vendor=8086 device=0x1533\n", pciErr, "pciconf -lv line 1"},
		{"pciconf no vendor", "igb0@pci0:1:0:0:\tclass=0x020000 device=0x1533\n", pciErr, "pciconf -lv line 1"},
		{"pciconf no unit", "igb@pci0:1:0:0:\tclass=0x020000 vendor=0x8086 device=0x1533\n", pciErr, "pciconf -lv line 1"},
		{"usbconfig bus mismatch", "ugen0.1: <x> at usbus1, cfg=0 md=HOST spd=HIGH (480Mbps) pwr=ON (0mA)\n", usbErr, "usbconfig line 1"},
		{"usbconfig no pwr", "\nugen0.1: <x> at usbus0, cfg=0 md=HOST spd=HIGH (480Mbps)\n", usbErr, "usbconfig line 2"},
		{"usbconfig other text", "Dumping list of supported quirks:\n", usbErr, "usbconfig line 1"},
		{"zpool human sizes", "tank\t3.62T\t1T\t2.62T\t-\t-\t7%\t27%\t1.00x\tONLINE\t-\n", zpoolErr, "zpool list -Hp line 1"},
		{"zpool columns", "tank\t1\t2\n", zpoolErr, "zpool list -Hp line 1"},
		{"zpool bad name", "\t1\t1\t0\t-\t-\t0\t0\t1.00\tONLINE\t-\n", zpoolErr, "zpool list -Hp line 1"},
		{"ifconfig header", "em0 flags=8843<UP> mtu 1500\n", ifErr, "ifconfig -a line 1"},
		{"ifconfig netmask", "em0: flags=8843<UP> metric 0 mtu 1500\n\tinet 10.0.0.1 netmask 0xff00ff00\n", ifErr, "ifconfig -a line 2"},
		{"ifconfig prefixlen", "em0: flags=8843<UP> metric 0 mtu 1500\n\tinet6 ::1 prefixlen 129\n", ifErr, "ifconfig -a line 2"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.parse(tt.in)
			var pe *ParseError
			if !errors.As(err, &pe) {
				t.Fatalf("error %v, want *ParseError", err)
			}
			if pe.Source != tt.source {
				t.Errorf("error names %q, want %q (%v)", pe.Source, tt.source, err)
			}
		})
	}
}

func pciErr(s string) error   { _, err := ParsePciconf(s); return err }
func usbErr(s string) error   { _, err := ParseUsbconfig(s); return err }
func zpoolErr(s string) error { _, err := ParseZpoolList(s); return err }
func ifErr(s string) error    { _, err := ParseIfconfig(s); return err }

func TestParseZpoolListFaulted(t *testing.T) {
	// zpool-list(8)'s faulted pool: every size "-".
	got, err := ParseZpoolList("zion\t-\t-\t-\t-\t-\t-\t-\t-\tFAULTED\t-\n")
	if err != nil {
		t.Fatal(err)
	}
	want := []ZPool{{Name: "zion", Fragmentation: -1, Capacity: -1, Health: "FAULTED"}}
	if !reflect.DeepEqual(got, want) || got[0].Disk().TotalGB() != 0 {
		t.Errorf("got %+v, want %+v", got, want)
	}
}

// fuzzSeeds are the recorded outputs of every fixture host, for the fuzz
// targets' corpus.
func fuzzSeeds(f *testing.F, pick func(FreeBSDOutputs) string) {
	for _, h := range []string{"freebsd-14.3-amd64-intel", "freebsd-14.3-amd64-amd", "freebsd-15.0-arm64"} {
		f.Add(pick(loadFreeBSDOutputs(f, h)))
	}
	f.Add("")
	f.Add("\n\t\n")
}

// FuzzParsePciconf: any text parses or fails with a *ParseError, never
// panics, and every parsed device has a selector bhyve could be given.
func FuzzParsePciconf(f *testing.F) {
	fuzzSeeds(f, func(o FreeBSDOutputs) string { return o.Pciconf })
	f.Add("a0@pci0:0:0:0: class=0x1 vendor=0x1 device=0x1 x\n    vendor =\n    class = '\n")
	f.Fuzz(func(t *testing.T, s string) {
		devs, err := ParsePciconf(s)
		if err != nil {
			var pe *ParseError
			if !errors.As(err, &pe) {
				t.Fatalf("error %v is not a *ParseError", err)
			}
			return
		}
		for _, d := range devs {
			if d.Driver == "" || d.Bus > 255 || d.Slot > 31 || d.Function > 7 || d.Class > 0xffffff ||
				strings.ContainsAny(d.Selector(), " \t\n") {
				t.Fatalf("parsed %+v from %q", d, s)
			}
		}
	})
}

// FuzzParseUsbconfig: never panics; parsed devices have their mode, speed
// and power and a name without spaces.
func FuzzParseUsbconfig(f *testing.F) {
	fuzzSeeds(f, func(o FreeBSDOutputs) string { return o.Usbconfig })
	f.Add("ugen0.1: <> at usbus0, cfg=0 md=HOST spd=X pwr=ON (mA)\n  idVendor = 0x\n  iProduct = 0x0001 <\n")
	f.Fuzz(func(t *testing.T, s string) {
		devs, err := ParseUsbconfig(s)
		if err != nil {
			var pe *ParseError
			if !errors.As(err, &pe) {
				t.Fatalf("error %v is not a *ParseError", err)
			}
			return
		}
		for _, d := range devs {
			if d.Mode == "" || d.Speed == "" || d.Power == "" || d.PowerMA < 0 || strings.ContainsAny(d.Name(), " \t\n") {
				t.Fatalf("parsed %+v from %q", d, s)
			}
		}
	})
}

// FuzzParseZpoolList: never panics; parsed pools have a name and a sane
// capacity.
func FuzzParseZpoolList(f *testing.F) {
	fuzzSeeds(f, func(o FreeBSDOutputs) string { return o.ZpoolList })
	f.Add("t\t-\t-\t-\t-\t-\t-\t-\tNaNx\tONLINE\t-\n")
	f.Fuzz(func(t *testing.T, s string) {
		pools, err := ParseZpoolList(s)
		if err != nil {
			var pe *ParseError
			if !errors.As(err, &pe) {
				t.Fatalf("error %v is not a *ParseError", err)
			}
			return
		}
		for _, p := range pools {
			if p.Name == "" || p.Capacity < -1 || p.Fragmentation < -1 || p.Dedup < 0 || p.Disk().TotalGB() < 0 {
				t.Fatalf("parsed %+v from %q", p, s)
			}
		}
	})
}

// FuzzParseIfconfig: never panics; parsed interfaces have a name, and
// addresses carry a prefix length.
func FuzzParseIfconfig(f *testing.F) {
	fuzzSeeds(f, func(o FreeBSDOutputs) string { return o.Ifconfig })
	f.Add("x: flags=0<\n\tinet 1 netmask 0x\n\tmember:\n\tether\n")
	f.Fuzz(func(t *testing.T, s string) {
		ifs, err := ParseIfconfig(s)
		if err != nil {
			var pe *ParseError
			if !errors.As(err, &pe) {
				t.Fatalf("error %v is not a *ParseError", err)
			}
			return
		}
		for _, i := range ifs {
			if i.Name == "" || i.MTU < 0 {
				t.Fatalf("parsed %+v from %q", i, s)
			}
			for _, a := range append(append([]string{}, i.IPv4...), i.IPv6...) {
				if !strings.Contains(a, "/") {
					t.Fatalf("address %q without prefix from %q", a, s)
				}
			}
		}
	})
}

// FuzzParseFreeBSD: sysctl and boot-message text of any shape builds a Host
// or fails with a *ParseError; it never panics.
func FuzzParseFreeBSD(f *testing.F) {
	for _, h := range []string{"freebsd-14.3-amd64-intel", "freebsd-14.3-amd64-amd", "freebsd-15.0-arm64"} {
		o := loadFreeBSDOutputs(f, h)
		var b strings.Builder
		for k, v := range o.Sysctl {
			b.WriteString(k + ": " + v + "\n")
		}
		f.Add(b.String(), o.DmesgBoot)
	}
	f.Add("hw.machine_arch: amd64\nhw.ncpu: 1\nhw.physmem: 1\nkern.osreldate: 1500000\nhw.vmm.iommu.enable: x\n", "")
	f.Add("hw.machine_arch: amd64\nhw.ncpu: 1\nhw.physmem: 1\nkern.osreldate: 1500000\n",
		"FreeBSD/SMP: 4294967296 package(s) x 4294967296 hardware threads\n")
	f.Fuzz(func(t *testing.T, sysctl, dmesg string) {
		h, err := ParseFreeBSD(ParseSysctlOutput(sysctl), dmesg, time.Unix(1766000000, 0))
		if err != nil {
			var pe *ParseError
			if !errors.As(err, &pe) {
				t.Fatalf("error %v is not a *ParseError", err)
			}
			return
		}
		if h.VCPUs < 1 || h.CPU.Topology.Cores < 1 {
			t.Fatalf("host %+v", h)
		}
	})
}
