//go:build linux || freebsd

package beneath

import (
	"errors"
	"os"
	"path"

	"golang.org/x/sys/unix"
)

// parent opens the directory holding name beneath d and returns it with the
// last element, which must be a plain name: the *at calls below act on that
// element without following it, so only the parent needs confining.
func (d *Dir) parent(op, name string) (*os.File, string, error) {
	if err := checkName(name); err != nil {
		return nil, "", d.pathErr(op, name, err)
	}
	dir, base := path.Split(name)
	if base == "" || base == "." || base == ".." {
		return nil, "", d.pathErr(op, name, errors.New("last element must be a file name"))
	}
	if dir == "" {
		dir = "."
	}
	p, err := d.openBeneath(dir, os.O_RDONLY|unix.O_DIRECTORY, 0)
	if err != nil {
		return nil, "", d.pathErr(op, name, err)
	}
	return p, base, nil
}

// Mkdir creates directory name beneath d.
func (d *Dir) Mkdir(name string, perm os.FileMode) error {
	p, base, err := d.parent("mkdir", name)
	if err != nil {
		return err
	}
	defer p.Close()
	if err := unix.Mkdirat(int(p.Fd()), base, uint32(perm.Perm())); err != nil {
		return d.pathErr("mkdir", name, err)
	}
	return nil
}

// Remove removes file or empty directory name beneath d. A symlink is
// removed itself, never its target.
func (d *Dir) Remove(name string) error {
	p, base, err := d.parent("remove", name)
	if err != nil {
		return err
	}
	defer p.Close()
	err = unix.Unlinkat(int(p.Fd()), base, 0)
	if err == unix.EISDIR || err == unix.EPERM {
		err = unix.Unlinkat(int(p.Fd()), base, unix.AT_REMOVEDIR)
	}
	if err != nil {
		return d.pathErr("remove", name, err)
	}
	return nil
}

// Rename renames oldname to newname, both beneath d.
func (d *Dir) Rename(oldname, newname string) error {
	op, ob, err := d.parent("rename", oldname)
	if err != nil {
		return err
	}
	defer op.Close()
	np, nb, err := d.parent("rename", newname)
	if err != nil {
		return err
	}
	defer np.Close()
	if err := unix.Renameat(int(op.Fd()), ob, int(np.Fd()), nb); err != nil {
		return d.pathErr("rename", oldname+" -> "+newname, err)
	}
	return nil
}

func openFlags(flag int) int { return flag | unix.O_CLOEXEC }
