package images

import (
	"context"
	"errors"
	"fmt"
	"os"

	"github.com/novabsd/novabsd/images/qcow2"
)

// download brings one image into the cache: metadata, status and space
// checks, a verified download into a temporary file next to the entry, the
// format check, then an atomic rename (or a conversion that publishes
// atomically). Whatever fails, the temporary file goes and no entry appears.
func (c *Cache) download(ctx context.Context, imageID string, src ImageSource) (Entry, error) {
	img, err := src.Get(ctx, imageID)
	if err != nil {
		return Entry{}, err
	}
	if err := img.CheckActive(); err != nil {
		return Entry{}, err
	}
	if c.opts.MaxImageSize > 0 && img.Size > c.opts.MaxImageSize {
		return Entry{}, newErr(imageID, "fetch", ErrSizeExceeded, nil,
			"Glance records %d bytes, more than the %d-byte limit", img.Size, c.opts.MaxImageSize)
	}
	if err := c.checkSpace(imageID, img.Size); err != nil {
		return Entry{}, err
	}
	final := c.Path(imageID)
	// The ".part" suffix keeps the temporary file out of eviction's name
	// patterns (a fingerprint alone, or a fingerprint and "_").
	tmp, err := os.CreateTemp(c.opts.Dir, Fingerprint(imageID)+".*.part")
	if err != nil {
		return Entry{}, fmt.Errorf("image %s: creating download file in %s: %w", imageID, c.opts.Dir, err)
	}
	tmpName := tmp.Name()
	defer os.Remove(tmpName) // after a successful rename this is a no-op
	if _, err := src.DownloadTo(ctx, img, tmp, c.opts.MaxImageSize); err != nil {
		tmp.Close()
		return Entry{}, err
	}
	if err := tmp.Close(); err != nil {
		return Entry{}, fmt.Errorf("image %s: closing %s: %w", imageID, tmpName, err)
	}
	format, err := inspect(img, tmpName)
	if err != nil {
		return Entry{}, err
	}
	if format == qcow2.FormatQCOW2 && c.opts.ForceRaw {
		if _, err := qcow2.ConvertFile(ctx, tmpName, final, qcow2.FileOptions{}); err != nil {
			return Entry{}, newErr(imageID, "convert to raw", ErrUnacceptable, err, "")
		}
		format = qcow2.FormatRaw
	} else if err := os.Rename(tmpName, final); err != nil {
		return Entry{}, fmt.Errorf("image %s: publishing %s: %w", imageID, final, err)
	}
	syncDir(c.opts.Dir)
	fi, err := os.Stat(final)
	if err != nil {
		return Entry{}, fmt.Errorf("image %s: %w", imageID, err)
	}
	return Entry{ImageID: imageID, Path: final, Format: format, Size: fi.Size()}, nil
}

func (c *Cache) checkSpace(imageID string, need int64) error {
	free, err := c.freeSpace(c.opts.Dir)
	if err != nil {
		return fmt.Errorf("image %s: checking free space in %s: %w", imageID, c.opts.Dir, err)
	}
	if need > 0 && uint64(need) > free {
		return newErr(imageID, "fetch", ErrInsufficientSpace, nil, "it needs %d bytes, %s has %d free",
			need, c.opts.Dir, free)
	}
	return nil
}

// inspect checks that the content is what Glance says it is, as nova's deep
// inspection does: a "raw" image that is really qcow2 could name a host file
// as its backing file, so claims and content must agree, and qcow2 images may
// have neither a backing file nor an external data file.
func inspect(img *Image, path string) (qcow2.Format, error) {
	detected, err := detectFile(path)
	if err != nil {
		return "", fmt.Errorf("image %s: %w", img.ID, err)
	}
	claimed := img.DiskFormat
	switch claimed {
	case "ami", "aki", "ari", "iso":
		claimed = string(qcow2.FormatRaw) // read as raw, as nova does after inspection
	}
	if detected != qcow2.FormatRaw && detected != qcow2.FormatQCOW2 {
		return "", newErr(img.ID, "inspect", ErrUnacceptable, nil, "content is %s; only raw and qcow2 are supported", detected)
	}
	if claimed != "" && claimed != string(detected) {
		return "", newErr(img.ID, "inspect", ErrUnacceptable, nil, "disk_format is %q but the content is %s",
			img.DiskFormat, detected)
	}
	if detected == qcow2.FormatQCOW2 {
		f, err := qcow2.OpenFile(path, qcow2.FileOptions{})
		if err != nil {
			kind := ErrUnacceptable
			if !errors.Is(err, qcow2.ErrBackingRefused) && !errors.Is(err, qcow2.ErrUnsupported) &&
				!errors.Is(err, qcow2.ErrCorrupt) {
				return "", fmt.Errorf("image %s: inspecting qcow2: %w", img.ID, err)
			}
			return "", newErr(img.ID, "inspect", kind, err, "")
		}
		f.Close()
	}
	return detected, nil
}

func syncDir(dir string) {
	if d, err := os.Open(dir); err == nil {
		_ = d.Sync() // best effort: the rename is already atomic
		d.Close()
	}
}
