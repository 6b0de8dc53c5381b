package images

import (
	"context"
	"crypto/md5" //nolint:gosec // Glance's legacy checksum is MD5
	"crypto/sha1"
	"crypto/sha256"
	"crypto/sha3"
	"crypto/sha512"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"io"
	"net/http"
	"os"
	"strings"
	"syscall"

	"github.com/gophercloud/gophercloud/v2"
	"github.com/gophercloud/gophercloud/v2/openstack/image/v2/imagedata"

	"github.com/novabsd/novabsd/internal/retry"
)

// copyChunk is the read size of a download: memory per download is bounded
// by it, whatever the image size.
const copyChunk = 1 << 20

// Download opens the image data (GET /v2/images/{id}/file), retrying the
// request as nova does. The caller reads and closes the body.
func (c *Client) Download(ctx context.Context, id string) (io.ReadCloser, http.Header, error) {
	var body io.ReadCloser
	var hdr http.Header
	err := c.call(ctx, id, "download", func(sc *gophercloud.ServiceClient) error {
		r := imagedata.Download(ctx, sc, id)
		if r.Err != nil {
			return r.Err
		}
		body, hdr = r.Body, r.Header
		return nil
	})
	return body, hdr, err
}

var hashes = map[string]func() hash.Hash{
	"md5": md5.New, "sha1": sha1.New, "sha224": sha256.New224, "sha256": sha256.New,
	"sha384": sha512.New384, "sha512": sha512.New, "sha512_224": sha512.New512_224,
	"sha512_256": sha512.New512_256,
	"sha3_224":   func() hash.Hash { return sha3.New224() },
	"sha3_256":   func() hash.Hash { return sha3.New256() },
	"sha3_384":   func() hash.Hash { return sha3.New384() },
	"sha3_512":   func() hash.Hash { return sha3.New512() },
}

// verifier is the hash a download is checked against, chosen as glanceclient
// does: os_hash_value with os_hash_algo, else the MD5 checksum, else the
// response's Content-MD5, else none.
type verifier struct {
	h    hash.Hash
	algo string
	want string
}

func newVerifier(img *Image) (*verifier, error) {
	switch {
	case img.OSHashValue != "":
		mk, ok := hashes[strings.ToLower(img.OSHashAlgo)]
		if !ok {
			return nil, newErr(img.ID, "download", ErrUnacceptable, nil,
				"os_hash_algo %q is not a hash this service can verify", img.OSHashAlgo)
		}
		return &verifier{h: mk(), algo: img.OSHashAlgo, want: strings.ToLower(img.OSHashValue)}, nil
	case img.Checksum != "":
		return &verifier{h: md5.New(), algo: "md5", want: strings.ToLower(img.Checksum)}, nil //nolint:gosec
	}
	return nil, nil
}

// DownloadTo streams the image data into dst, hashing while writing, and
// checks hash and size. img is the record from Get (its hash and size are what
// the data is checked against). limit > 0 caps the bytes accepted. A broken
// transfer is restarted from the beginning (dst truncated) within the
// NumRetries budget; a hash or size mismatch is not retried. On error dst
// holds garbage: the caller removes it.
func (c *Client) DownloadTo(ctx context.Context, img *Image, dst *os.File, limit int64) (int64, error) {
	if err := img.CheckActive(); err != nil {
		return 0, err
	}
	buf := make([]byte, copyChunk)
	var n int64
	var broke *readError
	for attempt := range retry.Loop(ctx, c.g.opts.retryPolicy(true)) {
		if attempt > 0 {
			if _, err := dst.Seek(0, io.SeekStart); err != nil {
				return 0, fmt.Errorf("image %s: rewinding %s: %w", img.ID, dst.Name(), err)
			}
			if err := dst.Truncate(0); err != nil {
				return 0, fmt.Errorf("image %s: truncating %s: %w", img.ID, dst.Name(), err)
			}
		}
		var err error
		n, err = c.downloadOnce(ctx, img, dst, limit, buf)
		if err == nil || !errors.As(err, &broke) {
			return n, err
		}
		if ctx.Err() != nil {
			return n, newErr(img.ID, "download", ErrUnavailable, broke.err, "transfer broke after %d bytes", n)
		}
	}
	if ctx.Err() != nil {
		return 0, newErr(img.ID, "download", ErrUnavailable, ctx.Err(), "interrupted while waiting to retry")
	}
	return n, newErr(img.ID, "download", ErrUnavailable, broke.err, "transfer broke after %d bytes", n)
}

// readError marks a failure reading the response body: the only kind of
// mid-transfer failure worth restarting.
type readError struct{ err error }

func (e *readError) Error() string { return e.err.Error() }
func (e *readError) Unwrap() error { return e.err }

type bodyReader struct{ r io.Reader }

func (b bodyReader) Read(p []byte) (int, error) {
	n, err := b.r.Read(p)
	if err != nil && err != io.EOF {
		err = &readError{err}
	}
	return n, err
}

func (c *Client) downloadOnce(ctx context.Context, img *Image, dst *os.File, limit int64, buf []byte) (int64, error) {
	v, err := newVerifier(img)
	if err != nil {
		return 0, err
	}
	body, hdr, err := c.Download(ctx, img.ID)
	if err != nil {
		return 0, err
	}
	defer body.Close()
	if v == nil {
		if md := hdr.Get("Content-MD5"); md != "" {
			v = &verifier{h: md5.New(), algo: "md5 (Content-MD5)", want: strings.ToLower(md)} //nolint:gosec
		}
	}
	// Read one byte past the cap so an oversized image is detected without
	// writing more than cap+1 bytes.
	ceiling := int64(-1)
	if img.Size > 0 {
		ceiling = img.Size
	}
	if limit > 0 && (ceiling < 0 || limit < ceiling) {
		ceiling = limit
	}
	var src io.Reader = bodyReader{body}
	if ceiling >= 0 {
		src = io.LimitReader(src, ceiling+1)
	}
	var w io.Writer = dst
	if v != nil {
		w = io.MultiWriter(dst, v.h)
	}
	n, err := io.CopyBuffer(w, src, buf)
	if err != nil {
		var re *readError
		if errors.As(err, &re) {
			return n, err
		}
		if errors.Is(err, syscall.ENOSPC) {
			return n, newErr(img.ID, "download", ErrInsufficientSpace, err, "writing %s", dst.Name())
		}
		return n, fmt.Errorf("image %s: writing %s: %w", img.ID, dst.Name(), err)
	}
	if ceiling >= 0 && n > ceiling {
		if limit > 0 && ceiling == limit {
			return n, newErr(img.ID, "download", ErrSizeExceeded, nil, "more than the %d-byte limit", limit)
		}
		return n, newErr(img.ID, "download", ErrSizeExceeded, nil, "more than the %d bytes Glance records", img.Size)
	}
	if img.Size > 0 && n < img.Size {
		return n, newErr(img.ID, "download", ErrSizeMismatch, nil, "got %d bytes, Glance records %d", n, img.Size)
	}
	if v != nil {
		if got := hex.EncodeToString(v.h.Sum(nil)); got != v.want {
			return n, newErr(img.ID, "download", ErrChecksumMismatch, nil, "%s of the data is %s, Glance records %s",
				v.algo, got, v.want)
		}
	}
	if err := dst.Sync(); err != nil {
		return n, fmt.Errorf("image %s: syncing %s: %w", img.ID, dst.Name(), err)
	}
	return n, nil
}
