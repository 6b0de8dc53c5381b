package host

import (
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

// debian12PCI is what testdata/sysfs-pci/debian12 holds, written out by hand.
var debian12PCI = []PCIDevice{
	{Class: 0x060000, Revision: 0x07, Vendor: 0x8086, Device: 0x2020, SubVendor: 0x8086, NUMANode: -1},
	{Driver: "e1000e", Slot: 0x1f, Function: 6, Class: 0x020000, Revision: 0x10, Vendor: 0x8086, Device: 0x15bb,
		SubVendor: 0x1028, SubDevice: 0x0905, NUMANode: -1},
	{Driver: "i40e", Bus: 0x3b, Class: 0x020000, Revision: 0x02, Vendor: 0x8086, Device: 0x1572, SubVendor: 0x8086,
		TotalVFs: 64},
	{Driver: "vfio-pci", Bus: 0x3b, Slot: 2, Class: 0x020000, Revision: 0x02, Vendor: 0x8086, Device: 0x154c,
		SubVendor: 0x8086, PhysFn: "0000:3b:00.0"},
	{Driver: "iavf", Bus: 0x3b, Slot: 2, Function: 1, Class: 0x020000, Revision: 0x02, Vendor: 0x8086,
		Device: 0x154c, SubVendor: 0x8086, PhysFn: "0000:3b:00.0"},
	{Driver: "vfio-pci", Bus: 0x5e, Class: 0x030200, Revision: 0xa1, Vendor: 0x10de, Device: 0x1eb8,
		SubVendor: 0x10de, SubDevice: 0x12a2, NUMANode: 1},
	{Bus: 0xaf, Class: 0x0b4000, Revision: 0x04, Vendor: 0x8086, Device: 0x37c8, SubVendor: 0x8086, NUMANode: 1},
}

func pciFixtureRoot(t *testing.T) string {
	t.Helper()
	root, err := filepath.Abs(filepath.Join("testdata", "sysfs-pci", "debian12"))
	if err != nil {
		t.Fatal(err)
	}
	return root
}

func TestReadSysfsPCIFixture(t *testing.T) {
	got, err := readSysfsPCI(pciFixtureRoot(t))
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, debian12PCI) {
		t.Fatalf("got\n%+v\nwant\n%+v", got, debian12PCI)
	}
	roles := []struct {
		addr           string
		vf, pf, passed bool
	}{
		{"0000:00:00.0", false, false, false}, {"0000:00:1f.6", false, false, false},
		{"0000:3b:00.0", false, true, false}, {"0000:3b:02.0", true, false, true},
		{"0000:3b:02.1", true, false, false}, {"0000:5e:00.0", false, false, true},
		{"0000:af:00.0", false, false, false},
	}
	for i, r := range roles {
		d := got[i]
		if d.Address() != r.addr || d.IsVF() != r.vf || d.IsPF() != r.pf || d.Passthrough() != r.passed {
			t.Errorf("%d: %s vf=%v pf=%v passthrough=%v, want %+v", i, d.Address(), d.IsVF(), d.IsPF(),
				d.Passthrough(), r)
		}
	}
	if got[0].Attached() || !got[1].Attached() {
		t.Errorf("Attached: unbound host bridge %v, e1000e %v", got[0].Attached(), got[1].Attached())
	}
}

