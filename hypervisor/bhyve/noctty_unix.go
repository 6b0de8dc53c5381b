//go:build unix

package bhyve

import "syscall"

// noctty keeps the console device from becoming the service's terminal.
const noctty = syscall.O_NOCTTY
