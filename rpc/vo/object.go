// Package vo encodes and decodes oslo.versionedobjects primitives: the "<prefix>.name/namespace/version/data/
// changes" envelope Nova calls nova_object.*. Objects are generic (name, version, field data as JSON) so they
// survive decode→encode unchanged, including fields and versions newer than the caller knows.
package vo

import (
	"bytes"
	"encoding/json"
	"fmt"
	"maps"
	"slices"
	"strings"

	"github.com/novabsd/novabsd/internal/version"
)

// Object is one versioned object primitive.
type Object struct {
	// Prefix is the key prefix, e.g. "nova_object" (obj_serial_namespace without the dot).
	Prefix    string
	Name      string
	Namespace string
	Version   string
	// Data holds the set fields; an unset field is absent, a field set to None is JSON null.
	Data map[string]json.RawMessage
	// Changes lists changed fields; nil means the key is absent (oslo only sends it when non-empty).
	Changes []string
	// Extra keeps unknown "<prefix>.*" keys.
	Extra map[string]json.RawMessage
}

// DecodeError reports a primitive that is not a valid versioned object.
type DecodeError struct {
	Reason string
}

func (e *DecodeError) Error() string { return "vo: bad object primitive: " + e.Reason }

// New returns an empty object of the nova namespace.
func New(name, version string) *Object {
	return &Object{Prefix: "nova_object", Name: name, Namespace: "nova", Version: version,
		Data: map[string]json.RawMessage{}}
}

// IsObject reports whether raw is a JSON object carrying "<prefix>.name" (how NovaObjectSerializer tells objects
// from plain dicts).
func IsObject(raw json.RawMessage) bool {
	raw = bytes.TrimLeft(raw, " \t\r\n")
	if len(raw) == 0 || raw[0] != '{' {
		return false
	}
	var m map[string]json.RawMessage
	if json.Unmarshal(raw, &m) != nil {
		return false
	}
	_, ok := findPrefix(m)
	return ok
}

func findPrefix(m map[string]json.RawMessage) (string, bool) {
	for k := range m {
		if p, ok := strings.CutSuffix(k, ".name"); ok && p != "" {
			if _, hasData := m[p+".data"]; hasData {
				return p, true
			}
		}
	}
	return "", false
}

// UnmarshalJSON decodes a primitive.
func (o *Object) UnmarshalJSON(b []byte) error {
	var m map[string]json.RawMessage
	if err := json.Unmarshal(b, &m); err != nil {
		return &DecodeError{Reason: err.Error()}
	}
	prefix, ok := findPrefix(m)
	if !ok {
		return &DecodeError{Reason: "no <prefix>.name and <prefix>.data keys"}
	}
	*o = Object{Prefix: prefix}
	for k, v := range m {
		field, ok := strings.CutPrefix(k, prefix+".")
		if !ok {
			o.setExtra(k, v)
			continue
		}
		var err error
		switch field {
		case "name":
			err = json.Unmarshal(v, &o.Name)
		case "namespace":
			err = json.Unmarshal(v, &o.Namespace)
		case "version":
			err = json.Unmarshal(v, &o.Version)
		case "data":
			if err = json.Unmarshal(v, &o.Data); err == nil && o.Data == nil {
				err = fmt.Errorf("data is null")
			}
		case "changes":
			if string(v) != "null" {
				err = json.Unmarshal(v, &o.Changes)
				if err == nil && o.Changes == nil {
					o.Changes = []string{}
				}
			}
		default:
			o.setExtra(k, v)
		}
		if err != nil {
			return &DecodeError{Reason: fmt.Sprintf("%s: %v", k, err)}
		}
	}
	if o.Name == "" {
		return &DecodeError{Reason: prefix + ".name is empty"}
	}
	return nil
}

func (o *Object) setExtra(k string, v json.RawMessage) {
	if o.Extra == nil {
		o.Extra = map[string]json.RawMessage{}
	}
	o.Extra[k] = v
}

