package compute

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/novabsd/novabsd/hypervisor"
	"github.com/novabsd/novabsd/images"
	"github.com/novabsd/novabsd/rpc/vo"
)

// buildMessage is the captured build_and_run_instance with inst and node substituted and, when retry, the
// scheduler's retry information added.
func buildMessage(t *testing.T, inst *vo.Object, retry bool) json.RawMessage {
	t.Helper()
	var m map[string]json.RawMessage
	if err := json.Unmarshal(wireArgs(t, "build_and_run_instance"), &m); err != nil {
		t.Fatal(err)
	}
	m["instance"], _ = json.Marshal(inst)
	m["node"] = json.RawMessage(`"node-a"`)
	if retry {
		m["filter_properties"] = json.RawMessage(`{"retry": {"num_attempts": 1, "hosts": [["novabsd-test-host", "node-a"]]}, "limits": {}}`)
	}
	b, _ := json.Marshal(m)
	return b
}

// runBuild sends build_and_run_instance with msg under ctx and waits until the build has finished, whatever
// its outcome.
func (h *harness) runBuild(t *testing.T, ctx context.Context, msg json.RawMessage) {
	t.Helper()
	if _, err := h.s.buildAndRunInstance(ctx, msg); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "build to finish", func() bool {
		return len(h.eventsContaining("finish compute__do_build_and_run_instance")) > 0
	})
	h.s.lc.work.Wait()
}

// build runs a build to its end and returns the instance as the fake database holds it.
func (h *harness) build(t *testing.T, uuid string, retry bool) *vo.Object {
	t.Helper()
	inst := instanceFromWire(t, uuid)
	h.cond.put(inst)
	h.runBuild(t, context.Background(), buildMessage(t, inst, retry))
	return h.cond.object(uuid)
}

func TestBuildReachesActive(t *testing.T) {
	h := newHarness(t)
	uuid := "11111111-0000-4000-8000-000000000001"
	got := h.build(t, uuid, false)
	want := []saveRec{
		{VM: vmBuilding, Task: "", Expected: `["scheduling",null]`},
		{VM: vmBuilding, Task: "", Expected: ""},                     // claim
		{VM: vmBuilding, Task: taskNetworking, Expected: `[null]`},   // networks
		{VM: vmBuilding, Task: taskBlockDeviceMapping, Expected: ""}, // block devices
		{VM: vmBuilding, Task: taskSpawning, Expected: `["block_device_mapping"]`},
		{VM: vmActive, Task: "", Power: powerRunning, Expected: `["spawning"]`},
	}
	saves := h.cond.savesOf(uuid)
	if len(saves) != len(want) {
		t.Fatalf("saves = %+v, want %d of them", saves, len(want))
	}
	for i, w := range want {
		g := saves[i]
		if g.VM != w.VM || g.Task != w.Task || g.Expected != w.Expected || (w.Power != 0 && g.Power != w.Power) {
			t.Errorf("save %d = %+v, want %+v", i, g, w)
		}
	}
	for field, want := range map[string]string{"host": testHost, "node": "node-a", "compute_id": "7",
		"launched_on": testHost, "vm_state": vmActive, "power_state": "1", "root_device_name": "/dev/vda"} {
		if v := fieldString(got, field); v != want {
			t.Errorf("%s = %q, want %q", field, v, want)
		}
	}
	if got := h.eventsContaining("compute__do_build_and_run_instance"); len(got) != 2 || !strings.HasSuffix(got[1], "Success") {
		t.Errorf("events = %v", got)
	}
	if h.allocDel.Load() != 0 {
		t.Errorf("a successful build deleted allocations")
	}
	for _, f := range []string{"disk", "domain.xml"} {
		if _, err := os.Stat(filepath.Join(h.dir, uuid, f)); err != nil {
			t.Errorf("instance file %s: %v", f, err)
		}
	}
	dom := h.drv.lastSpawn
	if dom.Name != "instance-00000040" || dom.Memory.Value != 128*1024 && dom.Memory.Unit != "MiB" {
		t.Errorf("domain name %q memory %+v", dom.Name, dom.Memory)
	}
	u := h.s.usage()
	if u.stats["num_instances"] != "1" || u.stats["num_vm_active"] != "1" || u.memoryMB != 128 || u.vcpus != 1 ||
		u.stats["num_task_None"] != "1" || u.stats["num_proj_63295b24bea34e438d751b6d639d09f8"] != "1" {
		t.Errorf("usage after build = %+v", u)
	}
}

