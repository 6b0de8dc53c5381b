//go:build e2e

package e2e

import (
	"bufio"
	"context"
	"fmt"
	"math"
	"os"
	"os/exec"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// The join cases of issue 5: a novabsd host joins the cloud, reports the host's real resources to Nova and
// Placement, follows enable/disable, turns down when stopped, comes back on the same records, and survives a
// broker restart and a Placement outage without restarting.

func rig(t *testing.T, args ...string) string {
	t.Helper()
	out, err := rigCommand(context.Background(), args...).CombinedOutput()
	if err != nil {
		t.Fatalf("rig.sh %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return string(out)
}

// computeService returns the nova-compute row of host (nil when absent), failing on duplicates.
func computeService(t *testing.T, host string) map[string]any {
	t.Helper()
	rows := openstackJSON(t, "compute", "service", "list", "--host", host, "--service", "nova-compute")
	if len(rows) > 1 {
		t.Fatalf("%d nova-compute services for host %s, want 1: %v", len(rows), host, rows)
	}
	if len(rows) == 0 {
		return nil
	}
	return rows[0]
}

// waitState polls the service list until host's nova-compute has state ("up"/"down").
func waitState(t *testing.T, host, state string, timeout time.Duration) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	var last map[string]any
	for time.Now().Before(deadline) {
		if last = computeService(t, host); last != nil && field(last, "State") == state {
			return
		}
		time.Sleep(3 * time.Second)
	}
	t.Fatalf("nova-compute on %s not %s within %v: %v", host, state, timeout, last)
}

// waitHeartbeatAfter waits until host's service record was updated (a heartbeat reached the conductor) after t0.
func waitHeartbeatAfter(t *testing.T, host string, t0 time.Time, timeout time.Duration) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	var last string
	for time.Now().Before(deadline) {
		if svc := computeService(t, host); svc != nil {
			last = field(svc, "Updated At")
			if at, err := time.Parse("2006-01-02T15:04:05.999999", last); err == nil && at.After(t0) {
				return
			}
		}
		time.Sleep(3 * time.Second)
	}
	t.Fatalf("no heartbeat from %s after %v within %v (last update %s)", host, t0, timeout, last)
}

func providerUUID(t *testing.T, host string) string {
	t.Helper()
	rows := openstackJSON(t, "resource", "provider", "list", "--name", host)
	if len(rows) != 1 {
		t.Fatalf("%d resource providers named %s, want 1", len(rows), host)
	}
	return field(rows[0], "uuid")
}

func providerTraits(t *testing.T, rp string) []string {
	t.Helper()
	var traits []string
	for _, r := range openstackJSON(t, "resource", "provider", "trait", "list", rp) {
		traits = append(traits, field(r, "name"))
	}
	return traits
}

func hostMemoryMB(t *testing.T) int64 {
	t.Helper()
	f, err := os.Open("/proc/meminfo")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if rest, ok := strings.CutPrefix(sc.Text(), "MemTotal:"); ok {
			kb, err := strconv.ParseInt(strings.Fields(rest)[0], 10, 64)
			if err != nil {
				t.Fatal(err)
			}
			return kb / 1024
		}
	}
	t.Fatal("no MemTotal in /proc/meminfo")
	return 0
}

func diskGB(t *testing.T, path string) int64 {
	t.Helper()
	var st syscall.Statfs_t
	if err := syscall.Statfs(path, &st); err != nil {
		t.Fatal(err)
	}
	return int64(st.Blocks) * int64(st.Bsize) / (1 << 30) // Bsize is int64 on Linux, uint64 on FreeBSD
}

func num(t *testing.T, row map[string]any, key string) float64 {
	t.Helper()
	v, ok := row[key].(float64)
	if !ok {
		t.Fatalf("%s = %v (%T), want a number", key, row[key], row[key])
	}
	return v
}

// joinExtra: ratios and reserves other than the defaults, to check Nova's formula rather than its defaults.
const joinExtra = `[DEFAULT]
cpu_allocation_ratio = 8.0
reserved_host_cpus = 1
reserved_host_memory_mb = 1024
reserved_host_disk_mb = 2048
update_resources_interval = 10
`

