package qcow2

import (
	"errors"
	"fmt"
)

// Sentinel kinds; every *Error unwraps to exactly one of them.
var (
	// ErrNotQCOW2 means the data does not start with the qcow2 magic.
	ErrNotQCOW2 = errors.New("not a qcow2 image")
	// ErrCorrupt means a header field or table entry is out of range or inconsistent.
	ErrCorrupt = errors.New("corrupt qcow2 image")
	// ErrUnsupported means the image is valid but uses a feature this reader refuses.
	ErrUnsupported = errors.New("unsupported qcow2 feature")
	// ErrBackingRefused means the image has a backing file and the caller gave no
	// resolver, or the resolver refused the name.
	ErrBackingRefused = errors.New("qcow2 backing file refused")
)

// Error describes what was wrong with an image. Field names the header field,
// table or feature concerned so operators can tell corruption from policy.
type Error struct {
	Kind   error  // one of the Err* sentinels
	Field  string // e.g. "cluster_bits", "L2 entry", "backing file"
	Detail string
}

func (e *Error) Error() string {
	return fmt.Sprintf("%v: %s: %s", e.Kind, e.Field, e.Detail)
}

// Unwrap lets errors.Is match the Kind sentinel.
func (e *Error) Unwrap() error { return e.Kind }

func corrupt(field, format string, a ...any) error {
	return &Error{Kind: ErrCorrupt, Field: field, Detail: fmt.Sprintf(format, a...)}
}

func unsupported(field, format string, a ...any) error {
	return &Error{Kind: ErrUnsupported, Field: field, Detail: fmt.Sprintf(format, a...)}
}