func TestBuildFailures(t *testing.T) {
	tests := []struct {
		name       string
		retry      bool
		spawnErr   error
		fetchErr   error
		wantVM     string
		wantTask   string
		wantFault  string
		wantResch  int
		wantAllocs int64
	}{
		{name: "spawn fails without retry info", spawnErr: errors.New("qemu died"), wantVM: vmError,
			wantFault: "re-scheduled: Spawn failed: qemu died", wantAllocs: 1},
		{name: "spawn fails with retry info", retry: true, spawnErr: errors.New("qemu died"), wantVM: vmBuilding,
			wantTask: taskScheduling, wantResch: 1, wantAllocs: 1},
		{name: "image hash mismatch aborts even with retry", retry: true,
			fetchErr: &images.Error{ImageID: "x", Op: "download", Kind: images.ErrChecksumMismatch, Detail: "sha512 a != b"},
			wantVM:   vmError, wantFault: "checksum mismatch", wantAllocs: 1},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newHarness(t)
			h.drv.spawnErr, h.fetchErr = tt.spawnErr, tt.fetchErr
			uuid := "22222222-0000-4000-8000-00000000000" + string(rune('1'+i))
			got := h.build(t, uuid, tt.retry)
			if v := fieldString(got, "vm_state"); v != tt.wantVM {
				t.Errorf("vm_state = %q, want %q", v, tt.wantVM)
			}
			if v := fieldString(got, "task_state"); v != tt.wantTask {
				t.Errorf("task_state = %q, want %q", v, tt.wantTask)
			}
			for _, f := range []string{"host", "node", "compute_id"} {
				if v := fieldString(got, f); v != "" {
					t.Errorf("%s = %q after a failed build, want null", f, v)
				}
			}
			faults := h.cond.faults[uuid]
			if tt.wantFault != "" && (len(faults) != 1 || !strings.Contains(faults[0], tt.wantFault)) {
				t.Errorf("faults = %q, want one containing %q", faults, tt.wantFault)
			}
			if tt.wantFault == "" && len(faults) != 0 {
				t.Errorf("unexpected faults %q", faults)
			}
			if len(h.cond.reschedul) != tt.wantResch {
				t.Errorf("build_instances casts = %d, want %d", len(h.cond.reschedul), tt.wantResch)
			}
			if tt.wantResch > 0 {
				waitFor(t, "reschedule cast", func() bool { h.cond.mu.Lock(); defer h.cond.mu.Unlock(); return len(h.cond.reschedul) > 0 })
				var a map[string]json.RawMessage
				_ = json.Unmarshal(h.cond.reschedul[0], &a)
				if !strings.Contains(string(a["filter_properties"]), "exc_reason") || !strings.Contains(string(a["host_lists"]), "[[") {
					t.Errorf("build_instances args = %s", h.cond.reschedul[0])
				}
			}
			if n := h.allocDel.Load(); n != tt.wantAllocs {
				t.Errorf("allocation deletes = %d, want %d", n, tt.wantAllocs)
			}
			if _, err := os.Stat(filepath.Join(h.dir, uuid)); !errors.Is(err, os.ErrNotExist) {
				t.Errorf("instance directory left after failed build: %v", err)
			}
			if h.s.lc.failedBuilds.Load() != 1 {
				t.Errorf("failed_builds = %d", h.s.lc.failedBuilds.Load())
			}
		})
	}
}

