//go:build e2e

package e2e

import (
	"context"
	"os"
	"strings"
	"testing"
	"time"
)

// Soft delete, restore and reclaim (issue 12) against the shared compute host. nova-api soft-deletes only when
// its own reclaim_instance_interval is above 0, and setting that on the rig's API would leave every other test's
// deleted servers SOFT_DELETED. So this test starts the rig's optional second compute API, nova-api-reclaim
// (`rig.sh service start nova-api-reclaim`: the same nova.conf plus reclaim_instance_interval = 3600, on port
// 8764), and sends its deletes there; openstackclient reaches it through openstacksdk's
// OS_COMPUTE_ENDPOINT_OVERRIDE. The shared host reclaims after sharedReclaim seconds (sharedExtra), with the
// periodic task's 60 s period.

// reclaimAPI is the second compute API's endpoint as openstacksdk wants it (with the version path).
const reclaimAPI = "http://127.0.0.1:8764/v2.1"

// startReclaimAPI starts nova-api-reclaim for the test and stops it at the end.
func startReclaimAPI(t *testing.T) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	if out, err := rigCommand(ctx, "service", "start", "nova-api-reclaim").CombinedOutput(); err != nil {
		t.Fatalf("rig.sh service start nova-api-reclaim: %v\n%s", err, out)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		if out, err := rigCommand(ctx, "service", "stop", "nova-api-reclaim").CombinedOutput(); err != nil {
			t.Errorf("rig.sh service stop nova-api-reclaim: %v\n%s", err, out)
		}
	})
}

// viaReclaimAPI runs `openstack ARGS` against nova-api-reclaim.
func viaReclaimAPI(t *testing.T, args ...string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	argv := append([]string{"exec", "env", "OS_COMPUTE_ENDPOINT_OVERRIDE=" + reclaimAPI, "openstack"}, args...)
	if out, err := rigCommand(ctx, argv...).CombinedOutput(); err != nil {
		t.Fatalf("openstack %s (through nova-api-reclaim): %v\n%s", strings.Join(args, " "), err, out)
	}
}

// serverGone reports whether the main API no longer lists the server (admins see deleted servers only with
// --deleted).
func serverGone(id string) bool {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	out, err := rigCommand(ctx, "exec", "openstack", "server", "show", id, "-f", "value", "-c", "status").CombinedOutput()
	return err != nil && strings.Contains(strings.ToLower(string(out)), "no server")
}

// TestSoftDeleteRestoreReclaim: a soft-deleted server is SOFT_DELETED with its guest stopped but its disk kept;
// restore brings it back ACTIVE and booted again; a second soft delete is reclaimed by the host's periodic task,
// which removes everything as a delete does.
func TestSoftDeleteRestoreReclaim(t *testing.T) {
	requireRig(t)
	t.Parallel()
	host := sharedHost(t)
	startReclaimAPI(t)
	id := createServer(t, host, "e2e-softdelete", "tiny")
	waitMarker(t, id, 1, 3*time.Minute)
	var ports []string
	if hasNetworks() {
		for _, p := range serverPorts(t, id) {
			ports = append(ports, p.ID)
		}
	}

	t.Run("soft delete stops the guest and keeps its disk", func(t *testing.T) {
		viaReclaimAPI(t, "server", "delete", id)
		s := waitServer(t, id, "SOFT_DELETED", 2*time.Minute)
		if got, _ := s["OS-EXT-STS:power_state"].(float64); int(got) == running {
			t.Errorf("power state running after soft delete")
		}
		if qemuPid(id) != 0 {
			t.Error("the soft-deleted server's QEMU process still runs")
		}
		if _, err := os.Stat(instanceDir(host, id)); err != nil {
			t.Errorf("the soft-deleted server's instance directory is gone: %v", err)
		}
	})
	if t.Failed() {
		return
	}

	t.Run("restore boots it again", func(t *testing.T) {
		before := consoleLog(t, id)
		openstack(t, "server", "restore", id)
		s := waitServer(t, id, "ACTIVE", 2*time.Minute)
		if got, _ := s["OS-EXT-STS:power_state"].(float64); int(got) != running {
			t.Errorf("power state %v after restore, want running", s["OS-EXT-STS:power_state"])
		}
		waitBootAfter(t, id, before, 3*time.Minute)
	})
	if t.Failed() {
		return
	}

	t.Run("a second soft delete is reclaimed by the host", func(t *testing.T) {
		viaReclaimAPI(t, "server", "delete", id)
		waitServer(t, id, "SOFT_DELETED", 2*time.Minute)
		// reclaim_instance_interval plus the periodic task's period, plus slack for a loaded machine.
		deadline := time.Now().Add(time.Duration(sharedReclaim+60+60) * time.Second)
		for !serverGone(id) {
			if time.Now().After(deadline) {
				t.Fatalf("soft-deleted server %s not reclaimed within %ds: %v", id, sharedReclaim+120,
					serverShow(t, id)["status"])
			}
			time.Sleep(3 * time.Second)
		}
		if qemuPid(id) != 0 {
			t.Error("QEMU still runs for the reclaimed server")
		}
		if _, err := os.Stat(instanceDir(host, id)); !os.IsNotExist(err) {
			t.Errorf("instance directory still there after the reclaim: %v", err)
		}
		if rps := allocationProviders(t, id); len(rps) != 0 {
			t.Errorf("Placement allocations left for the reclaimed server: %v", rps)
		}
		if hasNetworks() {
			checkNoTrace(t, host, id, ports, nil)
		}
	})
}
