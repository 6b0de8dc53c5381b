package vo

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"
)

func TestGetPresence(t *testing.T) {
	o := New("Instance", "2.9")
	o.Data["vm_state"] = json.RawMessage(`"active"`)
	o.Data["task_state"] = json.RawMessage(`null`)
	o.Data["bad"] = json.RawMessage(`5`)
	o.Data["id"] = json.RawMessage(`42`)
	for _, tc := range []struct {
		field    string
		want     string
		presence Presence
		errPart  string
	}{
		{"vm_state", "active", Present, ""},
		{"task_state", "", Null, ""},
		{"missing", "", Absent, ""},
		{"bad", "", Present, "Instance.bad: cannot decode 5"},
	} {
		got, p, err := Get[string](o, tc.field)
		if got != tc.want || p != tc.presence {
			t.Errorf("%s: got %q %v, want %q %v", tc.field, got, p, tc.want, tc.presence)
		}
		var fe *FieldError
		switch {
		case tc.errPart == "" && err != nil:
			t.Errorf("%s: unexpected error %v", tc.field, err)
		case tc.errPart != "" && (!errors.As(err, &fe) || !strings.Contains(err.Error(), tc.errPart)):
			t.Errorf("%s: error %v, want a FieldError containing %q", tc.field, err, tc.errPart)
		}
	}
	if n, p, err := Get[int64](o, "id"); n != 42 || p != Present || err != nil {
		t.Errorf("id: %d %v %v", n, p, err)
	}
	if _, p, err := Get[string](nil, "uuid"); p != Absent || err != nil {
		t.Errorf("nil object: %v %v", p, err)
	}
}

func TestFieldErrorShortensFound(t *testing.T) {
	o := New("Instance", "2.9")
	o.Data["vm_state"] = json.RawMessage(`[` + strings.Repeat(`1,`, 200) + `1]`)
	_, _, err := Get[string](o, "vm_state")
	if err == nil || len(err.Error()) > 200 {
		t.Fatalf("error %v", err)
	}
}

func TestTypedSettersRecordChanges(t *testing.T) {
	o := New("Instance", "2.9")
	o.SetString("vm_state", "stopped")
	o.SetNull("task_state")
	o.SetInt("power_state", 4)
	o.SetString("vm_state", "active")
	o.SetBool("locked", true)
	out, err := json.Marshal(o)
	if err != nil {
		t.Fatal(err)
	}
	want := `"nova_object.changes":["vm_state","task_state","power_state","locked"]`
	if !strings.Contains(string(out), want) || !strings.Contains(string(out), `"vm_state":"active"`) ||
		!strings.Contains(string(out), `"task_state":null`) || !strings.Contains(string(out), `"power_state":4`) || !strings.Contains(string(out), `"locked":true`) {
		t.Fatalf("encoded %s", out)
	}
}

// FuzzGet feeds arbitrary field values through Get: it must never panic, and an error must be a FieldError.
func FuzzGet(f *testing.F) {
	for _, s := range []string{`"x"`, `null`, `5`, `{"a":1}`, `[`, `"\u0000"`} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, raw string) {
		o := New("Instance", "2.9")
		o.Data["f"] = json.RawMessage(raw)
		for _, get := range []func() error{
			func() error { _, _, err := Get[string](o, "f"); return err },
			func() error { _, _, err := Get[*int64](o, "f"); return err },
			func() error { _, _, err := Get[map[string]*string](o, "f"); return err },
		} {
			var fe *FieldError
			if err := get(); err != nil && !errors.As(err, &fe) {
				t.Fatalf("error %T %v", err, err)
			}
		}
	})
}
