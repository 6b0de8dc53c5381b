//go:build e2e

package e2e

import (
	"fmt"
	"regexp"
	"strings"
	"testing"
	"time"

	tinyimage "github.com/novabsd/novabsd/devstack/image"
)

// The rescue and rebuild cases of issue 12, on one networked server (a boot under TCG is the expensive part):
// what Nova shows, and what the guest's console shows of the disks it booted with. The tiny guest's Debian
// kernel prints one line per virtio disk, "virtio_blk virtio2: [vdb] 2097152 512-byte logical blocks ...".

// diskBlocks returns the block count the console's last boot printed for dev ("" when it printed none).
func diskBlocks(console, dev string) string {
	m := regexp.MustCompile(`\[`+dev+`\] (\d+) 512-byte`).FindAllStringSubmatch(console, -1)
	if len(m) == 0 {
		return ""
	}
	return m[len(m)-1][1]
}

// lastBoot is the console from the last marker's boot on: the log starts over with each QEMU process, but a
// rebootBy runs `openstack ARGS...`, an action that boots the server id's guest again, waits for the server to
// have status and for the new boot on the console, and returns the server and the console of that boot.
func rebootBy(t *testing.T, id, status string, args ...string) (map[string]any, string) {
	t.Helper()
	before := consoleLog(t, id)
	openstack(t, args...)
	s := waitServer(t, id, status, 4*time.Minute)
	waitBootAfter(t, id, before, 3*time.Minute)
	return s, lastBoot(consoleLog(t, id))
}

// reboot within one appends.
func lastBoot(console string) string {
	i := strings.LastIndex(console, "Linux version")
	if i < 0 {
		return console
	}
	return console[i:]
}

func TestRescueAndRebuild(t *testing.T) {
	requireNetworks(t)
	t.Parallel()
	host := sharedHost(t)
	id, p := bootNet(t, host, fmt.Sprintf("e2e-rescue-%d", time.Now().Unix()), privateNet)
	waitMarker(t, id, 1, 3*time.Minute)
	addr := ipv4(serverAddrs(serverShow(t, id), privateNet))
	// The rescue disk is a fresh copy of the image, its own size; the root disk has the flavor's.
	img := openstackJSON1(t, "image", "show", "tiny")
	imageBlocks := ""
	if n, ok := img["size"].(float64); ok {
		imageBlocks = fmt.Sprint(int64(n) / 512)
	}
	rootBlocks := diskBlocks(lastBoot(consoleLog(t, id)), "vda")
	if rootBlocks == "" {
		t.Fatalf("the console shows no vda line:\n%s", tail(consoleLog(t, id), 40))
	}

	t.Run("rescue", func(t *testing.T) {
		_, c := rebootBy(t, id, "RESCUE", "server", "rescue", id)
		if got := diskBlocks(c, "vda"); imageBlocks != "" && got != imageBlocks {
			t.Errorf("rescue boot: vda has %s blocks, want the rescue image's %s", got, imageBlocks)
		}
		if got := diskBlocks(c, "vdb"); got != rootBlocks {
			t.Errorf("rescue boot: vdb has %q blocks, want the original root disk (%s blocks) attached second\n%s",
				got, rootBlocks, tail(c, 40))
		}
		if !strings.Contains(c, tinyimage.Marker) {
			t.Errorf("the rescue image did not come up:\n%s", tail(c, 40))
		}
	})

	t.Run("unrescue", func(t *testing.T) {
		_, c := rebootBy(t, id, "ACTIVE", "server", "unrescue", id)
		if got := diskBlocks(c, "vda"); got != rootBlocks {
			t.Errorf("after unrescue: vda has %s blocks, want the root disk's %s", got, rootBlocks)
		}
		if got := diskBlocks(c, "vdb"); got != "" {
			t.Errorf("after unrescue a second disk (%s blocks) is still attached", got)
		}
	})

	t.Run("rebuild", func(t *testing.T) {
		s, c := rebootBy(t, id, "ACTIVE", "server", "rebuild", "--image", "tiny", "--wait", id)
		if got := ipv4(serverAddrs(s, privateNet)); strings.Join(got, ",") != strings.Join(addr, ",") {
			t.Errorf("addresses after rebuild %v, before %v", got, addr)
		}
		ports := serverPorts(t, id)
		if len(ports) != 1 || ports[0].ID != p.ID {
			t.Errorf("ports after rebuild %+v, want the same port %s", ports, p.ID)
		}
		if got := diskBlocks(c, "vda"); got != rootBlocks {
			t.Errorf("after rebuild: vda has %s blocks, want %s", got, rootBlocks)
		}
		deadline := time.Now().Add(2 * time.Minute)
		for len(tinyimage.Addresses([]byte(lastBoot(consoleLog(t, id))))) == 0 && time.Now().Before(deadline) {
			time.Sleep(2 * time.Second)
		}
		got := tinyimage.Addresses([]byte(lastBoot(consoleLog(t, id))))
		if len(got) == 0 || len(addr) == 0 || got[0].Prefix.Addr().String() != addr[0] {
			t.Errorf("the rebuilt guest reports %+v, want address %v", got, addr)
		}
	})
}
