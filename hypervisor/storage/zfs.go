package storage

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"time"

	zfs "github.com/mistifyio/go-zfs/v3"

	"github.com/novabsd/novabsd/images/qcow2"
	"github.com/novabsd/novabsd/internal/revert"
)

// baseSnap is the snapshot of every cached image zvol that root disks clone.
const baseSnap = "base"

// volAlign rounds zvol sizes up: volsize must be a multiple of
// volblocksize, and 128 KiB is a multiple of every default.
const volAlign = 128 << 10

// ZFS keeps images as zvols ROOT/images/ID with a snapshot @base, and an
// instance's disks as zvols under ROOT/instances/INSTANCE, the root disk a
// clone of the image snapshot (O(1) whatever the image size). Deleting an
// instance is one recursive destroy of its dataset.
type ZFS struct {
	Root string // parent dataset, e.g. "zroot/novabsd"
	// DevDir is where zvol device nodes appear ("/dev/zvol").
	DevDir string
	// DeviceWait bounds the wait for a new zvol's device node (udev on
	// Linux creates it asynchronously).
	DeviceWait time.Duration
}

// NewZFS returns a ZFS backend under root, creating ROOT/images and
// ROOT/instances (unmounted filesystems) when missing. root must exist.
func NewZFS(root string) (*ZFS, error) {
	b := &ZFS{Root: strings.TrimSuffix(root, "/"), DevDir: "/dev/zvol", DeviceWait: 10 * time.Second}
	if _, err := zfs.GetDataset(b.Root); err != nil {
		return nil, fmt.Errorf("storage: zfs dataset %s: %w", b.Root, err)
	}
	for _, c := range []string{"images", "instances"} {
		if err := b.ensureFS(b.Root + "/" + c); err != nil {
			return nil, err
		}
	}
	return b, nil
}

// ensureFS creates an unmounted filesystem unless it exists; reports
// whether it created it.
func (b *ZFS) ensureFS(name string) error {
	_, err := b.ensureFSCreated(name)
	return err
}

func (b *ZFS) ensureFSCreated(name string) (bool, error) {
	if ok, err := exists(name); err != nil || ok {
		return false, err
	}
	if _, err := zfs.CreateFilesystem(name, map[string]string{"mountpoint": "none", "canmount": "off"}); err != nil {
		return false, fmt.Errorf("storage: creating %s: %w", name, err)
	}
	return true, nil
}

// exists distinguishes "no such dataset" from other zfs failures.
func exists(name string) (bool, error) {
	_, err := zfs.GetDataset(name)
	if err == nil {
		return true, nil
	}
	var ze *zfs.Error
	if errors.As(err, &ze) && strings.Contains(ze.Stderr, "does not exist") {
		return false, nil
	}
	return false, fmt.Errorf("storage: zfs list %s: %w", name, err)
}

func destroy(name string, flags zfs.DestroyFlag) error {
	err := (&zfs.Dataset{Name: name}).Destroy(flags)
	var ze *zfs.Error
	if errors.As(err, &ze) && strings.Contains(ze.Stderr, "does not exist") {
		return nil
	}
	if err != nil {
		return fmt.Errorf("storage: destroying %s: %w", name, err)
	}
	return nil
}

// Name returns "zfs".
func (b *ZFS) Name() string { return "zfs" }

func (b *ZFS) image(id string) string            { return b.Root + "/images/" + id }
func (b *ZFS) instance(name string) string       { return b.Root + "/instances/" + name }
func (b *ZFS) disk(instance, disk string) string { return b.instance(instance) + "/" + disk }

// DevicePath is the zvol device node of dataset name.
func (b *ZFS) DevicePath(name string) string {
	return filepath.Join(b.DevDir, filepath.FromSlash(name))
}

