package compute

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/novabsd/novabsd/hypervisor"
	"github.com/novabsd/novabsd/rpc"
	"github.com/novabsd/novabsd/rpc/vo"
)

// TestInstanceViewKeepsUnknownFields decodes the captured build_and_run_instance with a field this service does
// not know added to the instance, changes it through the view, and checks the re-encoded object: the unknown
// field and every untouched field are as they came, and nova_object.changes lists only what was set.
func TestInstanceViewKeepsUnknownFields(t *testing.T) {
	var msg map[string]json.RawMessage
	if err := json.Unmarshal(wireArgs(t, "build_and_run_instance"), &msg); err != nil {
		t.Fatal(err)
	}
	var env map[string]json.RawMessage
	if err := json.Unmarshal(msg["instance"], &env); err != nil {
		t.Fatal(err)
	}
	var data map[string]json.RawMessage
	if err := json.Unmarshal(env["nova_object.data"], &data); err != nil {
		t.Fatal(err)
	}
	data["gazpacho_future_field"] = json.RawMessage(`{"nested":[1,null,"x"]}`)
	env["nova_object.data"], _ = json.Marshal(data)
	delete(env, "nova_object.changes")
	raw, _ := json.Marshal(env)

	var o vo.Object
	if err := json.Unmarshal(raw, &o); err != nil {
		t.Fatal(err)
	}
	v := asInstance(&o)
	if err := v.check(); err != nil {
		t.Fatalf("captured instance refused: %v", err)
	}
	v.SetVMState(vmStopped)
	v.ClearTaskState()
	out, err := json.Marshal(&o)
	if err != nil {
		t.Fatal(err)
	}
	var back map[string]json.RawMessage
	if err := json.Unmarshal(out, &back); err != nil {
		t.Fatal(err)
	}
	var changes []string
	_ = json.Unmarshal(back["nova_object.changes"], &changes)
	if !reflect.DeepEqual(changes, []string{"vm_state", "task_state"}) {
		t.Errorf("changes = %v, want [vm_state task_state]", changes)
	}
	var got map[string]any
	_ = json.Unmarshal(back["nova_object.data"], &got)
	var want map[string]any
	_ = json.Unmarshal(env["nova_object.data"], &want)
	want["vm_state"], want["task_state"] = vmStopped, nil
	if !reflect.DeepEqual(got, want) {
		t.Errorf("re-encoded data differs from the capture beyond vm_state and task_state:\n%s", back["nova_object.data"])
	}
	for _, k := range []string{"nova_object.name", "nova_object.namespace", "nova_object.version"} {
		if string(back[k]) != string(env[k]) {
			t.Errorf("%s = %s, want %s", k, back[k], env[k])
		}
	}
}

// TestInstanceViewReads pins what each kind of read does with absent, None, a value and a value of the wrong type.
func TestInstanceViewReads(t *testing.T) {
	for _, tt := range []struct {
		name    string
		data    string
		vm      string
		power   int64
		known   bool
		errPart string
	}{
		{"set", `{"vm_state":"active","power_state":1}`, "active", 1, true, ""},
		{"absent", `{}`, "", 0, false, ""},
		{"null", `{"vm_state":null,"power_state":null}`, "", 0, false, ""},
		{"nostate is known", `{"power_state":0}`, "", 0, true, ""},
		{"vm_state a number", `{"vm_state":5}`, "", 0, false, "Instance.vm_state: cannot decode 5"},
		{"power_state a string", `{"power_state":"running"}`, "", 0, false, `Instance.power_state: cannot decode "running"`},
	} {
		t.Run(tt.name, func(t *testing.T) {
			o := vo.New("Instance", "2.8")
			if err := json.Unmarshal([]byte(tt.data), &o.Data); err != nil {
				t.Fatal(err)
			}
			v := asInstance(o)
			vm, verr := v.VMState()
			ps, known, perr := v.PowerState()
			if vm != tt.vm || ps != tt.power || known != tt.known {
				t.Errorf("read vm %q power %d known %v, want %q %d %v", vm, ps, known, tt.vm, tt.power, tt.known)
			}
			err := errors.Join(verr, perr)
			cerr := v.check()
			var fe *vo.FieldError
			if tt.errPart == "" {
				if err != nil || cerr != nil {
					t.Errorf("errors %v / check %v", err, cerr)
				}
			} else if !errors.As(cerr, &fe) || !strings.Contains(cerr.Error(), tt.errPart) ||
				!strings.Contains(err.Error(), tt.errPart) {
				t.Errorf("errors %v / check %v, want a FieldError with %q", err, cerr, tt.errPart)
			}
		})
	}
}

