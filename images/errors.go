package images

import (
	"errors"
	"fmt"
)

// Sentinel kinds. Every *Error matches exactly one with errors.Is, plus
// ErrNotActive for the killed and deleted kinds.
var (
	// ErrNotFound means Glance answered 404 for the image.
	ErrNotFound = errors.New("image not found")
	// ErrNotAuthorized means Glance answered 401 or 403: the token is invalid
	// or does not grant access to the image.
	ErrNotAuthorized = errors.New("not authorized for image")
	// ErrNotActive means the image exists but its status is not "active".
	ErrNotActive = errors.New("image is not active")
	// ErrKilled means the image's upload failed in Glance (status "killed").
	ErrKilled = errors.New("image is killed")
	// ErrDeleted means the image is deleted or pending deletion.
	ErrDeleted = errors.New("image is deleted")
	// ErrChecksumMismatch means the downloaded data does not hash to the
	// os_hash_value (or MD5 checksum) Glance recorded.
	ErrChecksumMismatch = errors.New("image checksum mismatch")
	// ErrSizeExceeded means the download carried more bytes than Glance's
	// recorded size or the cache's size limit.
	ErrSizeExceeded = errors.New("image size exceeded")
	// ErrSizeMismatch means the download ended before the recorded size.
	ErrSizeMismatch = errors.New("image size mismatch")
	// ErrUnavailable means Glance could not be reached or answered 503 after
	// every retry, or answered with an unexpected server error.
	ErrUnavailable = errors.New("glance unavailable")
	// ErrNoData means the image has no data (Glance answered 204).
	ErrNoData = errors.New("image has no associated data")
	// ErrUnacceptable means the image data cannot be used: unknown hash
	// algorithm, content that does not match disk_format, a backing file.
	ErrUnacceptable = errors.New("image unacceptable")
	// ErrNoEndpoint means no Glance endpoint could be found in the service
	// catalog (and none was configured).
	ErrNoEndpoint = errors.New("no glance endpoint")
	// ErrBadRequest means Glance refused the request as malformed (400, 409,
	// 413, 415): a bad property, a conflicting image state, an upload too large.
	ErrBadRequest = errors.New("glance refused the request")
	// ErrInsufficientSpace means the image cache's file system has less free
	// space than the image needs.
	ErrInsufficientSpace = errors.New("insufficient disk space for image")
)

// Error describes a failed image operation. Op names what was being done
// ("get", "download", "upload", ...), ImageID the image concerned.
type Error struct {
	ImageID string
	Op      string
	Kind    error  // one of the Err* sentinels
	Detail  string // what exactly was wrong, e.g. both hashes
	Err     error  // underlying cause, if any
}

func (e *Error) Error() string {
	msg := fmt.Sprintf("image %s: %s: %v", e.ImageID, e.Op, e.Kind)
	if e.Detail != "" {
		msg += ": " + e.Detail
	}
	if e.Err != nil {
		msg += ": " + e.Err.Error()
	}
	return msg
}

// Is matches the Kind sentinel; killed and deleted images also match
// ErrNotActive so callers that only care about "cannot use it" need one test.
func (e *Error) Is(target error) bool {
	if target == e.Kind {
		return true
	}
	return target == ErrNotActive && (e.Kind == ErrKilled || e.Kind == ErrDeleted)
}

// Unwrap gives the underlying cause (a network error, an HTTP status error).
func (e *Error) Unwrap() error { return e.Err }

func newErr(id, op string, kind error, cause error, format string, a ...any) *Error {
	return &Error{ImageID: id, Op: op, Kind: kind, Err: cause, Detail: fmt.Sprintf(format, a...)}
}
