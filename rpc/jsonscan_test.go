package rpc

import (
	"bytes"
	"encoding/json"
	"reflect"
	"strings"
	"testing"
)

// checkScanAgainstStdlib asserts that the hot-path scanner agrees with encoding/json on b: same validity, same
// members for an object, same text for a string, and that quoting any bytes gives what json.Marshal's output
// decodes to.
func checkScanAgainstStdlib(t *testing.T, b []byte) {
	t.Helper()
	if got, want := validJSON(b) == nil, json.Valid(b); got != want {
		t.Fatalf("validJSON(%q) = %v, json.Valid = %v", b, validJSON(b), want)
	}
	var wantMap map[string]json.RawMessage
	objErr := json.Unmarshal(b, &wantMap)
	gotMap := map[string]json.RawMessage{}
	err := eachMember(b, func(k, v []byte) error {
		gotMap[string(k)] = append(json.RawMessage(nil), v...)
		return nil
	})
	if (err == nil) != (objErr == nil && wantMap != nil) {
		t.Fatalf("eachMember(%q) err %v, encoding/json err %v (map %v)", b, err, objErr, wantMap)
	}
	if err == nil && !reflect.DeepEqual(gotMap, wantMap) {
		t.Fatalf("eachMember(%q) = %q, encoding/json %q", b, gotMap, wantMap)
	}
	var wantStr string
	if json.Unmarshal(b, &wantStr) == nil && bytes.HasPrefix(bytes.TrimLeft(b, " \t\r\n"), []byte(`"`)) {
		got, err := jsonString(bytes.TrimSpace(b))
		if err != nil || got != wantStr {
			t.Fatalf("jsonString(%q) = %q, %v; encoding/json %q", b, got, err, wantStr)
		}
	}
	var wantList []string
	if json.Unmarshal(b, &wantList) == nil && wantList != nil {
		got, err := jsonStrings(bytes.TrimSpace(b))
		if err != nil || !reflect.DeepEqual(got, wantList) {
			t.Fatalf("jsonStrings(%q) = %q, %v; encoding/json %q", b, got, err, wantList)
		}
	}
	var fromUs, fromStd string
	if err := json.Unmarshal(appendQuotedBytes(nil, b), &fromUs); err != nil {
		t.Fatalf("appendQuotedBytes(%q) is not a JSON string: %v", b, err)
	}
	std, _ := json.Marshal(string(b))
	_ = json.Unmarshal(std, &fromStd)
	if fromUs != fromStd {
		t.Fatalf("quoting %q decodes to %q, encoding/json's to %q", b, fromUs, fromStd)
	}
}

func TestJSONScanMatchesStdlib(t *testing.T) {
	for _, in := range []string{
		``, ` `, `{}`, ` { } `, `{"a":1}`, `{"a":1,}`, `{"a" 1}`, `{"a":1}x`, `{"a":1}{}`, `[]`, `[1,]`, `[1 2]`,
		`"x"`, `"\u00e9\ud83d\ude00"`, `"\ud83d"`, `"\ud83dx"`, `"\udc00\ud83d\ude00"`, `"bad \x escape"`,
		"\"ctl \x01\"", "\"bad utf8 \xff\xfe\"", `"\u12"`, `{"k":"\u2028 \u2029 <&>"}`, `01`, `-`, `-0`, `1.`,
		`1.5e`, `1.5e+3`, `-0.0E-0`, `tru`, `true`, `nul`, `null`, `{"a":{"b":[1,{"c":null}]},"a":2}`,
		`{"\u0061":1,"a":2}`, `["admin", "member"]`, `[]`, `[ "a" , null ]`, `["a",1]`, `["a",]`, `{"oslo.version": "2.0", "oslo.message": "{\"method\": \"m\"}"}`,
		strings.Repeat("[", 10001) + strings.Repeat("]", 10001), strings.Repeat("[", 10000) + strings.Repeat("]", 10000),
	} {
		t.Run("", func(t *testing.T) { checkScanAgainstStdlib(t, []byte(in)) })
	}
}

// FuzzJSONScan: the scanner accepts and decodes exactly what encoding/json does.
func FuzzJSONScan(f *testing.F) {
	seedWire(f)
	for _, s := range []string{`{"a":"\ud83d\ude00","b":[1,-2.5e3,true,null]}`, `"\ud800\u0041"`, "\"\xed\xa0\x80\"", `[]`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) { checkScanAgainstStdlib(t, b) })
}

// TestEncodingMatchesOslo: the hand-written encoders produce the same JSON document json.Marshal made of the
// same message before, for a fresh context and for a forwarded one with unknown keys.
func TestEncodingMatchesOslo(t *testing.T) {
	req := benchRequest()
	req.Namespace = "baseapi"
	req.Context.Extra = map[string]json.RawMessage{"tracing": json.RawMessage(` {"k": "v"} `)}
	req.Extra = map[string]json.RawMessage{"zzz": json.RawMessage(`[1]`), "method": json.RawMessage(`"shadow"`)}
	out, err := req.Encode()
	if err != nil {
		t.Fatal(err)
	}
	var got map[string]any
	if err := json.Unmarshal(out, &got); err != nil {
		t.Fatalf("Encode wrote invalid JSON: %v\n%s", err, out)
	}
	for k, want := range map[string]any{
		"method": "build_and_run_instance", "namespace": "baseapi", "version": "6.5", "_timeout": 60.0,
		"_context_tracing": map[string]any{"k": "v"}, "zzz": []any{1.0}, "_context_is_admin": true,
		"_context_roles": []any{"admin", "member"}, "_context_domain": nil, "_context_user_identity": "u-123 p-456 - - -",
		"_context_service_catalog": []any{map[string]any{"type": "image", "name": "glance", "endpoints": []any{
			map[string]any{"region": "RegionOne", "url": "http://10.0.0.1/image"}}}},
	} {
		if !reflect.DeepEqual(got[k], want) {
			t.Errorf("%s = %#v, want %#v", k, got[k], want)
		}
	}
	back, err := DecodeRequest(out)
	if err != nil {
		t.Fatal(err)
	}
	again, err := back.Encode()
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(again, out) {
		t.Fatalf("decode→encode of a forwarded request changed it:\n%s\n%s", out, again)
	}
	env, _ := WrapEnvelope(out)
	if inner, err := UnwrapEnvelope(env); err != nil || !bytes.Equal(inner, out) {
		t.Fatalf("envelope round trip: %v", err)
	}
}
