package rpc

import (
	"context"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"maps"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/google/uuid"
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

	orig []json.RawMessage // raw value of each of ctxFields as received, nil when absent
	snap *RequestContext   // typed values as received, to tell changed fields from unchanged ones
}

type ctxField struct {
	key string
	get func(*RequestContext) any
	set func(*RequestContext, json.RawMessage) error
	// str and flag reach string and bool fields directly, so encoding them needs no boxing into any.
	str  func(*RequestContext) *string
	flag func(*RequestContext) *bool
}

func strField(key string, f func(*RequestContext) *string) ctxField {
	return ctxField{key: key,
		get: func(c *RequestContext) any { return *f(c) },
		set: func(c *RequestContext, v json.RawMessage) error { return unmarshalNullableString(v, f(c)) },
		str: f}
}

func boolField(key string, f func(*RequestContext) *bool) ctxField {
	return ctxField{key: key,
		get: func(c *RequestContext) any { return *f(c) },
		set: func(c *RequestContext, v json.RawMessage) error {
			b, err := jsonBool(v)
			if err == nil {
				*f(c) = b
			}
			return err
		},
		flag: f}
}

// unchanged reports whether f holds the same value in c as in its snapshot as received.
func (f *ctxField) unchanged(c *RequestContext) bool {
	switch {
	case f.str != nil:
		return *f.str(c) == *f.str(c.snap)
	case f.flag != nil:
		return *f.flag(c) == *f.flag(c.snap)
	}
	return reflect.DeepEqual(f.get(c), f.get(c.snap))
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
	{key: "roles",
		get: func(c *RequestContext) any { return c.Roles },
		set: func(c *RequestContext, v json.RawMessage) error {
			if string(v) == "null" {
				c.Roles = nil
				return nil
			}
			roles, err := jsonStrings(v)
			if err == nil {
				c.Roles = roles
			}
			return err
		}},
	strField("user_identity", func(c *RequestContext) *string { return &c.UserIdentity }),
	strField("user_name", func(c *RequestContext) *string { return &c.UserName }),
	strField("project_name", func(c *RequestContext) *string { return &c.ProjectName }),
	strField("remote_address", func(c *RequestContext) *string { return &c.RemoteAddress }),
	{key: "timestamp",
		get: func(c *RequestContext) any { return c.Timestamp },
		set: func(c *RequestContext, v json.RawMessage) error {
			var s string
			if err := unmarshalNullableString(v, &s); err != nil || s == "" {
				return err
			}
			t, err := ParseTimestamp(s)
			c.Timestamp = t
			return err
		}},
	strField("quota_class", func(c *RequestContext) *string { return &c.QuotaClass }),
	{key: "service_catalog",
		get: func(c *RequestContext) any { return c.ServiceCatalog },
		set: func(c *RequestContext, v json.RawMessage) error {
			c.ServiceCatalog = append(json.RawMessage(nil), v...)
			return nil
		}},
}

// ctxIndex maps each known key to its place in ctxFields.
var ctxIndex = func() map[string]int {
	m := map[string]int{}
	for i, f := range ctxFields {
		m[f.key] = i
	}
	return m
}()

var ctxKnown = func() map[string]bool {
	m := map[string]bool{}
	for _, f := range ctxFields {
		m[f.key] = true
	}
	return m
}()

// ParseTimestamp reads a context timestamp; fractions and a trailing Z are optional, as Python peers vary.
func ParseTimestamp(s string) (time.Time, error) {
	if t, ok := parseStrtime(s); ok {
		return t, nil
	}
	for _, layout := range []string{TimestampFormat, "2006-01-02T15:04:05", time.RFC3339Nano} {
		if t, err := time.Parse(layout, s); err == nil {
			return t.UTC(), nil
		}
	}
	return time.Time{}, fmt.Errorf("timestamp %q is not %%Y-%%m-%%dT%%H:%%M:%%S.%%f", s)
}

// decode sets c from the raw values of ctxFields (vals, nil when absent) and the unknown keys (extra), keeping
// both to re-encode unchanged fields as received.
func (c *RequestContext) decode(vals []json.RawMessage, extra map[string]json.RawMessage) error {
	*c = RequestContext{}
	for i := range ctxFields {
		if v := vals[i]; v != nil {
			if err := ctxFields[i].set(c, v); err != nil {
				return &EnvelopeError{Reason: fmt.Sprintf("_context_%s: %v", ctxFields[i].key, err)}
			}
		}
	}
	// user/project may be sent without user_id/project_id by old peers; the *_id key wins when both exist.
	if v := vals[ctxIndex["user_id"]]; v != nil {
		_ = unmarshalNullableString(v, &c.UserID)
	}
	if v := vals[ctxIndex["project_id"]]; v != nil {
		_ = unmarshalNullableString(v, &c.ProjectID)
	}
	c.Extra = extra
	c.orig = vals
	snap := *c
	snap.Roles = append([]string(nil), c.Roles...)
	if c.Roles == nil {
		snap.Roles = nil
	}
	c.snap = &snap
	return nil
}

