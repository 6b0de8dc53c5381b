package vo

import (
	"encoding/json"
	"fmt"
	"strconv"
)

// Presence tells the three states a versioned object's field can be in, which a plain decode cannot tell apart:
// never set (obj_attr_is_set is false), set to None, or set to a value.
type Presence int

const (
	// Absent means the field is not in the object's data (unset, or not loaded by the sender).
	Absent Presence = iota
	// Null means the field is set to None.
	Null
	// Present means the field holds a value.
	Present
)

// String names the presence for logs and test failures.
func (p Presence) String() string {
	switch p {
	case Absent:
		return "absent"
	case Null:
		return "null"
	case Present:
		return "present"
	}
	return "Presence(" + strconv.Itoa(int(p)) + ")"
}

// FieldError reports a field whose value is not of the type the reader expects (e.g. "vm_state": 5). It names the
// object, the field and what was found, so a bad object from a peer is refused with a message an operator can act on.
type FieldError struct {
	Object string
	Field  string
	// Found is the offending JSON value, shortened.
	Found string
	Err   error
}

func (e *FieldError) Error() string {
	return fmt.Sprintf("vo: %s.%s: cannot decode %s: %v", e.Object, e.Field, e.Found, e.Err)
}

func (e *FieldError) Unwrap() error { return e.Err }

// maxFound bounds how much of a bad value a FieldError repeats (a peer's object can be large).
const maxFound = 64

// Get decodes field of o as a T and says whether it was absent, null or present. Absent and null give T's zero
// value and no error; a value that does not decode as T is a *FieldError and never a zero value in disguise.
// A nil o reads as absent. Use DateTime, UUID and the other field types of this package as T where they apply.
func Get[T any](o *Object, field string) (T, Presence, error) {
	var v T
	if o == nil {
		return v, Absent, nil
	}
	raw, ok := o.Data[field]
	if !ok {
		return v, Absent, nil
	}
	if string(raw) == "null" {
		return v, Null, nil
	}
	if err := json.Unmarshal(raw, &v); err != nil {
		var zero T
		return zero, Present, &FieldError{Object: o.Name, Field: field, Found: shorten(raw), Err: err}
	}
	return v, Present, nil
}

// SetNull sets field to None and records it as changed.
func (o *Object) SetNull(field string) { o.setRaw(field, json.RawMessage("null")) }

// SetString sets a string field and records it as changed.
func (o *Object) SetString(field, s string) {
	raw, _ := json.Marshal(s) // a Go string always marshals
	o.setRaw(field, raw)
}

// SetInt sets an integer field and records it as changed.
func (o *Object) SetInt(field string, n int64) {
	o.setRaw(field, json.RawMessage(strconv.FormatInt(n, 10)))
}

// SetBool sets a boolean field and records it as changed.
func (o *Object) SetBool(field string, b bool) {
	o.setRaw(field, json.RawMessage(strconv.FormatBool(b)))
}

func (o *Object) setRaw(field string, raw json.RawMessage) {
	if o.Data == nil {
		o.Data = map[string]json.RawMessage{}
	}
	o.Data[field] = raw
	o.markChanged(field)
}

func shorten(raw json.RawMessage) string {
	if len(raw) <= maxFound {
		return string(raw)
	}
	return string(raw[:maxFound]) + "..."
}
