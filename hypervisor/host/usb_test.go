package host

import (
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"unicode"
	"unicode/utf8"
)

// debian12USB is what testdata/sysfs-usb/debian12 holds, written out by hand.
var debian12USB = []USBDevice{
	{Bus: 1, Address: 2, Port: "1", Description: "USB2.1 Hub GenesysLogic", Speed: "HIGH", VendorID: 0x05e3,
		ProductID: 0x0610, Class: 9, Manufacturer: "GenesysLogic", Product: "USB2.1 Hub"},
	{Bus: 1, Address: 5, Port: "1.2", Description: "SanDisk 3.2Gen1 SanDisk", Speed: "HIGH", VendorID: 0x0781,
		ProductID: 0x5581, Manufacturer: "SanDisk", Product: "SanDisk 3.2Gen1", Serial: "4C530001230812109382"},
	{Bus: 1, Address: 4, Port: "1.4", Description: "USB Keyboard Logitech", Speed: "LOW", VendorID: 0x046d,
		ProductID: 0xc31c, Manufacturer: "Logitech", Product: "USB Keyboard"},
	{Bus: 1, Address: 6, Port: "7", Description: "USB Serial", Speed: "FULL", VendorID: 0x1a86, ProductID: 0x7523,
		Class: 0xff, Product: "USB Serial"},
	{Bus: 1, Address: 3, Port: "10", Description: "USB 10/100/1000 LAN Realtek", Speed: "HIGH", VendorID: 0x0bda,
		ProductID: 0x8153, Manufacturer: "Realtek", Product: "USB 10/100/1000 LAN", Serial: "000001"},
	{Bus: 2, Address: 2, Port: "3", Description: "SanDisk 3.2Gen1 SanDisk", Speed: "SUPER", VendorID: 0x0781,
		ProductID: 0x5581, Manufacturer: "SanDisk", Product: "SanDisk 3.2Gen1", Serial: "4C530001150412114201"},
}

func fixtureRoot(t *testing.T, name string) string {
	t.Helper()
	root, err := filepath.Abs(filepath.Join("testdata", "sysfs-usb", name))
	if err != nil {
		t.Fatal(err)
	}
	return root
}

func TestReadSysfsUSBFixture(t *testing.T) {
	got, err := readSysfsUSB(fixtureRoot(t, "debian12"))
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, debian12USB) {
		t.Errorf("got\n%+v\nwant\n%+v", got, debian12USB)
	}
}

// writeSysfs writes a sysfs tree under a temporary root: each device is a
// directory under devices/ (as the kernel's /sys/devices) and
// bus/usb/devices/<name> a symlink to it, as on a real host.
func writeSysfs(t *testing.T, devs map[string]map[string]string) string {
	t.Helper()
	root := t.TempDir()
	bus := filepath.Join(root, "bus", "usb", "devices")
	if err := os.MkdirAll(bus, 0o755); err != nil {
		t.Fatal(err)
	}
	for name, attrs := range devs {
		dir := filepath.Join(root, "devices", "pci0000:00", "0000:00:14.0", name)
		if err := os.MkdirAll(dir, 0o755); err != nil {
			t.Fatal(err)
		}
		for k, v := range attrs {
			if err := os.WriteFile(filepath.Join(dir, k), []byte(v), 0o644); err != nil {
				t.Fatal(err)
			}
		}
		if err := os.Symlink(dir, filepath.Join(bus, name)); err != nil {
			t.Fatal(err)
		}
	}
	return root
}

func sysfsAttrs(bus, devnum, devpath, vid, pid string) map[string]string {
	return map[string]string{"busnum": bus + "\n", "devnum": devnum + "\n", "devpath": devpath + "\n",
		"idVendor": vid + "\n", "idProduct": pid + "\n"}
}

