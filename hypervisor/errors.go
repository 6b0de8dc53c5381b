package hypervisor

import (
	"errors"
	"fmt"
	"strings"
)

// Sentinel errors. Drivers wrap them (directly or through the typed errors
// below) so compute/ can map them to Nova faults with errors.Is without
// knowing which driver produced them.
var (
	// ErrNotFound: the hypervisor has no guest by that name (Nova's
	// InstanceNotFound).
	ErrNotFound = errors.New("guest not found")
	// ErrInvalidState: the guest exists but the operation does not apply to
	// its current power state (Nova's InstanceInvalidState).
	ErrInvalidState = errors.New("guest in wrong state for operation")
	// ErrUnsupported: this driver or this host cannot do the operation at all
	// (Nova's NotImplementedError / UnsupportedHostCapability).
	ErrUnsupported = errors.New("operation not supported")
	// ErrInvalidProperty: an image property, flavor extra spec or domain
	// field has a value the domain builder or the driver cannot honour
	// (Nova's ImageUnacceptable / InvalidImageConfigValue / Invalid).
	ErrInvalidProperty = errors.New("invalid property value")
	// ErrMissingComponent: a host file the guest needs is absent, such as
	// the bhyve or qemu binary or a UEFI firmware file.
	ErrMissingComponent = errors.New("required host component missing")
)

// PropertyError names a property whose value is not acceptable and the
// values that are. errors.Is(err, ErrInvalidProperty) is true for it.
type PropertyError struct {
	// Property is the image property, extra spec or XML path, e.g.
	// "hw_disk_bus" or "hw:cpu_sockets".
	Property string
	// Value is the rejected value as given.
	Value string
	// Allowed lists the accepted values; empty when the constraint is not a
	// list (Reason then says what it is).
	Allowed []string
	// Reason explains a non-enumerable constraint, e.g. "must be a positive
	// integer" or "exceeds hw:max_cpu_sockets=2".
	Reason string
	// Driver is set when the value is valid in general but not for this
	// driver, e.g. "bhyve" for hw_disk_bus=scsi.
	Driver string
}

func (e *PropertyError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "invalid value %q for %s", e.Value, e.Property)
	if e.Driver != "" {
		fmt.Fprintf(&b, " with driver %s", e.Driver)
	}
	if e.Reason != "" {
		b.WriteString(": ")
		b.WriteString(e.Reason)
	}
	if len(e.Allowed) > 0 {
		fmt.Fprintf(&b, " (allowed: %s)", strings.Join(e.Allowed, ", "))
	}
	return b.String()
}

// Is reports ErrInvalidProperty so callers need not type-assert.
func (e *PropertyError) Is(target error) bool { return target == ErrInvalidProperty }

// StateError says which operation met which power state.
// errors.Is(err, ErrInvalidState) is true for it.
type StateError struct {
	Guest string     // guest name
	Op    string     // operation attempted, e.g. "pause"
	State PowerState // state the guest was in
}

func (e *StateError) Error() string {
	return fmt.Sprintf("cannot %s guest %s: it is %s", e.Op, e.Guest, e.State)
}

// Is reports ErrInvalidState.
func (e *StateError) Is(target error) bool { return target == ErrInvalidState }

// UnsupportedError names the driver and operation that are unsupported and
// why. errors.Is(err, ErrUnsupported) is true for it.
type UnsupportedError struct {
	Driver string // "bhyve", "qemu"
	Op     string // e.g. "suspend", "checkpoint create"
	Reason string // e.g. "host bhyve built without BHYVE_SNAPSHOT"
}

func (e *UnsupportedError) Error() string {
	s := fmt.Sprintf("%s driver does not support %s", e.Driver, e.Op)
	if e.Reason != "" {
		s += ": " + e.Reason
	}
	return s
}

// Is reports ErrUnsupported.
func (e *UnsupportedError) Is(target error) bool { return target == ErrUnsupported }

// MissingError names a host file (binary, firmware) that a guest needs but
// that is absent. errors.Is(err, ErrMissingComponent) is true for it.
type MissingError struct {
	What string // "bhyve binary", "UEFI firmware"
	Path string
	Err  error // underlying cause, e.g. from os.Stat or exec.LookPath
}

func (e *MissingError) Error() string {
	if e.Err != nil {
		return fmt.Sprintf("%s %s not usable: %v", e.What, e.Path, e.Err)
	}
	return fmt.Sprintf("%s %s not found", e.What, e.Path)
}

// Unwrap returns the underlying cause.
func (e *MissingError) Unwrap() error { return e.Err }

// Is reports ErrMissingComponent.
func (e *MissingError) Is(target error) bool { return target == ErrMissingComponent }

// NotFound returns an error wrapping ErrNotFound that names the guest.
func NotFound(driver, guest string) error {
	return fmt.Errorf("%s: %w: %s", driver, ErrNotFound, guest)
}
