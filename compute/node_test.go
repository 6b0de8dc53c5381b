package compute

import (
	"encoding/json"
	"slices"
	"testing"
	"time"

	"github.com/novabsd/novabsd/conf"
	"github.com/novabsd/novabsd/rpc/vo"
)

func TestSetChangedRecordsOnlyDifferences(t *testing.T) {
	node := vo.New("ComputeNode", "1.19")
	node.Data["vcpus"] = json.RawMessage(`2`)
	node.Data["stats"] = json.RawMessage(`{"b": "1", "a": "0"}`)
	node.Data["cpu_info"] = json.RawMessage(`"{}"`)
	err := setChanged(node, map[string]any{
		"vcpus":     2,                                     // same
		"stats":     map[string]string{"a": "0", "b": "1"}, // same, other key order
		"cpu_info":  `{"arch": "x86_64"}`,                  // changed
		"memory_mb": 1024,                                  // new
	})
	if err != nil {
		t.Fatal(err)
	}
	slices.Sort(node.Changes)
	if want := []string{"cpu_info", "memory_mb"}; !slices.Equal(node.Changes, want) {
		t.Fatalf("changes = %v, want %v", node.Changes, want)
	}
}

func TestRatio(t *testing.T) {
	f := func(v float64) *float64 { return &v }
	tests := []struct {
		configured *float64
		initial    float64
		want       float64
	}{
		{nil, 4.0, 4.0},
		{f(0), 4.0, 4.0}, // nova treats 0.0 as unset
		{f(16), 4.0, 16},
	}
	for _, tt := range tests {
		if got := ratio(tt.configured, tt.initial); got != tt.want {
			t.Errorf("ratio(%v, %v) = %v, want %v", tt.configured, tt.initial, got, tt.want)
		}
	}
}

func TestEngineName(t *testing.T) {
	tests := []struct{ driver, want string }{
		{"bhyve", "bhyve"},
		{"qemu", "qemu"},
		{"libvirt.LibvirtDriver", "qemu"},
		{"", nativeEngine},
	}
	for _, tt := range tests {
		cfg := &conf.Config{}
		cfg.Default.ComputeDriver = tt.driver
		if got := engineName(cfg); got != tt.want {
			t.Errorf("engineName(%q) = %q, want %q", tt.driver, got, tt.want)
		}
	}
}

func TestObjectListAndFieldString(t *testing.T) {
	raw := json.RawMessage(`{"nova_object.name": "ComputeNodeList", "nova_object.namespace": "nova",
		"nova_object.version": "1.17", "nova_object.data": {"objects": [
		{"nova_object.name": "ComputeNode", "nova_object.namespace": "nova", "nova_object.version": "1.19",
		 "nova_object.data": {"id": 3, "uuid": "d150104b-280a-4e1b-8ec8-71fae77f56b6", "service_id": null}}]}}`)
	nodes, err := objectList(raw)
	if err != nil || len(nodes) != 1 {
		t.Fatalf("objectList = %v, %v", nodes, err)
	}
	for field, want := range map[string]string{"id": "3", "uuid": "d150104b-280a-4e1b-8ec8-71fae77f56b6",
		"service_id": "", "absent": ""} {
		if got := fieldString(nodes[0], field); got != want {
			t.Errorf("fieldString(%s) = %q, want %q", field, got, want)
		}
	}
	if empty, err := objectList(json.RawMessage(`null`)); err != nil || empty != nil {
		t.Errorf("objectList(null) = %v, %v", empty, err)
	}
}

func TestUptimeString(t *testing.T) {
	if got := uptimeString(0); got != "" {
		t.Errorf("unknown uptime = %q", got)
	}
	got := uptimeString(50*time.Hour + 7*time.Minute)
	if len(got) < 10 || got[len(got)-len("up 2 days, 2:07"):] != "up 2 days, 2:07" {
		t.Errorf("uptimeString = %q", got)
	}
}
