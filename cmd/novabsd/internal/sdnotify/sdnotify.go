// Package sdnotify tells a service manager what state the service is in, with systemd's notification protocol:
// one datagram of newline-separated VAR=VALUE assignments sent to the unix datagram socket named by $NOTIFY_SOCKET.
// systemd sets that variable for a Type=notify unit and waits for READY=1 before it counts the unit started.
//
// The protocol is a few lines, so it is written here rather than taken from a library (go-systemd's daemon package
// is not among the modules this project can fetch).
package sdnotify

import (
	"errors"
	"fmt"
	"net"
	"strings"
)

// The states novabsd reports (sd_notify(3)).
const (
	// Ready: start-up is finished and the service serves.
	Ready = "READY=1"
	// Stopping: the service has begun to stop.
	Stopping = "STOPPING=1"
)

// EnvSocket is the environment variable naming the manager's notification socket.
const EnvSocket = "NOTIFY_SOCKET"

// ErrBadSocket is wrapped by the errors for a $NOTIFY_SOCKET that is neither a path nor an abstract socket name.
var ErrBadSocket = errors.New("bad notification socket")

// Notifier sends notifications to one socket. A nil *Notifier sends nothing: the service then runs without a
// manager that listens (not under systemd, or a unit of another Type).
type Notifier struct {
	addr *net.UnixAddr
}

// New returns a Notifier for socket, the value of $NOTIFY_SOCKET: an absolute path, or an abstract socket name
// starting with '@' (Linux), whose '@' stands for the leading NUL byte. An empty socket gives a nil Notifier.
func New(socket string) (*Notifier, error) {
	switch {
	case socket == "":
		return nil, nil
	case len(socket) > 108:
		// sockaddr_un's sun_path is 108 bytes on Linux (104 on the BSDs): a longer name cannot be addressed.
		return nil, fmt.Errorf("%w: %s is %d bytes, longer than a unix socket address", ErrBadSocket, EnvSocket, len(socket))
	case strings.ContainsRune(socket, 0):
		return nil, fmt.Errorf("%w: %s contains a NUL byte", ErrBadSocket, EnvSocket)
	case socket[0] == '/', socket[0] == '@' && len(socket) > 1:
		// Go's net package maps a leading '@' to the abstract namespace itself.
		return &Notifier{addr: &net.UnixAddr{Name: socket, Net: "unixgram"}}, nil
	default:
		return nil, fmt.Errorf("%w: %s=%q is neither an absolute path nor an abstract name (@...)", ErrBadSocket, EnvSocket, socket)
	}
}

// Notify sends the states in one datagram. Each call opens its own socket: notifications are few (start, stop),
// and the service then holds no descriptor that a guest it starts could inherit.
func (n *Notifier) Notify(states ...string) error {
	if n == nil || len(states) == 0 {
		return nil
	}
	for _, s := range states {
		if !strings.Contains(s, "=") || strings.ContainsRune(s, '\n') {
			return fmt.Errorf("sdnotify: %q is not one VAR=VALUE assignment", s)
		}
	}
	c, err := net.DialUnix("unixgram", nil, n.addr)
	if err != nil {
		return fmt.Errorf("sdnotify: %w", err)
	}
	defer c.Close()
	if _, err := c.Write([]byte(strings.Join(states, "\n"))); err != nil {
		return fmt.Errorf("sdnotify: send %s: %w", strings.Join(states, ","), err)
	}
	return nil
}
