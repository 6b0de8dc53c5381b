//go:build unix

package qemu

import "golang.org/x/sys/unix"

func unixRights(fd int) []byte { return unix.UnixRights(fd) }
