package qemu

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"strconv"

	"github.com/novabsd/novabsd/hypervisor"
	"libvirt.org/go/libvirtxml"
)

// hostdevs passes host devices to the guest: a USB device as usb-host on the domain's xHCI controller (inputs
// adds it), a PCI function as vfio-pci. Every value is checked before it reaches the command line, and a hostdev
// of any other kind is refused rather than left out: a guest must never start without a device it was given.
func (a *argvBuilder) hostdevs(devs *libvirtxml.DomainDeviceList) {
	for i := range devs.Hostdevs {
		h := &devs.Hostdevs[i]
		id := "hostdev" + strconv.Itoa(i)
		switch {
		case h.SubsysUSB != nil:
			opts, err := usbHostOpts(i, h.SubsysUSB)
			if err != nil {
				if a.err == nil {
					a.err = err
				}
				return
			}
			a.add("-device", "usb-host,bus=usb.0,"+opts+",id="+id)
		case h.SubsysPCI != nil:
			addr, err := pciHostAddr(i, h.SubsysPCI)
			if err != nil {
				if a.err == nil {
					a.err = err
				}
				return
			}
			a.add("-device", "vfio-pci,host="+addr+",id="+id)
		default:
			a.fail(fmt.Sprintf("hostdev[%d]/@type", i), hostdevKind(h), "QEMU passes through host USB and PCI devices only", "usb", "pci")
			return
		}
	}
}

// hostdevKind names a hostdev's type as libvirt's XML spells it, for refusals.
func hostdevKind(h *libvirtxml.DomainHostdev) string {
	switch {
	case h.SubsysSCSI != nil:
		return "scsi"
	case h.SubsysSCSIHost != nil:
		return "scsi_host"
	case h.SubsysMDev != nil:
		return "mdev"
	case h.CapsStorage != nil:
		return "storage"
	case h.CapsMisc != nil:
		return "misc"
	case h.CapsNet != nil:
		return "net"
	}
	return ""
}

// usbIDRe is a vendor or product id as libvirt writes it: 0x and one to four hex digits.
var usbIDRe = regexp.MustCompile(`^0x[0-9a-fA-F]{1,4}$`)

// usbHostOpts returns usb-host's selection for hostdev i: vendorid and productid always (libvirt's XML may
// omit them only when it pins a device number, which changes at every replug, so novabsd refuses that), and
// hostbus with hostport when the source address names the place.
func usbHostOpts(i int, u *libvirtxml.DomainHostdevSubsysUSB) (string, error) {
	bad := func(prop, value, reason string) error {
		return &hypervisor.PropertyError{Property: fmt.Sprintf("hostdev[%d]/source/%s", i, prop), Value: value, Reason: reason, Driver: "qemu"}
	}
	src := u.Source
	if src == nil || src.Vendor == nil || src.Product == nil {
		return "", bad("vendor", "", "a host USB device is selected by its vendor and product ids")
	}
	var ids [2]uint64
	for k, v := range []struct{ prop, id string }{{"vendor/@id", src.Vendor.ID}, {"product/@id", src.Product.ID}} {
		if !usbIDRe.MatchString(v.id) {
			return "", bad(v.prop, v.id, "must be 0x and up to four hex digits")
		}
		ids[k], _ = strconv.ParseUint(v.id[2:], 16, 16)
	}
	opts := fmt.Sprintf("vendorid=0x%04x,productid=0x%04x", ids[0], ids[1])
	if ad := src.Address; ad != nil {
		if ad.Device != nil {
			return "", bad("address/@device", strconv.FormatUint(uint64(*ad.Device), 10),
				"a device number changes at every replug; give the port path (port=) instead")
		}
		loc := hypervisor.USBDevice{Vendor: uint16(ids[0]), Product: uint16(ids[1]), Port: ad.Port}
		if ad.Bus != nil {
			if *ad.Bus > 255 {
				return "", bad("address/@bus", strconv.FormatUint(uint64(*ad.Bus), 10), "a host USB bus number is 1 to 255")
			}
			loc.Bus = int(*ad.Bus)
		}
		if err := loc.Check(); err != nil {
			return "", err
		}
		if loc.Bus > 0 {
			opts += ",hostbus=" + strconv.Itoa(loc.Bus)
		}
		if loc.Port != "" {
			opts += ",hostport=" + loc.Port
		}
	}
	return opts, nil
}

