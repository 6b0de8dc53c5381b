package compute

import (
	"context"
	"encoding/json"
	"errors"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/novabsd/novabsd/hypervisor"
	"github.com/novabsd/novabsd/rpc"
	"github.com/novabsd/novabsd/rpc/vo"
)

// serve starts the service's compute servers on the harness's broker and returns a client of compute.<host>.
func (h *harness) serve(t *testing.T) *rpc.Client {
	t.Helper()
	servers, err := h.s.startServers(context.Background(), h.s.cfg.Load())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		for _, srv := range servers {
			_ = srv.Stop(context.Background())
		}
	})
	return h.s.transport.NewClient(rpc.Target{Topic: Topic, Server: testHost}).
		WithVersion(h.s.release.RPCVersion).WithTimeout(10 * time.Second)
}

// TestMethodsWithoutArguments sends every registered method with no arguments through the broker: each one
// with a required argument answers Python's TypeError naming all of them, and nothing is done (no conductor
// call, no change to the service record that set_host_enabled would sync to Placement, no guest, no file).
func TestMethodsWithoutArguments(t *testing.T) {
	h := newHarness(t)
	client := h.serve(t)
	h.s.serviceRef = vo.New("Service", "1.22")
	_ = h.s.serviceRef.Set("disabled", false)
	h.s.serviceRef.ResetChanges()
	const guest = "instance-00000001"
	h.drv.set(guest, hypervisor.Running)
	sentinel := h.dir + "/sentinel"
	if err := os.Mkdir(sentinel, 0o755); err != nil {
		t.Fatal(err)
	}
	before := dirNames(t, h.dir)

	missing := map[string]string{
		"set_host_enabled":                              "'enabled'",
		"get_host_uptime":                               "",
		"build_and_run_instance":                        "5 required positional arguments: 'instance', 'image', 'request_spec', 'filter_properties', and 'accel_uuids'",
		"terminate_instance":                            "'instance' and 'bdms'",
		"stop_instance":                                 "'instance' and 'clean_shutdown'",
		"start_instance":                                "1 required positional argument: 'instance'",
		"reboot_instance":                               "'instance', 'block_device_info', and 'reboot_type'",
		"pause_instance":                                "'instance'",
		"unpause_instance":                              "'instance'",
		"suspend_instance":                              "'instance'",
		"resume_instance":                               "'instance'",
		"get_console_output":                            "'instance' and 'tail_length'",
		"snapshot_instance":                             "'image_id' and 'instance'",
		"backup_instance":                               "'image_id', 'instance', 'backup_type', and 'rotation'",
		"get_vnc_console":                               "'console_type' and 'instance'",
		"validate_console_port":                         "'instance', 'port', and 'console_type'",
		"external_instance_event":                       "'instances' and 'events'",
		"attach_interface":                              "5 required positional arguments: 'instance', 'network_id', 'port_id', 'requested_ip', and 'tag'",
		"detach_interface":                              "2 required positional arguments: 'instance' and 'port_id'",
		"reserve_block_device_name":                     "7 required positional arguments: 'instance', 'device', 'volume_id', 'disk_bus', 'device_type', 'tag', and 'multiattach'",
		"attach_volume":                                 "2 required positional arguments: 'instance' and 'bdm'",
		"detach_volume":                                 "3 required positional arguments: 'volume_id', 'instance', and 'attachment_id'",
		"swap_volume":                                   "4 required positional arguments: 'old_volume_id', 'new_volume_id', 'instance', and 'new_attachment_id'",
		"remove_volume_connection":                      "2 required positional arguments: 'volume_id' and 'instance'",
		"volume_snapshot_create":                        "3 required positional arguments: 'instance', 'volume_id', and 'create_info'",
		"volume_snapshot_delete":                        "4 required positional arguments: 'instance', 'volume_id', 'snapshot_id', and 'delete_info'",
		"quiesce_instance":                              "1 required positional argument: 'instance'",
		"unquiesce_instance":                            "1 required positional argument: 'instance'",
		"prep_resize":                                   "9 required positional arguments: 'image', 'instance', 'flavor', 'request_spec', 'filter_properties', 'node', 'clean_shutdown', 'migration', and 'host_list'",
		"resize_instance":                               "6 required positional arguments: 'instance', 'image', 'migration', 'flavor', 'clean_shutdown', and 'request_spec'",
		"finish_resize":                                 "5 required positional arguments: 'disk_info', 'image', 'instance', 'migration', and 'request_spec'",
		"confirm_resize":                                "2 required positional arguments: 'instance' and 'migration'",
		"revert_resize":                                 "3 required positional arguments: 'instance', 'migration', and 'request_spec'",
		"finish_revert_resize":                          "3 required positional arguments: 'instance', 'migration', and 'request_spec'",
		"check_instance_shared_storage":                 "1 required positional argument: 'data'",
		"prep_snapshot_based_resize_at_dest":            "5 required positional arguments: 'instance', 'flavor', 'nodename', 'migration', and 'limits'",
		"prep_snapshot_based_resize_at_source":          "2 required positional arguments: 'instance' and 'migration'",
		"finish_snapshot_based_resize_at_dest":          "3 required positional arguments: 'instance', 'migration', and 'snapshot_id'",
		"finish_revert_snapshot_based_resize_at_source": "2 required positional arguments: 'instance' and 'migration'",
		"confirm_snapshot_based_resize_at_source":       "2 required positional arguments: 'instance' and 'migration'",
		"revert_snapshot_based_resize_at_dest":          "2 required positional arguments: 'instance' and 'migration'",
		"check_can_live_migrate_destination":            "5 required positional arguments: 'instance', 'block_migration', 'disk_over_commit', 'migration', and 'limits'",
		"check_can_live_migrate_source":                 "2 required positional arguments: 'instance' and 'dest_check_data'",
		"live_migration":                                "5 required positional arguments: 'dest', 'instance', 'block_migration', 'migration', and 'migrate_data'",
		"pre_live_migration":                            "3 required positional arguments: 'instance', 'disk', and 'migrate_data'",
		"post_live_migration_at_destination":            "2 required positional arguments: 'instance' and 'block_migration'",
		"rollback_live_migration_at_destination":        "3 required positional arguments: 'instance', 'destroy_disks', and 'migrate_data'",
		"drop_move_claim_at_destination":                "1 required positional argument: 'instance'",
		"live_migration_abort":                          "2 required positional arguments: 'instance' and 'migration_id'",
		"live_migration_force_complete":                 "1 required positional argument: 'instance'",
		"allow_share":                                   "2 required positional arguments: 'instance' and 'share_mapping'",
		"deny_share":                                    "2 required positional arguments: 'instance' and 'share_mapping'",
		"get_spice_console":                             "2 required positional arguments: 'console_type' and 'instance'",
		"get_mks_console":                               "2 required positional arguments: 'console_type' and 'instance'",
		"get_rdp_console":                               "2 required positional arguments: 'console_type' and 'instance'",
		"set_admin_password":                            "2 required positional arguments: 'instance' and 'new_pass'",
		"host_power_action":                             "1 required positional argument: 'action'",
		"host_maintenance_mode":                         "2 required positional arguments: 'host' and 'mode'",
		"add_fixed_ip_to_instance":                      "2 required positional arguments: 'network_id' and 'instance'",
		"remove_fixed_ip_from_instance":                 "2 required positional arguments: 'address' and 'instance'",
		"inject_network_info":                           "1 required positional argument: 'instance'",
		"trigger_crash_dump":                            "1 required positional argument: 'instance'",
		"get_diagnostics":                               "1 required positional argument: 'instance'",
		"get_instance_diagnostics":                      "1 required positional argument: 'instance'",
		"cache_images":                                  "1 required positional argument: 'image_ids'",
		"shelve_instance":                               "4 required positional arguments: 'instance', 'image_id', 'clean_shutdown', and 'accel_uuids'",
		"shelve_offload_instance":                       "3 required positional arguments: 'instance', 'clean_shutdown', and 'accel_uuids'",
		"unshelve_instance": "6 required positional arguments: 'instance', 'image', 'filter_properties', 'node', " +
			"'request_spec', and 'accel_uuids'",
		"soft_delete_instance": "1 required positional argument: 'instance'",
		"restore_instance":     "1 required positional argument: 'instance'",
		"rescue_instance":      "4 required positional arguments: 'instance', 'rescue_password', 'rescue_image_ref', and 'clean_shutdown'",
		"unrescue_instance":    "1 required positional argument: 'instance'",
		"rebuild_instance":     "15 required positional arguments: 'instance', 'orig_image_ref', 'image_ref', 'injected_files'",
		"get_serial_console":   "'console_type' and 'instance'",
	}
	registered := h.s.computeMethods()
	if len(registered) != len(missing) {
		t.Errorf("%d methods registered, %d in this table: every method needs a row", len(registered), len(missing))
	}
	rc := rpc.AdminContext()
	for name := range registered {
		want, ok := missing[name]
		if !ok {
			t.Errorf("%s: no row in the table", name)
			continue
		}
		t.Run(name, func(t *testing.T) {
			res, err := client.Call(context.Background(), &rc, name, map[string]any{})
			if want == "" {
				if err != nil {
					t.Fatalf("%s() has no required argument but failed: %v", name, err)
				}
				return
			}
			var re *rpc.RemoteError
			if !errors.As(err, &re) {
				t.Fatalf("answered %s, %v; want a TypeError", res, err)
			}
			if re.Module != "builtins" || re.Class != "TypeError" || !strings.HasPrefix(re.Message, name+"() missing ") ||
				!strings.Contains(re.Message, want) {
				t.Errorf("error %s.%s %q, want builtins.TypeError naming %s", re.Module, re.Class, re.Message, want)
			}
		})
	}
	// ping is the baseapi's; its one argument is required too.
	ping := h.s.transport.NewClient(rpc.Target{Topic: Topic, Server: testHost}).WithNamespace("baseapi").
		WithVersion("1.1").WithTimeout(10 * time.Second)
	if _, err := ping.Call(context.Background(), &rc, "ping", map[string]any{}); !isRemote(err, "TypeError") ||
		!strings.Contains(err.Error(), "'arg'") {
		t.Errorf("ping without arg: %v", err)
	}

	h.s.lc.work.Wait()
	h.cond.mu.Lock()
	calls := h.cond.calls
	h.cond.mu.Unlock()
	if calls != 0 {
		t.Errorf("the fake conductor received %d calls", calls)
	}
	if h.s.serviceDisabled() || len(h.s.serviceRef.Changes) != 0 {
		t.Errorf("service record changed: disabled=%v changes %v", h.s.serviceDisabled(), h.s.serviceRef.Changes)
	}
	if info, err := h.drv.Info(context.Background(), hypervisor.Guest{Name: guest}); err != nil || info.State != hypervisor.Running {
		t.Errorf("guest touched: %+v %v", info, err)
	}
	if after := dirNames(t, h.dir); !slices.Equal(after, before) {
		t.Errorf("instances_path held %v, now %v", before, after)
	}
}

