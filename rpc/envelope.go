package rpc

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
)

// EnvelopeVersion is the oslo.messaging envelope version this package writes and accepts (major 2, minor ≤ 0).
const EnvelopeVersion = "2.0"

// EnvelopeError reports a body that is not an acceptable oslo.messaging envelope.
type EnvelopeError struct {
	Reason string
}

func (e *EnvelopeError) Error() string { return "rpc: bad message envelope: " + e.Reason }

// UnsupportedEnvelopeVersionError is oslo's UnsupportedRpcEnvelopeVersion.
type UnsupportedEnvelopeVersionError struct {
	Version string
}

func (e *UnsupportedEnvelopeVersionError) Error() string {
	return fmt.Sprintf("rpc: envelope version %q is not supported (this end speaks %s)", e.Version, EnvelopeVersion)
}

// WrapEnvelope produces the 2.0 envelope: the inner message as a JSON string (common.py serialize_msg).
func WrapEnvelope(inner []byte) ([]byte, error) {
	s, err := json.Marshal(string(inner))
	if err != nil {
		return nil, fmt.Errorf("rpc: encoding envelope: %w", err)
	}
	var b bytes.Buffer
	b.Grow(len(s) + 40)
	b.WriteString(`{"oslo.version": "2.0", "oslo.message": `)
	b.Write(s)
	b.WriteByte('}')
	return b.Bytes(), nil
}

// UnwrapEnvelope returns the inner message JSON of an AMQP body. A JSON object that is not a 2.0 envelope is the
// message itself (envelope "1.0"), as common.py deserialize_msg accepts.
func UnwrapEnvelope(body []byte) ([]byte, error) {
	var env map[string]json.RawMessage
	if err := json.Unmarshal(body, &env); err != nil {
		return nil, &EnvelopeError{Reason: "body is not a JSON object: " + err.Error()}
	}
	rawVer, hasVer := env["oslo.version"]
	rawMsg, hasMsg := env["oslo.message"]
	if !hasVer || !hasMsg {
		return body, nil
	}
	var ver string
	if err := json.Unmarshal(rawVer, &ver); err != nil {
		return nil, &EnvelopeError{Reason: "oslo.version is not a string"}
	}
	if !envelopeCompatible(ver) {
		return nil, &UnsupportedEnvelopeVersionError{Version: ver}
	}
	var inner string
	if err := json.Unmarshal(rawMsg, &inner); err != nil {
		return nil, &EnvelopeError{Reason: "oslo.message is not a JSON string"}
	}
	return []byte(inner), nil
}

func envelopeCompatible(v string) bool {
	major, minor, ok := strings.Cut(v, ".")
	if !ok {
		return false
	}
	ma, err1 := strconv.Atoi(major)
	mi, err2 := strconv.Atoi(minor)
	return err1 == nil && err2 == nil && ma == 2 && mi <= 0
}

// Request is the inner message of a call or cast (rpc/client.py _make_message, amqpdriver.py _send).
type Request struct {
	Method    string
	Args      json.RawMessage // a JSON object of keyword arguments
	Version   string          // "" is sent as absent and read as "1.0"
	Namespace string          // "" is absent (null namespace)
	MsgID     string          // calls only
	ReplyQ    string          // calls only
	// Timeout is _timeout, the call-monitor timeout in seconds; calls always carry the key, nil is null.
	Timeout  *float64
	UniqueID string
	Context  RequestContext
	// Extra keeps top-level keys this package does not know, so messages re-encode without loss.
	Extra map[string]json.RawMessage
}

// IsCall reports whether the sender waits for a reply.
func (r *Request) IsCall() bool { return r.MsgID != "" }

// DecodeRequest parses an inner request message.
func DecodeRequest(inner []byte) (*Request, error) {
	var m map[string]json.RawMessage
	if err := json.Unmarshal(inner, &m); err != nil {
		return nil, &EnvelopeError{Reason: "message is not a JSON object: " + err.Error()}
	}
	r := &Request{}
	ctx := map[string]json.RawMessage{}
	for k, v := range m {
		var err error
		switch {
		case k == "method":
			err = json.Unmarshal(v, &r.Method)
		case k == "args":
			if !isJSONObject(v) && string(v) != "null" {
				err = fmt.Errorf("not an object")
			}
			r.Args = v
		case k == "version":
			err = unmarshalNullableString(v, &r.Version)
		case k == "namespace":
			err = unmarshalNullableString(v, &r.Namespace)
		case k == "_msg_id":
			err = unmarshalNullableString(v, &r.MsgID)
		case k == "_reply_q":
			err = unmarshalNullableString(v, &r.ReplyQ)
		case k == "_timeout":
			if string(v) != "null" {
				var f float64
				err = json.Unmarshal(v, &f)
				r.Timeout = &f
			}
		case k == "_unique_id":
			err = unmarshalNullableString(v, &r.UniqueID)
		case strings.HasPrefix(k, "_context_"):
			ctx[k[len("_context_"):]] = v
		default:
			if r.Extra == nil {
				r.Extra = map[string]json.RawMessage{}
			}
			r.Extra[k] = v
		}
		if err != nil {
			return nil, &EnvelopeError{Reason: fmt.Sprintf("field %q: %v", k, err)}
		}
	}
	if r.Method == "" {
		return nil, &EnvelopeError{Reason: "message has no method"}
	}
	if err := r.Context.decode(ctx); err != nil {
		return nil, err
	}
	return r, nil
}

