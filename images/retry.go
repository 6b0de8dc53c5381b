package images

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"syscall"

	"github.com/gophercloud/gophercloud/v2"

	"github.com/novabsd/novabsd/internal/retry"
)

// call runs fn up to 1+NumRetries times, as nova's GlanceClientWrapper.call
// does: retrying on 503 and on connection errors, pausing RetryDelay, moving
// to the next api_servers entry. Any other failure is translated at once.
func (c *Client) call(ctx context.Context, imageID, op string, fn func(sc *gophercloud.ServiceClient) error) error {
	policy := c.g.opts.retryPolicy(true)
	var last error
	for i := range retry.Loop(ctx, policy) {
		err := fn(c.service(i))
		if err == nil {
			return nil
		}
		if ctx.Err() != nil {
			return newErr(imageID, op, ErrUnavailable, ctx.Err(), "interrupted")
		}
		if !retriable(err) {
			return translate(imageID, op, err)
		}
		last = err
	}
	if ctx.Err() != nil {
		return newErr(imageID, op, ErrUnavailable, ctx.Err(), "interrupted while waiting to retry")
	}
	return newErr(imageID, op, ErrUnavailable, last, "gave up after %d attempts", policy.Attempts)
}

// retriable mirrors glanceclient's retry set: ServiceUnavailable,
// CommunicationError, InvalidEndpoint and IOError.
func retriable(err error) bool {
	if statusOf(err) == http.StatusServiceUnavailable {
		return true
	}
	var ue *url.Error
	var ne net.Error
	return errors.As(err, &ue) || errors.As(err, &ne) ||
		errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, syscall.ECONNRESET) ||
		errors.Is(err, syscall.ECONNREFUSED) || errors.Is(err, syscall.EPIPE)
}

// statusOf gives the HTTP status of a gophercloud or upload error, 0 if none.
func statusOf(err error) int {
	var gc gophercloud.ErrUnexpectedResponseCode
	if errors.As(err, &gc) {
		return gc.Actual
	}
	var gcp *gophercloud.ErrUnexpectedResponseCode
	if errors.As(err, &gcp) {
		return gcp.Actual
	}
	var he *httpStatusError
	if errors.As(err, &he) {
		return he.Status
	}
	return 0
}

// httpStatusError is what the plain net/http calls (upload) return for a
// status they did not expect.
type httpStatusError struct {
	Method, URL string
	Status      int
	Body        string
}

func (e *httpStatusError) Error() string {
	return fmt.Sprintf("%s %s: HTTP %d%s", e.Method, e.URL, e.Status, bodySuffix(e.Body))
}

func bodySuffix(b string) string {
	if b == "" {
		return ""
	}
	if len(b) > 300 {
		b = b[:300] + "..."
	}
	return ": " + b
}

// translate maps an HTTP status to the sentinel kinds, as nova's
// _translate_image_exception does.
func translate(imageID, op string, err error) error {
	switch s := statusOf(err); {
	case s == http.StatusUnauthorized || s == http.StatusForbidden:
		return newErr(imageID, op, ErrNotAuthorized, err, "Glance answered %d", s)
	case s == http.StatusNotFound:
		return newErr(imageID, op, ErrNotFound, err, "Glance answered 404")
	case s == http.StatusNoContent:
		return newErr(imageID, op, ErrNoData, err, "Glance answered 204")
	case s == http.StatusBadRequest || s == http.StatusConflict || s == http.StatusRequestEntityTooLarge ||
		s == http.StatusUnsupportedMediaType:
		return newErr(imageID, op, ErrBadRequest, err, "Glance answered %d", s)
	case s >= 500:
		return newErr(imageID, op, ErrUnavailable, err, "Glance answered %d", s)
	case s != 0:
		return newErr(imageID, op, ErrBadRequest, err, "Glance answered %d", s)
	}
	return newErr(imageID, op, ErrUnavailable, err, "")
}