func dirNames(t *testing.T, dir string) []string {
	t.Helper()
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range entries {
		names = append(names, e.Name())
	}
	return names
}

// TestArgSpecBind covers binding beyond missing arguments: defaults, unexpected names, what is not a mapping.
func TestArgSpecBind(t *testing.T) {
	spec := argSpec{required: []string{"instance"}, optional: map[string]string{"node": "null", "limits": "{}"}}
	tests := []struct {
		name, args, want, err string
	}{
		{"defaults filled", `{"instance": 1}`, `{"instance":1,"limits":{},"node":null}`, ""},
		{"given optional kept", `{"instance": 1, "node": "a", "limits": null}`, `{"instance": 1, "node": "a", "limits": null}`, ""},
		{"missing", `{"node": "a"}`, "", "m() missing 1 required positional argument: 'instance'"},
		{"unexpected", `{"instance": 1, "zeta": 2, "alpha": 3}`, "", "m() got an unexpected keyword argument 'alpha' and 'zeta'"},
		{"not a mapping", `[1]`, "", "m() argument after ** must be a mapping, not list"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := spec.bind("m", json.RawMessage(tt.args))
			if tt.err != "" {
				var re *rpc.RemoteError
				if !errors.As(err, &re) || re.Class != "TypeError" || re.Message != tt.err {
					t.Fatalf("err = %v, want TypeError %q", err, tt.err)
				}
				return
			}
			if err != nil || string(got) != tt.want {
				t.Errorf("bind = %s, %v; want %s", got, err, tt.want)
			}
		})
	}
}
