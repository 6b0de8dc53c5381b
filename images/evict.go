package images

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"
)

// EvictResult says what an eviction pass did, by file path.
type EvictResult struct {
	InUse    []string // kept and touched: an instance uses the image
	Removed  []string
	TooYoung []string // unused but younger than the minimum age
	Skipped  []string // unused, left alone: a download is in progress, or removal is disabled
}

const fingerprintLen = 2 * 20 // SHA-1 hex

func isHex(s string) bool {
	for _, r := range s {
		if !strings.ContainsRune("0123456789abcdef", r) {
			return false
		}
	}
	return true
}

// Evict is one pass of nova's image cache manager over the cache directory.
// inUse holds the image ids (image_ref, kernel_id, ramdisk_id) of every
// instance on the host, mapped to true. Files named by an in-use image's
// fingerprint (alone, or followed by "_" and a suffix) are touched to now, as
// nova does, so their age counts from when they were last used. When
// RemoveUnused is set, other fingerprint files are removed once their mtime
// is OriginalMinAge (plain) or ResizedMinAge (suffixed) older than now, and
// abandoned download files (".part") once they are OriginalMinAge old. Files
// of a download in progress and other names (swap_, ephemeral_) are never
// removed. Errors on single files are collected; the pass goes on.
func (c *Cache) Evict(inUse map[string]bool, now time.Time) (EvictResult, error) {
	var res EvictResult
	used := map[string]bool{}
	for id, ok := range inUse {
		if ok {
			used[Fingerprint(id)] = true
		}
	}
	ents, err := os.ReadDir(c.opts.Dir)
	if errors.Is(err, fs.ErrNotExist) {
		return res, nil // nothing cached yet, as nova skips a missing _base
	}
	if err != nil {
		return res, fmt.Errorf("images: reading image cache %s: %w", c.opts.Dir, err)
	}
	var errs []error
	for _, ent := range ents {
		name := ent.Name()
		if len(name) < fingerprintLen || !isHex(name[:fingerprintLen]) || !ent.Type().IsRegular() {
			continue
		}
		fp, rest := name[:fingerprintLen], name[fingerprintLen:]
		maxAge := c.opts.OriginalMinAge
		switch {
		case rest == "":
		case strings.HasPrefix(rest, "_") && len(rest) > 1:
			maxAge = c.opts.ResizedMinAge
		case strings.HasPrefix(rest, ".") && strings.HasSuffix(rest, ".part"):
			if used[fp] {
				continue // a download for an image in use: not ours to judge
			}
		default:
			continue
		}
		path := filepath.Join(c.opts.Dir, name)
		if used[fp] {
			if err := os.Chtimes(path, now, now); err != nil && !errors.Is(err, fs.ErrNotExist) {
				errs = append(errs, fmt.Errorf("touching %s: %w", path, err))
			}
			res.InUse = append(res.InUse, path)
			continue
		}
		if !c.opts.RemoveUnused {
			res.Skipped = append(res.Skipped, path)
			continue
		}
		switch removed, err := c.removeIfOld(fp, path, maxAge, now); {
		case err != nil:
			errs = append(errs, err)
		case removed == removeDone:
			res.Removed = append(res.Removed, path)
		case removed == removeYoung:
			res.TooYoung = append(res.TooYoung, path)
		case removed == removeBusy:
			res.Skipped = append(res.Skipped, path)
		}
	}
	for _, l := range [][]string{res.InUse, res.Removed, res.TooYoung, res.Skipped} {
		sort.Strings(l)
	}
	return res, errors.Join(errs...)
}

type removeOutcome int

const (
	removeGone removeOutcome = iota
	removeDone
	removeYoung
	removeBusy
)

// removeIfOld decides and removes under the cache lock, so a Fetch cannot
// hand out the file (and refresh its mtime) between the age check and the
// removal, and a file being downloaded or held by a build is never touched.
func (c *Cache) removeIfOld(fp, path string, maxAge time.Duration, now time.Time) (removeOutcome, error) {
	return c.removeIf(fp, path, func(mtime time.Time) bool { return now.Sub(mtime) >= maxAge })
}

// removeIf removes path when old says its mtime makes it removable and fp is not busy; see removeIfOld.
func (c *Cache) removeIf(fp, path string, old func(mtime time.Time) bool) (removeOutcome, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.busy(fp) {
		return removeBusy, nil
	}
	fi, err := os.Lstat(path)
	if errors.Is(err, fs.ErrNotExist) {
		return removeGone, nil
	}
	if err != nil {
		return removeGone, fmt.Errorf("checking %s: %w", path, err)
	}
	if !old(fi.ModTime()) {
		return removeYoung, nil
	}
	if err := os.Remove(path); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return removeGone, fmt.Errorf("removing %s: %w", path, err)
	}
	return removeDone, nil
}

// partialOf returns the fingerprint of an in-progress file: "<fp>.<random>.part" (a download) or
// ".<fp>.<random>.part" (a conversion to raw writing the entry <fp>).
func partialOf(name string) (string, bool) {
	name = strings.TrimPrefix(name, ".")
	if len(name) < fingerprintLen || !isHex(name[:fingerprintLen]) {
		return "", false
	}
	rest := name[fingerprintLen:]
	if !strings.HasPrefix(rest, ".") || !strings.HasSuffix(rest, ".part") {
		return "", false
	}
	return name[:fingerprintLen], true
}

// SweepLeftovers removes the in-progress files a crashed or killed process left in the cache: partial
// downloads and partial conversions last modified before started (this process's start), unless a download of
// this process is writing that image now. It runs whatever remove_unused_base_images says: a partial file is
// never an image anyone can use. It returns the removed paths; errors on single files are collected.
func (c *Cache) SweepLeftovers(started time.Time) ([]string, error) {
	ents, err := os.ReadDir(c.opts.Dir)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("images: reading image cache %s: %w", c.opts.Dir, err)
	}
	var removed []string
	var errs []error
	for _, ent := range ents {
		fp, ok := partialOf(ent.Name())
		if !ok || !ent.Type().IsRegular() {
			continue
		}
		path := filepath.Join(c.opts.Dir, ent.Name())
		out, err := c.removeIf(fp, path, func(mtime time.Time) bool { return mtime.Before(started) })
		if err != nil {
			errs = append(errs, err)
		} else if out == removeDone {
			removed = append(removed, path)
		}
	}
	sort.Strings(removed)
	return removed, errors.Join(errs...)
}

// DiskUsage is the space the cache's files take on disk (allocated blocks,
// so sparse raw images count what they use), as nova's get_disk_usage.
func (c *Cache) DiskUsage() (int64, error) {
	ents, err := os.ReadDir(c.opts.Dir)
	if err != nil {
		return 0, fmt.Errorf("images: reading image cache %s: %w", c.opts.Dir, err)
	}
	var total int64
	for _, ent := range ents {
		if !ent.Type().IsRegular() {
			continue
		}
		fi, err := ent.Info()
		if err != nil {
			continue // removed meanwhile
		}
		total += allocated(fi)
	}
	return total, nil
}
