package images

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"os"

	"github.com/novabsd/novabsd/internal/retry"
)

// Upload sends size bytes from r as the image data (PUT /v2/images/{id}/file)
// with a Content-Length, streaming: r is read in small pieces as the socket
// drains, never held whole. It is plain net/http rather than gophercloud's
// imagedata.Upload because gophercloud cannot give the request a
// Content-Length for a reader that is not in memory. When r is an io.Seeker the
// request is retried as nova retries (503, connection errors), rewinding r;
// otherwise it is made once.
func (c *Client) Upload(ctx context.Context, id string, r io.Reader, size int64) error {
	if size < 0 {
		return newErr(id, "upload", ErrBadRequest, nil, "size %d is negative", size)
	}
	seeker, canRetry := r.(io.Seeker)
	var start int64
	if canRetry {
		var err error
		if start, err = seeker.Seek(0, io.SeekCurrent); err != nil {
			canRetry = false
		}
	}
	policy := c.g.opts.retryPolicy(canRetry)
	var last error
	for i := range retry.Loop(ctx, policy) {
		if i > 0 {
			if _, err := seeker.Seek(start, io.SeekStart); err != nil {
				return fmt.Errorf("image %s: rewinding upload data: %w", id, err)
			}
		}
		err := c.uploadOnce(ctx, c.endpoints[i%len(c.endpoints)], id, r, size)
		if err == nil {
			return nil
		}
		if ctx.Err() != nil {
			return newErr(id, "upload", ErrUnavailable, ctx.Err(), "interrupted")
		}
		if !retriable(err) {
			return translate(id, "upload", err)
		}
		last = err
	}
	if ctx.Err() != nil {
		return newErr(id, "upload", ErrUnavailable, ctx.Err(), "interrupted while waiting to retry")
	}
	return newErr(id, "upload", ErrUnavailable, last, "gave up after %d attempts", policy.Attempts)
}

// UploadFile uploads the file at path as the image data, with its size as
// Content-Length; retries rewind the file.
func (c *Client) UploadFile(ctx context.Context, id, path string) error {
	f, err := os.Open(path)
	if err != nil {
		return fmt.Errorf("image %s: opening snapshot file: %w", id, err)
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return fmt.Errorf("image %s: %w", id, err)
	}
	if !fi.Mode().IsRegular() {
		return fmt.Errorf("image %s: snapshot file %s is not a regular file", id, path)
	}
	return c.Upload(ctx, id, f, fi.Size())
}

func (c *Client) uploadOnce(ctx context.Context, endpoint, id string, r io.Reader, size int64) error {
	u := endpoint + "v2/images/" + id + "/file"
	// io.NopCloser hides *os.File so the transport neither closes the
	// caller's file nor guesses the length; LimitReader keeps a longer
	// reader from sending more than it declared.
	src := &countingReader{r: io.LimitReader(r, size)}
	body := io.NopCloser(src)
	req, err := http.NewRequestWithContext(ctx, http.MethodPut, u, body)
	if err != nil {
		return fmt.Errorf("building upload request: %w", err)
	}
	req.ContentLength = size
	if size == 0 {
		req.Body = http.NoBody
	}
	req.Header.Set("Content-Type", "application/octet-stream")
	req.Header.Set("X-Auth-Token", c.token)
	req.Header.Set("User-Agent", c.provider.UserAgent.Join())
	resp, err := c.http.Do(req)
	if err != nil {
		if src.eof && src.n < size {
			return newErr(id, "upload", ErrSizeMismatch, err, "the data ended after %d of the %d bytes declared", src.n, size)
		}
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode == http.StatusNoContent || resp.StatusCode == http.StatusOK || resp.StatusCode == http.StatusCreated {
		_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 1<<16))
		return nil
	}
	msg, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
	return &httpStatusError{Method: http.MethodPut, URL: u, Status: resp.StatusCode, Body: string(msg)}
}

// countingReader tells a source that ran short from a network failure.
type countingReader struct {
	r   io.Reader
	n   int64
	eof bool
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += int64(n)
	if err == io.EOF {
		c.eof = true
	}
	return n, err
}
