package storage

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
)

func TestMain(m *testing.M) {
	code := m.Run()
	if standin.dir != "" {
		os.RemoveAll(standin.dir)
	}
	os.Exit(code)
}

func newFile(t *testing.T, mode CopyMode) (*File, string) {
	t.Helper()
	root := t.TempDir()
	b, err := NewFile(filepath.Join(root, "_base"), filepath.Join(root, "instances"), mode)
	if err != nil {
		t.Fatal(err)
	}
	return b, root
}

func TestFileRootDisk(t *testing.T) {
	ctx := context.Background()
	for _, mode := range []CopyMode{CopyAuto, CopySparse} {
		t.Run(string(mode), func(t *testing.T) {
			b, root := newFile(t, mode)
			src := filepath.Join(root, "img.raw")
			want := writeImage(t, src, 8<<20)
			if err := b.ImportImage(ctx, "img1", src); err != nil {
				t.Fatal(err)
			}
			if ok, err := b.HasImage(ctx, "img1"); !ok || err != nil {
				t.Fatalf("HasImage = %v, %v", ok, err)
			}
			d, err := b.CreateRoot(ctx, "inst-1", "img1", 16<<20)
			if err != nil {
				t.Fatal(err)
			}
			if d.Size != 16<<20 || d.Format != "raw" || d.Name != RootDisk {
				t.Fatalf("disk = %+v", d)
			}
			sameContent(t, d.Path, want)
			fi, _ := os.Stat(d.Path)
			if fi.Size() != 16<<20 {
				t.Fatalf("size %d, want grown to 16 MiB", fi.Size())
			}
			if mode == CopySparse && d.Method != "copy" {
				t.Fatalf("method %q, want copy", d.Method)
			}
			if d.Method == "copy" && allocated(t, d.Path) > 2<<20 {
				t.Fatalf("copy not sparse: %d bytes allocated", allocated(t, d.Path))
			}
		})
	}
}

// TestFileReflinkProbe checks CopyAuto uses a reflink exactly when the
// filesystem of the test directory supports FICLONE.
func TestFileReflinkProbe(t *testing.T) {
	b, root := newFile(t, CopyAuto)
	a, c := filepath.Join(root, "a"), filepath.Join(root, "c")
	writeImage(t, a, 1<<20)
	fa, _ := os.Open(a)
	fc, _ := os.Create(c)
	canReflink := reflink(fc, fa) == nil
	fa.Close()
	fc.Close()
	ctx := context.Background()
	if err := b.ImportImage(ctx, "i", a); err != nil {
		t.Fatal(err)
	}
	d, err := b.CreateRoot(ctx, "x", "i", 0)
	if err != nil {
		t.Fatal(err)
	}
	if want := map[bool]string{true: "reflink", false: "copy"}[canReflink]; d.Method != want {
		t.Fatalf("method %q, want %q (FICLONE supported: %v)", d.Method, want, canReflink)
	}
}

func TestFileImportQCOW2(t *testing.T) {
	if _, err := exec.LookPath("qemu-img"); err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatal("qemu-img required in CI")
		}
		t.Skip("qemu-img not installed (Debian qemu-utils)")
	}
	b, root := newFile(t, CopyAuto)
	raw := filepath.Join(root, "img.raw")
	want := writeImage(t, raw, 4<<20)
	q := filepath.Join(root, "img.qcow2")
	if out, err := exec.Command("qemu-img", "convert", "-c", "-O", "qcow2", raw, q).CombinedOutput(); err != nil {
		t.Fatalf("%v: %s", err, out)
	}
	ctx := context.Background()
	if err := b.ImportImage(ctx, "q", q); err != nil {
		t.Fatal(err)
	}
	d, err := b.CreateRoot(ctx, "i", "q", 0)
	if err != nil {
		t.Fatal(err)
	}
	sameContent(t, d.Path, want)
}

