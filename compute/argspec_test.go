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
		"set_host_enabled":        "'enabled'",
		"get_host_uptime":         "",
		"build_and_run_instance":  "5 required positional arguments: 'instance', 'image', 'request_spec', 'filter_properties', and 'accel_uuids'",
		"terminate_instance":      "'instance' and 'bdms'",
		"stop_instance":           "'instance' and 'clean_shutdown'",
		"start_instance":          "1 required positional argument: 'instance'",
		"reboot_instance":         "'instance', 'block_device_info', and 'reboot_type'",
		"pause_instance":          "'instance'",
		"unpause_instance":        "'instance'",
		"suspend_instance":        "'instance'",
		"resume_instance":         "'instance'",
		"get_console_output":      "'instance' and 'tail_length'",
		"snapshot_instance":       "'image_id' and 'instance'",
		"backup_instance":         "'image_id', 'instance', 'backup_type', and 'rotation'",
		"get_vnc_console":         "'console_type' and 'instance'",
		"get_serial_console":      "'console_type' and 'instance'",
		"validate_console_port":   "'instance', 'port', and 'console_type'",
		"external_instance_event": "'instances' and 'events'",
		"attach_interface":        "5 required positional arguments: 'instance', 'network_id', 'port_id', 'requested_ip', and 'tag'",
		"detach_interface":        "2 required positional arguments: 'instance' and 'port_id'",
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