// TestPowerOperations drives each operation as nova-api casts it (task state set first) and checks the final
// states, the expected_task_state sent, the event, and the guest's state.
func TestPowerOperations(t *testing.T) {
	h := newHarness(t)
	uuid := "33333333-0000-4000-8000-000000000001"
	h.build(t, uuid, false)
	name := "instance-00000040"
	steps := []struct {
		method, apiTask string
		extra           string
		wantVM          string
		wantPower       int64
		wantExpect      string
		wantGuest       hypervisor.PowerState
		event           string
	}{
		{"stop_instance", taskPoweringOff, `"clean_shutdown": true`, vmStopped, powerShutdown, `["powering-off"]`, hypervisor.Shutdown, "compute_stop_instance"},
		{"start_instance", taskPoweringOn, ``, vmActive, powerRunning, `["powering-on"]`, hypervisor.Running, "compute_start_instance"},
		{"reboot_instance", taskRebooting, `"block_device_info": null, "reboot_type": "SOFT"`, vmActive, powerRunning, ``, hypervisor.Running, "compute_reboot_instance"},
		{"reboot_instance", taskRebootingHard, `"block_device_info": null, "reboot_type": "HARD"`, vmActive, powerRunning, ``, hypervisor.Running, "compute_reboot_instance"},
		{"pause_instance", taskPausing, ``, vmPaused, powerPaused, `["pausing"]`, hypervisor.Paused, "compute_pause_instance"},
		{"unpause_instance", taskUnpausing, ``, vmActive, powerRunning, `["unpausing"]`, hypervisor.Running, "compute_unpause_instance"},
		{"suspend_instance", taskSuspending, ``, vmSuspended, powerSuspended, `["suspending"]`, hypervisor.Suspended, "compute_suspend_instance"},
		{"resume_instance", taskResuming, ``, vmActive, powerRunning, `["resuming"]`, hypervisor.Running, "compute_resume_instance"},
	}
	handlers := map[string]func(context.Context, json.RawMessage) (any, error){
		"stop_instance": h.s.stopInstance, "start_instance": h.s.startInstance, "reboot_instance": h.s.rebootInstance,
		"pause_instance": h.s.pauseInstance, "unpause_instance": h.s.unpauseInstance,
		"suspend_instance": h.s.suspendInstance, "resume_instance": h.s.resumeInstance,
	}
	for _, st := range steps {
		t.Run(st.method+"/"+st.apiTask, func(t *testing.T) {
			inst := h.cond.object(uuid)
			_ = inst.Set("task_state", st.apiTask)
			h.cond.put(inst) // what nova-api saved before casting
			inst.ResetChanges()
			raw, _ := json.Marshal(inst)
			args := `{"instance": ` + string(raw)
			if st.extra != "" {
				args += ", " + st.extra
			}
			args += "}"
			before := len(h.cond.savesOf(uuid))
			if _, err := handlers[st.method](context.Background(), json.RawMessage(args)); err != nil {
				t.Fatal(err)
			}
			got := h.cond.object(uuid)
			if fieldString(got, "vm_state") != st.wantVM || intField(got, "power_state") != st.wantPower ||
				fieldString(got, "task_state") != "" {
				t.Errorf("after %s: vm %s power %d task %q, want %s %d none", st.method,
					fieldString(got, "vm_state"), intField(got, "power_state"), fieldString(got, "task_state"), st.wantVM, st.wantPower)
			}
			saves := h.cond.savesOf(uuid)[before:]
			if last := saves[len(saves)-1]; last.Expected != st.wantExpect {
				t.Errorf("final save expected_task_state %s, want %s", last.Expected, st.wantExpect)
			}
			if st.method == "reboot_instance" {
				hard := st.apiTask == taskRebootingHard
				wantTasks := []string{taskRebootPending, taskRebootStarted, ""}
				if hard {
					wantTasks = []string{taskRebootPendingHard, taskRebootStartedHard, ""}
				}
				if len(saves) != 3 || saves[0].Task != wantTasks[0] || saves[1].Task != wantTasks[1] ||
					saves[1].Expected != `["`+wantTasks[0]+`"]` {
					t.Errorf("reboot saves = %+v", saves)
				}
			}
			if info, _ := h.drv.Info(context.Background(), hypervisor.Guest{Name: name}); info.State != st.wantGuest {
				t.Errorf("guest is %s, want %s", info.State, st.wantGuest)
			}
			if ev := h.eventsContaining(st.event); len(ev) == 0 || !strings.HasSuffix(ev[len(ev)-1], "Success") {
				t.Errorf("events for %s = %v", st.event, ev)
			}
		})
	}
	if sm := systemMetadata(h.cond.object(uuid)); sm["old_vm_state"] != "" {
		t.Errorf("old_vm_state left in system metadata after resume: %q", sm["old_vm_state"])
	}
}

