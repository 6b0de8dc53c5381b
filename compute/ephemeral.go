package compute

import (
	"context"
	"errors"
	"path/filepath"
	"runtime"

	"github.com/novabsd/novabsd/conf"
	"github.com/novabsd/novabsd/hypervisor"
	"github.com/novabsd/novabsd/hypervisor/storage"
	"github.com/novabsd/novabsd/rpc/vo"
)

// Ephemeral and swap disks: which blank disks an instance gets (nova.virt.driver.get_block_device_info and the
// libvirt driver's _create_image), how they are made (the disk store) and formatted (storage.Mkfs, as
// nova.privsep.fs does).
//
// Nova makes each blank disk once in its image cache (_base/ephemeral_<size>_<ext>, _base/swap_<size>) and gives the
// instance a qcow2 overlay or a copy of it. This service's disk stores hand out raw disks only (sparse files, or
// zvols), so there is nothing for an overlay to share: a blank disk is made in the instance and formatted in place,
// which on a sparse file or a thin zvol costs the metadata mkfs writes (milliseconds) and no cache entry the image
// cache manager would have to age out.

// localDisk is one blank disk of an instance: an ephemeral disk or the swap disk.
type localDisk struct {
	role  hypervisor.DiskRole // RoleEphemeral or RoleSwap
	index int                 // ephemerals: disk.eph<index>, label ephemeral<index>
	size  int64               // bytes
	// guestFormat is the mapping's guest_format for an ephemeral; "" lets default_ephemeral_format or the
	// os_type decide.
	guestFormat string
	bus         string // the mapping's disk_bus; "" is the root disk's bus (novabsd_disk_bus, hw_disk_bus or the engine's default)
	device      string // the mapping's device_name, for messages
}

// Block device mapping fields read for blank local disks. Absent and None read as "" or 0, as nova's
// DriverEphemeralBlockDevice and DriverSwapBlockDevice take them ("volume_size or 0").
func (b blockDevice) SourceType() (string, error)  { return optString(b.o, "source_type") }
func (b blockDevice) GuestFormat() (string, error) { return optString(b.o, "guest_format") }
func (b blockDevice) DiskBus() (string, error)     { return optString(b.o, "disk_bus") }
func (b blockDevice) DeviceName() (string, error)  { return optString(b.o, "device_name") }
func (b blockDevice) DeviceType() (string, error)  { return optString(b.o, "device_type") }

// VolumeSize is volume_size (GiB for ephemerals, MiB for swap); 0 when absent or None.
func (b blockDevice) VolumeSize() (int64, error) {
	n, _, err := vo.Get[int64](b.o, "volume_size")
	return n, err
}

// Encrypted is the mapping's encrypted flag; false when absent (before BlockDeviceMapping 1.21) or None.
func (b blockDevice) Encrypted() (bool, error) {
	v, _, err := vo.Get[bool](b.o, "encrypted")
	return v, err
}

// localDisks lists the instance's blank disks from the build's block_device_mapping, falling back on the flavor:
// every blank local mapping that is not swap is an ephemeral disk, in the mapping's order (new_format_is_ephemeral);
// the flavor's ephemeral_gb gives one ephemeral disk only when no mapping does (get_default_ephemeral_info). The
// last swap mapping with a size is the swap disk (get_swap, swap_is_usable: the device name nova requires there is
// always set by the time the driver runs, as _default_block_device_names fills it), else the flavor's swap.
// A mapping this host cannot honour is an abort: every host of this service would refuse it.
func localDisks(list *vo.Object, f flavor, mkfs *storage.Mkfs) ([]localDisk, error) {
	var bdms []*vo.Object
	if list != nil {
		var err error
		if bdms, err = list.Objects(); err != nil {
			return nil, abort(err, "block_device_mapping unreadable")
		}
	}
	var eph []localDisk
	var swap *localDisk
	for _, o := range bdms {
		b := blockDevice{o}
		var src, dst, gf, bus, dev, dtype string
		for p, read := range map[*string]func() (string, error){&src: b.SourceType, &dst: b.DestinationType,
			&gf: b.GuestFormat, &bus: b.DiskBus, &dev: b.DeviceName, &dtype: b.DeviceType} {
			var err error
			if *p, err = read(); err != nil {
				return nil, abort(err, "block_device_mapping unreadable")
			}
		}
		if src != "blank" || dst != "local" {
			continue
		}
		size, err := b.VolumeSize()
		if err != nil {
			return nil, abort(err, "block_device_mapping unreadable")
		}
		enc, err := b.Encrypted()
		if err != nil {
			return nil, abort(err, "block_device_mapping unreadable")
		}
		if enc {
			return nil, abort(nil, "Block Device Mapping is Invalid: encrypted local disk %s is not supported by this compute node", dev)
		}
		if dtype != "" && dtype != "disk" {
			return nil, abort(nil, "Block Device Mapping is Invalid: blank local device %s of type %s (only disk)", dev, dtype)
		}
		d := localDisk{guestFormat: gf, bus: bus, device: dev}
		if gf == "swap" {
			if size > 0 {
				d.role, d.guestFormat, d.size = hypervisor.RoleSwap, "", size<<20
				swap = &d
			}
			continue
		}
		if size <= 0 {
			return nil, abort(nil, "Block Device Mapping is Invalid: ephemeral disk %s has no size", dev)
		}
		if err := mkfs.CheckGuestFormat(gf); err != nil {
			return nil, abort(err, "Block Device Mapping is Invalid: %s", err)
		}
		d.role, d.index, d.size = hypervisor.RoleEphemeral, len(eph), size<<30
		eph = append(eph, d)
	}
	if len(eph) == 0 && f.EphemeralGB > 0 {
		eph = append(eph, localDisk{role: hypervisor.RoleEphemeral, size: int64(f.EphemeralGB) << 30})
	}
	if swap == nil && f.SwapMB > 0 {
		swap = &localDisk{role: hypervisor.RoleSwap, size: int64(f.SwapMB) << 20}
	}
	if swap != nil {
		eph = append(eph, *swap)
	}
	return eph, nil
}

