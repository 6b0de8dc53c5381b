package images

import (
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"sync"
	"testing"
	"time"

	"github.com/novabsd/novabsd/images/qcow2"
)

func randomBytes(t *testing.T, n int) []byte {
	t.Helper()
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return b
}

func newTestCache(t *testing.T, o CacheOptions) *Cache {
	t.Helper()
	if o.Dir == "" {
		o.Dir = filepath.Join(t.TempDir(), "_base")
	}
	c, err := NewCache(o)
	if err != nil {
		t.Fatal(err)
	}
	// Before the temporary directory goes: an abandoned download may still be removing its partial file.
	t.Cleanup(c.Wait)
	return c
}

// dirNames lists the cache directory: what a failed fetch must leave empty.
func dirNames(t *testing.T, dir string) []string {
	t.Helper()
	ents, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, e := range ents {
		out = append(out, e.Name())
	}
	sort.Strings(out)
	return out
}

func TestFingerprintMatchesNova(t *testing.T) {
	// Values from Python: hashlib.sha1(image_id.encode('utf-8')).hexdigest()
	for id, want := range map[string]string{
		"155d900f-4e14-4e4c-a73d-069cbf4541e6": "f2d1a8250ed3d4b744a8250dab8f6840179d502a",
		"a":                                    "86f7e437faa5a7fce15d1ddcb9eaeaea377667b8",
	} {
		if got := Fingerprint(id); got != want {
			t.Errorf("Fingerprint(%q) = %s, want %s", id, got, want)
		}
	}
}

func TestFetchGood(t *testing.T) {
	f := newFakeGlance(t)
	data := randomBytes(t, 3<<20+17)
	f.addImage("img", "raw", data)
	c := newTestCache(t, CacheOptions{})
	cl := f.client(t, nil)
	e, err := c.FetchEntry(context.Background(), "img", cl)
	if err != nil {
		t.Fatal(err)
	}
	if e.Path != filepath.Join(c.opts.Dir, Fingerprint("img")) || e.Format != qcow2.FormatRaw || e.Size != int64(len(data)) {
		t.Fatalf("entry %+v", e)
	}
	got, err := os.ReadFile(e.Path)
	if err != nil || !bytes.Equal(got, data) {
		t.Fatalf("cached data differs (err %v)", err)
	}
	// A second fetch is served from the cache.
	p, err := c.Fetch(context.Background(), "img", cl)
	if err != nil || p != e.Path {
		t.Fatalf("second fetch %q, %v", p, err)
	}
	if n := f.downloads.Load(); n != 1 {
		t.Fatalf("%d downloads, want 1", n)
	}
	if names := dirNames(t, c.opts.Dir); len(names) != 1 {
		t.Fatalf("cache holds %v", names)
	}
}

