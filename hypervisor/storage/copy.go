package storage

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"

	"golang.org/x/sys/unix"
)

// cloneFile fills dst with the first size bytes of src, sharing extents
// when mode allows and the filesystem can, else copying only src's data
// extents so holes stay holes. It returns the method used.
func cloneFile(ctx context.Context, dst, src *os.File, size int64, mode CopyMode) (string, error) {
	if mode == CopyAuto {
		if err := reflink(dst, src); err == nil {
			return "reflink", nil
		}
	}
	return "copy", sparseCopy(ctx, dst, src, size)
}

// sparseCopy walks src's data extents with SEEK_DATA/SEEK_HOLE.
func sparseCopy(ctx context.Context, dst, src *os.File, size int64) error {
	for off := int64(0); off < size; {
		if err := ctx.Err(); err != nil {
			return err
		}
		data, err := src.Seek(off, unix.SEEK_DATA)
		if errors.Is(err, unix.ENXIO) {
			return nil // only a hole remains
		} else if err != nil {
			// No SEEK_DATA support: treat the rest as one data extent.
			data = off
		}
		hole, err := src.Seek(data, unix.SEEK_HOLE)
		if err != nil || hole > size {
			hole = size
		}
		if err := copyRange(dst, src, data, hole-data); err != nil {
			return fmt.Errorf("copying bytes %d-%d: %w", data, hole, err)
		}
		off = hole
	}
	return nil
}

// copyRangeBuffered is the portable fallback of copyRange.
func copyRangeBuffered(dst, src *os.File, off, n int64) error {
	buf := make([]byte, 1<<20)
	for n > 0 {
		k := min(int64(len(buf)), n)
		if _, err := io.ReadFull(io.NewSectionReader(src, off, k), buf[:k]); err != nil {
			return err
		}
		if _, err := dst.WriteAt(buf[:k], off); err != nil {
			return err
		}
		off += k
		n -= k
	}
	return nil
}
