package bhyve

import "fmt"

// slots hands out PCI slots on bus 0 the way libvirt's bhyve driver does:
// 0 is the hostbridge, 1 is kept for the LPC bridge, then each device takes
// the next free slot. Slots the domain XML fixes are reserved first.
type slots struct {
	used [32]bool
}

func (s *slots) reserve(slot uint) error {
	if slot > 31 {
		return fmt.Errorf("PCI slot %d out of range 0-31", slot)
	}
	if s.used[slot] {
		return fmt.Errorf("PCI slot %d assigned twice", slot)
	}
	s.used[slot] = true
	return nil
}

func (s *slots) next() (uint, error) {
	for i := 2; i < 32; i++ {
		if !s.used[i] {
			s.used[i] = true
			return uint(i), nil
		}
	}
	return 0, fmt.Errorf("no free PCI slot on bus 0 (30 devices at most)")
}
