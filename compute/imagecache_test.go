package compute

import (
	"context"
	"encoding/json"
	"errors"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/novabsd/novabsd/hypervisor/storage"
	"github.com/novabsd/novabsd/images"
	"github.com/novabsd/novabsd/rpc"
)

// countingStore is the real disk store, counting the calls that would write or allocate.
type countingStore struct {
	storage.Backend
	calls atomic.Int64
}

func (c *countingStore) ImportImage(ctx context.Context, id, src string) error {
	c.calls.Add(1)
	return c.Backend.ImportImage(ctx, id, src)
}

func (c *countingStore) CreateRoot(ctx context.Context, inst, id string, size int64) (storage.Disk, error) {
	c.calls.Add(1)
	return c.Backend.CreateRoot(ctx, inst, id, size)
}

// hugeQCOW2 is an empty qcow2 of 4 GiB virtual size: a file of a few hundred KiB.
func hugeQCOW2(t *testing.T) string {
	t.Helper()
	qi, err := exec.LookPath("qemu-img")
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatal("qemu-img (Debian qemu-utils) is needed to build the qcow2 test image")
		}
		t.Skip("qemu-img not installed (Debian qemu-utils)")
	}
	p := filepath.Join(t.TempDir(), "huge.qcow2")
	if out, err := exec.Command(qi, "create", "-q", "-f", "qcow2", p, "4G").CombinedOutput(); err != nil {
		t.Fatalf("qemu-img create: %v: %s", err, out)
	}
	return p
}

// TestBuildRefusesImageLargerThanFlavor builds m1.tiny (root_gb 1) from a qcow2 whose virtual size is 4 GiB: the
// build aborts with nova's FlavorDiskSmallerThanImage fault before the disk store is asked to convert or allocate
// anything. With Glance's virtual_size it aborts before the fetch; with root_gb 0 nova does not check.
func TestBuildRefusesImageLargerThanFlavor(t *testing.T) {
	const fault = "aborted: Flavor's disk is too small for requested image. Flavor disk is 1073741824 bytes, " +
		"image is 4294967296 bytes."
	tests := []struct {
		name        string
		glanceSize  string // the image dict's virtual_size; "" leaves it out
		rootGB      string // "" keeps the flavor's 1
		wantFetches int64
		wantFault   string // "" means the build succeeds
	}{
		{"qcow2 header says 4 GiB", "", "", 1, fault},
		{"glance says 4 GiB", "4294967296", "", 0, fault},
		{"glance virtual_size null", "null", "", 1, fault},
		{"root_gb 0 takes the image's size", "", "0", 1, ""},
	}
	for i, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			h := newHarness(t)
			img := hugeQCOW2(t)
			var fetches atomic.Int64
			h.s.lc.eng.fetch = func(context.Context, *rpc.RequestContext, string) (string, error) {
				fetches.Add(1)
				return img, nil
			}
			store := &countingStore{Backend: h.s.lc.eng.storage}
			h.s.lc.eng.storage = store
			uuid := "55555555-0000-4000-8000-00000000000" + string(rune('1'+i))
			inst := instanceFromWire(t, uuid)
			if tc.rootGB != "" {
				fo, err := inst.Object("flavor")
				if err != nil {
					t.Fatal(err)
				}
				fo.Data["root_gb"] = json.RawMessage(tc.rootGB)
				if err := inst.Set("flavor", fo); err != nil {
					t.Fatal(err)
				}
				inst.ResetChanges()
			}
			h.cond.put(inst)
			var m map[string]json.RawMessage
			if err := json.Unmarshal(buildMessage(t, inst, false), &m); err != nil {
				t.Fatal(err)
			}
			if tc.glanceSize != "" {
				var image map[string]json.RawMessage
				if err := json.Unmarshal(m["image"], &image); err != nil {
					t.Fatal(err)
				}
				image["virtual_size"] = json.RawMessage(tc.glanceSize)
				m["image"], _ = json.Marshal(image)
			}
			msg, _ := json.Marshal(m)
			h.runBuild(t, context.Background(), msg)
			got := h.cond.object(uuid)
			if n := fetches.Load(); n != tc.wantFetches {
				t.Errorf("image fetched %d times, want %d", n, tc.wantFetches)
			}
			faults := h.cond.faults[uuid]
			if tc.wantFault == "" {
				if len(faults) != 0 || fieldString(got, "vm_state") != vmActive {
					t.Fatalf("vm_state %q, faults %q: want an active instance", fieldString(got, "vm_state"), faults)
				}
				return
			}
			if len(faults) != 1 || !strings.Contains(faults[0], "Build of instance "+uuid+" "+tc.wantFault) {
				t.Fatalf("faults = %q, want one containing %q", faults, tc.wantFault)
			}
			if v := fieldString(got, "vm_state"); v != vmError {
				t.Errorf("vm_state = %q, want error", v)
			}
			if n := store.calls.Load(); n != 0 {
				t.Errorf("the disk store was called %d times for a refused image", n)
			}
			if _, err := os.Stat(filepath.Join(h.dir, uuid)); !errors.Is(err, fs.ErrNotExist) {
				t.Errorf("instance directory left after the refusal: %v", err)
			}
			// Nothing was converted or allocated: no file of the instances path (image store included) holds
			// more than a few KiB, in length or in blocks.
			filepath.WalkDir(h.dir, func(p string, d fs.DirEntry, err error) error {
				if err != nil || !d.Type().IsRegular() {
					return err
				}
				if fi, err := d.Info(); err == nil && fi.Size() > 64<<10 {
					t.Errorf("%s: %d bytes written for a refused image", p, fi.Size())
				}
				return nil
			})
		})
	}
}

