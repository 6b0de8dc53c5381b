//go:build !linux

package storage

import (
	"os"

	"golang.org/x/sys/unix"
)

// reflink is Linux-only (FICLONE); elsewhere the sparse copy is used.
func reflink(dst, src *os.File) error { return unix.EOPNOTSUPP }

func copyRange(dst, src *os.File, off, n int64) error {
	return copyRangeBuffered(dst, src, off, n)
}
