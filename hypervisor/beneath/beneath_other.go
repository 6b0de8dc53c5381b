//go:build !linux && !freebsd

package beneath

import (
	"fmt"
	"os"
	"runtime"
)

func supported() error { return fmt.Errorf("%w (%s)", ErrUnsupported, runtime.GOOS) }

func (d *Dir) openBeneath(string, int, os.FileMode) (*os.File, error) { return nil, supported() }

// Mkdir is unsupported on this system.
func (d *Dir) Mkdir(string, os.FileMode) error { return supported() }

// Remove is unsupported on this system.
func (d *Dir) Remove(string) error { return supported() }

// Rename is unsupported on this system.
func (d *Dir) Rename(string, string) error { return supported() }