func TestFetchFailures(t *testing.T) {
	data := randomBytes(t, 256<<10)
	tests := []struct {
		name          string
		setup         func(f *fakeGlance)
		opts          CacheOptions
		free          uint64
		want          error
		wantDownloads int64
	}{
		{"wrong sha512", func(f *fakeGlance) {
			f.setMeta("img", "os_hash_value", "00"+f.images["img"].meta["os_hash_value"].(string)[2:])
		}, CacheOptions{}, 1 << 40, ErrChecksumMismatch, 1},
		{"wrong md5 without multihash", func(f *fakeGlance) {
			f.setMeta("img", "os_hash_value", nil)
			f.setMeta("img", "os_hash_algo", nil)
			f.setMeta("img", "checksum", "0123456789abcdef0123456789abcdef")
		}, CacheOptions{}, 1 << 40, ErrChecksumMismatch, 1},
		{"unknown hash algorithm refused before download", func(f *fakeGlance) {
			f.setMeta("img", "os_hash_algo", "whirlpool")
		}, CacheOptions{}, 1 << 40, ErrUnacceptable, 0},
		{"more data than recorded", func(f *fakeGlance) { f.setMeta("img", "size", len(data)-10) },
			CacheOptions{}, 1 << 40, ErrSizeExceeded, 1},
		{"less data than recorded", func(f *fakeGlance) { f.setMeta("img", "size", len(data)+10) },
			CacheOptions{}, 1 << 40, ErrSizeMismatch, 1},
		{"over the cache limit", func(f *fakeGlance) {}, CacheOptions{MaxImageSize: 1000}, 1 << 40, ErrSizeExceeded, 0},
		{"over the limit with no recorded size", func(f *fakeGlance) { f.setMeta("img", "size", nil) },
			CacheOptions{MaxImageSize: 1000}, 1 << 40, ErrSizeExceeded, 1},
		{"queued", func(f *fakeGlance) { f.setMeta("img", "status", "queued") }, CacheOptions{}, 1 << 40, ErrNotActive, 0},
		{"killed", func(f *fakeGlance) { f.setMeta("img", "status", "killed") }, CacheOptions{}, 1 << 40, ErrKilled, 0},
		{"deleted", func(f *fakeGlance) { f.setMeta("img", "status", "deleted") }, CacheOptions{}, 1 << 40, ErrDeleted, 0},
		{"not found", func(f *fakeGlance) { delete(f.images, "img") }, CacheOptions{}, 1 << 40, ErrNotFound, 0},
		{"forbidden file", func(f *fakeGlance) { f.failNext("GET", "/v2/images/img/file", 403) },
			CacheOptions{}, 1 << 40, ErrNotAuthorized, 0},
		{"no space", func(f *fakeGlance) {}, CacheOptions{}, 1000, ErrInsufficientSpace, 0},
		{"raw claimed, qcow2 content", func(f *fakeGlance) {
			q := append([]byte{'Q', 'F', 'I', 0xfb, 0, 0, 0, 3}, data[8:]...)
			f.addImage("img", "raw", q)
		}, CacheOptions{}, 1 << 40, ErrUnacceptable, 1},
		{"qcow2 claimed, raw content", func(f *fakeGlance) { f.setMeta("img", "disk_format", "qcow2") },
			CacheOptions{}, 1 << 40, ErrUnacceptable, 1},
		{"vmdk content", func(f *fakeGlance) {
			f.addImage("img", "vmdk", append([]byte("KDMV"), data[4:]...))
		}, CacheOptions{}, 1 << 40, ErrUnacceptable, 1},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f := newFakeGlance(t)
			f.addImage("img", "raw", data)
			tc.setup(f)
			c := newTestCache(t, tc.opts)
			c.freeSpace = func(string) (uint64, error) { return tc.free, nil }
			p, err := c.Fetch(context.Background(), "img", f.client(t, func(o *GlanceOptions) { o.NumRetries = 0 }))
			if !errors.Is(err, tc.want) {
				t.Fatalf("err = %v, want %v", err, tc.want)
			}
			var ie *Error
			if !errors.As(err, &ie) || ie.ImageID != "img" {
				t.Fatalf("error %q does not name the image", err)
			}
			if p != "" {
				t.Fatalf("path %q returned with an error", p)
			}
			if names := dirNames(t, c.opts.Dir); len(names) != 0 {
				t.Fatalf("failed fetch left %v in the cache", names)
			}
			if n := f.downloads.Load(); n != tc.wantDownloads {
				t.Fatalf("%d downloads, want %d", n, tc.wantDownloads)
			}
		})
	}
}

func TestFailedFetchIsNotCached(t *testing.T) {
	f := newFakeGlance(t)
	data := randomBytes(t, 100<<10)
	meta := f.addImage("img", "raw", data)
	good := meta["os_hash_value"].(string)
	f.setMeta("img", "os_hash_value", "ff"+good[2:])
	c := newTestCache(t, CacheOptions{})
	cl := f.client(t, nil)
	if _, err := c.Fetch(context.Background(), "img", cl); !errors.Is(err, ErrChecksumMismatch) {
		t.Fatalf("first fetch: %v", err)
	}
	f.setMeta("img", "os_hash_value", good)
	if _, err := c.Fetch(context.Background(), "img", cl); err != nil {
		t.Fatalf("second fetch: %v", err)
	}
	if n := f.downloads.Load(); n != 2 {
		t.Fatalf("%d downloads, want 2", n)
	}
}

