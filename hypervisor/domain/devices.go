package domain

import (
	"fmt"
	"net"
	"slices"
	"strconv"
	"strings"

	"github.com/novabsd/novabsd/hypervisor"
	"libvirt.org/go/libvirtxml"
)

// targetPrefix is the guest device name prefix per bus, as libvirt names
// targets.
var targetPrefix = map[string]string{
	"virtio": "vd", "sata": "sd", "scsi": "sd", "usb": "sd", "ide": "hd", "fdc": "fd",
}

// diskName returns the n-th (0-based) name for prefix: vda ... vdz, vdaa ...
func diskName(prefix string, n int) string {
	s := ""
	for n++; n > 0; n = (n - 1) / 26 {
		s = string(rune('a'+(n-1)%26)) + s
	}
	return prefix + s
}

// NovabsdDiskBus is novabsd's image property for the bus of the instance's disks. It takes precedence over
// hw_disk_bus and takes every bus the engine offers, including those Nova's API has no name for and refuses in
// hw_disk_bus (nvme).
const NovabsdDiskBus = "novabsd_disk_bus"

// DiskBus is the bus the image asks for the instance's disks (root, ephemeral, swap) and the property that asks:
// novabsd_disk_bus when the image sets it, else hw_disk_bus; "" when neither. The bus is checked against o's
// disk buses, and a refusal names the property.
func DiskBus(image map[string]string, o Options) (prop, bus string, err error) {
	if v := image[NovabsdDiskBus]; v != "" {
		// Strict even when the driver lists nothing: this property exists for buses Nova never checks.
		if !slices.Contains(o.Supported.DiskBus, v) {
			return NovabsdDiskBus, "", &hypervisor.PropertyError{Property: NovabsdDiskBus, Value: v,
				Allowed: o.Supported.DiskBus, Driver: o.Driver}
		}
		return NovabsdDiskBus, v, nil
	}
	b := &builder{o: o}
	bus, err = b.choose("hw_disk_bus", image["hw_disk_bus"], "", o.Supported.DiskBus)
	return "hw_disk_bus", bus, err
}

func (b *builder) disks() error {
	diskBusProp, diskBus, err := DiskBus(b.p.Image, b.o)
	if err != nil {
		return err
	}
	bootIdx := -1
	for i, d := range b.spec.Disks {
		if d.Boot {
			bootIdx = i
			break
		}
	}
	if bootIdx < 0 {
		for i, d := range b.spec.Disks {
			if d.Role == hypervisor.RoleRoot {
				bootIdx = i
				break
			}
		}
	}
	if bootIdx < 0 {
		for i, d := range b.spec.Disks {
			if d.Role == hypervisor.RoleCDROM {
				bootIdx = i
				break
			}
		}
	}
	used := map[string]int{} // next index per target prefix
	nvme := 0
	ctrl := map[string]bool{}
	for i, d := range b.spec.Disks {
		if d.Path == "" {
			return fmt.Errorf("disk %d (%s) has no path", i, d.Role)
		}
		format, err := b.choose("disk_format", d.Format, "raw", b.o.Supported.DiskFormat)
		if err != nil {
			return err
		}
		cdrom := d.CDROM || d.Role == hypervisor.RoleCDROM
		var bus string
		if cdrom {
			bus, err = b.choose("hw_cdrom_bus", firstSet(d.Bus, b.p.Image["hw_cdrom_bus"]), b.o.DefaultCDROMBus, b.o.Supported.CDROMBus)
		} else {
			prop := diskBusProp
			if d.Bus != "" {
				prop = "hw_disk_bus" // the disk's own bus: a block device mapping's disk_bus
			}
			bus, err = b.choose(prop, firstSet(d.Bus, diskBus), b.o.DefaultDiskBus, b.o.Supported.DiskBus)
		}
		if err != nil {
			return err
		}
		if bus == "" {
			return fmt.Errorf("disk %d (%s): no bus given and driver %s has no default", i, d.Role, b.o.Driver)
		}
		var dev string
		if bus == "nvme" {
			// One namespace per controller, as bhyve's nvme emulates it.
			idx := uint(nvme)
			b.devs().Controllers = append(b.devs().Controllers, libvirtxml.DomainController{Type: "nvme", Index: &idx})
			dev = "nvme" + strconv.Itoa(nvme) + "n1"
			nvme++
		} else {
			prefix := targetPrefix[bus]
			if prefix == "" {
				prefix = "sd"
			}
			dev = diskName(prefix, used[prefix])
			used[prefix]++
			if (bus == "sata" || bus == "scsi") && !ctrl[bus] {
				ctrl[bus] = true
				zero := uint(0)
				c := libvirtxml.DomainController{Type: bus, Index: &zero}
				if bus == "scsi" {
					c.Model = "virtio-scsi"
				}
				b.devs().Controllers = append(b.devs().Controllers, c)
			}
		}
		disk := libvirtxml.DomainDisk{
			Device: "disk",
			Driver: &libvirtxml.DomainDiskDriver{Name: b.o.DiskDriver, Type: format},
			Target: &libvirtxml.DomainDiskTarget{Dev: dev, Bus: bus},
			Serial: d.Serial,
		}
		if cdrom {
			disk.Device = "cdrom"
		}
		if cdrom || d.ReadOnly {
			disk.ReadOnly = &libvirtxml.DomainDiskReadOnly{}
		}
		if strings.HasPrefix(d.Path, "/dev/") {
			disk.Source = &libvirtxml.DomainDiskSource{Block: &libvirtxml.DomainDiskSourceBlock{Dev: d.Path}}
		} else {
			disk.Source = &libvirtxml.DomainDiskSource{File: &libvirtxml.DomainDiskSourceFile{File: d.Path}}
		}
		if i == bootIdx {
			disk.Boot = &libvirtxml.DomainDeviceBoot{Order: 1}
		}
		b.devs().Disks = append(b.devs().Disks, disk)
	}
	return nil
}

