//go:build e2e

package e2e

import (
	"context"
	"fmt"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/novabsd/novabsd/network"
)

// The shelve cases of issue 12: `openstack server shelve` and `unshelve` against a novabsd compute host, checking
// what Nova, Glance, Placement and Neutron show and what the host really has. The rig leaves
// [DEFAULT] shelved_offload_time at nova's default 0 and so does the shared compute host's nova.conf, so a shelve
// offloads at once. (Soft delete and restore: actions_softdelete_test.go.)

// shelvedImages lists the images named name (nova-api names a shelve's snapshot "<server name>-shelved").
func shelvedImages(t *testing.T, name string) []string {
	t.Helper()
	var ids []string
	for _, r := range openstackJSON(t, "image", "list", "--name", name) {
		ids = append(ids, field(r, "ID"))
	}
	return ids
}

// allocationProviders lists the resource providers holding allocations for consumer (the server).
func allocationProviders(t *testing.T, consumer string) []string {
	t.Helper()
	var rps []string
	for _, r := range openstackJSON(t, "resource", "provider", "allocation", "show", consumer) {
		rps = append(rps, field(r, "resource_provider"))
	}
	return rps
}

// TestShelveUnshelve: one server shelved (offloaded at once: no guest, no disk, no tap and no allocation left on
// the host, its ports kept but unbound, its snapshot in Glance), then unshelved onto the same host (ACTIVE, the
// guest booted again from the snapshot, its ports bound here again, the snapshot deleted), then deleted.
func TestShelveUnshelve(t *testing.T) {
	requireRig(t)
	t.Parallel()
	host := sharedHost(t)
	name := fmt.Sprintf("e2e-shelve-%d", time.Now().Unix())
	id := createServer(t, host, name, "tiny")
	waitMarker(t, id, 1, 3*time.Minute)
	rp := providerUUID(t, host)
	if rps := allocationProviders(t, id); !slices.Equal(rps, []string{rp}) {
		t.Fatalf("ACTIVE server's allocations are on %v, want this host's provider %s", rps, rp)
	}
	var ports []string
	if hasNetworks() {
		for _, p := range serverPorts(t, id) {
			ports = append(ports, p.ID)
		}
		if len(ports) != 1 {
			t.Fatalf("server has %d ports, want 1", len(ports))
		}
	}
	snapshot := name + "-shelved"
	t.Cleanup(func() {
		for _, img := range shelvedImages(t, snapshot) {
			_ = rigCommand(context.Background(), "exec", "openstack", "image", "delete", img).Run()
		}
	})

	t.Run("shelve offloads the server", func(t *testing.T) {
		openstack(t, "server", "shelve", id)
		s := waitServer(t, id, "SHELVED_OFFLOADED", 4*time.Minute)
		if h := field(s, "OS-EXT-SRV-ATTR:host"); h != "" {
			t.Errorf("offloaded server still on host %q", h)
		}
		if qemuPid(id) != 0 {
			t.Error("offloaded server still has a QEMU process")
		}
		if _, err := os.Stat(instanceDir(host, id)); !os.IsNotExist(err) {
			t.Errorf("offloaded server's instance directory (disk, config drive) still there: %v", err)
		}
		if rps := allocationProviders(t, id); len(rps) != 0 {
			t.Errorf("offloaded server still has allocations on %v", rps)
		}
		imgs := shelvedImages(t, snapshot)
		if len(imgs) != 1 {
			t.Fatalf("images named %s: %v, want the one snapshot", snapshot, imgs)
		}
		if st := field(openstackJSON1(t, "image", "show", imgs[0]), "status"); st != "active" {
			t.Errorf("snapshot %s status %q, want active", imgs[0], st)
		}
		if hasNetworks() {
			ovsPorts := brIntPorts(t)
			for _, pid := range ports {
				p := portShow(t, pid)
				if p.DeviceID != id || p.HostID != "" {
					t.Errorf("port %s after offload: device %q binding host %q, want still %s's and unbound", pid,
						p.DeviceID, p.HostID, id)
				}
				tap := network.TapName(pid)
				if tapExists(tap) || slices.Contains(ovsPorts, tap) {
					t.Errorf("tap %s of port %s left on the host", tap, pid)
				}
			}
		}
	})

	t.Run("unshelve boots it again from the snapshot", func(t *testing.T) {
		imgs := shelvedImages(t, snapshot)
		openstack(t, "--os-compute-api-version", "2.91", "server", "unshelve", "--host", host, id)
		s := waitServer(t, id, "ACTIVE", 5*time.Minute)
		if h := field(s, "OS-EXT-SRV-ATTR:host"); h != host {
			t.Errorf("unshelved server on host %q, want %s", h, host)
		}
		if got, _ := s["OS-EXT-STS:power_state"].(float64); int(got) != running {
			t.Errorf("power state %v after unshelve, want running", s["OS-EXT-STS:power_state"])
		}
		waitMarker(t, id, 1, 3*time.Minute)
		if qemuPid(id) == 0 {
			t.Error("unshelved server has no QEMU process")
		}
		if rps := allocationProviders(t, id); !slices.Equal(rps, []string{rp}) {
			t.Errorf("unshelved server's allocations are on %v, want %s", rps, rp)
		}
		if left := shelvedImages(t, snapshot); len(left) != 0 {
			t.Errorf("snapshot images %v still in Glance after unshelve (were %v)", left, imgs)
		}
		if hasNetworks() {
			for _, pid := range ports {
				p := waitPort(t, pid, "ACTIVE on "+host, time.Minute, func(p port) bool { return p.Status == "ACTIVE" })
				if p.HostID != host || p.DeviceID != id || !strings.HasPrefix(p.DeviceOwner, "compute:") {
					t.Errorf("port %s after unshelve: binding host %q device %q owner %q", pid, p.HostID,
						p.DeviceID, p.DeviceOwner)
				}
				if !tapExists(network.TapName(pid)) {
					t.Errorf("no tap for port %s after unshelve", pid)
				}
			}
		}
	})

	t.Run("delete leaves nothing", func(t *testing.T) {
		openstack(t, "server", "delete", "--wait", id)
		if qemuPid(id) != 0 {
			t.Error("QEMU still runs for the deleted server")
		}
		if hasNetworks() {
			checkNoTrace(t, host, id, ports, nil)
		}
		if _, err := os.Stat(instanceDir(host, id)); !os.IsNotExist(err) {
			t.Errorf("instance directory still there after delete: %v", err)
		}
		if rps := allocationProviders(t, id); len(rps) != 0 {
			t.Errorf("Placement allocations left for %s: %v", id, rps)
		}
	})
}