func TestFetchRestartsBrokenTransfer(t *testing.T) {
	f := newFakeGlance(t)
	data := randomBytes(t, 1<<20)
	f.addImage("img", "raw", data)
	f.breakOnce.Store(true)
	c := newTestCache(t, CacheOptions{})
	p, err := c.Fetch(context.Background(), "img", f.client(t, nil))
	if err != nil {
		t.Fatal(err)
	}
	got, _ := os.ReadFile(p)
	if !bytes.Equal(got, data) || f.downloads.Load() != 2 {
		t.Fatalf("equal=%v downloads=%d", bytes.Equal(got, data), f.downloads.Load())
	}
	// Without retries the broken transfer is an error and leaves nothing.
	f2 := newFakeGlance(t)
	f2.addImage("img", "raw", data)
	f2.breakOnce.Store(true)
	c2 := newTestCache(t, CacheOptions{})
	if _, err := c2.Fetch(context.Background(), "img", f2.client(t, func(o *GlanceOptions) { o.NumRetries = 0 })); !errors.Is(err, ErrUnavailable) {
		t.Fatalf("broken transfer without retries: %v", err)
	}
	if names := dirNames(t, c2.opts.Dir); len(names) != 0 {
		t.Fatalf("left %v", names)
	}
}

func TestDownloadRetriesOn503(t *testing.T) {
	f := newFakeGlance(t)
	data := randomBytes(t, 10<<10)
	f.addImage("img", "raw", data)
	f.failNext("GET", "/v2/images/img/file", 503, 503)
	c := newTestCache(t, CacheOptions{})
	if _, err := c.Fetch(context.Background(), "img", f.client(t, nil)); err != nil {
		t.Fatal(err)
	}
	f.failNext("GET", "/v2/images/img2/file", 503, 503, 503, 503)
	f.addImage("img2", "raw", data)
	if _, err := c.Fetch(context.Background(), "img2", f.client(t, nil)); !errors.Is(err, ErrUnavailable) {
		t.Fatalf("four 503s with num_retries=3: %v", err)
	}
}

// waitForWaiters blocks until n callers are waiting on the image's download.
func waitForWaiters(t *testing.T, c *Cache, id string, n int) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		c.mu.Lock()
		cl := c.calls[id]
		w := 0
		if cl != nil {
			w = cl.waiters
		}
		c.mu.Unlock()
		if w == n {
			return
		}
		time.Sleep(time.Millisecond)
	}
	t.Fatalf("never saw %d waiters", n)
}

func TestConcurrentFetchOneDownload(t *testing.T) {
	for _, fail := range []bool{false, true} {
		name := map[bool]string{false: "success", true: "failure"}[fail]
		t.Run(name, func(t *testing.T) {
			f := newFakeGlance(t)
			data := randomBytes(t, 2<<20)
			meta := f.addImage("img", "raw", data)
			if fail {
				f.setMeta("img", "os_hash_value", "ab"+meta["os_hash_value"].(string)[2:])
			}
			f.hold(t)
			c := newTestCache(t, CacheOptions{})
			const n = 20
			paths := make([]string, n)
			errs := make([]error, n)
			var wg sync.WaitGroup
			for i := range n {
				cl := f.client(t, nil) // each caller has its own client, as each RPC would
				wg.Add(1)
				go func() {
					defer wg.Done()
					paths[i], errs[i] = c.Fetch(context.Background(), "img", cl)
				}()
			}
			waitForWaiters(t, c, "img", n)
			f.release()
			wg.Wait()
			if d := f.downloads.Load(); d != 1 {
				t.Fatalf("%d downloads for %d callers, want 1", d, n)
			}
			for i := range n {
				if fail {
					if !errors.Is(errs[i], ErrChecksumMismatch) || errs[i] != errs[0] {
						t.Fatalf("caller %d: %v (first got %v)", i, errs[i], errs[0])
					}
				} else if errs[i] != nil || paths[i] != c.Path("img") {
					t.Fatalf("caller %d: %q, %v", i, paths[i], errs[i])
				}
			}
			if fail {
				if names := dirNames(t, c.opts.Dir); len(names) != 0 {
					t.Fatalf("left %v", names)
				}
			}
		})
	}
}

