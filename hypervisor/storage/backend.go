// Package storage makes and removes guest disks: a root disk from a cached
// image, blank ephemeral and swap disks, and the image cache itself. Two
// backends implement Backend: File (sparse files, reflinked where the
// filesystem allows) and ZFS (each image a zvol snapshot, root disks O(1)
// clones of it). Every multi-step operation undoes its finished steps when a
// later one fails, so an error never leaves a half-made disk or dataset.
package storage

import (
	"context"
	"errors"
	"fmt"
	"regexp"

	"github.com/novabsd/novabsd/images/qcow2"
)

// Disk names inside an instance, as Nova's libvirt driver names them.
const (
	RootDisk = "disk"
	SwapDisk = "disk.swap"
)

// EphemeralDisk is the name of the index-th ephemeral disk ("disk.eph0").
func EphemeralDisk(index int) string { return fmt.Sprintf("disk.eph%d", index) }

// DiskFormat is the format of every disk a backend hands out.
const DiskFormat = string(qcow2.FormatRaw)

// ImageFormats are the image formats ImportImage reads (converting them to
// DiskFormat).
var ImageFormats = []string{string(qcow2.FormatRaw), string(qcow2.FormatQCOW2)}

// Disk is a guest disk a backend made.
type Disk struct {
	Name   string // RootDisk, SwapDisk or EphemeralDisk(i)
	Path   string // file or zvol device the hypervisor opens
	Format string // always DiskFormat
	Size   int64  // bytes
	// Method says how a root disk was made: "reflink", "copy", "clone";
	// empty for blank disks. Operators and benchmarks read it.
	Method string
}

// Backend creates and deletes instance disks and caches images.
type Backend interface {
	// Name is "file" or "zfs".
	Name() string
	// ImportImage caches the image file src (raw or qcow2, converted to raw)
	// under id. Importing an id already cached is a no-op.
	ImportImage(ctx context.Context, id, src string) error
	// HasImage reports whether id is cached.
	HasImage(ctx context.Context, id string) (bool, error)
	// DeleteImage drops a cached image; ErrImageInUse if a disk still
	// depends on it (ZFS clones).
	DeleteImage(ctx context.Context, id string) error
	// CreateRoot makes instance's root disk from cached image id, grown to
	// size bytes (0: the image's size). A size below the image's is
	// ErrDiskTooSmall.
	CreateRoot(ctx context.Context, instance, imageID string, size int64) (Disk, error)
	// CreateEphemeral makes a blank ephemeral disk.
	CreateEphemeral(ctx context.Context, instance string, index int, size int64) (Disk, error)
	// CreateSwap makes a blank swap disk.
	CreateSwap(ctx context.Context, instance string, size int64) (Disk, error)
	// Disks lists an instance's disks.
	Disks(ctx context.Context, instance string) ([]Disk, error)
	// Instances lists the instances that have disks here.
	Instances(ctx context.Context) ([]string, error)
	// DeleteInstance removes every disk of instance; unknown instances are
	// not an error.
	DeleteInstance(ctx context.Context, instance string) error
}

// Errors callers test with errors.Is.
var (
	ErrInvalidName    = errors.New("invalid instance or image name")
	ErrImageNotCached = errors.New("image not in cache")
	ErrImageInUse     = errors.New("image in use by instance disks")
	ErrDiskTooSmall   = errors.New("disk smaller than image")
	ErrDiskExists     = errors.New("disk already exists")
	ErrInvalidSize    = errors.New("invalid disk size")
)

// Names become file names and ZFS dataset components, so only characters
// valid and inert in both are allowed (Nova uses uuids and instance-%08x).
var nameRE = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9_.:-]{0,127}$`)

func checkName(kind, name string) error {
	if !nameRE.MatchString(name) || name == "." || name == ".." {
		return fmt.Errorf("%w: %s %q (letters, digits and _.:- only, at most 128)", ErrInvalidName, kind, name)
	}
	return nil
}

func checkSize(what string, size int64) error {
	if size <= 0 {
		return fmt.Errorf("%w: %s size %d must be positive", ErrInvalidSize, what, size)
	}
	return nil
}
