package rpc

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"slices"
	"strings"

	"github.com/novabsd/novabsd/internal/version"
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

// envelopeHead is how common.py serialize_msg starts the 2.0 envelope (json.dumps of a two-key dict).
const envelopeHead = `{"oslo.version": "2.0", "oslo.message": `

// WrapEnvelope produces the 2.0 envelope: the inner message as a JSON string (common.py serialize_msg).
func WrapEnvelope(inner []byte) ([]byte, error) {
	return appendEnvelope(make([]byte, 0, len(envelopeHead)+len(inner)+len(inner)/8+8), inner), nil
}

func appendEnvelope(dst, inner []byte) []byte {
	dst = append(dst, envelopeHead...)
	dst = appendQuotedBytes(dst, inner)
	return append(dst, '}')
}

// UnwrapEnvelope returns the inner message JSON of an AMQP body. A JSON object that is not a 2.0 envelope is the
// message itself (envelope "1.0"), as common.py deserialize_msg accepts. The inner message of a 2.0 envelope is
// a fresh slice; a 1.0 message is body itself.
func UnwrapEnvelope(body []byte) ([]byte, error) {
	var rawVer, rawMsg []byte
	err := eachMember(body, func(k, v []byte) error {
		switch string(k) {
		case "oslo.version":
			rawVer = v
		case "oslo.message":
			rawMsg = v
		}
		return nil
	})
	if err != nil {
		return nil, &EnvelopeError{Reason: "body is not a JSON object: " + err.Error()}
	}
	if rawVer == nil || rawMsg == nil {
		return body, nil
	}
	ver, err := jsonString(rawVer)
	if err != nil {
		return nil, &EnvelopeError{Reason: "oslo.version is not a string"}
	}
	if !envelopeCompatible(ver) {
		return nil, &UnsupportedEnvelopeVersionError{Version: ver}
	}
	if rawMsg[0] != '"' {
		if string(rawMsg) == "null" {
			return []byte{}, nil
		}
		return nil, &EnvelopeError{Reason: "oslo.message is not a JSON string"}
	}
	return appendUnquoted(make([]byte, 0, len(rawMsg)), rawMsg), nil
}

// envelopeCompatible applies oslo's version_is_compatible(EnvelopeVersion, v), as the Python driver does for
// every message it reads.
func envelopeCompatible(v string) bool {
	ver, err := parseVersion(v)
	return err == nil && envelopeVersion.compatible(ver)
}

// checkTimeout refuses a _timeout no caller means: a negative or non-finite number of seconds (JSON has no NaN
// or infinity, but Python's json module writes them). Huge finite values are fine; heartbeatInterval caps them.
func checkTimeout(f float64) error {
	if math.IsNaN(f) || math.IsInf(f, 0) || f < 0 {
		return fmt.Errorf("%v is not a non-negative number of seconds", f)
	}
	return nil
}

var envelopeVersion = apiVersion(version.MustParse(EnvelopeVersion))

var contextPrefix = []byte("_context_")

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

// DecodeRequest parses an inner request message. The result shares no memory with inner.
func DecodeRequest(inner []byte) (*Request, error) {
	return decodeRequestOwned(append([]byte(nil), inner...))
}

