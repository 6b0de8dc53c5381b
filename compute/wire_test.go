package compute

import (
	"encoding/json"
	"strconv"
	"testing"

	"github.com/novabsd/novabsd/rpc"
)

func itoa(n int) string { return strconv.Itoa(n) }

// TestWireArguments decodes the captured compute casts and calls with each handler's argument type: a field
// the type does not know fails (as a Python method refuses unknown keyword arguments), and the values land.
func TestWireArguments(t *testing.T) {
	const uuid = "49114791-6f28-4605-85ab-bd5c01c369a3"
	tests := []struct {
		file  string
		into  any
		check func(t *testing.T, v any)
	}{
		{"build_and_run_instance", &buildArgs{}, func(t *testing.T, v any) {
			a := v.(*buildArgs)
			var img imageMeta
			if err := json.Unmarshal(a.Image, &img); err != nil || img.ID != "7526aae6-0c22-472b-b75c-af6e385fe849" || img.DiskFormat != "raw" {
				t.Errorf("image = %+v, %v", img, err)
			}
			f, err := asInstance(a.Instance).Flavor()
			if err != nil || f.MemoryMB != 128 || f.VCPUs != 1 || f.RootGB != 1 || f.Name != "m1.tiny" {
				t.Errorf("flavor = %+v, %v", f, err)
			}
			if *a.Node != "vm" || hasRetry(a.FilterProperties) || checkNetworks(a.RequestedNetworks) != nil || checkBDMs(a.BlockDeviceMapping) != nil {
				t.Errorf("node %q retry %v networks %v bdms %v", *a.Node, hasRetry(a.FilterProperties),
					checkNetworks(a.RequestedNetworks), checkBDMs(a.BlockDeviceMapping))
			}
			if instanceName(a.Instance) != "instance-00000040" || systemMetadata(a.Instance)["image_disk_format"] != "raw" {
				t.Errorf("name %s sysmeta %v", instanceName(a.Instance), systemMetadata(a.Instance))
			}
		}},
		{"stop_instance", &stopInstanceArgs{}, func(t *testing.T, v any) {
			if a := v.(*stopInstanceArgs); a.CleanShutdown == nil || !*a.CleanShutdown || instanceUUID(a.Instance) != uuid {
				t.Errorf("stop args = %+v", a)
			}
		}},
		{"start_instance", &instanceArgs{}, func(t *testing.T, v any) {
			if a := v.(*instanceArgs); fieldString(a.Instance, "task_state") != taskPoweringOn {
				t.Errorf("start: task_state %q", fieldString(a.Instance, "task_state"))
			}
		}},
		{"reboot_instance", &rebootArgs{}, func(t *testing.T, v any) {
			if a := v.(*rebootArgs); a.RebootType != "SOFT" || string(a.BlockDeviceInfo) != "null" {
				t.Errorf("reboot args = %+v", a)
			}
		}},
		{"suspend_instance", &instanceArgs{}, func(t *testing.T, v any) {
			if a := v.(*instanceArgs); fieldString(a.Instance, "task_state") != taskSuspending {
				t.Errorf("suspend: task_state %q", fieldString(a.Instance, "task_state"))
			}
		}},
		{"resume_instance", &instanceArgs{}, func(t *testing.T, v any) {
			if a := v.(*instanceArgs); fieldString(a.Instance, "task_state") != taskResuming {
				t.Errorf("resume: task_state %q", fieldString(a.Instance, "task_state"))
			}
		}},
		{"terminate_instance", &terminateArgs{}, func(t *testing.T, v any) {
			a := v.(*terminateArgs)
			if fieldString(a.Instance, "task_state") != taskDeleting || a.BDMs == nil {
				t.Errorf("terminate args: task %q bdms %v", fieldString(a.Instance, "task_state"), a.BDMs)
			}
		}},
		{"snapshot_instance", &snapshotArgs{}, func(t *testing.T, v any) {
			a := v.(*snapshotArgs)
			if a.ImageID != "56fc0cf6-e640-4a64-bd0d-b6ceaa170ef4" || fieldString(a.Instance, "task_state") != taskImageSnapshotPending {
				t.Errorf("snapshot args: image %q task %q", a.ImageID, fieldString(a.Instance, "task_state"))
			}
		}},
		{"get_console_output", &consoleOutputArgs{}, func(t *testing.T, v any) {
			a := v.(*consoleOutputArgs)
			if n, all, err := parseTail(a.TailLength); n != 200 || all || err != nil {
				t.Errorf("tail_length = %d %v %v", n, all, err)
			}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.file, func(t *testing.T) {
			if err := rpc.DecodeArgs(wireArgs(t, tt.file), tt.into); err != nil {
				t.Fatalf("decode %s: %v", tt.file, err)
			}
			tt.check(t, tt.into)
		})
	}
}

func TestBadArgumentsAreRefused(t *testing.T) {
	tests := []struct {
		name string
		args string
	}{
		{"unknown argument", `{"instance": null, "surprise": 1}`},
		{"no instance", `{"clean_shutdown": true}`},
	}
	s := &Service{}
	for _, tt := range tests {
		_, err := s.stopInstance(t.Context(), json.RawMessage(tt.args))
		var ae *rpc.ArgsError
		if !asArgsError(err, &ae) {
			t.Errorf("%s: error %v, want an ArgsError (TypeError to the caller)", tt.name, err)
		}
	}
}

func asArgsError(err error, target **rpc.ArgsError) bool {
	e, ok := err.(*rpc.ArgsError)
	if ok {
		*target = e
	}
	return ok
}

func TestConsoleText(t *testing.T) {
	tests := []struct {
		in   string
		n    int
		all  bool
		want string
	}{
		{"a\nb\nc", 2, false, "b\nc"},
		{"a\nb\nc\n", 1, false, ""},
		{"a\nb", 10, false, "a\nb"},
		{"a\nb", 0, false, ""},
		{"x\xe9y", 0, true, "x\uFFFDy"},
	}
	for _, tt := range tests {
		if got := consoleText([]byte(tt.in), tt.n, tt.all); got != tt.want {
			t.Errorf("consoleText(%q, %d, %v) = %q, want %q", tt.in, tt.n, tt.all, got, tt.want)
		}
	}
}

func TestNoVNCAccessURL(t *testing.T) {
	tests := []struct{ base, want string }{
		{"http://ctl:6080/vnc_auto.html", "http://ctl:6080/vnc_auto.html?path=%3Ftoken%3Dabc"},
		{"http://ctl:6080/vnc_lite.html?path=websockify", "http://ctl:6080/vnc_lite.html?path=websockify%3Ftoken%3Dabc"},
	}
	for _, tt := range tests {
		if got := noVNCAccessURL(tt.base, "abc"); got != tt.want {
			t.Errorf("noVNCAccessURL(%s) = %s, want %s", tt.base, got, tt.want)
		}
	}
}

func TestTrackerStats(t *testing.T) {
	tr := newTracker()
	tr.host = "h"
	mk := func(uuid, vm, task, proj string) {
		inst := instanceFromWire(t, uuid)
		_ = setAll(inst, map[string]any{"host": "h", "vm_state": vm, "task_state": task, "project_id": proj})
		if task == "" {
			_ = inst.Set("task_state", nil)
		}
		tr.update(inst)
	}
	mk("a", vmActive, "", "p1")
	mk("b", vmBuilding, taskSpawning, "p1")
	mk("c", vmActive, taskImageSnapshot, "p2")
	mk("d", vmDeleted, "", "p2") // released
	u := tr.totals()
	want := map[string]string{"num_instances": "3", "num_vm_active": "2", "num_vm_building": "1",
		"num_task_None": "1", "num_task_spawning": "1", "num_task_image_snapshot": "1", "num_proj_p1": "2",
		"num_proj_p2": "1", "num_os_type_None": "3", "io_workload": "2"}
	for k, v := range want {
		if u.stats[k] != v {
			t.Errorf("stats[%s] = %q, want %q (all: %v)", k, u.stats[k], v, u.stats)
		}
	}
	if u.workload != 2 || u.running != 3 || u.memoryMB != 3*128 || u.diskMB != 3*1024 {
		t.Errorf("totals = %+v", u)
	}
}
