package rpc

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"reflect"
	"strings"
	"time"
)

// TimestampFormat is the layout of _context_timestamp (oslo timeutils strtime, parsed back with exactly this).
const TimestampFormat = "2006-01-02T15:04:05.000000"

// RequestContext is the request context carried as _context_* keys (nova/context.py RequestContext.to_dict on top
// of oslo.context). Empty strings stand for null. Keys it does not know stay in Extra; a context that was decoded
// re-encodes every unchanged field byte for byte, so forwarding it loses nothing.
type RequestContext struct {
	UserID          string
	ProjectID       string
	Domain          string
	UserDomain      string
	ProjectDomain   string
	SystemScope     string
	IsAdmin         bool
	IsAdminProject  bool
	ReadOnly        bool
	ShowDeleted     bool
	ReadDeleted     string // "no", "yes" or "only"
	AuthToken       string
	RequestID       string
	GlobalRequestID string
	ResourceUUID    string
	Roles           []string
	UserIdentity    string
	UserName        string
	ProjectName     string
	RemoteAddress   string
	Timestamp       time.Time
	QuotaClass      string
	ServiceCatalog  json.RawMessage // list of catalog entries, kept as sent
	// Extra holds unknown keys (without the _context_ prefix), e.g. tracing keys.
	Extra map[string]json.RawMessage

	orig map[string]json.RawMessage // as received
	snap *RequestContext            // typed values as received, to tell changed fields from unchanged ones
}

type ctxField struct {
	key string
	get func(*RequestContext) any
	set func(*RequestContext, json.RawMessage) error
}

func strField(key string, f func(*RequestContext) *string) ctxField {
	return ctxField{key,
		func(c *RequestContext) any { return *f(c) },
		func(c *RequestContext, v json.RawMessage) error { return unmarshalNullableString(v, f(c)) }}
}

func boolField(key string, f func(*RequestContext) *bool) ctxField {
	return ctxField{key,
		func(c *RequestContext) any { return *f(c) },
		func(c *RequestContext, v json.RawMessage) error {
			if string(v) == "null" {
				*f(c) = false
				return nil
			}
			return json.Unmarshal(v, f(c))
		}}
}

// ctxFields lists the keys nova and oslo.context send on every message; "user" and "project" duplicate
// user_id/project_id, as oslo.context does.
var ctxFields = []ctxField{
	strField("user_id", func(c *RequestContext) *string { return &c.UserID }),
	strField("user", func(c *RequestContext) *string { return &c.UserID }),
	strField("project_id", func(c *RequestContext) *string { return &c.ProjectID }),
	strField("project", func(c *RequestContext) *string { return &c.ProjectID }),
	strField("domain", func(c *RequestContext) *string { return &c.Domain }),
	strField("user_domain", func(c *RequestContext) *string { return &c.UserDomain }),
	strField("project_domain", func(c *RequestContext) *string { return &c.ProjectDomain }),
	strField("system_scope", func(c *RequestContext) *string { return &c.SystemScope }),
	boolField("is_admin", func(c *RequestContext) *bool { return &c.IsAdmin }),
	boolField("is_admin_project", func(c *RequestContext) *bool { return &c.IsAdminProject }),
	boolField("read_only", func(c *RequestContext) *bool { return &c.ReadOnly }),
	boolField("show_deleted", func(c *RequestContext) *bool { return &c.ShowDeleted }),
	strField("read_deleted", func(c *RequestContext) *string { return &c.ReadDeleted }),
	strField("auth_token", func(c *RequestContext) *string { return &c.AuthToken }),
	strField("request_id", func(c *RequestContext) *string { return &c.RequestID }),
	strField("global_request_id", func(c *RequestContext) *string { return &c.GlobalRequestID }),
	strField("resource_uuid", func(c *RequestContext) *string { return &c.ResourceUUID }),
	{"roles",
		func(c *RequestContext) any { return c.Roles },
		func(c *RequestContext, v json.RawMessage) error {
			if string(v) == "null" {
				c.Roles = nil
				return nil
			}
			return json.Unmarshal(v, &c.Roles)
		}},
	strField("user_identity", func(c *RequestContext) *string { return &c.UserIdentity }),
	strField("user_name", func(c *RequestContext) *string { return &c.UserName }),
	strField("project_name", func(c *RequestContext) *string { return &c.ProjectName }),
	strField("remote_address", func(c *RequestContext) *string { return &c.RemoteAddress }),
	{"timestamp",
		func(c *RequestContext) any { return c.Timestamp },
		func(c *RequestContext, v json.RawMessage) error {
			var s string
			if err := unmarshalNullableString(v, &s); err != nil || s == "" {
				return err
			}
			t, err := ParseTimestamp(s)
			c.Timestamp = t
			return err
		}},
	strField("quota_class", func(c *RequestContext) *string { return &c.QuotaClass }),
	{"service_catalog",
		func(c *RequestContext) any { return c.ServiceCatalog },
		func(c *RequestContext, v json.RawMessage) error {
			c.ServiceCatalog = append(json.RawMessage(nil), v...)
			return nil
		}},
}

