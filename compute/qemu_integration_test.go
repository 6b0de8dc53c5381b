package compute

import (
	"context"
	"encoding/json"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/novabsd/novabsd/hypervisor"
	"github.com/novabsd/novabsd/hypervisor/domain"
	"github.com/novabsd/novabsd/hypervisor/qemu"
	"github.com/novabsd/novabsd/rpc"
	"github.com/novabsd/novabsd/rpc/vo"
)

const tinyRaw = "/var/cache/novabsd/image/tiny.raw"

// needTinyQEMU fails under CI=true and skips otherwise when QEMU or the tiny test image is missing.
func needTinyQEMU(t *testing.T) {
	t.Helper()
	_, err := exec.LookPath("qemu-system-x86_64")
	if err == nil {
		_, err = os.Stat(tinyRaw)
	}
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("QEMU (Debian qemu-system-x86) and %s (devstack/image/build.sh) are required: %v", tinyRaw, err)
		}
		t.Skipf("QEMU or the tiny image is missing: %v", err)
	}
}

// useTinyQEMU puts a real QEMU/TCG engine that boots the tiny image under h's service.
func useTinyQEMU(t *testing.T, h *harness) *qemu.Driver {
	t.Helper()
	qc := qemu.DefaultConfig()
	qc.Accel = qemu.AccelTCG
	qc.RunDir = t.TempDir()
	// QEMU drops to an account every Debian machine has, and must reach the instance directories after it has.
	qc.User = "nobody"
	for _, p := range []string{h.dir, filepath.Dir(h.dir)} {
		if err := os.Chmod(p, 0o711); err != nil {
			t.Fatal(err)
		}
	}
	drv, err := qemu.New(qc)
	if err != nil {
		t.Fatal(err)
	}
	eng := h.s.lc.eng
	eng.driver = drv
	eng.domainOptions = func(context.Context) domain.Options { return qemu.DomainOptions(qc, qemu.AccelTCG) }
	eng.fetch = func(context.Context, *rpc.RequestContext, string) (string, error) { return tinyRaw, nil }
	return drv
}

// bootTinyQEMU builds the wire instance as uuid with 256 MB on h's QEMU engine drv (useTinyQEMU) through
// build_and_run_instance and waits until it is ACTIVE; the guest is destroyed when the test ends, whatever happened.
func bootTinyQEMU(t *testing.T, h *harness, drv *qemu.Driver, uuid string) (*vo.Object, hypervisor.Guest) {
	t.Helper()
	inst := instanceFromWire(t, uuid)
	fl, _ := inst.Object("flavor")
	_ = fl.Set("memory_mb", 256)
	_ = inst.Set("flavor", fl)
	inst.ResetChanges()
	h.cond.put(inst)
	g := hypervisor.Guest{UUID: uuid, Name: testGuestName, Dir: filepath.Join(h.dir, uuid)}
	t.Cleanup(func() { drv.Destroy(context.Background(), g) })
	h.runBuild(t, context.Background(), buildMessage(t, inst, false))
	if got := h.cond.object(uuid); fieldString(got, "vm_state") != vmActive {
		t.Fatalf("vm_state %s, faults %v", fieldString(got, "vm_state"), h.cond.faults[uuid])
	}
	return inst, g
}

// consoleOutput is the instance's whole console log, through get_console_output.
func consoleOutput(t *testing.T, h *harness, uuid string) string {
	t.Helper()
	raw, _ := json.Marshal(map[string]any{"instance": h.cond.object(uuid), "tail_length": nil})
	out, err := h.s.getConsoleOutput(context.Background(), raw)
	if err != nil {
		t.Fatal(err)
	}
	return out.(string)
}

// waitTinyMarker waits up to 3 minutes for the tiny guest's marker in the console log and returns that log;
// what names the step in the failure.
func waitTinyMarker(t *testing.T, h *harness, uuid, what string) string {
	t.Helper()
	deadline := time.Now().Add(3 * time.Minute)
	for {
		c := consoleOutput(t, h, uuid)
		if strings.Contains(c, "NOVABSD-TINY-GUEST-READY") {
			return c
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: marker not seen; console:\n%s", what, c)
		}
		time.Sleep(500 * time.Millisecond)
	}
}