func TestUnexpectedTaskStateLeavesInstance(t *testing.T) {
	h := newHarness(t)
	uuid := "44444444-0000-4000-8000-000000000001"
	h.build(t, uuid, false)
	inst := h.cond.object(uuid)
	_ = inst.Set("task_state", taskDeleting) // deleted meanwhile: the stop's save must be refused
	h.cond.put(inst)
	_ = inst.Set("task_state", taskPoweringOff)
	inst.ResetChanges()
	raw, _ := json.Marshal(map[string]any{"instance": inst, "clean_shutdown": false})
	if _, err := h.s.stopInstance(context.Background(), raw); !isRemote(err, "UnexpectedDeletingTaskStateError") {
		t.Fatalf("stop error = %v, want UnexpectedDeletingTaskStateError", err)
	}
	if got := h.cond.object(uuid); fieldString(got, "task_state") != taskDeleting || fieldString(got, "vm_state") != vmActive {
		t.Errorf("record changed by a refused save: %s/%s", fieldString(got, "vm_state"), fieldString(got, "task_state"))
	}
}

func TestTerminateRemovesEverything(t *testing.T) {
	h := newHarness(t)
	uuid := "55555555-0000-4000-8000-000000000001"
	h.build(t, uuid, false)
	inst := h.cond.object(uuid)
	_ = inst.Set("task_state", taskDeleting)
	h.cond.put(inst)
	inst.ResetChanges()
	raw, _ := json.Marshal(map[string]any{"instance": inst, "bdms": json.RawMessage(`{"nova_object.name": "BlockDeviceMappingList", "nova_object.namespace": "nova", "nova_object.version": "1.18", "nova_object.data": {"objects": []}}`)})
	if _, err := h.s.terminateInstance(context.Background(), raw); err != nil {
		t.Fatal(err)
	}
	got := h.cond.object(uuid)
	if fieldString(got, "vm_state") != vmDeleted || fieldString(got, "power_state") != "0" || fieldString(got, "terminated_at") == "" {
		t.Errorf("after terminate: %s power %s terminated_at %q", fieldString(got, "vm_state"),
			fieldString(got, "power_state"), fieldString(got, "terminated_at"))
	}
	if !h.cond.deleted[uuid] {
		t.Error("Instance.destroy was not called")
	}
	if h.allocDel.Load() != 1 {
		t.Errorf("allocation deletes = %d, want 1", h.allocDel.Load())
	}
	if _, err := os.Stat(filepath.Join(h.dir, uuid)); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("instance directory still there: %v", err)
	}
	if _, err := h.drv.Info(context.Background(), hypervisor.Guest{Name: "instance-00000040"}); !errors.Is(err, hypervisor.ErrNotFound) {
		t.Errorf("guest still known to the driver: %v", err)
	}
	if u := h.s.usage(); u.stats["num_instances"] != "0" || u.memoryMB != 0 {
		t.Errorf("usage after delete = %+v", u)
	}
}