// decodeRequestOwned is DecodeRequest for a buffer the request may keep: Args, Extra and the context's raw
// values are sub-slices of inner, so nothing is copied twice.
func decodeRequestOwned(inner []byte) (*Request, error) {
	r := &Request{}
	ctxVals := make([]json.RawMessage, len(ctxFields))
	var ctxExtra map[string]json.RawMessage
	err := eachMember(inner, func(key, v []byte) error {
		var err error
		switch string(key) { // no string is made for the keys matched here
		case "method":
			r.Method, err = jsonString(v)
		case "args":
			if !isJSONObject(v) && string(v) != "null" {
				err = fmt.Errorf("not an object")
			}
			r.Args = v
		case "version":
			r.Version, err = jsonString(v)
		case "namespace":
			r.Namespace, err = jsonString(v)
		case "_msg_id":
			r.MsgID, err = jsonString(v)
		case "_reply_q":
			r.ReplyQ, err = jsonString(v)
		case "_timeout":
			r.Timeout = nil
			if string(v) != "null" {
				var f float64
				if f, err = jsonFloat(v); err == nil {
					err = checkTimeout(f)
				}
				r.Timeout = &f
			}
		case "_unique_id":
			r.UniqueID, err = jsonString(v)
		default:
			if bytes.HasPrefix(key, contextPrefix) {
				k := key[len(contextPrefix):]
				if i, ok := ctxIndex[string(k)]; ok {
					ctxVals[i] = v
				} else {
					if ctxExtra == nil {
						ctxExtra = map[string]json.RawMessage{}
					}
					ctxExtra[string(k)] = v
				}
				break
			}
			if r.Extra == nil {
				r.Extra = map[string]json.RawMessage{}
			}
			r.Extra[string(key)] = v
		}
		if err != nil {
			return &EnvelopeError{Reason: fmt.Sprintf("field %q: %v", key, err)}
		}
		return nil
	})
	if err != nil {
		var eerr *EnvelopeError
		if errors.As(err, &eerr) {
			return nil, err
		}
		return nil, &EnvelopeError{Reason: "message is not a JSON object: " + err.Error()}
	}
	if r.Method == "" {
		return nil, &EnvelopeError{Reason: "message has no method"}
	}
	if err := r.Context.decode(ctxVals, ctxExtra); err != nil {
		return nil, err
	}
	return r, nil
}

// requestKeys are the top-level keys Encode writes itself; Extra entries with these names are not written.
var requestKeys = map[string]bool{"method": true, "args": true, "version": true, "namespace": true,
	"_msg_id": true, "_reply_q": true, "_timeout": true, "_unique_id": true}

// Encode renders the inner message JSON (without the envelope), keys in the order oslo's client and driver add
// them: method, args, namespace, version, the call keys, _unique_id, the context, then unknown keys.
func (r *Request) Encode() ([]byte, error) { return r.appendJSON(make([]byte, 0, 1024)) }

func (r *Request) appendJSON(b []byte) ([]byte, error) {
	var err error
	b = append(b, `{"method":`...)
	b = appendQuoted(b, r.Method)
	b = append(b, `,"args":`...)
	if len(r.Args) == 0 {
		b = append(b, "{}"...)
	} else if b, err = appendRawJSON(b, r.Args); err != nil {
		return nil, fmt.Errorf("rpc: encoding request %s: args: %w", r.Method, err)
	}
	if r.Namespace != "" {
		b = append(b, `,"namespace":`...)
		b = appendQuoted(b, r.Namespace)
	}
	if r.Version != "" {
		b = append(b, `,"version":`...)
		b = appendQuoted(b, r.Version)
	}
	if r.MsgID != "" {
		b = append(b, `,"_msg_id":`...)
		b = appendQuoted(b, r.MsgID)
		b = append(b, `,"_reply_q":`...)
		b = appendQuoted(b, r.ReplyQ)
		b = append(b, `,"_timeout":`...)
		if r.Timeout == nil {
			b = append(b, "null"...)
		} else if b, err = appendFloat(b, *r.Timeout); err != nil {
			return nil, fmt.Errorf("rpc: encoding request %s: _timeout: %w", r.Method, err)
		}
	}
	if r.UniqueID != "" {
		b = append(b, `,"_unique_id":`...)
		b = appendQuoted(b, r.UniqueID)
	}
	if b, err = r.Context.appendJSON(b); err != nil {
		return nil, fmt.Errorf("rpc: encoding request %s: %w", r.Method, err)
	}
	for _, k := range sortedKeys(r.Extra) {
		if requestKeys[k] || (strings.HasPrefix(k, "_context_") && r.Context.writes(k[len("_context_"):])) {
			continue // written above
		}
		b = append(b, ',')
		b = appendQuoted(b, k)
		b = append(b, ':')
		if b, err = appendRawJSON(b, r.Extra[k]); err != nil {
			return nil, fmt.Errorf("rpc: encoding request %s: %q: %w", r.Method, k, err)
		}
	}
	return append(b, '}'), nil
}

