package compute

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/novabsd/novabsd/hypervisor"
	"github.com/novabsd/novabsd/images"
	"github.com/novabsd/novabsd/rpc"
)

// rebuild sends rebuild_instance as nova-api does: task rebuilding and the new image_ref already saved.
func (h *harness) rebuildWith(t *testing.T, uuid, image string, extra map[string]any) error {
	t.Helper()
	inst := h.cond.object(uuid)
	_ = inst.Set("task_state", taskRebuilding)
	_ = inst.Set("image_ref", image)
	h.cond.put(inst)
	inst.ResetChanges()
	args := map[string]any{"instance": inst, "orig_image_ref": "old-image", "image_ref": image,
		"injected_files": []any{}, "new_pass": "n3w-pass", "orig_sys_metadata": map[string]any{}, "bdms": nil,
		"recreate": false, "on_shared_storage": nil, "preserve_ephemeral": false, "migration": nil,
		"scheduled_node": nil, "limits": nil, "request_spec": nil, "accel_uuids": []any{},
		"reimage_boot_volume": true, "target_state": nil} // true: what nova-api sends from API 2.93 on
	for k, v := range extra {
		args[k] = v
	}
	raw, _ := json.Marshal(args)
	_, err := checked("rebuild_instance", h.s.rebuildMethods()["rebuild_instance"].args, h.s.rebuildInstance)(context.Background(), raw)
	return err
}

func TestRebuildSameHost(t *testing.T) {
	for _, stopped := range []bool{false, true} {
		name := map[bool]string{false: "active", true: "stopped"}[stopped]
		t.Run(name, func(t *testing.T) {
			h := newHarness(t)
			uuid := "13131313-0000-4000-8000-00000000000" + map[bool]string{false: "1", true: "2"}[stopped]
			h.build(t, uuid, false)
			h.withImages(map[string]any{"hw_disk_bus": "virtio"})
			if stopped {
				inst := h.setTask(uuid, taskPoweringOff)
				raw, _ := json.Marshal(map[string]any{"instance": inst, "clean_shutdown": true})
				if _, err := h.s.stopInstance(context.Background(), raw); err != nil {
					t.Fatal(err)
				}
			}
			root := filepath.Join(h.dir, uuid, "disk")
			// A mark in the old root disk: the rebuilt one must be a fresh copy of the image.
			if err := os.WriteFile(root, []byte("OLD-ROOT"), 0o644); err != nil {
				t.Fatal(err)
			}
			nSaves, fetches := len(h.cond.savesOf(uuid)), h.fetches.Load()
			if err := h.rebuildWith(t, uuid, "new-image", nil); err != nil {
				t.Fatal(err)
			}
			saves := h.cond.savesOf(uuid)[nSaves:]
			want := []saveRec{
				{Task: taskRebuilding, Expected: `["rebuilding"]`},
				{Task: taskRebuildBDM, Expected: `["rebuilding"]`},
				{Task: taskRebuildSpawning, Expected: `["rebuild_block_device_mapping"]`},
				{VM: vmActive, Task: "", Power: powerRunning, Expected: `["rebuild_spawning"]`},
			}
			if stopped {
				want = append(want, saveRec{VM: vmActive, Task: taskPoweringOff},
					saveRec{VM: vmStopped, Task: "", Power: powerShutdown, Expected: `["powering-off"]`})
			}
			if len(saves) != len(want) {
				t.Fatalf("saves = %+v, want %+v", saves, want)
			}
			for i, w := range want {
				g := saves[i]
				if (w.VM != "" && g.VM != w.VM) || g.Task != w.Task || g.Expected != w.Expected || (w.Power != 0 && g.Power != w.Power) {
					t.Errorf("save %d = %+v, want %+v", i, g, w)
				}
			}
			got := h.cond.object(uuid)
			if fieldString(got, "image_ref") != "new-image" || fieldString(got, "launched_at") == "" {
				t.Errorf("image_ref %q launched_at %q", fieldString(got, "image_ref"), fieldString(got, "launched_at"))
			}
			b, err := readHead(root, 8)
			if err != nil || !strings.HasPrefix(string(b), "TINY") {
				t.Errorf("root disk after rebuild is not the image's copy (%v)", err)
			}
			if h.fetches.Load() == fetches {
				t.Error("the new image was not fetched")
			}
			if ev := h.eventsContaining("compute_rebuild_instance"); len(ev) != 2 || !strings.HasSuffix(ev[1], "Success") {
				t.Errorf("events = %v", ev)
			}
			wantState := map[bool]hypervisor.PowerState{false: hypervisor.Running, true: hypervisor.Shutdown}[stopped]
			if st, _ := h.drv.Info(context.Background(), hypervisor.Guest{Name: testGuestName}); st.State != wantState {
				t.Errorf("guest state = %v, want %v", st.State, wantState)
			}
		})
	}
}

