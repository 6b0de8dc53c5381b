package beneath

import (
	"fmt"
	"os"

	"golang.org/x/sys/unix"
)

func supported() error { return nil }

func (d *Dir) openBeneath(name string, flag int, perm os.FileMode) (*os.File, error) {
	how := unix.OpenHow{
		Flags: uint64(openFlags(flag)),
		// Magic links (/proc/self/fd/N) could jump anywhere; RESOLVE_BENEATH
		// already refuses them, NO_MAGICLINKS says so explicitly.
		Resolve: unix.RESOLVE_BENEATH | unix.RESOLVE_NO_MAGICLINKS,
	}
	if flag&(os.O_CREATE|unix.O_TMPFILE) != 0 {
		how.Mode = uint64(perm.Perm())
	}
	for {
		fd, err := unix.Openat2(int(d.f.Fd()), name, &how)
		switch err {
		case nil:
			return os.NewFile(uintptr(fd), d.path+"/"+name), nil
		case unix.EINTR, unix.EAGAIN:
			// EAGAIN: a concurrent rename raced the lookup; the kernel asks
			// us to retry.
			continue
		case unix.EXDEV:
			return nil, ErrEscapes
		case unix.ENOSYS:
			return nil, fmt.Errorf("%w: kernel lacks openat2 (Linux 5.6+)", ErrUnsupported)
		default:
			return nil, err
		}
	}
}
