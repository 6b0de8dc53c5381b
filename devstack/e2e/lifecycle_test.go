//go:build e2e

package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	tinyimage "github.com/novabsd/novabsd/devstack/image"
)

// The lifecycle cases of issue 7: `openstack server ...` against a novabsd compute host running the tiny test
// image under QEMU (TCG), checking both what Nova shows and what the guest really does.

// Nova's power states (nova/compute/power_state.py), as the API returns them.
const (
	running   = 1
	paused    = 3
	shutdown  = 4
	suspended = 7
)

const lifecycleExtra = `[DEFAULT]
sync_power_state_interval = 10
`

// lifecycleHost starts a novabsd compute host for servers, maps it into the cell and, on a rig with Neutron,
// makes it the OVN chassis (servers get a network there).
func lifecycleHost(t *testing.T, prefix string) (*novabsd, string) {
	t.Helper()
	return netHost(t, prefix, "")
}

// createServer boots image on host with the tiny flavor and waits for ACTIVE; it is deleted at the end. Unless
// extra says otherwise (--nic, --network, --port), the server is on the private network (--nic none on a rig
// without Neutron).
func createServer(t *testing.T, host, name, image string, extra ...string) string {
	t.Helper()
	nic := netArgs()
	if hasNICArg(extra) {
		nic = nil
	}
	args := append([]string{"server", "create", "--flavor", "tiny", "--image", image}, nic...)
	args = append(append(args, "--availability-zone", "nova:"+host, "--wait"), extra...)
	srv := openstackJSON1(t, append(args, name)...)
	id := field(srv, "id")
	t.Cleanup(func() { deleteServer(t, id) })
	if st := field(srv, "status"); st != "ACTIVE" {
		t.Fatalf("server %s status %s after --wait, want ACTIVE: %v", name, st, srv)
	}
	return id
}

// deleteServer deletes a server and waits (bounded) for it to go. Its compute host must still be running.
func deleteServer(t *testing.T, id string) {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	if out, err := rigCommand(ctx, "exec", "openstack", "server", "delete", "--wait", id).CombinedOutput(); err != nil &&
		!strings.Contains(strings.ToLower(string(out)), "no server") {
		t.Errorf("deleting server %s: %v\n%s", id, err, out)
	}
}

func serverShow(t *testing.T, id string) map[string]any {
	t.Helper()
	return openstackJSON1(t, "server", "show", id)
}

// waitServer polls until the server has status (and, if given, the power state), failing on ERROR.
func waitServer(t *testing.T, id, status string, timeout time.Duration) map[string]any {
	t.Helper()
	deadline := time.Now().Add(timeout)
	var s map[string]any
	for time.Now().Before(deadline) {
		s = serverShow(t, id)
		st := field(s, "status")
		if st == status && field(s, "OS-EXT-STS:task_state") == "" {
			return s
		}
		if st == "ERROR" && status != "ERROR" {
			t.Fatalf("server %s went to ERROR: %v", id, s["fault"])
		}
		time.Sleep(2 * time.Second)
	}
	t.Fatalf("server %s not %s within %v: status %s task %s", id, status, timeout, field(s, "status"),
		field(s, "OS-EXT-STS:task_state"))
	return nil
}

func consoleLog(t *testing.T, id string) string {
	t.Helper()
	return string(openstack(t, "console", "log", "show", id))
}

// waitMarker waits until the guest's console (as Nova returns it) shows the marker n times.
func waitMarker(t *testing.T, id string, n int, timeout time.Duration) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for time.Now().Before(deadline) {
		if strings.Count(consoleLog(t, id), tinyimage.Marker) >= n {
			return
		}
		time.Sleep(2 * time.Second)
	}
	t.Fatalf("server %s: marker %q not seen %d times within %v\n%s", id, tinyimage.Marker, n, timeout,
		tail(consoleLog(t, id), 20))
}

// waitBootAfter waits until the guest has booted again since the console showed before: a new marker either
// appended (the same QEMU process, e.g. a soft reboot) or in a log that started over (a new QEMU process: the
// console log is opened with append off, as Nova's libvirt driver does).
func waitBootAfter(t *testing.T, id, before string, timeout time.Duration) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	var now string
	for time.Now().Before(deadline) {
		now = consoleLog(t, id)
		n := strings.Count(now, tinyimage.Marker)
		if n > strings.Count(before, tinyimage.Marker) || (n > 0 && !strings.HasPrefix(now, before)) {
			return
		}
		time.Sleep(2 * time.Second)
	}
	t.Fatalf("server %s did not boot again within %v\n%s", id, timeout, tail(now, 20))
}

// qemuPid returns the pid of the QEMU process running instance id, or 0.
func qemuPid(id string) int {
	out, _ := exec.Command("pgrep", "-f", "qemu-system.*"+id).Output()
	var pid int
	fmt.Sscan(string(out), &pid)
	return pid
}

