package images

import (
	"errors"
	"fmt"

	"github.com/novabsd/novabsd/images/qcow2"
)

// ErrDiskTooSmall means an image's virtual size exceeds the root disk it is to fill (nova's
// FlavorDiskSmallerThanImage). Every *DiskTooSmallError matches it with errors.Is.
var ErrDiskTooSmall = errors.New("flavor's disk is too small for requested image")

// DiskTooSmallError is an image that cannot fit the flavor's root disk, in bytes on both sides.
type DiskTooSmallError struct {
	ImageID   string
	DiskSize  int64 // the flavor's root disk
	ImageSize int64 // the image's virtual size
}

// Error words the refusal as nova's fault does, so users read the same message from either service.
func (e *DiskTooSmallError) Error() string {
	return fmt.Sprintf("Flavor's disk is too small for requested image. Flavor disk is %d bytes, image is %d bytes.",
		e.DiskSize, e.ImageSize)
}

// Is matches ErrDiskTooSmall.
func (e *DiskTooSmallError) Is(target error) bool { return target == ErrDiskTooSmall }

// CheckFits refuses an image of virtualSize bytes for a root disk of diskSize bytes. diskSize 0 is a flavor
// with root_gb 0, whose disk takes the image's size: nova does not check it, and neither do we. A virtualSize
// of 0 is unknown (Glance's virtual_size not computed yet) and passes; the caller checks again once it has the
// file.
func CheckFits(imageID string, diskSize, virtualSize int64) error {
	if diskSize > 0 && virtualSize > diskSize {
		return &DiskTooSmallError{ImageID: imageID, DiskSize: diskSize, ImageSize: virtualSize}
	}
	return nil
}

// VirtualSize is the guest-visible size of the image file at path: the size in a qcow2 header, or a raw file's
// length. It reads only the header, so a small qcow2 that expands to terabytes is measured before anything is
// converted or allocated for it.
func VirtualSize(path string) (int64, error) {
	f, err := qcow2.OpenFile(path, qcow2.FileOptions{})
	if err != nil {
		return 0, fmt.Errorf("images: measuring %s: %w", path, err)
	}
	defer f.Close()
	return f.Size(), nil
}
