package compute

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/novabsd/novabsd/hypervisor"
	"github.com/novabsd/novabsd/rpc"
	"github.com/novabsd/novabsd/rpc/vo"
)

// refusedCase is one unsupported method sent over the broker and what nova would leave behind.
type refusedCase struct {
	method     string
	vm, task   string // the instance's states before ("" task: None); vm defaults to active
	stopped    bool   // the guest is shut down
	wantClass  string // "" for a method that succeeds
	wantFault  bool
	wantEvent  string // the instance action event recorded with a failure
	wantMigErr bool   // the migration ends in status error
	wantMove   bool   // the migration's allocations go back to the instance
	wantOther  string // another object call expected, as fakeConductor.objectSaves spells it
	// keepTask: the task is the caller's to clear (the conductor's live-migration task rolls back on a failed
	// pre-check), so this host leaves it as nova's does.
	keepTask bool
}

var refusedCases = []refusedCase{
	{method: "reserve_block_device_name", task: "", wantClass: "InvalidVolume", wantFault: true},
	{method: "attach_volume", wantClass: "NotImplementedError", wantFault: true, wantEvent: "compute_attach_volume",
		wantOther: "BlockDeviceMapping.destroy "},
	{method: "detach_volume", wantClass: "NotImplementedError", wantFault: true, wantEvent: "compute_detach_volume"},
	{method: "swap_volume", wantClass: "NotImplementedError", wantFault: true, wantEvent: "compute_swap_volume"},
	{method: "remove_volume_connection"},
	{method: "volume_snapshot_create", wantClass: "NotImplementedError"},
	{method: "volume_snapshot_delete", wantClass: "NotImplementedError"},
	{method: "quiesce_instance", wantClass: "InstanceQuiesceNotSupported"},
	{method: "unquiesce_instance", wantClass: "InstanceQuiesceNotSupported"},
	{method: "prep_resize", task: "resize_prep", wantClass: "NotImplementedError", wantFault: true,
		wantEvent: "compute_prep_resize", wantMigErr: true, wantMove: true},
	{method: "prep_resize", vm: "stopped", stopped: true, task: "resize_prep", wantClass: "NotImplementedError",
		wantFault: true, wantEvent: "compute_prep_resize", wantMigErr: true, wantMove: true},
	{method: "resize_instance", task: "resize_prep", wantClass: "NotImplementedError", wantFault: true,
		wantEvent: "compute_resize_instance", wantMigErr: true, wantMove: true},
	{method: "finish_resize", task: "resize_migrated", wantClass: "NotImplementedError", wantFault: true,
		wantEvent: "compute_finish_resize", wantMigErr: true, wantMove: true},
	{method: "confirm_resize", wantClass: "NotImplementedError", wantFault: true, wantEvent: "compute_confirm_resize",
		wantMigErr: true},
	{method: "revert_resize", task: "resize_reverting", wantClass: "NotImplementedError", wantFault: true,
		wantEvent: "compute_revert_resize", wantMigErr: true},
	{method: "finish_revert_resize", task: "resize_reverting", wantClass: "NotImplementedError", wantFault: true,
		wantEvent: "compute_finish_revert_resize", wantMigErr: true},
	{method: "check_instance_shared_storage", wantClass: "NotImplementedError"},
	{method: "prep_snapshot_based_resize_at_dest", wantClass: "MigrationPreCheckError", wantFault: true,
		wantEvent: "compute_prep_snapshot_based_resize_at_dest"},
	{method: "prep_snapshot_based_resize_at_source", task: "resize_migrating", wantClass: "NotImplementedError",
		wantFault: true, wantEvent: "compute_prep_snapshot_based_resize_at_source", wantMigErr: true},
	{method: "finish_snapshot_based_resize_at_dest", task: "resize_migrated", wantClass: "NotImplementedError",
		wantFault: true, wantEvent: "compute_finish_snapshot_based_resize_at_dest", wantMigErr: true},
	{method: "finish_revert_snapshot_based_resize_at_source", task: "resize_reverting",
		wantClass: "NotImplementedError", wantFault: true,
		wantEvent: "compute_finish_revert_snapshot_based_resize_at_source", wantMigErr: true},
	{method: "confirm_snapshot_based_resize_at_source", wantClass: "NotImplementedError", wantFault: true,
		wantEvent: "compute_confirm_snapshot_based_resize_at_source", wantMigErr: true},
	{method: "revert_snapshot_based_resize_at_dest", task: "resize_reverting", wantClass: "NotImplementedError",
		wantFault: true, wantEvent: "compute_revert_snapshot_based_resize_at_dest", wantMigErr: true},
	{method: "check_can_live_migrate_destination", task: "migrating", keepTask: true, wantClass: "MigrationPreCheckError",
		wantFault: true, wantEvent: "compute_check_can_live_migrate_destination"},
	{method: "check_can_live_migrate_source", task: "migrating", keepTask: true, wantClass: "MigrationPreCheckError",
		wantFault: true, wantEvent: "compute_check_can_live_migrate_source"},
	{method: "live_migration", task: "migrating", wantClass: "NotImplementedError", wantFault: true,
		wantEvent: "compute_live_migration", wantMigErr: true, wantMove: true},
	{method: "pre_live_migration", wantClass: "NotImplementedError", wantFault: true,
		wantEvent: "compute_pre_live_migration"},
	{method: "post_live_migration_at_destination", wantClass: "NotImplementedError", wantFault: true,
		wantEvent: "compute_post_live_migration_at_destination"},
	{method: "rollback_live_migration_at_destination", wantClass: "NotImplementedError", wantFault: true,
		wantEvent: "compute_rollback_live_migration_at_destination"},
	{method: "drop_move_claim_at_destination", wantClass: "NotImplementedError", wantFault: true},
	{method: "live_migration_abort", wantClass: "NotImplementedError", wantFault: true,
		wantEvent: "compute_live_migration_abort"},
	{method: "live_migration_force_complete", wantClass: "NotImplementedError", wantFault: true,
		wantEvent: "compute_live_migration_force_complete"},
	{method: "allow_share", vm: "stopped", stopped: true, wantClass: "NotImplementedError", wantFault: true,
		wantEvent: "compute_allow_share", wantOther: "ShareMapping.save error"},
	{method: "deny_share", vm: "stopped", stopped: true, wantClass: "NotImplementedError", wantFault: true,
		wantEvent: "compute_deny_share", wantOther: "ShareMapping.save error"},
	{method: "get_spice_console", wantClass: "ConsoleTypeUnavailable", wantFault: true},
	{method: "get_mks_console", wantClass: "ConsoleTypeUnavailable", wantFault: true},
	{method: "get_rdp_console", wantClass: "NotImplementedError", wantFault: true},
	{method: "set_admin_password", task: "updating_password", wantClass: "NotImplementedError", wantFault: true,
		wantEvent: "compute_set_admin_password"},
	{method: "set_admin_password", vm: "stopped", stopped: true, task: "updating_password",
		wantClass: "InstancePasswordSetFailed", wantFault: true, wantEvent: "compute_set_admin_password"},
	{method: "host_power_action", wantClass: "NotImplementedError"},
	{method: "host_maintenance_mode", wantClass: "NotImplementedError"},
	{method: "add_fixed_ip_to_instance", wantClass: "NotImplementedError", wantFault: true},
	{method: "remove_fixed_ip_from_instance", wantClass: "NotImplementedError", wantFault: true},
	{method: "inject_network_info"},
}