// MarshalJSON encodes the primitive.
func (o *Object) MarshalJSON() ([]byte, error) {
	p := o.Prefix
	if p == "" {
		p = "nova_object"
	}
	m := make(map[string]any, 5+len(o.Extra))
	for k, v := range o.Extra {
		m[k] = v
	}
	data := o.Data
	if data == nil {
		data = map[string]json.RawMessage{}
	}
	m[p+".name"] = o.Name
	m[p+".namespace"] = o.Namespace
	m[p+".version"] = o.Version
	m[p+".data"] = data
	if o.Changes != nil {
		m[p+".changes"] = o.Changes
	}
	return json.Marshal(m)
}

// Has reports whether field is set.
func (o *Object) Has(field string) bool { _, ok := o.Data[field]; return ok }

// Get decodes field into v (use the field helpers of this package for datetimes, sets and objects). It returns
// false when the field is unset.
func (o *Object) Get(field string, v any) (bool, error) {
	raw, ok := o.Data[field]
	if !ok {
		return false, nil
	}
	if err := json.Unmarshal(raw, v); err != nil {
		return true, fmt.Errorf("vo: %s.%s: %w", o.Name, field, err)
	}
	return true, nil
}

// Set stores field and records it as changed, like attribute assignment in oslo.versionedobjects.
func (o *Object) Set(field string, v any) error {
	raw, err := json.Marshal(v)
	if err != nil {
		return fmt.Errorf("vo: %s.%s: %w", o.Name, field, err)
	}
	if o.Data == nil {
		o.Data = map[string]json.RawMessage{}
	}
	o.Data[field] = raw
	o.markChanged(field)
	return nil
}

// markChanged records field in the change set once, as oslo's obj_what_changed does.
func (o *Object) markChanged(field string) {
	if !slices.Contains(o.Changes, field) {
		o.Changes = append(o.Changes, field)
	}
}

// Clone returns a copy of o that shares nothing mutable with it (field values are replaced, never modified in
// place, so the maps and the change list are what need copying).
func (o *Object) Clone() *Object {
	c := *o
	c.Data = maps.Clone(o.Data)
	c.Changes = slices.Clone(o.Changes)
	c.Extra = maps.Clone(o.Extra)
	return &c
}

// ResetChanges forgets the change set (obj_reset_changes); the changes key is then omitted.
func (o *Object) ResetChanges() { o.Changes = nil }

// Object decodes a nested object field.
func (o *Object) Object(field string) (*Object, error) {
	raw, ok := o.Data[field]
	if !ok || string(raw) == "null" {
		return nil, nil
	}
	var n Object
	if err := json.Unmarshal(raw, &n); err != nil {
		return nil, fmt.Errorf("vo: %s.%s: %w", o.Name, field, err)
	}
	return &n, nil
}

// Objects decodes the elements of an ObjectListBase object (data {"objects": [...]}).
func (o *Object) Objects() ([]*Object, error) {
	var list []*Object
	if _, err := o.Get("objects", &list); err != nil {
		return nil, err
	}
	return list, nil
}

// NewList builds an ObjectListBase object (e.g. InstanceList) holding objs.
func NewList(name, version string, objs []*Object) (*Object, error) {
	l := New(name, version)
	if objs == nil {
		objs = []*Object{}
	}
	if err := l.Set("objects", objs); err != nil {
		return nil, err
	}
	l.ResetChanges()
	return l, nil
}

// Compatible reports whether an object at version theirs can be read by code knowing version ours: same major,
// minor not above ours (obj_class_from_name). Three-part versions compare on major.minor, as oslo retries them.
func Compatible(ours, theirs string) bool {
	a, errA := version.Parse(ours)
	b, errB := version.Parse(theirs)
	return errA == nil && errB == nil && a.Major == b.Major && b.Minor <= a.Minor
}