var ctxKnown = func() map[string]bool {
	m := map[string]bool{}
	for _, f := range ctxFields {
		m[f.key] = true
	}
	return m
}()

// ParseTimestamp reads a context timestamp; fractions and a trailing Z are optional, as Python peers vary.
func ParseTimestamp(s string) (time.Time, error) {
	for _, layout := range []string{TimestampFormat, "2006-01-02T15:04:05", time.RFC3339Nano} {
		if t, err := time.Parse(layout, s); err == nil {
			return t.UTC(), nil
		}
	}
	return time.Time{}, fmt.Errorf("timestamp %q is not %%Y-%%m-%%dT%%H:%%M:%%S.%%f", s)
}

func (c *RequestContext) decode(raw map[string]json.RawMessage) error {
	*c = RequestContext{}
	for _, f := range ctxFields {
		v, ok := raw[f.key]
		if !ok {
			continue
		}
		if err := f.set(c, v); err != nil {
			return &EnvelopeError{Reason: fmt.Sprintf("_context_%s: %v", f.key, err)}
		}
	}
	// user/project may be sent without user_id/project_id by old peers; the *_id key wins when both exist.
	if v, ok := raw["user_id"]; ok {
		_ = unmarshalNullableString(v, &c.UserID)
	}
	if v, ok := raw["project_id"]; ok {
		_ = unmarshalNullableString(v, &c.ProjectID)
	}
	for k, v := range raw {
		if !ctxKnown[k] {
			if c.Extra == nil {
				c.Extra = map[string]json.RawMessage{}
			}
			c.Extra[k] = v
		}
	}
	c.orig = raw
	snap := *c
	snap.Roles = append([]string(nil), c.Roles...)
	if c.Roles == nil {
		snap.Roles = nil
	}
	c.snap = &snap
	return nil
}

// encode returns the context keys (without prefix).
func (c *RequestContext) encode() (map[string]any, error) {
	out := make(map[string]any, len(ctxFields)+len(c.Extra))
	for k, v := range c.Extra {
		out[k] = v
	}
	for _, f := range ctxFields {
		cur := f.get(c)
		if c.snap != nil {
			if orig, ok := c.orig[f.key]; ok && reflect.DeepEqual(cur, f.get(c.snap)) {
				out[f.key] = orig
				continue
			}
			if _, ok := c.orig[f.key]; !ok && reflect.DeepEqual(cur, f.get(c.snap)) {
				continue // absent when received and still unset
			}
		}
		switch v := cur.(type) {
		case string:
			if v == "" {
				out[f.key] = nil
			} else {
				out[f.key] = v
			}
		case time.Time:
			if v.IsZero() {
				out[f.key] = nil
			} else {
				out[f.key] = v.UTC().Format(TimestampFormat)
			}
		case json.RawMessage:
			if len(v) == 0 {
				out[f.key] = []any{}
			} else {
				out[f.key] = v
			}
		case []string:
			if v == nil {
				out[f.key] = []string{}
			} else {
				out[f.key] = v
			}
		default:
			out[f.key] = v
		}
	}
	if c.snap == nil && c.UserIdentity == "" {
		out["user_identity"] = c.identity()
	}
	return out, nil
}

func (c *RequestContext) identity() string {
	parts := []string{c.UserID, c.ProjectID, c.Domain, c.UserDomain, c.ProjectDomain}
	for i, p := range parts {
		if p == "" {
			parts[i] = "-"
		}
	}
	return strings.Join(parts, " ")
}

// NewRequestID returns "req-<uuid4>", the form oslo.context generates.
func NewRequestID() string { return "req-" + newUUID() }

// AdminContext is the context a service makes for its own work (nova/context.py get_admin_context): admin, no
// user or token, a fresh request id.
func AdminContext() RequestContext {
	return RequestContext{
		IsAdmin:        true,
		IsAdminProject: true,
		ReadDeleted:    "no",
		RequestID:      NewRequestID(),
		Timestamp:      time.Now().UTC(),
	}
}

type ctxKey struct{}

// WithRequestContext returns ctx carrying rc; handlers receive their request's context this way.
func WithRequestContext(ctx context.Context, rc *RequestContext) context.Context {
	return context.WithValue(ctx, ctxKey{}, rc)
}

// RequestContextFrom returns the request context stored by WithRequestContext.
func RequestContextFrom(ctx context.Context) (*RequestContext, bool) {
	rc, ok := ctx.Value(ctxKey{}).(*RequestContext)
	return rc, ok
}

func newUUID() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	h := hex.EncodeToString(b[:])
	return h[0:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:]
}

// newHexID is uuid4().hex, the form of _msg_id, _unique_id and reply queue suffixes.
func newHexID() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	return hex.EncodeToString(b[:])
}
