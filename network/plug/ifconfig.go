package plug

import (
	"context"
	"errors"
	"fmt"
	"regexp"
	"strconv"
	"strings"

	"github.com/novabsd/novabsd/internal/revert"
)

// ErrNoBridge is wrapped when the bridge a binding names does not exist on the host. A plain bridge is the
// operator's (or its agent's) to make; a plug never makes one silently.
var ErrNoBridge = errors.New("no such bridge")

// ifconfigDevice is FreeBSD's device: taps and if_bridge through ifconfig(8). It is built on every system so
// that its command sequences are tested on Linux against a stand-in (testdata/ifconfig-standin).
//
// The tap's owner is not set: bhyve runs as root and opens /dev/<tap> itself.
type ifconfigDevice struct {
	bin string // ifconfig(8)
	run runFunc
}

// tapUnitRE is what "ifconfig tap create" prints: the clone's name.
var tapUnitRE = regexp.MustCompile(`^tap[0-9]+$`)

func (d *ifconfigDevice) ifconfig(ctx context.Context, args ...string) ([]byte, error) {
	return d.run(ctx, append([]string{d.bin}, args...))
}

// ifInfo is what a plug needs of ifconfig(8)'s report on one interface.
type ifInfo struct {
	groups  []string // "groups: tap", "groups: bridge"
	members []string // a bridge's "member: tap0 flags=..." lines
}

func (i ifInfo) inGroup(g string) bool {
	for _, x := range i.groups {
		if x == g {
			return true
		}
	}
	return false
}

func (i ifInfo) hasMember(m string) bool {
	for _, x := range i.members {
		if x == m {
			return true
		}
	}
	return false
}

// parseIfconfig reads ifconfig(8)'s report on one interface: the indented "groups:" and "member:" lines.
// Unknown lines are ignored, so a newer ifconfig's extra lines do no harm.
func parseIfconfig(out []byte) ifInfo {
	var info ifInfo
	for _, line := range strings.Split(string(out), "\n") {
		f := strings.Fields(line)
		if len(f) < 2 {
			continue
		}
		switch f[0] {
		case "groups:":
			info.groups = append(info.groups, f[1:]...)
		case "member:":
			info.members = append(info.members, f[1])
		}
	}
	return info
}

// notExist tells ifconfig(8)'s "interface X does not exist" apart from other failures.
func notExist(err error) bool {
	var ce *cmdError
	return errors.As(err, &ce) && strings.Contains(ce.Stderr, "does not exist")
}

// show reports on name; ok is false when there is no such interface.
func (d *ifconfigDevice) show(ctx context.Context, name string) (info ifInfo, ok bool, err error) {
	out, err := d.ifconfig(ctx, name)
	if notExist(err) {
		return ifInfo{}, false, nil
	}
	if err != nil {
		return ifInfo{}, false, err
	}
	return parseIfconfig(out), true, nil
}

func (d *ifconfigDevice) ensureTap(ctx context.Context, p Port) (bool, error) {
	name, mtu := p.Tap, p.MTU
	info, ok, err := d.show(ctx, name)
	if err != nil {
		return false, err
	}
	r := revert.New()
	defer r.Fail()
	if ok && !info.inGroup("tap") {
		return false, fmt.Errorf("interface %s exists and is not a tap (groups %v)", name, info.groups)
	}
	if !ok {
		// A tap is cloned under the next free unit's name and renamed: "ifconfig tapXXXX create" would also
		// work, but the two steps leave a name to clean up at every point.
		out, err := d.ifconfig(ctx, "tap", "create")
		if err != nil {
			return false, err
		}
		cur := strings.TrimSpace(string(out))
		if !tapUnitRE.MatchString(cur) {
			return false, fmt.Errorf("ifconfig tap create printed %q, not a tap's name", cur)
		}
		r.Add(func() error {
			c, cancel := context.WithTimeout(context.WithoutCancel(ctx), undoTimeout)
			defer cancel()
			_, err := d.ifconfig(c, cur, "destroy")
			return err
		})
		if cur != name {
			if _, err := d.ifconfig(ctx, cur, "name", name); err != nil {
				return false, err
			}
			cur = name
		}
	}
	args := []string{name}
	if mtu > 0 {
		args = append(args, "mtu", strconv.Itoa(mtu))
	}
	if _, err := d.ifconfig(ctx, append(args, "up")...); err != nil {
		return false, err
	}
	r.Success()
	return !ok, nil
}

func (d *ifconfigDevice) deleteTap(ctx context.Context, name string) error {
	_, ok, err := d.show(ctx, name)
	if err != nil || !ok {
		return err
	}
	if _, err := d.ifconfig(ctx, name, "destroy"); err != nil && !notExist(err) {
		return err
	}
	return nil
}

func (d *ifconfigDevice) joinBridge(ctx context.Context, tap, bridge string) error {
	info, ok, err := d.show(ctx, bridge)
	if err != nil {
		return err
	}
	if !ok {
		return fmt.Errorf("%w: %s", ErrNoBridge, bridge)
	}
	if !info.inGroup("bridge") {
		return fmt.Errorf("%s is not a bridge (groups %v)", bridge, info.groups)
	}
	if info.hasMember(tap) {
		return nil
	}
	_, err = d.ifconfig(ctx, bridge, "addm", tap)
	return err
}
