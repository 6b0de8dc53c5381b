package rpc

import (
	"encoding/json"
	"reflect"
	"testing"
	"time"
)

func TestRequestContextRoundTripAndChange(t *testing.T) {
	in := `{"method":"m","args":{},"_unique_id":"u","_context_user_id":"a","_context_user":"a","_context_auth_token":null,
"_context_request_id":"req-1","_context_roles":["admin"],"_context_is_admin":true,"_context_timestamp":"2026-01-02T03:04:05.123456",
"_context_service_catalog":[{"type":"image"}],"_context_traceparent":"00-abc","_context_project_name":""}`
	req, err := DecodeRequest([]byte(in))
	if err != nil {
		t.Fatal(err)
	}
	rc := req.Context
	if rc.UserID != "a" || rc.RequestID != "req-1" || !rc.IsAdmin || rc.Roles[0] != "admin" ||
		rc.Timestamp != time.Date(2026, 1, 2, 3, 4, 5, 123456000, time.UTC) || string(rc.Extra["traceparent"]) != `"00-abc"` {
		t.Fatalf("decoded %+v", rc)
	}
	out, _ := req.Encode()
	sameJSON(t, "unchanged context", []byte(in), out)

	req.Context.AuthToken = "tok"
	req.Context.ProjectName = ""
	out, _ = req.Encode()
	var m map[string]any
	json.Unmarshal(out, &m)
	if m["_context_auth_token"] != "tok" || m["_context_project_name"] != "" {
		t.Fatalf("changed context encoded as %v / %v", m["_context_auth_token"], m["_context_project_name"])
	}
}

func TestNewContextEncodesAllKeys(t *testing.T) {
	rc := AdminContext()
	req := &Request{Method: "m", Context: rc}
	out, _ := req.Encode()
	var m map[string]any
	json.Unmarshal(out, &m)
	for _, k := range []string{"user_id", "project_id", "is_admin", "read_deleted", "request_id", "timestamp",
		"roles", "service_catalog", "user_identity", "auth_token"} {
		if _, ok := m["_context_"+k]; !ok {
			t.Errorf("missing _context_%s", k)
		}
	}
	if m["_context_user_identity"] != "- - - - -" || m["_context_is_admin"] != true {
		t.Fatalf("encoded %v", m)
	}
}

// TestElevated: elevated copies keep the request's identity, become admin with the admin role once, leave the
// original untouched, and encode the changed keys while the rest of a received context stays as received.
func TestElevated(t *testing.T) {
	in := `{"method":"m","args":{},"_context_user_id":"u1","_context_project_id":"p1","_context_request_id":"req-9",` +
		`"_context_is_admin":false,"_context_roles":["member","reader"],"_context_auth_token":"tok","_context_x":"y"}`
	req, err := DecodeRequest([]byte(in))
	if err != nil {
		t.Fatal(err)
	}
	admin := AdminContext()
	tests := []struct {
		name      string
		in        *RequestContext
		wantRoles []string
	}{
		{"user request", &req.Context, []string{"member", "reader", "admin"}},
		{"admin context", &admin, []string{"admin"}},
		{"already admin", &RequestContext{Roles: []string{"admin"}, RequestID: "req-2"}, []string{"admin"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			before := *tc.in
			before.Roles = append([]string(nil), tc.in.Roles...)
			e := tc.in.Elevated()
			if !e.IsAdmin || !reflect.DeepEqual(e.Roles, tc.wantRoles) {
				t.Fatalf("elevated: is_admin %v roles %v, want true %v", e.IsAdmin, e.Roles, tc.wantRoles)
			}
			if e.RequestID != tc.in.RequestID || e.UserID != tc.in.UserID || e.AuthToken != tc.in.AuthToken {
				t.Fatalf("elevated changed the identity: %+v", e)
			}
			if tc.in.IsAdmin != before.IsAdmin || !reflect.DeepEqual(tc.in.Roles, before.Roles) {
				t.Fatalf("original changed: is_admin %v roles %v", tc.in.IsAdmin, tc.in.Roles)
			}
		})
	}
	out, err := (&Request{Method: "m", Args: json.RawMessage("{}"), Context: req.Context.Elevated()}).Encode()
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(out, &m); err != nil {
		t.Fatal(err)
	}
	if m["_context_is_admin"] != true || !reflect.DeepEqual(m["_context_roles"], []any{"member", "reader", "admin"}) ||
		m["_context_request_id"] != "req-9" || m["_context_x"] != "y" {
		t.Fatalf("elevated context encoded as %v", m)
	}
}

// TestParseStrtimeMatchesTimeParse: the fast path for the usual timestamp form gives what time.Parse gives, and
// declines whatever time.Parse would refuse or read differently.
func TestParseStrtimeMatchesTimeParse(t *testing.T) {
	for _, s := range []string{
		"2026-01-02T03:04:05.123456", "2024-02-29T23:59:59.999999", "2025-02-29T00:00:00.000000",
		"2026-02-30T00:00:00.000000", "2026-13-01T00:00:00.000000", "2026-00-10T00:00:00.000000",
		"2026-01-00T00:00:00.000000", "2026-04-31T00:00:00.000000", "2026-01-02T24:00:00.000000",
		"2026-01-02T23:60:00.000000", "2026-01-02T23:59:60.000000", "2026-01-02T03:04:05.12345x",
		"+026-01-02T03:04:05.123456", "2026-01-02 03:04:05.123456", "0000-01-01T00:00:00.000000",
	} {
		want, werr := time.Parse(TimestampFormat, s)
		got, ok := parseStrtime(s)
		if ok && (werr != nil || !got.Equal(want) || got.Location() != time.UTC) {
			t.Errorf("parseStrtime(%q) = %v, time.Parse = %v, %v", s, got, want, werr)
		}
		if !ok && werr == nil {
			t.Errorf("parseStrtime(%q) declined what time.Parse reads as %v", s, want)
		}
	}
}