// TestComputeJoins runs in parallel with the shared host's tests: its own host needs no chassis and nothing it
// does touches another host (the outages, which do, are TestComputeSurvivesOutages).
func TestComputeJoins(t *testing.T) {
	requireRig(t)
	t.Parallel()
	host := fmt.Sprintf("e2e-join-%d", time.Now().Unix()%100000)
	const extra = joinExtra
	n := startNovabsdConf(t, host, extra)
	n.waitLog(t, "Compute service started", 90*time.Second)
	t.Cleanup(func() { deleteHost(t, host) })
	rig(t, "discover")

	t.Run("serves the rig's Nova release", func(t *testing.T) { checkServedRelease(t, n, host) })
	t.Run("tells its service manager it is ready", func(t *testing.T) {
		// READY=1 goes out once the compute topics are consumed, which the log line above follows at once.
		deadline := time.Now().Add(10 * time.Second)
		for !slices.Contains(n.notified(), "READY=1") {
			if time.Now().After(deadline) {
				t.Fatalf("no READY=1 on NOTIFY_SOCKET 10 s after the service started; got %q", n.notified())
			}
			time.Sleep(100 * time.Millisecond)
		}
	})

	svc := computeService(t, host)
	if svc == nil || field(svc, "State") != "up" || field(svc, "Status") != "enabled" {
		t.Fatalf("service after start: %v, want up and enabled", svc)
	}
	serviceID := field(svc, "ID")

	t.Run("hypervisor reports the host", func(t *testing.T) {
		hv := openstackJSON1(t, "--os-compute-api-version", "2.87", "hypervisor", "show", host)
		if got := num(t, hv, "vcpus"); int(got) != runtime.NumCPU() {
			t.Errorf("vcpus = %v, want %d", got, runtime.NumCPU())
		}
		if got, want := int64(num(t, hv, "memory_mb")), hostMemoryMB(t); got != want {
			t.Errorf("memory_mb = %d, want %d", got, want)
		}
		instances := rigPath("compute", host, "instances")
		if got, want := int64(num(t, hv, "local_gb")), diskGB(t, instances); got != want {
			t.Errorf("local_gb = %d, want %d", got, want)
		}
		if got := field(hv, "hypervisor_type"); got != "QEMU" {
			t.Errorf("hypervisor_type = %q, want QEMU", got)
		}
		if got := field(hv, "state"); got != "up" {
			t.Errorf("state = %q", got)
		}
	})

	rp := providerUUID(t, host)
	t.Run("inventory follows nova's formula", func(t *testing.T) {
		inv := map[string]map[string]any{}
		for _, r := range openstackJSON(t, "resource", "provider", "inventory", "list", rp) {
			inv[field(r, "resource_class")] = r
		}
		want := map[string][3]float64{ // total, reserved, allocation_ratio
			"VCPU":      {float64(runtime.NumCPU()), 1, 8.0},
			"MEMORY_MB": {float64(hostMemoryMB(t)), 1024, 1.0},
			"DISK_GB": {float64(diskGB(t, rigPath("compute", host, "instances"))),
				2, 1.0}, // 2048 MB reserved rounds up to 2 GB
		}
		for rc, w := range want {
			r, ok := inv[rc]
			if !ok {
				t.Errorf("no %s inventory", rc)
				continue
			}
			got := [3]float64{num(t, r, "total"), num(t, r, "reserved"), num(t, r, "allocation_ratio")}
			if got != w {
				t.Errorf("%s total/reserved/ratio = %v, want %v", rc, got, w)
			}
			if math.Abs(num(t, r, "max_unit")-w[0]) > 0 {
				t.Errorf("%s max_unit = %v, want total %v", rc, num(t, r, "max_unit"), w[0])
			}
		}
		traits := providerTraits(t, rp)
		for _, want := range []string{"COMPUTE_NODE", "HW_ARCH_X86_64", "COMPUTE_IMAGE_TYPE_RAW", "COMPUTE_IMAGE_TYPE_QCOW2"} {
			if !slices.Contains(traits, want) {
				t.Errorf("trait %s missing from %v", want, traits)
			}
		}
		if want := rigReleases[rigRelease]; slices.Contains(traits, "OWNER_NOVA") != want.ownerNova {
			t.Errorf("OWNER_NOVA in %v: %v, want %v (Nova %s)", traits, !want.ownerNova, want.ownerNova, want.name)
		}
	})

	t.Run("disable and enable follow COMPUTE_STATUS_DISABLED", func(t *testing.T) {
		openstack(t, "compute", "service", "set", "--disable", host, "nova-compute")
		if !slices.Contains(providerTraits(t, rp), "COMPUTE_STATUS_DISABLED") {
			t.Errorf("disabled service without COMPUTE_STATUS_DISABLED")
		}
		openstack(t, "compute", "service", "set", "--enable", host, "nova-compute")
		if slices.Contains(providerTraits(t, rp), "COMPUTE_STATUS_DISABLED") {
			t.Errorf("enabled service still has COMPUTE_STATUS_DISABLED")
		}
	})

	t.Run("stopped host turns down, restart reuses its records", func(t *testing.T) {
		n.stop(t)
		// The process has exited: it has sent all it will to its service manager.
		if got := n.notified(); !slices.Equal(got, []string{"READY=1", "STOPPING=1"}) {
			t.Errorf("service-manager messages %q, want READY=1 then STOPPING=1", got)
		}
		waitState(t, host, "down", 120*time.Second)
		n2 := startNovabsdConf(t, host, extra)
		n2.waitLog(t, "Compute service started", 90*time.Second)
		waitState(t, host, "up", 30*time.Second)
		if id := field(computeService(t, host), "ID"); id != serviceID {
			t.Errorf("service ID after restart %s, want %s (reused)", id, serviceID)
		}
		if got := providerUUID(t, host); got != rp {
			t.Errorf("provider after restart %s, want %s (reused)", got, rp)
		}
		hvs := openstackJSON(t, "hypervisor", "list", "--matching", host)
		if len(hvs) != 1 {
			t.Errorf("%d hypervisors matching %s after restart, want 1", len(hvs), host)
		}
	})
}

