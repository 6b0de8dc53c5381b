// Package beneath opens instance files relative to an instance directory so
// that no name — from an instance name, an image property or a domain XML —
// can reach a file outside it: "..", absolute paths and symlinks that leave
// the directory are refused by the kernel (openat2 RESOLVE_BENEATH on Linux,
// O_RESOLVE_BENEATH on FreeBSD). Other systems get ErrUnsupported rather than
// an unchecked fallback.
package beneath

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path"
	"strings"
)

var (
	// ErrEscapes: the name resolves outside the directory.
	ErrEscapes = errors.New("path escapes the instance directory")
	// ErrUnsupported: this operating system cannot confine lookups.
	ErrUnsupported = errors.New("confined file access not supported on this system")
)

// Dir is an open directory under which files are opened. It is safe for
// concurrent use.
type Dir struct {
	f    *os.File
	path string
}

// Open opens the directory dir. dir itself is trusted (it comes from the
// service's configuration); only names given to Dir's methods are confined.
func Open(dir string) (*Dir, error) {
	if err := supported(); err != nil {
		return nil, err
	}
	f, err := os.Open(dir)
	if err != nil {
		return nil, fmt.Errorf("open instance directory: %w", err)
	}
	st, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("open instance directory: %w", err)
	}
	if !st.IsDir() {
		f.Close()
		return nil, fmt.Errorf("open instance directory %s: not a directory", dir)
	}
	return &Dir{f: f, path: dir}, nil
}

// Path returns the directory's path as given to Open.
func (d *Dir) Path() string { return d.path }

// Close releases the directory.
func (d *Dir) Close() error { return d.f.Close() }

// OpenFile opens name beneath d with os.OpenFile's flag and perm.
func (d *Dir) OpenFile(name string, flag int, perm os.FileMode) (*os.File, error) {
	if err := checkName(name); err != nil {
		return nil, d.pathErr("open", name, err)
	}
	f, err := d.openBeneath(name, flag, perm)
	if err != nil {
		return nil, d.pathErr("open", name, err)
	}
	return f, nil
}

// ReadFile returns the contents of name beneath d.
func (d *Dir) ReadFile(name string) ([]byte, error) {
	f, err := d.OpenFile(name, os.O_RDONLY, 0)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return io.ReadAll(f)
}

// WriteFile replaces name beneath d with data atomically: it writes a
// temporary file next to it and renames it over, so a crash leaves the old
// or the new contents, never half of them.
func (d *Dir) WriteFile(name string, data []byte, perm os.FileMode) error {
	if err := checkName(name); err != nil {
		return d.pathErr("write", name, err)
	}
	dir, base := path.Split(name)
	tmp := dir + "." + base + ".tmp"
	f, err := d.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, perm)
	if err != nil {
		return err
	}
	_, err = f.Write(data)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = d.Rename(tmp, name)
	}
	if err != nil {
		_ = d.Remove(tmp)
		return d.pathErr("write", name, err)
	}
	return nil
}

// checkName refuses names that can never be beneath: empty and absolute
// ones. Everything else ("a/../b", symlinks) is left to the kernel, which
// resolves it race-free.
func checkName(name string) error {
	if name == "" {
		return errors.New("empty name")
	}
	if strings.HasPrefix(name, "/") {
		return ErrEscapes
	}
	return nil
}

func (d *Dir) pathErr(op, name string, err error) error {
	var pe *os.PathError
	if errors.As(err, &pe) {
		return err
	}
	return &os.PathError{Op: op, Path: d.path + " beneath: " + name, Err: err}
}

// OpenFile opens name beneath dir; a convenience for one-off access.
func OpenFile(dir, name string, flag int, perm os.FileMode) (*os.File, error) {
	d, err := Open(dir)
	if err != nil {
		return nil, err
	}
	defer d.Close()
	return d.OpenFile(name, flag, perm)
}

// ReadFile reads name beneath dir.
func ReadFile(dir, name string) ([]byte, error) {
	d, err := Open(dir)
	if err != nil {
		return nil, err
	}
	defer d.Close()
	return d.ReadFile(name)
}

// WriteFile atomically replaces name beneath dir with data.
func WriteFile(dir, name string, data []byte, perm os.FileMode) error {
	d, err := Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.WriteFile(name, data, perm)
}
