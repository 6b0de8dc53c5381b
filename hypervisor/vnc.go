package hypervisor

import (
	"errors"
	"fmt"
	"net"
	"strconv"
	"sync"
	"syscall"
)

// ErrNoVNCPort: every port of the VNC range is held by a guest or in use on
// the listen address.
var ErrNoVNCPort = errors.New("no free VNC port")

// VNCPorts hands out the TCP ports guests' VNC servers listen on, so that
// each guest keeps one fixed port across power cycles and the console proxy
// can be told the real port (neither bhyve nor a QEMU autoport can be read
// back). The caller picks a port when it builds the domain and writes it
// there; drivers only read it. The zero value is ready to use and safe for
// concurrent use.
type VNCPorts struct {
	mu    sync.Mutex
	taken map[int]string // port → guest (instance uuid)
}

// Reserve records that guest holds port, e.g. a guest found running at
// start-up with the port of its saved domain.
func (v *VNCPorts) Reserve(guest string, port int) {
	v.mu.Lock()
	defer v.mu.Unlock()
	if v.taken == nil {
		v.taken = map[int]string{}
	}
	v.taken[port] = guest
}

// Release frees every port guest holds; a guest holding none is not an
// error.
func (v *VNCPorts) Release(guest string) {
	v.mu.Lock()
	defer v.mu.Unlock()
	for p, g := range v.taken {
		if g == guest {
			delete(v.taken, p)
		}
	}
}

// Pick returns a port in [min, max] for guest: the one it already holds in
// that range, else the lowest no other guest holds and nothing listens on
// (checked by binding it on listen). The port stays held until Release.
func (v *VNCPorts) Pick(guest, listen string, min, max int) (int, error) {
	if min <= 0 || max > 65535 || max < min {
		return 0, fmt.Errorf("VNC port range %d-%d is not a range of TCP ports", min, max)
	}
	v.mu.Lock()
	defer v.mu.Unlock()
	if v.taken == nil {
		v.taken = map[int]string{}
	}
	for p, g := range v.taken {
		if g == guest && p >= min && p <= max {
			return p, nil
		}
	}
	for p := min; p <= max; p++ {
		if _, held := v.taken[p]; held {
			continue
		}
		l, err := net.Listen("tcp", net.JoinHostPort(listen, strconv.Itoa(p)))
		if errors.Is(err, syscall.EADDRINUSE) {
			continue // another process has it
		} else if err != nil {
			// Not about this port (an address not of this host, no permission): no other port would do.
			return 0, fmt.Errorf("VNC port %d on %s: %w", p, listen, err)
		}
		l.Close()
		v.taken[p] = guest
		return p, nil
	}
	return 0, fmt.Errorf("%w between %d and %d on %s", ErrNoVNCPort, min, max, listen)
}
