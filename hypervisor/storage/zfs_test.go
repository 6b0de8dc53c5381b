package storage

import (
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"sort"
	"testing"
	"time"
)

// datasets reads the stand-in's state: dataset name -> origin.
func datasets(t *testing.T, stateFile string) map[string]string {
	t.Helper()
	var st struct {
		Datasets map[string]struct{ Origin string }
	}
	b, err := os.ReadFile(stateFile)
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, &st); err != nil {
		t.Fatal(err)
	}
	out := map[string]string{}
	for n, d := range st.Datasets {
		out[n] = d.Origin
	}
	return out
}

func names(m map[string]string) []string {
	var out []string
	for n := range m {
		out = append(out, n)
	}
	sort.Strings(out)
	return out
}

func newZFS(t *testing.T) (*ZFS, string, string) { return newZFSForBench(t) }

func newZFSForBench(t testing.TB) (*ZFS, string, string) {
	t.Helper()
	devDir, state := useStandinZFS(t)
	b, err := NewZFS("tank/nova")
	if err == nil {
		t.Fatal("NewZFS succeeded on a missing root dataset")
	}
	if err := os.WriteFile(state, []byte(`{"datasets":{"tank":{"type":"filesystem"},"tank/nova":{"type":"filesystem"}}}`), 0o644); err != nil {
		t.Fatal(err)
	}
	if b, err = NewZFS("tank/nova"); err != nil {
		t.Fatal(err)
	}
	b.DevDir, b.DeviceWait = devDir, time.Second
	return b, devDir, state
}

func TestZFSImageAndClones(t *testing.T) {
	ctx := context.Background()
	b, _, state := newZFS(t)
	src := filepath.Join(t.TempDir(), "img.raw")
	want := writeImage(t, src, 3<<20+4096) // not a multiple of volAlign
	if err := b.ImportImage(ctx, "img", src); err != nil {
		t.Fatal(err)
	}
	sameContent(t, b.DevicePath("tank/nova/images/img"), want)
	if err := b.ImportImage(ctx, "img", src); err != nil {
		t.Fatalf("re-import: %v", err)
	}
	root, err := b.CreateRoot(ctx, "vm1", "img", 10<<20)
	if err != nil {
		t.Fatal(err)
	}
	if root.Path != b.DevicePath("tank/nova/instances/vm1/disk") || root.Method != "clone" || root.Size != 10<<20 {
		t.Fatalf("root = %+v", root)
	}
	if o := datasets(t, state)["tank/nova/instances/vm1/disk"]; o != "tank/nova/images/img@base" {
		t.Fatalf("root disk origin %q, want the image snapshot", o)
	}
	if fi, err := os.Stat(root.Path); err != nil || fi.Size() != 10<<20 {
		t.Fatalf("clone device not grown to 10 MiB: %v %v", fi, err)
	}
	if _, err := b.CreateEphemeral(ctx, "vm1", 0, 1<<30); err != nil {
		t.Fatal(err)
	}
	if _, err := b.CreateSwap(ctx, "vm1", 512<<20); err != nil {
		t.Fatal(err)
	}
	disks, err := b.Disks(ctx, "vm1")
	if err != nil || len(disks) != 3 {
		t.Fatalf("Disks = %+v, %v", disks, err)
	}
	if insts, err := b.Instances(ctx); err != nil || len(insts) != 1 || insts[0] != "vm1" {
		t.Fatalf("Instances = %v, %v", insts, err)
	}
	if _, err := b.CreateRoot(ctx, "vm1", "img", 0); !errors.Is(err, ErrDiskExists) {
		t.Fatalf("second root: %v", err)
	}
	if _, err := b.CreateRoot(ctx, "vm2", "img", 1<<20); !errors.Is(err, ErrDiskTooSmall) {
		t.Fatalf("small root: %v", err)
	}
	if _, err := b.CreateRoot(ctx, "vm2", "other", 0); !errors.Is(err, ErrImageNotCached) {
		t.Fatalf("uncached: %v", err)
	}
	if err := b.DeleteImage(ctx, "img"); !errors.Is(err, ErrImageInUse) {
		t.Fatalf("DeleteImage with a clone: %v, want ErrImageInUse", err)
	}
	if err := b.DeleteInstance(ctx, "vm1"); err != nil {
		t.Fatal(err)
	}
	if err := b.DeleteInstance(ctx, "vm1"); err != nil {
		t.Fatalf("second delete: %v", err)
	}
	if err := b.DeleteImage(ctx, "img"); err != nil {
		t.Fatal(err)
	}
	got := names(datasets(t, state))
	want2 := []string{"tank", "tank/nova", "tank/nova/images", "tank/nova/instances"}
	if len(got) != len(want2) {
		t.Fatalf("datasets left: %v, want %v", got, want2)
	}
	var left []string
	filepath.WalkDir(b.DevDir, func(p string, d os.DirEntry, err error) error {
		if err == nil && d.Type().IsRegular() {
			left = append(left, p)
		}
		return nil
	})
	if len(left) != 0 {
		t.Fatalf("device nodes left: %v", left)
	}
}

