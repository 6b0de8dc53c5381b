package hypervisor

import (
	"errors"
	"fmt"
	"net"
	"strconv"
	"sync"
	"syscall"
)

// ErrNoPort: every port of a range is held by a guest or in use on the
// listen address (errors.Is matches a *NoPortError).
var ErrNoPort = errors.New("no free port")

// NoPortError is Pick's exhaustion: which kind of port, range and address.
type NoPortError struct {
	Kind     string // "VNC", "serial console"
	Min, Max int
	Listen   string
}

func (e *NoPortError) Error() string {
	return fmt.Sprintf("no free %s port between %d and %d on %s", e.Kind, e.Min, e.Max, e.Listen)
}

// Is makes errors.Is(err, ErrNoPort) true.
func (e *NoPortError) Is(target error) bool { return target == ErrNoPort }

// Ports hands out the TCP ports guests' VNC servers or serial consoles
// listen on, so that each guest keeps one fixed port across power cycles
// and the console proxy can be told the real port (neither bhyve nor a
// QEMU autoport can be read back). The caller picks a port when it builds
// the domain and writes it there; drivers only read it. Use one Ports per
// kind of port. The zero value is ready to use (Kind "TCP") and safe for
// concurrent use.
type Ports struct {
	Kind string // named in errors: "VNC", "serial console"

	mu    sync.Mutex
	taken map[int]string // port → guest (instance uuid)
}

func (v *Ports) kind() string {
	if v.Kind == "" {
		return "TCP"
	}
	return v.Kind
}

// Reserve records that guest holds port, e.g. a guest found at start-up
// with the port of its saved domain.
func (v *Ports) Reserve(guest string, port int) {
	v.mu.Lock()
	defer v.mu.Unlock()
	if v.taken == nil {
		v.taken = map[int]string{}
	}
	v.taken[port] = guest
}

// Release frees every port guest holds; a guest holding none is not an
// error.
func (v *Ports) Release(guest string) {
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
func (v *Ports) Pick(guest, listen string, min, max int) (int, error) {
	if min <= 0 || max > 65535 || max < min {
		return 0, fmt.Errorf("%s port range %d-%d is not a range of TCP ports", v.kind(), min, max)
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
			return 0, fmt.Errorf("%s port %d on %s: %w", v.kind(), p, listen, err)
		}
		l.Close()
		v.taken[p] = guest
		return p, nil
	}
	return 0, &NoPortError{Kind: v.kind(), Min: min, Max: max, Listen: listen}
}