func TestReadSysfsUSB(t *testing.T) {
	t.Run("symlinked entries", func(t *testing.T) {
		a := sysfsAttrs("3", "9", "2.1", "abcd", "EF01")
		a["serial"] = "x\x01y\n"
		root := writeSysfs(t, map[string]map[string]string{
			"3-2.1": a, "usb3": sysfsAttrs("3", "1", "0", "1d6b", "0002"), "3-2.1:1.0": {"bInterfaceClass": "08\n"},
		})
		got, err := readSysfsUSB(root)
		want := []USBDevice{{Bus: 3, Address: 9, Port: "2.1", VendorID: 0xabcd, ProductID: 0xef01, Serial: "x?y"}}
		if err != nil || !reflect.DeepEqual(got, want) {
			t.Errorf("got %+v, %v; want %+v", got, err, want)
		}
	})
	t.Run("no usb bus", func(t *testing.T) {
		got, err := readSysfsUSB(t.TempDir())
		if err != nil || got != nil {
			t.Errorf("got %+v, %v; want no devices and no error", got, err)
		}
	})
	errTests := []struct {
		name, root, want string
	}{
		{"relative root", "sys", `sysfs root "sys" is not an absolute path`},
		{"missing root", "/nonexistent-sysfs-root", "no such file or directory"},
		{"bad entry", writeSysfs(t, map[string]map[string]string{"1-4": sysfsAttrs("1", "2", "4", "12345", "0001")}),
			`sysfs usb device "1-4" idVendor value "12345"`},
		{"missing id", writeSysfs(t, map[string]map[string]string{"1-4": {"busnum": "1\n"}}),
			`sysfs usb device "1-4" devnum: missing`},
	}
	for _, tt := range errTests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := readSysfsUSB(tt.root)
			if err == nil || !strings.Contains(err.Error(), tt.want) || got != nil {
				t.Errorf("got %+v, %v; want an error containing %q", got, err, tt.want)
			}
		})
	}
}

func TestParseSysfsUSBDeviceRefuses(t *testing.T) {
	ok := func() map[string]string { return sysfsAttrs("1", "5", "1.2", "0781", "5581") }
	with := func(k, v string) map[string]string { a := ok(); a[k] = v; return a }
	without := func(k string) map[string]string { a := ok(); delete(a, k); return a }
	if _, err := ParseSysfsUSBDevice("1-1.2", ok()); err != nil {
		t.Fatalf("the base case fails: %v", err)
	}
	tests := []struct {
		name, entry string
		attrs       map[string]string
		want        string
	}{
		{"root hub", "usb1", ok(), "root hub or an interface"},
		{"interface", "1-1.2:1.0", ok(), "root hub or an interface"},
		{"bus zero", "0-1.2", ok(), "bus: 0 is not between 1 and 65535"},
		{"port zero", "1-0.2", ok(), `port "0" is not between 1 and 255`},
		{"empty port level", "1-1..2", ok(), `"" is not a port number`},
		{"busnum other bus", "1-1.2", with("busnum", "2\n"), "entry is on bus 1"},
		{"devpath other port", "1-1.2", with("devpath", "1.3\n"), "entry's port path is 1.2"},
		{"devnum 0", "1-1.2", with("devnum", "0\n"), "0 is not between 1 and 127"},
		{"devnum 128", "1-1.2", with("devnum", "128\n"), "128 is not between 1 and 127"},
		{"devnum signed", "1-1.2", with("devnum", "+5\n"), "is not a decimal number"},
		{"vendor short", "1-1.2", with("idVendor", "781\n"), "is not 4 hexadecimal digits"},
		{"product not hex", "1-1.2", with("idProduct", "55g1\n"), "is not 4 hexadecimal digits"},
		{"class wide", "1-1.2", with("bDeviceClass", "009\n"), "is not 2 hexadecimal digits"},
		{"no vendor", "1-1.2", without("idVendor"), "idVendor: missing"},
		{"no devpath", "1-1.2", without("devpath"), "devpath: missing"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := ParseSysfsUSBDevice(tt.entry, tt.attrs)
			var pe *ParseError
			if !errors.As(err, &pe) || !strings.Contains(err.Error(), tt.want) ||
				!strings.Contains(pe.Source, `"`+tt.entry+`"`) {
				t.Errorf("error %v, want a *ParseError naming %q and saying %q", err, tt.entry, tt.want)
			}
		})
	}
}