// Encode renders the inner message JSON (without the envelope).
func (r *Request) Encode() ([]byte, error) {
	m := make(map[string]any, 8+len(r.Extra)+32)
	for k, v := range r.Extra {
		m[k] = v
	}
	m["method"] = r.Method
	args := r.Args
	if len(args) == 0 {
		args = json.RawMessage("{}")
	}
	m["args"] = args
	if r.Version != "" {
		m["version"] = r.Version
	}
	if r.Namespace != "" {
		m["namespace"] = r.Namespace
	}
	if r.MsgID != "" {
		m["_msg_id"] = r.MsgID
		m["_reply_q"] = r.ReplyQ
		m["_timeout"] = r.Timeout
	}
	if r.UniqueID != "" {
		m["_unique_id"] = r.UniqueID
	}
	ctx, err := r.Context.encode()
	if err != nil {
		return nil, err
	}
	for k, v := range ctx {
		m["_context_"+k] = v
	}
	b, err := json.Marshal(m)
	if err != nil {
		return nil, fmt.Errorf("rpc: encoding request %s: %w", r.Method, err)
	}
	return b, nil
}

// Reply is the inner message of a reply (amqpdriver.py AMQPIncomingMessage._send_reply).
type Reply struct {
	Result json.RawMessage // null when absent
	// Failure is the serialized remote exception; nil is null.
	Failure  *RemoteError
	Ending   bool
	MsgID    string
	UniqueID string
	Extra    map[string]json.RawMessage
}

// DecodeReply parses an inner reply message.
func DecodeReply(inner []byte) (*Reply, error) {
	var m map[string]json.RawMessage
	if err := json.Unmarshal(inner, &m); err != nil {
		return nil, &EnvelopeError{Reason: "reply is not a JSON object: " + err.Error()}
	}
	r := &Reply{}
	for k, v := range m {
		var err error
		switch k {
		case "result":
			r.Result = v
		case "failure":
			if string(v) != "null" {
				var s string
				if err = json.Unmarshal(v, &s); err == nil {
					r.Failure, err = DecodeRemoteError([]byte(s))
				}
			}
		case "ending":
			if string(v) != "null" {
				err = json.Unmarshal(v, &r.Ending)
			}
		case "_msg_id":
			err = unmarshalNullableString(v, &r.MsgID)
		case "_unique_id":
			err = unmarshalNullableString(v, &r.UniqueID)
		default:
			if r.Extra == nil {
				r.Extra = map[string]json.RawMessage{}
			}
			r.Extra[k] = v
		}
		if err != nil {
			return nil, &EnvelopeError{Reason: fmt.Sprintf("reply field %q: %v", k, err)}
		}
	}
	return r, nil
}

// Encode renders the inner reply JSON.
func (r *Reply) Encode() ([]byte, error) {
	m := make(map[string]any, 5+len(r.Extra))
	for k, v := range r.Extra {
		m[k] = v
	}
	result := r.Result
	if len(result) == 0 {
		result = json.RawMessage("null")
	}
	m["result"] = result
	m["failure"] = nil
	if r.Failure != nil {
		f, err := r.Failure.Encode()
		if err != nil {
			return nil, err
		}
		m["failure"] = string(f)
	}
	m["ending"] = r.Ending
	m["_msg_id"] = r.MsgID
	if r.UniqueID != "" {
		m["_unique_id"] = r.UniqueID
	}
	b, err := json.Marshal(m)
	if err != nil {
		return nil, fmt.Errorf("rpc: encoding reply to %s: %w", r.MsgID, err)
	}
	return b, nil
}

func isJSONObject(v json.RawMessage) bool {
	v = bytes.TrimLeft(v, " \t\r\n")
	return len(v) > 0 && v[0] == '{'
}

func unmarshalNullableString(v json.RawMessage, dst *string) error {
	if string(v) == "null" {
		*dst = ""
		return nil
	}
	return json.Unmarshal(v, dst)
}
