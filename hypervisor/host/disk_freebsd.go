//go:build freebsd

package host

import "golang.org/x/sys/unix"

// DiscoverDisk measures the file system holding path (e.g. instances_path).
func DiscoverDisk(path string) (Disk, error) {
	var st unix.Statfs_t
	if err := unix.Statfs(path, &st); err != nil {
		return Disk{}, &DiskError{What: path, Err: err}
	}
	// statfs(2): f_blocks counts f_bsize units; f_bavail goes negative when
	// root eats into the reserve.
	bavail := uint64(0)
	if st.Bavail > 0 {
		bavail = uint64(st.Bavail)
	}
	return DiskFromStatfs(st.Bsize, st.Blocks, st.Bfree, bavail), nil
}
