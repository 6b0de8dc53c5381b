package hypervisor

import "context"

// NMIInjector is implemented by drivers that can deliver a non-maskable
// interrupt to a running guest, which guests configured for it answer with
// a crash dump (or a panic). Use AsNMIInjector so absent support is an
// *UnsupportedError.
type NMIInjector interface {
	// InjectNMI delivers an NMI to g. A guest that is not running is a
	// *StateError (ErrInvalidState).
	InjectNMI(ctx context.Context, g Guest) error
}

// AsNMIInjector returns d's NMI support or an *UnsupportedError.
func AsNMIInjector(d Driver) (NMIInjector, error) {
	if n, ok := d.(NMIInjector); ok && d.Capabilities().NMI {
		return n, nil
	}
	return nil, &UnsupportedError{Driver: d.Name(), Op: "NMI injection"}
}
