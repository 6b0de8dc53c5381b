package storage

import (
	"os"

	"golang.org/x/sys/unix"
)

// reflink shares src's extents with dst (XFS, Btrfs, bcachefs); other
// filesystems fail with EOPNOTSUPP or EXDEV.
func reflink(dst, src *os.File) error {
	return unix.IoctlFileClone(int(dst.Fd()), int(src.Fd()))
}

// copyRange copies in the kernel with copy_file_range, falling back to
// read/write where the kernel or filesystem pair refuses.
func copyRange(dst, src *os.File, off, n int64) error {
	for n > 0 {
		roff, woff := off, off
		k, err := unix.CopyFileRange(int(src.Fd()), &roff, int(dst.Fd()), &woff, int(min(n, 1<<30)), 0)
		if err != nil || k == 0 {
			return copyRangeBuffered(dst, src, off, n)
		}
		off += int64(k)
		n -= int64(k)
	}
	return nil
}
