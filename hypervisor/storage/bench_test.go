package storage

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"testing"
)

// benchImageBytes is the root image size: 1 GiB unless NOVABSD_BENCH_ROOT_MB says.
func benchImageBytes() int64 {
	mb := int64(1024)
	if v := os.Getenv("NOVABSD_BENCH_ROOT_MB"); v != "" {
		fmt.Sscan(v, &mb)
	}
	return mb << 20
}

// fullImage writes a fully allocated image (no holes), the worst case for
// a copy and the usual case for a real root file system.
func fullImage(b *testing.B, path string, size int64) {
	f, err := os.Create(path)
	if err != nil {
		b.Fatal(err)
	}
	defer f.Close()
	buf := make([]byte, 4<<20)
	for i := range buf {
		buf[i] = byte(i*7 + 1)
	}
	for off := int64(0); off < size; off += int64(len(buf)) {
		if _, err := f.WriteAt(buf[:min(int64(len(buf)), size-off)], off); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkCreateRoot times making a root disk from a cached image with
// each backend. The reflink case is skipped, saying why, on filesystems
// without FICLONE (ext4).
func BenchmarkCreateRoot(b *testing.B) {
	ctx := context.Background()
	size := benchImageBytes()
	src := filepath.Join(b.TempDir(), "img.raw")
	fullImage(b, src, size)

	for _, mode := range []CopyMode{CopySparse, CopyAuto} {
		name := map[CopyMode]string{CopySparse: "file-copy", CopyAuto: "file-reflink"}[mode]
		b.Run(name, func(b *testing.B) {
			root := b.TempDir()
			be, err := NewFile(filepath.Join(root, "_base"), filepath.Join(root, "instances"), mode)
			if err != nil {
				b.Fatal(err)
			}
			if err := be.ImportImage(ctx, "img", src); err != nil {
				b.Fatal(err)
			}
			b.SetBytes(size)
			b.ResetTimer()
			for i := range b.N {
				d, err := be.CreateRoot(ctx, fmt.Sprintf("vm%d", i), "img", 0)
				if err != nil {
					b.Fatal(err)
				}
				if mode == CopyAuto && d.Method != "reflink" {
					b.Skipf("filesystem of %s has no reflink (FICLONE); CopyAuto fell back to %s", root, d.Method)
				}
				b.StopTimer()
				be.DeleteInstance(ctx, fmt.Sprintf("vm%d", i))
				b.StartTimer()
			}
		})
	}
	b.Run("zfs-standin-clone", func(b *testing.B) {
		be, _, _ := newZFSForBench(b)
		if err := be.ImportImage(ctx, "img", src); err != nil {
			b.Fatal(err)
		}
		b.SetBytes(size)
		b.ResetTimer()
		for i := range b.N {
			if _, err := be.CreateRoot(ctx, fmt.Sprintf("vm%d", i), "img", 0); err != nil {
				b.Fatal(err)
			}
			b.StopTimer()
			be.DeleteInstance(ctx, fmt.Sprintf("vm%d", i))
			b.StartTimer()
		}
	})
}