// pciHostAddr returns hostdev i's PCI function as vfio-pci's host= takes it, "dddd:bb:ss.f".
func pciHostAddr(i int, p *libvirtxml.DomainHostdevSubsysPCI) (string, error) {
	if p.Source == nil || p.Source.Address == nil || p.Source.Address.Bus == nil || p.Source.Address.Slot == nil || p.Source.Address.Function == nil {
		return "", &hypervisor.PropertyError{Property: fmt.Sprintf("hostdev[%d]/source/address", i), Reason: "a host PCI device needs its bus, slot and function", Driver: "qemu"}
	}
	ad := p.Source.Address
	dom := uint(0)
	if ad.Domain != nil {
		dom = *ad.Domain
	}
	if dom > 0xffff || *ad.Bus > 0xff || *ad.Slot > 0x1f || *ad.Function > 7 {
		return "", &hypervisor.PropertyError{Property: fmt.Sprintf("hostdev[%d]/source/address", i),
			Value: fmt.Sprintf("%x:%x:%x.%x", dom, *ad.Bus, *ad.Slot, *ad.Function), Reason: "a PCI address is domain 0-ffff, bus 0-ff, slot 0-1f, function 0-7", Driver: "qemu"}
	}
	return fmt.Sprintf("%04x:%02x:%02x.%x", dom, *ad.Bus, *ad.Slot, *ad.Function), nil
}

// vfioDriver is the Linux driver a PCI function must be bound to before QEMU can pass it through.
const vfioDriver = "vfio-pci"

// checkVFIO refuses, before the guest starts, a PCI hostdev whose function is not on this host or not bound to
// vfio-pci, naming the device and the driver it has: QEMU would fail late, and a function still bound to its
// host driver is in use by the host.
func checkVFIO(sysfs string, dom *libvirtxml.Domain) error {
	if dom.Devices == nil {
		return nil
	}
	if sysfs == "" {
		sysfs = "/sys"
	}
	for i := range dom.Devices.Hostdevs {
		h := &dom.Devices.Hostdevs[i]
		if h.SubsysPCI == nil {
			continue
		}
		addr, err := pciHostAddr(i, h.SubsysPCI)
		if err != nil {
			return err
		}
		dev := filepath.Join(sysfs, "bus", "pci", "devices", addr)
		if _, err := os.Stat(dev); err != nil {
			return &hypervisor.MissingError{What: "host PCI device " + addr, Path: dev, Err: err}
		}
		link, err := os.Readlink(filepath.Join(dev, "driver"))
		driver := filepath.Base(link)
		switch {
		case errors.Is(err, fs.ErrNotExist):
			driver = "no driver"
		case err != nil:
			return fmt.Errorf("qemu: host PCI device %s: %w", addr, err)
		}
		if driver != vfioDriver {
			return &hypervisor.UnsupportedError{Driver: "qemu", Op: "passthrough of host PCI device " + addr,
				Reason: fmt.Sprintf("the device is bound to %s, not %s; bind it to %s on the host first", driver, vfioDriver, vfioDriver)}
		}
	}
	return nil
}

// vfioAvailable reports whether the host's kernel has the vfio-pci driver (the module is loaded).
func vfioAvailable(sysfs string) bool {
	if sysfs == "" {
		sysfs = "/sys"
	}
	fi, err := os.Stat(filepath.Join(sysfs, "bus", "pci", "drivers", vfioDriver))
	return err == nil && fi.IsDir()
}

// checkPassthrough refuses a hostdev this host's QEMU cannot pass: a USB device without usb-host in the binary,
// a PCI device without vfio-pci in the binary or not bound to vfio-pci on the host.
func checkPassthrough(bin *Binary, sysfs string, dom *libvirtxml.Domain) error {
	if dom.Devices == nil {
		return nil
	}
	for _, h := range dom.Devices.Hostdevs {
		if h.SubsysUSB != nil && !bin.USBHost {
			return &hypervisor.UnsupportedError{Driver: "qemu", Op: "host USB passthrough", Reason: bin.Path + " has no usb-host device (built without libusb)"}
		}
		if h.SubsysPCI != nil && !bin.VFIO {
			return &hypervisor.UnsupportedError{Driver: "qemu", Op: "host PCI passthrough", Reason: bin.Path + " has no vfio-pci device"}
		}
	}
	return checkVFIO(sysfs, dom)
}
