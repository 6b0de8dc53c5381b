package qemu

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/novabsd/novabsd/hypervisor"
	"github.com/novabsd/novabsd/hypervisor/domain"
)

// TestHostdevArgv: each hostdev becomes its device, with values checked before they reach the command line, and
// a hostdev QEMU cannot pass is refused by name, never dropped.
func TestHostdevArgv(t *testing.T) {
	const head = `<domain><name>x</name><memory>1024</memory><devices>`
	const tail = `</devices></domain>`
	usb := func(src string) string {
		return head + `<hostdev mode='subsystem' type='usb'><source>` + src + `</source></hostdev>` + tail
	}
	cases := []struct {
		name, xml string
		want      []string // argv words, in this order
		prop      string   // refused: a PropertyError naming this
	}{
		{name: "vendor product", xml: usb(`<vendor id='0x1d6b'/><product id='0x104'/>`),
			want: []string{"qemu-xhci,id=usb", "usb-host,bus=usb.0,vendorid=0x1d6b,productid=0x0104,id=hostdev0"}},
		{name: "bus and port", xml: usb(`<vendor id='0x1d6b'/><product id='0x0104'/><address bus='2' port='1.4.3'/>`),
			want: []string{"qemu-xhci,id=usb", "usb-host,bus=usb.0,vendorid=0x1d6b,productid=0x0104,hostbus=2,hostport=1.4.3,id=hostdev0"}},
		{name: "bus only", xml: usb(`<vendor id='0x1d6b'/><product id='0x0104'/><address bus='7'/>`),
			want: []string{"usb-host,bus=usb.0,vendorid=0x1d6b,productid=0x0104,hostbus=7,id=hostdev0"}},
		{name: "nec controller kept", xml: head + `<controller type='usb' index='0' model='nec-xhci'/><hostdev mode='subsystem' type='usb'><source><vendor id='0x1'/><product id='0x2'/></source></hostdev>` + tail,
			want: []string{"nec-xhci,id=usb", "usb-host,bus=usb.0,vendorid=0x0001,productid=0x0002,id=hostdev0"}},
		{name: "pci", xml: head + `<hostdev mode='subsystem' type='pci' managed='yes'><source><address domain='0x0000' bus='0x03' slot='0x00' function='0x1'/></source></hostdev>` + tail,
			want: []string{"vfio-pci,host=0000:03:00.1,id=hostdev0"}},
		{name: "port smuggles an option", xml: usb(`<vendor id='0x1'/><product id='0x2'/><address bus='1' port='1,hostdevice=/dev/mem'/>`), prop: "port"},
		{name: "port not numbers", xml: usb(`<vendor id='0x1'/><product id='0x2'/><address bus='1' port='1..2'/>`), prop: "port"},
		{name: "port zero", xml: usb(`<vendor id='0x1'/><product id='0x2'/><address bus='1' port='0'/>`), prop: "port"},
		{name: "port without bus", xml: usb(`<vendor id='0x1'/><product id='0x2'/><address port='1'/>`), prop: "port"},
		{name: "bus too large", xml: usb(`<vendor id='0x1'/><product id='0x2'/><address bus='300'/>`), prop: "address/@bus"},
		{name: "device number", xml: usb(`<vendor id='0x1'/><product id='0x2'/><address bus='1' device='5'/>`), prop: "address/@device"},
		{name: "no vendor", xml: usb(`<address bus='1' port='2'/>`), prop: "vendor"},
		{name: "vendor not hex", xml: usb(`<vendor id='0x1,x=y'/><product id='0x2'/>`), prop: "vendor/@id"},
		{name: "product too long", xml: usb(`<vendor id='0x1'/><product id='0x12345'/>`), prop: "product/@id"},
		{name: "pci incomplete", xml: head + `<hostdev mode='subsystem' type='pci'><source><address bus='0x03'/></source></hostdev>` + tail, prop: "source/address"},
		{name: "pci slot out of range", xml: head + `<hostdev mode='subsystem' type='pci'><source><address domain='0' bus='0x03' slot='0x20' function='0'/></source></hostdev>` + tail, prop: "source/address"},
		{name: "scsi hostdev", xml: head + `<hostdev mode='subsystem' type='scsi'><source><adapter name='scsi_host0'/><address bus='0' target='0' unit='0'/></source></hostdev>` + tail, prop: "hostdev[0]/@type"},
		{name: "mdev hostdev", xml: head + `<hostdev mode='subsystem' type='mdev' model='vfio-pci'><source><address uuid='c2177883-f1bb-47f0-914d-32a22e3a8804'/></source></hostdev>` + tail, prop: "hostdev[0]/@type"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			lines, err := hypervisor.ArgvForXML("qemu", []byte(tc.xml))
			if tc.prop != "" {
				var pe *hypervisor.PropertyError
				if !errors.As(err, &pe) || !strings.Contains(pe.Property, tc.prop) {
					t.Fatalf("err = %v, want a PropertyError naming %s", err, tc.prop)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			var devs []string
			for i, a := range lines[0] {
				if a == "-device" {
					devs = append(devs, lines[0][i+1])
				}
			}
			got := strings.Join(devs, " ")
			if !strings.Contains(got, strings.Join(tc.want, " ")) {
				t.Fatalf("devices %q, want %q in this order", got, tc.want)
			}
			if strings.Count(got, "xhci,id=usb") > 1 {
				t.Fatalf("more than one USB controller: %s", got)
			}
		})
	}
}

// TestDomainUSBLocation: the spec's bus and port survive the domain XML round trip and reach usb-host; a location
// that is not a host's is refused by the domain builder.
func TestDomainUSBLocation(t *testing.T) {
	for _, tc := range []struct {
		dev  hypervisor.USBDevice
		want string
		prop string
	}{
		{dev: hypervisor.USBDevice{Vendor: 0x46d, Product: 0xc52b}, want: "vendorid=0x046d,productid=0xc52b,id="},
		{dev: hypervisor.USBDevice{Vendor: 0x46d, Product: 0xc52b, Bus: 1, Port: "2.1"}, want: "productid=0xc52b,hostbus=1,hostport=2.1,id="},
		{dev: hypervisor.USBDevice{Vendor: 1, Product: 2, Port: "1"}, prop: "port"},
		{dev: hypervisor.USBDevice{Vendor: 1, Product: 2, Bus: 1, Port: "1.2.3.4.5.6.7.8"}, prop: "port"},
		{dev: hypervisor.USBDevice{Vendor: 1, Product: 2, Bus: 1, Port: "256"}, prop: "port"},
		{dev: hypervisor.USBDevice{Vendor: 1, Product: 2, Bus: 256}, prop: "bus"},
		{dev: hypervisor.USBDevice{Vendor: 1, Product: 2, Bus: -1}, prop: "bus"},
	} {
		s := baseSpec("/var/lib/novabsd/instances/8a1c5e7e", disk("/var/lib/novabsd/instances/8a1c5e7e", "disk", "", root))
		s.USB = []hypervisor.USBDevice{tc.dev}
		dom, err := domain.Build(s, domain.Props{}, DomainOptions(DefaultConfig(), AccelTCG))
		if tc.prop != "" {
			var pe *hypervisor.PropertyError
			if !errors.As(err, &pe) || !strings.HasSuffix(pe.Property, tc.prop) {
				t.Errorf("%+v: err = %v, want a PropertyError on %s", tc.dev, err, tc.prop)
			}
			continue
		}
		if err != nil {
			t.Fatal(err)
		}
		x, err := dom.Marshal()
		if err != nil {
			t.Fatal(err)
		}
		lines, err := hypervisor.ArgvForXML("qemu", []byte(x))
		if err != nil {
			t.Fatal(err)
		}
		if got := strings.Join(lines[0], " "); !strings.Contains(got, tc.want) {
			t.Errorf("%+v: argv lacks %q:\n%s", tc.dev, tc.want, got)
		}
	}
}

// sysfsFixture makes a sysfs tree with PCI functions bound as drivers says ("" = no driver) and the vfio-pci
// driver directory.
func sysfsFixture(t *testing.T, drivers map[string]string) string {
	t.Helper()
	root := t.TempDir()
	for _, d := range []string{"vfio-pci", "e1000e"} {
		if err := os.MkdirAll(filepath.Join(root, "bus/pci/drivers", d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	for addr, drv := range drivers {
		dev := filepath.Join(root, "bus/pci/devices", addr)
		if err := os.MkdirAll(dev, 0o755); err != nil {
			t.Fatal(err)
		}
		if drv != "" {
			if err := os.Symlink("../../../bus/pci/drivers/"+drv, filepath.Join(dev, "driver")); err != nil {
				t.Fatal(err)
			}
		}
	}
	return root
}

// TestCheckVFIO: a PCI hostdev passes only when its function is bound to vfio-pci; otherwise the refusal names
// the device and the driver it has, before anything starts.
func TestCheckVFIO(t *testing.T) {
	sysfs := sysfsFixture(t, map[string]string{"0000:03:00.0": "vfio-pci", "0000:04:00.1": "e1000e", "0000:05:00.0": ""})
	if !vfioAvailable(sysfs) || vfioAvailable(t.TempDir()) {
		t.Fatal("vfioAvailable does not follow the driver directory")
	}
	for _, tc := range []struct {
		addr string
		is   error
		want []string // words of the message
	}{
		{addr: "0000:03:00.0"},
		{addr: "03:00.0"},
		{addr: "0000:04:00.1", is: hypervisor.ErrUnsupported, want: []string{"0000:04:00.1", "bound to e1000e", "vfio-pci"}},
		{addr: "0000:05:00.0", is: hypervisor.ErrUnsupported, want: []string{"0000:05:00.0", "bound to no driver"}},
		{addr: "0000:06:00.0", is: hypervisor.ErrMissingComponent, want: []string{"host PCI device 0000:06:00.0"}},
	} {
		s := baseSpec("/var/lib/novabsd/instances/8a1c5e7e", disk("/var/lib/novabsd/instances/8a1c5e7e", "disk", "", root))
		s.PCI = []hypervisor.PCIDevice{{Address: tc.addr}}
		dom, err := domain.Build(s, domain.Props{}, DomainOptions(DefaultConfig(), AccelTCG))
		if err != nil {
			t.Fatal(err)
		}
		bin := &Binary{Path: "qemu", USBHost: true, VFIO: true}
		err = checkPassthrough(bin, sysfs, dom)
		if tc.is == nil {
			if err != nil {
				t.Errorf("%s: %v", tc.addr, err)
			}
			continue
		}
		if !errors.Is(err, tc.is) {
			t.Errorf("%s: err = %v, want %v", tc.addr, err, tc.is)
			continue
		}
		for _, w := range tc.want {
			if !strings.Contains(err.Error(), w) {
				t.Errorf("%s: %q does not say %q", tc.addr, err, w)
			}
		}
	}
	// A binary without the device refuses before the host is looked at.
	s := baseSpec("/var/lib/novabsd/instances/8a1c5e7e", disk("/var/lib/novabsd/instances/8a1c5e7e", "disk", "", root))
	s.USB = []hypervisor.USBDevice{{Vendor: 1, Product: 2}}
	dom, err := domain.Build(s, domain.Props{}, DomainOptions(DefaultConfig(), AccelTCG))
	if err != nil {
		t.Fatal(err)
	}
	if err := checkPassthrough(&Binary{Path: "qemu", VFIO: true}, sysfs, dom); !errors.Is(err, hypervisor.ErrUnsupported) || !strings.Contains(err.Error(), "usb-host") {
		t.Errorf("binary without usb-host: err = %v", err)
	}
}

// TestUSBHostAbsentDeviceRuns starts a real guest with usb-host devices for a vendor and product no host has, one
// pinned to a bus and port: QEMU accepts them and waits for the devices, and QEMU itself reports them with the
// selection the domain gave.
func TestUSBHostAbsentDeviceRuns(t *testing.T) {
	needQEMU(t)
	d := tcgDriver(t)
	if !d.Capabilities().USBPassthru {
		t.Fatal("this QEMU has no usb-host device: Capabilities().USBPassthru is false")
	}
	dir := guestDir(t)
	s := baseSpec(dir, disk(dir, "disk", "", root))
	s.USB = []hypervisor.USBDevice{{Vendor: 0x0dea, Product: 0x7e57}, {Vendor: 0x0dea, Product: 0x7e58, Bus: 3, Port: "1.2"}}
	dom, err := domain.Build(s, domain.Props{}, DomainOptions(d.cfg, AccelTCG))
	if err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(dir, "disk")
	os.WriteFile(p, nil, 0o600)
	os.Truncate(p, 16<<20)
	g := hypervisor.Guest{UUID: dom.UUID, Name: dom.Name, Dir: dir}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := d.CheckDomain(ctx, dom); err != nil {
		t.Fatal(err)
	}
	if err := d.Spawn(ctx, g, dom); err != nil {
		t.Fatal(err)
	}
	defer d.Destroy(context.Background(), g)
	wantState(t, d, g, hypervisor.Running)
	v := d.get(ctx, g)
	if v == nil || v.mon == nil {
		t.Fatal("no monitor for the running guest")
	}
	for _, want := range []struct {
		id, prop string
		val      any
	}{
		{"hostdev0", "vendorid", float64(0x0dea)}, {"hostdev0", "productid", float64(0x7e57)},
		{"hostdev1", "productid", float64(0x7e58)}, {"hostdev1", "hostbus", float64(3)}, {"hostdev1", "hostport", "1.2"},
	} {
		var got any
		if err := v.mon.Execute(ctx, "qom-get", map[string]string{"path": "/machine/peripheral/" + want.id, "property": want.prop}, &got); err != nil {
			t.Fatalf("qom-get %s %s: %v", want.id, want.prop, err)
		}
		if got != want.val {
			t.Errorf("%s %s = %v, want %v", want.id, want.prop, got, want.val)
		}
	}
}