// TestStopRefusesUndecodableVMState sends stop_instance an instance whose vm_state is a number: the handler fails
// with an error naming the field, and neither the record nor the guest changes.
func TestStopRefusesUndecodableVMState(t *testing.T) {
	h := newHarness(t)
	uuid := "77777777-0000-4000-8000-000000000001"
	h.build(t, uuid, false)
	inst := h.cond.object(uuid)
	inst.Data["vm_state"] = json.RawMessage(`5`)
	inst.Data["task_state"] = json.RawMessage(`"powering-off"`)
	inst.ResetChanges()
	raw, _ := json.Marshal(map[string]any{"instance": inst, "clean_shutdown": true})
	saves, events := len(h.cond.savesOf(uuid)), len(h.eventsContaining(""))
	before := h.cond.object(uuid).Data

	_, err := h.s.stopInstance(context.Background(), raw)
	var ae *rpc.ArgsError
	var fe *vo.FieldError
	if !errors.As(err, &ae) || !errors.As(err, &fe) || fe.Field != "vm_state" || fe.Found != "5" ||
		!strings.Contains(err.Error(), "Instance.vm_state") {
		t.Fatalf("stop error = %v, want an ArgsError naming Instance.vm_state and 5", err)
	}
	if n := len(h.cond.savesOf(uuid)); n != saves {
		t.Errorf("%d saves after a refused stop", n-saves)
	}
	if n := len(h.eventsContaining("")); n != events {
		t.Errorf("%d instance action events after a refused stop", n-events)
	}
	if after := h.cond.object(uuid).Data; !reflect.DeepEqual(after, before) {
		t.Errorf("record changed by a refused stop")
	}
	if info, _ := h.drv.Info(context.Background(), hypervisor.Guest{Name: instanceName(inst)}); info.State != hypervisor.Running {
		t.Errorf("guest is %s after a refused stop, want running", info.State)
	}
}

// TestSetHostKeepsNodeAndComputeIDTogether checks the claim's setter writes the four fields as one change.
func TestSetHostKeepsNodeAndComputeIDTogether(t *testing.T) {
	o := vo.New("Instance", "2.8")
	asInstance(o).SetHost("h1", "node1", 7)
	if got := slices.Sorted(slices.Values(o.Changes)); !reflect.DeepEqual(got, []string{"compute_id", "host", "launched_on", "node"}) {
		t.Errorf("changes = %v", got)
	}
	if string(o.Data["compute_id"]) != "7" || string(o.Data["node"]) != `"node1"` {
		t.Errorf("data = %v", o.Data)
	}
	asInstance(o).ClearHost()
	for _, f := range []string{"host", "node", "compute_id", "launched_on", "availability_zone"} {
		if string(o.Data[f]) != "null" {
			t.Errorf("%s = %s after ClearHost", f, o.Data[f])
		}
	}
}

// TestServiceRecordView pins the Service reads (absent and None as the defaults nova uses, a wrong type as an
// error naming the field) and that the new row and the heartbeat record only what they set.
func TestServiceRecordView(t *testing.T) {
	for _, tt := range []struct {
		name, data string
		version    int
		disabled   bool
		count      int64
		errPart    string
	}{
		{"set", `{"version":72,"disabled":true,"report_count":9}`, 72, true, 9, ""},
		{"absent", `{}`, 0, false, 0, ""},
		{"null", `{"version":null,"disabled":null,"report_count":null}`, 0, false, 0, ""},
		{"version a string", `{"version":"72"}`, 0, false, 0, `Service.version: cannot decode "72"`},
		{"disabled a string", `{"disabled":"yes"}`, 0, false, 0, `Service.disabled: cannot decode "yes"`},
	} {
		t.Run(tt.name, func(t *testing.T) {
			o := vo.New("Service", "1.22")
			if err := json.Unmarshal([]byte(tt.data), &o.Data); err != nil {
				t.Fatal(err)
			}
			r := asServiceRecord(o)
			v, verr := r.Version()
			d, derr := r.Disabled()
			c, cerr := r.ReportCount()
			err := errors.Join(verr, derr, cerr)
			if v != tt.version || d != tt.disabled || c != tt.count {
				t.Errorf("read %d %v %d, want %d %v %d", v, d, c, tt.version, tt.disabled, tt.count)
			}
			if (tt.errPart == "") != (err == nil) || (err != nil && !strings.Contains(err.Error(), tt.errPart)) {
				t.Errorf("error %v, want %q", err, tt.errPart)
			}
		})
	}
	r := newServiceRecord("1.22", "h1", 72)
	if _, ok, _ := r.ID(); ok {
		t.Error("a new row has an id")
	}
	r.o.ResetChanges()
	r.SetReportCount(3)
	if !reflect.DeepEqual(r.o.Changes, []string{"report_count"}) || string(r.o.Data["version"]) != "72" ||
		string(r.o.Data["binary"]) != `"nova-compute"` {
		t.Errorf("changes %v data %v", r.o.Changes, r.o.Data)
	}
}

