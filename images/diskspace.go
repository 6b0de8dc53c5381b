//go:build unix

package images

import "golang.org/x/sys/unix"

// freeBytes is the space an unprivileged writer may use on dir's file
// system (f_bavail, not f_bfree: the root reserve is not ours).
func freeBytes(dir string) (uint64, error) {
	var st unix.Statfs_t
	if err := unix.Statfs(dir, &st); err != nil {
		return 0, err
	}
	// Bavail is signed on FreeBSD and may go negative inside the reserve.
	if int64(st.Bavail) <= 0 {
		return 0, nil
	}
	return uint64(st.Bavail) * uint64(st.Bsize), nil
}
