package host

import (
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"testing"
)

func TestDiskFromStatfs(t *testing.T) {
	tests := []struct {
		name                        string
		frsize, blocks, bfree, bavl uint64
		want                        Disk
		totalGB, freeGB, usedGB     int64
	}{
		{"ext4 with root reserve", 4096, 26214400, 13107200, 11796480,
			Disk{TotalBytes: 107374182400, FreeBytes: 48318382080, UsedBytes: 53687091200}, 100, 45, 50},
		{"just under a GiB truncates", 1024, 1048575, 0, 0,
			Disk{TotalBytes: 1073740800, UsedBytes: 1073740800}, 0, 0, 0},
		{"bfree above blocks is not negative", 512, 10, 20, 5, Disk{TotalBytes: 5120, FreeBytes: 2560}, 0, 0, 0},
	}
	for _, tt := range tests {
		got := DiskFromStatfs(tt.frsize, tt.blocks, tt.bfree, tt.bavl)
		if got != tt.want || got.TotalGB() != tt.totalGB || got.FreeGB() != tt.freeGB || got.UsedGB() != tt.usedGB {
			t.Errorf("%s: got %+v (%d/%d/%d GB), want %+v (%d/%d/%d GB)", tt.name, got,
				got.TotalGB(), got.FreeGB(), got.UsedGB(), tt.want, tt.totalGB, tt.freeGB, tt.usedGB)
		}
	}
}

// TestDiscoverDiskMatchesDF compares with df(1), which reads the same
// statvfs fields independently.
func TestDiscoverDiskMatchesDF(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("df --output is GNU coreutils")
	}
	dir := t.TempDir()
	out, err := exec.Command("df", "-B1", "--output=size,avail", dir).Output()
	if err != nil {
		t.Fatalf("df: %v", err)
	}
	lines := strings.Split(strings.TrimSpace(string(out)), "\n")
	f := strings.Fields(lines[len(lines)-1])
	size, _ := strconv.ParseUint(f[0], 10, 64)
	avail, _ := strconv.ParseUint(f[1], 10, 64)

	d, err := DiscoverDisk(dir)
	if err != nil {
		t.Fatal(err)
	}
	if d.TotalBytes != size {
		t.Errorf("total %d bytes, df says %d", d.TotalBytes, size)
	}
	// Other writers share the disk; allow 256 MiB of drift between reads.
	if diff := int64(d.FreeBytes) - int64(avail); diff > 256<<20 || diff < -256<<20 {
		t.Errorf("free %d bytes, df says %d", d.FreeBytes, avail)
	}
	if d.UsedBytes > d.TotalBytes {
		t.Errorf("used %d above total %d", d.UsedBytes, d.TotalBytes)
	}

	_, err = DiscoverDisk(filepath.Join(dir, "missing"))
	var de *DiskError
	if !errors.As(err, &de) || !strings.Contains(err.Error(), "missing") {
		t.Errorf("missing path: error %v, want DiskError naming the path", err)
	}
}

// TestDiscoverZFSPool runs go-zfs against the zfs(8) stand-in in
// testdata/zfs-standin (real zfs cannot run here).
func TestDiscoverZFSPool(t *testing.T) {
	standin, err := filepath.Abs("testdata/zfs-standin")
	if err != nil {
		t.Fatal(err)
	}
	t.Setenv("PATH", standin+string(os.PathListSeparator)+os.Getenv("PATH"))

	d, err := DiscoverZFSPool("tank")
	if err != nil {
		t.Fatal(err)
	}
	want := Disk{TotalBytes: 536870912000, FreeBytes: 429496729600, UsedBytes: 107374182400}
	if d != want || d.TotalGB() != 500 || d.FreeGB() != 400 || d.UsedGB() != 100 {
		t.Errorf("got %+v, want %+v (500/400/100 GB)", d, want)
	}

	for _, pool := range []string{"nopool", ""} {
		_, err = DiscoverZFSPool(pool)
		var de *DiskError
		if !errors.As(err, &de) {
			t.Errorf("pool %q: error %v, want *DiskError", pool, err)
		}
		if pool != "" && !strings.Contains(err.Error(), "zfs pool nopool") {
			t.Errorf("error %q does not name the pool", err)
		}
	}
}