// TestComputeNodeView pins the ComputeNode identity reads.
func TestComputeNodeView(t *testing.T) {
	for _, tt := range []struct {
		name, data string
		svc        int64
		hasSvc     bool
		host       string
		errPart    string
	}{
		{"set", `{"service_id":3,"host":"h1"}`, 3, true, "h1", ""},
		{"absent", `{}`, 0, false, "", ""},
		{"null", `{"service_id":null,"host":null}`, 0, false, "", ""},
		{"service_id a string", `{"service_id":"3"}`, 0, false, "", `ComputeNode.service_id: cannot decode "3"`},
		{"host a number", `{"host":7}`, 0, false, "", `ComputeNode.host: cannot decode 7`},
	} {
		t.Run(tt.name, func(t *testing.T) {
			o := vo.New("ComputeNode", "1.19")
			if err := json.Unmarshal([]byte(tt.data), &o.Data); err != nil {
				t.Fatal(err)
			}
			n := asComputeNode(o)
			svc, has, serr := n.ServiceID()
			host, herr := n.Host()
			err := errors.Join(serr, herr)
			if svc != tt.svc || has != tt.hasSvc || host != tt.host {
				t.Errorf("read %d %v %q, want %d %v %q", svc, has, host, tt.svc, tt.hasSvc, tt.host)
			}
			if (tt.errPart == "") != (err == nil) || (err != nil && !strings.Contains(err.Error(), tt.errPart)) {
				t.Errorf("error %v, want %q", err, tt.errPart)
			}
		})
	}
}

// TestBuildRequestViews feeds checkNetworks and checkBDMs lists whose elements are fine, ask for what this node
// cannot do (a Cinder volume), or carry a value of the wrong type: the last aborts the build naming the field.
func TestBuildRequestViews(t *testing.T) {
	list := func(t *testing.T, listName, elem, data string) *vo.Object {
		e := vo.New(elem, "1.0")
		if err := json.Unmarshal([]byte(data), &e.Data); err != nil {
			t.Fatal(err)
		}
		l, err := vo.NewList(listName, "1.0", []*vo.Object{e})
		if err != nil {
			t.Fatal(err)
		}
		return l
	}
	for _, tt := range []struct {
		name, data string
		check      func(*vo.Object) error
		listName   string
		elem       string
		want       string // "" ok, else a part of the error
	}{
		{"nic none", `{"network_id":"none","port_id":null}`, checkNetworks, "NetworkRequestList", "NetworkRequest", ""},
		{"no fields", `{}`, checkNetworks, "NetworkRequestList", "NetworkRequest", ""},
		{"port", `{"port_id":"p1"}`, checkNetworks, "NetworkRequestList", "NetworkRequest", ""},
		{"address a list", `{"network_id":"n1","address":["10.0.0.5"]}`, checkNetworks, "NetworkRequestList", "NetworkRequest", "NetworkRequest.address: cannot decode"},
		{"port a number", `{"port_id":1}`, checkNetworks, "NetworkRequestList", "NetworkRequest", "NetworkRequest.port_id: cannot decode 1"},
		{"local disk", `{"destination_type":"local"}`, checkBDMs, "BlockDeviceMappingList", "BlockDeviceMapping", ""},
		{"volume", `{"destination_type":"volume","volume_id":"v1"}`, checkBDMs, "BlockDeviceMappingList", "BlockDeviceMapping", "volume v1"},
		{"destination a list", `{"destination_type":["volume"]}`, checkBDMs, "BlockDeviceMappingList", "BlockDeviceMapping", "BlockDeviceMapping.destination_type: cannot decode"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.check(list(t, tt.listName, tt.elem, tt.data))
			if (tt.want == "") != (err == nil) || (err != nil && !strings.Contains(err.Error(), tt.want)) {
				t.Errorf("error %v, want %q", err, tt.want)
			}
			// A malformed request fails on every host: the build aborts rather than reschedules.
			var fe *vo.FieldError
			var be *buildError
			if errors.As(err, &fe) && (!errors.As(err, &be) || be.Reschedule) {
				t.Errorf("error %v reschedules a malformed request", err)
			}
		})
	}
}

