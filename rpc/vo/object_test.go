package vo

import (
	"encoding/json"
	"net/netip"
	"reflect"
	"testing"
	"time"
)

func TestObjectRoundTripKeepsUnknown(t *testing.T) {
	in := `{"nova_object.name":"Instance","nova_object.namespace":"nova","nova_object.version":"2.9",
"nova_object.data":{"uuid":"4f1c0000-0000-4000-8000-000000000001","future_field":{"x":[1,2]},"host":null},
"nova_object.changes":["host"],"nova_object.extra_key":true}`
	var o Object
	if err := json.Unmarshal([]byte(in), &o); err != nil {
		t.Fatal(err)
	}
	if o.Name != "Instance" || o.Version != "2.9" || o.Prefix != "nova_object" || !o.Has("future_field") || !o.Has("host") {
		t.Fatalf("decoded %+v", o)
	}
	out, _ := json.Marshal(&o)
	var a, b any
	json.Unmarshal([]byte(in), &a)
	json.Unmarshal(out, &b)
	if !reflect.DeepEqual(a, b) {
		t.Fatalf("round trip lost data:\n%s\n%s", in, out)
	}
}

func TestSetTracksChangesAndFields(t *testing.T) {
	o := New("ComputeNode", "1.19")
	ts := time.Date(2026, 5, 1, 12, 34, 56, 789000000, time.UTC)
	must := func(err error) {
		if err != nil {
			t.Fatal(err)
		}
	}
	must(o.Set("updated_at", DateTime{ts}))
	must(o.Set("host_ip", IPAddress{netip.MustParseAddr("10.0.0.5")}))
	must(o.Set("tags", Set[string]{"a": {}}))
	must(o.Set("uuid", UUID("4f1c0000-0000-4000-8000-000000000001")))
	if string(o.Data["updated_at"]) != `"2026-05-01T12:34:56Z"` || string(o.Data["host_ip"]) != `"10.0.0.5"` ||
		string(o.Data["tags"]) != `["a"]` || len(o.Changes) != 4 {
		t.Fatalf("data %s changes %v", o.Data, o.Changes)
	}
	var back DateTime
	if _, err := o.Get("updated_at", &back); err != nil || !back.Equal(ts.Truncate(time.Second)) {
		t.Fatalf("datetime back = %v %v", back, err)
	}
	o.ResetChanges()
	out, _ := json.Marshal(o)
	var m map[string]any
	json.Unmarshal(out, &m)
	if _, ok := m["nova_object.changes"]; ok {
		t.Fatal("changes key present after reset")
	}
}

func TestParseISOTime(t *testing.T) {
	for _, s := range []string{"2023-05-01T12:34:56Z", "2023-05-01T12:34:56.123456", "2023-05-01T14:34:56+02:00",
		"2023-05-01T12:34:56", "2023-05-01T12:34:56.000000Z"} {
		got, err := ParseISOTime(s)
		if err != nil || got.Truncate(time.Second) != time.Date(2023, 5, 1, 12, 34, 56, 0, time.UTC) {
			t.Errorf("%s -> %v %v", s, got, err)
		}
	}
	if _, err := ParseISOTime("yesterday"); err == nil {
		t.Error("accepted garbage")
	}
}

func TestListsAndCompatibility(t *testing.T) {
	a := New("BlockDeviceMapping", "1.20")
	l, err := NewList("BlockDeviceMappingList", "1.18", []*Object{a})
	if err != nil {
		t.Fatal(err)
	}
	b, _ := json.Marshal(l)
	v, err := Decode(b)
	if err != nil {
		t.Fatal(err)
	}
	objs, err := v.(*Object).Objects()
	if err != nil || len(objs) != 1 || objs[0].Name != "BlockDeviceMapping" {
		t.Fatalf("objects = %v %v", objs, err)
	}
	for _, tc := range []struct {
		ours, theirs string
		want         bool
	}{{"2.8", "2.7", true}, {"2.8", "2.8", true}, {"2.8", "2.9", false}, {"2.8", "1.0", false}, {"1.2", "1.2.3", true}, {"x", "1.0", false}} {
		if got := Compatible(tc.ours, tc.theirs); got != tc.want {
			t.Errorf("Compatible(%s, %s) = %v", tc.ours, tc.theirs, got)
		}
	}
}

func TestCloneSharesNothingMutable(t *testing.T) {
	o := New("Service", "1.22")
	_ = o.Set("report_count", 1)
	o.Extra = map[string]json.RawMessage{"nova_object.extra": json.RawMessage(`1`)}
	c := o.Clone()
	_ = c.Set("report_count", 2)
	_ = c.Set("disabled", true)
	c.Extra["nova_object.extra"] = json.RawMessage(`2`)
	var n int
	if _, err := o.Get("report_count", &n); err != nil || n != 1 || o.Has("disabled") ||
		len(o.Changes) != 1 || string(o.Extra["nova_object.extra"]) != "1" {
		t.Errorf("original changed through its clone: %+v", o)
	}
	if _, err := c.Get("report_count", &n); err != nil || n != 2 || len(c.Changes) != 2 {
		t.Errorf("clone = %+v", c)
	}
}