func TestFetchWaiterCancellation(t *testing.T) {
	f := newFakeGlance(t)
	data := randomBytes(t, 1<<20)
	f.addImage("img", "raw", data)
	f.hold(t)
	c := newTestCache(t, CacheOptions{})

	// One caller of two gives up: the download goes on for the other.
	ctx1, cancel1 := context.WithCancel(context.Background())
	res := make(chan error, 2)
	cl := f.client(t, nil)
	go func() { _, err := c.Fetch(ctx1, "img", cl); res <- err }()
	waitForWaiters(t, c, "img", 1)
	go func() { _, err := c.Fetch(context.Background(), "img", cl); res <- err }()
	waitForWaiters(t, c, "img", 2)
	cancel1()
	if err := <-res; !errors.Is(err, context.Canceled) {
		t.Fatalf("cancelled caller: %v", err)
	}
	f.release()
	if err := <-res; err != nil {
		t.Fatalf("remaining caller: %v", err)
	}

	// Every caller gives up: the download stops and leaves nothing.
	f.hold(t)
	ctx2, cancel2 := context.WithCancel(context.Background())
	f.addImage("img2", "raw", data)
	go func() { _, err := c.Fetch(ctx2, "img2", cl); res <- err }()
	waitForWaiters(t, c, "img2", 1)
	cancel2()
	if err := <-res; !errors.Is(err, context.Canceled) {
		t.Fatalf("cancelled caller: %v", err)
	}
	// The download may not even have made its partial file when its caller returned: wait for it to end,
	// rather than for the directory to look clean (which it can before the file appears).
	waited := make(chan struct{})
	go func() { c.Wait(); close(waited) }()
	select {
	case <-waited:
	case <-time.After(5 * time.Second):
		t.Fatal("the abandoned download did not stop within 5 s")
	}
	if names := dirNames(t, c.opts.Dir); len(names) != 1 || names[0] != Fingerprint("img") {
		t.Fatalf("abandoned download left %v", names)
	}
	f.release()
}

func qemuImg(t *testing.T) string {
	t.Helper()
	p, err := exec.LookPath("qemu-img")
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatal("qemu-img (Debian qemu-utils) is needed to build qcow2 test images")
		}
		t.Skip("qemu-img not installed (Debian qemu-utils); qcow2 fetch tests need it")
	}
	return p
}

func TestFetchQCOW2(t *testing.T) {
	qi := qemuImg(t)
	dir := t.TempDir()
	raw := make([]byte, 4<<20)
	copy(raw[1<<20:], randomBytes(t, 64<<10)) // data with holes around it
	rawPath := filepath.Join(dir, "disk.raw")
	if err := os.WriteFile(rawPath, raw, 0o644); err != nil {
		t.Fatal(err)
	}
	qPath := filepath.Join(dir, "disk.qcow2")
	if out, err := exec.Command(qi, "convert", "-f", "raw", "-O", "qcow2", rawPath, qPath).CombinedOutput(); err != nil {
		t.Fatalf("qemu-img convert: %v: %s", err, out)
	}
	qdata, err := os.ReadFile(qPath)
	if err != nil {
		t.Fatal(err)
	}
	backed := filepath.Join(dir, "backed.qcow2")
	if out, err := exec.Command(qi, "create", "-f", "qcow2", "-b", rawPath, "-F", "raw", backed).CombinedOutput(); err != nil {
		t.Fatalf("qemu-img create: %v: %s", err, out)
	}
	bdata, err := os.ReadFile(backed)
	if err != nil {
		t.Fatal(err)
	}

	tests := []struct {
		name       string
		data       []byte
		forceRaw   bool
		wantFormat qcow2.Format
		want       []byte
		wantErr    error
	}{
		{"converted to raw", qdata, true, qcow2.FormatRaw, raw, nil},
		{"kept as qcow2", qdata, false, qcow2.FormatQCOW2, qdata, nil},
		{"backing file refused", bdata, false, "", nil, ErrUnacceptable},
		{"backing file refused when converting", bdata, true, "", nil, ErrUnacceptable},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f := newFakeGlance(t)
			f.addImage("q", "qcow2", tc.data)
			c := newTestCache(t, CacheOptions{ForceRaw: tc.forceRaw})
			e, err := c.FetchEntry(context.Background(), "q", f.client(t, nil))
			if !errors.Is(err, tc.wantErr) {
				t.Fatalf("err = %v, want %v", err, tc.wantErr)
			}
			if err != nil {
				if names := dirNames(t, c.opts.Dir); len(names) != 0 {
					t.Fatalf("left %v", names)
				}
				return
			}
			got, _ := os.ReadFile(e.Path)
			if e.Format != tc.wantFormat || !bytes.Equal(got, tc.want) {
				t.Fatalf("format %s (want %s), content equal %v", e.Format, tc.wantFormat, bytes.Equal(got, tc.want))
			}
			if names := dirNames(t, c.opts.Dir); len(names) != 1 {
				t.Fatalf("cache holds %v", names)
			}
			// A cache hit reports the same format.
			e2, err := c.FetchEntry(context.Background(), "q", f.client(t, nil))
			if err != nil || e2.Format != tc.wantFormat {
				t.Fatalf("hit: %+v, %v", e2, err)
			}
		})
	}
}