func (b *builder) nics() error {
	for i, n := range b.spec.NICs {
		iface, err := nicInterface(fmt.Sprintf("nic[%d]", i), n, b.p.Image, b.o)
		if err != nil {
			return err
		}
		b.devs().Interfaces = append(b.devs().Interfaces, iface)
	}
	return nil
}

// Interface returns the libvirt <interface> for nic as Build would write
// it: the model from nic.Model, else the image's hw_vif_model, else the
// driver's default, checked against the driver's list. Drivers that add a
// NIC to a running guest use it so the domain file they update says what a
// fresh Build would.
func Interface(nic hypervisor.NIC, image map[string]string, o Options) (libvirtxml.DomainInterface, error) {
	return nicInterface("nic", nic, image, o)
}

func nicInterface(what string, n hypervisor.NIC, image map[string]string, o Options) (libvirtxml.DomainInterface, error) {
	b := &builder{o: o}
	model, err := b.choose("hw_vif_model", firstSet(n.Model, image["hw_vif_model"]), o.DefaultVIFModel, o.Supported.VIFModel)
	if err != nil {
		return libvirtxml.DomainInterface{}, err
	}
	mac, err := net.ParseMAC(n.MAC)
	if err != nil || len(mac) != 6 {
		return libvirtxml.DomainInterface{}, &hypervisor.PropertyError{Property: what + ".mac", Value: n.MAC, Reason: "must be a 48-bit MAC address"}
	}
	if n.Tap == "" {
		return libvirtxml.DomainInterface{}, fmt.Errorf("%s (%s) has no tap device", what, n.MAC)
	}
	iface := libvirtxml.DomainInterface{
		MAC:    &libvirtxml.DomainInterfaceMAC{Address: mac.String()},
		Target: &libvirtxml.DomainInterfaceTarget{Dev: n.Tap},
		Model:  &libvirtxml.DomainInterfaceModel{Type: model},
	}
	if n.Bridge != "" {
		iface.Source = &libvirtxml.DomainInterfaceSource{Bridge: &libvirtxml.DomainInterfaceSourceBridge{Bridge: n.Bridge}}
	} else {
		iface.Source = &libvirtxml.DomainInterfaceSource{Ethernet: &libvirtxml.DomainInterfaceSourceEthernet{}}
	}
	if n.MTU < 0 {
		return libvirtxml.DomainInterface{}, &hypervisor.PropertyError{Property: what + ".mtu", Value: fmt.Sprint(n.MTU), Reason: "must not be negative"}
	}
	if n.MTU > 0 {
		iface.MTU = &libvirtxml.DomainInterfaceMTU{Size: uint(n.MTU)}
	}
	return iface, nil
}