func TestPowerSyncStopsGuestThatShutDown(t *testing.T) {
	h := newHarness(t)
	uuid := "66666666-0000-4000-8000-000000000001"
	h.build(t, uuid, false)
	h.drv.set("instance-00000040", hypervisor.Shutdown) // the guest powered itself off
	if err := h.s.syncPowerStates(context.Background()); err != nil {
		t.Fatal(err)
	}
	got := h.cond.object(uuid)
	if fieldString(got, "vm_state") != vmStopped || intField(got, "power_state") != powerShutdown || fieldString(got, "task_state") != "" {
		t.Errorf("after sync: vm %s power %d task %q", fieldString(got, "vm_state"), intField(got, "power_state"), fieldString(got, "task_state"))
	}
	if len(h.cond.actions) != 1 || h.cond.actions[0] != uuid+" stop" {
		t.Errorf("instance actions = %v", h.cond.actions)
	}
	// A second pass finds nothing to do.
	n := len(h.cond.savesOf(uuid))
	if err := h.s.syncPowerStates(context.Background()); err != nil {
		t.Fatal(err)
	}
	if m := len(h.cond.savesOf(uuid)); m != n {
		t.Errorf("a consistent instance was saved again (%d saves, was %d)", m, n)
	}
}

func TestSyncDecision(t *testing.T) {
	tests := []struct {
		vm    string
		power int
		want  string
	}{
		{vmActive, powerShutdown, syncStop},
		{vmActive, powerCrashed, syncStop},
		{vmActive, powerSuspended, syncStop},
		{vmActive, powerRunning, syncNothing},
		{vmActive, powerPaused, syncNothing},
		{vmStopped, powerRunning, syncForceStop},
		{vmStopped, powerShutdown, syncNothing},
		{vmStopped, powerNoState, syncNothing},
		{vmPaused, powerShutdown, syncForceStop},
		{vmSuspended, powerShutdown, syncNothing},
		{vmError, powerShutdown, syncNothing},
		{vmBuilding, powerShutdown, syncNothing},
	}
	for _, tt := range tests {
		if got := syncDecision(tt.vm, tt.power); got != tt.want {
			t.Errorf("syncDecision(%s, %d) = %q, want %q", tt.vm, tt.power, got, tt.want)
		}
	}
}

func TestReconcileAtStart(t *testing.T) {
	h := newHarness(t)
	running := "77777777-0000-4000-8000-000000000001"
	h.build(t, running, false)
	// A build the restart interrupted.
	half := instanceFromWire(t, "77777777-0000-4000-8000-000000000002")
	_ = setAll(half, map[string]any{"host": testHost, "node": "node-a", "compute_id": 7, "task_state": taskSpawning, "id": 65})
	h.cond.put(half)
	// A guest whose instance was deleted while the service was down.
	gone := "77777777-0000-4000-8000-000000000003"
	goneInst := instanceFromWire(t, gone)
	_ = setAll(goneInst, map[string]any{"id": 66})
	h.cond.put(goneInst)
	h.cond.deleted[gone] = true
	if err := os.MkdirAll(filepath.Join(h.dir, gone), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(h.dir, gone, "disk"), []byte("x"), 0o644); err != nil {
		t.Fatal(err)
	}
	// A local directory of an instance the database still knows on another host stays.
	other := "77777777-0000-4000-8000-000000000004"
	otherInst := instanceFromWire(t, other)
	_ = setAll(otherInst, map[string]any{"host": "elsewhere"})
	h.cond.put(otherInst)
	_ = os.MkdirAll(filepath.Join(h.dir, other), 0o755)

	if err := h.s.reconcile(context.Background()); err != nil {
		t.Fatal(err)
	}
	if got := h.cond.object(running); fieldString(got, "vm_state") != vmActive {
		t.Errorf("running instance became %s", fieldString(got, "vm_state"))
	}
	if info, _ := h.drv.Info(context.Background(), hypervisor.Guest{Name: "instance-00000040"}); info.State != hypervisor.Running {
		t.Errorf("running guest is %s", info.State)
	}
	halfGot := h.cond.object(instanceUUID(half))
	if fieldString(halfGot, "vm_state") != vmError || fieldString(halfGot, "task_state") != "" {
		t.Errorf("interrupted build: vm %s task %q, want error none", fieldString(halfGot, "vm_state"), fieldString(halfGot, "task_state"))
	}
	if f := h.cond.faults[instanceUUID(half)]; len(f) != 1 || !strings.Contains(f[0], "restarted") {
		t.Errorf("interrupted build faults = %q", f)
	}
	if _, err := os.Stat(filepath.Join(h.dir, gone)); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("orphan of a deleted instance left: %v", err)
	}
	if _, err := os.Stat(filepath.Join(h.dir, other)); err != nil {
		t.Errorf("directory of a live instance removed: %v", err)
	}
}

