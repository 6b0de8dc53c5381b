//go:build linux

package plug

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io/fs"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"

	"github.com/novabsd/novabsd/internal/revert"
)

// tunDevice is Linux's device: persistent taps made through /dev/net/tun, configured with the interface ioctls,
// and read back from sysfs. Everything is a system call: no ip(8), no shell. (golang.org/x/sys is already a
// dependency and these are a handful of ioctls, so vishvananda/netlink is not needed; the one netlink message,
// the delete, is written here.)
type tunDevice struct {
	tun   string // the clone device, /dev/net/tun
	sysfs string // /sys/class/net
}

func newDevice(runFunc) device { return &tunDevice{tun: "/dev/net/tun", sysfs: "/sys/class/net"} }

// tapFlags are libvirt's for a guest's tap: Ethernet frames, no packet-information header, and the virtio-net
// header so QEMU can offload checksums and segmentation.
const tapFlags = unix.IFF_TAP | unix.IFF_NO_PI | unix.IFF_VNET_HDR

// link is what sysfs tells of one interface.
type link struct {
	exists bool
	tun    bool   // a tun/tap device (sysfs has tun_flags)
	flags  uint64 // its tun flags
	owner  int    // its owner uid, -1 for none
	master string // the bridge (or ovs-system) it is a port of
	index  int
}

func (d *tunDevice) link(name string) (link, error) {
	dir := filepath.Join(d.sysfs, name)
	if _, err := os.Lstat(dir); errors.Is(err, fs.ErrNotExist) {
		return link{}, nil
	} else if err != nil {
		return link{}, err
	}
	l := link{exists: true, owner: -1}
	read := func(f string) (string, error) {
		b, err := os.ReadFile(filepath.Join(dir, f))
		return strings.TrimSpace(string(b)), err
	}
	s, err := read("ifindex")
	if err != nil {
		return link{}, err
	}
	if l.index, err = strconv.Atoi(s); err != nil {
		return link{}, fmt.Errorf("%s ifindex %q: %w", name, s, err)
	}
	if s, err := read("tun_flags"); err == nil {
		l.tun = true
		if l.flags, err = strconv.ParseUint(s, 0, 64); err != nil {
			return link{}, fmt.Errorf("%s tun_flags %q: %w", name, s, err)
		}
		o, err := read("owner")
		if err != nil {
			return link{}, err
		}
		if l.owner, err = strconv.Atoi(o); err != nil {
			return link{}, fmt.Errorf("%s owner %q: %w", name, o, err)
		}
	} else if !errors.Is(err, fs.ErrNotExist) {
		return link{}, err
	}
	if m, err := os.Readlink(filepath.Join(dir, "master")); err == nil {
		l.master = filepath.Base(m)
	} else if !errors.Is(err, fs.ErrNotExist) {
		return link{}, err
	}
	return l, nil
}

func (l link) isTap() bool { return l.tun && l.flags&unix.IFF_TAP != 0 }

func (d *tunDevice) ensureTap(_ context.Context, p Port) (bool, error) {
	name, mtu, owner := p.Tap, p.MTU, p.Owner
	l, err := d.link(name)
	if err != nil {
		return false, err
	}
	if l.exists && !l.isTap() {
		return false, fmt.Errorf("interface %s exists and is not a tap", name)
	}
	r := revert.New()
	defer r.Fail()
	if !l.exists || (owner >= 0 && l.owner != owner) {
		if err := d.attach(name, owner); err != nil {
			if l.exists {
				return false, fmt.Errorf("giving tap %s to uid %d (it has %d): %w", name, owner, l.owner, err)
			}
			return false, fmt.Errorf("creating tap %s: %w", name, err)
		}
	}
	if !l.exists {
		r.Add(func() error { return rtnl(unix.RTM_DELLINK, name, nil) })
		// libvirt's rule: the host side gets the guest's MAC with the first byte 0xfe, so a Linux bridge,
		// which takes the lowest of its ports' addresses, never takes a tap's and changes as guests come and
		// go, and so the host's side never answers for the guest's address.
		mac, err := net.ParseMAC(p.MAC)
		if err != nil {
			return false, err
		}
		mac[0] = 0xfe
		if err := rtnl(unix.RTM_SETLINK, name, attr(unix.IFLA_ADDRESS, mac)); err != nil {
			return false, fmt.Errorf("setting %s's address %s: %w", name, mac, err)
		}
	}
	s, err := unix.Socket(unix.AF_INET, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return false, fmt.Errorf("socket for interface ioctls: %w", err)
	}
	defer unix.Close(s)
	if mtu > 0 {
		ifr, err := unix.NewIfreq(name)
		if err != nil {
			return false, err
		}
		ifr.SetUint32(uint32(mtu))
		if err := unix.IoctlIfreq(s, unix.SIOCSIFMTU, ifr); err != nil {
			return false, fmt.Errorf("setting MTU %d on %s: %w", mtu, name, err)
		}
	}
	if err := setUp(s, name); err != nil {
		return false, err
	}
	r.Success()
	return !l.exists, nil
}