// TestZFSFailureLeavesNothing injects a failure into each zfs step and
// checks every earlier step was undone.
func TestZFSFailureLeavesNothing(t *testing.T) {
	ctx := context.Background()
	cases := []struct {
		fail string
		op   func(b *ZFS, src string) error
	}{
		{"clone", func(b *ZFS, _ string) error { _, err := b.CreateRoot(ctx, "vm", "img", 0); return err }},
		{"set:volsize", func(b *ZFS, _ string) error { _, err := b.CreateRoot(ctx, "vm", "img", 64<<20); return err }},
		{"create", func(b *ZFS, _ string) error { _, err := b.CreateSwap(ctx, "vm", 1<<20); return err }},
		{"snapshot", func(b *ZFS, src string) error { return b.ImportImage(ctx, "img2", src) }},
	}
	for _, tc := range cases {
		t.Run(tc.fail, func(t *testing.T) {
			b, _, state := newZFS(t)
			src := filepath.Join(t.TempDir(), "img.raw")
			writeImage(t, src, 1<<20)
			if err := b.ImportImage(ctx, "img", src); err != nil {
				t.Fatal(err)
			}
			before := names(datasets(t, state))
			if tc.fail == "create" {
				// The instance dataset itself is made by create: fail only
				// the volume by making the instance exist first.
				if _, err := b.CreateEphemeral(ctx, "vm", 0, 1<<20); err != nil {
					t.Fatal(err)
				}
				before = names(datasets(t, state))
			}
			t.Setenv("ZFS_STANDIN_FAIL", tc.fail)
			if err := tc.op(b, src); err == nil {
				t.Fatal("operation succeeded despite the injected failure")
			}
			after := names(datasets(t, state))
			if len(after) != len(before) {
				t.Fatalf("datasets after failure %v, before %v", after, before)
			}
		})
	}
}

// TestZFSVolumesAreThin checks that no zvol the backend creates reserves its whole size: an image zvol of a
// mostly empty image must cost what its data costs (zfs create -s, i.e. refreservation=none), as must blank
// ephemeral and swap disks; root disks are clones, which reserve nothing.
func TestZFSVolumesAreThin(t *testing.T) {
	ctx := context.Background()
	b, _, state := newZFS(t)
	src := filepath.Join(t.TempDir(), "img.raw")
	writeImage(t, src, 256<<20)
	if err := b.ImportImage(ctx, "img", src); err != nil {
		t.Fatal(err)
	}
	if _, err := b.CreateRoot(ctx, "vm1", "img", 1<<30); err != nil {
		t.Fatal(err)
	}
	if _, err := b.CreateEphemeral(ctx, "vm1", 0, 1<<30); err != nil {
		t.Fatal(err)
	}
	if _, err := b.CreateSwap(ctx, "vm1", 512<<20); err != nil {
		t.Fatal(err)
	}
	var st struct {
		Datasets map[string]struct {
			Type   string
			Origin string
			Props  map[string]string
		}
	}
	raw, err := os.ReadFile(state)
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(raw, &st); err != nil {
		t.Fatal(err)
	}
	tests := []struct{ dataset, want string }{
		{"tank/nova/images/img", "none"},
		{"tank/nova/instances/vm1/disk", ""}, // a clone: no refreservation of its own
		{"tank/nova/instances/vm1/disk.eph0", "none"},
		{"tank/nova/instances/vm1/disk.swap", "none"},
	}
	for _, tc := range tests {
		d, ok := st.Datasets[tc.dataset]
		if !ok || d.Type != "volume" {
			t.Fatalf("%s: not a volume in %v", tc.dataset, names(datasets(t, state)))
		}
		if got := d.Props["refreservation"]; got != tc.want {
			t.Errorf("%s: refreservation %q, want %q (a thick zvol reserves its whole size)", tc.dataset, got, tc.want)
		}
	}
	if a := allocated(t, b.DevicePath("tank/nova/images/img")); a > 4<<20 {
		t.Errorf("image zvol device has %d bytes allocated for 260 KiB of data", a)
	}
}