// consoleGrows reports whether the guest's console log grows over a few heartbeats (the guest prints one every
// 5 s while it runs).
func consoleGrows(t *testing.T, id string) bool {
	t.Helper()
	before := len(consoleLog(t, id))
	time.Sleep(12 * time.Second)
	return len(consoleLog(t, id)) > before
}

func instanceDir(host, id string) string {
	return rigPath("compute", host, "instances", id)
}

func TestServerLifecycle(t *testing.T) {
	requireRig(t)
	t.Parallel()
	host := sharedHost(t)
	id := createServer(t, host, "e2e-life", "tiny")
	waitMarker(t, id, 1, 3*time.Minute)
	if qemuPid(id) == 0 {
		t.Fatalf("ACTIVE server %s has no QEMU process", id)
	}

	steps := []struct {
		name   string
		args   []string
		status string
		power  []int // OS-EXT-STS:power_state codes accepted (nova/compute/power_state.py)
		check  func(t *testing.T, before string)
	}{
		{"stop", []string{"server", "stop", id}, "SHUTOFF", []int{shutdown}, func(t *testing.T, _ string) {
			if qemuPid(id) != 0 {
				t.Errorf("SHUTOFF server still has a QEMU process")
			}
		}},
		{"start", []string{"server", "start", id}, "ACTIVE", []int{running}, func(t *testing.T, before string) { waitBootAfter(t, id, before, 3*time.Minute) }},
		{"soft reboot", []string{"server", "reboot", "--soft", id}, "ACTIVE", []int{running}, func(t *testing.T, before string) { waitBootAfter(t, id, before, 3*time.Minute) }},
		{"hard reboot", []string{"server", "reboot", "--hard", id}, "ACTIVE", []int{running}, func(t *testing.T, before string) { waitBootAfter(t, id, before, 3*time.Minute) }},
		{"pause", []string{"server", "pause", id}, "PAUSED", []int{paused}, func(t *testing.T, _ string) {
			if consoleGrows(t, id) {
				t.Errorf("PAUSED guest still writes to its console")
			}
		}},
		{"unpause", []string{"server", "unpause", id}, "ACTIVE", []int{running}, func(t *testing.T, _ string) {
			if !consoleGrows(t, id) {
				t.Errorf("unpaused guest does not run")
			}
		}},
		{"suspend", []string{"server", "suspend", id}, "SUSPENDED", []int{shutdown, suspended}, func(t *testing.T, _ string) {
			if qemuPid(id) != 0 {
				t.Errorf("SUSPENDED server still has a QEMU process")
			}
		}},
		{"resume", []string{"server", "resume", id}, "ACTIVE", []int{running}, func(t *testing.T, _ string) {
			if !consoleGrows(t, id) {
				t.Errorf("resumed guest does not run")
			}
		}},
	}
	for _, st := range steps {
		t.Run(st.name, func(t *testing.T) {
			before := consoleLog(t, id)
			openstack(t, st.args...)
			s := waitServer(t, id, st.status, 3*time.Minute)
			got, _ := s["OS-EXT-STS:power_state"].(float64)
			if !slices.Contains(st.power, int(got)) {
				t.Errorf("power state %v, want one of %v", s["OS-EXT-STS:power_state"], st.power)
			}
			st.check(t, before)
		})
	}

	t.Run("guest killed from outside is seen as SHUTOFF", func(t *testing.T) {
		pid := qemuPid(id)
		if pid == 0 {
			t.Fatal("no QEMU process to kill")
		}
		if err := syscall.Kill(pid, syscall.SIGKILL); err != nil {
			t.Fatal(err)
		}
		waitServer(t, id, "SHUTOFF", 60*time.Second) // sync_power_state_interval is 10 s here
	})
}

func TestSnapshotBootsAgain(t *testing.T) {
	requireRig(t)
	t.Parallel()
	host := sharedHost(t)
	id := createServer(t, host, "e2e-snap", "tiny")
	waitMarker(t, id, 1, 3*time.Minute)
	name := fmt.Sprintf("e2e-snap-%d", time.Now().Unix())
	img := openstackJSON1(t, "server", "image", "create", "--wait", "--name", name, id)
	imgID := field(img, "id")
	t.Cleanup(func() { _ = rigCommand(context.Background(), "exec", "openstack", "image", "delete", imgID).Run() })
	shown := openstackJSON1(t, "image", "show", imgID)
	if field(shown, "status") != "active" {
		t.Fatalf("snapshot image status %q, want active", field(shown, "status"))
	}
	id2 := createServer(t, host, "e2e-snap-child", imgID)
	waitMarker(t, id2, 1, 3*time.Minute)
}

