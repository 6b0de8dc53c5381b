package images

import (
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"syscall"
	"testing"
)

// sparseQCOW2 writes a qcow2 of virtual bytes holding 1 MiB of random data at 2 GiB and returns its path; the
// file itself stays a few hundred KiB.
func sparseQCOW2(t *testing.T, virtual int64) (string, []byte) {
	t.Helper()
	qi := qemuImg(t)
	dir := t.TempDir()
	rawPath := filepath.Join(dir, "disk.raw")
	f, err := os.Create(rawPath)
	if err != nil {
		t.Fatal(err)
	}
	data := randomBytes(t, 1<<20)
	if _, err := f.WriteAt(data, 2<<30); err != nil {
		t.Fatal(err)
	}
	if err := f.Truncate(virtual); err != nil {
		t.Fatal(err)
	}
	f.Close()
	qPath := filepath.Join(dir, "disk.qcow2")
	if out, err := exec.Command(qi, "convert", "-f", "raw", "-O", "qcow2", rawPath, qPath).CombinedOutput(); err != nil {
		t.Fatalf("qemu-img convert: %v: %s", err, out)
	}
	os.Remove(rawPath)
	return qPath, data
}

func TestVirtualSizeAndCheckFits(t *testing.T) {
	q, _ := sparseQCOW2(t, 4<<30)
	if fi, err := os.Stat(q); err != nil || fi.Size() > 4<<20 {
		t.Fatalf("test image %v %v: want a small file", fi, err)
	}
	raw := filepath.Join(t.TempDir(), "disk.raw")
	if err := os.WriteFile(raw, make([]byte, 3<<20), 0o644); err != nil {
		t.Fatal(err)
	}
	const gib = int64(1) << 30
	tests := []struct {
		name    string
		path    string
		disk    int64
		virtual int64
		wantErr bool
	}{
		{"qcow2 larger than the flavor's disk", q, 1 * gib, 4 * gib, true},
		{"qcow2 exactly the flavor's disk", q, 4 * gib, 4 * gib, false},
		{"root_gb 0 is not checked", q, 0, 4 * gib, false},
		{"raw smaller than the flavor's disk", raw, 1 * gib, 3 << 20, false},
		{"raw larger than a tiny disk", raw, 1 << 20, 3 << 20, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			v, err := VirtualSize(tc.path)
			if err != nil || v != tc.virtual {
				t.Fatalf("VirtualSize = %d, %v; want %d", v, err, tc.virtual)
			}
			err = CheckFits("img", tc.disk, v)
			if (err != nil) != tc.wantErr {
				t.Fatalf("CheckFits(%d, %d) = %v, want error %v", tc.disk, v, err, tc.wantErr)
			}
			if err == nil {
				return
			}
			var de *DiskTooSmallError
			if !errors.Is(err, ErrDiskTooSmall) || !errors.As(err, &de) || de.DiskSize != tc.disk || de.ImageSize != v {
				t.Fatalf("error %#v is not the typed refusal", err)
			}
			want := "Flavor's disk is too small for requested image. Flavor disk is " +
				itoa(tc.disk) + " bytes, image is " + itoa(v) + " bytes."
			if err.Error() != want {
				t.Fatalf("message %q\nwant    %q", err, want)
			}
		})
	}
	if _, err := VirtualSize(filepath.Join(t.TempDir(), "missing")); err == nil {
		t.Fatal("VirtualSize of a missing file succeeded")
	}
}

func itoa(n int64) string { return strconv.FormatInt(n, 10) }

// TestForceRawCacheStaysThin fetches a 4 GiB-virtual qcow2 holding 1 MiB of data with force_raw_images: the
// converted cache file reads as 4 GiB but only its data is allocated.
func TestForceRawCacheStaysThin(t *testing.T) {
	q, data := sparseQCOW2(t, 4<<30)
	qdata, err := os.ReadFile(q)
	if err != nil {
		t.Fatal(err)
	}
	f := newFakeGlance(t)
	f.addImage("q", "qcow2", qdata)
	c := newTestCache(t, CacheOptions{ForceRaw: true})
	e, err := c.FetchEntry(t.Context(), "q", f.client(t, nil))
	if err != nil {
		t.Fatal(err)
	}
	fi, err := os.Stat(e.Path)
	if err != nil {
		t.Fatal(err)
	}
	blocks := fi.Sys().(*syscall.Stat_t).Blocks * 512
	if fi.Size() != 4<<30 || blocks > 8<<20 {
		t.Fatalf("cached raw file: size %d, %d bytes allocated; want 4 GiB with about 1 MiB allocated", fi.Size(), blocks)
	}
	got := make([]byte, len(data))
	rf, err := os.Open(e.Path)
	if err != nil {
		t.Fatal(err)
	}
	defer rf.Close()
	if _, err := rf.ReadAt(got, 2<<30); err != nil || string(got) != string(data) {
		t.Fatalf("data at 2 GiB differs after conversion (%v)", err)
	}
}
