package compute

import (
	"context"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/novabsd/novabsd/rpc"
	"github.com/novabsd/novabsd/rpc/vo"
)

func TestCheckInstanceUUID(t *testing.T) {
	tests := []struct {
		uuid string
		ok   bool
	}{
		{"6c0a8ed5-54d4-4c28-9ad5-2b7d3a0b1c01", true},
		{"6C0A8ED5-54D4-4C28-9AD5-2B7D3A0B1C01", false}, // nova writes lower case only; one spelling, one directory
		{"{6c0a8ed5-54d4-4c28-9ad5-2b7d3a0b1c01}", false},
		{"urn:uuid:6c0a8ed5-54d4-4c28-9ad5-2b7d3a0b1c01", false},
		{"6c0a8ed554d44c289ad52b7d3a0b1c01", false},
		{"6c0a8ed5-54d4-4c28-9ad5-2b7d3a0b1c0", false},
		{"6c0a8ed5-54d4-4c28-9ad5-2b7d3a0b1c01/", false},
		{"..", false},
		{"../x", false},
		{"a/b", false},
		{"", false},
	}
	for _, tt := range tests {
		err := checkInstanceUUID(tt.uuid)
		if (err == nil) != tt.ok {
			t.Errorf("checkInstanceUUID(%q) = %v, want ok=%v", tt.uuid, err, tt.ok)
		}
		if err != nil && (!isRemote(err, "InvalidUUID") || !strings.Contains(err.Error(), tt.uuid)) {
			t.Errorf("checkInstanceUUID(%q) = %v, want InvalidUUID naming it", tt.uuid, err)
		}
	}
}

// TestInstanceUUIDsNeverBecomePaths sends operations for instances whose uuid is not a canonical uuid through the
// broker: each is refused with an error naming the uuid, nothing reaches the conductor, and nothing beside or
// above instances_path is touched.
func TestInstanceUUIDsNeverBecomePaths(t *testing.T) {
	h := newHarness(t)
	client := h.serve(t)
	parent := filepath.Dir(h.dir)
	for _, p := range []string{filepath.Join(parent, "x"), filepath.Join(h.dir, "a")} {
		if err := os.MkdirAll(filepath.Join(p, "b"), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(p, "sentinel"), []byte("keep"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	beforeParent, beforeDir := dirNames(t, parent), dirNames(t, h.dir)

	bdms, _ := vo.NewList("BlockDeviceMappingList", "1.18", nil)
	calls := []struct {
		method string
		args   map[string]any
	}{
		{"terminate_instance", map[string]any{"bdms": bdms}},
		{"stop_instance", map[string]any{"clean_shutdown": true}},
		{"start_instance", map[string]any{}},
		{"reboot_instance", map[string]any{"block_device_info": nil, "reboot_type": "HARD"}},
		{"pause_instance", map[string]any{}},
		{"suspend_instance", map[string]any{}},
		{"resume_instance", map[string]any{}},
		{"get_console_output", map[string]any{"tail_length": 10}},
		{"get_vnc_console", map[string]any{"console_type": "novnc"}},
		{"snapshot_instance", map[string]any{"image_id": "56fc0cf6-e640-4a64-bd0d-b6ceaa170ef4"}},
		{"shelve_instance", map[string]any{"image_id": "56fc0cf6-e640-4a64-bd0d-b6ceaa170ef4",
			"clean_shutdown": true, "accel_uuids": []string{}}},
		{"shelve_offload_instance", map[string]any{"clean_shutdown": true, "accel_uuids": []string{}}},
		{"unshelve_instance", map[string]any{"image": map[string]any{"id": "56fc0cf6-e640-4a64-bd0d-b6ceaa170ef4"},
			"filter_properties": map[string]any{}, "node": "node-a", "request_spec": nil, "accel_uuids": []string{}}},
		{"soft_delete_instance", map[string]any{}},
		{"restore_instance", map[string]any{}},
		{"build_and_run_instance", map[string]any{"image": map[string]any{}, "request_spec": nil,
			"filter_properties": map[string]any{}, "accel_uuids": []string{}, "node": "node-a"}},
	}
	rc := rpc.AdminContext()
	for _, uuid := range []string{"..", "../x", "a/b", "", "{6c0a8ed5-54d4-4c28-9ad5-2b7d3a0b1c01}",
		"6C0A8ED5-54D4-4C28-9AD5-2B7D3A0B1C01"} {
		for _, c := range calls {
			t.Run(c.method+"/"+uuid, func(t *testing.T) {
				inst := vo.New("Instance", "2.8")
				_ = setAll(inst, map[string]any{"uuid": uuid, "id": 64, "vm_state": vmActive, "host": testHost})
				inst.ResetChanges()
				args := map[string]any{"instance": inst}
				for k, v := range c.args {
					args[k] = v
				}
				_, err := client.Call(context.Background(), &rc, c.method, args)
				want := "InvalidUUID"
				if uuid == "" {
					want = "TypeError" // no uuid at all: the instance is missing
				}
				if !isRemote(err, want) || (uuid != "" && !strings.Contains(err.Error(), uuid)) {
					t.Errorf("err = %v, want %s naming %q", err, want, uuid)
				}
			})
		}
	}
	h.s.lc.work.Wait()
	if after := dirNames(t, parent); !slices.Equal(after, beforeParent) {
		t.Errorf("instances_path's parent held %v, now %v", beforeParent, after)
	}
	if after := dirNames(t, h.dir); !slices.Equal(after, beforeDir) {
		t.Errorf("instances_path held %v, now %v", beforeDir, after)
	}
	for _, p := range []string{filepath.Join(parent, "x"), filepath.Join(h.dir, "a")} {
		if b, err := os.ReadFile(filepath.Join(p, "sentinel")); err != nil || string(b) != "keep" {
			t.Errorf("%s/sentinel: %q, %v", p, b, err)
		}
		if _, err := os.Stat(filepath.Join(p, "b")); err != nil {
			t.Errorf("%s/b: %v", p, err)
		}
	}
	h.cond.mu.Lock()
	defer h.cond.mu.Unlock()
	if h.cond.calls != 0 {
		t.Errorf("the fake conductor received %d calls", h.cond.calls)
	}
}
