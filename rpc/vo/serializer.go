package vo

import (
	"bytes"
	"encoding/json"
)

// Decode turns an RPC argument or result into Go values the way NovaObjectSerializer.deserialize_entity walks
// it: every JSON object carrying "<prefix>.name" becomes an *Object, other objects map[string]any, arrays []any,
// numbers json.Number (so integers stay exact), the rest string/bool/nil.
func Decode(raw json.RawMessage) (any, error) {
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return nil, &DecodeError{Reason: err.Error()}
	}
	return hydrate(v)
}

func hydrate(v any) (any, error) {
	switch x := v.(type) {
	case map[string]any:
		if isPrimitive(x) {
			b, err := json.Marshal(x)
			if err != nil {
				return nil, err
			}
			var o Object
			if err := o.UnmarshalJSON(b); err != nil {
				return nil, err
			}
			return &o, nil
		}
		for k, e := range x {
			h, err := hydrate(e)
			if err != nil {
				return nil, err
			}
			x[k] = h
		}
		return x, nil
	case []any:
		for i, e := range x {
			h, err := hydrate(e)
			if err != nil {
				return nil, err
			}
			x[i] = h
		}
		return x, nil
	}
	return v, nil
}

func isPrimitive(m map[string]any) bool {
	for k := range m {
		if len(k) > 5 && k[len(k)-5:] == ".name" {
			if _, ok := m[k[:len(k)-5]+".data"]; ok {
				return true
			}
		}
	}
	return false
}

// Encode is the inverse of Decode (objects through their MarshalJSON).
func Encode(v any) (json.RawMessage, error) { return json.Marshal(v) }