// attach opens the clone device on name (creating the tap if there is none), gives it to owner and makes it
// persistent, so it outlives this descriptor and the guest's engine opens it later. A failure before
// TUNSETPERSIST leaves nothing: a new tap that is not persistent goes with the descriptor.
func (d *tunDevice) attach(name string, owner int) error {
	fd, err := unix.Open(d.tun, unix.O_RDWR|unix.O_CLOEXEC, 0)
	if err != nil {
		return fmt.Errorf("opening %s: %w", d.tun, err)
	}
	defer unix.Close(fd)
	ifr, err := unix.NewIfreq(name)
	if err != nil {
		return err
	}
	ifr.SetUint16(tapFlags)
	if err := unix.IoctlIfreq(fd, unix.TUNSETIFF, ifr); err != nil {
		if errors.Is(err, unix.EBUSY) {
			return fmt.Errorf("TUNSETIFF: %w (the tap is open in a running guest)", err)
		}
		return fmt.Errorf("TUNSETIFF: %w", err)
	}
	if owner >= 0 {
		if err := unix.IoctlSetInt(fd, unix.TUNSETOWNER, owner); err != nil {
			return fmt.Errorf("TUNSETOWNER %d: %w", owner, err)
		}
	}
	if err := unix.IoctlSetInt(fd, unix.TUNSETPERSIST, 1); err != nil {
		return fmt.Errorf("TUNSETPERSIST: %w", err)
	}
	return nil
}

func setUp(s int, name string) error {
	ifr, err := unix.NewIfreq(name)
	if err != nil {
		return err
	}
	if err := unix.IoctlIfreq(s, unix.SIOCGIFFLAGS, ifr); err != nil {
		return fmt.Errorf("reading %s's flags: %w", name, err)
	}
	if f := ifr.Uint16(); f&unix.IFF_UP == 0 {
		ifr.SetUint16(f | unix.IFF_UP)
		if err := unix.IoctlIfreq(s, unix.SIOCSIFFLAGS, ifr); err != nil {
			return fmt.Errorf("bringing %s up: %w", name, err)
		}
	}
	return nil
}

func (d *tunDevice) deleteTap(_ context.Context, name string) error {
	l, err := d.link(name)
	if err != nil || !l.exists {
		return err
	}
	if !l.isTap() {
		return fmt.Errorf("interface %s is not a tap: not deleting it", name)
	}
	if err := rtnl(unix.RTM_DELLINK, name, nil); err != nil && !errors.Is(err, unix.ENODEV) {
		return fmt.Errorf("deleting tap %s: %w", name, err)
	}
	return nil
}

// attr is one rtnetlink attribute, header and value, padded to 4 bytes.
func attr(typ uint16, val []byte) []byte {
	l := unix.SizeofRtAttr + len(val)
	a := make([]byte, (l+3)&^3)
	binary.NativeEndian.PutUint16(a[0:], uint16(l))
	binary.NativeEndian.PutUint16(a[2:], typ)
	copy(a[unix.SizeofRtAttr:], val)
	return a
}