// TestComputeSurvivesOutages: a host rides out a broker restart and a minute without Placement. Serial: both
// outages hit every service of the cloud. Not part of the release runs, as nothing in it depends on the release.
func TestComputeSurvivesOutages(t *testing.T) {
	requireRig(t)
	host := fmt.Sprintf("e2e-outage-%d", time.Now().Unix()%100000)
	n := startNovabsdConf(t, host, joinExtra)
	n.waitLog(t, "Compute service started", 90*time.Second)
	t.Cleanup(func() { deleteHost(t, host) })
	rig(t, "discover")
	rp := providerUUID(t, host)

	t.Run("broker restart survived", func(t *testing.T) {
		brokerRestart(t)
		back := time.Now().UTC()
		n.waitLog(t, "connected to broker", 30*time.Second)
		waitHeartbeatAfter(t, host, back, 60*time.Second)
		waitState(t, host, "up", 10*time.Second)
	})

	t.Run("placement outage survived", func(t *testing.T) {
		stopService(t, "placement-api")
		time.Sleep(60 * time.Second) // a minute without Placement; audits run every 10 s
		rig(t, "start")              // repairs: starts what is not running
		n.waitLog(t, "Resource audit failed; retrying next period", time.Second)
		// The next audit after Placement returns must succeed: disabling now must reach the provider.
		openstack(t, "compute", "service", "set", "--disable", host, "nova-compute")
		defer openstack(t, "compute", "service", "set", "--enable", host, "nova-compute")
		if !slices.Contains(providerTraits(t, rp), "COMPUTE_STATUS_DISABLED") {
			t.Errorf("after the outage the provider did not follow the disable")
		}
		if computeService(t, host) == nil {
			t.Fatal("service record gone")
		}
	})

}

// brokerRestart stops and starts the host's RabbitMQ application; every service reconnects.
func brokerRestart(t *testing.T) {
	t.Helper()
	t.Cleanup(func() { _ = exec.Command("rabbitmqctl", "start_app").Run() })
	for _, args := range [][]string{{"stop_app"}, {"start_app"}} {
		if out, err := exec.Command("rabbitmqctl", args...).CombinedOutput(); err != nil {
			t.Fatalf("rabbitmqctl %s: %v\n%s", args[0], err, out)
		}
		if args[0] == "stop_app" {
			time.Sleep(5 * time.Second)
		}
	}
}

// stopService kills one of the rig's services (its pid file); rig.sh start brings it back.
func stopService(t *testing.T, name string) {
	t.Helper()
	t.Cleanup(func() { _ = rigCommand(context.Background(), "start").Run() })
	raw, err := os.ReadFile(rigPath("state", "pid", name+".pid"))
	if err != nil {
		t.Fatalf("%s pid: %v", name, err)
	}
	pid, err := strconv.Atoi(strings.TrimSpace(string(raw)))
	if err != nil {
		t.Fatal(err)
	}
	if err := syscall.Kill(pid, syscall.SIGTERM); err != nil {
		t.Fatalf("stop %s: %v", name, err)
	}
	for i := 0; i < 100 && syscall.Kill(pid, 0) == nil; i++ {
		time.Sleep(100 * time.Millisecond)
	}
}

// deleteHost removes the test host's service (and with it its compute node) and provider from the cloud.
func deleteHost(t *testing.T, host string) {
	if svc := computeService(t, host); svc != nil {
		openstack(t, "compute", "service", "delete", field(svc, "ID"))
	}
	for _, r := range openstackJSON(t, "resource", "provider", "list", "--name", host) {
		rigCommand(context.Background(), "exec", "openstack", "resource", "provider", "delete", field(r, "uuid")).Run()
	}
}
