package images

import (
	"context"
	"crypto/sha1"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/novabsd/novabsd/images/qcow2"
)

// CacheOptions are the [image_cache] settings plus what the engine needs.
type CacheOptions struct {
	// Dir is <instances_path>/<[image_cache] subdirectory_name> (_base).
	Dir string
	// ForceRaw converts qcow2 images to raw on arrival (bhyve reads only raw;
	// nova's force_raw_images). Without it the qcow2 file is kept and
	// Entry.Format says so.
	ForceRaw bool
	// RemoveUnused is remove_unused_base_images.
	RemoveUnused bool
	// OriginalMinAge is remove_unused_original_minimum_age_seconds.
	OriginalMinAge time.Duration
	// ResizedMinAge is remove_unused_resized_minimum_age_seconds, for
	// "<fingerprint>_<suffix>" files.
	ResizedMinAge time.Duration
	// MaxImageSize caps the bytes one download may bring; 0 means no cap.
	MaxImageSize int64
}

// ImageSource is what the cache needs from Glance; *Client is one.
type ImageSource interface {
	Get(ctx context.Context, id string) (*Image, error)
	DownloadTo(ctx context.Context, img *Image, dst *os.File, limit int64) (int64, error)
}

// Entry is an image in the cache.
type Entry struct {
	ImageID string
	Path    string
	Format  qcow2.Format // raw or qcow2, as the file's content says
	Size    int64        // file length (a converted raw image is sparse)
}

// Cache is the image cache directory. One Cache per directory per process.
type Cache struct {
	opts      CacheOptions
	freeSpace func(dir string) (uint64, error)
	now       func() time.Time

	mu    sync.Mutex // guards calls and holds; held while eviction decides and removes
	calls map[string]*call
	// holds counts, per fingerprint, the builds using an image file right now (Hold): eviction skips them
	// whatever their age, since a build may take longer than the minimum age to read its image.
	holds map[string]int
	// downloads counts download goroutines, which outlive a caller that gave up until they have cleaned up.
	downloads sync.WaitGroup
}

// Wait blocks until every download in flight has ended: finished, or stopped and its partial file removed. A
// download whose callers all gave up is still tearing down when they return; whoever removes the cache
// directory or exits must wait for it.
func (c *Cache) Wait() { c.downloads.Wait() }

// call is one download shared by every Fetch of the same image.
type call struct {
	done    chan struct{}
	entry   Entry
	err     error
	waiters int
	cancel  context.CancelFunc
}

// NewCache creates the cache directory if needed.
func NewCache(o CacheOptions) (*Cache, error) {
	if o.Dir == "" {
		return nil, errors.New("images: the image cache directory is empty")
	}
	if o.OriginalMinAge < 0 || o.ResizedMinAge < 0 {
		return nil, fmt.Errorf("images: negative image cache minimum age (%v, %v)", o.OriginalMinAge, o.ResizedMinAge)
	}
	if err := os.MkdirAll(o.Dir, 0o755); err != nil {
		return nil, fmt.Errorf("images: creating image cache %s: %w", o.Dir, err)
	}
	return &Cache{opts: o, freeSpace: freeBytes, now: time.Now, calls: map[string]*call{}, holds: map[string]int{}}, nil
}

// Hold keeps the image's cache files from eviction until release is called: a build holds its image from
// before the fetch until its disk is made, so a pass that runs meanwhile cannot remove the file under it even
// when the image is old and no instance record names it yet. release may be called more than once.
func (c *Cache) Hold(imageID string) (release func()) {
	fp := Fingerprint(imageID)
	c.mu.Lock()
	if c.holds == nil {
		c.holds = map[string]int{}
	}
	c.holds[fp]++
	c.mu.Unlock()
	var once sync.Once
	return func() {
		once.Do(func() {
			c.mu.Lock()
			if c.holds[fp]--; c.holds[fp] <= 0 {
				delete(c.holds, fp)
			}
			c.mu.Unlock()
		})
	}
}

// busy reports whether an image file of fingerprint fp must not be removed now: it is being downloaded, or a
// build holds it. Called with mu held.
func (c *Cache) busy(fp string) bool {
	if c.holds[fp] > 0 {
		return true
	}
	for id := range c.calls {
		if Fingerprint(id) == fp {
			return true
		}
	}
	return false
}

