package storage

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/novabsd/novabsd/images/qcow2"
	"github.com/novabsd/novabsd/internal/revert"
)

// CopyMode chooses how the File backend makes root disks.
type CopyMode string

// Copy modes.
const (
	// CopyAuto reflinks (FICLONE) where the filesystem shares extents
	// (XFS, Btrfs) and makes a sparse copy elsewhere.
	CopyAuto CopyMode = "auto"
	// CopySparse always makes a sparse copy (in-kernel copy_file_range of
	// the data extents where available).
	CopySparse CopyMode = "copy"
)

// File keeps disks as sparse raw files: images in ImageDir as ID.raw (Nova's
// _base) and instance disks in InstancesDir/INSTANCE/.
type File struct {
	ImageDir     string
	InstancesDir string
	Mode         CopyMode
}

// NewFile returns a File backend, creating both directories.
func NewFile(imageDir, instancesDir string, mode CopyMode) (*File, error) {
	switch mode {
	case "":
		mode = CopyAuto
	case CopyAuto, CopySparse:
	default:
		return nil, fmt.Errorf("storage: copy mode %q (allowed: auto, copy)", mode)
	}
	for _, d := range []string{imageDir, instancesDir} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			return nil, fmt.Errorf("storage: %w", err)
		}
	}
	return &File{ImageDir: imageDir, InstancesDir: instancesDir, Mode: mode}, nil
}

// Name returns "file".
func (b *File) Name() string { return "file" }

func (b *File) imagePath(id string) string { return filepath.Join(b.ImageDir, id+".raw") }

// ImportImage converts src to ImageDir/ID.raw. Images with backing files are
// refused: a Glance image must stand alone.
func (b *File) ImportImage(ctx context.Context, id, src string) error {
	if err := checkName("image", id); err != nil {
		return err
	}
	if ok, err := b.HasImage(ctx, id); err != nil || ok {
		return err
	}
	if _, err := qcow2.ConvertFile(ctx, src, b.imagePath(id), qcow2.FileOptions{}); err != nil {
		return fmt.Errorf("storage: importing image %s: %w", id, err)
	}
	return nil
}

// HasImage reports whether ImageDir/ID.raw exists.
func (b *File) HasImage(_ context.Context, id string) (bool, error) {
	if err := checkName("image", id); err != nil {
		return false, err
	}
	_, err := os.Stat(b.imagePath(id))
	if errors.Is(err, fs.ErrNotExist) {
		return false, nil
	}
	return err == nil, err
}

// DeleteImage removes the cached file; file disks are copies, so none
// depends on it.
func (b *File) DeleteImage(_ context.Context, id string) error {
	if err := checkName("image", id); err != nil {
		return err
	}
	if err := os.Remove(b.imagePath(id)); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("storage: %w", err)
	}
	return nil
}

// CreateRoot copies (or reflinks) the cached image into the instance.
func (b *File) CreateRoot(ctx context.Context, instance, imageID string, size int64) (Disk, error) {
	if err := checkName("image", imageID); err != nil {
		return Disk{}, err
	}
	src, err := os.Open(b.imagePath(imageID))
	if errors.Is(err, fs.ErrNotExist) {
		return Disk{}, fmt.Errorf("%w: %s", ErrImageNotCached, imageID)
	} else if err != nil {
		return Disk{}, fmt.Errorf("storage: %w", err)
	}
	defer src.Close()
	fi, err := src.Stat()
	if err != nil {
		return Disk{}, fmt.Errorf("storage: %w", err)
	}
	if size == 0 {
		size = fi.Size()
	}
	if size < fi.Size() {
		return Disk{}, fmt.Errorf("%w: root disk of %d bytes for image %s of %d bytes", ErrDiskTooSmall, size, imageID, fi.Size())
	}
	var method string
	d, err := b.makeDisk(instance, RootDisk, size, func(dst *os.File) error {
		method, err = cloneFile(ctx, dst, src, fi.Size(), b.Mode)
		return err
	})
	d.Method = method
	return d, err
}

// CreateEphemeral makes a sparse blank file. Formatting is the caller's.
func (b *File) CreateEphemeral(_ context.Context, instance string, index int, size int64) (Disk, error) {
	if index < 0 {
		return Disk{}, fmt.Errorf("%w: ephemeral index %d", ErrInvalidName, index)
	}
	if err := checkSize("ephemeral", size); err != nil {
		return Disk{}, err
	}
	return b.makeDisk(instance, EphemeralDisk(index), size, nil)
}

// CreateSwap makes a sparse blank file.
func (b *File) CreateSwap(_ context.Context, instance string, size int64) (Disk, error) {
	if err := checkSize("swap", size); err != nil {
		return Disk{}, err
	}
	return b.makeDisk(instance, SwapDisk, size, nil)
}

