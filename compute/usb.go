package compute

import (
	"context"
	"fmt"
	"strings"
	"sync"

	"github.com/novabsd/novabsd/conf"
	"github.com/novabsd/novabsd/hypervisor"
	"github.com/novabsd/novabsd/hypervisor/host"
	"github.com/novabsd/novabsd/passthrough"
	"github.com/novabsd/novabsd/placement"
)

// USB passthrough, which no Nova driver offers: the host's USB devices that [novabsd] usb_device_spec names are
// each a child resource provider of the node with one CUSTOM_USB_<VID>_<PID>; a flavor asking for
// resources:CUSTOM_USB_<VID>_<PID>=1 is scheduled onto a host with a free one, Placement's allocation says which,
// and the build gives that device to the guest. Deleting the server gives the allocation back, which frees the
// device; a device unplugged from the host loses its provider at the next audit (or, while a server holds it, its
// provider keeps an inventory all reserved until that server goes).

// usbOffer is what the last audit offered: child provider uuid -> device.
type usbOffer struct {
	mu        sync.Mutex
	byUUID    map[string]passthrough.Device
	unmatched string // the specs that matched nothing at the last audit, to log a change once
	refused   bool   // the engine cannot pass USB devices: said once
	// allocations reads a consumer's allocations, provider uuid -> resource class -> amount; nil reads them
	// from Placement (tests put a stand-in here).
	allocations func(ctx context.Context, consumer string) (map[string]map[string]int64, error)
}

// placementAllocations reads a consumer's allocations from Placement.
func (s *Service) placementAllocations(ctx context.Context, consumer string) (map[string]map[string]int64, error) {
	pc, err := s.placementClient(ctx, s.cfg.Load())
	if err != nil {
		return nil, err
	}
	a, err := pc.GetConsumerAllocations(ctx, consumer)
	if err != nil {
		return nil, err
	}
	out := make(map[string]map[string]int64, len(a.Allocations))
	for rp, x := range a.Allocations {
		out[rp] = x.Resources
	}
	return out, nil
}

// usbDevices is the audit's reading of the host's USB devices, or nil when nothing is to be offered: no
// usb_device_spec, or an engine without USB passthrough (said once, since the operator asked for something the
// engine cannot do). A discovery failure is the audit's error: offering nothing would retire every device.
func (s *Service) usbDevices(cfg *conf.Config) ([]host.USBDevice, error) {
	if len(s.usbSpecs) == 0 {
		return nil, nil
	}
	if !s.engineCaps().USBPassthru {
		s.usb.mu.Lock()
		first := !s.usb.refused
		s.usb.refused = true
		s.usb.mu.Unlock()
		if first {
			s.log.Error("[novabsd] usb_device_spec is set but this engine cannot pass USB devices to guests; none is offered")
		}
		return nil, nil
	}
	devs, err := host.DiscoverUSB(cfg.NovaBSD.SysfsRoot)
	if err != nil {
		return nil, fmt.Errorf("discovering the host's USB devices: %w", err)
	}
	return devs, nil
}

// usbChildren are the child providers for the devices the specs select among devs, and the uuid -> device map
// the build reads once Sync has made them.
func (s *Service) usbChildren(root string, devs []host.USBDevice) ([]placement.ChildProvider, map[string]passthrough.Device) {
	if len(s.usbSpecs) == 0 {
		return nil, nil
	}
	sel := passthrough.SelectUSB(s.usbSpecs, devs)
	children := make([]placement.ChildProvider, 0, len(sel))
	byUUID := make(map[string]passthrough.Device, len(sel))
	for _, d := range sel {
		u := placement.ChildUUID(s.nodeUUID, d.ID)
		children = append(children, placement.ChildProvider{UUID: u, Name: placement.ChildName(root, d.ID),
			Inventory: map[string]int64{d.ResourceClass: 1}})
		byUUID[u] = d
	}
	var unmatched []string
	for _, sp := range passthrough.UnmatchedUSB(s.usbSpecs, devs) {
		unmatched = append(unmatched, sp.String())
	}
	if u := strings.Join(unmatched, ", "); s.noteUnmatched(u) && u != "" {
		s.log.Warn("Some [novabsd] usb_device_spec entries match no USB device on this host", "specs", u)
	}
	return children, byUUID
}

// noteUnmatched records the unmatched specs and reports whether they changed.
func (s *Service) noteUnmatched(u string) bool {
	s.usb.mu.Lock()
	defer s.usb.mu.Unlock()
	changed := u != s.usb.unmatched
	s.usb.unmatched = u
	return changed
}

// offerUSB records what Sync left in Placement: the devices a build may be given.
func (s *Service) offerUSB(byUUID map[string]passthrough.Device, r *placement.SyncResult) {
	offered := map[string]passthrough.Device{}
	for _, c := range r.Children {
		if d, ok := byUUID[c.Provider.UUID]; ok {
			offered[c.Provider.UUID] = d
			if c.Created {
				s.log.Info("USB device offered for passthrough", "device", d.ID, "resource_class", d.ResourceClass,
					"description", d.Description, "provider", c.Provider.UUID)
			}
		}
	}
	for _, c := range r.RetiredInUse {
		s.log.Warn("A USB device a server holds is gone from the host; its provider stays, all reserved, until the server goes",
			"provider", c.Provider.Name)
	}
	for _, c := range r.DeletedChildren {
		s.log.Info("USB device no longer offered", "provider", c.Name)
	}
	s.usb.mu.Lock()
	s.usb.byUUID = offered
	s.usb.mu.Unlock()
}

// usbClaimError is a build given a USB device allocation this host cannot honour.
type usbClaimError struct{ reason string }

func (e *usbClaimError) Error() string { return "USB passthrough: " + e.reason }

// usbForInstance reads the instance's allocations and returns the USB devices they hold on this host's child
// providers, for the guest. An allocation of a CUSTOM_USB_* class on a provider the last audit did not offer (the
// device went, or the audit has not run since) is an error: the guest would lack a device it was promised.
func (s *Service) usbForInstance(ctx context.Context, instanceUUID string) ([]hypervisor.USBDevice, error) {
	if len(s.usbSpecs) == 0 {
		return nil, nil
	}
	read := s.usb.allocations
	if read == nil {
		read = s.placementAllocations
	}
	allocs, err := read(ctx, instanceUUID)
	if err != nil {
		return nil, fmt.Errorf("reading the instance's allocations for its USB devices: %w", err)
	}
	s.usb.mu.Lock()
	offered := s.usb.byUUID
	s.usb.mu.Unlock()
	var out []hypervisor.USBDevice
	for rp, a := range allocs {
		for rc, n := range a {
			if !strings.HasPrefix(rc, "CUSTOM_USB_") || n == 0 {
				continue
			}
			// A build's allocations are all on this host's tree (the scheduler chose it): a device class on a
			// provider the last audit did not offer is one that went, or never was here.
			d, ok := offered[rp]
			if !ok {
				return nil, &usbClaimError{fmt.Sprintf("%s is allocated on provider %s, which offers no USB device on this host now",
					rc, rp)}
			}
			if rc != d.ResourceClass || n != 1 {
				return nil, &usbClaimError{fmt.Sprintf("provider %s holds %s, the allocation asks %d of %s", rp,
					d.ResourceClass, n, rc)}
			}
			out = append(out, hypervisor.USBDevice{Vendor: d.Vendor, Product: d.Product, Bus: d.Bus, Port: d.Port})
		}
	}
	return out, nil
}
