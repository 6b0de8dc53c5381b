//go:build !linux && !freebsd

package host

// Discover is not implemented on this operating system.
func Discover() (*Host, error) { return nil, ErrUnsupported }

// DiscoverDisk is not implemented on this operating system.
func DiscoverDisk(path string) (Disk, error) {
	return Disk{}, &DiskError{What: path, Err: ErrUnsupported}
}

// ReadLoad is not implemented on this operating system.
func ReadLoad() (Load, error) { return Load{}, ErrUnsupported }

// Refresh is not implemented on this operating system.
func Refresh(*Host) error { return ErrUnsupported }

// DiscoverUSB is not implemented on this operating system.
func DiscoverUSB(sysfsRoot string) ([]USBDevice, error) { return nil, ErrUnsupported }

// DiscoverPCI is not implemented on this operating system.
func DiscoverPCI(sysfsRoot string) ([]PCIDevice, error) { return nil, ErrUnsupported }