// TestRefusedMethodsEndCleanly sends every unsupported method over the broker and checks nova's outcome: the
// exception class nova raises, no task left behind, vm_state unchanged, a fault where nova records one, the
// instance action event failed, the migration in error and its allocations back with the instance.
func TestRefusedMethodsEndCleanly(t *testing.T) {
	h := newHarness(t)
	client := h.serve(t)
	var moveMu sync.Mutex
	var moves []string
	h.s.lc.moveAllocations = func(_ context.Context, source, target string) (bool, error) {
		moveMu.Lock()
		defer moveMu.Unlock()
		moves = append(moves, source+">"+target)
		return true, nil
	}
	methods := h.s.computeMethods()
	covered := map[string]bool{}
	for i, c := range refusedCases {
		covered[c.method] = true
		t.Run(fmt.Sprintf("%s-%d", c.method, i), func(t *testing.T) {
			uuid := fmt.Sprintf("5e0f0000-0000-4000-8000-%012d", i)
			migUUID := fmt.Sprintf("5e0f0000-0000-4000-9000-%012d", i)
			inst := instanceFromWire(t, uuid)
			vm := c.vm
			if vm == "" {
				vm = vmActive
			}
			asInstance(inst).SetVMState(vm)
			if c.task != "" {
				asInstance(inst).SetTaskState(c.task)
			} else {
				asInstance(inst).ClearTaskState()
			}
			inst.ResetChanges()
			h.cond.put(inst)
			state := hypervisor.Running
			if c.stopped {
				state = hypervisor.Shutdown
			}
			h.drv.set(instanceName(inst), state)
			h.cond.mu.Lock()
			h.cond.objectSaves = nil
			h.cond.mu.Unlock()
			moveMu.Lock()
			moves = nil
			moveMu.Unlock()

			m, ok := methods[c.method]
			if !ok {
				t.Fatalf("%s has no handler", c.method)
			}
			args := map[string]any{}
			for _, name := range m.args.required {
				args[name] = refusedArg(name, inst, migUUID)
			}
			rc := rpc.AdminContext()
			_, err := client.Call(context.Background(), &rc, c.method, args)
			var re *rpc.RemoteError
			switch {
			case c.wantClass == "" && err != nil:
				t.Fatalf("answered %v, want success", err)
			case c.wantClass != "" && !errors.As(err, &re):
				t.Fatalf("answered %v, want %s", err, c.wantClass)
			case c.wantClass != "" && re.Class != c.wantClass:
				t.Fatalf("answered %s.%s %q, want %s", re.Module, re.Class, re.Message, c.wantClass)
			}
			if re != nil && re.Class == "NoSuchMethod" {
				t.Fatal("NoSuchMethod")
			}
			wantTask := ""
			if c.keepTask {
				wantTask = c.task
			}
			if got := h.cond.field(uuid, "task_state"); got != wantTask {
				t.Errorf("task_state %q, want %q", got, wantTask)
			}
			if got := h.cond.field(uuid, "vm_state"); got != vm {
				t.Errorf("vm_state %q, want %q unchanged", got, vm)
			}
			h.cond.mu.Lock()
			faults := slices.Clone(h.cond.faults[uuid])
			others := slices.Clone(h.cond.objectSaves)
			h.cond.mu.Unlock()
			if c.wantFault != (len(faults) == 1) {
				t.Errorf("faults %q, want fault %v", faults, c.wantFault)
			}
			if c.wantEvent != "" {
				if ev := h.eventsContaining("finish " + c.wantEvent + " Error"); len(ev) == 0 {
					t.Errorf("no failed %s event in %q", c.wantEvent, h.eventsContaining(c.wantEvent))
				}
			}
			if got := slices.Contains(others, "Migration.save error"); got != c.wantMigErr {
				t.Errorf("object calls %q; migration error expected: %v", others, c.wantMigErr)
			}
			if c.wantOther != "" && !slices.Contains(others, c.wantOther) {
				t.Errorf("object calls %q, want %q", others, c.wantOther)
			}
			moveMu.Lock()
			gotMoves := slices.Clone(moves)
			moveMu.Unlock()
			if want := []string{migUUID + ">" + uuid}; c.wantMove != slices.Equal(gotMoves, want) {
				t.Errorf("allocation moves %q; move back expected: %v", gotMoves, c.wantMove)
			}
		})
	}
	// Every method of the refused group has a case.
	for name := range h.s.refusedMethods() {
		if !covered[name] {
			t.Errorf("%s: no case in refusedCases", name)
		}
	}
}

