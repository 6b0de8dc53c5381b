//go:build e2e

package e2e

import (
	"context"
	"strings"
	"testing"
	"time"
)

// TestDiagnosticsCrashDumpAndRefusedPassword (issue 12) on the shared host: `server show --diagnostics` reports
// the engine's counters for the running guest; `server dump create` sends the guest an NMI, which its kernel
// reports on the console, and the server stays ACTIVE; `server set --password`, which needs a guest agent this
// host does not have, is refused as nova refuses it and the server stays usable (stop and start work).
func TestDiagnosticsCrashDumpAndRefusedPassword(t *testing.T) {
	requireRig(t)
	t.Parallel()
	host := sharedHost(t)
	id := createServer(t, host, "e2e-tools", "tiny")
	waitMarker(t, id, 1, 3*time.Minute)

	t.Run("diagnostics", func(t *testing.T) {
		// The CLI asks for the newest microversion: the instance diagnostics of API 2.48.
		d := openstackJSON1(t, "server", "show", "--diagnostics", id)
		if field(d, "state") != "running" || field(d, "hypervisor") != "qemu" {
			t.Errorf("diagnostics state %q hypervisor %q, want running and qemu", field(d, "state"), field(d, "hypervisor"))
		}
		first := func(key string) map[string]any {
			list, _ := d[key].([]any)
			if len(list) == 0 {
				t.Errorf("diagnostics %s empty (all: %v)", key, d)
				return map[string]any{}
			}
			m, _ := list[0].(map[string]any)
			return m
		}
		if v, _ := first("cpu_details")["time"].(float64); v <= 0 {
			t.Errorf("vCPU 0 time %v, want the guest's CPU time", v)
		}
		if v, _ := first("disk_details")["read_bytes"].(float64); v <= 0 {
			t.Errorf("root disk read_bytes %v, want what the guest read while booting", v)
		}
		if m, _ := d["memory_details"].(map[string]any); m == nil || m["maximum"] != float64(128) {
			t.Errorf("memory_details %v, want the tiny flavor's 128 MB", d["memory_details"])
		}
		wantNICs := 0
		if hasNetworks() {
			wantNICs = 1
		}
		if n, _ := d["num_nics"].(float64); int(n) != wantNICs {
			t.Errorf("num_nics %v, want %d", d["num_nics"], wantNICs)
		}
	})

	t.Run("crash dump reaches the guest", func(t *testing.T) {
		before := strings.Count(consoleLog(t, id), "NMI") // boot lines may name NMIs already
		openstack(t, "server", "dump", "create", id)
		waitConsole(t, id, "the kernel's NMI report", time.Minute, func(c string) bool {
			return strings.Count(c, "NMI") > before
		})
		if st := field(serverShow(t, id), "status"); st != "ACTIVE" {
			t.Errorf("status %s after the crash dump, want ACTIVE", st)
		}
	})

	t.Run("password change is refused and the server stays usable", func(t *testing.T) {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
		defer cancel()
		out, err := rigCommand(ctx, "exec", "openstack", "server", "set", "--password", "n0t-Settable", id).CombinedOutput()
		if err == nil {
			t.Fatalf("server set --password succeeded on a host without a guest agent:\n%s", out)
		}
		if !strings.Contains(string(out), "501") && !strings.Contains(strings.ToLower(string(out)), "not implemented") {
			t.Errorf("refusal does not say 501 / not implemented:\n%s", out)
		}
		s := waitServer(t, id, "ACTIVE", time.Minute)
		if task := field(s, "OS-EXT-STS:task_state"); task != "" {
			t.Errorf("task state %q left after the refusal", task)
		}
		openstack(t, "server", "stop", id)
		waitServer(t, id, "SHUTOFF", 2*time.Minute)
		before := consoleLog(t, id)
		openstack(t, "server", "start", id)
		waitServer(t, id, "ACTIVE", 2*time.Minute)
		waitBootAfter(t, id, before, 3*time.Minute)
	})
}
