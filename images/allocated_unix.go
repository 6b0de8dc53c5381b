//go:build unix

package images

import (
	"io/fs"
	"syscall"
)

// allocated is st_blocks*512, falling back to the length.
func allocated(fi fs.FileInfo) int64 {
	if st, ok := fi.Sys().(*syscall.Stat_t); ok {
		return int64(st.Blocks) * 512
	}
	return fi.Size()
}