// Fingerprint is the cache file name of an image: the SHA-1 hex of its id,
// as nova's get_cache_fname, so a cache shared with nova stays readable.
func Fingerprint(imageID string) string {
	s := sha1.Sum([]byte(imageID))
	return hex.EncodeToString(s[:])
}

// Path is where the image lives in the cache once fetched.
func (c *Cache) Path(imageID string) string { return filepath.Join(c.opts.Dir, Fingerprint(imageID)) }

// Fetch returns the cached image's path, downloading it first if needed.
func (c *Cache) Fetch(ctx context.Context, imageID string, src ImageSource) (string, error) {
	e, err := c.FetchEntry(ctx, imageID, src)
	return e.Path, err
}

// FetchEntry is Fetch, also telling the image's format. However many callers
// ask for one image at once there is one download; they all get its result,
// and a failed download leaves nothing behind, so the next caller tries
// afresh. The download stops when every caller waiting for it has given up.
func (c *Cache) FetchEntry(ctx context.Context, imageID string, src ImageSource) (Entry, error) {
	if imageID == "" {
		return Entry{}, errors.New("images: fetch: empty image id")
	}
	c.mu.Lock()
	if cl, ok := c.calls[imageID]; ok {
		cl.waiters++
		c.mu.Unlock()
		return c.wait(ctx, imageID, cl)
	}
	e, hit, err := c.hit(imageID)
	if hit || err != nil {
		c.mu.Unlock()
		return e, err
	}
	dctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	cl := &call{done: make(chan struct{}), waiters: 1, cancel: cancel}
	c.calls[imageID] = cl
	c.mu.Unlock()

	c.downloads.Add(1)
	go func() {
		defer c.downloads.Done()
		e, err := c.download(dctx, imageID, src)
		cancel()
		c.mu.Lock()
		if c.calls[imageID] == cl {
			delete(c.calls, imageID)
		}
		cl.entry, cl.err = e, err
		c.mu.Unlock()
		close(cl.done)
	}()
	return c.wait(ctx, imageID, cl)
}

func (c *Cache) wait(ctx context.Context, imageID string, cl *call) (Entry, error) {
	select {
	case <-cl.done:
		return cl.entry, cl.err
	case <-ctx.Done():
		c.mu.Lock()
		cl.waiters--
		if cl.waiters == 0 {
			cl.cancel()
			// A later caller must not join a download being torn down.
			if c.calls[imageID] == cl {
				delete(c.calls, imageID)
			}
		}
		c.mu.Unlock()
		return Entry{}, fmt.Errorf("image %s: waiting for download: %w", imageID, ctx.Err())
	}
}

// hit reports a cached image, refreshing its mtime so an eviction pass that
// runs before the caller has built its disk sees it as young. Called with mu held.
func (c *Cache) hit(imageID string) (Entry, bool, error) {
	p := c.Path(imageID)
	fi, err := os.Stat(p)
	if errors.Is(err, fs.ErrNotExist) {
		return Entry{}, false, nil
	}
	if err != nil {
		return Entry{}, false, fmt.Errorf("image %s: checking cache: %w", imageID, err)
	}
	if !fi.Mode().IsRegular() {
		return Entry{}, false, fmt.Errorf("image %s: cache entry %s is not a regular file", imageID, p)
	}
	now := c.now()
	if err := os.Chtimes(p, now, now); err != nil {
		return Entry{}, false, fmt.Errorf("image %s: touching cache entry: %w", imageID, err)
	}
	f, err := detectFile(p)
	if err != nil {
		return Entry{}, false, fmt.Errorf("image %s: %w", imageID, err)
	}
	return Entry{ImageID: imageID, Path: p, Format: f, Size: fi.Size()}, true, nil
}

func detectFile(p string) (qcow2.Format, error) {
	f, err := os.Open(p)
	if err != nil {
		return "", fmt.Errorf("opening cache entry: %w", err)
	}
	defer f.Close()
	format, err := qcow2.Detect(f)
	if err != nil {
		return "", fmt.Errorf("detecting format of %s: %w", p, err)
	}
	return format, nil
}

var _ ImageSource = (*Client)(nil)
