package qcow2

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"syscall"
	"testing"
)

func TestConvertMatchesQemuImg(t *testing.T) {
	needTool(t, "qemu-img")
	dir := t.TempDir()
	raw := filepath.Join(dir, "src.raw")
	patternedRaw(t, raw, 5<<20+12345*512, 1)
	cases := []struct {
		name string
		args []string
	}{
		{"v3 default", []string{"-o", "compat=1.1"}},
		{"v2", []string{"-o", "compat=0.10"}},
		{"compressed 64k", []string{"-c"}},
		{"compressed 4k clusters", []string{"-c", "-o", "cluster_size=4096"}},
		{"compressed 2M clusters", []string{"-c", "-o", "cluster_size=2M"}},
		{"512-byte clusters", []string{"-o", "cluster_size=512"}},
		{"extended L2", []string{"-o", "extended_l2=on,cluster_size=128k"}},
		{"preallocated metadata", []string{"-o", "preallocation=metadata"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			img := filepath.Join(t.TempDir(), "img.qcow2")
			run(t, "qemu-img", append(append([]string{"convert", "-f", "raw", "-O", "qcow2"}, tc.args...), raw, img)...)
			checkConvert(t, img, FileOptions{})
		})
	}
}

// checkConvert converts img with ConvertFile and compares it with qemu-img's
// raw output, and also checks the output is sparse where the guest is zero.
func checkConvert(t *testing.T, img string, opts FileOptions) {
	t.Helper()
	want := qemuRaw(t, img)
	out := filepath.Join(t.TempDir(), "out.raw")
	st, err := ConvertFile(context.Background(), img, out, opts)
	if err != nil {
		t.Fatal(err)
	}
	got, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != len(want) || !bytes.Equal(got, want) {
		t.Fatalf("output differs from qemu-img: len %d vs %d, first difference at byte %d", len(got), len(want), firstDiff(got, want))
	}
	if st.Size != int64(len(want)) {
		t.Errorf("stats size %d, want %d", st.Size, len(want))
	}
	var zero int64
	for i := 0; i < len(want); i += zeroBlock {
		if bytes.Equal(want[i:min(i+zeroBlock, len(want))], zeros[:min(zeroBlock, len(want)-i)]) {
			zero += int64(min(zeroBlock, len(want)-i))
		}
	}
	if st.Written != int64(len(want))-zero {
		t.Errorf("wrote %d bytes, want exactly the %d non-zero bytes", st.Written, int64(len(want))-zero)
	}
	fi, _ := os.Stat(out)
	if blocks := fi.Sys().(*syscall.Stat_t).Blocks * 512; zero > 1<<20 && blocks >= fi.Size() {
		t.Errorf("output not sparse: %d bytes allocated of %d", blocks, fi.Size())
	}
}

