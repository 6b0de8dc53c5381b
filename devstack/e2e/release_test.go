//go:build e2e

package e2e

import (
	"os/exec"
	"strconv"
	"strings"
	"testing"
)

// servedRelease returns the attributes of novabsd's "Serving Nova release=... service_version=... compute_rpc=..."
// log line, or nil when it has not logged one.
func servedRelease(log string) map[string]string {
	for _, line := range strings.Split(log, "\n") {
		_, rest, ok := strings.Cut(line, "Serving Nova ")
		if !ok {
			continue
		}
		attrs := map[string]string{}
		for _, f := range strings.Fields(rest) {
			if k, v, ok := strings.Cut(f, "="); ok {
				attrs[k] = strings.Trim(v, `"`)
			}
		}
		return attrs
	}
	return nil
}

// checkServedRelease asserts that novabsd serves the Nova release of the rig it joined: the release, service
// version and compute RPC version it logs, and the compute-alt topic present exactly where RPC 6.5 wants it,
// as queues on the broker rather than as claims in the log.
func checkServedRelease(t *testing.T, n *novabsd, host string) {
	t.Helper()
	want := rigReleases[rigRelease]
	got := servedRelease(n.Log())
	if got == nil {
		t.Fatalf("no \"Serving Nova\" line in novabsd's log\n%s", tail(n.Log(), 30))
	}
	if got["release"] != want.name {
		t.Errorf("novabsd serves release %q against the Debian %s rig, want %s", got["release"], rigRelease, want.name)
	}
	if v, err := strconv.Atoi(got["service_version"]); err != nil || v != want.serviceVersion {
		t.Errorf("novabsd service_version %q, want %d", got["service_version"], want.serviceVersion)
	}
	if got["compute_rpc"] != want.computeRPC {
		t.Errorf("novabsd compute_rpc %q, want %s", got["compute_rpc"], want.computeRPC)
	}

	vhost := rigInfo["RABBIT_VHOST"]
	out, err := exec.Command("rabbitmqctl", "-s", "list_queues", "-p", vhost, "name").CombinedOutput()
	if err != nil {
		t.Fatalf("rabbitmqctl list_queues -p %s: %v\n%s", vhost, err, out)
	}
	queues := map[string]bool{}
	for _, q := range strings.Fields(string(out)) {
		queues[q] = true
	}
	if !queues["compute."+host] {
		t.Errorf("no queue compute.%s in vhost %s", host, vhost)
	}
	if alt := queues["compute-alt."+host]; alt != want.altTopic {
		t.Errorf("queue compute-alt.%s in vhost %s: %v, want %v (Nova %s, compute RPC %s)",
			host, vhost, alt, want.altTopic, want.name, want.computeRPC)
	}
}

func TestServedReleaseParse(t *testing.T) {
	tests := []struct {
		name, log string
		want      map[string]string
	}{
		{"2025.1", "2026-11-25 23:50:01.123 42 INFO novabsd.compute [-] Serving Nova release=2025.1 codename=Epoxy service_version=68 compute_rpc=6.4\n",
			map[string]string{"release": "2025.1", "codename": "Epoxy", "service_version": "68", "compute_rpc": "6.4"}},
		{"quoted", "x INFO y [-] Serving Nova release=\"2026.1\" service_version=72 compute_rpc=6.5",
			map[string]string{"release": "2026.1", "service_version": "72", "compute_rpc": "6.5"}},
		{"absent", "x INFO y [-] Compute service started host=h\n", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := servedRelease(tt.log)
			if (got == nil) != (tt.want == nil) {
				t.Fatalf("servedRelease = %v, want %v", got, tt.want)
			}
			for k, v := range tt.want {
				if got[k] != v {
					t.Errorf("%s = %q, want %q", k, got[k], v)
				}
			}
		})
	}
}
