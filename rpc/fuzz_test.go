package rpc

import (
	"encoding/json"
	"os"
	"path/filepath"
	"testing"

	"github.com/novabsd/novabsd/rpc/vo"
)

func seedWire(f *testing.F) {
	files, _ := filepath.Glob(filepath.Join(wireDir, "*", "*.json"))
	for i, p := range files {
		b, err := os.ReadFile(p)
		if err != nil || len(b) > 16<<10 || i%2 != 0 { // small seeds keep the fuzzer fast
			continue
		}
		var c struct{ Message json.RawMessage }
		if json.Unmarshal(b, &c) == nil {
			env, _ := WrapEnvelope(c.Message)
			f.Add(env)
		}
	}
	f.Add([]byte(`{"oslo.version": "2.0", "oslo.message": "{\"method\": \"m\", \"args\": {}}"}`))
	f.Add([]byte(`{"oslo.version": "9.9", "oslo.message": 1}`))
	f.Add([]byte(`[]`))
}

// FuzzEnvelope: nothing may panic, and whatever decodes must re-encode to something that decodes the same.
func FuzzEnvelope(f *testing.F) {
	seedWire(f)
	f.Fuzz(func(t *testing.T, body []byte) {
		inner, err := UnwrapEnvelope(body)
		if err != nil {
			return
		}
		req, err := DecodeRequest(inner)
		if err != nil {
			_, _ = DecodeReply(inner)
			return
		}
		out, err := req.Encode()
		if err != nil {
			return // e.g. invalid UTF-8 cannot be re-encoded faithfully; must not panic
		}
		again, err := DecodeRequest(out)
		if err != nil {
			t.Fatalf("re-encoded request does not decode: %v\n%s", err, out)
		}
		if again.Method != req.Method || again.MsgID != req.MsgID || again.Context.RequestID != req.Context.RequestID {
			t.Fatalf("round trip changed the request: %+v vs %+v", again, req)
		}
	})
}

// FuzzObject: the versioned-object decoder never panics and round-trips what it accepts.
func FuzzObject(f *testing.F) {
	f.Add([]byte(`{"nova_object.name":"Flavor","nova_object.namespace":"nova","nova_object.version":"1.2","nova_object.data":{"id":1},"nova_object.changes":["id"]}`))
	f.Add([]byte(`{"versioned_object.name":"X","versioned_object.data":{},"versioned_object.extra":1}`))
	f.Add([]byte(`[{"a":{"nova_object.name":"Y","nova_object.data":{"objects":[]}}}]`))
	f.Fuzz(func(t *testing.T, b []byte) {
		v, err := vo.Decode(b)
		if err != nil {
			return
		}
		out, err := vo.Encode(v)
		if err != nil {
			t.Fatalf("decoded value does not encode: %v", err)
		}
		if _, err := vo.Decode(out); err != nil {
			t.Fatalf("re-encoded value does not decode: %v\n%s", err, out)
		}
	})
}