// ImportImage writes src, converted to raw, into a new zvol and snapshots
// it. A zvol left without its snapshot by an earlier crash is rebuilt.
func (b *ZFS) ImportImage(ctx context.Context, id, src string) (err error) {
	if err := checkName("image", id); err != nil {
		return err
	}
	if ok, err := b.HasImage(ctx, id); err != nil || ok {
		return err
	}
	vol := b.image(id)
	if err := destroy(vol, zfs.DestroyRecursive); err != nil {
		return err
	}
	in, err := qcow2.OpenFile(src, qcow2.FileOptions{})
	if err != nil {
		return fmt.Errorf("storage: importing image %s: %w", id, err)
	}
	defer in.Close()
	size := (uint64(in.Size()) + volAlign - 1) / volAlign * volAlign
	if size == 0 {
		return fmt.Errorf("%w: image %s is empty", ErrInvalidSize, id)
	}
	rv := revert.New()
	// A clean-up that fails is reported with the failure, not hidden.
	defer func() {
		if uerr := rv.Fail(); uerr != nil {
			err = errors.Join(err, uerr)
		}
	}()
	// Thin, like blank disks (zfs create -s): a thick zvol would reserve the image's whole virtual size (a
	// 256 KiB qcow2 of 4 GiB reserving 4 GiB of the pool) when only its data is written.
	if _, err := zfs.CreateVolume(vol, size, map[string]string{"volmode": "dev", "refreservation": "none"}); err != nil {
		return fmt.Errorf("storage: creating zvol %s: %w", vol, err)
	}
	rv.Add(func() error { return destroy(vol, zfs.DestroyRecursive) })
	if err := b.fill(ctx, vol, in); err != nil {
		return fmt.Errorf("storage: writing image %s: %w", id, err)
	}
	if _, err := (&zfs.Dataset{Name: vol}).Snapshot(baseSnap, false); err != nil {
		return fmt.Errorf("storage: snapshotting %s: %w", vol, err)
	}
	rv.Success()
	return nil
}