// callInstance calls the handler fn (the RPC method name) for the instance uuid with args, after setting the
// task_state nova-api would have set; an error fails the test.
func callInstance(t *testing.T, h *harness, uuid, name string, fn func(context.Context, json.RawMessage) (any, error),
	task string, args map[string]any) any {
	t.Helper()
	all := map[string]any{"instance": h.setTask(uuid, task)}
	for k, v := range args {
		all[k] = v
	}
	raw, _ := json.Marshal(all)
	out, err := fn(context.Background(), raw)
	if err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	return out
}

// TestQEMUSpawnStopStartDestroy drives the handlers (no conductor of Nova's, the fake one over the broker) to
// spawn the real tiny image under QEMU/TCG, see its marker through get_console_output, stop and start it, and
// delete it leaving nothing behind.
func TestQEMUSpawnStopStartDestroy(t *testing.T) {
	if testing.Short() {
		t.Skip("boots a real guest under TCG")
	}
	needTinyQEMU(t)
	h := newHarness(t)
	drv := useTinyQEMU(t, h)
	uuid := "99999999-0000-4000-8000-000000000001"
	start := time.Now()
	_, g := bootTinyQEMU(t, h, drv, uuid)
	active := time.Since(start)
	waitTinyMarker(t, h, uuid, "build")
	t.Logf("ACTIVE after %v, marker after %v", active.Round(time.Millisecond), time.Since(start).Round(time.Millisecond))

	// The guest tools on the real guest: an NMI reaches it, and its diagnostics count the CPU time and disk reads
	// of its boot.
	callInstance(t, h, uuid, "trigger_crash_dump", h.s.triggerCrashDump, "", nil)
	if ev := h.eventsContaining("finish compute_trigger_crash_dump"); len(ev) != 1 || !strings.HasSuffix(ev[0], "Success") {
		t.Errorf("trigger_crash_dump events %q", ev)
	}
	raw, _ := json.Marshal(map[string]any{"instance": h.cond.object(uuid)})
	diag, err := h.s.getDiagnostics(context.Background(), raw)
	if err != nil {
		t.Fatal(err)
	}
	d, _ := diag.(map[string]any)
	cpu, _ := d["cpu0_time"].(int64)
	reads, _ := d["vda_read"].(int64)
	if cpu <= 0 || reads <= 0 {
		t.Errorf("diagnostics %v: CPU time and disk reads expected", d)
	}
	callInstance(t, h, uuid, "stop_instance", h.s.stopInstance, taskPoweringOff, map[string]any{"clean_shutdown": true})
	if info, err := drv.Info(context.Background(), g); err != nil || info.State != hypervisor.Shutdown {
		t.Errorf("after stop the guest is %v (%v)", info.State, err)
	}
	if got := h.cond.object(uuid); fieldString(got, "vm_state") != vmStopped || intField(got, "power_state") != powerShutdown {
		t.Errorf("after stop: %s/%d", fieldString(got, "vm_state"), intField(got, "power_state"))
	}
	callInstance(t, h, uuid, "start_instance", h.s.startInstance, taskPoweringOn, nil)
	if info, err := drv.Info(context.Background(), g); err != nil || info.State != hypervisor.Running {
		t.Errorf("after start the guest is %v (%v)", info.State, err)
	}
	callInstance(t, h, uuid, "terminate_instance", h.s.terminateInstance, taskDeleting, map[string]any{"bdms": nil})
	if _, err := os.Stat(g.Dir); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("instance directory left: %v", err)
	}
	if _, err := drv.Info(context.Background(), g); !errors.Is(err, hypervisor.ErrNotFound) {
		t.Errorf("guest still known after delete: %v", err)
	}
	if !h.cond.deleted[uuid] || h.allocDel.Load() != 1 {
		t.Errorf("destroyed %v, allocation deletes %d", h.cond.deleted[uuid], h.allocDel.Load())
	}
}
