package rpc

import (
	"encoding/json"
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