func (b *builder) graphics() error {
	pointer, err := b.choose("hw_pointer_model", b.p.Image["hw_pointer_model"], "", b.o.Supported.PointerModel)
	if err != nil {
		return err
	}
	vnc := b.spec.VNC
	if vnc != nil && b.o.GraphicsNeedUEFI && b.fw != "uefi" {
		vnc = nil
	}
	if vnc == nil {
		// Nova refuses a tablet the image asks for when there is no
		// graphical console to point in.
		if pointer == "usbtablet" {
			return &hypervisor.PropertyError{Property: "hw_pointer_model", Value: pointer, Driver: b.o.Driver,
				Reason: "needs a graphical console (VNC" + map[bool]string{true: " with UEFI firmware", false: ""}[b.o.GraphicsNeedUEFI] + ")"}
		}
		return nil
	}
	video, err := b.choose("hw_video_model", b.p.Image["hw_video_model"], b.o.DefaultVideoModel, b.o.Supported.VideoModel)
	if err != nil {
		return err
	}
	if len(vnc.Password) > 8 {
		return &hypervisor.PropertyError{Property: "vnc password", Value: strings.Repeat("*", len(vnc.Password)), Reason: "VNC passwords are at most 8 characters"}
	}
	g := &libvirtxml.DomainGraphicVNC{Listen: vnc.Listen, Passwd: vnc.Password, Keymap: vnc.Keymap}
	if vnc.Port > 0 {
		g.Port, g.AutoPort = vnc.Port, "no"
	} else {
		g.Port, g.AutoPort = -1, "yes"
	}
	d := b.devs()
	d.Graphics = append(d.Graphics, libvirtxml.DomainGraphic{VNC: g})
	if video != "" && video != "none" {
		d.Videos = append(d.Videos, libvirtxml.DomainVideo{Model: libvirtxml.DomainVideoModel{Type: video}})
	}
	if pointer == "usbtablet" {
		zero := uint(0)
		d.Controllers = append(d.Controllers, libvirtxml.DomainController{Type: "usb", Index: &zero, Model: b.o.USBController})
		d.Inputs = append(d.Inputs, libvirtxml.DomainInput{Type: "tablet", Bus: "usb"})
	}
	return nil
}

func (b *builder) passthrough() error {
	d := b.devs()
	for _, p := range b.spec.PCI {
		addr, err := ParsePCIAddress(p.Address)
		if err != nil {
			return err
		}
		d.Hostdevs = append(d.Hostdevs, libvirtxml.DomainHostdev{
			Managed:   "yes",
			SubsysPCI: &libvirtxml.DomainHostdevSubsysPCI{Source: &libvirtxml.DomainHostdevSubsysPCISource{Address: addr}},
		})
	}
	for _, u := range b.spec.USB {
		if err := u.Check(); err != nil {
			return err
		}
		src := &libvirtxml.DomainHostdevSubsysUSBSource{
			Vendor:  &libvirtxml.DomainHostDevProductVendorID{ID: fmt.Sprintf("0x%04x", u.Vendor)},
			Product: &libvirtxml.DomainHostDevProductVendorID{ID: fmt.Sprintf("0x%04x", u.Product)},
		}
		if u.Bus > 0 {
			// libvirt's source address names the bus and, for a pinned device, the device number; the device
			// number changes at every replug, so the place is written as the port path (the attribute libvirt's
			// USB addresses spell port=), next to vendor and product, which still select the device.
			bus := uint(u.Bus)
			src.Address = &libvirtxml.DomainAddressUSB{Bus: &bus, Port: u.Port}
		}
		d.Hostdevs = append(d.Hostdevs, libvirtxml.DomainHostdev{SubsysUSB: &libvirtxml.DomainHostdevSubsysUSB{Source: src}})
	}
	if len(b.spec.PCI) > 0 {
		// Passthrough DMA needs guest memory wired (bhyve -S).
		b.dom.MemoryBacking = &libvirtxml.DomainMemoryBacking{MemoryLocked: &libvirtxml.DomainMemoryLocked{}}
	}
	return nil
}

// ParsePCIAddress parses "dddd:bb:ss.f" (domain optional) in hex.
func ParsePCIAddress(s string) (*libvirtxml.DomainAddressPCI, error) {
	bad := &hypervisor.PropertyError{Property: "pci address", Value: s, Reason: "want [domain:]bus:slot.function in hex, e.g. 0000:03:00.0"}
	parts := strings.Split(s, ":")
	if len(parts) == 2 {
		parts = append([]string{"0"}, parts...)
	}
	if len(parts) != 3 {
		return nil, bad
	}
	sf := strings.Split(parts[2], ".")
	if len(sf) != 2 {
		return nil, bad
	}
	var v [4]uint
	limits := [4]uint64{0xffff, 0xff, 0x1f, 7}
	for i, f := range []string{parts[0], parts[1], sf[0], sf[1]} {
		n, err := strconv.ParseUint(f, 16, 32)
		if err != nil || n > limits[i] {
			return nil, bad
		}
		v[i] = uint(n)
	}
	return &libvirtxml.DomainAddressPCI{Domain: &v[0], Bus: &v[1], Slot: &v[2], Function: &v[3]}, nil
}
