package qcow2

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
)

const (
	convertChunk = 1 << 20 // bytes per read: memory stays bounded by this
	zeroBlock    = 4096    // holes are punched at this granularity
)

var zeros [zeroBlock]byte

// ConvertStats reports what a conversion did.
type ConvertStats struct {
	Size    int64 // guest size, the length of the raw output
	Written int64 // bytes actually written; the rest is holes
}

// ToRaw writes the guest view of src to dst at the same offsets, skipping
// unallocated and all-zero ranges so a file destination stays sparse. dst must
// read as zeros where nothing is written (a new file or a new zvol). When dst
// has a Truncate method it is sized to src first.
func ToRaw(ctx context.Context, src Source, dst io.WriterAt) (ConvertStats, error) {
	size := src.Size()
	st := ConvertStats{Size: size}
	if t, ok := dst.(interface{ Truncate(int64) error }); ok {
		if err := t.Truncate(size); err != nil {
			return st, fmt.Errorf("qcow2: sizing destination to %d: %w", size, err)
		}
	}
	var img *Image
	switch s := src.(type) {
	case *Image:
		img = s
	case *File:
		img = s.img
	}
	buf := make([]byte, convertChunk)
	for off := int64(0); off < size; {
		if err := ctx.Err(); err != nil {
			return st, err
		}
		n := min(int64(convertChunk), size-off)
		if img != nil {
			m, err := img.lookup(uint64(off))
			if err != nil {
				return st, err
			}
			if m.kind == kindZero || (m.kind == kindUnallocated && img.backing == nil) {
				off += int64(m.n)
				continue
			}
			n = min(n, int64(m.n))
		}
		p := buf[:n]
		if k, err := src.ReadAt(p, off); int64(k) < n {
			return st, fmt.Errorf("qcow2: reading guest offset %#x: %w", off, err)
		}
		w, err := writeNonZero(dst, p, off)
		st.Written += w
		if err != nil {
			return st, err
		}
		off += n
	}
	return st, nil
}

// writeNonZero writes the non-zero blocks of p, coalesced into runs.
func writeNonZero(dst io.WriterAt, p []byte, off int64) (int64, error) {
	var written int64
	start := -1
	flush := func(end int) error {
		if start < 0 {
			return nil
		}
		if _, err := dst.WriteAt(p[start:end], off+int64(start)); err != nil {
			return fmt.Errorf("qcow2: writing at %#x: %w", off+int64(start), err)
		}
		written += int64(end - start)
		start = -1
		return nil
	}
	for i := 0; i < len(p); i += zeroBlock {
		end := min(i+zeroBlock, len(p))
		if bytes.Equal(p[i:end], zeros[:end-i]) {
			if err := flush(i); err != nil {
				return written, err
			}
		} else if start < 0 {
			start = i
		}
	}
	return written, flush(len(p))
}

// ConvertFile converts the image at srcPath (raw or qcow2) to a sparse raw
// file at dstPath. The output appears atomically: it is written to a
// temporary file in the same directory and renamed, and removed on failure.
func ConvertFile(ctx context.Context, srcPath, dstPath string, opts FileOptions) (ConvertStats, error) {
	src, err := OpenFile(srcPath, opts)
	if err != nil {
		return ConvertStats{}, err
	}
	defer src.Close()
	tmp, err := os.CreateTemp(filepath.Dir(dstPath), "."+filepath.Base(dstPath)+".*.part")
	if err != nil {
		return ConvertStats{}, fmt.Errorf("qcow2: creating output: %w", err)
	}
	ok := false
	defer func() {
		if !ok {
			tmp.Close()
			os.Remove(tmp.Name())
		}
	}()
	st, err := ToRaw(ctx, src, tmp)
	if err != nil {
		return st, fmt.Errorf("qcow2: converting %s: %w", srcPath, err)
	}
	if err := tmp.Close(); err != nil {
		return st, fmt.Errorf("qcow2: closing output: %w", err)
	}
	if err := os.Rename(tmp.Name(), dstPath); err != nil {
		return st, fmt.Errorf("qcow2: publishing %s: %w", dstPath, err)
	}
	ok = true
	return st, nil
}
