package beneath

import (
	"os"

	"golang.org/x/sys/unix"
)

func supported() error { return nil }

func (d *Dir) openBeneath(name string, flag int, perm os.FileMode) (*os.File, error) {
	for {
		fd, err := unix.Openat(int(d.f.Fd()), name, openFlags(flag)|unix.O_RESOLVE_BENEATH, uint32(perm.Perm()))
		switch err {
		case nil:
			return os.NewFile(uintptr(fd), d.path+"/"+name), nil
		case unix.EINTR:
			continue
		case unix.ENOTCAPABLE, unix.EXDEV:
			// FreeBSD reports an escape as ENOTCAPABLE (EXDEV on newer
			// releases' O_RESOLVE_BENEATH, matching Linux).
			return nil, ErrEscapes
		default:
			return nil, err
		}
	}
}