func TestConsoles(t *testing.T) {
	h := newHarness(t)
	uuid := "88888888-0000-4000-8000-000000000001"
	h.build(t, uuid, false)
	h.drv.console = []byte("SYSLINUX\r\nline2\nNOVABSD-TINY-GUEST-READY\n\xffend")
	inst := h.cond.object(uuid)
	raw, _ := json.Marshal(map[string]any{"instance": inst, "tail_length": 2})
	out, err := h.s.getConsoleOutput(context.Background(), raw)
	if err != nil {
		t.Fatal(err)
	}
	if out != "NOVABSD-TINY-GUEST-READY\n\uFFFDend" {
		t.Errorf("console tail = %q", out)
	}
	raw, _ = json.Marshal(map[string]any{"instance": inst, "console_type": "novnc"})
	res, err := h.s.getVNCConsole(context.Background(), raw)
	if err != nil {
		t.Fatal(err)
	}
	info := res.(map[string]any)
	port := info["port"].(int)
	if port < 5900 || info["token"] != "tok-1" || info["access_url"] != "http://ctl:6080/vnc_auto.html?path=%3Ftoken%3Dtok-1" {
		t.Errorf("vnc console = %v", info)
	}
	for _, tt := range []struct {
		port string
		want bool
	}{{"5899", false}, {itoa(port), true}, {itoa(port + 1), false}} {
		raw, _ = json.Marshal(map[string]any{"instance": inst, "port": tt.port, "console_type": "novnc"})
		ok, err := h.s.validateConsolePort(context.Background(), raw)
		if err != nil || ok != tt.want {
			t.Errorf("validate_console_port(%s) = %v, %v; want %v", tt.port, ok, err, tt.want)
		}
	}
	raw, _ = json.Marshal(map[string]any{"instance": inst, "console_type": "spice-html5"})
	if _, err := h.s.getVNCConsole(context.Background(), raw); !isRemote(err, "ConsoleTypeInvalid") {
		t.Errorf("spice via get_vnc_console: %v", err)
	}
}

// buildMessageWithImage is a build message for inst whose image dict edit changes.
func buildMessageWithImage(t *testing.T, inst *vo.Object, edit func(img map[string]any)) json.RawMessage {
	t.Helper()
	var m map[string]json.RawMessage
	if err := json.Unmarshal(buildMessage(t, inst, false), &m); err != nil {
		t.Fatal(err)
	}
	var img map[string]any
	if err := json.Unmarshal(m["image"], &img); err != nil {
		t.Fatal(err)
	}
	if img["properties"] == nil {
		img["properties"] = map[string]any{}
	}
	edit(img)
	m["image"], _ = json.Marshal(img)
	msg, _ := json.Marshal(m)
	return msg
}

// TestBuildDiskBusFromImage: the image's novabsd_disk_bus, which Nova passes through in the image dict, puts the
// root disk on its bus over hw_disk_bus, and makes an iso image a disk as hw_disk_bus does.
func TestBuildDiskBusFromImage(t *testing.T) {
	tests := []struct {
		name   string
		format string
		props  map[string]any
		want   string // the first disk: device bus dev
	}{
		{"nvme over hw_disk_bus", "qcow2", map[string]any{"novabsd_disk_bus": "nvme", "hw_disk_bus": "virtio"}, "disk nvme nvme0n1"},
		{"hw_disk_bus alone", "qcow2", map[string]any{"hw_disk_bus": "sata"}, "disk sata sda"},
		{"iso is a CD-ROM", "iso", nil, "cdrom sata sda"},
		{"iso on novabsd_disk_bus is a disk", "iso", map[string]any{"novabsd_disk_bus": "nvme"}, "disk nvme nvme0n1"},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newHarness(t)
			uuid := "33333333-0000-4000-8000-0000000001" + fmt.Sprintf("%02d", i)
			inst := instanceFromWire(t, uuid)
			h.cond.put(inst)
			h.runBuild(t, context.Background(), buildMessageWithImage(t, inst, func(img map[string]any) {
				img["disk_format"] = tt.format
				maps.Copy(img["properties"].(map[string]any), tt.props)
			}))
			if v := fieldString(h.cond.object(uuid), "vm_state"); v != vmActive {
				t.Fatalf("vm_state = %q (faults %q), want active", v, h.cond.faults[uuid])
			}
			d := h.drv.lastSpawn.Devices.Disks[0]
			if got := d.Device + " " + d.Target.Bus + " " + d.Target.Dev; got != tt.want {
				t.Errorf("first disk %q, want %q", got, tt.want)
			}
		})
	}
}

