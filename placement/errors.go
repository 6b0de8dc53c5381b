package placement

import (
	"errors"
	"fmt"
	"net/http"
)

// Sentinel errors matched with errors.Is against an *APIError.
var (
	// ErrNotFound: Placement answered 404.
	ErrNotFound = errors.New("placement: not found")
	// ErrConflict: Placement answered 409 (any cause).
	ErrConflict = errors.New("placement: conflict")
	// ErrGenerationConflict: a 409 caused by a stale resource provider (or
	// consumer) generation; re-read and retry.
	ErrGenerationConflict = errors.New("placement: generation conflict")
	// ErrInventoryInUse: an inventory change would remove or shrink a
	// resource class that has allocations.
	ErrInventoryInUse = errors.New("placement: inventory in use")
)

// Placement error codes (placement/errors.py).
const (
	codeConcurrentUpdate = "placement.concurrent_update"
	codeInventoryInUse   = "placement.inventory.inuse"
	codeUndefined        = "placement.undefined_code"
	codeDuplicateName    = "placement.duplicate_name"
)

// APIError is a non-success answer from Placement.
type APIError struct {
	// Op says what the client was doing, e.g. "set inventory of <uuid>".
	Op     string
	Method string
	URL    string
	Status int
	// Code and Detail come from the first entry of the error body
	// ({"errors": [{"code": ..., "detail": ...}]}).
	Code   string
	Detail string
}

func (e *APIError) Error() string {
	msg := fmt.Sprintf("placement: %s: %s %s answered %d %s", e.Op, e.Method, e.URL, e.Status, http.StatusText(e.Status))
	if e.Code != "" {
		msg += " (" + e.Code + ")"
	}
	if e.Detail != "" {
		msg += ": " + e.Detail
	}
	return msg
}

// Is lets errors.Is match the sentinel errors above.
func (e *APIError) Is(target error) bool {
	switch target {
	case ErrNotFound:
		return e.Status == http.StatusNotFound
	case ErrConflict:
		return e.Status == http.StatusConflict
	case ErrInventoryInUse:
		return e.Status == http.StatusConflict && e.Code == codeInventoryInUse
	case ErrGenerationConflict:
		// Before error codes existed every other 409 on a generation-checked
		// write meant a stale generation; Nova still reads it that way.
		return e.Status == http.StatusConflict &&
			(e.Code == codeConcurrentUpdate || e.Code == "" || e.Code == codeUndefined)
	}
	return false
}

// UnavailableError means Placement (or Keystone) could not be reached or
// answered 5xx: the caller should log it and try again later, as Nova's
// @safe_connect does.
type UnavailableError struct {
	Op  string
	Err error
}

func (e *UnavailableError) Error() string {
	return "placement: " + e.Op + ": placement unavailable: " + e.Err.Error()
}

func (e *UnavailableError) Unwrap() error { return e.Err }

// ProviderNameConflictError: another resource provider already has the
// name (Nova's ResourceProviderCreationFailed). Usually a compute node
// re-installed with a new compute_id while the old provider remains.
type ProviderNameConflictError struct {
	UUID   string
	Name   string
	Detail string
}

func (e *ProviderNameConflictError) Error() string {
	return fmt.Sprintf("placement: cannot create resource provider %s named %q: another provider has that name "+
		"(delete the stale provider or restore this node's compute_id): %s", e.UUID, e.Name, e.Detail)
}

// Is makes a name conflict match ErrConflict.
func (e *ProviderNameConflictError) Is(target error) bool { return target == ErrConflict }

// ConfigError names an invalid option or provider config entry.
type ConfigError struct {
	Field string
	Err   error
}

func (e *ConfigError) Error() string { return "placement: invalid " + e.Field + ": " + e.Err.Error() }
func (e *ConfigError) Unwrap() error { return e.Err }