func TestReadSysfsPCIEdges(t *testing.T) {
	if got, err := readSysfsPCI(t.TempDir()); err != nil || got != nil {
		t.Errorf("no bus/pci: got %v, %v; want nothing and no error", got, err)
	}
	if _, err := readSysfsPCI("relative/sys"); err == nil || !strings.Contains(err.Error(), "not an absolute path") {
		t.Errorf("relative root: %v", err)
	}
	if _, err := readSysfsPCI("/nonexistent-sysfs-root"); err == nil {
		t.Error("missing root: no error")
	}
	root := t.TempDir()
	entry := filepath.Join(root, "bus", "pci", "devices", "0000:01:00.0")
	if err := os.MkdirAll(entry, 0o755); err != nil {
		t.Fatal(err)
	}
	for k, v := range map[string]string{"vendor": "0x1af4\n", "device": "0x1000\n", "class": "0x02000\n"} {
		if err := os.WriteFile(filepath.Join(entry, k), []byte(v), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	_, err := readSysfsPCI(root)
	var pe *ParseError
	if !errors.As(err, &pe) || !strings.Contains(err.Error(), "class") {
		t.Errorf("five-digit class: got %v, want a *ParseError naming class", err)
	}
}

func TestParseSysfsPCIDevice(t *testing.T) {
	base := func(extra map[string]string) map[string]string {
		m := map[string]string{"vendor": "0x8086\n", "device": "0x1572\n", "class": "0x020000\n"}
		for k, v := range extra {
			if v == "-" {
				delete(m, k)
			} else {
				m[k] = v
			}
		}
		return m
	}
	tests := []struct {
		name  string
		entry string
		attrs map[string]string
		want  PCIDevice
		err   string // part of the error; "" for none
	}{
		{"minimal", "0000:3b:00.1", base(nil),
			PCIDevice{Bus: 0x3b, Function: 1, Vendor: 0x8086, Device: 0x1572, Class: 0x020000, NUMANode: -1}, ""},
		{"wide domain", "10000:e1:1f.7", base(map[string]string{"numa_node": "3\n", "driver": "nvme"}),
			PCIDevice{Domain: 0x10000, Bus: 0xe1, Slot: 0x1f, Function: 7, Vendor: 0x8086, Device: 0x1572,
				Class: 0x020000, NUMANode: 3, Driver: "nvme"}, ""},
		{"vf", "0000:3b:02.0", base(map[string]string{"physfn": "0000:3B:00.0"}),
			PCIDevice{Bus: 0x3b, Slot: 2, Vendor: 0x8086, Device: 0x1572, Class: 0x020000, NUMANode: -1,
				PhysFn: "0000:3b:00.0"}, ""},
		{"not an address", "pci0000:00", base(nil), PCIDevice{}, "not DOMAIN:BUS:SLOT.FUNCTION"},
		{"slot too big", "0000:00:20.0", base(nil), PCIDevice{}, "greater than 1f"},
		{"function too big", "0000:00:00.8", base(nil), PCIDevice{}, "greater than 7"},
		{"short bus", "0000:0:00.0", base(nil), PCIDevice{}, "hexadecimal digits"},
		{"signed", "0000:+1:00.0", base(nil), PCIDevice{}, "hexadecimal digits"},
		{"no vendor", "0000:00:00.0", base(map[string]string{"vendor": "-"}), PCIDevice{}, "vendor: missing"},
		{"vendor without 0x", "0000:00:00.0", base(map[string]string{"vendor": "8086"}), PCIDevice{}, "no 0x"},
		{"short device", "0000:00:00.0", base(map[string]string{"device": "0x157"}), PCIDevice{}, "device"},
		{"bad revision", "0000:00:00.0", base(map[string]string{"revision": "0x1"}), PCIDevice{}, "revision"},
		{"bad numa", "0000:00:00.0", base(map[string]string{"numa_node": "-2"}), PCIDevice{}, "numa_node"},
		{"bad vfs", "0000:00:00.0", base(map[string]string{"sriov_totalvfs": "65536"}), PCIDevice{},
			"sriov_totalvfs"},
		{"driver with slash", "0000:00:00.0", base(map[string]string{"driver": "a b"}), PCIDevice{}, "driver"},
		{"bad physfn", "0000:00:00.0", base(map[string]string{"physfn": "virtfn0"}), PCIDevice{}, "physfn"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ParseSysfsPCIDevice(tt.entry, tt.attrs)
			if tt.err != "" {
				var pe *ParseError
				if !errors.As(err, &pe) || !strings.Contains(err.Error(), tt.err) {
					t.Fatalf("got %+v, %v; want a *ParseError with %q", got, err, tt.err)
				}
				return
			}
			if err != nil || got != tt.want {
				t.Fatalf("got %+v, %v; want %+v", got, err, tt.want)
			}
		})
	}
}

// TestPciconfDevicesOrder: FreeBSD's DiscoverPCI gives the devices in
// address order with hexadecimal addresses, whatever order pciconf lists.
func TestPciconfDevicesOrder(t *testing.T) {
	text := "igb0@pci0:10:0:0:\tclass=0x020000 rev=0x03 hdr=0x00 vendor=0x8086 device=0x1533 subvendor=0x8086 subdevice=0x0000\n" +
		"ppt0@pci0:3:0:1:\tclass=0x030200 rev=0xa1 hdr=0x00 vendor=0x10de device=0x1eb8 subvendor=0x10de subdevice=0x12a2\n"
	got, err := pciconfDevices(text)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 2 || got[0].Address() != "0000:03:00.1" || got[1].Address() != "0000:0a:00.0" ||
		!got[0].Passthrough() || got[1].Passthrough() || got[0].NUMANode != -1 {
		t.Errorf("got %+v", got)
	}
	if _, err := pciconfDevices("garbage\n"); err == nil {
		t.Error("garbage: no error")
	}
}

// FuzzParseSysfsPCIDevice: any entry name and attribute text parse or
// fail with a *ParseError, and a parsed device's address reads back to
// the same device.
func FuzzParseSysfsPCIDevice(f *testing.F) {
	f.Add("0000:3b:02.0", "0x8086\n", "0x154c\n", "0x020000\n", "0\n", "", "vfio-pci", "0000:3b:00.0")
	f.Add("0000:3b:00.0", "0x8086", "0x1572", "0x020000", "-1", "64", "i40e", "")
	f.Add("10000:e1:1f.7", "0x", "0xffff", "0xffffff", "1023", "0", "", "x")
	f.Fuzz(func(t *testing.T, name, vendor, device, class, numa, vfs, driver, physfn string) {
		attrs := map[string]string{"vendor": vendor, "device": device, "class": class}
		for k, v := range map[string]string{"numa_node": numa, "sriov_totalvfs": vfs, "driver": driver, "physfn": physfn} {
			if v != "" {
				attrs[k] = v
			}
		}
		d, err := ParseSysfsPCIDevice(name, attrs)
		if err != nil {
			var pe *ParseError
			if !errors.As(err, &pe) {
				t.Fatalf("error %v is not a *ParseError", err)
			}
			return
		}
		dom, bus, slot, fn, err := ParsePCIAddress(d.Address())
		if err != nil || dom != d.Domain || bus != d.Bus || slot != d.Slot || fn != d.Function {
			t.Fatalf("%+v: address %q reads back as %x:%x:%x.%x, %v", d, d.Address(), dom, bus, slot, fn, err)
		}
		if d.NUMANode < -1 || d.TotalVFs < 0 || strings.ContainsAny(d.Driver, "/ \n") ||
			d.PhysFn != "" && len(d.PhysFn) < 12 {
			t.Fatalf("parsed %+v", d)
		}
	})
}