// fill writes the guest view of in to the zvol's device. A new zvol reads
// as zeros, so zero ranges are skipped.
func (b *ZFS) fill(ctx context.Context, vol string, in qcow2.Source) error {
	dev := b.DevicePath(vol)
	if err := b.waitDevice(ctx, dev); err != nil {
		return err
	}
	f, err := os.OpenFile(dev, os.O_WRONLY, 0)
	if err != nil {
		return err
	}
	// Hide Truncate: a device cannot be resized, and ToRaw would try.
	if _, err := qcow2.ToRaw(ctx, in, struct{ io.WriterAt }{f}); err != nil {
		f.Close()
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

// waitDevice waits up to DeviceWait for a new zvol's device node (udev creates it after zfs create returns).
func (b *ZFS) waitDevice(ctx context.Context, dev string) error {
	deadline := time.Now().Add(b.DeviceWait)
	for {
		_, err := os.Stat(dev)
		if err == nil {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("zvol device %s did not appear: %w", dev, err)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// HasImage reports whether the image's @base snapshot exists.
func (b *ZFS) HasImage(_ context.Context, id string) (bool, error) {
	if err := checkName("image", id); err != nil {
		return false, err
	}
	return exists(b.image(id) + "@" + baseSnap)
}

// DeleteImage destroys the image zvol and snapshot; ErrImageInUse while
// root disks are clones of it.
func (b *ZFS) DeleteImage(_ context.Context, id string) error {
	if err := checkName("image", id); err != nil {
		return err
	}
	err := (&zfs.Dataset{Name: b.image(id)}).Destroy(zfs.DestroyRecursive)
	var ze *zfs.Error
	switch {
	case err == nil:
		return nil
	case errors.As(err, &ze) && strings.Contains(ze.Stderr, "does not exist"):
		return nil
	case errors.As(err, &ze) && strings.Contains(ze.Stderr, "dependent clones"):
		return fmt.Errorf("%w: %s: %s", ErrImageInUse, id, strings.TrimSpace(ze.Stderr))
	}
	return fmt.Errorf("storage: destroying image %s: %w", id, err)
}

// CreateRoot clones the image snapshot and grows the clone to size.
func (b *ZFS) CreateRoot(ctx context.Context, instance, imageID string, size int64) (Disk, error) {
	if err := checkName("image", imageID); err != nil {
		return Disk{}, err
	}
	snap, err := zfs.GetDataset(b.image(imageID) + "@" + baseSnap)
	if err != nil {
		if ok, e := exists(b.image(imageID) + "@" + baseSnap); e == nil && !ok {
			return Disk{}, fmt.Errorf("%w: %s", ErrImageNotCached, imageID)
		}
		return Disk{}, fmt.Errorf("storage: %w", err)
	}
	imgSize := int64(snap.Volsize)
	if imgSize == 0 {
		// Snapshots list volsize as "-" on some platforms; ask the zvol.
		if v, err := zfs.GetDataset(b.image(imageID)); err == nil {
			imgSize = int64(v.Volsize)
		}
	}
	if size == 0 {
		size = imgSize
	}
	if size < imgSize {
		return Disk{}, fmt.Errorf("%w: root disk of %d bytes for image %s of %d bytes", ErrDiskTooSmall, size, imageID, imgSize)
	}
	return b.makeVolume(instance, RootDisk, size, func(name string) error {
		if _, err := snap.Clone(name, nil); err != nil {
			return fmt.Errorf("cloning %s: %w", snap.Name, err)
		}
		if aligned := alignUp(size); aligned > imgSize {
			if err := (&zfs.Dataset{Name: name}).SetProperty("volsize", strconv.FormatInt(aligned, 10)); err != nil {
				return fmt.Errorf("growing %s to %d: %w", name, aligned, err)
			}
		}
		return nil
	}, "clone")
}

func alignUp(n int64) int64 { return (n + volAlign - 1) / volAlign * volAlign }

// CreateEphemeral makes a thin zvol and waits for its device node, which the caller formats.
func (b *ZFS) CreateEphemeral(ctx context.Context, instance string, index int, size int64) (Disk, error) {
	if index < 0 {
		return Disk{}, fmt.Errorf("%w: ephemeral index %d", ErrInvalidName, index)
	}
	if err := checkSize("ephemeral", size); err != nil {
		return Disk{}, err
	}
	return b.makeVolume(instance, EphemeralDisk(index), size, b.createBlank(ctx, size), "")
}

// CreateSwap makes a thin zvol and waits for its device node.
func (b *ZFS) CreateSwap(ctx context.Context, instance string, size int64) (Disk, error) {
	if err := checkSize("swap", size); err != nil {
		return Disk{}, err
	}
	return b.makeVolume(instance, SwapDisk, size, b.createBlank(ctx, size), "")
}

func (b *ZFS) createBlank(ctx context.Context, size int64) func(string) error {
	return func(name string) error {
		if _, err := zfs.CreateVolume(name, uint64(alignUp(size)), map[string]string{"volmode": "dev", "refreservation": "none"}); err != nil {
			return err
		}
		return b.waitDevice(ctx, b.DevicePath(name))
	}
}

// makeVolume creates the instance dataset if needed and runs create for
// the disk dataset; on failure both are destroyed again.
func (b *ZFS) makeVolume(instance, disk string, size int64, create func(name string) error, method string) (_ Disk, err error) {
	if err := checkName("instance", instance); err != nil {
		return Disk{}, err
	}
	name := b.disk(instance, disk)
	if ok, err := exists(name); err != nil {
		return Disk{}, err
	} else if ok {
		return Disk{}, fmt.Errorf("%w: %s", ErrDiskExists, name)
	}
	rv := revert.New()
	defer func() {
		if uerr := rv.Fail(); uerr != nil {
			err = errors.Join(err, uerr)
		}
	}()
	made, err := b.ensureFSCreated(b.instance(instance))
	if err != nil {
		return Disk{}, err
	}
	if made {
		rv.Add(func() error { return destroy(b.instance(instance), zfs.DestroyRecursive) })
	}
	// Registered before create: a create that fails midway (clone made,
	// volsize refused) must still be cleaned.
	rv.Add(func() error { return destroy(name, zfs.DestroyRecursive) })
	if err := create(name); err != nil {
		return Disk{}, fmt.Errorf("storage: %s of %s: %w", disk, instance, err)
	}
	rv.Success()
	return Disk{Name: disk, Path: b.DevicePath(name), Format: DiskFormat, Size: alignUp(size), Method: method}, nil
}

// Disks lists the zvols under the instance dataset.
func (b *ZFS) Disks(_ context.Context, instance string) ([]Disk, error) {
	if err := checkName("instance", instance); err != nil {
		return nil, err
	}
	if ok, err := exists(b.instance(instance)); err != nil || !ok {
		return nil, err
	}
	kids, err := (&zfs.Dataset{Name: b.instance(instance)}).Children(1)
	if err != nil {
		return nil, fmt.Errorf("storage: listing %s: %w", b.instance(instance), err)
	}
	var out []Disk
	for _, k := range kids {
		if k.Type != zfs.DatasetVolume {
			continue
		}
		d := Disk{Name: path.Base(k.Name), Path: b.DevicePath(k.Name), Format: DiskFormat, Size: int64(k.Volsize)}
		if k.Origin != "" {
			d.Method = "clone"
		}
		out = append(out, d)
	}
	return out, nil
}

// Instances lists the children of ROOT/instances.
func (b *ZFS) Instances(_ context.Context) ([]string, error) {
	kids, err := (&zfs.Dataset{Name: b.Root + "/instances"}).Children(1)
	if err != nil {
		return nil, fmt.Errorf("storage: listing instances: %w", err)
	}
	var out []string
	for _, k := range kids {
		if k.Type == zfs.DatasetFilesystem {
			out = append(out, path.Base(k.Name))
		}
	}
	sort.Strings(out)
	return out, nil
}

// DeleteInstance destroys the instance dataset and every disk in it.
func (b *ZFS) DeleteInstance(_ context.Context, instance string) error {
	if err := checkName("instance", instance); err != nil {
		return err
	}
	return destroy(b.instance(instance), zfs.DestroyRecursive)
}