func TestCheckUSBPortPath(t *testing.T) {
	for _, p := range []string{"1", "1.2", "15.4.3.2.1.7", "255"} {
		if err := CheckUSBPortPath(p); err != nil {
			t.Errorf("%q: %v", p, err)
		}
	}
	for _, p := range []string{"", ".", "1.", ".1", "0", "01", "256", "1.2.3.4.5.6.7.8", "1-2", "a", "1 .2", "1/2"} {
		if err := CheckUSBPortPath(p); err == nil {
			t.Errorf("%q accepted", p)
		}
	}
}

func TestDeviceString(t *testing.T) {
	tests := []struct{ in, want string }{
		{" SanDisk\n", "SanDisk"},
		{"a\tb\x1b[31mc", "a?b?[31mc"},
		{"bad\xffutf8", "bad?utf8"},
		{"Zürich Ω", "Zürich Ω"},
		{strings.Repeat("é", 200), strings.Repeat("é", maxUSBString)},
	}
	for _, tt := range tests {
		if got := deviceString(tt.in); got != tt.want {
			t.Errorf("deviceString(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

// TestUsbconfigDevices: FreeBSD's DiscoverUSB drops the root hubs and
// keeps every other device of the recorded hosts.
func TestUsbconfigDevices(t *testing.T) {
	for _, tt := range []struct {
		host string
		want []string // ugen names
	}{
		{"freebsd-14.3-amd64-intel", []string{"ugen0.2", "ugen0.3"}},
		{"freebsd-14.3-amd64-amd", []string{"ugen0.2"}},
		{"freebsd-15.0-arm64", nil},
	} {
		devs, err := usbconfigDevices(loadFreeBSDOutputs(t, tt.host).Usbconfig)
		if err != nil {
			t.Fatalf("%s: %v", tt.host, err)
		}
		var got []string
		for _, d := range devs {
			got = append(got, d.Name())
		}
		if !reflect.DeepEqual(got, tt.want) {
			t.Errorf("%s: devices %v, want %v", tt.host, got, tt.want)
		}
	}
	if _, err := usbconfigDevices("garbage\n"); err == nil {
		t.Error("garbage accepted")
	}
}

// FuzzParseSysfsUSBDevice: any entry name and file contents parse or fail
// with a *ParseError, never panic; a parsed device has a valid port path
// matching its name and strings safe to log.
func FuzzParseSysfsUSBDevice(f *testing.F) {
	root := filepath.Join("testdata", "sysfs-usb", "debian12", "bus", "usb", "devices")
	entries, err := os.ReadDir(root)
	if err != nil {
		f.Fatal(err)
	}
	for _, e := range entries {
		v := make([]string, len(SysfsUSBAttrs))
		for i, a := range SysfsUSBAttrs {
			b, _ := os.ReadFile(filepath.Join(root, e.Name(), a))
			v[i] = string(b)
		}
		f.Add(e.Name(), v[0], v[1], v[2], v[3], v[4], v[5], v[6], v[7], v[8], v[9])
	}
	f.Add("1-1", "1", "1", "1", "0000", "0000", "", "", "\x00", "\xff\xfe", "")
	f.Fuzz(func(t *testing.T, name, busnum, devnum, devpath, vid, pid, class, speed, manu, prod, serial string) {
		attrs := map[string]string{}
		for i, v := range []string{busnum, devnum, devpath, vid, pid, class, speed, manu, prod, serial} {
			if v != "" || i < sysfsRequiredAttrs {
				attrs[SysfsUSBAttrs[i]] = v
			}
		}
		u, err := ParseSysfsUSBDevice(name, attrs)
		if err != nil {
			var pe *ParseError
			if !errors.As(err, &pe) {
				t.Fatalf("error %v is not a *ParseError", err)
			}
			return
		}
		if CheckUSBPortPath(u.Port) != nil || name != strings.TrimSpace(busnum)+"-"+u.Port || u.Address < 1 ||
			u.Address > 127 {
			t.Fatalf("parsed %+v from %q", u, name)
		}
		for _, s := range []string{u.Manufacturer, u.Product, u.Serial, u.Description} {
			if !utf8.ValidString(s) || strings.IndexFunc(s, func(r rune) bool { return !unicode.IsPrint(r) }) >= 0 ||
				utf8.RuneCountInString(s) > 2*maxUSBString+1 {
				t.Fatalf("unsafe string %q in %+v", s, u)
			}
		}
	})
}