// TestBuildRefusesBeforeMakingAnything: an image property or an engine refusal fails the build before the image
// is fetched or a disk made, with a fault naming what was refused; a missing engine piece reschedules.
func TestBuildRefusesBeforeMakingAnything(t *testing.T) {
	tests := []struct {
		name      string
		props     map[string]any
		checkErr  error
		wantFault string
	}{
		{name: "machine type with kernel and initrd", props: map[string]any{"hw_machine_type": "q35,kernel=/vmlinuz,initrd=/etc/shadow"},
			wantFault: `aborted: Image or flavor property unacceptable: invalid value "q35,kernel=/vmlinuz,initrd=/etc/shadow" for hw_machine_type`},
		{name: "disk bus", props: map[string]any{"hw_disk_bus": "floppy"}, wantFault: "hw_disk_bus"},
		{name: "novabsd disk bus", props: map[string]any{"novabsd_disk_bus": "xen", "hw_disk_bus": "virtio"},
			wantFault: `invalid value "xen" for novabsd_disk_bus`},
		{name: "TPM", props: map[string]any{"hw_tpm_version": "2.0"}, wantFault: `invalid value "2.0" for hw_tpm_version`},
		{name: "engine lacks the machine type",
			checkErr:  &hypervisor.PropertyError{Property: "hw_machine_type", Value: "pc-q35-0.1", Allowed: []string{"pc", "q35"}, Driver: "qemu"},
			wantFault: "aborted: Guest definition refused by the hypervisor: invalid value \"pc-q35-0.1\" for hw_machine_type"},
		{name: "engine lacks its user", checkErr: &hypervisor.MissingError{What: "qemu user ([qemu] user)", Path: "novabsd-qemu"},
			wantFault: "re-scheduled: Spawn failed: qemu user ([qemu] user) novabsd-qemu not found"},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newHarness(t)
			h.drv.checkErr = tt.checkErr
			uuid := "33333333-0000-4000-8000-00000000000" + string(rune('1'+i))
			inst := instanceFromWire(t, uuid)
			h.cond.put(inst)
			h.runBuild(t, context.Background(), buildMessageWithImage(t, inst, func(img map[string]any) {
				maps.Copy(img["properties"].(map[string]any), tt.props)
			}))
			got := h.cond.object(uuid)
			if v := fieldString(got, "vm_state"); v != vmError {
				t.Errorf("vm_state = %q, want %q", v, vmError)
			}
			if faults := h.cond.faults[uuid]; len(faults) != 1 || !strings.Contains(faults[0], tt.wantFault) {
				t.Errorf("faults = %q, want one containing %q", faults, tt.wantFault)
			}
			if n := h.fetches.Load(); n != 0 {
				t.Errorf("image fetched %d times before the refusal", n)
			}
			if h.drv.lastSpawn != nil {
				t.Errorf("spawned a refused guest")
			}
			for _, p := range []string{filepath.Join(h.dir, uuid), filepath.Join(h.dir, "_images")} {
				if ents, err := os.ReadDir(p); err == nil && len(ents) > 0 {
					t.Errorf("%s holds %d entries after a refused build", p, len(ents))
				}
			}
		})
	}
}
