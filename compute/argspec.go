package compute

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strings"

	"github.com/novabsd/novabsd/rpc"
)

// argSpec is the Python signature of one RPC method of nova's ComputeManager (compute RPC 6.x): the arguments
// without a default, in their positional order, and those with one. oslo's dispatcher calls the method with
// the message's args as keyword arguments, so a missing required one is Python's TypeError and the handler
// never runs; an absent optional one takes the signature's default.
type argSpec struct {
	required []string
	// optional maps each argument with a default to that default as JSON ("null" for Python's None).
	optional map[string]string
}

// method is a handler with its signature.
type method struct {
	args    argSpec
	handler rpc.Handler
}

func req(names ...string) argSpec { return argSpec{required: names} }

// checked wraps h so the arguments are checked against spec before h runs, as Python binds keyword arguments:
// the call fails as a builtins.TypeError naming every missing or unexpected argument, and nothing is done.
// Absent optional arguments are filled with their defaults, so a handler sees what Nova's method would.
func checked(name string, spec argSpec, h rpc.Handler) rpc.Handler {
	return func(ctx context.Context, args json.RawMessage) (any, error) {
		fixed, err := spec.bind(name, args)
		if err != nil {
			return nil, err
		}
		return h(ctx, fixed)
	}
}

// bind checks args (a JSON object; the dispatcher turns an absent one into {}) against the spec and returns
// them with the defaults of absent optional arguments added.
func (spec argSpec) bind(name string, args json.RawMessage) (json.RawMessage, error) {
	var m map[string]json.RawMessage
	if err := json.Unmarshal(args, &m); err != nil || m == nil {
		return nil, typeError(fmt.Sprintf("%s() argument after ** must be a mapping, not %s", name, jsonKind(args)))
	}
	var unexpected []string
	for k := range m {
		if !slices.Contains(spec.required, k) {
			if _, ok := spec.optional[k]; !ok {
				unexpected = append(unexpected, k)
			}
		}
	}
	if len(unexpected) > 0 {
		// Python names the first it meets; the message's order is not Python's, so name them all, sorted.
		slices.Sort(unexpected)
		return nil, typeError(fmt.Sprintf("%s() got an unexpected keyword argument %s", name, pyNames(unexpected)))
	}
	var missing []string
	for _, k := range spec.required {
		if _, ok := m[k]; !ok {
			missing = append(missing, k)
		}
	}
	if len(missing) > 0 {
		plural := "argument"
		if len(missing) > 1 {
			plural = "arguments"
		}
		return nil, typeError(fmt.Sprintf("%s() missing %d required positional %s: %s", name, len(missing), plural,
			pyNames(missing)))
	}
	added := false
	for k, def := range spec.optional {
		if _, ok := m[k]; !ok {
			m[k] = json.RawMessage(def)
			added = true
		}
	}
	if !added {
		return args, nil
	}
	return json.Marshal(m)
}

// pyNames lists names as CPython's "missing ... arguments" message does: 'a', 'a' and 'b', 'a', 'b', and 'c'.
func pyNames(names []string) string {
	q := make([]string, len(names))
	for i, n := range names {
		q[i] = "'" + n + "'"
	}
	switch len(q) {
	case 1:
		return q[0]
	case 2:
		return q[0] + " and " + q[1]
	}
	return strings.Join(q[:len(q)-1], ", ") + ", and " + q[len(q)-1]
}

func jsonKind(raw json.RawMessage) string {
	s := strings.TrimSpace(string(raw))
	switch {
	case s == "" || s == "null":
		return "NoneType"
	case s[0] == '[':
		return "list"
	case s[0] == '"':
		return "str"
	case s == "true" || s == "false":
		return "bool"
	}
	return "number"
}

func typeError(msg string) *rpc.RemoteError {
	return rpc.NewRemoteError("builtins", "TypeError", msg, nil)
}