// rtnl sends one rtnetlink link request about the interface called name (RTM_DELLINK deletes it, RTM_SETLINK
// sets extra, an attribute) and returns the kernel's answer, as ip-link(8) does. Deleting this way, unlike
// clearing TUNSETPERSIST, works while a process still holds the tap open.
func rtnl(typ uint16, name string, extra []byte) error {
	fd, err := unix.Socket(unix.AF_NETLINK, unix.SOCK_RAW|unix.SOCK_CLOEXEC, unix.NETLINK_ROUTE)
	if err != nil {
		return fmt.Errorf("netlink socket: %w", err)
	}
	defer unix.Close(fd)
	if err := unix.Bind(fd, &unix.SockaddrNetlink{Family: unix.AF_NETLINK}); err != nil {
		return fmt.Errorf("netlink bind: %w", err)
	}
	// nlmsghdr (16 bytes), ifinfomsg (16 bytes, index 0: the name says which), IFLA_IFNAME with the
	// NUL-terminated name, then extra.
	msg := make([]byte, unix.NLMSG_HDRLEN+unix.SizeofIfInfomsg)
	ne := binary.NativeEndian
	ne.PutUint16(msg[4:], typ)
	ne.PutUint16(msg[6:], unix.NLM_F_REQUEST|unix.NLM_F_ACK)
	ne.PutUint32(msg[8:], 1) // sequence
	msg[unix.NLMSG_HDRLEN] = unix.AF_UNSPEC
	msg = append(msg, attr(unix.IFLA_IFNAME, append([]byte(name), 0))...)
	msg = append(msg, extra...)
	ne.PutUint32(msg[0:], uint32(len(msg)))
	if err := unix.Sendto(fd, msg, 0, &unix.SockaddrNetlink{Family: unix.AF_NETLINK}); err != nil {
		return fmt.Errorf("netlink send: %w", err)
	}
	buf := make([]byte, 4096)
	for {
		n, _, err := unix.Recvfrom(fd, buf, 0)
		if err != nil {
			return fmt.Errorf("netlink receive: %w", err)
		}
		for b := buf[:n]; len(b) >= unix.NLMSG_HDRLEN; {
			l := int(ne.Uint32(b[0:]))
			if l < unix.NLMSG_HDRLEN || l > len(b) {
				return fmt.Errorf("netlink: malformed answer")
			}
			if ne.Uint16(b[4:]) == unix.NLMSG_ERROR && ne.Uint32(b[8:]) == 1 {
				if l < unix.NLMSG_HDRLEN+4 {
					return fmt.Errorf("netlink: short error answer")
				}
				if code := int32(ne.Uint32(b[unix.NLMSG_HDRLEN:])); code != 0 {
					return unix.Errno(-code)
				}
				return nil
			}
			if next := (l + 3) &^ 3; next < len(b) {
				b = b[next:]
			} else {
				break
			}
		}
	}
}

func (d *tunDevice) joinBridge(_ context.Context, tap, bridge string) error {
	b, err := d.link(bridge)
	if err != nil {
		return err
	}
	if !b.exists {
		return fmt.Errorf("%w: %s", ErrNoBridge, bridge)
	}
	if _, err := os.Stat(filepath.Join(d.sysfs, bridge, "bridge")); err != nil {
		return fmt.Errorf("%s is not a bridge", bridge)
	}
	t, err := d.link(tap)
	if err != nil {
		return err
	}
	switch t.master {
	case bridge:
		return nil
	case "":
	default:
		return fmt.Errorf("tap %s is already a port of %s", tap, t.master)
	}
	s, err := unix.Socket(unix.AF_INET, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return fmt.Errorf("socket for interface ioctls: %w", err)
	}
	defer unix.Close(s)
	ifr, err := unix.NewIfreq(bridge)
	if err != nil {
		return err
	}
	ifr.SetUint32(uint32(t.index)) // ifr_ifindex: the port to add
	if err := unix.IoctlIfreq(s, unix.SIOCBRADDIF, ifr); err != nil {
		return fmt.Errorf("adding %s to bridge %s: %w", tap, bridge, err)
	}
	return nil
}