// TestImageCacheManager checks the image cache manager task: its interval is [image_cache] manager_interval,
// read at each turn; a pass keeps and touches the images of this host's instances (image, kernel, ramdisk),
// keeps the image a build holds, and removes the other old images; the start-up sweep removes partial files.
func TestImageCacheManager(t *testing.T) {
	h := newHarness(t)
	cache, err := images.NewCache(images.CacheOptions{Dir: filepath.Join(h.dir, "_base"), RemoveUnused: true,
		OriginalMinAge: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	h.s.lc.eng.cache = cache

	task := h.s.imageCacheTask()
	for _, interval := range []int{2400, 0, -1} {
		cfg := *h.s.cfg.Load()
		cfg.ImageCache.ManagerInterval = interval
		if got := task.interval(&cfg); got != interval {
			t.Errorf("manager_interval %d: task interval %d", interval, got)
		}
	}
	if task.atStart {
		t.Error("the image cache manager runs at start; nova's first pass is one interval later")
	}

	old := time.Now().Add(-48 * time.Hour)
	for _, id := range []string{"img-used", "kernel-used", "img-other-host", "img-deleted", "img-unused", "img-building"} {
		p := cache.Path(id)
		if err := os.WriteFile(p, []byte(id), 0o644); err != nil {
			t.Fatal(err)
		}
		if err := os.Chtimes(p, old, old); err != nil {
			t.Fatal(err)
		}
	}
	partial := filepath.Join(h.dir, "_base", images.Fingerprint("img-crashed")+".1234.part")
	if err := os.WriteFile(partial, []byte("half"), 0o644); err != nil {
		t.Fatal(err)
	}
	os.Chtimes(partial, old, old)
	h.s.sweepImageCache(time.Now())
	if _, err := os.Stat(partial); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("start-up sweep left %s: %v", partial, err)
	}

	put := func(uuid, host string, fields map[string]any) {
		inst := instanceFromWire(t, uuid)
		fields["host"] = host
		if err := setAll(inst, fields); err != nil {
			t.Fatal(err)
		}
		h.cond.put(inst)
	}
	put("66666666-0000-4000-8000-000000000001", testHost, map[string]any{"image_ref": "img-used", "kernel_id": "kernel-used"})
	put("66666666-0000-4000-8000-000000000002", "other-host", map[string]any{"image_ref": "img-other-host"})
	put("66666666-0000-4000-8000-000000000003", testHost, map[string]any{"image_ref": "img-deleted"})
	h.cond.mu.Lock()
	h.cond.deleted["66666666-0000-4000-8000-000000000003"] = true
	h.cond.mu.Unlock()
	release := cache.Hold("img-building")
	defer release()

	// Run the task as the service does, with a one-second interval, until its first pass has removed something.
	cfg := *h.s.cfg.Load()
	cfg.ImageCache.ManagerInterval = 1
	h.s.cfg.Store(&cfg)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); h.s.imageCacheLoop(ctx) }()
	waitFor(t, "an image cache manager pass", func() bool {
		_, err := os.Stat(cache.Path("img-unused"))
		return errors.Is(err, fs.ErrNotExist)
	})
	cancel()
	<-done

	for id, kept := range map[string]bool{"img-used": true, "kernel-used": true, "img-building": true,
		"img-other-host": false, "img-deleted": false, "img-unused": false} {
		fi, err := os.Stat(cache.Path(id))
		if kept != (err == nil) {
			t.Errorf("%s: stat %v, want kept %v", id, err, kept)
			continue
		}
		if kept && id != "img-building" && !fi.ModTime().After(old.Add(time.Hour)) {
			t.Errorf("%s in use but not touched (mtime %v)", id, fi.ModTime())
		}
	}
}
