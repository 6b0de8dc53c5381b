package bhyve

import (
	"debug/elf"
	"fmt"
	"strings"

	"github.com/novabsd/novabsd/hypervisor"
)

// USB passthrough. FreeBSD's base bhyve has none: its xhci emulation carries only the tablet. The support this
// driver knows is the out-of-tree, libusb-based xHCI passthrough sponsored by the FreeBSD Foundation (a
// Phabricator review "userspace-only USB passthrough using libusb", not in any release): a USB device emulation
// named passthru on bhyve's xhci controller, selected by a vendor and product id tuple only ("selecting specific
// ugen devices would require changes to libusb").
//
// Assumptions, to be checked against a bhyve built with that work (they are isolated here):
//   - support is detected from the binary: such a bhyve links libusb (ELF DT_NEEDED libusb.so.N), which base
//     bhyve never does. Reading the binary runs nothing, so the argv builder (novabsd domain argv) can detect it
//     too; the earlier UPB Bucharest branch (projects/bhyve_usb_passthrough, -s N,xhci,bus=B,devaddr=D) also
//     links libusb but selects by bus and device number, which is not the spelling below.
//   - the device is configured through bhyve's configuration tree (bhyve_config(5), -o), which every bhyve since
//     13.0 parses the same way whatever a device's legacy -s syntax is: pci.0.S.0.slot.N.device=passthru with
//     .vid and .pid beneath the same slot node, as the tablet is pci.0.S.0.slot.1.device=tablet.
const (
	usbPassthruDevice = "passthru"
	usbPassthruVendor = "vid"
	usbPassthruProd   = "pid"
)

// DetectUSBPassthru reports, from the bhyve binary at path, whether it has the libusb-based xHCI passthrough:
// nil when it links libusb, else an *hypervisor.UnsupportedError saying why not. Nothing is run.
func DetectUSBPassthru(path string) error {
	no := func(reason string) error {
		return &hypervisor.UnsupportedError{Driver: "bhyve", Op: "USB passthrough", Reason: reason}
	}
	f, err := elf.Open(path)
	if err != nil {
		return no(fmt.Sprintf("%s is not a readable ELF binary (%v), so it cannot be the libusb-based xhci passthrough build", path, err))
	}
	defer f.Close()
	libs, err := f.ImportedLibraries()
	if err != nil {
		return no(fmt.Sprintf("%s: reading its shared libraries: %v", path, err))
	}
	for _, l := range libs {
		if strings.HasPrefix(l, "libusb.so") || strings.HasPrefix(l, "libusb-1.0.so") {
			return nil
		}
	}
	return no(path + " does not link libusb: base bhyve has no USB passthrough; it needs a bhyve with the libusb-based xhci passthrough")
}
