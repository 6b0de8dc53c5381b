//go:build linux

package host

import "golang.org/x/sys/unix"

// DiscoverDisk measures the file system holding path (e.g. instances_path).
func DiscoverDisk(path string) (Disk, error) {
	var st unix.Statfs_t
	if err := unix.Statfs(path, &st); err != nil {
		return Disk{}, &DiskError{What: path, Err: err}
	}
	frsize := uint64(st.Frsize)
	if frsize == 0 {
		frsize = uint64(st.Bsize)
	}
	return DiskFromStatfs(frsize, st.Blocks, st.Bfree, st.Bavail), nil
}
