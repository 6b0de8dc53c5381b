package rpc

import (
	"encoding/json"
	"errors"
	"fmt"
)

// RemoteError is an exception in oslo's remote format (common.py serialize_remote_exception): it is what a
// handler returns to choose the Python class a caller sees, and what a call returns when the peer failed.
type RemoteError struct {
	Module    string         // e.g. "nova.exception", "builtins"
	Class     string         // e.g. "InstanceNotFound"
	Message   string         // str(exception)
	Args      []any          // exception args; nova sends [message]
	Kwargs    map[string]any // format kwargs; nova adds "code"
	Traceback []string       // "tb": formatted traceback lines
	// Extra keeps unknown keys of a received failure.
	Extra map[string]json.RawMessage
}

func (e *RemoteError) Error() string {
	mod := e.Module
	if mod != "" {
		mod += "."
	}
	return fmt.Sprintf("rpc: remote error %s%s: %s", mod, e.Class, e.Message)
}

// Is makes errors.Is(err, &RemoteError{Class: "X"}) match by class (and module, when the target names one).
func (e *RemoteError) Is(target error) bool {
	t, ok := target.(*RemoteError)
	if !ok {
		return false
	}
	return t.Class == e.Class && (t.Module == "" || t.Module == e.Module)
}

// NewRemoteError builds a failure the way Python exceptions serialize: args = [message], kwargs as given.
func NewRemoteError(module, class, message string, kwargs map[string]any) *RemoteError {
	if kwargs == nil {
		kwargs = map[string]any{}
	}
	return &RemoteError{Module: module, Class: class, Message: message, Args: []any{message}, Kwargs: kwargs}
}

// Encode renders the failure JSON (the string placed in a reply's "failure").
func (e *RemoteError) Encode() ([]byte, error) {
	m := make(map[string]any, 6+len(e.Extra))
	for k, v := range e.Extra {
		m[k] = v
	}
	args := e.Args
	if args == nil {
		args = []any{}
	}
	kwargs := e.Kwargs
	if kwargs == nil {
		kwargs = map[string]any{}
	}
	tb := e.Traceback
	if tb == nil {
		tb = []string{}
	}
	m["class"], m["module"], m["message"], m["tb"], m["args"], m["kwargs"] = e.Class, e.Module, e.Message, tb, args, kwargs
	b, err := json.Marshal(m)
	if err != nil {
		return nil, fmt.Errorf("rpc: encoding remote error %s: %w", e.Class, err)
	}
	return b, nil
}

// DecodeRemoteError parses a failure JSON string.
func DecodeRemoteError(b []byte) (*RemoteError, error) {
	var m map[string]json.RawMessage
	if err := json.Unmarshal(b, &m); err != nil {
		return nil, &EnvelopeError{Reason: "failure is not a JSON object: " + err.Error()}
	}
	e := &RemoteError{}
	for k, v := range m {
		var err error
		switch k {
		case "class":
			err = unmarshalNullableString(v, &e.Class)
		case "module":
			err = unmarshalNullableString(v, &e.Module)
		case "message":
			err = unmarshalNullableString(v, &e.Message)
		case "tb":
			err = json.Unmarshal(v, &e.Traceback)
		case "args":
			err = json.Unmarshal(v, &e.Args)
		case "kwargs":
			err = json.Unmarshal(v, &e.Kwargs)
		default:
			if e.Extra == nil {
				e.Extra = map[string]json.RawMessage{}
			}
			e.Extra[k] = v
		}
		if err != nil {
			return nil, &EnvelopeError{Reason: fmt.Sprintf("failure field %q: %v", k, err)}
		}
	}
	return e, nil
}

// remoteErrorFor turns a handler error into the failure sent back. A *RemoteError anywhere in the chain is sent
// as is; any other error goes out as builtins.Exception, which every Python caller can rebuild.
func remoteErrorFor(err error, method string) *RemoteError {
	var re *RemoteError
	if errors.As(err, &re) {
		out := *re
		if out.Args == nil {
			out.Args = []any{out.Message}
		}
		if out.Traceback == nil {
			out.Traceback = goTraceback(out.Module, out.Class, out.Message, method)
		}
		return &out
	}
	msg := err.Error()
	return &RemoteError{Module: "builtins", Class: "Exception", Message: msg, Args: []any{msg},
		Kwargs: map[string]any{}, Traceback: goTraceback("builtins", "Exception", msg, method)}
}

// goTraceback mimics the shape of traceback.format_exception so Python callers print something familiar.
func goTraceback(module, class, msg, method string) []string {
	name := class
	if module != "" && module != "builtins" {
		name = module + "." + class
	}
	return []string{
		"Traceback (most recent call last):\n",
		fmt.Sprintf("  File \"novabsd (Go)\", in %s\n", method),
		fmt.Sprintf("%s: %s\n", name, msg),
	}
}

const dispatcherModule = "oslo_messaging.rpc.dispatcher"

// NoSuchMethodError is oslo_messaging.rpc.dispatcher.NoSuchMethod.
func NoSuchMethodError(method string) *RemoteError {
	msg := "Endpoint does not support RPC method " + method
	return &RemoteError{Module: dispatcherModule, Class: "NoSuchMethod", Message: msg, Args: []any{msg},
		Kwargs: map[string]any{}}
}

// UnsupportedVersionError is oslo_messaging.rpc.dispatcher.UnsupportedVersion.
func UnsupportedVersionError(version, method string) *RemoteError {
	msg := "Endpoint does not support RPC version " + version
	if method != "" {
		msg += ". Attempted method: " + method
	}
	return &RemoteError{Module: dispatcherModule, Class: "UnsupportedVersion", Message: msg, Args: []any{msg},
		Kwargs: map[string]any{}}
}

// BadArgumentsError is the TypeError Python raises when keyword arguments don't fit the method.
func BadArgumentsError(method string, cause error) *RemoteError {
	msg := fmt.Sprintf("%s() got arguments that do not fit: %v", method, cause)
	return &RemoteError{Module: "builtins", Class: "TypeError", Message: msg, Args: []any{msg},
		Kwargs: map[string]any{}}
}

// ErrTimeout is matched (errors.Is) by every TimeoutError.
var ErrTimeout = errors.New("rpc: messaging timeout")

// TimeoutError is oslo_messaging.MessagingTimeout: no final reply came in time, or the connection carrying the
// call was lost (its reply can no longer arrive).
type TimeoutError struct {
	MsgID      string
	ReplyQueue string
	Method     string
	Reason     string
}

func (e *TimeoutError) Error() string {
	return fmt.Sprintf("rpc: timed out waiting for a reply to %s (message ID %s, reply queue %s): %s",
		e.Method, e.MsgID, e.ReplyQueue, e.Reason)
}

// Is matches ErrTimeout.
func (e *TimeoutError) Is(target error) bool { return target == ErrTimeout }

// ArgsError reports arguments a handler could not decode; the dispatcher sends it as builtins.TypeError.
type ArgsError struct {
	Err error
}

func (e *ArgsError) Error() string { return "rpc: arguments do not fit: " + e.Err.Error() }
func (e *ArgsError) Unwrap() error { return e.Err }
