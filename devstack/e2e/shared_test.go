//go:build e2e

package e2e

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"sync"
	"testing"
	"time"
)

// The shared compute host. Starting a novabsd host, mapping it into the cell and moving the rig's one OVN chassis
// to it costs about a minute, and most tests want nothing special of their host. Those tests call t.Parallel()
// and then sharedHost: Go runs parallel top-level tests together once every serial test has finished, so the
// serial tests (those that stop services, restart novabsd, need their own configuration or count what is on the
// host) keep the chassis to themselves, and the parallel ones then share this host and the chassis. TestMain
// stops it and removes it from the cloud after the run.
var shared struct {
	once sync.Once
	dir  string
	n    *novabsd
	host string
	err  error
}

// sharedReclaim is the shared host's reclaim_instance_interval (seconds): long enough for
// TestSoftDeleteRestoreReclaim to restore its server before the host reclaims it, short enough to see the reclaim.
// Only servers soft-deleted through nova-api-reclaim are affected; the rig's own API deletes at once.
const sharedReclaim = 45

// sharedExtra is the shared host's configuration beyond lifecycleExtra: several tests' servers run on it at once,
// more vCPUs than the 2-core host's default capacity (2 × 4.0), so it allows them as an operator would.
var sharedExtra = fmt.Sprintf("cpu_allocation_ratio = 16.0\nreclaim_instance_interval = %d\n", sharedReclaim)

// sharedHost returns the name of the shared compute host, starting it on first use. Call it after t.Parallel().
// A test that fails gets the path and tail of the host's log.
func sharedHost(t *testing.T) string {
	t.Helper()
	requireRig(t)
	shared.once.Do(startShared)
	if shared.err != nil {
		t.Fatalf("the shared compute host: %v", shared.err)
	}
	select {
	case <-shared.n.done:
		t.Fatalf("the shared compute host %s has exited: %s", shared.host, shared.n.failureLog())
	default:
	}
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("shared novabsd host %s: %s", shared.host, shared.n.failureLog())
		}
	})
	return shared.host
}

func startShared() {
	shared.host = fmt.Sprintf("e2e-shared-%d", time.Now().UnixNano()%100000)
	shared.dir, shared.err = os.MkdirTemp("", "novabsd-e2e-shared-")
	if shared.err != nil {
		return
	}
	shared.n, shared.err = launchNovabsd(shared.host, lifecycleExtra+sharedExtra, shared.dir, nil)
	if shared.err != nil {
		return
	}
	if shared.err = shared.n.awaitLog("Compute service started", 90*time.Second); shared.err != nil {
		return
	}
	steps := [][]string{{"discover"}}
	if hasNetworks() {
		steps = append(steps, []string{"chassis", shared.host})
	}
	for _, args := range steps {
		if out, err := rigCommand(context.Background(), args...).CombinedOutput(); err != nil {
			shared.err = fmt.Errorf("rig.sh %v: %w\n%s", args, err, out)
			return
		}
	}
}

// stopShared stops the shared host, if a test started it, and removes it from the cloud; it says what failed.
func stopShared() error {
	if shared.n == nil {
		if shared.dir != "" {
			os.RemoveAll(shared.dir)
		}
		return nil
	}
	err := shared.n.shutdown()
	err = errors.Join(err, removeHost(shared.host))
	os.RemoveAll(shared.dir)
	return err
}

// removeHost is deleteHost for code without a test: the host's nova-compute service (and with it its compute
// node) and its resource providers.
func removeHost(host string) error {
	list := func(args ...string) ([]map[string]any, error) {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
		defer cancel()
		out, err := rigCommand(ctx, append(append([]string{"exec", "openstack"}, args...), "-f", "json")...).Output()
		if err != nil {
			return nil, fmt.Errorf("openstack %v: %w", args, err)
		}
		var rows []map[string]any
		return rows, json.Unmarshal(out, &rows)
	}
	run := func(args ...string) error {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
		defer cancel()
		if out, err := rigCommand(ctx, append([]string{"exec", "openstack"}, args...)...).CombinedOutput(); err != nil {
			return fmt.Errorf("openstack %v: %w\n%s", args, err, out)
		}
		return nil
	}
	svcs, err := list("compute", "service", "list", "--host", host, "--service", "nova-compute")
	if err != nil {
		return err
	}
	for _, s := range svcs {
		if err := run("compute", "service", "delete", field(s, "ID")); err != nil {
			return err
		}
	}
	rps, err := list("resource", "provider", "list", "--name", host)
	if err != nil {
		return err
	}
	for _, r := range rps {
		if err := run("resource", "provider", "delete", field(r, "uuid")); err != nil {
			return err
		}
	}
	return nil
}