func TestFileErrorsLeaveNothing(t *testing.T) {
	ctx := context.Background()
	b, root := newFile(t, CopyAuto)
	src := filepath.Join(root, "img.raw")
	writeImage(t, src, 4<<20)
	if err := b.ImportImage(ctx, "img", src); err != nil {
		t.Fatal(err)
	}
	cancelled, cancel := context.WithCancel(ctx)
	cancel()
	cases := []struct {
		name string
		do   func() error
		want error
	}{
		{"too small", func() error { _, err := b.CreateRoot(ctx, "a", "img", 1<<20); return err }, ErrDiskTooSmall},
		{"not cached", func() error { _, err := b.CreateRoot(ctx, "a", "nope", 0); return err }, ErrImageNotCached},
		{"bad instance", func() error { _, err := b.CreateRoot(ctx, "../x", "img", 0); return err }, ErrInvalidName},
		{"bad image", func() error { _, err := b.CreateRoot(ctx, "a", "a/b", 0); return err }, ErrInvalidName},
		{"zero swap", func() error { _, err := b.CreateSwap(ctx, "a", 0); return err }, ErrInvalidSize},
		{"cancelled copy", func() error {
			c := *b
			c.Mode = CopySparse
			_, err := c.CreateRoot(cancelled, "a", "img", 0)
			return err
		}, context.Canceled},
		{"corrupt import", func() error {
			bad := filepath.Join(root, "bad.qcow2")
			os.WriteFile(bad, []byte("QFI\xfb\x00\x00\x00\x09"+string(make([]byte, 200))), 0o644)
			return b.ImportImage(ctx, "bad", bad)
		}, nil},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.do()
			if err == nil || (tc.want != nil && !errors.Is(err, tc.want)) {
				t.Fatalf("err = %v, want %v", err, tc.want)
			}
			if _, err := os.Stat(filepath.Join(b.InstancesDir, "a")); !errors.Is(err, os.ErrNotExist) {
				t.Fatalf("instance directory left behind (%v)", err)
			}
			ents, _ := os.ReadDir(b.ImageDir)
			if len(ents) != 1 {
				t.Fatalf("image cache holds %d entries, want only img.raw", len(ents))
			}
		})
	}
}

func TestFileInstanceLifecycle(t *testing.T) {
	ctx := context.Background()
	b, root := newFile(t, CopyAuto)
	src := filepath.Join(root, "img.raw")
	writeImage(t, src, 1<<20)
	if err := b.ImportImage(ctx, "img", src); err != nil {
		t.Fatal(err)
	}
	if _, err := b.CreateRoot(ctx, "vm1", "img", 0); err != nil {
		t.Fatal(err)
	}
	if _, err := b.CreateRoot(ctx, "vm1", "img", 0); !errors.Is(err, ErrDiskExists) {
		t.Fatalf("second root: %v, want ErrDiskExists", err)
	}
	e, err := b.CreateEphemeral(ctx, "vm1", 0, 1<<30)
	if err != nil {
		t.Fatal(err)
	}
	if allocated(t, e.Path) != 0 {
		t.Fatal("ephemeral disk is not sparse")
	}
	if _, err := b.CreateSwap(ctx, "vm1", 64<<20); err != nil {
		t.Fatal(err)
	}
	if _, err := b.CreateSwap(ctx, "vm2", 64<<20); err != nil {
		t.Fatal(err)
	}
	disks, err := b.Disks(ctx, "vm1")
	if err != nil || len(disks) != 3 {
		t.Fatalf("Disks = %v, %v; want 3", disks, err)
	}
	insts, err := b.Instances(ctx)
	if err != nil || len(insts) != 2 || insts[0] != "vm1" || insts[1] != "vm2" {
		t.Fatalf("Instances = %v, %v", insts, err)
	}
	// The driver's files stay; the directory goes only once empty.
	other := filepath.Join(b.InstancesDir, "vm1", "console.log")
	os.WriteFile(other, []byte("x"), 0o644)
	if err := b.DeleteInstance(ctx, "vm1"); err != nil {
		t.Fatal(err)
	}
	if d, _ := b.Disks(ctx, "vm1"); len(d) != 0 {
		t.Fatalf("disks left: %v", d)
	}
	if _, err := os.Stat(other); err != nil {
		t.Fatalf("DeleteInstance removed a non-disk file: %v", err)
	}
	if err := b.DeleteInstance(ctx, "vm2"); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(b.InstancesDir, "vm2")); !errors.Is(err, os.ErrNotExist) {
		t.Fatal("empty instance directory not removed")
	}
	if err := b.DeleteInstance(ctx, "never"); err != nil {
		t.Fatalf("deleting unknown instance: %v", err)
	}
}