func TestReadAtMatchesQemuImg(t *testing.T) {
	needTool(t, "qemu-img")
	dir := t.TempDir()
	raw := filepath.Join(dir, "src.raw")
	patternedRaw(t, raw, 3<<20, 2)
	img := filepath.Join(dir, "c.qcow2")
	run(t, "qemu-img", "convert", "-c", "-O", "qcow2", raw, img)
	want := qemuRaw(t, img)
	f, err := OpenFile(img, FileOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	// Odd offsets and lengths straddle clusters of different kinds.
	for _, r := range []struct{ off, n int64 }{{0, 1}, {65535, 3}, {12345, 200000}, {3<<20 - 7, 7}, {1 << 20, 1 << 20}} {
		p := make([]byte, r.n)
		if _, err := f.ReadAt(p, r.off); err != nil {
			t.Fatalf("ReadAt(%d, %d): %v", r.off, r.n, err)
		}
		if !bytes.Equal(p, want[r.off:r.off+r.n]) {
			t.Errorf("ReadAt(%d, %d) differs at %d", r.off, r.n, firstDiff(p, want[r.off:]))
		}
	}
	if n, err := f.ReadAt(make([]byte, 10), 3<<20-4); n != 4 || err == nil {
		t.Errorf("read past end: n=%d err=%v, want 4 and io.EOF", n, err)
	}
}

func TestBackingChains(t *testing.T) {
	needTool(t, "qemu-img")
	needTool(t, "qemu-io")
	dir := t.TempDir()
	raw := filepath.Join(dir, "base.raw")
	patternedRaw(t, raw, 2<<20, 3)
	base := filepath.Join(dir, "base.qcow2")
	run(t, "qemu-img", "convert", "-c", "-O", "qcow2", raw, base)
	// mid: qcow2 overlay with data and zero clusters over the compressed base.
	mid := filepath.Join(dir, "mid.qcow2")
	run(t, "qemu-img", "create", "-q", "-f", "qcow2", "-b", "base.qcow2", "-F", "qcow2", mid)
	run(t, "qemu-io", "-c", "write -P 0xab 100k 200k", "-c", "write -z 1M 128k", mid)
	// top: larger than its backing file, so the tail reads as zeros; raw backing format.
	top := filepath.Join(dir, "top.qcow2")
	run(t, "qemu-img", "create", "-q", "-f", "qcow2", "-b", "mid.qcow2", "-F", "qcow2", top, "3M")
	run(t, "qemu-io", "-c", "write -P 0x5a 1500k 4k", "-c", "write -P 0x11 2600k 10k", top)
	rawTop := filepath.Join(dir, "rawtop.qcow2")
	run(t, "qemu-img", "create", "-q", "-f", "qcow2", "-b", "base.raw", "-F", "raw", rawTop)
	run(t, "qemu-io", "-c", "write -P 0x77 0 4k", rawTop)

	// ext: extended L2 overlay whose partial writes leave clusters with
	// allocated, zero and unallocated (backing) subclusters side by side.
	ext := filepath.Join(dir, "ext.qcow2")
	run(t, "qemu-img", "create", "-q", "-f", "qcow2", "-o", "extended_l2=on,cluster_size=128k", "-b", "base.qcow2", "-F", "qcow2", ext)
	run(t, "qemu-io", "-c", "write -P 0x42 4k 4k", "-c", "write -z 64k 8k", "-c", "write -P 0x43 300k 12k", ext)

	for _, img := range []string{mid, top, rawTop, ext} {
		t.Run(filepath.Base(img), func(t *testing.T) { checkConvert(t, img, FileOptions{BackingDir: dir}) })
	}

	t.Run("refused without BackingDir", func(t *testing.T) {
		_, err := OpenFile(top, FileOptions{})
		if !errors.Is(err, ErrBackingRefused) {
			t.Fatalf("err = %v, want ErrBackingRefused", err)
		}
	})
	t.Run("refused outside BackingDir", func(t *testing.T) {
		other := t.TempDir()
		evil := filepath.Join(other, "evil.qcow2")
		run(t, "qemu-img", "create", "-q", "-f", "qcow2", "-b", base, "-F", "qcow2", evil)
		_, err := OpenFile(evil, FileOptions{BackingDir: other})
		if !errors.Is(err, ErrBackingRefused) {
			t.Fatalf("err = %v, want ErrBackingRefused", err)
		}
	})
	t.Run("loop", func(t *testing.T) {
		d := t.TempDir()
		a, b := filepath.Join(d, "a.qcow2"), filepath.Join(d, "b.qcow2")
		run(t, "qemu-img", "create", "-q", "-f", "qcow2", a, "1M")
		run(t, "qemu-img", "create", "-q", "-f", "qcow2", "-b", "a.qcow2", "-F", "qcow2", b)
		// Point a at b behind qemu-img's back: rebase -u does not check loops.
		run(t, "qemu-img", "rebase", "-u", "-b", "b.qcow2", "-F", "qcow2", a)
		_, err := OpenFile(b, FileOptions{BackingDir: d})
		if !errors.Is(err, ErrCorrupt) {
			t.Fatalf("err = %v, want ErrCorrupt for a backing loop", err)
		}
	})
}

func TestConvertFileLeavesNothingOnFailure(t *testing.T) {
	dir := t.TempDir()
	bad := filepath.Join(dir, "bad.qcow2")
	img := buildImage(t, imageSpec{clusterBits: 16, size: 1 << 20, l2: map[int]uint64{0: 1 << 40}})
	if err := os.WriteFile(bad, img, 0o644); err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(dir, "out", "x.raw")
	os.Mkdir(filepath.Dir(out), 0o755)
	if _, err := ConvertFile(context.Background(), bad, out, FileOptions{}); !errors.Is(err, ErrCorrupt) {
		t.Fatalf("err = %v, want ErrCorrupt", err)
	}
	if ents, _ := os.ReadDir(filepath.Dir(out)); len(ents) != 0 {
		t.Fatalf("left behind: %v", ents)
	}
}

func TestDetect(t *testing.T) {
	cases := []struct {
		data []byte
		want Format
	}{
		{[]byte("QFI\xfb\x00\x00\x00\x03"), FormatQCOW2},
		{[]byte("KDMV...."), FormatVMDK},
		{[]byte("vhdxfile"), FormatVHDX},
		{append(make([]byte, 64), 0x7f, 0x10, 0xda, 0xbe), FormatVDI},
		{make([]byte, 512), FormatRaw},
		{nil, FormatRaw},
	}
	for _, tc := range cases {
		got, err := Detect(bytes.NewReader(tc.data))
		if err != nil || got != tc.want {
			t.Errorf("Detect(%q) = %v, %v; want %v", tc.data[:min(len(tc.data), 8)], got, err, tc.want)
		}
	}
}

func TestMain(m *testing.M) {
	code := m.Run()
	if benchImages.dir != "" {
		os.RemoveAll(benchImages.dir)
	}
	os.Exit(code)
}