func sortedKeys[V any](m map[string]V) []string {
	if len(m) == 0 {
		return nil
	}
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
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

// DecodeReply parses an inner reply message. The result shares no memory with inner.
func DecodeReply(inner []byte) (*Reply, error) {
	return decodeReplyOwned(append([]byte(nil), inner...))
}

// decodeReplyOwned is DecodeReply for a buffer the reply may keep (Result and Extra are sub-slices of it).
func decodeReplyOwned(inner []byte) (*Reply, error) {
	r := &Reply{}
	err := eachMember(inner, func(key, v []byte) error {
		var err error
		switch string(key) {
		case "result":
			r.Result = v
		case "failure":
			r.Failure = nil
			if string(v) != "null" {
				var s string
				if s, err = jsonString(v); err == nil {
					r.Failure, err = DecodeRemoteError([]byte(s))
				}
			}
		case "ending":
			r.Ending, err = jsonBool(v)
		case "_msg_id":
			r.MsgID, err = jsonString(v)
		case "_unique_id":
			r.UniqueID, err = jsonString(v)
		default:
			if r.Extra == nil {
				r.Extra = map[string]json.RawMessage{}
			}
			r.Extra[string(key)] = v
		}
		if err != nil {
			return &EnvelopeError{Reason: fmt.Sprintf("reply field %q: %v", key, err)}
		}
		return nil
	})
	if err != nil {
		var eerr *EnvelopeError
		if errors.As(err, &eerr) {
			return nil, err
		}
		return nil, &EnvelopeError{Reason: "reply is not a JSON object: " + err.Error()}
	}
	return r, nil
}

var replyKeys = map[string]bool{"result": true, "failure": true, "ending": true, "_msg_id": true, "_unique_id": true}

// Encode renders the inner reply JSON, keys in the order of amqpdriver.py _send_reply.
func (r *Reply) Encode() ([]byte, error) { return r.appendJSON(make([]byte, 0, 160+len(r.Result))) }

func (r *Reply) appendJSON(b []byte) ([]byte, error) {
	var err error
	b = append(b, `{"result":`...)
	if b, err = appendRawJSON(b, r.Result); err != nil {
		return nil, fmt.Errorf("rpc: encoding reply to %s: result: %w", r.MsgID, err)
	}
	b = append(b, `,"failure":`...)
	if r.Failure == nil {
		b = append(b, "null"...)
	} else {
		f, err := r.Failure.Encode()
		if err != nil {
			return nil, err
		}
		b = appendQuotedBytes(b, f)
	}
	if r.Ending {
		b = append(b, `,"ending":true`...)
	} else {
		b = append(b, `,"ending":false`...)
	}
	b = append(b, `,"_msg_id":`...)
	b = appendQuoted(b, r.MsgID)
	if r.UniqueID != "" {
		b = append(b, `,"_unique_id":`...)
		b = appendQuoted(b, r.UniqueID)
	}
	for _, k := range sortedKeys(r.Extra) {
		if replyKeys[k] {
			continue
		}
		b = append(b, ',')
		b = appendQuoted(b, k)
		b = append(b, ':')
		if b, err = appendRawJSON(b, r.Extra[k]); err != nil {
			return nil, fmt.Errorf("rpc: encoding reply to %s: %q: %w", r.MsgID, k, err)
		}
	}
	return append(b, '}'), nil
}

func isJSONObject(v json.RawMessage) bool {
	v = bytes.TrimLeft(v, " \t\r\n")
	return len(v) > 0 && v[0] == '{'
}

func unmarshalNullableString(v json.RawMessage, dst *string) error {
	s, err := jsonString(v)
	if err != nil {
		return err
	}
	*dst = s
	return nil
}
