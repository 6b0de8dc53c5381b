package bhyve

import "fmt"

// bhyve's PCI address space as the builder uses it: bus 0 only (libvirt's
// bhyve driver allocates one bus), 32 slots of 8 functions.
const (
	pciSlots = 32
	pciFuncs = 8
)

// slots hands out PCI slots on bus 0 the way libvirt's bhyve driver does:
// 0 is the hostbridge, 1 is kept for the LPC bridge, then each device takes
// the next free slot. Addresses the domain XML fixes are reserved first.
// Each taken slot:function remembers its device so a clash names both.
type slots struct {
	owner [pciSlots][pciFuncs]string
}

// reserve takes slot:fn for dev, refusing an address bhyve does not have
// or one already taken.
func (s *slots) reserve(slot, fn uint, dev string) error {
	addr := fmt.Sprintf("%d:%d", slot, fn)
	if slot >= pciSlots {
		return refuse(RulePCISlotRange, dev+" pci address", addr, "bhyve has PCI slots 0 to %d", pciSlots-1)
	}
	if fn >= pciFuncs {
		return refuse(RulePCIFuncRange, dev+" pci address", addr, "bhyve has PCI functions 0 to %d", pciFuncs-1)
	}
	if o := s.owner[slot][fn]; o != "" {
		return refuse(RulePCIClash, dev+" pci address", addr, "PCI %s is already taken by %s", addr, o)
	}
	s.owner[slot][fn] = dev
	return nil
}

// free reports whether no function of slot is taken.
func (s *slots) free(slot uint) bool {
	for _, o := range s.owner[slot] {
		if o != "" {
			return false
		}
	}
	return true
}

// next gives dev function 0 of the lowest free slot from 2 up.
func (s *slots) next(dev string) (uint, error) {
	for i := uint(2); i < pciSlots; i++ {
		if s.free(i) {
			s.owner[i][0] = dev
			return i, nil
		}
	}
	return 0, refuse(RulePCISlotsFull, dev, "", "no free PCI slot on bus 0 (bhyve has %d, the hostbridge and LPC bridge take two)", pciSlots)
}

// orphanFunctions returns a slot that has a device on a function other
// than 0 but none on function 0, and that device.
func (s *slots) orphanFunctions() (uint, uint, string, bool) {
	for i := range s.owner {
		if s.owner[i][0] != "" {
			continue
		}
		for f := 1; f < pciFuncs; f++ {
			if o := s.owner[i][f]; o != "" {
				return uint(i), uint(f), o, true
			}
		}
	}
	return 0, 0, "", false
}