// backupsOf lists the images with property backup_type=backupType whose instance_uuid is server: the set nova's
// rotation works on. The CLI's --property filter sees only the properties openstacksdk does not model as image
// attributes; it models instance_uuid, so that one is read from each image. An image deleted meanwhile is left out.
func backupsOf(t *testing.T, server, backupType string) []string {
	t.Helper()
	var out []string
	for _, r := range openstackJSON(t, "image", "list", "--property", "backup_type="+backupType) {
		id := field(r, "ID")
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
		b, err := rigCommand(ctx, "exec", "openstack", "image", "show", id, "-f", "json").Output()
		cancel()
		if err != nil {
			continue
		}
		var img struct {
			Properties map[string]any `json:"properties"`
		}
		if err := json.Unmarshal(b, &img); err != nil {
			t.Fatalf("image show %s: %v\n%s", id, err, b)
		}
		if img.Properties["instance_uuid"] == server && img.Properties["backup_type"] == backupType {
			out = append(out, id)
		}
	}
	return out
}

// TestBackupRotation: a second daily backup with rotation 1 deletes the first, as nova-compute's _rotate_backups
// does. The CLI spells the option --rotate, and each backup gets its own name because the CLI finds the new image
// by name.
func TestBackupRotation(t *testing.T) {
	requireRig(t)
	t.Parallel()
	host := sharedHost(t)
	id := createServer(t, host, "e2e-backup", "tiny")
	stamp := time.Now().Unix()
	backup := func(n int) string {
		t.Helper()
		name := fmt.Sprintf("e2e-backup-%d-%d", stamp, n)
		img := openstackJSON1(t, "server", "backup", "create", "--name", name, "--type", "daily", "--rotate", "1",
			"--wait", id)
		imgID := field(img, "id")
		if imgID == "" {
			t.Fatalf("backup %s: no image id in %v", name, img)
		}
		t.Cleanup(func() { _ = rigCommand(context.Background(), "exec", "openstack", "image", "delete", imgID).Run() })
		// --wait returns once the image is active; the task state clears just after, and Nova refuses another
		// backup until it has.
		waitServer(t, id, "ACTIVE", 2*time.Minute)
		return imgID
	}
	older := backup(1)
	newer := backup(2)
	// The rotation runs after the upload --wait waited for.
	deadline := time.Now().Add(2 * time.Minute)
	for {
		left := backupsOf(t, id, "daily")
		if len(left) == 1 && left[0] == newer {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("daily backups of %s after two with rotation 1: %v; want only the newer %s (the older is %s); "+
				"fault: %v", id, left, newer, older, serverShow(t, id)["fault"])
		}
		time.Sleep(3 * time.Second)
	}
}

func TestDeleteRemovesEveryTrace(t *testing.T) {
	requireRig(t)
	t.Parallel()
	host := sharedHost(t)
	id := createServer(t, host, "e2e-del", "tiny")
	if _, err := os.Stat(instanceDir(host, id)); err != nil {
		t.Fatalf("ACTIVE server has no instance directory: %v", err)
	}
	var created []string
	if hasNetworks() {
		for _, p := range serverPorts(t, id) {
			created = append(created, p.ID)
		}
		if len(created) != 1 {
			t.Fatalf("server on %s has %d ports, want 1", privateNet, len(created))
		}
	}
	openstack(t, "server", "delete", "--wait", id)
	if hasNetworks() {
		checkNoTrace(t, host, id, created, nil)
	}
	if _, err := os.Stat(instanceDir(host, id)); !os.IsNotExist(err) {
		t.Errorf("instance directory still there after delete: %v", err)
	}
	if qemuPid(id) != 0 {
		t.Errorf("QEMU process still running after delete")
	}
	allocs := openstackJSON(t, "resource", "provider", "allocation", "show", id)
	if len(allocs) != 0 {
		t.Errorf("Placement allocations left for %s: %v", id, allocs)
	}
}

func TestTenServersAtOnce(t *testing.T) {
	requireRig(t)
	// Ten 1-vCPU servers need more than this 2-core host's default VCPU capacity (2 × 4.0): allow them as an
	// operator would, by raising the allocation ratio.
	_, host := netHost(t, "e2e-ten", "cpu_allocation_ratio = 16.0\n")
	name := fmt.Sprintf("e2e-ten-%d", time.Now().Unix())
	args := append([]string{"server", "create", "--flavor", "tiny", "--image", "tiny"}, netArgs()...)
	openstack(t, append(args, "--availability-zone", "nova:"+host, "--min", "10", "--max", "10", name)...)
	t.Cleanup(func() {
		for _, s := range openstackJSON(t, "server", "list", "--name", name) {
			deleteServer(t, field(s, "ID"))
		}
	})
	deadline := time.Now().Add(6 * time.Minute)
	for {
		rows := openstackJSON(t, "server", "list", "--name", name)
		active := 0
		for _, r := range rows {
			switch field(r, "Status") {
			case "ACTIVE":
				active++
			case "ERROR":
				t.Fatalf("server %s went to ERROR", field(r, "Name"))
			}
		}
		if len(rows) == 10 && active == 10 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d of %d servers ACTIVE after 6 minutes", active, len(rows))
		}
		time.Sleep(5 * time.Second)
	}
}