// refusedArg is a plausible value for one argument of a refused method.
func refusedArg(name string, inst *vo.Object, migUUID string) any {
	switch name {
	case "instance":
		return inst
	case "migration":
		m := vo.New("Migration", "1.8")
		_ = setAll(m, map[string]any{"id": 3, "uuid": migUUID, "status": "pre-migrating",
			"instance_uuid": instanceUUID(inst)})
		m.ResetChanges()
		return m
	case "share_mapping":
		sm := vo.New("ShareMapping", "1.2")
		_ = setAll(sm, map[string]any{"id": 1, "uuid": migUUID, "status": "attaching",
			"instance_uuid": instanceUUID(inst), "share_id": "f0000000-0000-4000-8000-000000000001"})
		sm.ResetChanges()
		return sm
	case "bdm":
		b := vo.New("BlockDeviceMapping", "1.20")
		_ = setAll(b, map[string]any{"id": 9, "instance_uuid": instanceUUID(inst), "volume_id": migUUID,
			"source_type": "volume", "destination_type": "volume"})
		b.ResetChanges()
		return b
	case "console_type":
		return "spice-html5"
	case "image_ids":
		return []string{}
	}
	return json.RawMessage("null")
}

// TestRefusedMessagesNameNovabsd: the refusals say what is unsupported, for the fault the user sees.
func TestRefusedMessagesNameNovabsd(t *testing.T) {
	err := refusals["prep_resize"].refuse(nil, context.Background(), nil, nil, nil)
	if !strings.Contains(err.Error(), "resize is not supported by the novabsd compute driver") {
		t.Errorf("prep_resize refusal %q", err)
	}
}