// makeDisk fills a temporary file with fill, sizes it and renames it into
// place, so a disk exists complete or not at all.
func (b *File) makeDisk(instance, name string, size int64, fill func(*os.File) error) (_ Disk, err error) {
	if err := checkName("instance", instance); err != nil {
		return Disk{}, err
	}
	rv := revert.New()
	// A clean-up that fails is reported with the failure, not hidden.
	defer func() {
		if uerr := rv.Fail(); uerr != nil {
			err = errors.Join(err, uerr)
		}
	}()
	dir := filepath.Join(b.InstancesDir, instance)
	if _, err := os.Stat(dir); errors.Is(err, fs.ErrNotExist) {
		if err := os.Mkdir(dir, 0o755); err != nil {
			return Disk{}, fmt.Errorf("storage: %w", err)
		}
		rv.Add(func() error { return os.Remove(dir) })
	}
	final := filepath.Join(dir, name)
	if _, err := os.Lstat(final); err == nil {
		return Disk{}, fmt.Errorf("%w: %s", ErrDiskExists, final)
	}
	tmp, err := os.CreateTemp(dir, "."+name+".*.part")
	if err != nil {
		return Disk{}, fmt.Errorf("storage: %w", err)
	}
	rv.Add(func() error { tmp.Close(); return os.Remove(tmp.Name()) })
	if fill != nil {
		if err := fill(tmp); err != nil {
			return Disk{}, fmt.Errorf("storage: filling %s: %w", final, err)
		}
	}
	if err := tmp.Truncate(size); err != nil {
		return Disk{}, fmt.Errorf("storage: sizing %s to %d: %w", final, size, err)
	}
	if err := tmp.Close(); err != nil {
		return Disk{}, fmt.Errorf("storage: %w", err)
	}
	if err := os.Rename(tmp.Name(), final); err != nil {
		return Disk{}, fmt.Errorf("storage: %w", err)
	}
	rv.Success()
	return Disk{Name: name, Path: final, Format: DiskFormat, Size: size}, nil
}

func isDiskName(n string) bool {
	return n == RootDisk || n == SwapDisk || strings.HasPrefix(n, "disk.eph")
}

// Disks lists the instance's disk files.
func (b *File) Disks(_ context.Context, instance string) ([]Disk, error) {
	if err := checkName("instance", instance); err != nil {
		return nil, err
	}
	dir := filepath.Join(b.InstancesDir, instance)
	ents, err := os.ReadDir(dir)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	} else if err != nil {
		return nil, fmt.Errorf("storage: %w", err)
	}
	var out []Disk
	for _, e := range ents {
		if !e.Type().IsRegular() || !isDiskName(e.Name()) {
			continue
		}
		fi, err := e.Info()
		if err != nil {
			continue
		}
		out = append(out, Disk{Name: e.Name(), Path: filepath.Join(dir, e.Name()), Format: DiskFormat, Size: fi.Size()})
	}
	return out, nil
}

// Instances lists directories of InstancesDir holding at least one disk.
func (b *File) Instances(ctx context.Context) ([]string, error) {
	ents, err := os.ReadDir(b.InstancesDir)
	if err != nil {
		return nil, fmt.Errorf("storage: %w", err)
	}
	var out []string
	for _, e := range ents {
		if !e.IsDir() || checkName("instance", e.Name()) != nil {
			continue
		}
		if d, err := b.Disks(ctx, e.Name()); err == nil && len(d) > 0 {
			out = append(out, e.Name())
		}
	}
	sort.Strings(out)
	return out, nil
}

// DeleteInstance removes the disks and leftover temporaries, and the
// directory when nothing else (domain XML, console log) is left in it.
func (b *File) DeleteInstance(_ context.Context, instance string) error {
	if err := checkName("instance", instance); err != nil {
		return err
	}
	dir := filepath.Join(b.InstancesDir, instance)
	ents, err := os.ReadDir(dir)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	} else if err != nil {
		return fmt.Errorf("storage: %w", err)
	}
	var errs []error
	for _, e := range ents {
		n := e.Name()
		part := strings.HasPrefix(n, ".") && strings.HasSuffix(n, ".part")
		if isDiskName(n) || part {
			if err := os.Remove(filepath.Join(dir, n)); err != nil && !errors.Is(err, fs.ErrNotExist) {
				errs = append(errs, err)
			}
		}
	}
	if len(errs) > 0 {
		return fmt.Errorf("storage: deleting disks of %s: %w", instance, errors.Join(errs...))
	}
	os.Remove(dir) // fails while other instance files remain, by design
	return nil
}