// TestRebuildRefusals: refusals leave the server as it was (vm state kept, guest and disk untouched, fault); a
// failure after the guest was destroyed ends in ERROR with a fault, as nova's rebuild.
func TestRebuildRefusals(t *testing.T) {
	cases := []struct {
		name    string
		extra   map[string]any
		setup   func(h *harness)
		wantVM  string
		wantErr string
		touched bool
	}{
		{"evacuate", map[string]any{"recreate": true}, nil, vmActive, "evacuate is not supported", false},
		{"image property refused", nil, func(h *harness) {
			h.withImages(map[string]any{"hw_disk_bus": "xen"})
		}, vmActive, "hw_disk_bus", false},
		{"engine refuses", nil, func(h *harness) {
			h.drv.checkErr = &hypervisor.UnsupportedError{Driver: "fake", Op: "x"}
		}, vmActive, "does not support", false},
		{"image download fails", nil, func(h *harness) { h.fetchErr = images.ErrNotFound }, vmActive, "could not be found", false},
		{"image unknown to glance", nil, func(h *harness) {
			h.s.lc.eng.imageInfo = func(context.Context, *rpc.RequestContext, string) (imageMeta, error) {
				return imageMeta{}, images.ErrNotFound
			}
		}, vmActive, "could not be found", false},
		{"spawn fails", nil, func(h *harness) { h.drv.spawnErr = errors.New("no firmware") }, vmError, "Spawn failed", true},
	}
	for i, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			h := newHarness(t)
			uuid := "13131313-0000-4000-8000-00000000010" + string(rune('0'+i))
			h.build(t, uuid, false)
			h.withImages(nil)
			root := filepath.Join(h.dir, uuid, "disk")
			if err := os.WriteFile(root, []byte("OLD-ROOT"), 0o644); err != nil {
				t.Fatal(err)
			}
			if c.setup != nil {
				c.setup(h)
			}
			err := h.rebuildWith(t, uuid, "new-image", c.extra)
			if err == nil || !strings.Contains(err.Error(), c.wantErr) {
				t.Fatalf("rebuild error = %v, want one with %q", err, c.wantErr)
			}
			got := h.cond.object(uuid)
			if vm, task := fieldString(got, "vm_state"), fieldString(got, "task_state"); vm != c.wantVM || task != "" {
				t.Errorf("after failure: vm %q task %q, want %q and none", vm, task, c.wantVM)
			}
			if len(h.cond.faults[uuid]) == 0 {
				t.Error("no fault recorded")
			}
			if c.touched {
				return
			}
			if b, _ := readHead(root, 16); string(b) != "OLD-ROOT" {
				t.Error("the root disk was touched by a refused rebuild")
			}
			if st, _ := h.drv.Info(context.Background(), hypervisor.Guest{Name: testGuestName}); st.State != hypervisor.Running {
				t.Errorf("guest state = %v, want running", st.State)
			}
		})
	}
}

func TestRebuildPreserveEphemeral(t *testing.T) {
	h := newHarness(t)
	uuid := "13131313-0000-4000-8000-000000000201"
	h.build(t, uuid, false)
	h.withImages(nil)
	// The wire flavor has no ephemeral disk: nothing to preserve, the rebuild goes ahead.
	if err := h.rebuildWith(t, uuid, "new-image", map[string]any{"preserve_ephemeral": true}); err != nil {
		t.Fatalf("preserve_ephemeral without an ephemeral disk: %v", err)
	}
	if vm := fieldString(h.cond.object(uuid), "vm_state"); vm != vmActive {
		t.Errorf("vm_state = %q", vm)
	}
}

// readHead reads at most n bytes from the start of path (root disks are sparse gigabytes).
func readHead(path string, n int) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	b := make([]byte, n)
	k, err := io.ReadFull(f, b)
	if errors.Is(err, io.ErrUnexpectedEOF) {
		err = nil
	}
	return b[:k], err
}

// TestRebuildDoesNotWaitForPortsAlreadyUp: the build saved its cache while the port was down; by the rebuild it is
// up, and Neutron sends no network-vif-plugged for a port that stays up. The rebuild reads the ports from Neutron
// first (as nova's get_instance_nw_info) and waits for nothing: from the cache it waited vif_plugging_timeout and
// the server stayed in rebuild_spawning (Tempest's test_rebuild_server).
func TestRebuildDoesNotWaitForPortsAlreadyUp(t *testing.T) {
	h := newHarness(t)
	uuid := "13131313-0000-4000-8000-000000000301"
	h.neutron.active = true
	h.buildWithNetwork(t, uuid, false)
	up := h.cachedInfo(t, uuid)
	if len(up) != 1 {
		t.Fatalf("info cache after build = %+v", up)
	}
	down := slices.Clone(up)
	down[0].Active = false
	inst := h.cond.object(uuid)
	if err := h.s.saveInfoCache(context.Background(), &rpc.RequestContext{}, inst, down); err != nil {
		t.Fatal(err)
	}
	h.cond.put(inst)
	h.neutron.refresh = up
	cfg := *h.s.cfg.Load()
	cfg.Default.VIFPluggingTimeout, cfg.Default.VIFPluggingIsFatal = 3, true
	h.s.cfg.Store(&cfg)
	h.withImages(nil)
	if err := h.rebuildWith(t, uuid, "new-image", nil); err != nil {
		t.Fatalf("rebuild: %v", err)
	}
	got := h.cond.object(uuid)
	if vm, task := fieldString(got, "vm_state"), fieldString(got, "task_state"); vm != vmActive || task != "" {
		t.Errorf("after rebuild: vm %q task %q, want active and none", vm, task)
	}
	if info := h.cachedInfo(t, uuid); len(info) != 1 || !info[0].Active {
		t.Errorf("info cache after rebuild = %+v, want the port active", info)
	}
}