// writes reports whether appendJSON writes the context key k (without prefix).
func (c *RequestContext) writes(k string) bool {
	if ctxKnown[k] {
		return true
	}
	_, ok := c.Extra[k]
	return ok
}

// appendJSON appends the context as ,"_context_<key>":value members: the known fields in ctxFields order, then
// Extra. A decoded context writes every field it has not changed exactly as received.
func (c *RequestContext) appendJSON(b []byte) ([]byte, error) {
	var err error
	for i := range ctxFields {
		f := &ctxFields[i]
		if c.snap != nil {
			orig := c.orig[i]
			had := orig != nil
			if unchanged := f.unchanged(c); unchanged && had {
				b = appendContextKey(b, f.key)
				if b, err = appendRawJSON(b, orig); err != nil {
					return nil, fmt.Errorf("_context_%s: %w", f.key, err)
				}
				continue
			} else if unchanged {
				continue // absent when received and still unset
			}
		}
		b = appendContextKey(b, f.key)
		if f.key == "user_identity" && c.snap == nil && c.UserIdentity == "" {
			b = appendQuoted(b, c.identity())
			continue
		}
		if f.str != nil {
			if v := *f.str(c); v == "" {
				b = append(b, "null"...)
			} else {
				b = appendQuoted(b, v)
			}
			continue
		}
		if f.flag != nil {
			b = strconv.AppendBool(b, *f.flag(c))
			continue
		}
		cur := f.get(c)
		switch v := cur.(type) {
		case string:
			if v == "" {
				b = append(b, "null"...)
			} else {
				b = appendQuoted(b, v)
			}
		case bool:
			b = strconv.AppendBool(b, v)
		case time.Time:
			if v.IsZero() {
				b = append(b, "null"...)
			} else {
				b = append(b, '"')
				b = v.UTC().AppendFormat(b, TimestampFormat)
				b = append(b, '"')
			}
		case json.RawMessage:
			if len(v) == 0 {
				b = append(b, "[]"...)
			} else if b, err = appendRawJSON(b, v); err != nil {
				return nil, fmt.Errorf("_context_%s: %w", f.key, err)
			}
		case []string:
			b = append(b, '[')
			for i, s := range v {
				if i > 0 {
					b = append(b, ',')
				}
				b = appendQuoted(b, s)
			}
			b = append(b, ']')
		default:
			return nil, fmt.Errorf("_context_%s: unexpected type %T", f.key, cur)
		}
	}
	for _, k := range sortedKeys(c.Extra) {
		if ctxKnown[k] {
			continue // the typed field was written
		}
		b = appendContextKey(b, k)
		if b, err = appendRawJSON(b, c.Extra[k]); err != nil {
			return nil, fmt.Errorf("_context_%s: %w", k, err)
		}
	}
	return b, nil
}

func appendContextKey(b []byte, k string) []byte {
	b = append(b, `,"_context_`...)
	n := len(b)
	b = appendQuoted(b, k) // "k" with its escapes; drop its opening quote
	b = append(b[:n], b[n+1:]...)
	return append(b, ':')
}

// parseStrtime reads exactly TimestampFormat, every message's form, without time.Parse's generality; anything
// else, or a value out of range, is left to time.Parse (ok false) so results and errors stay the same.
func parseStrtime(s string) (time.Time, bool) {
	if len(s) != len(TimestampFormat) || s[4] != '-' || s[7] != '-' || s[10] != 'T' || s[13] != ':' ||
		s[16] != ':' || s[19] != '.' {
		return time.Time{}, false
	}
	num := func(from, to int) int {
		n := 0
		for i := from; i < to; i++ {
			c := s[i]
			if c < '0' || c > '9' {
				return -1
			}
			n = n*10 + int(c-'0')
		}
		return n
	}
	y, mo, d, h, mi, sec, us := num(0, 4), num(5, 7), num(8, 10), num(11, 13), num(14, 16), num(17, 19), num(20, 26)
	if y < 0 || mo < 1 || mo > 12 || d < 1 || h < 0 || h > 23 || mi < 0 || mi > 59 || sec < 0 || sec > 59 || us < 0 {
		return time.Time{}, false
	}
	t := time.Date(y, time.Month(mo), d, h, mi, sec, us*1000, time.UTC)
	if t.Day() != d { // e.g. 02-30: time.Date would roll over where time.Parse refuses
		return time.Time{}, false
	}
	return t, true
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
func NewRequestID() string { return "req-" + uuid.NewString() }

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

// Elevated returns a copy of c with admin rights, as nova's RequestContext.elevated(): is_admin set and the
// "admin" role added; the request id and identity stay, so the receiver's logs tie the message to the request.
// c itself is left as it was.
func (c *RequestContext) Elevated() RequestContext {
	e := *c
	e.Roles = slices.Clone(c.Roles)
	e.Extra = maps.Clone(c.Extra)
	e.IsAdmin = true
	if !slices.Contains(e.Roles, "admin") {
		e.Roles = append(e.Roles, "admin")
	}
	return e
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

// newHexID is uuid4().hex, the form of _msg_id, _unique_id and reply queue suffixes.
func newHexID() string {
	u := uuid.New()
	return hex.EncodeToString(u[:])
}