// name is the disk's file (or zvol) name in the instance, as the libvirt driver names it.
func (d localDisk) name() string {
	if d.role == hypervisor.RoleSwap {
		return storage.SwapDisk
	}
	return storage.EphemeralDisk(d.index)
}

// placeholder is the disk as checkGuest describes it before anything exists.
func (d localDisk) placeholder(dir string) hypervisor.Disk {
	return hypervisor.Disk{Role: d.role, Path: filepath.Join(dir, d.name()), Format: storage.DiskFormat, Bus: d.bus}
}

// makeLocalDisks makes and formats the blank disks in the store. The caller has registered the store's
// DeleteInstance with its revert, so a failure here leaves none of them.
func (e *engine) makeLocalDisks(ctx context.Context, uuid, osType string, disks []localDisk) ([]hypervisor.Disk, error) {
	mkfs := e.formatter()
	out := make([]hypervisor.Disk, 0, len(disks))
	for _, ld := range disks {
		var d storage.Disk
		var err error
		if ld.role == hypervisor.RoleSwap {
			d, err = e.storage.CreateSwap(ctx, uuid, ld.size)
		} else {
			d, err = e.storage.CreateEphemeral(ctx, uuid, ld.index, ld.size)
		}
		if err != nil {
			return nil, reschedule(err, "cannot create %s disk", ld.role)
		}
		if ld.role == hypervisor.RoleSwap {
			err = mkfs.FormatSwap(ctx, d.Path)
		} else {
			err = mkfs.FormatEphemeral(ctx, osType, ld.guestFormat, ld.index, d.Path)
		}
		if errors.Is(err, storage.ErrUnsupportedFormat) {
			// The os_type's default format is one this host cannot make (ntfs on FreeBSD): no retry helps here.
			return nil, abort(err, "cannot format %s disk %s", ld.role, d.Name)
		} else if err != nil {
			return nil, reschedule(err, "cannot format %s disk %s", ld.role, d.Name)
		}
		out = append(out, hypervisor.Disk{Role: ld.role, Path: d.Path, Format: d.Format, Bus: ld.bus})
	}
	return out, nil
}

// formatter is the engine's Mkfs; an engine made without one (tests) formats with Nova's defaults.
func (e *engine) formatter() *storage.Mkfs {
	if e.mkfs != nil {
		return e.mkfs
	}
	m, _ := storage.NewMkfs(runtime.GOOS, "", nil) // cannot fail without options
	return m
}

// newMkfs checks [DEFAULT] default_ephemeral_format and virt_mkfs against this host: a format it cannot make or a
// command it cannot run stops the service with the option named.
func newMkfs(cfg *conf.Config) (*storage.Mkfs, error) {
	d := cfg.Default
	if d.DefaultEphemeralFormat != "" {
		if _, err := storage.NewMkfs(runtime.GOOS, d.DefaultEphemeralFormat, nil); err != nil {
			return nil, optionError(cfg, "default_ephemeral_format", err)
		}
	}
	m, err := storage.NewMkfs(runtime.GOOS, d.DefaultEphemeralFormat, d.VirtMkfs)
	if err != nil {
		return nil, optionError(cfg, "virt_mkfs", err)
	}
	return m, nil
}

func optionError(cfg *conf.Config, option string, err error) error {
	loc, _ := cfg.Where("DEFAULT", option)
	return &conf.Error{File: loc.File, Line: loc.Line, Group: "DEFAULT", Option: option, Reason: err.Error()}
}

// diskMB is what an instance of flavor f takes on the host's disk, in MiB: root, ephemeral and swap, as the resource
// tracker's _update_usage adds them to local_gb_used.
func (f flavor) diskMB() int64 {
	return (int64(f.RootGB)+int64(f.EphemeralGB))*1024 + int64(f.SwapMB)
}

// checkStartupMkfs is the startup check of the two formatting options.
func checkStartupMkfs(cfg *conf.Config) error {
	_, err := newMkfs(cfg)
	return err
}
