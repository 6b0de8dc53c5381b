//go:build !linux && !freebsd

package plug

import (
	"context"
	"errors"
)

// errNoHost is the answer on systems whose taps this package does not know.
var errNoHost = errors.New("taps are plugged on Linux and FreeBSD only")

type noDevice struct{}

func newDevice(runFunc) device { return noDevice{} }

func (noDevice) ensureTap(context.Context, Port) (bool, error)    { return false, errNoHost }
func (noDevice) deleteTap(context.Context, string) error          { return errNoHost }
func (noDevice) joinBridge(context.Context, string, string) error { return errNoHost }