// TestExternalEventRefusesMalformedEvent checks external_instance_event refuses a batch with an event whose
// name is not a string, naming the field.
func TestExternalEventRefusesMalformedEvent(t *testing.T) {
	s := &Service{log: slog.New(slog.NewTextHandler(io.Discard, nil))}
	ev := func(name string) string {
		return `{"nova_object.name":"InstanceExternalEvent","nova_object.namespace":"nova","nova_object.version":"1.5",` +
			`"nova_object.data":{"name":` + name + `,"tag":"t","status":"completed","instance_uuid":"u"}}`
	}
	if _, err := s.externalInstanceEvent(context.Background(), json.RawMessage(`{"instances":[],"events":[`+ev(`"network-vif-plugged"`)+`]}`)); err != nil {
		t.Fatalf("good event refused: %v", err)
	}
	_, err := s.externalInstanceEvent(context.Background(), json.RawMessage(`{"instances":[],"events":[`+ev(`"network-vif-plugged"`)+`,`+ev(`{}`)+`]}`))
	var ae *rpc.ArgsError
	if !errors.As(err, &ae) || !strings.Contains(err.Error(), "InstanceExternalEvent.name: cannot decode {}") {
		t.Fatalf("error = %v, want an ArgsError naming InstanceExternalEvent.name", err)
	}
}

// TestInstanceCheckNamesField checks that a wrong type in any field compute reads is refused by check, naming it.
func TestInstanceCheckNamesField(t *testing.T) {
	for _, tt := range []struct{ data, field string }{
		{`{"id":"12"}`, "id"},
		{`{"uuid":12}`, "uuid"},
		{`{"task_state":true}`, "task_state"},
		{`{"host":{}}`, "host"},
		{`{"image_ref":[]}`, "image_ref"},
		{`{"system_metadata":{"a":1}}`, "system_metadata"},
		{`{"deleted":"no"}`, "deleted"},
	} {
		o := vo.New("Instance", "2.8")
		if err := json.Unmarshal([]byte(tt.data), &o.Data); err != nil {
			t.Fatal(err)
		}
		var fe *vo.FieldError
		if err := asInstance(o).check(); !errors.As(err, &fe) || fe.Field != tt.field {
			t.Errorf("%s: check = %v, want a FieldError for %s", tt.data, err, tt.field)
		}
	}
	if name := instanceName(vo.New("Instance", "2.8")); name != "instance-" {
		t.Errorf("instance without id or uuid named %q", name)
	}
}

// TestInstanceFlavor pins how the flavor is read: no flavor is an error, absent numbers are 0, and a wrong type
// inside it is a FieldError naming Flavor and the field.
func TestInstanceFlavor(t *testing.T) {
	flavorObj := func(data string) string {
		return `{"nova_object.name":"Flavor","nova_object.namespace":"nova","nova_object.version":"1.2","nova_object.data":` + data + `}`
	}
	for _, tt := range []struct {
		name, flavor string
		want         flavor
		errPart      string
	}{
		{"full", flavorObj(`{"name":"m1.tiny","vcpus":1,"memory_mb":128,"root_gb":1,"ephemeral_gb":0,"swap":0,"extra_specs":{"hw:cpu_policy":"shared"}}`),
			flavor{Name: "m1.tiny", VCPUs: 1, MemoryMB: 128, RootGB: 1, ExtraSpecs: map[string]string{"hw:cpu_policy": "shared"}}, ""},
		{"sparse", flavorObj(`{"vcpus":2,"swap":null}`), flavor{VCPUs: 2, ExtraSpecs: map[string]string{}}, ""},
		{"absent", ``, flavor{}, "carries no flavor"},
		{"null", `null`, flavor{}, "carries no flavor"},
		{"not an object", `"m1.tiny"`, flavor{}, "Instance.flavor: cannot decode"},
		{"vcpus a string", flavorObj(`{"vcpus":"1"}`), flavor{}, `Flavor.vcpus: cannot decode "1"`},
	} {
		t.Run(tt.name, func(t *testing.T) {
			o := vo.New("Instance", "2.8")
			if tt.flavor != "" {
				o.Data["flavor"] = json.RawMessage(tt.flavor)
			}
			f, err := asInstance(o).Flavor()
			if tt.errPart != "" {
				if err == nil || !strings.Contains(err.Error(), tt.errPart) {
					t.Errorf("error %v, want %q", err, tt.errPart)
				}
				return
			}
			if err != nil || !reflect.DeepEqual(f, tt.want) {
				t.Errorf("flavor %+v, %v; want %+v", f, err, tt.want)
			}
		})
	}
}
