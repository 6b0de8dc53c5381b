package host

import (
	"fmt"

	zfs "github.com/mistifyio/go-zfs/v3"
)

// Disk is the capacity of the storage that holds instance disks.
type Disk struct {
	TotalBytes uint64
	FreeBytes  uint64
	UsedBytes  uint64
}

const gib = 1 << 30

// TotalGB is the capacity in whole GiB, truncated as Nova's int() does for
// ComputeNode.local_gb and the DISK_GB inventory total.
func (d Disk) TotalGB() int64 { return int64(d.TotalBytes / gib) }

// FreeGB is the space available to unprivileged writers, whole GiB.
func (d Disk) FreeGB() int64 { return int64(d.FreeBytes / gib) }

// UsedGB is the space in use, whole GiB.
func (d Disk) UsedGB() int64 { return int64(d.UsedBytes / gib) }

// DiskFromStatfs computes capacity as Nova's libvirt get_fs_info does from
// statvfs: total = frsize*blocks, free = frsize*bavail (space left to
// non-root users), used = frsize*(blocks-bfree).
func DiskFromStatfs(frsize, blocks, bfree, bavail uint64) Disk {
	d := Disk{TotalBytes: frsize * blocks, FreeBytes: frsize * bavail}
	if blocks >= bfree {
		d.UsedBytes = frsize * (blocks - bfree)
	}
	return d
}

// DiskError says which storage could not be measured.
type DiskError struct {
	// What is the path or pool.
	What string
	Err  error
}

func (e *DiskError) Error() string { return "measuring storage " + e.What + ": " + e.Err.Error() }
func (e *DiskError) Unwrap() error { return e.Err }

// DiscoverZFSPool measures a ZFS pool through zfs(8) as usable dataset
// space: total = used + available of the pool's root dataset, free =
// available. Unlike `zpool list` size this excludes parity and reserved
// slop, so it is what guests can actually be given.
func DiscoverZFSPool(pool string) (Disk, error) {
	if pool == "" {
		return Disk{}, &DiskError{What: "zfs pool", Err: fmt.Errorf("no pool name given")}
	}
	ds, err := zfs.GetDataset(pool)
	if err != nil {
		return Disk{}, &DiskError{What: "zfs pool " + pool, Err: err}
	}
	return Disk{TotalBytes: ds.Used + ds.Avail, FreeBytes: ds.Avail, UsedBytes: ds.Used}, nil
}
